"""``examples/timbre_transfer.py`` (what ``make demo`` runs): the bundled voice clip played by
every bundled model, plus a dry violin, with real weights and real audio."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from example_support import load_example


def test_demo_writes_audio_and_figures_for_every_bundled_model(tmp_path):
    example = load_example("timbre_transfer")
    result = example.main(["--out", str(tmp_path)])
    assert set(result["results"]) >= {"violin", "flute"}
    source = sf.info(str(example.default_input()))
    for name in ("violin", "flute"):
        audio, rate = sf.read(tmp_path / f"voice_melody_to_{name}.wav", dtype="float32")
        assert rate == 16000 and abs(len(audio) / rate - source.duration) < 0.01
        assert np.isfinite(audio).all() and 0.01 < np.abs(audio).max() <= 1.0
        assert (tmp_path / f"voice_melody_to_{name}.png").stat().st_size > 10_000
    wet, _ = sf.read(tmp_path / "voice_melody_to_violin.wav", dtype="float32")
    dry, _ = sf.read(tmp_path / "voice_melody_to_violin_dry.wav", dtype="float32")
    # Same controls and noise seed; the dry render only lacks the learned room.
    assert len(dry) == len(wet) and not np.allclose(dry, wet)
