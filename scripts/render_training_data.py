"""Render DDSP training data: real melodies played by FluidR3_GM's violin and flute.

For each instrument (violin, General MIDI program 40; flute, program 73) this script renders
about ``--minutes`` of real folk and classical melodies into ``OUT/<instrument>/train/`` and a
separate set of held-out melodies (about ``--eval-minutes``; none of them is used in any
instrument's training split) into ``OUT/<instrument>/eval/``, as 16 kHz mono 16-bit WAV files
of 20-60 s, several melodies per file. The audio is not committed: run the script to make it.

Melodies come from the score corpus that ships inside the ``music21`` wheel (read offline):

- soprano lines of J. S. Bach's four-part chorales (``bach/bwv*.N``);
- folk songs of the Essen folksong collection (German, Lorraine, Luxembourg, Chinese and other
  songs; ABC encodings by Seymour Shlien, distributed with music21 by permission for
  non-commercial use; the tunes themselves are traditional);
- fiddle tunes and airs: O'Neill's *Music of Ireland* (1903), Aird's *Selection of Scotch,
  English, Irish and Foreign Airs* (1778-1803), Ryan's *Mammoth Collection* (1883) and two
  smaller folk collections (an American fife book, *Northumbrian Minstrelsy*, 1882).

``music21`` is a dependency of this script only, not of torchddsp: install it into the
environment that runs the script (``pip install music21``; version 10.5.1 was used).

What the script does:

1. draws melodies from those sources in a seeded random order (weights: chorales 0.25, folk
   songs 0.35, fiddle tunes and airs 0.40), takes one monophonic line from each (the first
   part; for a chord, its top note; grace notes and chord symbols dropped, ties merged, repeats
   played once) and keeps those with 16-400 notes and a span of at most two octaves that have
   not been seen before (a melody is identified by its first 12 intervals, so the same tune in
   another key, or harmonised twice, is used once);
2. holds out the first melodies for evaluation (taken from the three groups in turn), until
   every instrument has ``--eval-minutes`` of them; the following melodies make the training
   splits;
3. "performs" each melody for each instrument, with its own seeded random choices:
   a transposition that puts every note inside the instrument's range (violin G3-E6, flute
   C4-C7) with the melody's median pitch near the middle register (violin G4-E5, flute
   C5-A5); a tempo that makes the median note last 0.2-0.6 s (a quarter note 0.35-0.8 s), a
   little timing jitter and a ritardando at the end, fermatas held longer; phrase breaths (the
   note before a rest, a fermata or, at random, a long note is cut short, sometimes with an
   extra pause); legato and detached passages (a two-state Markov chain per note: legato notes
   end 5-30 ms before the next one starts, detached ones sound for 50-75 % of their slot);
   velocities 50-120 (a level per melody, drifting from phrase to phrase, accents on
   downbeats, jitter); and expression (CC 11) that follows a slow random curve (40-127) with
   swells on some long notes. No extra vibrato: the soundfont's violin and flute samples
   carry their own (measured: about 6 Hz, +-15 cents on the violin). A performance longer
   than 24 s ends at its next phrase end (at the latest after 40 s): more melodies, fewer
   minutes each. The violin's release is shortened to a quarter (SoundFont NRPN, as in
   ``render_pitch_test_clips.py``) so a note does not ring under the next one; the flute's
   (0.1 s) is kept;
4. writes each file's performance as a Standard MIDI File by hand (``scripts/midi_render.py``)
   and renders it with fluidsynth at 16 kHz, the synth's reverb and chorus off::

       fluidsynth -ni -q -R 0 -C 0 -g 0.6 -r 16000 -F out.wav FluidR3_GM.sf2 in.mid

5. downmixes to mono, trims the trailing silence (below -60 dB of the peak; 20 ms fade-out),
   scales every file of an instrument by ONE gain (its loudest file peaks at 0.9, so the
   loudness differences between files are kept), and writes 16-bit WAV plus a JSON beside each
   file: its melodies (title, source, transposition, seconds per quarter) and notes (MIDI
   pitch, onset and offset in seconds, velocity; MIDI times: fluidsynth starts a voice up to
   one 64-sample block, 4 ms, later). ``OUT/manifest.json`` sums it up.

Everything is deterministic given ``--seed``. Needs the Debian packages ``fluidsynth`` and
``fluid-soundfont-gm``. On 2 cores the default run (2 x 17 minutes) takes 30-40 s.

Usage::

    python scripts/render_training_data.py [--out data/rendered] [--minutes 15]
        [--eval-minutes 2] [--seed 0] [--instruments violin flute]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import random
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import soundfile as sf
from midi_render import render_mono  # scripts/midi_render.py
from midi_render import smf_bytes  # scripts/midi_render.py
from midi_render import tempo_event  # scripts/midi_render.py
from render_pitch_test_clips import release_nrpn  # scripts/render_pitch_test_clips.py

SAMPLE_RATE = 16000
TICKS_PER_BEAT = 500
TEMPO_US_PER_BEAT = 500_000  # with 500 ticks per beat: one tick per millisecond
PEAK = 0.9
SILENCE_DB = -60.0
FADE_S = 0.02
LEAD_IN_S = (0.2, 0.5)  # silence before a file's first note
BETWEEN_MELODIES_S = (1.0, 2.5)  # silence between two melodies of a file
TAIL_S = 1.5  # rendered after the last note-off (trimmed afterwards)
FILE_S = (25.0, 50.0)  # a file's target length; a file never passes MAX_FILE_S
MAX_FILE_S = 60.0
PHRASE_CUT_S = 24.0  # a performance this long ends at its next phrase end (breath)...
MAX_MELODY_S = 40.0  # ...or at the latest after the note that passes this
MIN_NOTES, MAX_NOTES = 16, 400
MAX_SPAN = 24  # semitones
SIGNATURE_INTERVALS = 12


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # General MIDI program, 0-based
    low: int  # lowest MIDI note allowed
    high: int  # highest MIDI note allowed
    centre: tuple[int, int]  # the melody's median pitch is drawn from this range
    release_timecents: int = 0


INSTRUMENTS = {
    "violin": Instrument("violin", 40, low=55, high=88, centre=(67, 76), release_timecents=-2400),
    "flute": Instrument("flute", 73, low=60, high=96, centre=(72, 81)),
}

CORPUS_SOURCES = {  # source group -> (weight, corpus folders or file name patterns)
    "chorales": 0.25,
    "folk songs": 0.35,
    "fiddle tunes and airs": 0.40,
}


def midi_name(midi: int) -> str:
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    return f"{names[midi % 12]}{midi // 12 - 1}"


# ----------------------------------------------------------------------------- melodies


@dataclass
class Melody:
    """One monophonic line, in quarter lengths."""

    key: str  # "corpus path" or "corpus path#number"
    title: str
    source: str
    # (MIDI pitch or None for a rest, duration in quarters, fermata, downbeat)
    events: list[tuple[int | None, float, bool, bool]]

    @property
    def pitches(self) -> list[int]:
        return [p for p, *_ in self.events if p is not None]


def corpus_refs() -> dict[str, list[tuple[str, int | None, str]]]:
    """Every candidate tune, as (corpus file, ABC tune number or None, source), per group."""
    from music21 import corpus

    groups: dict[str, list[tuple[str, int | None, str]]] = {name: [] for name in CORPUS_SOURCES}
    for path in sorted(str(p) for p in corpus.getCorePaths()):
        rel = path.split("/corpus/", 1)[1]
        folder, name = rel.split("/", 1)[0], rel.rsplit("/", 1)[-1]
        if folder == "bach" and re.fullmatch(r"bwv\d+[a-z]?\.\d+\.(mxl|xml|krn)", name):
            groups["chorales"].append((path, None, "J. S. Bach, four-part chorale (soprano line)"))
            continue
        if folder == "essenFolksong" and name.endswith(".abc") and not name.startswith(("test", "variant")):
            group, source = "folk songs", f"Essen folksong collection ({name[:-4]})"
        elif folder in ("oneills1850", "airdsAirs", "ryansMammoth", "miscFolk") and name.endswith(".abc"):
            group = "fiddle tunes and airs"
            source = {
                "oneills1850": "O'Neill's Music of Ireland (1903)",
                "airdsAirs": "Aird's Selection of Scotch, English, Irish and Foreign Airs (1778-1803)",
                "ryansMammoth": "Ryan's Mammoth Collection (1883)",
                "miscFolk": f"music21 miscFolk ({name[:-4]})",
            }[folder]
        else:
            continue
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        numbers = sorted({int(n) for n in re.findall(r"^X:\s*(\d+)", text, flags=re.M)})
        if len(numbers) <= 1:
            groups[group].append((path, None, source))
        else:
            groups[group].extend((path, n, source) for n in numbers)
    return groups


def parse_melody(path: str, number: int | None, source: str) -> Melody | None:
    """The first part of a score as a monophonic line; None when it is unusable."""
    from music21 import chord
    from music21 import converter
    from music21 import expressions
    from music21 import harmony
    from music21 import note

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if number is None:
                score = converter.parse(path, forceSource=True)
            else:
                score = converter.parse(path, number=number, forceSource=True)
            parts = list(score.parts) if hasattr(score, "parts") else []
            sopranos = [p for p in parts if "soprano" in str(p.partName or "").lower()]
            part = (sopranos or parts or [score])[0]
            part = part.stripTies()
            elements = []
            for el in part.recurse().notesAndRests:
                if isinstance(el, harmony.Harmony) or el.quarterLength == 0:
                    continue  # chord symbols and grace notes
                offset = float(el.getOffsetInHierarchy(part))
                if isinstance(el, chord.Chord):
                    pitch = max(p.midi for p in el.pitches)
                elif isinstance(el, note.Note):
                    pitch = el.pitch.midi
                else:
                    pitch = None
                fermata = any(isinstance(e, expressions.Fermata) for e in el.expressions)
                try:
                    downbeat = float(el.beatStrength) == 1.0
                except Exception:  # no measure context
                    downbeat = False
                elements.append((offset, float(el.quarterLength), pitch, fermata, downbeat))
    except Exception:
        return None
    elements.sort(key=lambda e: e[0])
    events: list[tuple[int | None, float, bool, bool]] = []
    end = None
    for offset, length, pitch, fermata, downbeat in elements:
        if end is not None and offset < end - 1e-6:
            return None  # overlapping notes: more than one voice
        if end is not None and offset > end + 1e-6:
            events.append((None, offset - end, False, False))  # an implicit rest
        events.append((pitch, length, fermata, downbeat))
        end = offset + length
    while events and events[0][0] is None:
        events.pop(0)
    while events and events[-1][0] is None:
        events.pop()
    pitches = [p for p, *_ in events if p is not None]
    if not MIN_NOTES <= len(pitches) <= MAX_NOTES or max(pitches) - min(pitches) > MAX_SPAN:
        return None
    title = None
    if score.metadata is not None:
        title = score.metadata.title
    rel = path.split("/corpus/", 1)[1]
    key = rel if number is None else f"{rel}#{number}"
    if not title:
        title = Path(rel).name.rsplit(".", 1)[0] if "bach/" in rel else key
    return Melody(key=key, title=str(title).strip(), source=source, events=events)


def signature(melody: Melody) -> tuple[int, ...]:
    pitches = melody.pitches[: SIGNATURE_INTERVALS + 1]
    return tuple(b - a for a, b in zip(pitches, pitches[1:]))


class MelodyPool:
    """Accepted melodies in a seeded random order; each tune (by signature) once."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"melody-order:{seed}")
        groups = corpus_refs()
        self.queues = {}
        for name, refs in groups.items():
            refs = list(refs)
            self.rng.shuffle(refs)
            self.queues[name] = refs
        self.seen: set[tuple[int, ...]] = set()
        self.tried = 0

    def __iter__(self):
        return self

    def __next__(self) -> Melody:
        return self.draw()

    def draw(self, group: str | None = None) -> Melody:
        """The next melody: from ``group``, or from a group drawn by the weights."""
        while True:
            names = [n for n in CORPUS_SOURCES if self.queues[n]]
            if not names:
                raise StopIteration
            if group is None or group not in names:
                group = self.rng.choices(names, weights=[CORPUS_SOURCES[n] for n in names])[0]
            path, number, source = self.queues[group].pop()
            self.tried += 1
            melody = parse_melody(path, number, source)
            if melody is None:
                continue
            sig = signature(melody)
            if sig in self.seen:
                continue
            self.seen.add(sig)
            return melody


