"""Render the bundled timbre-transfer input: a sung-like melody from the FluidR3_GM soundfont.

This script is how ``src/torchddsp/assets/voice_melody.flac`` was made; it is run once and its
output is committed, so the demos need no fluidsynth. It

1. writes the second phrase of the "Ode to Joy" theme (Beethoven, Symphony No. 9, finale,
   1824; public domain) in G major, 4/4, quarter = 0.424 s, as a Standard MIDI File by hand
   (``scripts/midi_render.py``): General MIDI program 53, "Voice Oohs", G4-D5, sung legato
   (a note ends 24 ms before the next, 60 ms before a repeated pitch so it is re-attacked),
   velocities and expression (CC 11) shaped as one phrase with a decrescendo on the last note,
   and a singer's vibrato: the soundfont's voice has none, so the vibrato LFO is slowed from
   8.2 Hz to about 5.6 Hz (SoundFont NRPN, generator 24) and the modulation wheel (CC 1)
   brings it in on the long notes (about +-25 cents);
2. renders it with fluidsynth at 16 kHz, synth reverb and chorus off::

       fluidsynth -ni -q -R 0 -C 0 -g 0.6 -r 16000 -F out.wav FluidR3_GM.sf2 in.mid

3. downmixes to mono, keeps the 0.3 s of leading silence, trims the trailing silence (below
   -60 dB of the peak; 20 ms fade-out), adds 0.25 s of silence, normalises the peak to 0.9 and
   writes 16-bit FLAC; and writes a JSON of its notes (MIDI pitch, onset and offset in the
   audio, velocity) to ``--json`` (default ``/work/data/voice_melody.json``, outside the repo);
4. prints a YIN check of each note's pitch (``render_pitch_test_clips.check_pitch``).

Every MIDI event lies on the 4 ms (64-sample) grid on which fluidsynth processes events, so
the JSON times (MIDI time + 4 ms) are the times in the audio, as in
``render_pitch_test_clips.py``. Needs the Debian packages ``fluidsynth`` and
``fluid-soundfont-gm``.

Usage::

    python scripts/render_voice_melody.py [--out src/torchddsp/assets/voice_melody.flac]
        [--json /work/data/voice_melody.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from midi_render import render_mono  # scripts/midi_render.py
from midi_render import smf_bytes  # scripts/midi_render.py
from midi_render import tempo_event  # scripts/midi_render.py
from render_pitch_test_clips import check_pitch
from render_pitch_test_clips import finish
from render_pitch_test_clips import midi_number
from render_pitch_test_clips import to_json

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "torchddsp" / "assets" / "voice_melody.flac"
DEFAULT_JSON = Path("/work/data/voice_melody.json")

SAMPLE_RATE = 16000
PROGRAM = 53  # General MIDI "Voice Oohs" (0-based)
TICKS_PER_BEAT = 500
TEMPO_US_PER_BEAT = 500_000  # one tick per millisecond
SYNTH_DELAY_S = 0.004  # a voice starts one 64-sample block after its MIDI event
BEAT_MS = 424  # a quarter note: it, its half and its 1.5 times lie on the 4 ms grid
LEAD_IN_MS = 300
GAP_MS = 24  # legato: note-off this long before the next note-on
REPEAT_GAP_MS = 60  # before a repeated pitch
TAIL_S = 0.25  # silence appended after the trimmed release
VIBRATO_RATE_CENTS = -688  # LFO frequency offset: 8.176 Hz * 2 ** (-688 / 1200) = 5.5 Hz

# Ode to Joy, second phrase, G major: (note, beats, velocity)
NOTES = (
    ("B4", 1, 80),
    ("B4", 1, 84),
    ("C5", 1, 90),
    ("D5", 1, 98),
    ("D5", 1, 100),
    ("C5", 1, 92),
    ("B4", 1, 86),
    ("A4", 1, 80),
    ("G4", 1, 76),
    ("G4", 1, 78),
    ("A4", 1, 84),
    ("B4", 1, 90),
    ("A4", 1.5, 88),
    ("G4", 0.5, 74),
    ("G4", 2, 80),
)


def vibrato_nrpn(channel: int, cents: int) -> list[bytes]:
    """SoundFont NRPN: offset generator 24 (vibrato LFO frequency) by ``cents``.

    FluidSynth scales this generator's NRPN data by 4 (measured: -688 cents -> 5.6 Hz).
    """
    data = 8192 + round(cents / 4)
    return [
        bytes([0xB0 | channel, 99, 120]),
        bytes([0xB0 | channel, 98, 24]),
        bytes([0xB0 | channel, 38, data & 0x7F]),
        bytes([0xB0 | channel, 6, data >> 7]),
    ]


def grid(ms: float) -> int:
    """Milliseconds rounded to the 4 ms grid."""
    return 4 * round(ms / 4)


def notes() -> list[dict]:
    out = []
    t = LEAD_IN_MS
    for i, (name, beats, velocity) in enumerate(NOTES):
        slot = grid(beats * BEAT_MS)
        repeated = i + 1 < len(NOTES) and NOTES[i + 1][0] == name
        gap = REPEAT_GAP_MS if repeated else GAP_MS
        out.append({"midi": midi_number(name), "velocity": velocity, "on_ms": t, "off_ms": t + slot - gap})
        t += slot
    return out


def midi_bytes(melody: list[dict]) -> bytes:
    channel = 0
    events: list[tuple[int, int, bytes]] = [
        (0, 0, tempo_event(TEMPO_US_PER_BEAT)),
        (0, 0, bytes([0xC0 | channel, PROGRAM])),
        (0, 0, bytes([0xB0 | channel, 7, 100])),
        (0, 0, bytes([0xB0 | channel, 1, 0])),
    ]
    events += [(0, 0, m) for m in vibrato_nrpn(channel, VIBRATO_RATE_CENTS)]
    start, end = melody[0]["on_ms"], melody[-1]["off_ms"]
    last = None
    for ms in range(start - 100, end + 4, 20):  # expression: one arch, decrescendo at the end
        x = (ms - start) / (melody[-1]["on_ms"] - start)
        if x <= 1.0:
            value = 96 + 26 * np.sin(np.pi * min(max(x, 0.0), 1.0) * 0.8)
        else:
            value = 96 + 26 * np.sin(np.pi * 0.8) - 30 * (ms - melody[-1]["on_ms"]) / (end - melody[-1]["on_ms"])
        value = int(round(min(max(value, 40), 127)))
        if value != last:
            events.append((grid(ms), 1, bytes([0xB0 | channel, 11, value])))
            last = value
    for n in melody:
        events.append((n["on_ms"], 2, bytes([0x90 | channel, n["midi"], n["velocity"]])))
        events.append((n["off_ms"], 0, bytes([0x80 | channel, n["midi"], 64])))
        length = n["off_ms"] - n["on_ms"]
        # Vibrato: light on every note, growing on notes of 0.6 s and more.
        depth = 45 if length < 600 else 80
        events.append((n["on_ms"], 1, bytes([0xB0 | channel, 1, 20])))
        for k in range(1, 6):
            ms = n["on_ms"] + grid(min(200 + k * 60, length * 0.8))
            events.append((ms, 1, bytes([0xB0 | channel, 1, round(20 + (depth - 20) * k / 5)])))
    events.append((end + 1500, 3, b"\xff\x2f\x00"))
    events.sort(key=lambda e: (e[0], e[1]))
    return smf_bytes([(t, data) for t, _, data in events], TICKS_PER_BEAT)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="FLAC to write")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON of the notes to write")
    args = parser.parse_args(argv)

    melody = notes()
    audio = finish(render_mono(midi_bytes(melody), SAMPLE_RATE))
    audio = np.concatenate([audio, np.zeros(round(TAIL_S * SAMPLE_RATE))])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC")

    record = {
        "sample_rate": SAMPLE_RATE,
        "program": PROGRAM,
        "instrument": "voice (General MIDI 'Voice Oohs', FluidR3_GM)",
        "melody": "Ode to Joy (Beethoven, Symphony No. 9, finale, 1824), second phrase of the theme",
        "source": "public domain; G major, 4/4, quarter = 0.424 s",
        "synth_delay_s": SYNTH_DELAY_S,
        "notes": [
            {
                "midi": n["midi"],
                "onset_s": round(n["on_ms"] / 1000 + SYNTH_DELAY_S, 6),
                "offset_s": round(n["off_ms"] / 1000 + SYNTH_DELAY_S, 6),
                "velocity": n["velocity"],
            }
            for n in melody
        ],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(to_json(record))

    stored, _ = sf.read(args.out, dtype="float64")
    cents = check_pitch(stored, record["notes"])
    print(
        f"wrote {args.out}: {len(stored) / SAMPLE_RATE:.2f} s, {args.out.stat().st_size / 1024:.0f} KB, "
        f"{len(melody)} notes, MIDI {min(n['midi'] for n in melody)}-{max(n['midi'] for n in melody)}; "
        f"YIN check (cents): {' '.join(f'{c:+.0f}' for c in cents)}"
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main(sys.argv[1:])
