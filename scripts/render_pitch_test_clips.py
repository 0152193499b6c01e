"""Render the pitch-tracker test clips: three short real melodies from the FluidR3_GM soundfont.

This script is how ``tests/data/pitch/{violin,flute,cello}.{flac,json}`` were made; it is run
once and its output is committed, so the tests need no fluidsynth. For each instrument it

1. writes a monophonic melody as a Standard MIDI File by hand (``scripts/midi_render.py``):
   varied durations (0.25-1 s) and velocities, notes separated by a short gap (legato-ish
   but every note re-attacked), all inside the instrument's comfortable range. The strings'
   release is shortened to a quarter (SoundFont NRPN, below): the soundfont's violin and
   cello ring 0.2-0.3 s past note-off, which left the previous pitch only 4-9 dB below the
   current one in the middle of short cello notes; on a real string the next stopped note
   ends the previous one on that string. The flute's release (0.1 s) is kept;
2. renders it with fluidsynth at 16 kHz, synth reverb and chorus off::

       fluidsynth -ni -q -R 0 -C 0 -g 0.6 -r 16000 -F out.wav FluidR3_GM.sf2 in.mid

3. downmixes to mono, trims the trailing silence (below -60 dB of the peak; 20 ms fade-out),
   keeps the leading silence (so note times stay exact), normalises the peak to 0.9 and
   writes 16-bit FLAC, plus a JSON list of the notes (MIDI pitch, onset, offset, velocity);
4. checks the note times against the render: fluidsynth starts (and releases) a voice one
   64-sample block (4 ms at 16 kHz) after the MIDI event when events sit on block boundaries,
   as every event here does. The JSON's ``onset_s``/``offset_s`` are the times in the audio
   (MIDI time + 4 ms), each verified by rendering the note alone: its first non-zero sample
   comes 1-4 samples after ``onset_s``, and the render with the note-off first differs from
   one with the note-off 200 ms later 1-4 samples after ``offset_s``;
5. prints a sanity check: a plain autocorrelation (YIN-style) f0 on the middle 50 % of every
   note against the JSON pitch, in cents.

Needs the Debian packages ``fluidsynth`` and ``fluid-soundfont-gm``.

Usage::

    python scripts/render_pitch_test_clips.py [--out-dir tests/data/pitch] [--no-verify]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from midi_render import render_mono  # scripts/midi_render.py
from midi_render import smf_bytes  # scripts/midi_render.py
from midi_render import tempo_event  # scripts/midi_render.py

DEFAULT_OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "pitch"

SAMPLE_RATE = 16000
BLOCK = 64  # fluidsynth processes MIDI events once per 64-sample block
GRID_S = BLOCK / SAMPLE_RATE  # 4 ms: every event is placed on this grid
SYNTH_DELAY_S = GRID_S  # measured: a voice starts one block after its MIDI event
TICKS_PER_BEAT = 500
TEMPO_US_PER_BEAT = 500_000  # with 500 ticks per beat: one tick per millisecond
LEAD_IN_S = 0.2  # silence before the first note
GAP_S = 0.032  # note-off this long before the next note-on
LAST_NOTE_S = 1.0  # the final note's slot (held, as at a cadence)
TAIL_S = 1.5  # rendered after the last note-off, for the release (trimmed afterwards)
PEAK = 0.9
SILENCE_DB = -60.0
FADE_S = 0.02

NOTE_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def midi_number(name: str) -> int:
    """``"F#4"`` -> 66 (C4 = 60)."""
    pitch = NOTE_NAMES[name[0]]
    rest = name[1:]
    while rest and rest[0] in "#b":
        pitch += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    return pitch + 12 * (int(rest) + 1)


@dataclass(frozen=True)
class Melody:
    instrument: str
    program: int  # General MIDI program, 0-based
    title: str
    source: str
    beat_s: float  # seconds per notated beat (a multiple of 8 ms, so eighths sit on the grid)
    # (pitch name, length in beats, velocity); the last note's slot is LAST_NOTE_S instead
    notes: tuple[tuple[str, float, int], ...]
    release_timecents: int = 0  # offset to the volume envelope's release; -1200 halves it


MELODIES = (
    Melody(
        instrument="violin",
        program=40,
        title="Minuet in G major, BWV Anh. 114 (Christian Petzold, c. 1725), bars 1-4",
        source="Notebook for Anna Magdalena Bach (1725), public domain; original key, G major, 3/4",
        beat_s=0.6,  # quarter = 100 bpm
        notes=(
            ("D5", 1, 84),
            ("G4", 0.5, 62),
            ("A4", 0.5, 68),
            ("B4", 0.5, 74),
            ("C5", 0.5, 80),
            ("D5", 1, 96),
            ("G4", 1, 70),
            ("G4", 1, 58),
            ("E5", 1, 90),
            ("C5", 0.5, 72),
            ("D5", 0.5, 78),
            ("E5", 0.5, 86),
            ("F#5", 0.5, 96),
            ("G5", 1, 112),
            ("G4", 1, 76),
            ("G4", 1, 64),
        ),
        release_timecents=-2400,
    ),
    Melody(
        instrument="flute",
        program=73,
        title="Auld Lang Syne (traditional Scottish air), first line",
        source="traditional (18th century), public domain; F major, 4/4, an octave above the usual sung pitch",
        beat_s=0.504,  # quarter = 119 bpm
        notes=(
            ("C5", 1, 70),
            ("F5", 1.5, 90),
            ("F5", 0.5, 66),
            ("F5", 1, 78),
            ("A5", 1, 88),
            ("G5", 1.5, 96),
            ("F5", 0.5, 70),
            ("G5", 1, 80),
            ("A5", 1, 92),
            ("F5", 1.5, 86),
            ("F5", 0.5, 64),
            ("A5", 1, 82),
            ("C6", 1, 104),
            ("D6", 2, 116),
        ),
    ),
    Melody(
        instrument="cello",
        program=42,
        title="Frere Jacques (traditional French round), each line once",
        source="traditional (18th century), public domain; F major, 4/4, in the cello's tenor register",
        beat_s=0.504,  # quarter = 119 bpm
        notes=(
            ("F3", 1, 80),
            ("G3", 1, 72),
            ("A3", 1, 86),
            ("F3", 1, 68),
            ("A3", 1, 84),
            ("Bb3", 1, 94),
            ("C4", 2, 108),
            ("C4", 0.5, 96),
            ("D4", 0.5, 104),
            ("C4", 0.5, 90),
            ("Bb3", 0.5, 82),
            ("A3", 1, 88),
            ("F3", 1, 74),
            ("F3", 1, 70),
            ("C3", 1, 60),
            ("F3", 2, 92),
        ),
        release_timecents=-2400,
    ),
)


def _on_grid(seconds: float) -> int:
    """Seconds -> milliseconds (= ticks), checked to lie on the 4 ms block grid."""
    ms = round(seconds * 1000)
    if abs(ms - seconds * 1000) > 1e-6 or ms % round(GRID_S * 1000):
        raise ValueError(f"{seconds} s is not on the {GRID_S * 1000:g} ms grid")
    return ms


def note_events(melody: Melody) -> list[dict]:
    """Notes with MIDI times: ``midi``, ``velocity``, ``on_ms``, ``off_ms``."""
    notes = []
    start = LEAD_IN_S
    for i, (name, beats, velocity) in enumerate(melody.notes):
        slot = LAST_NOTE_S if i == len(melody.notes) - 1 else beats * melody.beat_s
        on_ms, off_ms = _on_grid(start), _on_grid(start + slot - GAP_S)
        notes.append({"midi": midi_number(name), "velocity": velocity, "on_ms": on_ms, "off_ms": off_ms})
        start += slot
    return notes


def release_nrpn(channel: int, timecents: int) -> list[bytes]:
    """SoundFont 2.01 NRPN: offset generator 38 (volume-envelope release) by ``timecents``.

    NRPN MSB 120 selects SoundFont generators, LSB 38 the release; the 14-bit data is
    8192 + offset / 2 (2 timecents per step). FluidSynth applies it on the data-entry MSB,
    with the data-entry LSB sent before it.
    """
    if timecents % 2:
        raise ValueError("the release offset must be a multiple of 2 timecents")
    data = 8192 + timecents // 2
    return [
        bytes([0xB0 | channel, 99, 120]),  # NRPN MSB: SoundFont generator
        bytes([0xB0 | channel, 98, 38]),  # NRPN LSB: releaseVolEnv
        bytes([0xB0 | channel, 38, data & 0x7F]),  # data entry LSB
        bytes([0xB0 | channel, 6, data >> 7]),  # data entry MSB: applies the offset
    ]


def melody_midi_bytes(program: int, notes: list[dict], *, release_timecents: int = 0, delay_offs_ms: int = 0) -> bytes:
    """A format-0 Standard MIDI File playing ``notes`` on channel 0 (1 tick = 1 ms)."""
    channel = 0
    events: list[tuple[int, bytes]] = [
        (0, tempo_event(TEMPO_US_PER_BEAT)),
        (0, bytes([0xC0 | channel, program])),  # program change
        (0, bytes([0xB0 | channel, 7, 100])),  # channel volume
    ]
    if release_timecents:
        events += [(0, message) for message in release_nrpn(channel, release_timecents)]
    for note in notes:
        events.append((note["on_ms"], bytes([0x90 | channel, note["midi"], note["velocity"]])))
        events.append((note["off_ms"] + delay_offs_ms, bytes([0x80 | channel, note["midi"], 64])))
    end = max(note["off_ms"] for note in notes) + delay_offs_ms + round(TAIL_S * 1000)
    events.append((end, b"\xff\x2f\x00"))  # end of track, after the release
    return smf_bytes(events, TICKS_PER_BEAT)


def verify_times(melody: Melody, notes: list[dict]) -> None:
    """Render each note alone and check that the voice starts and releases where the JSON says."""
    for note in notes:
        midi = melody_midi_bytes(melody.program, [note], release_timecents=melody.release_timecents)
        with_off = render_mono(midi, SAMPLE_RATE)
        # (fluidsynth renders until every voice has ended: a note never released never ends)
        midi = melody_midi_bytes(melody.program, [note], release_timecents=melody.release_timecents, delay_offs_ms=200)
        held = render_mono(midi, SAMPLE_RATE)
        onset = round((note["on_ms"] / 1000 + SYNTH_DELAY_S) * SAMPLE_RATE)
        offset = round((note["off_ms"] / 1000 + SYNTH_DELAY_S) * SAMPLE_RATE)
        first_sound = int(np.flatnonzero(with_off)[0])
        n = min(len(with_off), len(held))
        first_difference = int(np.flatnonzero(with_off[:n] != held[:n])[0])
        # A voice's first output sample is 0 and its next few, or the first few samples of its
        # release, may round to the same 16-bit values: allow 4 samples (a block is 64).
        if not onset < first_sound <= onset + 4 or not offset < first_difference <= offset + 4:
            raise SystemExit(
                f"note {note}: expected the voice at sample {onset} and its release at {offset}, "
                f"found first sound at {first_sound} and release at {first_difference}"
            )


def finish(audio: np.ndarray) -> np.ndarray:
    """Trim trailing silence (below ``SILENCE_DB`` of the peak), fade out, scale to ``PEAK``."""
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        raise SystemExit("the render is silent")
    loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (SILENCE_DB / 20))
    audio = audio[: loud[-1] + 1].copy()
    fade = round(FADE_S * SAMPLE_RATE)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade)
    return audio * (PEAK / float(np.max(np.abs(audio))))


def yin_f0(frame: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 2000.0) -> float:
    """f0 of one frame: YIN's cumulative-mean-normalised difference, first dip below 0.15."""
    max_lag = int(sample_rate / fmin)
    n = len(frame) - max_lag
    x = frame - frame.mean()
    energy = np.cumsum(np.concatenate([[0.0], x * x]))
    lags = np.arange(1, max_lag + 1)
    # d(lag) = sum (x[t] - x[t + lag])^2 over t < n
    cross = np.array([np.dot(x[:n], x[lag : lag + n]) for lag in lags])
    d = energy[n] + (energy[lags + n] - energy[lags]) - 2 * cross
    cmnd = d * lags / np.maximum(np.cumsum(d), 1e-12)
    lo = int(sample_rate / fmax)
    below = np.flatnonzero(cmnd[lo:] < 0.15)
    i = lo + (below[0] if len(below) else int(np.argmin(cmnd[lo:])))
    while i + 1 < len(cmnd) and cmnd[i + 1] < cmnd[i]:
        i += 1
    if 0 < i < len(cmnd) - 1:  # parabolic interpolation
        a, b, c = cmnd[i - 1], cmnd[i], cmnd[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    else:
        shift = 0.0
    return sample_rate / (lags[i] + shift)


def check_pitch(audio: np.ndarray, notes: list[dict], sample_rate: int = SAMPLE_RATE) -> list[float]:
    """Cents from each note's MIDI pitch: median YIN f0 over the middle 50 % of the note."""
    frame = round(0.04 * sample_rate) + int(sample_rate / 60.0)
    hop = round(0.01 * sample_rate)
    cents = []
    for note in notes:
        start, end = note["onset_s"], note["offset_s"]
        a = round((start + 0.25 * (end - start)) * sample_rate)
        b = round((start + 0.75 * (end - start)) * sample_rate)
        f0s = [yin_f0(audio[t : t + frame], sample_rate) for t in range(a, max(a + 1, b - frame + 1), hop)]
        target = 440.0 * 2 ** ((note["midi"] - 69) / 12)
        cents.append(float(1200 * np.log2(np.median(f0s) / target)))
    return cents


def to_json(record: dict) -> str:
    """Indented JSON with one note per line."""
    header = {key: value for key, value in record.items() if key != "notes"}
    lines = [f" {json.dumps(key)}: {json.dumps(value)}," for key, value in header.items()]
    notes = ",\n".join(f"  {json.dumps(note)}" for note in record["notes"])
    return "{\n" + "\n".join(lines) + '\n "notes": [\n' + notes + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument("--no-verify", action="store_true", help="skip the per-note timing check (~30 s)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    for melody in MELODIES:
        notes = note_events(melody)
        midi = melody_midi_bytes(melody.program, notes, release_timecents=melody.release_timecents)
        audio = finish(render_mono(midi, SAMPLE_RATE))
        if not args.no_verify:
            verify_times(melody, notes)
        flac = args.out_dir / f"{melody.instrument}.flac"
        sf.write(flac, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
        record = {
            "sample_rate": SAMPLE_RATE,
            "program": melody.program,
            "instrument": melody.instrument,
            "melody": melody.title,
            "source": melody.source,
            "release_offset_timecents": melody.release_timecents,
            "synth_delay_s": SYNTH_DELAY_S,
            "notes": [
                {
                    "midi": note["midi"],
                    "onset_s": round(note["on_ms"] / 1000 + SYNTH_DELAY_S, 6),
                    "offset_s": round(note["off_ms"] / 1000 + SYNTH_DELAY_S, 6),
                    "velocity": note["velocity"],
                }
                for note in notes
            ],
        }
        (args.out_dir / f"{melody.instrument}.json").write_text(to_json(record))

        stored, _ = sf.read(flac, dtype="float64")
        cents = np.abs(check_pitch(stored, record["notes"]))
        midis = [note["midi"] for note in notes]
        print(
            f"wrote {flac}: {len(audio) / SAMPLE_RATE:.2f} s, {flac.stat().st_size / 1024:.0f} KB, "
            f"{len(notes)} notes, MIDI {min(midis)}-{max(midis)}; YIN check: median |dev| "
            f"{np.median(cents):.1f} cents, max {np.max(cents):.1f}, "
            f"{np.mean(cents < 50):.0%} within 50 cents"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
