"""The identity-matrix computation of scripts/zoo_identity.py, on harmonic tones whose
spectra are known in closed form."""

import numpy as np
import pytest
import torch
from zoo_support import load_script

identity = load_script("zoo_identity")

RATE, HOP, N = 16000, 64, 4096
F0 = 250.0  # 32 bins of a 2048-point FFT at 16 kHz: every harmonic sits on a bin centre
SPECTRA = {
    "bright": [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1],
    "dark": [1.0, 0.3, 0.1, 0.05, 0.03, 0.02, 0.01, 0.008, 0.005, 0.003],
}


def _tone(amplitudes, f0_hz=F0, n=N):
    """Sum of harmonics, float64, shape (n,)."""
    t = np.arange(n) / RATE
    return sum(a * np.sin(2 * np.pi * (k + 1) * f0_hz * t) for k, a in enumerate(amplitudes))


def _clip(amplitudes, batch=1):
    audio = torch.from_numpy(np.stack([_tone(amplitudes)] * batch)).float()
    frames = N // HOP
    return {
        "audio": audio,
        "f0_hz": torch.full((batch, frames), F0),
        "loudness_db": torch.zeros(batch, frames),
        # Voiced: the frames whose 2048-sample window lies inside the clip (no zero padding,
        # so the Hann window's leakage between bin-centred harmonics is exactly zero).
        "confidence": ((torch.arange(frames) * HOP >= 1024) & (torch.arange(frames) * HOP + 1024 <= N))
        .float()
        .expand(batch, -1),
    }


def _model(amplitudes):
    """A 'model' that always plays ``amplitudes`` at the given (constant) f0."""

    def play(f0_hz, loudness_db, audio):
        return torch.from_numpy(np.stack([_tone(amplitudes, float(f[0]), audio.shape[-1]) for f in f0_hz])).float()

    return play


def test_harmonic_levels_match_the_amplitudes_in_closed_form():
    # Catches a harmonic index off by one (k * f0 from k = 0), levels relative to the first
    # harmonic instead of the strongest, and a window that leaks between harmonics.
    amplitudes = [0.5, 1.0, 0.25, 0.125]
    levels = identity.harmonic_levels_db(
        _tone(amplitudes), np.full(N // HOP, F0), np.array([16, 32, 48]), HOP, RATE, n_harmonics=4
    )
    expected = 20 * np.log10(np.array(amplitudes) / 1.0)
    np.testing.assert_allclose(levels, np.tile(expected, (3, 1)), atol=1e-6)


def test_harmonics_above_the_last_bin_are_left_out():
    levels = identity.harmonic_levels_db(
        _tone([1.0]), np.full(N // HOP, 3000.0), np.array([32]), HOP, RATE, n_harmonics=4
    )
    # 3000 Hz * 3 = 9000 Hz is above Nyquist (8000 Hz): NaN, not a level read off the edge.
    assert np.isnan(levels[0, 2:]).all() and not np.isnan(levels[0, :2]).any()


@pytest.mark.slow  # over 2 s on the loaded 2-core machine: make test runs it, make test-fast does not
def test_each_clip_is_closest_to_the_model_that_plays_its_spectrum():
    # Catches rows and columns swapped, a distance taken between the model's output and the
    # wrong reference, and a profile distance that ignores the spectral envelope.
    clips = {name: _clip(amplitudes) for name, amplitudes in SPECTRA.items()}
    models = {name: _model(amplitudes) for name, amplitudes in SPECTRA.items()}
    matrix = identity.identity_matrix(clips, models, HOP, RATE)
    for row in SPECTRA:
        other = next(n for n in SPECTRA if n != row)
        assert matrix["spectral"][row][row] == pytest.approx(0.0, abs=1e-5)
        assert matrix["spectral"][row][other] > 1.0
        assert matrix["profile"][row][row] == pytest.approx(0.0, abs=1e-4)
        # The profiles differ by the mean |dB| gap of the two amplitude lists (closed form).
        gap = np.mean(np.abs(20 * np.log10(np.array(SPECTRA[row]) / np.array(SPECTRA[other]))))
        assert matrix["profile"][row][other] == pytest.approx(gap, rel=1e-3)
    assert identity.diagonal_check(matrix["spectral"]) == {"bright": True, "dark": True}
    # The same models under swapped names: every row's "own" model is now the wrong one.
    swapped = identity.identity_matrix(clips, {"bright": models["dark"], "dark": models["bright"]}, HOP, RATE)
    assert identity.diagonal_check(swapped["profile"]) == {"bright": False, "dark": False}


def test_the_diagonal_check_is_strict_and_skips_rows_without_an_own_model():
    # Catches a check that takes the maximum, accepts a tie, or compares the own model with itself.
    table = {
        "violin": {"violin": 1.0, "cello": 2.0, "flute": 3.0},
        "cello": {"violin": 1.5, "cello": 1.5, "flute": 4.0},  # a tie is not "told apart"
        "flute": {"violin": 0.5, "cello": 2.0, "flute": 1.0},
        "trumpet": {"violin": 1.0, "cello": 2.0, "flute": 3.0},  # no trumpet model
    }
    assert identity.diagonal_check(table) == {"violin": True, "cello": False, "flute": False, "trumpet": None}
    text = identity.markdown(table, "spectral distance")
    assert "| violin clip | **1.00** | 2.00 | 3.00 | yes |" in text
    assert "| flute clip | **0.50** | 2.00 | 1.00 | NO |" in text and "| trumpet clip |" in text


def test_a_clip_without_voiced_frames_raises_value_error():
    clip = _clip(SPECTRA["dark"], batch=1)
    clip["confidence"] = torch.zeros_like(clip["confidence"])
    with pytest.raises(ValueError, match="voiced"):
        identity.distances(clip, _model(SPECTRA["dark"]), HOP, RATE)
