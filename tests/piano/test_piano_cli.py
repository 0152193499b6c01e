"""``torchddsp piano MIDI --model piano -o OUT.wav`` end to end with the bundled model."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from torchddsp.cli import main
from torchddsp.piano.render import BUNDLED
from torchddsp.piano.render import load_piano_model

# Format 1, 480 ticks per beat: a tempo track (120 bpm) and a C major triad held for 1 beat.
TEMPO = b"\x00\xff\x51\x03\x07\xa1\x20\x00\xff\x2f\x00"
CHORD = b"\x00\x90\x3c\x50\x00\x40\x50\x00\x43\x50\x83\x60\x3c\x00\x00\x40\x00\x00\x43\x00\x00\xff\x2f\x00"
TINY_MIDI = (
    b"MThd" + struct.pack(">IHHH", 6, 1, 2, 480)
    + b"MTrk" + struct.pack(">I", len(TEMPO)) + TEMPO
    + b"MTrk" + struct.pack(">I", len(CHORD)) + CHORD
)  # fmt: skip


@pytest.mark.slow
def test_renders_a_tiny_midi_with_the_bundled_model(tmp_path, capsys):
    # Bug: the wrong sample rate or length written, the chord's notes lost, a silent render.
    midi, out = tmp_path / "chord.mid", tmp_path / "chord.wav"
    midi.write_bytes(TINY_MIDI)
    assert main(["piano", str(midi), "--model", "piano", "-o", str(out)]) == 0
    audio, rate = sf.read(out, dtype="float64")
    config = load_piano_model("piano").config
    assert rate == config.sample_rate
    # 0.5 s of notes + the release + the 0.5 s tail, whole frames.
    assert len(audio) == round((0.5 + config.release_s + 0.5) * config.sample_rate)
    assert audio.ndim == 1 and 1e-3 < np.abs(audio).max() <= 1.0
    assert np.abs(audio[: int(0.5 * rate)]).mean() > 3 * np.abs(audio[-int(0.3 * rate) :]).mean()
    assert "wrote" in capsys.readouterr().out


def test_corrupt_midi_and_bad_model_fail_with_one_line(tmp_path, capsys):
    # Bug: a traceback (exit 1) or a written file on corrupt input.
    midi, out = tmp_path / "bad.mid", tmp_path / "bad.wav"
    midi.write_bytes(TINY_MIDI[:30])
    assert main(["piano", str(midi), "-o", str(out)]) == 2
    assert "midi" in capsys.readouterr().err and not out.exists()
    midi.write_bytes(TINY_MIDI)
    assert main(["piano", str(midi), "--model", str(tmp_path), "-o", str(out)]) == 2
    assert "not a piano model folder" in capsys.readouterr().err and not out.exists()


def test_bundled_model_is_small_and_complete():
    # The limit: the bundled model under 10 MB, with its README (recipe, licences).
    files = {path.name: path.stat().st_size for path in BUNDLED.iterdir()}
    assert {"config.json", "weights.safetensors", "README.md"} <= set(files)
    assert sum(files.values()) < 10 * 2**20