# ----------------------------------------------------------------------------- performance


@dataclass
class Performance:
    melody: Melody
    instrument: str
    transpose: int
    quarter_s: float
    notes: list[dict]  # midi, on, off (s from the melody's start), velocity
    expression: list[tuple[float, int]]  # (time s, CC 11 value)
    duration: float  # to the end of the last note's slot
    truncated: bool = False


def perform(melody: Melody, inst: Instrument, seed: int) -> Performance:
    """A seeded performance of ``melody`` on ``inst`` (times from 0 s)."""
    rng = random.Random(f"perform:{seed}:{inst.name}:{melody.key}")
    pitches = melody.pitches
    lo_shift, hi_shift = inst.low - min(pitches), inst.high - max(pitches)
    median = float(np.median(pitches))
    transpose = min(max(round(rng.uniform(*inst.centre) - median), lo_shift), hi_shift)

    note_lengths = [q for p, q, *_ in melody.events if p is not None]
    median_q = float(np.median(note_lengths))
    quarter_s = min(max(rng.uniform(0.2, 0.6) / median_q, 0.35), 0.8)

    legato_stay, detached_stay = rng.uniform(0.8, 0.97), rng.uniform(0.5, 0.8)
    breath_chance = rng.uniform(0.3, 0.7)
    level = rng.uniform(62.0, 100.0)  # the melody's velocity level
    phrase = 0.0  # drifts from phrase to phrase
    legato = True
    events = melody.events
    n_notes = len(pitches)
    notes: list[dict] = []
    swells: list[tuple[float, float]] = []  # long notes that swell: (on, off)
    t = 0.0
    i_note = 0
    truncated = False
    for i, (pitch, length, fermata, downbeat) in enumerate(events):
        slot = length * quarter_s * rng.uniform(0.96, 1.04)
        if pitch is None:
            t += min(slot, 2.0)
            phrase = min(max(phrase + rng.uniform(-12, 12), -25.0), 25.0)
            continue
        from_end = n_notes - 1 - i_note
        if from_end < 3:  # ritardando over the last three notes
            slot *= 1.0 + (3 - from_end) * rng.uniform(0.04, 0.12)
        if fermata:
            slot *= rng.uniform(1.5, 2.2)
        next_event = events[i + 1] if i + 1 < len(events) else None
        phrase_end = fermata or (next_event is not None and next_event[0] is None)
        long_note = length >= 2 * median_q and next_event is not None and next_event[1] < length
        breath = next_event is not None and (phrase_end or (long_note and rng.random() < breath_chance))

        if breath:
            sounding = slot * rng.uniform(0.65, 0.85)
        else:
            legato = rng.random() < (legato_stay if legato else 1.0 - detached_stay)
            if legato:
                sounding = slot - min(rng.uniform(0.005, 0.03), 0.2 * slot)
            else:
                sounding = slot * rng.uniform(0.5, 0.75)
        sounding = max(sounding, 0.06)
        velocity = level + phrase + (6.0 if downbeat else 0.0) + rng.uniform(-6, 6)
        velocity = int(round(min(max(velocity, 50.0), 120.0)))
        notes.append({"midi": pitch + transpose, "on": t, "off": t + sounding, "velocity": velocity})
        if sounding >= 0.7 and rng.random() < 0.5:
            swells.append((t, t + sounding))
        t += slot
        if breath:
            t += rng.choice([0.0, rng.uniform(0.1, 0.4)])
            phrase = min(max(phrase + rng.uniform(-12, 12), -25.0), 25.0)
        i_note += 1
        if next_event is not None and (t > MAX_MELODY_S or (breath and t > PHRASE_CUT_S)):
            truncated = True  # more melodies, fewer minutes each
            break
    duration = t

    # Expression: a slow random curve (knots every 2-5 s), swells on some long notes.
    knots_t, knots_v = [0.0], [rng.uniform(75, 120)]
    while knots_t[-1] < duration:
        knots_t.append(knots_t[-1] + rng.uniform(2.0, 5.0))
        knots_v.append(rng.uniform(70, 127))
    expression: list[tuple[float, int]] = []
    last = None
    for step in np.arange(0.0, duration + 0.04, 0.04):
        value = float(np.interp(step, knots_t, knots_v))
        for on, off in swells:
            if on <= step <= off:
                x = (step - on) / (off - on)
                value *= 0.75 + 0.25 * (x / 0.45) if x < 0.45 else 1.0 - 0.15 * (x - 0.45) / 0.55
        value = int(round(min(max(value, 40.0), 127.0)))
        if value != last:
            expression.append((float(step), value))
            last = value
    return Performance(melody, inst.name, transpose, quarter_s, notes, expression, duration, truncated)


