"""``lfilter`` and ``sosfilt``: against scipy in float64 (orders 1 to 8, poles at radius 0.999,
64000 samples), time-varying against a per-sample loop, chunked state, and derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import Control
from torchddsp.functional import lfilter
from torchddsp.functional import sosfilt


def resonant_denominator(order: int, radius: float = 0.999) -> np.ndarray:
    angles = np.linspace(0.2, 2.8, order // 2)
    poles = np.concatenate([radius * np.exp(1j * angles), radius * np.exp(-1j * angles)])
    if order % 2:
        poles = np.append(poles, -radius)
    return np.real(np.poly(poles))


@pytest.mark.parametrize("order", range(1, 9))
def test_lfilter_matches_scipy(order):
    rng = np.random.default_rng(order)
    a = 1.7 * resonant_denominator(order)  # a[0] != 1: normalised like scipy
    b = rng.standard_normal(order + 1)
    x = rng.standard_normal((2, 64000))
    expected = scipy.signal.lfilter(b, a, x, axis=-1)
    result = lfilter(torch.from_numpy(x), torch.from_numpy(b)[None], torch.from_numpy(a)[None]).numpy()
    assert np.abs(result - expected).max() <= 1e-10 * max(1.0, np.abs(expected).max())


def test_fir_only_and_batched_coefficients():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 500))
    b = rng.standard_normal((3, 5))
    result = lfilter(torch.from_numpy(x), torch.from_numpy(b), torch.ones(1, 1, dtype=torch.float64)).numpy()
    expected = np.stack([scipy.signal.lfilter(b[i], [1.0], x[i]) for i in range(3)])
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("design", [dict(N=8, Wn=0.2), dict(N=4, Wn=[0.1, 0.3], btype="bandpass")])
def test_sosfilt_matches_scipy(design):
    sos = scipy.signal.butter(output="sos", **design)
    x = np.random.default_rng(10).standard_normal((4, 64000))
    result = sosfilt(torch.from_numpy(x), torch.from_numpy(sos)[None]).numpy()
    expected = scipy.signal.sosfilt(sos, x, axis=-1)
    assert np.abs(result - expected).max() <= 1e-10 * max(1.0, np.abs(expected).max())


def test_time_varying_lfilter_matches_a_per_sample_loop():
    rng = np.random.default_rng(11)
    n_samples = 400
    x = rng.standard_normal((2, n_samples))
    b = rng.standard_normal((2, n_samples, 3))
    # Smoothly moving resonators (random jumps per sample can make a time-varying filter
    # unstable even when every frozen one is stable).
    n = np.arange(n_samples)
    radius = 0.95 + 0.04 * np.sin(2 * np.pi * n / n_samples)[None, :] * np.array([[1.0], [-1.0]])
    angle = 0.3 + 0.2 * np.cos(2 * np.pi * n / 200)[None, :] + np.array([[0.0], [1.0]])
    a = np.stack([1.5 * np.ones_like(radius), -3 * radius * np.cos(angle), 1.5 * radius**2], axis=2)
    expected = np.zeros_like(x)
    for item in range(2):
        for n in range(n_samples):
            acc = sum(b[item, n, k] * x[item, n - k] for k in range(3) if n - k >= 0)
            acc -= sum(a[item, n, k] * expected[item, n - k] for k in (1, 2) if n - k >= 0)
            expected[item, n] = acc / a[item, n, 0]
    result = lfilter(torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(a)).numpy()
    assert np.abs(result - expected).max() < 1e-10


def test_chunks_with_carried_state_equal_one_call():
    generator = torch.Generator().manual_seed(12)
    x = torch.randn(2, 600, generator=generator, dtype=torch.float64)
    b = torch.randn(2, 600, 3, generator=generator, dtype=torch.float64)
    a = torch.cat(
        [
            torch.ones(2, 600, 1, dtype=torch.float64),
            0.3 * torch.randn(2, 600, 2, generator=generator, dtype=torch.float64),
        ],
        2,
    )
    whole = lfilter(x, b, a)
    state, pieces = None, []
    for start, stop in [(0, 1), (1, 250), (250, 600)]:
        piece, state = lfilter(x[:, start:stop], b[:, start:stop], a[:, start:stop], state=state, return_state=True)
        pieces.append(piece)
    torch.testing.assert_close(torch.cat(pieces, 1), whole, rtol=0, atol=1e-12)
    sos = torch.from_numpy(scipy.signal.butter(6, 0.25, output="sos"))[None]
    whole = sosfilt(x, sos)
    first, state = sosfilt(x[:, :100], sos, return_state=True)
    torch.testing.assert_close(torch.cat([first, sosfilt(x[:, 100:], sos, state=state)], 1), whole, rtol=0, atol=1e-12)


def test_first_and_second_derivatives():
    generator = torch.Generator().manual_seed(13)
    x = torch.randn(2, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 8, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    a = torch.cat(
        [
            1 + 0.1 * torch.rand(2, 8, 1, generator=generator, dtype=torch.float64),
            0.3 * torch.randn(2, 8, 2, generator=generator, dtype=torch.float64),
        ],
        2,
    ).requires_grad_()
    zi = torch.randn(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)

    def with_state(x, b, a, state):
        return lfilter(x, b, a, state=state)

    assert torch.autograd.gradcheck(with_state, (x, b, a, zi))
    assert torch.autograd.gradgradcheck(with_state, (x, b, a, zi))
    sos = torch.tensor(
        [[[0.2, 0.3, 0.1, 1.0, -0.5, 0.2], [1.0, -0.4, 0.3, 1.0, 0.1, 0.3]]], dtype=torch.float64, requires_grad=True
    )
    state = torch.randn(2, 2, 4, generator=generator, dtype=torch.float64, requires_grad=True)

    def sections_with_state(x, sos, state):
        return sosfilt(x, sos, state=state)

    assert torch.autograd.gradcheck(sections_with_state, (x, sos, state))
    assert torch.autograd.gradgradcheck(sections_with_state, (x, sos, state))


def test_frequency_sampling_is_an_approximation_that_improves_with_n_fft():
    x = torch.from_numpy(np.random.default_rng(14).standard_normal((1, 8000)))
    a = torch.from_numpy(resonant_denominator(2, radius=0.99))[None]
    b = torch.ones(1, 1, dtype=torch.float64)
    exact = lfilter(x, b, a)
    errors = [
        float((lfilter(x, b, a, method="frequency_sampling", n_fft=n) - exact).abs().max() / exact.abs().max())
        for n in (64, 256, 4096)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[0] > 0.1 and errors[2] < 1e-6
    with pytest.raises(ValueError, match="n_fft is required"):
        lfilter(x, b, a, method="frequency_sampling")
    with pytest.raises(ValueError, match="has no state"):
        lfilter(x, b, a, method="frequency_sampling", n_fft=64, return_state=True)


def test_frame_rate_coefficients_are_upsampled_linearly_and_stay_stable():
    from torchddsp.functional import biquad
    from torchddsp.functional import upsample

    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.standard_normal((2, 1600)))
    cutoff = torch.from_numpy(rng.uniform(100, 7000, (2, 10)))
    q = torch.from_numpy(rng.uniform(0.5, 20, (2, 10)))
    frames = biquad("lowpass", cutoff, q, 16000.0).unsqueeze(-2)  # (2, 10, 1, 6)
    # Unnormalised rows whose a0 changes a lot from frame to frame: normalised per frame first.
    frames = frames * torch.from_numpy(rng.uniform(0.1, 10.0, (2, 10, 1, 1)))
    normalised = frames / frames[..., 3:4]
    per_sample = upsample(normalised.reshape(2, 10, 6), 1600, "linear").reshape(2, 1600, 1, 6)
    by_frames = sosfilt(x, Control.per_frame(frames))
    np.testing.assert_allclose(by_frames.numpy(), sosfilt(x, per_sample).numpy(), atol=1e-12)
    b, a = frames[:, :, 0, :3], frames[:, :, 0, 3:]
    np.testing.assert_allclose(
        lfilter(x, Control.per_frame(b), Control.per_frame(a)).numpy(), by_frames.numpy(), atol=1e-10
    )
    # Every interpolated section keeps its poles inside the unit circle.
    a1, a2 = per_sample[..., 0, 4], per_sample[..., 0, 5]
    assert bool(((a2.abs() < 1) & (a1.abs() < 1 + a2)).all())
    with pytest.raises(ValueError, match="a0 must not be 0 in any frame"):
        sosfilt(x, Control.per_frame(frames * torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 1.0], dtype=torch.float64)))


def test_unbatched_coefficients_like_scipy_and_leading_dimensions():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 3, 2000))
    b, a = rng.standard_normal(3), 1.3 * resonant_denominator(2, radius=0.99)
    y, state = lfilter(torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(a), return_state=True)
    assert y.shape == (2, 3, 2000) and state.shape == (2, 3, 4)
    np.testing.assert_allclose(y.numpy(), scipy.signal.lfilter(b, a, x, axis=-1), atol=1e-10)
    # The state continues the filter: the second half from the first half's state.
    half, half_state = lfilter(
        torch.from_numpy(x[..., :1000]), torch.from_numpy(b), torch.from_numpy(a), return_state=True
    )
    rest = lfilter(torch.from_numpy(x[..., 1000:]), torch.from_numpy(b), torch.from_numpy(a), state=half_state)
    np.testing.assert_allclose(torch.cat([half, rest], -1).numpy(), y.numpy(), atol=1e-10)
    sos = scipy.signal.butter(4, 0.2, output="sos")
    result, sos_state = sosfilt(torch.from_numpy(x[0, 0]), torch.from_numpy(sos), return_state=True)
    assert sos_state.shape == (2, 4)
    np.testing.assert_allclose(result.numpy(), scipy.signal.sosfilt(sos, x[0, 0]), atol=1e-10)


def test_time_varying_a0_matches_a_per_sample_loop():
    # a0 changing from sample to sample is divided out inside the recursion (never normalised
    # by a copy): against the definition y[n] = (sum b x - sum_{k>=1} a_k y) / a0.
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, 300))
    a = np.concatenate([rng.uniform(0.5, 2.0, (2, 300, 1)), 0.3 * rng.standard_normal((2, 300, 2))], axis=2)
    b = rng.standard_normal(2)
    expected = np.zeros_like(x)
    for item in range(2):
        for n in range(300):
            acc = sum(b[k] * x[item, n - k] for k in range(2) if n - k >= 0)
            acc -= sum(a[item, n, k] * expected[item, n - k] for k in (1, 2) if n - k >= 0)
            expected[item, n] = acc / a[item, n, 0]
    for backend in ("numba", "torch"):
        result = lfilter(torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(a), backend=backend)
        np.testing.assert_allclose(result.numpy(), expected, atol=1e-10)


def test_frame_rate_must_be_stated_and_a0_checks_follow_the_validation_switch():
    from torchddsp.validation import set_validation

    x = torch.randn(2, 1600, dtype=torch.float64)
    frames = torch.tensor([1.0, -0.5, 0.1], dtype=torch.float64).expand(2, 10, 3)
    with pytest.raises(ValueError, match=r"a must have 1600 time steps .*Control.per_frame"):
        lfilter(x, torch.ones(1, dtype=torch.float64), frames)
    zero_a0 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="must not be 0"):
        lfilter(x, torch.ones(1, dtype=torch.float64), zero_a0)
    previous = set_validation(False)
    try:  # data checks off: no value is read (no host sync); the output is what the values say
        y = lfilter(x, torch.ones(1, dtype=torch.float64), zero_a0)
    finally:
        set_validation(previous)
    assert not torch.isfinite(y).all()
