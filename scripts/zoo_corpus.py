"""The zoo's melody corpus: public-domain tunes typed for torchddsp (``scripts/melodies/``).

One plain-text file per tune: ``key: value`` header lines (``title``, ``origin``, ``status``,
``source``, ``meter``), then a ``notes:`` line and the melody as whitespace-separated tokens:

- ``PITCH:DURATION`` -- a note: pitch name, optional ``#`` or ``b``, octave (``C4`` is MIDI 60,
  ``F#4``, ``Bb3``); duration in quarter notes as an integer, decimal or fraction (``1``,
  ``1/2``, ``3/2``, ``0.75``). ``PITCH`` alone repeats the previous duration;
- ``r:DURATION`` (or ``r``) -- a rest;
- a trailing ``^`` -- a fermata (``G4:2^``);
- ``|`` -- a bar line: the next note is a downbeat (the performer accents it);
- ``#`` starts a comment that runs to the end of the line (after a space or at line start).

The parser is standard library only (the tests import it without music21 or fluidsynth).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "melodies"
REQUIRED = ("title", "origin", "status", "source")
SOURCE_STATEMENT = "encoded for torchddsp from the public-domain tune"
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NOTE = re.compile(r"^(?P<step>[A-G])(?P<accidental>#|b)?(?P<octave>-?\d)$")

# (MIDI pitch or None for a rest, duration in quarter notes, fermata, downbeat): the event
# tuple of scripts/render_training_data.py's Melody, so its performer plays these tunes.
Event = tuple[int | None, float, bool, bool]


@dataclass(frozen=True)
class Tune:
    """One melody of the corpus; ``events`` in quarter notes (see :data:`Event`)."""

    name: str  # the file's stem
    title: str
    origin: str
    status: str
    source: str
    meter: str
    events: tuple[Event, ...]

    @property
    def pitches(self) -> list[int]:
        return [p for p, *_ in self.events if p is not None]

    @property
    def quarters(self) -> float:
        """Length in quarter notes, rests included."""
        return sum(q for _, q, *_ in self.events)

    def seconds(self, median_note_s: float = 0.4) -> float:
        """Length in seconds at the tempo where the median note lasts ``median_note_s``
        (the middle of the performer's 0.2-0.6 s)."""
        median_q = sorted(q for p, q, *_ in self.events if p is not None)[len(self.pitches) // 2]
        return self.quarters * median_note_s / median_q


def note_midi(token: str) -> int:
    """MIDI number of a pitch name: ``"C4"`` -> 60, ``"F#4"`` -> 66, ``"Bb3"`` -> 58."""
    match = NOTE.match(token)
    if match is None:
        raise ValueError(f"pitch {token!r}: expected a name like C4, F#4 or Bb3")
    accidental = {"#": 1, "b": -1, None: 0}[match["accidental"]]
    midi = 12 * (int(match["octave"]) + 1) + PITCH_CLASSES[match["step"]] + accidental
    if not 0 <= midi <= 127:
        raise ValueError(f"pitch {token!r}: MIDI {midi} is outside 0-127")
    return midi


def parse_duration(text: str) -> float:
    """Quarter notes from ``"1"``, ``"3/2"`` or ``"0.75"``; positive."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"duration {text!r}: expected a number of quarter notes like 1, 3/2 or 0.75") from None
    if value <= 0:
        raise ValueError(f"duration {text!r}: must be positive")
    return float(value)


def parse_notes(text: str) -> tuple[Event, ...]:
    """The events of a ``notes:`` body (leading and trailing rests dropped)."""
    events: list[Event] = []
    duration: float | None = None
    downbeat = False
    for token in text.split():
        if token == "|":
            downbeat = True
            continue
        fermata = token.endswith("^")
        head, _, length = token.rstrip("^").partition(":")
        if length:
            duration = parse_duration(length)
        elif duration is None:
            raise ValueError(f"notes: the first note {token!r} needs a duration (like {head}:1)")
        pitch = None if head == "r" else note_midi(head)
        events.append((pitch, duration, fermata, downbeat and pitch is not None))
        if pitch is not None:
            downbeat = False  # a bar line marks the first NOTE after it
    while events and events[0][0] is None:
        events.pop(0)
    while events and events[-1][0] is None:
        events.pop()
    if not events:
        raise ValueError("notes: no notes")
    return tuple(events)


def parse_tune(text: str, name: str) -> Tune:
    """A tune from the text of its file (``name``: the file's stem, used in messages)."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()  # comments, not sharps (F#4)
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"{name}: header line {i + 1} {line!r} is not 'key: value'")
        if key.strip() == "notes":
            body = [re.sub(r"(^|\s)#.*$", "", rest) for rest in [value, *lines[i + 1 :]]]
            break
        header[key.strip()] = value.strip()
    else:
        raise ValueError(f"{name}: no 'notes:' line")
    missing = [key for key in REQUIRED if not header.get(key)]
    if missing:
        raise ValueError(f"{name}: missing header {', '.join(missing)}")
    if not header["status"].lower().startswith("public domain"):
        raise ValueError(f"{name}: status {header['status']!r} is not public domain")
    if header["source"] != SOURCE_STATEMENT:
        raise ValueError(f"{name}: source must read {SOURCE_STATEMENT!r} (the encoding is ours)")
    try:
        events = parse_notes("\n".join(body))
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    fields = {key: header[key] for key in REQUIRED}
    return Tune(name=name, meter=header.get("meter", ""), events=events, **fields)


def load_corpus(folder: Path = CORPUS_DIR) -> list[Tune]:
    """Every ``*.txt`` tune of ``folder``, sorted by name."""
    files = sorted(Path(folder).glob("*.txt"))
    if not files:
        raise ValueError(f"folder {folder}: no .txt tunes")
    return [parse_tune(path.read_text(encoding="utf-8"), path.stem) for path in files]


def split_tunes(tunes: list[Tune], n_eval: int, n_heldout: int, seed: int = 0) -> dict[str, list[Tune]]:
    """Disjoint ``train`` / ``eval`` / ``heldout`` tune lists, drawn in a seeded order.

    ``eval``: the training run's evaluation split (its ``eval.csv``); ``heldout``: tunes no
    zoo model trains or is selected on (the final evaluation and the identity matrix).
    """
    if n_eval < 0 or n_heldout < 0 or n_eval + n_heldout >= len(tunes):
        raise ValueError(f"n_eval {n_eval} and n_heldout {n_heldout}: must leave training tunes of {len(tunes)}")
    names = sorted(t.name for t in tunes)
    if len(set(names)) != len(names):
        raise ValueError("tunes: two tunes share a name")
    random.Random(f"zoo-split:{seed}").shuffle(names)
    by_name = {t.name: t for t in tunes}
    heldout = sorted(names[:n_heldout])
    evaluation = sorted(names[n_heldout : n_heldout + n_eval])
    train = sorted(names[n_heldout + n_eval :])
    return {
        split: [by_name[n] for n in group]
        for split, group in zip(("train", "eval", "heldout"), (train, evaluation, heldout))
    }