# ----------------------------------------------------------------------------- files


@dataclass
class FilePlan:
    name: str
    performances: list[Performance] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # each performance's start, s
    end: float = 0.0  # end of the last performance's slot


def plan_split(performances: Iterator[Performance], target_s: float, prefix: str, rng: random.Random) -> list[FilePlan]:
    """Pack performances, in order, into files of 25-60 s until about ``target_s`` is filled."""
    files: list[FilePlan] = []
    total = 0.0
    pending: Performance | None = None
    while total < target_s:
        plan = FilePlan(f"{prefix}_{len(files):03d}")
        goal = rng.uniform(*FILE_S)
        t = rng.uniform(*LEAD_IN_S)
        while True:
            perf = pending if pending is not None else next(performances, None)
            pending = None
            if perf is None:
                break
            gap = rng.uniform(*BETWEEN_MELODIES_S) if plan.performances else 0.0
            if plan.performances and t + gap + perf.duration > MAX_FILE_S:
                pending = perf  # it opens the next file
                break
            plan.starts.append(t + gap)
            plan.performances.append(perf)
            t += gap + perf.duration
            if t >= goal:
                break
        if not plan.performances:
            break  # no melodies left
        plan.end = t
        files.append(plan)
        total += t + 0.5  # plus about the release
    return files


