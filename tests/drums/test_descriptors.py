"""Timbre descriptors against closed forms (float64 references computed here from the
published definitions, never by the code under test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import butter
from scipy.signal import freqs as analog_response

from torchddsp.drums.descriptors import brightness
from torchddsp.drums.descriptors import cascade_response
from torchddsp.drums.descriptors import depth
from torchddsp.drums.descriptors import timbre_descriptors
from torchddsp.drums.descriptors import warmth

SR = 16000


def sine(f_hz: float, seconds: float = 1.0, t60_s: float | None = None) -> torch.Tensor:
    t = np.arange(round(seconds * SR)) / SR
    x = np.sin(2 * np.pi * f_hz * t)
    if t60_s is not None:
        x = x * np.exp(-math.log(1000.0) * t / t60_s)
    return torch.tensor(x)[None]


def white(seconds: float = 4.0, seed: int = 0) -> torch.Tensor:
    return torch.tensor(np.random.default_rng(seed).standard_normal(round(seconds * SR)))[None]


def lowpassed(audio: torch.Tensor, cutoff_hz: float) -> torch.Tensor:
    spectrum = torch.fft.rfft(audio)
    spectrum[..., torch.fft.rfftfreq(audio.shape[-1], 1 / SR) > cutoff_hz] = 0
    return torch.fft.irfft(spectrum, n=audio.shape[-1])


def hp(f, fc):  # three cascaded 2nd-order Butterworth high-passes, power
    return ((f / fc) ** 4 / (1 + (f / fc) ** 4)) ** 3


@pytest.mark.parametrize("mode", ["low", "high"])
def test_cascade_is_three_butterworth_sections(mode):
    # bug caught: wrong order (|H|^2 of 1st order) or one section instead of three
    f = np.array([50.0, 300.0, 1000.0, 2500.0, 7000.0])
    b, a = butter(2, 2 * np.pi * 1000.0, btype=mode, analog=True)
    _, h = analog_response(b, a, worN=2 * np.pi * f)
    expected = np.abs(h) ** 6
    np.testing.assert_allclose(cascade_response(torch.tensor(f), 1000.0, mode).numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("f_hz", [1000.0, 3000.0])
def test_brightness_metrics_of_a_sine(f_hz):
    # bugs caught: share taken below instead of above 2 kHz, centroid in bins not Hz
    log_ratio, log_centroid = brightness(sine(f_hz), SR, features=True)[0].tolist()
    assert log_ratio == pytest.approx(math.log10(hp(f_hz, 2000.0)), abs=0.02)
    assert log_centroid == pytest.approx(math.log10(f_hz), abs=0.003)
    expected = 4.613128018020465 * math.log10(hp(f_hz, 2000.0)) + 17.378889309312974 * math.log10(f_hz)
    assert brightness(sine(f_hz), SR).item() == pytest.approx(expected + 17.434733750553022, abs=0.15)


def test_brightness_metrics_of_white_noise():
    # flat spectrum: the share above 2 kHz and the centroid are integrals of the filter shapes
    f = np.linspace(0, SR / 2, 200001)[1:]
    share = np.trapezoid(hp(f, 2000.0) * hp(f, 20.0), f) / np.trapezoid(hp(f, 20.0), f)
    centroid = np.trapezoid(f * hp(f, 100.0), f) / np.trapezoid(hp(f, 100.0), f)
    log_ratio, log_centroid = brightness(white(), SR, features=True)[0].tolist()
    assert log_ratio == pytest.approx(math.log10(share), abs=0.01)
    assert log_centroid == pytest.approx(math.log10(centroid), abs=0.01)


def test_brightness_rises_with_the_lowpass_cutoff():
    # bug caught: a sign flipped in the regression or the ratio inverted
    noise = white(1.0)
    values = [brightness(lowpassed(noise, c), SR).item() for c in (500, 1000, 2000, 4000, 7000)]
    assert all(b > a + 1.0 for a, b in zip(values, values[1:])), values


def test_depth_rises_with_low_frequency_energy():
    # bug caught: the lower share taken above 500 Hz, or weighted by the wrong frames
    noise = 0.1 * white(1.0)
    values = [depth(noise + gain * sine(60.0), SR).item() for gain in (0.0, 0.2, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(values, values[1:])), values


def test_depth_metrics_of_a_decaying_sine():
    # closed forms: the low share is H_lp500(f); the 256-sample RMS (peak / sqrt 2) falls to
    # -40 dB full scale when exp(-ln1000 t / t60) / sqrt(2) = 0.01; the lowest peak is f
    f, t60 = 200.0, 0.5
    centroid, share, log_duration, log_pitch = depth(sine(f, 1.0, t60), SR, features=True)[0].tolist()
    assert share == pytest.approx((1 / (1 + (f / 500) ** 4)) ** 3, rel=0.01)
    assert centroid == pytest.approx(f, rel=0.01)
    duration = t60 * math.log(100 / math.sqrt(2)) / math.log(1000)
    assert log_duration == pytest.approx(math.log10(duration), abs=0.03)
    assert log_pitch == pytest.approx(math.log10(f), abs=0.01)


def test_depth_lower_centroid_is_limited_to_2khz():
    assert depth(sine(6000.0), SR, features=True)[0, 0].item() <= 2000.0


def test_warmth_metrics():
    # centroid of a sine is its frequency; the low share is 0 for a fundamental >= 260 Hz
    log_centroid, _, low_share = warmth(sine(400.0), SR, features=True)[0].tolist()
    assert log_centroid == pytest.approx(math.log10(400.0), abs=0.003)
    assert low_share == 0.0
    low = warmth(sine(100.0), SR, features=True)[0]
    assert 0.3 < low[2].item() <= 1.0  # the fundamental's half of the main lobe and up, of all
    assert warmth(sine(100.0), SR).item() > warmth(sine(1000.0), SR).item()
    # two equal sines at 100 and 400 Hz: only the first lies below 260 Hz, so the share is
    # half of the 100 Hz sine's (peak bin and up) -- between 1/4 and 1/2 of the total
    two = warmth(sine(100.0) + sine(400.0), SR, features=True)[0, 2].item()
    assert 0.25 < two <= 0.5


def test_warmth_line_fit_is_one_for_a_power_law():
    # a spectrum exactly ~ f^-2 above the warmth region has a straight log-log roll-off: R^2 = 1
    n = 16000
    spectrum = np.zeros(n // 2 + 1, dtype=complex)
    f = np.fft.rfftfreq(n, 1 / SR)
    spectrum[1:] = 1 / f[1:] * np.exp(1j * np.random.default_rng(1).uniform(0, 2 * np.pi, n // 2))
    x = torch.tensor(np.fft.irfft(spectrum, n))[None]
    assert warmth(x, SR, features=True)[0, 1].item() > 0.9


def test_descriptors_are_level_invariant_and_batched():
    # bug caught: no peak normalisation (thresholds then depend on level), or batch rows mixed
    x = torch.cat([white(0.5, 1), sine(300.0, 0.5)])
    both = timbre_descriptors(x, SR)
    torch.testing.assert_close(timbre_descriptors(0.01 * x, SR), both, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(timbre_descriptors(x[1:], SR), both[1:])


def test_descriptors_are_differentiable():
    x = (0.3 * white(0.5)).requires_grad_()
    timbre_descriptors(x, SR).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="audio"):
        brightness(torch.zeros(100), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        depth(torch.zeros(1, 100), -1.0)
