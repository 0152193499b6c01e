"""Render the piano model's data: public-domain piano pieces and single notes, FluidR3_GM's
Acoustic Grand Piano (program 0) through fluidsynth at 16 kHz (reverb and chorus off).

The pieces are excerpts that we encoded by hand here (from memory of the public-domain scores;
details may differ from the editions), so the encodings carry no third party's licence; they
are released with torchddsp under its licence. The compositions are all public domain (the
composers died before 1926). Training: Bach's Prelude in C BWV 846 (bars 1-19), Mozart's Sonata
K. 545 (bars 1-8), Beethoven's "Fuer Elise" WoO 59 (opening), Hanon's exercise 1, the theme of
Mozart's variations K. 265, and cadence drills in several keys; each transposed by -12, -7, 0,
+5 and +12 semitones (keys kept inside A0-C8) and rendered at three loudness scales. Held out:
Petzold's Minuet in G (BWV Anh. 114, bars 1-16) and Satie's Gymnopedie No. 1 (bars 1-20),
untransposed. Single notes for the inharmonicity measurement: every third key from A0, 2 s at
velocity 100. Single notes for training (so that the loss sees each key's partials alone): the
other two keys of every three (never a measured key), 1.5 s at velocities 50, 80 and 110.

    python scripts/piano_data.py [--out data/piano]

Writes ``OUT/{train,heldout}/NAME.mid`` and ``.wav`` (mono float32 16 kHz), ``OUT/notes/KEY.wav``,
``OUT/train_notes/KEY_vVELOCITY.{mid,wav}`` and ``OUT/manifest.json``; ``--parts`` renders only
some of them (the manifest keeps the other parts' entries). Needs the Debian packages fluidsynth and fluid-soundfont-gm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from midi_render import TICKS_PER_BEAT  # noqa: E402
from midi_render import render_mono  # noqa: E402
from midi_render import smf_bytes  # noqa: E402
from midi_render import tempo_event  # noqa: E402

SAMPLE_RATE = 16000
# A note: (start beat, length in beats, MIDI key, velocity); pedal: (down beat, up beat).
Piece = dict[str, object]
MAJOR = (0, 2, 4, 5, 7, 9, 11)


def degree(root: int, step: int) -> int:
    """The MIDI key ``step`` scale degrees above ``root`` in its major scale."""
    return root + 12 * (step // 7) + MAJOR[step % 7]


def prelude_c() -> Piece:
    chords = [
        (60, 64, 67, 72, 76), (60, 62, 69, 74, 77), (59, 62, 67, 74, 77), (60, 64, 67, 72, 76),
        (60, 64, 69, 76, 81), (60, 62, 66, 69, 74), (59, 62, 67, 74, 79), (59, 60, 64, 67, 72),
        (57, 60, 64, 67, 72), (50, 57, 62, 66, 72), (55, 59, 62, 67, 71), (55, 58, 64, 67, 73),
        (53, 57, 62, 69, 74), (53, 56, 62, 65, 71), (52, 55, 60, 67, 72), (52, 53, 57, 60, 65),
        (50, 53, 57, 60, 65), (43, 50, 55, 59, 65), (48, 52, 55, 60, 64),
    ]  # fmt: skip
    notes, pedal = [], []
    for bar, chord in enumerate(chords):
        for half in (0, 2):
            t = 4 * bar + half
            notes += [(t, 2.0, chord[0], 70), (t + 0.25, 1.75, chord[1], 60)]
            notes += [(t + 0.5 + 0.25 * i, 0.25, chord[2 + i % 3], 64 + 4 * (i % 3)) for i in range(6)]
        pedal.append((4 * bar + 0.05, 4 * bar + 3.95))
    notes += [(76.0, 4.0, key, 72) for key in (48, 60, 64, 67, 72)]
    return {"bpm": 84, "notes": notes, "pedal": pedal}


def mozart_k545() -> Piece:
    rh = [(0, 2, 72), (2, 1, 76), (3, 1, 79), (4, 1.5, 71), (5.5, 0.25, 72), (5.75, 0.25, 74), (6, 2, 72),
          (8, 2, 81), (10, 1, 79), (11, 1, 84), (12, 1, 79), (13, 0.5, 77), (13.5, 0.5, 76), (14, 0.5, 77),
          (14.5, 0.5, 76), (15, 1, 76)]  # fmt: skip
    notes = [(t, d, k, 80) for t, d, k in rh]
    for bar, (a, b, c) in enumerate([(48, 55, 52), (50, 55, 53), (48, 57, 53), (48, 55, 52)]):
        notes += [(4 * bar + 0.5 * i, 0.5, (a, b, c, b)[i % 4], 55) for i in range(8)]
    for bar, start in enumerate((9, 8, 7, 6)):  # bars 5-8: sixteenth scales down from A5, G5, ...
        notes += [
            (16 + 4 * bar + 0.25 * i, 0.25, degree(48, start + 14 - i), 70 + (i % 4 == 0) * 10) for i in range(16)
        ]
        notes += [
            (16 + 4 * bar + 2 * h, 2, key, 58)
            for h in range(2)
            for key in ((53, 57), (52, 55), (50, 53), (48, 52))[bar]
        ]
    return {"bpm": 112, "notes": notes, "pedal": []}


def fuer_elise() -> Piece:
    motif = [76, 75, 76, 75, 76, 71, 74, 72]
    notes = [(0.25 * i, 0.25, key, 62) for i, key in enumerate(motif)]
    t = 2.0
    phrases = [((69, 1.0), (45, 52, 57), (60, 64, 69)), ((71, 1.0), (40, 52, 56), (64, 68, 71)),
               ((72, 1.0), (45, 52, 57), (64, 76, 75))]  # fmt: skip
    for _ in range(2):
        for (top, length), bass, answer in phrases:
            notes.append((t, length * 0.5, top, 70))
            notes += [(t + 0.25 * i, 0.25, key, 50) for i, key in enumerate(bass)]
            notes += [(t + 0.75 + 0.25 * i, 0.25, key, 58) for i, key in enumerate(answer)]
            t += 1.5
        notes += [(t + 0.25 * i, 0.25, key, 62) for i, key in enumerate(motif[2:])]
        t += 1.5
    notes += [(t, 1.5, 69, 66), (t, 1.5, 45, 50), (t, 1.5, 57, 50)]
    return {"bpm": 66, "notes": notes, "pedal": []}


def hanon() -> Piece:
    notes = []
    for step in range(14):
        for i, offset in enumerate((0, 2, 3, 4, 5, 4, 3, 2)):
            t = 2 * step + 0.25 * i
            notes += [
                (t, 0.25, degree(48, step + offset), 72 + 12 * (i == 0)),
                (t, 0.25, degree(36, step + offset), 64),
            ]
    return {"bpm": 100, "notes": notes, "pedal": []}


def twinkle() -> Piece:
    phrase_a = [72, 72, 79, 79, 81, 81, 79, None, 77, 77, 76, 76, 74, 74, 72, None]
    phrase_b = [79, 79, 77, 77, 76, 76, 74, None] * 2
    notes, t = [], 0.0
    for melody, roots in ((phrase_a, "CCFCFCGC"), (phrase_b, "CGCGCGCG"), (phrase_a, "CCFCFCGC")):
        for i, key in enumerate(melody):
            if key is not None:
                held = 2.0 if i + 1 < len(melody) and melody[i + 1] is None else 1.0
                notes.append((t + i, held * 0.95, key, 76))
        for h, root in enumerate(roots):
            bass = {"C": (48, 52, 55), "F": (41, 53, 57), "G": (43, 50, 53)}[root]
            notes += [(t + 2 * h, 1.9, key, 52) for key in bass]
        t += len(melody)
    return {"bpm": 120, "notes": notes, "pedal": []}


def cadences() -> Piece:
    notes, t = [], 0.0
    for tonic, velocity in ((60, 45), (67, 90), (62, 65), (65, 110), (58, 75), (64, 55)):
        for degree_step in (0, 3, 4, 0):
            root = degree(tonic - 12, degree_step)
            chord = [degree(tonic, degree_step + s) for s in (0, 2, 4)]
            notes += [(t, 0.9, key, velocity) for key in [root - 12, *chord]]
            t += 1.0
        t += 1.0
    return {"bpm": 72, "notes": notes, "pedal": []}


def minuet_g() -> Piece:
    rh = [(74, 1), (67, 0.5), (69, 0.5), (71, 0.5), (72, 0.5), (74, 1), (67, 1), (67, 1),
          (76, 1), (72, 0.5), (74, 0.5), (76, 0.5), (78, 0.5), (79, 1), (67, 1), (67, 1),
          (72, 1), (74, 0.5), (72, 0.5), (71, 0.5), (69, 0.5), (71, 1), (72, 0.5), (71, 0.5), (69, 0.5), (67, 0.5),
          (66, 1), (67, 0.5), (69, 0.5), (71, 0.5), (67, 0.5), (69, 3)]  # fmt: skip
    notes, t = [], 0.0
    for _ in range(2):
        for key, length in rh:
            notes.append((t, length * 0.95, key, 72))
            t += length
    lh = [
        (55, 2),
        (57, 1),
        (59, 3),
        (60, 3),
        (59, 3),
        (57, 3),
        (55, 3),
        (62, 1),
        (59, 1),
        (55, 1),
        (62, 1),
        (50, 1),
        (60, 1),
    ]
    t = 0.0
    for _ in range(2):
        for key, length in lh:
            notes.append((t, length * 0.95, key - 12, 58))
            t += length
    return {"bpm": 120, "notes": notes, "pedal": []}


def gymnopedie() -> Piece:
    notes, pedal = [], []
    melody = {4: [(1, 78), (2, 81)], 5: [(0, 79), (1, 78), (2, 73)], 6: [(0, 71), (1, 73), (2, 74)], 7: [(0, 69, 3)],
              8: [(0, 66, 12)], 12: [(1, 78), (2, 81)], 13: [(0, 79), (1, 78), (2, 73)], 14: [(0, 71), (1, 73), (2, 74)],
              15: [(0, 69, 3)], 16: [(0, 73, 3)], 17: [(0, 78, 6)]}  # fmt: skip
    for bar in range(20):
        t = 3.0 * bar
        bass, chord = (43, (59, 62, 66)) if bar % 2 == 0 else (38, (57, 61, 66))
        notes.append((t, 1.0, bass, 52))
        notes += [(t + 1, 2.0, key, 40) for key in chord]
        pedal.append((t + 0.1, t + 2.9))
        for entry in melody.get(bar, []):
            beat, key, length = entry if len(entry) == 3 else (*entry, 1)
            notes.append((t + beat, length * 0.98, key, 60))
    return {"bpm": 72, "notes": notes, "pedal": pedal}


TRAIN = {"prelude_c": prelude_c, "mozart_k545": mozart_k545, "fuer_elise": fuer_elise, "hanon_1": hanon,
         "twinkle_k265": twinkle, "cadences": cadences}  # fmt: skip
HELDOUT = {"minuet_g": minuet_g, "gymnopedie_1": gymnopedie}
MEASURED_KEYS = range(21, 109, 3)  # the inharmonicity measurement's keys: never trained on alone
TRAIN_NOTE_KEYS = [key for key in range(21, 109) if key not in MEASURED_KEYS]
TRAIN_NOTE_VELOCITIES = (50, 80, 110)


def midi_of(piece: Piece, shift: int = 0, loudness: float = 1.0) -> bytes:
    """A format-0 SMF of ``piece``: program 0, its tempo, notes (transposed by ``shift``,
    velocities scaled by ``loudness``) and sustain-pedal events."""
    beats = TICKS_PER_BEAT
    events = [(0, tempo_event(round(60e6 / float(piece["bpm"])))), (0, b"\xc0\x00")]
    end = 0
    for start, length, key, velocity in piece["notes"]:  # type: ignore[attr-defined]
        key = key + shift
        if not 21 <= key <= 108:
            continue
        v = int(np.clip(round(velocity * loudness), 1, 127))
        on, off = round(start * beats), round((start + length) * beats)
        events += [(on, bytes([0x90, key, v])), (off, bytes([0x80, key, 0]))]
        end = max(end, off)
    for down, up in piece["pedal"]:  # type: ignore[attr-defined]
        events += [(round(down * beats), b"\xb0\x40\x7f"), (round(up * beats), b"\xb0\x40\x00")]
    # Note-offs before note-ons on a tick (sorted is stable: offs were listed after ons).
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))
    events.append((end + 2 * beats, b"\xff\x2f\x00"))
    return smf_bytes(events)


def write(folder: Path, name: str, midi: bytes) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.mid").write_bytes(midi)
    audio = render_mono(midi, SAMPLE_RATE).astype(np.float32)
    sf.write(folder / f"{name}.wav", audio, SAMPLE_RATE, subtype="FLOAT")
    return len(audio) / SAMPLE_RATE


def render_parts(out: Path, parts: set[str], manifest: dict[str, dict[str, float]]) -> None:
    """Render the chosen ``parts`` (train, heldout, notes, train_notes) into ``manifest``."""
    if "train" in parts:
        for name, make in TRAIN.items():
            for shift in (-12, -7, 0, 5, 12):
                for loudness in (0.6, 1.0, 1.3):
                    label = f"{name}_t{shift:+d}_v{loudness:.1f}"
                    manifest["train"][label] = write(out / "train", label, midi_of(make(), shift, loudness))
    if "heldout" in parts:
        for name, make in HELDOUT.items():
            manifest["heldout"][name] = write(out / "heldout", name, midi_of(make()))
    if "notes" in parts:
        for key in MEASURED_KEYS:
            piece = {"bpm": 60, "notes": [(0.0, 2.0, key, 100)], "pedal": []}
            manifest["notes"][str(key)] = write(out / "notes", str(key), midi_of(piece))
    if "train_notes" in parts:
        for key in TRAIN_NOTE_KEYS:
            for velocity in TRAIN_NOTE_VELOCITIES:
                piece = {"bpm": 60, "notes": [(0.0, 1.5, key, velocity)], "pedal": []}
                label = f"{key}_v{velocity}"
                manifest["train_notes"][label] = write(out / "train_notes", label, midi_of(piece))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/piano"))
    parser.add_argument("--parts", nargs="+", default=["train", "heldout", "notes", "train_notes"])
    args = parser.parse_args()
    path = args.out / "manifest.json"
    manifest: dict[str, dict[str, float]] = json.loads(path.read_text()) if path.is_file() else {}
    for part in ("train", "heldout", "notes", "train_notes"):
        manifest.setdefault(part, {})
    render_parts(args.out, set(args.parts), manifest)
    path.write_text(json.dumps(manifest, indent=1))
    print({split: round(sum(v.values()), 1) for split, v in manifest.items()}, "seconds")


if __name__ == "__main__":
    main()
