"""Fixtures of the web app's tests (declared in tests/conftest.py): short excerpts of the pitch-test clips (tests/data/pitch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

PITCH_DATA = Path(__file__).resolve().parent / "data" / "pitch"
#: Samples of the excerpt at 16 kHz: 500 frames of 64 (the bundled models' hop) and 37 more,
#: so that a transfer must drop the partial frame: the output has 500 * 64 = 32000 samples.
EXCERPT_SAMPLES, EXCERPT_OUTPUT_SAMPLES = 32037, 32000


@pytest.fixture(scope="session")
def flute_excerpt() -> tuple[np.ndarray, int]:
    """About 2 s of tests/data/pitch/flute.flac (16 kHz, from its first note): ``(samples, rate)``."""
    audio, rate = sf.read(str(PITCH_DATA / "flute.flac"), dtype="float32")
    assert rate == 16000
    start = int(0.2 * rate)  # the clip's first note starts after 0.2 s of silence
    return audio[start : start + EXCERPT_SAMPLES], rate


@pytest.fixture(scope="session")
def flute_excerpt_flac(tmp_path_factory, flute_excerpt) -> Path:
    path = tmp_path_factory.mktemp("app_upload") / "flute_excerpt.flac"
    sf.write(str(path), *flute_excerpt)
    return path