def file_midi(plan: FilePlan, inst: Instrument) -> bytes:
    channel = 0
    events: list[tuple[int, int, bytes]] = [  # (ms, order, event)
        (0, 0, tempo_event(TEMPO_US_PER_BEAT)),
        (0, 0, bytes([0xC0 | channel, inst.program])),
        (0, 0, bytes([0xB0 | channel, 7, 100])),
        (0, 0, bytes([0xB0 | channel, 1, 0])),
    ]
    if inst.release_timecents:
        events += [(0, 0, m) for m in release_nrpn(channel, inst.release_timecents)]
    for start, perf in zip(plan.starts, plan.performances):
        for t, value in perf.expression:
            events.append((round((start + t) * 1000), 1, bytes([0xB0 | channel, 11, value])))
        for n in perf.notes:
            on, off = round((start + n["on"]) * 1000), round((start + n["off"]) * 1000)
            events.append((on, 2, bytes([0x90 | channel, n["midi"], n["velocity"]])))
            events.append((max(off, on + 1), 0, bytes([0x80 | channel, n["midi"], 64])))
    end = max(t for t, _, _ in events) + round(TAIL_S * 1000)
    events.append((end, 3, b"\xff\x2f\x00"))
    events.sort(key=lambda e: (e[0], e[1]))  # at one tick: note-offs, then CCs, then note-ons
    return smf_bytes([(t, data) for t, _, data in events], TICKS_PER_BEAT)


