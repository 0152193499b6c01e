"""``waveshape`` and ``chebyshev_polynomials``: curves against numpy formulas, the Chebyshev
harmonic identity, bias and its DC removal, aliasing reduced by oversampling (measured
margins), delay alignment of the oversampled path, controls, batches, gradients and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as np_chebyshev

from torchddsp.functional import upsample
from torchddsp.functional.waveshaping import WAVESHAPE_CURVES
from torchddsp.functional.waveshaping import chebyshev_polynomials
from torchddsp.functional.waveshaping import waveshape

SR = 16000


def numpy_curve(curve, u, coefficients=None):
    """Independent float64 formulas of the curves."""
    if curve == "tanh":
        return np.tanh(u)
    if curve == "soft_clip":
        return np.where(np.abs(u) <= 1, 1.5 * u - 0.5 * u**3, np.sign(u))
    if curve == "hard_clip":
        return np.minimum(np.maximum(u, -1.0), 1.0)
    return np_chebyshev.chebval(u, coefficients)


@pytest.mark.parametrize("curve", WAVESHAPE_CURVES)
def test_curves_match_numpy_formulas_with_drive_and_bias(curve, rng):
    x = rng.uniform(-1.5, 1.5, (3, 400))
    drive_db, bias = 4.0, np.array([[0.0], [0.3], [-0.45]])
    coefficients = np.array([0.1, 0.8, -0.3, 0.2, 0.05]) if curve == "chebyshev" else None
    y = waveshape(
        torch.tensor(x),
        curve,
        drive_db,
        torch.tensor(bias),
        None if coefficients is None else torch.tensor(coefficients)[None],
    )
    gain = 10 ** (drive_db / 20)
    expected = numpy_curve(curve, gain * x + bias, coefficients) - numpy_curve(curve, bias, coefficients)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_soft_clip_joins_its_saturation_smoothly():
    u = torch.tensor(
        [-3.0, -1.0 - 1e-9, -1.0, -1.0 + 1e-9, 0.0, 0.5, 1.0 - 1e-9, 1.0, 1.0 + 1e-9, 7.0],
        dtype=torch.float64,
        requires_grad=True,
    )
    y = waveshape(u[None], "soft_clip")[0]
    np.testing.assert_allclose(y.detach().numpy()[[0, 2, 7, 9]], [-1, -1, 1, 1], atol=0)
    assert abs(y[1] - y[3]) < 1e-8 and abs(y[6] - y[8]) < 1e-8  # continuous at the joins
    (grad,) = torch.autograd.grad(y.sum(), u)
    assert torch.isfinite(grad).all()
    np.testing.assert_allclose(grad.numpy(), 1.5 * (1 - np.minimum(u.detach().numpy() ** 2, 1)), atol=1e-8)
    assert grad[4] == 1.5 and grad[0] == 0 and grad[-1] == 0  # slope 1.5 at 0, flat in saturation


def test_chebyshev_polynomials_match_numpy_and_the_cosine_identity():
    x = torch.linspace(-2.0, 2.0, 101, dtype=torch.float64)
    polynomials = chebyshev_polynomials(x, 9)
    assert polynomials.shape == (101, 9)
    for k in range(9):
        np.testing.assert_allclose(
            polynomials[:, k].numpy(), np_chebyshev.chebval(x.numpy(), np.eye(9)[k]), rtol=1e-12, atol=1e-12
        )
    t = torch.linspace(0, 2 * math.pi, 77, dtype=torch.float64)
    on_cosine = chebyshev_polynomials(torch.cos(t), 9)
    for k in range(9):
        np.testing.assert_allclose(on_cosine[:, k].numpy(), np.cos(k * t.numpy()), atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_full_scale_cosine_through_t_k_is_exactly_the_k_th_harmonic(k):
    n, f0 = 1600, 100  # whole periods: every partial sits on a bin
    x = torch.cos(2 * math.pi * f0 * torch.arange(n, dtype=torch.float64) / SR)[None]
    coefficients = torch.zeros(1, 8, dtype=torch.float64)
    coefficients[0, k] = 1.0
    harmonic = k * f0 * n // SR
    y = waveshape(x, "chebyshev", coefficients=coefficients, remove_dc=False)
    spectrum = np.fft.rfft(y[0].numpy()) / (n / 2)
    assert abs(spectrum[harmonic] - 1.0) < 1e-10  # cos(k t): amplitude 1, phase 0
    spectrum[harmonic] = 0.0
    assert np.abs(spectrum).max() < 1e-10
    # With the static DC removed, the same harmonic plus the offset -T_k(0) (even k only).
    offset = -np.cos(k * np.pi / 2)
    removed = waveshape(x, "chebyshev", coefficients=coefficients)[0].numpy()
    np.testing.assert_allclose(removed, y[0].numpy() + offset, atol=1e-12)


def test_chebyshev_grows_outside_the_unit_interval_without_clamping():
    coefficients = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)  # T_3
    x = torch.tensor([[2.0, -3.0]], dtype=torch.float64)
    y = waveshape(x, "chebyshev", coefficients=coefficients)
    np.testing.assert_allclose(y.numpy(), 4 * x.numpy() ** 3 - 3 * x.numpy())


def test_bias_makes_even_harmonics_and_its_static_dc_is_removed():
    n = 1600
    x = 0.8 * torch.sin(2 * math.pi * 100 * torch.arange(n, dtype=torch.float64) / SR)[None]
    symmetric = np.abs(np.fft.rfft(waveshape(x, "tanh", 6.0)[0].numpy()))
    biased_y = waveshape(x, "tanh", 6.0, 0.4)[0].numpy()
    biased = np.abs(np.fft.rfft(biased_y))
    second = 2 * 100 * n // SR
    assert symmetric[second] < 1e-9 * symmetric.max()  # odd curve: odd harmonics only
    assert biased[second] > 1e-2 * biased.max()  # the bias makes the curve asymmetric
    # Silence stays silent with any bias: f(bias) is subtracted after the curve...
    for curve in WAVESHAPE_CURVES:
        c = torch.tensor([[0.3, 1.0, 0.5]], dtype=torch.float64) if curve == "chebyshev" else None
        for factor in (1, 4):
            assert torch.equal(
                waveshape(torch.zeros(2, 64, dtype=torch.float64), curve, 12.0, 0.4, c, factor),
                torch.zeros(2, 64, dtype=torch.float64),
            )
    # ...and exactly tanh(0.4) leaves the output; the signal-dependent DC (even-order) stays.
    raw = waveshape(x, "tanh", 6.0, 0.4, remove_dc=False)[0].numpy()
    np.testing.assert_allclose(raw - biased_y, math.tanh(0.4), atol=1e-15)
    assert abs(biased_y.mean()) > 1e-3


def alias_db(y: np.ndarray, fundamental_bin: int) -> float:
    """Energy outside DC and the fundamental (all aliases here), relative to the fundamental."""
    power = np.abs(np.fft.rfft(y)) ** 2
    aliased = power.sum() - power[0] - power[fundamental_bin]
    return 10 * np.log10(aliased / power[fundamental_bin])


def test_oversampling_reduces_aliasing_by_measured_margins():
    # 5 kHz at 16 kHz through tanh at +20 dB: the odd harmonics 15, 25, 35 kHz ... all fold
    # onto 1, 3 and 7 kHz, where no harmonic of 5 kHz can be; only the 5 kHz bin is legitimate.
    n = 24000
    x = torch.sin(2 * math.pi * 5000 * torch.arange(n, dtype=torch.float64) / SR)[None]
    measured = {}
    for factor in (1, 2, 4, 8):
        y = waveshape(x, "tanh", 20.0, oversampling=factor)[0].numpy()
        measured[factor] = alias_db(y[4000:20000], 5000)  # 1 s away from the edges, 1 Hz bins
    # Measured (float64): 1x -9.7 dB, 2x -13.9, 4x -27.5, 8x -42.4 below the fundamental.
    assert measured[1] > -11
    assert measured[1] > measured[2] > measured[4] > measured[8]
    assert measured[1] - measured[4] > 15.0  # measured 17.9 dB
    assert measured[1] - measured[8] > 30.0  # measured 32.8 dB


def test_oversampled_path_is_aligned_with_the_input():
    n = 8000
    time = torch.arange(n, dtype=torch.float64) / SR
    x = torch.sin(2 * math.pi * 440 * time)[None]
    plain = waveshape(x, "tanh", 12.0)[0].numpy()  # harmonics die out well below Nyquist
    interior = slice(500, -500)
    for factor in (2, 3, 4, 8):
        over = waveshape(x, "tanh", 12.0, oversampling=factor)[0].numpy()
        assert over.shape == (n,)
        assert np.abs(over - plain)[interior].max() < 2e-3
        # Lag of the cross-correlation peak, refined by a parabola through its neighbours.
        lags = np.arange(-3, 4)
        correlation = np.array([np.dot(over[500 + lag : -500 + lag], plain[500:-500]) for lag in lags])
        i = int(np.argmax(correlation))
        assert lags[i] == 0
        left, centre, right = correlation[i - 1 : i + 2]
        assert abs(0.5 * (left - right) / (left - 2 * centre + right)) < 1e-5  # samples (measured < 3e-7)


def test_linear_regime_passes_band_limited_audio_unchanged():
    n = 4000
    time = torch.arange(n, dtype=torch.float64) / SR
    # Up to 0.75 of Nyquist, where the resampler's response is flat.
    x = sum(torch.sin(2 * math.pi * f * time + p) for f, p in ((300, 0.1), (1700, 1.0), (5200, 2.0), (6000, 0.5)))[None]
    for factor in (2, 3, 4, 8):
        y = waveshape(x, "hard_clip", -40.0, oversampling=factor) * 100.0  # |u| < 1: identity
        assert y.shape == x.shape
        assert (y - x)[:, 300:-300].abs().max() < 1e-5 * x.abs().max()


def test_per_sample_and_frame_rate_controls(rng):
    x = torch.tensor(rng.uniform(-1, 1, (2, 120)))
    frames = torch.tensor(rng.uniform(-6, 12, (2, 6, 1)))
    for factor in (1, 2):
        by_frames = waveshape(x, "tanh", frames, 0.1, oversampling=factor)
        if factor == 1:
            by_samples = waveshape(x, "tanh", upsample(frames, 120, "linear")[..., 0], 0.1)
            np.testing.assert_allclose(by_frames.numpy(), by_samples.numpy(), atol=1e-14)
        constant = waveshape(
            x,
            "tanh",
            torch.full((2, 120), 3.0, dtype=torch.float64),
            torch.full((2, 4, 1), 0.2, dtype=torch.float64),
            oversampling=factor,
        )
        np.testing.assert_allclose(
            constant.numpy(), waveshape(x, "tanh", 3.0, 0.2, oversampling=factor).numpy(), atol=1e-14
        )


@pytest.mark.parametrize("factor", [1, 4])
def test_batch_equals_per_item(factor, rng):
    x = torch.tensor(rng.uniform(-1, 1, (3, 300)))
    drive = torch.tensor(rng.uniform(0, 20, (3, 5, 1)))
    bias = torch.tensor(rng.uniform(-0.3, 0.3, (3, 1)))
    coefficients = torch.tensor(rng.uniform(-1, 1, (3, 4)))
    batched = waveshape(x, "chebyshev", drive, bias, coefficients, factor)
    for i in range(3):
        item = waveshape(x[i : i + 1], "chebyshev", drive[i : i + 1], bias[i : i + 1], coefficients[i : i + 1], factor)
        np.testing.assert_allclose(batched[i : i + 1].numpy(), item.numpy(), atol=1e-12)
    # A shared (scalar) bias with per-item coefficients broadcasts the same way.
    shared = waveshape(x, "chebyshev", drive, 0.2, coefficients, factor)
    for i in range(3):
        item = waveshape(x[i : i + 1], "chebyshev", drive[i : i + 1], 0.2, coefficients[i : i + 1], factor)
        np.testing.assert_allclose(shared[i : i + 1].numpy(), item.numpy(), atol=1e-12)


def _tiny(*shape, low=-1.0, high=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)).requires_grad_()


@pytest.mark.parametrize("curve", WAVESHAPE_CURVES)
@pytest.mark.parametrize("factor", [1, 2])
def test_gradcheck_every_argument(curve, factor):
    # Drives keep |u| away from the joins at +-1 (finite differences straddling a kink).
    x = _tiny(2, 8, seed=1)
    drive = _tiny(2, 1, low=-8, high=-4, seed=2)
    bias = _tiny(2, 1, low=-0.2, high=0.2, seed=3)
    if curve == "chebyshev":
        coefficients = _tiny(1, 4, seed=4)
        fn = lambda x, d, b, c: waveshape(x, curve, d, b, c, factor)  # noqa: E731
        inputs = (x, drive, bias, coefficients)
    else:
        fn = lambda x, d, b: waveshape(x, curve, d, b, None, factor)  # noqa: E731
        inputs = (x, drive, bias)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradcheck_in_saturation_and_frame_rate_controls():
    x = _tiny(1, 10, seed=5)
    drive = _tiny(1, 3, 1, low=14, high=18, seed=6)  # most samples saturate
    bias = _tiny(1, 3, 1, low=-0.3, high=0.3, seed=7)
    assert torch.autograd.gradcheck(
        lambda x, d, b: waveshape(x, "tanh", d, b, oversampling=2), (x, drive, bias), eps=1e-6, atol=1e-6, rtol=1e-5
    )
    assert torch.autograd.gradgradcheck(lambda x, d, b: waveshape(x, "tanh", d, b), (x, drive, bias))


@pytest.mark.parametrize("curve", WAVESHAPE_CURVES)
@pytest.mark.parametrize("factor", [1, 4])
@pytest.mark.parametrize("bias_value", [0.0, 0.5])
def test_finite_gradients_on_silence(curve, factor, bias_value):
    x = torch.zeros(2, 64, dtype=torch.float64, requires_grad=True)
    drive = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.full((2, 1), bias_value, dtype=torch.float64, requires_grad=True)
    coefficients = torch.tensor([[0.2, 1.0, 0.4]], dtype=torch.float64, requires_grad=True)
    y = waveshape(x, curve, drive, bias, coefficients if curve == "chebyshev" else None, factor)
    y.sum().backward()
    tensors = [x, drive, bias] + ([coefficients] if curve == "chebyshev" else [])
    for tensor in tensors:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
    assert x.grad.abs().sum() > 0  # the slope at the bias point, not a dead gradient


def test_inputs_are_not_written_in_place(rng):
    x = torch.tensor(rng.uniform(-1, 1, (2, 50)))
    drive, bias, coefficients = (
        torch.full((2, 1), 6.0, dtype=torch.float64),
        torch.zeros(2, 3, 1, dtype=torch.float64),
        torch.tensor([[0.0, 1.0, 0.5]], dtype=torch.float64),
    )
    copies = [t.clone() for t in (x, drive, bias, coefficients)]
    waveshape(x, "chebyshev", drive, bias, coefficients, 2)
    assert all(torch.equal(a, b) for a, b in zip((x, drive, bias, coefficients), copies))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: waveshape(torch.tensor(1.0), "tanh"), r"x must have shape \(\.\.\., n_samples\)"),
        (lambda: waveshape(torch.full((1, 10), float("nan")), "tanh"), "x must be finite"),
        (lambda: waveshape(torch.ones(1, 10), "fuzz"), "curve must be one of"),
        (lambda: waveshape(torch.ones(1, 10), "tanh", oversampling=0), "oversampling must be an integer >= 1"),
        (lambda: waveshape(torch.ones(1, 10), "tanh", oversampling=2.5), "oversampling must be an integer"),
        (lambda: waveshape(torch.ones(1, 10), "chebyshev"), "coefficients .* are required"),
        (lambda: waveshape(torch.ones(1, 10), "tanh", coefficients=torch.ones(1, 3)), "only used by curve='chebyshev'"),
        (lambda: waveshape(torch.ones(1, 10), "chebyshev", coefficients=torch.ones(3)), "coefficients must have shape"),
        (
            lambda: waveshape(torch.ones(2, 10), "chebyshev", coefficients=torch.ones(3, 2)),
            "coefficients must have shape",
        ),
        (
            lambda: waveshape(torch.ones(1, 10), "chebyshev", coefficients=torch.full((1, 2), float("nan"))),
            "coefficients must be finite",
        ),
        (lambda: waveshape(torch.ones(1, 10), "tanh", drive_db=float("nan")), "drive_db must be finite"),
        (
            lambda: waveshape(torch.ones(2, 10), "tanh", drive_db=torch.ones(2, 7)),
            "drive_db per sample must hold 10 samples",
        ),
        (
            lambda: waveshape(torch.ones(2, 10), "tanh", bias=torch.ones(2, 3, 2)),
            r"bias must have batch 1 or 2 \(that of the input\) and 1 channels, found shape \(2, 3, 2\)",
        ),
        (lambda: chebyshev_polynomials(torch.ones(3), 0), "n_terms must be an integer >= 1"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_control_of_the_wrong_type_is_a_type_error():
    # Bug: a string parsed as a number (float("0.1")) or reported as a bad value.
    with pytest.raises(TypeError, match="bias must be a number, a tensor or a Control, found str"):
        waveshape(torch.ones(2, 10), "tanh", bias="0.1")
