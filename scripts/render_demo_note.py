"""Render the bundled demo clip: one violin note from the FluidR3_GM soundfont.

This script is how ``src/torchddsp/assets/violin_note.flac`` was made; it is run once and
its output is committed, so neither the demo nor the tests need fluidsynth. It

1. writes a one-note Standard MIDI File by hand (``scripts/midi_render.py``; no MIDI library):
   General MIDI program 40 (violin), A4, with a swell on expression (CC 11);
2. renders it with fluidsynth at 16 kHz, synth reverb and chorus off::

       fluidsynth -ni -q -R 0 -C 0 -g 0.6 -r 16000 -F out.wav FluidR3_GM.sf2 note.mid

3. downmixes to mono, trims leading and trailing silence (below -60 dB of the peak, with a
   short fade-out), normalises the peak to 0.9 and writes 16-bit FLAC.

Needs the Debian packages ``fluidsynth`` and ``fluid-soundfont-gm``.

Usage::

    python scripts/render_demo_note.py [--out src/torchddsp/assets/violin_note.flac]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from midi_render import render_mono  # scripts/midi_render.py
from midi_render import seconds_to_ticks  # scripts/midi_render.py
from midi_render import smf_bytes  # scripts/midi_render.py
from midi_render import tempo_event  # scripts/midi_render.py

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "torchddsp" / "assets" / "violin_note.flac"

SAMPLE_RATE = 16000
PROGRAM = 40  # General MIDI violin (0-based program number)
NOTE = 69  # A4, 440 Hz
VELOCITY = 96
NOTE_SECONDS = 2.6
TICKS_PER_BEAT = 480
TEMPO_US_PER_BEAT = 500_000  # 120 beats per minute: 960 ticks per second
PEAK = 0.9
SILENCE_DB = -60.0
FADE_SECONDS = 0.02


def _ticks(seconds: float) -> int:
    return seconds_to_ticks(seconds, TICKS_PER_BEAT, TEMPO_US_PER_BEAT)


def note_midi_bytes() -> bytes:
    """A format-0 Standard MIDI File holding the demo note on channel 0."""
    channel = 0
    # (absolute tick, event bytes)
    events: list[tuple[int, bytes]] = [
        (0, tempo_event(TEMPO_US_PER_BEAT)),  # set tempo
        (0, bytes([0xC0 | channel, PROGRAM])),  # program change
        (0, bytes([0xB0 | channel, 7, 100])),  # channel volume
        (0, bytes([0xB0 | channel, 11, 70])),  # expression: start below full
        (0, bytes([0x90 | channel, NOTE, VELOCITY])),  # note on
    ]
    # A gentle swell: expression 70 -> 127 over the first 40 % of the note, back to 85.
    n_steps = 24
    for i in range(1, n_steps + 1):
        position = i / n_steps
        if position <= 0.4:
            level = 70 + (127 - 70) * position / 0.4
        else:
            level = 127 - (127 - 85) * (position - 0.4) / 0.6
        events.append((_ticks(position * NOTE_SECONDS * 0.95), bytes([0xB0 | channel, 11, round(level)])))
    end = _ticks(NOTE_SECONDS)
    events.append((end, bytes([0x80 | channel, NOTE, 64])))  # note off
    events.append((end + _ticks(1.0), b"\xff\x2f\x00"))  # end of track, after the release

    return smf_bytes(events, TICKS_PER_BEAT)


def trim_and_normalise(audio: np.ndarray) -> np.ndarray:
    """Cut silence (below ``SILENCE_DB`` of the peak) at both ends, fade out, scale to ``PEAK``."""
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        raise SystemExit("the render is silent")
    loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (SILENCE_DB / 20))
    audio = audio[loud[0] : loud[-1] + 1].copy()
    fade = min(len(audio), round(FADE_SECONDS * SAMPLE_RATE))
    audio[-fade:] *= np.linspace(1.0, 0.0, fade)
    return audio * (PEAK / float(np.max(np.abs(audio))))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output FLAC path")
    args = parser.parse_args(argv)

    audio = trim_and_normalise(render_mono(note_midi_bytes(), SAMPLE_RATE))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    print(f"wrote {args.out}: {len(audio) / SAMPLE_RATE:.2f} s, {args.out.stat().st_size / 1024:.0f} KB")
    return args.out


if __name__ == "__main__":
    main(sys.argv[1:])
