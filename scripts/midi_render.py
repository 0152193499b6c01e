"""Shared helpers for the scripts that render audio from the FluidR3_GM soundfont.

A Standard MIDI File is written by hand (the ``struct`` module; no MIDI library) and rendered
with fluidsynth, the synth's own reverb and chorus off::

    fluidsynth -ni -q -R 0 -C 0 -g 0.6 -r 16000 -F out.wav FluidR3_GM.sf2 in.mid

Used by ``render_demo_note.py`` and ``render_pitch_test_clips.py``; import it from a script in
this folder (``sys.path`` holds the running script's folder). Needs the Debian packages
``fluidsynth`` and ``fluid-soundfont-gm``.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TICKS_PER_BEAT = 480
TEMPO_US_PER_BEAT = 500_000  # 120 beats per minute


def variable_length(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    chunks = [value & 0x7F]
    value >>= 7
    while value:
        chunks.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(chunks))


def seconds_to_ticks(
    seconds: float, ticks_per_beat: int = TICKS_PER_BEAT, tempo_us_per_beat: int = TEMPO_US_PER_BEAT
) -> int:
    """Ticks at a constant tempo, rounded to the nearest tick."""
    return round(seconds * 1e6 / tempo_us_per_beat * ticks_per_beat)


def tempo_event(tempo_us_per_beat: int = TEMPO_US_PER_BEAT) -> bytes:
    """The set-tempo meta event."""
    return b"\xff\x51\x03" + tempo_us_per_beat.to_bytes(3, "big")


def smf_bytes(events: Iterable[tuple[int, bytes]], ticks_per_beat: int = TICKS_PER_BEAT) -> bytes:
    """A format-0 Standard MIDI File from ``(absolute tick, event bytes)`` pairs.

    Events are written in tick order; events on the same tick keep their given order. The
    caller supplies the tempo and end-of-track meta events.
    """
    track = bytearray()
    previous = 0
    for tick, data in sorted(events, key=lambda e: e[0]):
        track += variable_length(tick - previous) + data
        previous = tick
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render(midi_path: Path, wav_path: Path, sample_rate: int) -> None:
    """Render a MIDI file to a stereo 16-bit WAV with fluidsynth (reverb and chorus off)."""
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm")
    if not SOUNDFONT.exists():
        raise SystemExit(f"soundfont not found at {SOUNDFONT}: apt-get install fluid-soundfont-gm")
    command = [
        "fluidsynth",
        "-ni",
        "-q",
        "-R",
        "0",
        "-C",
        "0",
        "-g",
        "0.6",
        "-r",
        str(sample_rate),
        "-F",
        str(wav_path),
        str(SOUNDFONT),
        str(midi_path),
    ]
    print(" ".join(command))
    subprocess.run(command, check=True)


def render_mono(midi: bytes, sample_rate: int) -> np.ndarray:
    """Render Standard MIDI File bytes; the stereo render downmixed to mono, float64."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "in.mid"
        wav_path = Path(tmp) / "out.wav"
        midi_path.write_bytes(midi)
        render(midi_path, wav_path, sample_rate)
        audio, rate = sf.read(wav_path, dtype="float64", always_2d=True)
    if rate != sample_rate:
        raise SystemExit(f"fluidsynth wrote {rate} Hz, expected {sample_rate}")
    return audio.mean(axis=1)
