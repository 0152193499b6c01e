"""Cookbook biquads: each design's magnitude response against the closed form of its analog
prototype under the prewarped bilinear transform, filtering through ``sosfilt``, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import biquad
from torchddsp.functional import sosfilt
from torchddsp.functional.biquad import BIQUAD_MODES

SR = 48000.0


def prototype(mode: str, s: np.ndarray, q: float, gain_db: float) -> np.ndarray:
    """The analog prototypes of the Audio EQ Cookbook, cutoff normalised to 1 rad/s."""
    a = 10 ** (gain_db / 40)
    denominator = s**2 + s / q + 1
    if mode == "lowpass":
        return 1 / denominator
    if mode == "highpass":
        return s**2 / denominator
    if mode == "bandpass":
        return (s / q) / denominator
    if mode == "notch":
        return (s**2 + 1) / denominator
    if mode == "allpass":
        return (s**2 - s / q + 1) / denominator
    if mode == "peak":
        return (s**2 + s * a / q + 1) / (s**2 + s / (a * q) + 1)
    if mode == "lowshelf":
        return a * (s**2 + np.sqrt(a) / q * s + a) / (a * s**2 + np.sqrt(a) / q * s + 1)
    return a * (a * s**2 + np.sqrt(a) / q * s + 1) / (s**2 + np.sqrt(a) / q * s + a)  # highshelf


@pytest.mark.parametrize("mode", BIQUAD_MODES)
@pytest.mark.parametrize("cutoff,q,gain_db", [(1000.0, 0.707, 6.0), (50.0, 4.0, -12.0), (15000.0, 0.5, 18.0)])
def test_magnitude_matches_the_closed_form(mode, cutoff, q, gain_db):
    sos = biquad(mode, torch.tensor(cutoff, dtype=torch.float64), q, SR, gain_db).numpy()
    w = np.linspace(0.001, np.pi - 0.001, 2000)
    _, response = scipy.signal.freqz(sos[:3], sos[3:], worN=w)
    s = 1j * np.tan(w / 2) / np.tan(np.pi * cutoff / SR)
    expected = np.abs(prototype(mode, s, q, gain_db))
    np.testing.assert_allclose(np.abs(response), expected, rtol=1e-9, atol=1e-12)


def test_time_varying_cutoff_filters_through_sosfilt_and_is_differentiable():
    n_samples = 64
    cutoff = torch.linspace(500.0, 4000.0, n_samples, dtype=torch.float64).requires_grad_()
    sos = biquad("lowpass", cutoff[None], 0.9, SR)  # (1, n_samples, 6)
    x = torch.randn(2, n_samples, dtype=torch.float64)
    y = sosfilt(x, sos.unsqueeze(-2))
    assert y.shape == (2, n_samples)
    y.pow(2).sum().backward()
    assert torch.isfinite(cutoff.grad).all() and cutoff.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", BIQUAD_MODES)
def test_gradcheck_in_every_parameter(mode):
    cutoff = torch.tensor([800.0, 3000.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.7, 2.0], dtype=torch.float64, requires_grad=True)
    gain = torch.tensor([3.0, -6.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, q, g: biquad(mode, c, q, SR, g), (cutoff, q, gain))


@pytest.mark.parametrize(
    "arguments,match",
    [
        (("lowpass", 30000.0, 1.0, SR), "cutoff_hz must be strictly between 0 and Nyquist"),
        (("lowpass", 1000.0, 0.0, SR), "q must be > 0"),
        (("bandstop", 1000.0, 1.0, SR), "mode must be one of"),
        (("lowpass", 1000.0, 1.0, 0.0), "sample_rate"),
        (("peak", 1000.0, 1.0, SR, float("nan")), "gain_db must be finite"),
    ],
)
def test_bad_parameters(arguments, match):
    with pytest.raises(ValueError, match=match):
        biquad(*arguments)
