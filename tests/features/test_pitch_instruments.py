"""f0 of real (soundfont-rendered) violin, flute and cello melodies against their MIDI notes.

The clips and their note lists are in ``tests/data/pitch`` (made by
``scripts/render_pitch_test_clips.py``; see the README there).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.features import estimate_f0

DATA = Path(__file__).resolve().parents[1] / "data" / "pitch"
FRAME_RATE = 250


def _cents_errors(instrument: str, method: str) -> np.ndarray:
    """Cents between the estimate and the MIDI pitch over the middle half of every note."""
    audio, sample_rate = sf.read(DATA / f"{instrument}.flac", dtype="float32")
    notes = json.loads((DATA / f"{instrument}.json").read_text())["notes"]
    f0, _ = estimate_f0(torch.from_numpy(audio)[None], sample_rate, FRAME_RATE, method=method)
    f0 = f0[0].double().numpy()
    errors = []
    for note in notes:
        start, stop = note["onset_s"], note["offset_s"]
        middle = slice(
            int((start + 0.25 * (stop - start)) * FRAME_RATE), int((stop - 0.25 * (stop - start)) * FRAME_RATE)
        )
        expected = 440.0 * 2 ** ((note["midi"] - 69) / 12)
        errors.append(1200 * np.log2(f0[middle] / expected))
    return np.concatenate(errors)


@pytest.mark.slow  # over 2 s: make test runs it, make test-fast does not
@pytest.mark.parametrize("instrument", ["violin", "flute", "cello"])
def test_crepe_follows_soundfont_melodies(instrument):
    errors = np.abs(_cents_errors(instrument, "crepe"))
    assert np.median(errors) < 15.0, f"{instrument}: median {np.median(errors):.1f} cents"
    assert np.mean(errors > 600) < 0.01  # octave errors


@pytest.mark.parametrize("instrument", ["violin", "flute", "cello"])
def test_yin_follows_soundfont_melodies(instrument):
    errors = np.abs(_cents_errors(instrument, "yin"))
    assert np.median(errors) < 15.0, f"{instrument}: median {np.median(errors):.1f} cents"
    assert np.mean(errors > 600) < 0.01