def trim(audio: np.ndarray) -> np.ndarray:
    """Trim trailing silence (below ``SILENCE_DB`` of the peak) and fade out."""
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        raise SystemExit("a render is silent")
    loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (SILENCE_DB / 20))
    audio = audio[: loud[-1] + 1].copy()
    fade = round(FADE_S * SAMPLE_RATE)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade)
    return audio


def json_text(record: dict) -> str:
    """Indented JSON with one list item (melody, note) a line."""
    lines = []
    for key, value in record.items():
        if isinstance(value, list):
            items = ",\n".join(f"  {json.dumps(item)}" for item in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def file_record(plan: FilePlan, inst: Instrument, seconds: float) -> dict:
    """The JSON record of a file: its melodies and notes (times in seconds in the file)."""
    melodies, notes = [], []
    for start, perf in zip(plan.starts, plan.performances):
        melodies.append(
            {
                "key": perf.melody.key,
                "title": perf.melody.title,
                "source": perf.melody.source,
                "start_s": round(start, 3),
                "transpose": perf.transpose,
                "quarter_s": round(perf.quarter_s, 3),
                "truncated": perf.truncated,
            }
        )
        notes += [
            {
                "midi": n["midi"],
                "onset_s": round(start + n["on"], 3),
                "offset_s": round(start + n["off"], 3),
                "velocity": n["velocity"],
            }
            for n in perf.notes
        ]
    return {
        "sample_rate": SAMPLE_RATE,
        "instrument": inst.name,
        "program": inst.program,
        "duration_s": round(seconds, 3),
        "melodies": melodies,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/rendered"), help="output folder")
    parser.add_argument("--minutes", type=float, default=15.0, help="training audio per instrument")
    parser.add_argument("--eval-minutes", type=float, default=2.0, help="held-out audio per instrument")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instruments", nargs="+", default=["violin", "flute"], choices=sorted(INSTRUMENTS))
    args = parser.parse_args(argv)
    started = time.time()
    instruments = [INSTRUMENTS[name] for name in dict.fromkeys(args.instruments)]

    pool = MelodyPool(args.seed)
    eval_target, train_target = args.eval_minutes * 60.0, args.minutes * 60.0

    # Held-out melodies first: every instrument takes them in order until it has enough.
    held_out: list[Melody] = []
    eval_perfs: dict[str, list[Performance]] = {inst.name: [] for inst in instruments}
    eval_total = dict.fromkeys(eval_perfs, 0.0)
    groups = list(CORPUS_SOURCES)  # held-out melodies come from the groups in turn
    while any(eval_total[i.name] < eval_target * 1.02 for i in instruments):
        melody = pool.draw(groups[len(held_out) % len(groups)])
        held_out.append(melody)
        for inst in instruments:
            if eval_total[inst.name] < eval_target * 1.02:
                perf = perform(melody, inst, args.seed)
                eval_perfs[inst.name].append(perf)
                eval_total[inst.name] += perf.duration + 1.7  # plus gaps between melodies

    # Training melodies: the rest of the order, shared by the instruments.
    train_melodies: list[Melody] = []

    def training_melodies() -> Iterator[Melody]:
        for i in itertools.count():
            if i == len(train_melodies):
                train_melodies.append(next(pool))
            yield train_melodies[i]

    splits: dict[str, dict[str, list[FilePlan]]] = {}
    for inst in instruments:
        rng = random.Random(f"files:{args.seed}:{inst.name}")
        splits[inst.name] = {
            "train": plan_split((perform(m, inst, args.seed) for m in training_melodies()), train_target, "train", rng),
            "eval": plan_split(iter(eval_perfs[inst.name]), eval_target, "eval", rng),
        }

    held_keys = {m.key for m in held_out}
    for inst in instruments:
        used = {p.melody.key for f in splits[inst.name]["train"] for p in f.performances}
        if used & held_keys:
            raise SystemExit(f"held-out melodies in {inst.name}'s training split: {used & held_keys}")

    # Render, then scale each instrument's files by one gain and write them.
    manifest: dict = {
        "seed": args.seed,
        "sample_rate": SAMPLE_RATE,
        "held_out_melodies": [m.key for m in held_out],  # in no training split
        "instruments": {},
    }
    used = {perf.melody.key for plans in splits.values() for f in plans["train"] for perf in f.performances}
    print(f"melodies: {len(held_out)} held out, {len(used)} in the training splits ({pool.tried} tunes parsed)")
    for inst in instruments:
        rendered: dict[str, list[tuple[FilePlan, np.ndarray]]] = {}
        peak = 0.0
        for split, files in splits[inst.name].items():
            rendered[split] = []
            for plan in files:
                with contextlib.redirect_stdout(io.StringIO()):  # render_mono prints its command
                    audio = trim(render_mono(file_midi(plan, inst), SAMPLE_RATE))
                peak = max(peak, float(np.max(np.abs(audio))))
                rendered[split].append((plan, audio))
        gain = PEAK / peak
        summary: dict = {"program": inst.program, "gain": round(gain, 4), "splits": {}}
        for split, items in rendered.items():
            folder = args.out / inst.name / split
            folder.mkdir(parents=True, exist_ok=True)
            for stale in list(folder.glob("*.wav")) + list(folder.glob("*.json")):
                stale.unlink()
            seconds = 0.0
            size = 0
            midis: list[int] = []
            keys: set[str] = set()
            lengths = []
            for plan, audio in items:
                wav = folder / f"{plan.name}.wav"
                sf.write(wav, audio * gain, SAMPLE_RATE, subtype="PCM_16")
                record = file_record(plan, inst, len(audio) / SAMPLE_RATE)
                (folder / f"{plan.name}.json").write_text(json_text(record))
                seconds += len(audio) / SAMPLE_RATE
                lengths.append(len(audio) / SAMPLE_RATE)
                size += wav.stat().st_size
                midis += [n["midi"] for n in record["notes"]]
                keys |= {p.melody.key for p in plan.performances}
            summary["splits"][split] = {
                "files": len(items),
                "minutes": round(seconds / 60, 2),
                "file_seconds": [round(min(lengths), 1), round(max(lengths), 1)],
                "melodies": len(keys),
                "notes": len(midis),
                "note_range": [min(midis), max(midis)],
                "megabytes": round(size / 1e6, 1),
                "melody_keys": sorted(keys),
            }
            print(
                f"{inst.name:6s} {split:5s}: {len(items):3d} files "
                f"({min(lengths):.1f}-{max(lengths):.1f} s), "
                f"{seconds / 60:5.2f} min, {len(keys):3d} melodies, {len(midis):5d} notes, "
                f"range {midi_name(min(midis))}-{midi_name(max(midis))} (MIDI {min(midis)}-{max(midis)}), "
                f"{size / 1e6:.1f} MB -> {folder}"
            )
        manifest["instruments"][inst.name] = summary
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"done in {time.time() - started:.0f} s; manifest: {args.out / 'manifest.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
