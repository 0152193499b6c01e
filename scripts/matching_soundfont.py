"""Out-of-domain notes for sound matching: single notes of several FluidR3_GM instruments
(MIT licence), rendered with fluidsynth (``midi_render.py``), 1 s at 16 kHz, peak-normalised
to 0.9 (the rich voice's renders peak near 1).

Each instrument plays MIDI notes 48..72 (velocity 100, held 1 s, 3 s apart) in one MIDI file;
the render is cut at the note-ons. Even notes are the evaluation split, odd notes the
fine-tuning split (same instruments, other pitches)::

    python scripts/matching_soundfont.py --out data/matching/soundfont.pt

Writes a ``torch.save`` dict ``{"audio": (n, 16000), "midi_note": (n,), "program": (n,),
"split": list of "eval"/"train"}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from midi_render import render_mono  # noqa: E402
from midi_render import seconds_to_ticks  # noqa: E402
from midi_render import smf_bytes  # noqa: E402
from midi_render import tempo_event  # noqa: E402

#: General MIDI programs (0-based): piano, organ, nylon guitar, violin, trumpet, alto sax,
#: clarinet, flute, sawtooth lead.
PROGRAMS = {
    0: "piano",
    19: "church organ",
    24: "nylon guitar",
    40: "violin",
    56: "trumpet",
    65: "alto sax",
    71: "clarinet",
    73: "flute",
    81: "saw lead",
}
NOTES = range(48, 73)
SAMPLE_RATE = 16000
SPACING_S = 3.0
HOLD_S = 1.0


def program_midi(program: int) -> bytes:
    """One instrument playing every note of ``NOTES`` in turn."""
    events = [(0, tempo_event()), (0, bytes([0xC0, program]))]
    for i, note in enumerate(NOTES):
        on = seconds_to_ticks(i * SPACING_S)
        events += [(on, bytes([0x90, note, 100])), (seconds_to_ticks(i * SPACING_S + HOLD_S), bytes([0x80, note, 0]))]
    events.append((seconds_to_ticks(len(NOTES) * SPACING_S), b"\xff\x2f\x00"))
    return smf_bytes(events)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/matching/soundfont.pt")
    args = parser.parse_args(argv)
    clips, notes, programs, splits = [], [], [], []
    for program in PROGRAMS:
        audio = torch.from_numpy(render_mono(program_midi(program), SAMPLE_RATE)).float()
        for i, note in enumerate(NOTES):
            start = round(i * SPACING_S * SAMPLE_RATE)
            clip = audio[start : start + SAMPLE_RATE]
            clip = torch.nn.functional.pad(clip, (0, SAMPLE_RATE - clip.numel()))
            peak = float(clip.abs().max())
            if peak < 1e-4:
                print(f"skipping silent note {note} of program {program}")
                continue
            clips.append(0.9 * clip / peak)
            notes.append(float(note))
            programs.append(program)
            splits.append("eval" if note % 2 == 0 else "train")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "audio": torch.stack(clips),
        "midi_note": torch.tensor(notes),
        "program": torch.tensor(programs),
        "split": splits,
    }
    torch.save(payload, args.out)
    print(f"wrote {args.out}: {len(clips)} notes ({splits.count('eval')} eval, {splits.count('train')} train)")


if __name__ == "__main__":
    main()
