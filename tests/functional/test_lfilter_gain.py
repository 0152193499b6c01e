"""``lfilter`` with a one-tap numerator: the gain is read inside the recursion (no pass of its
own), forward, fused adjoint and the differentiable adjoint; and the ``a0 == 0`` data check,
which reads the output first and the ``a0`` column only when the output is not finite."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchddsp.functional import lfilter

N = 20
B_SHAPES = {"fixed": (1, 1), "item": (3, 1), "sample": (3, N), "sample_shared": (1, N)}


def _reference(x, b0, a):
    """float64 loop of ``y[n] = (b0[n] x[n] - sum_{k>=1} a[n, k] y[n-k]) / a[n, 0]``."""
    batch, n_samples = x.shape
    b0 = np.broadcast_to(b0, (batch, n_samples))
    a = np.broadcast_to(a, (batch, n_samples, a.shape[-1]))
    y = np.zeros_like(x)
    for item in range(batch):
        for n in range(n_samples):
            acc = b0[item, n] * x[item, n]
            acc -= sum(a[item, n, k] * y[item, n - k] for k in range(1, a.shape[-1]) if n - k >= 0)
            y[item, n] = acc / a[item, n, 0]
    return y


def _inputs(b_shape, order, seed, n_samples=N):
    """``x`` ``(3, n_samples)``, a one-tap numerator ``(*b_shape, 1)``, ``a`` per sample with a
    time-varying ``a0``; ``b_shape`` with ``N`` in time is cut to ``n_samples``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, n_samples))
    b0 = rng.uniform(-2.0, 2.0, (b_shape[0], min(b_shape[1], n_samples), 1))
    a0 = rng.uniform(0.5, 2.0, (3, n_samples, 1))
    a = np.concatenate([a0, 0.2 * rng.standard_normal((3, n_samples, order))], axis=2)
    return x, b0, a


@pytest.mark.parametrize("order", [2, 3], ids=["order2_kernels", "any_order_kernels"])
@pytest.mark.parametrize("b_kind", list(B_SHAPES))
@pytest.mark.parametrize("b_grad", [True, False], ids=["b_grad", "b_constant"])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_one_tap_gain_matches_the_definition_forward_and_gradients(backend, b_grad, b_kind, order):
    # Catches a gain read with the wrong strides (per-sample gain read as fixed, an item's gain
    # given to its neighbour), a fused adjoint that leaves l[n] unscaled (it runs when b needs
    # no gradient), and a wrong gain gradient: all against float64 loops and central
    # differences of the definition.
    x, b0, a = _inputs(B_SHAPES[b_kind], order, seed=order)
    weights = np.random.default_rng(7).standard_normal((3, N))
    expected = _reference(x, b0[..., 0], a)
    inputs = [torch.from_numpy(v).clone().requires_grad_(index != 1 or b_grad) for index, v in enumerate((x, b0, a))]
    y = lfilter(*inputs, backend=backend)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    (y * torch.from_numpy(weights)).sum().backward()

    def loss(x_, b_, a_):
        return float((_reference(x_, b_[..., 0], a_) * weights).sum())

    step = 1e-6
    for index, value in enumerate((x, b0, a)):
        if not inputs[index].requires_grad:
            continue
        numeric = np.zeros_like(value)
        for position in np.ndindex(value.shape):
            shifted = [v.copy() for v in (x, b0, a)]
            shifted[index][position] += step
            up = loss(*shifted)
            shifted[index][position] -= 2 * step
            numeric[position] = (up - loss(*shifted)) / (2 * step)
        np.testing.assert_allclose(inputs[index].grad.numpy(), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("b_kind", ["item", "sample"])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_one_tap_gain_second_derivatives(backend, b_kind):
    # Catches a gain path that is not differentiable twice (the fused kernel is first order only:
    # with create_graph the differentiable adjoint must run, gain included).
    inputs = [torch.from_numpy(v).requires_grad_() for v in _inputs(B_SHAPES[b_kind], 2, seed=5, n_samples=8)]
    torch.autograd.gradgradcheck(lambda *args: lfilter(*args, backend=backend), inputs)


def test_gain_only_gradient_and_equality_with_the_two_tap_path():
    # Catches a gain gradient taken from the scaled adjoint (l * gain instead of l) and a gain
    # path that differs from the general FIR path: b = [b0] equals b = [b0, 0] exactly enough.
    x, b0, a = _inputs((3, N), 2, seed=9)
    gain = torch.from_numpy(b0).requires_grad_()
    padded = torch.cat([gain.detach(), torch.zeros(3, N, 1, dtype=torch.float64)], dim=2).requires_grad_()
    signal, denominator = torch.from_numpy(x), torch.from_numpy(a)
    lfilter(signal, gain, denominator).sum().backward()
    lfilter(signal, padded, denominator).sum().backward()
    torch.testing.assert_close(gain.grad, padded.grad[..., :1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("zero_at", [0, 17, 39])
@pytest.mark.parametrize("silent_before", [False, True], ids=["inf", "nan"])
@pytest.mark.parametrize("b", [[1.0], [0.5, 0.25]], ids=["gain", "fir"])
def test_a0_zero_at_any_sample_is_an_error(zero_at, silent_before, b):
    # The check reads y first (a zero a0 makes its output inf, or NaN as 0 / 0 after silence):
    # catches a check that only looks at a fixed a0, or a zero a0 that yields a finite output.
    x = torch.randn(2, 40, dtype=torch.float64)
    if silent_before:
        x[:, : zero_at + 1] = 0.0
    a = torch.tensor([1.0, -0.5, 0.1], dtype=torch.float64).repeat(2, 40, 1)
    a[1, zero_at, 0] = 0.0
    with pytest.raises(ValueError, match=r"a\[\.\.\., 0\] must not be 0"):
        lfilter(x, torch.tensor(b, dtype=torch.float64), a)


def test_an_unstable_filter_that_overflows_is_not_an_a0_error():
    # The cheap check sees a non-finite output; the exact test of a0 must then find no zero.
    x = torch.ones(1, 2000, dtype=torch.float64)
    y = lfilter(x, torch.ones(1, dtype=torch.float64), torch.tensor([1.0, -3.0], dtype=torch.float64))
    assert not torch.isfinite(y).all()
