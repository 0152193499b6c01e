import numpy as np
import pytest
import torch

from torchddsp.features import a_weighted_loudness, a_weighting_db, centered_frames, rms_db


def _sine(frequency, amplitude=1.0, seconds=2.0, sr=16000):
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    return (amplitude * torch.sin(2 * np.pi * frequency * t))[None]


def test_a_weighting_curve_reference_points():
    # IEC 61672 table: 100 Hz -19.1 dB, 1 kHz 0 dB, 10 kHz -2.5 dB.
    np.testing.assert_allclose(a_weighting_db([100, 1000, 10000]), [-19.1, 0.0, -2.5], atol=0.05)


@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
def test_loudness_falls_20_db_for_a_tenth_of_the_amplitude(sample_rate):
    loud = a_weighted_loudness(_sine(1000, 1.0, sr=sample_rate), sample_rate)[0, 20:-20].mean()
    quiet = a_weighted_loudness(_sine(1000, 0.1, sr=sample_rate), sample_rate)[0, 20:-20].mean()
    assert float(loud - quiet) == pytest.approx(20.0, abs=0.1)


def test_a_100_hz_sine_reads_about_19_db_below_1_khz():
    difference = (a_weighted_loudness(_sine(1000), 16000) - a_weighted_loudness(_sine(100), 16000))[0, 20:-20].mean()
    assert float(difference) == pytest.approx(19.0, abs=0.5)


def test_loudness_shape_frames_and_silence():
    audio = torch.zeros(3, 64000, requires_grad=True)
    loudness = a_weighted_loudness(audio, 16000, 250)
    assert loudness.shape == (3, 1000)
    assert bool((loudness == -80.0).all())
    loudness.sum().backward()
    assert torch.isfinite(audio.grad).all()
    assert a_weighted_loudness(torch.zeros(1, 44100), 44100, 100).shape == (1, 100)  # hop 441
    assert a_weighted_loudness(torch.zeros(1, 44100), 44100, 250).shape == (1, 250)  # hop 176.4


def test_frames_are_centred_on_i_over_frame_rate():
    audio = torch.zeros(1, 1000, dtype=torch.float64)
    audio[0, 300] = 1.0  # an impulse at 300 / 1000 s with sample rate 1000
    frames = centered_frames(audio, 9, 1000, 10)
    assert frames.shape == (1, 10, 9)  # floor(1000 * 10 / 1000) frames
    assert frames[0, 3, 4].item() == 1.0  # frame 3 (time 0.3 s), its centre sample
    fractional = centered_frames(audio, 9, 1000, 1000 / 7.5, n_frames=50)  # hop 7.5 samples
    assert fractional[0, 40, 4].item() == 1.0  # centre round(40 * 7.5) = 300


def test_rms_db_of_a_full_scale_sine():
    level = rms_db(_sine(500), 16000)[0, 10:-10]  # frames of 128 samples: 4 whole periods
    np.testing.assert_allclose(level.numpy(), -3.0103, atol=0.02)
