from pathlib import Path

import numpy as np
import pytest
import torch

from torchddsp.features import a_weighted_loudness
from torchddsp.features import a_weighting_db
from torchddsp.features import centered_frames
from torchddsp.features import rms_db

# Magenta ddsp 3.7.0's compute_loudness (TensorFlow 2.15, float32) on signals rebuilt here from
# their recipe, plus librosa's A-weighting; made by benchmarks/peers/magenta_loudness.py (which
# documents the recipe and Magenta's settings, and says how to regenerate it).
MAGENTA = dict(np.load(Path(__file__).resolve().parents[1] / "data" / "magenta_loudness.npz"))
MAGENTA_CASES = [str(name) for name in MAGENTA["name"]]


def _sine(frequency, amplitude=1.0, seconds=2.0, sr=16000):
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    return (amplitude * torch.sin(2 * np.pi * frequency * t))[None]


def _recipe_audio(case):
    """Fixture case ``case``'s signal, float32 ``(n_samples,)``: the formula of
    benchmarks/peers/magenta_loudness.py's ``synthesize``."""
    kind, sr, n = str(MAGENTA["kind"][case]), int(MAGENTA["sample_rate"][case]), int(MAGENTA["n_samples"][case])
    frequency, frequency_end = float(MAGENTA["frequency"][case]), float(MAGENTA["frequency_end"][case])
    amplitude = float(MAGENTA["amplitude"][case])
    t = np.arange(n, dtype=np.float64) / sr
    if kind == "sine":
        audio = amplitude * np.sin(2 * np.pi * frequency * t)
    elif kind == "chirp":
        audio = amplitude * np.sin(2 * np.pi * (frequency * t + (frequency_end - frequency) * t**2 / (2 * n / sr)))
    elif kind == "noise":
        audio = amplitude * np.random.RandomState(int(MAGENTA["seed"][case])).standard_normal(n)
    else:
        assert kind == "silence", kind
        audio = np.zeros(n)
    return audio.astype(np.float32)  # Magenta casts its input to float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", range(len(MAGENTA_CASES)), ids=MAGENTA_CASES)
def test_loudness_matches_magenta_ddsp(case, dtype):
    # Catches any departure from DDSP's loudness: bins summed instead of averaged (+24 dB at
    # n_fft 512), ref_db added instead of subtracted, the floors, rounded A-weighting poles
    # (up to 3e-3 dB on the 50 Hz sine and the chirps), a shifted frame.
    audio = _recipe_audio(case)
    # The recipe rebuilt the very audio Magenta saw (up to float64 summation order).
    np.testing.assert_allclose(np.sum(audio.astype(np.float64) ** 2), MAGENTA["energy"][case], rtol=1e-12)
    theirs = MAGENTA["loudness"][MAGENTA["offsets"][case] : MAGENTA["offsets"][case + 1]]
    # Magenta's padding="center" is our framing: n_fft // 2 zeros on both ends, frame k centred
    # on sample k * hop. It returns n_samples // hop + 1 frames (ours by default: one fewer), so
    # asking for that many compares every frame, the partly padded edge frames included.
    ours = a_weighted_loudness(
        torch.from_numpy(audio).to(dtype)[None],
        int(MAGENTA["sample_rate"][case]),
        int(MAGENTA["frame_rate"][case]),
        int(MAGENTA["n_fft"][case]),
        float(MAGENTA["range_db"][case]),
        float(MAGENTA["ref_db"][case]),
        n_frames=len(theirs),
    )[0]
    # Measured: at most 7.6e-6 dB apart (TensorFlow's float32 FFT); 1e-3 dB leaves room for
    # other FFT libraries and is still well inside the 0.01 dB agreement asked for.
    np.testing.assert_allclose(ours.double().numpy(), theirs, rtol=0, atol=1e-3)


def test_a_weighting_matches_librosa():
    # Magenta weights with librosa.A_weighting; rounded poles are off by up to 0.004 dB.
    expected = np.maximum(MAGENTA["a_weighting_db"], -80.0)
    np.testing.assert_allclose(a_weighting_db(MAGENTA["a_weighting_hz"]), expected, rtol=0, atol=1e-9)


def test_a_weighting_matches_iec_61672_closed_form():
    # IEC 61672-1 Annex E: the poles follow from f_r = 1 kHz, f_L = 10^1.5 Hz, f_H = 10^3.9 Hz,
    # D^2 = 1/2 and f_A = 10^2.45 Hz (eqs. E.1-E.6), computed here in float64; A_1000 = -2.000 dB.
    # Catches the rounded poles (20.6, 107.7, 737.9, 12194 Hz: up to 4.9e-3 dB off); the library's
    # 8-digit poles are 1.5e-7 dB off.
    f_r, f_l, f_h, d, f_a = 1000.0, 10**1.5, 10**3.9, np.sqrt(0.5), 10**2.45
    c = f_l**2 * f_h**2
    b = (f_r**2 + f_l**2 * f_h**2 / f_r**2 - d * (f_l**2 + f_h**2)) / (1 - d)
    f1, f4 = np.sqrt((-b - np.sqrt(b * b - 4 * c)) / 2), np.sqrt((-b + np.sqrt(b * b - 4 * c)) / 2)
    f2, f3 = (3 - np.sqrt(5)) / 2 * f_a, (3 + np.sqrt(5)) / 2 * f_a
    f = np.geomspace(10.0, 20000.0, 400)
    response = f4**2 * f**4 / ((f**2 + f1**2) * np.sqrt((f**2 + f2**2) * (f**2 + f3**2)) * (f**2 + f4**2))
    np.testing.assert_allclose(a_weighting_db(f, min_db=-np.inf), 20 * np.log10(response) + 2.0, rtol=0, atol=1e-6)


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
