"""The compiled recurrences flush subnormal state to exact zeros (``engine.shared.flushed``): after
a decayed impulse their outputs, adjoints and states are exactly 0, not a subnormal limit cycle
(10-100x slower arithmetic), and still equal scipy and float64 loops; NaN still propagates.

No timings here (they would flake on a shared machine): the speed follows from the zeros, and
``benchmarks/bench_load.py`` measures it (the "impulse then silence" input family).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import lfilter
from torchddsp.functional.engine.shared import FLUSH_EVERY
from torchddsp.functional.recurrence import linear_recurrence
from torchddsp.validation import set_validation

N_SAMPLES = 8192  # a pole radius of 0.9 reaches float64's subnormal range after about 6700 samples
TAIL = 1024
DTYPES = [torch.float32, torch.float64]


def resonant_denominator(order: int) -> np.ndarray:
    """Poles at radius 0.9 (angle 0.3 rad), and one more real pole at 0.5 for order 3: order 2
    runs the registers kernel, order 3 the any-order kernel."""
    a = np.array([1.0, -2 * 0.9 * np.cos(0.3), 0.81])
    return a if order == 2 else np.convolve(a, [1.0, -0.5])


def subnormal_count(values: torch.Tensor) -> int:
    return int(((values != 0) & (values.abs() < torch.finfo(values.dtype).tiny)).sum())


def assert_flushed(values: torch.Tensor) -> None:
    """``values`` ``(batch, n_samples, ...)``: the tail is exactly 0, and each sequence held
    subnormal values for at most two flush intervals (the decay passes through the subnormal
    range, in a few tens of samples at radius 0.9, then a flush sets it to 0 for good; without
    the flushes a limit cycle stays subnormal to the end)."""
    tail = values[:, -TAIL:]
    assert torch.all(tail == 0), f"{subnormal_count(tail)} subnormal values in the last {TAIL} samples"
    assert subnormal_count(values) <= 2 * FLUSH_EVERY * values[:, 0].numel()


def tolerance(dtype: torch.dtype, expected: np.ndarray) -> float:
    """test_iir.py's float64 tolerance; float32 relative to the peak, as test_allpole.py."""
    return 1e-10 if dtype == torch.float64 else 1e-5 * float(np.abs(expected).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [2, 3])
def test_a_decayed_impulse_ends_in_exact_zeros_equal_to_scipy(dtype, order):
    a = resonant_denominator(order)
    x = np.zeros((3, N_SAMPLES))
    x[:, 0] = [1.0, -0.5, 2.0]
    expected = scipy.signal.lfilter([1.0, 0.3], a, x, axis=-1)
    y = lfilter(torch.tensor(x, dtype=dtype), torch.tensor([1.0, 0.3], dtype=dtype), torch.tensor(a, dtype=dtype))
    assert_flushed(y)
    np.testing.assert_allclose(y.double().numpy(), expected, rtol=0, atol=tolerance(dtype, expected))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", [2, 3])
def test_the_adjoint_of_a_late_gradient_ends_in_exact_zeros(dtype, order):
    # d y[-1] / d x[n] = h[N - 1 - n] (h the impulse response): in reversed time the adjoint is
    # that impulse response, decaying towards n = 0.
    a = resonant_denominator(order)
    x = torch.randn(2, N_SAMPLES, dtype=dtype, generator=torch.Generator().manual_seed(3)).requires_grad_()
    lfilter(x, torch.ones(1, dtype=dtype), torch.tensor(a, dtype=dtype), backend="numba")[:, -1].sum().backward()
    impulse = np.zeros(N_SAMPLES)
    impulse[0] = 1.0
    expected = scipy.signal.lfilter([1.0], a, impulse)[::-1]
    grad = x.grad
    assert grad is not None
    assert_flushed(grad.flip(1))  # the decay at the end, where assert_flushed reads it
    expected = np.broadcast_to(expected, (2, N_SAMPLES))
    np.testing.assert_allclose(grad.double().numpy(), expected, rtol=0, atol=tolerance(dtype, expected))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [2, 3])
def test_state_space_states_after_an_impulse_end_in_exact_zeros(dtype, size):
    # A rotation scaled to 0.9 (size 2: the registers kernel; 3: the any-size kernel).
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = 0.9 * (rotation if size == 2 else np.block([[rotation, np.zeros((2, 1))], [np.zeros((1, 2)), 1.0]]))
    u = np.zeros((2, N_SAMPLES, size))
    u[:, 0] = 1.0
    expected = np.zeros_like(u)
    state = np.zeros((2, size))
    for n in range(N_SAMPLES):  # the definition, in float64
        state = state @ matrix.T + u[:, n]
        expected[:, n] = state
    states = linear_recurrence(torch.tensor(u, dtype=dtype), torch.tensor(matrix, dtype=dtype)[None], backend="numba")
    assert_flushed(states)
    np.testing.assert_allclose(states.double().numpy(), expected, rtol=0, atol=tolerance(dtype, expected))


@pytest.fixture
def no_data_checks():
    """The data checks reject NaN inputs before any kernel runs."""
    previous = set_validation(False)
    yield
    set_validation(previous)


@pytest.mark.parametrize("order", [2, 3])
def test_nan_still_propagates_through_the_flushes(order, no_data_checks):
    # A flush written as "keep |v| >= tiny, else 0" would turn NaN state into 0 at its first flush.
    x = torch.zeros(2, 4 * FLUSH_EVERY)
    x[:, 0] = float("nan")
    a = torch.tensor(resonant_denominator(order), dtype=torch.float32)
    assert torch.isnan(lfilter(x, torch.ones(1), a, backend="numba")).all(), "a flush set NaN state to 0"
    u = torch.zeros(2, 4 * FLUSH_EVERY, order)
    u[:, 0] = float("nan")
    states = linear_recurrence(u, 0.5 * torch.eye(order)[None], backend="numba")
    assert torch.isnan(states).all(), "a flush set NaN state to 0"
