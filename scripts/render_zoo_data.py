"""Render the zoo's training data: the corpus of ``scripts/melodies/`` played by six FluidR3_GM
instruments (violin, flute, cello, trumpet, clarinet, tenor sax).

Every input is licensed for any use: the tunes are public domain and their encodings were typed
for torchddsp (Apache-2.0, see ``scripts/melodies/README.md``); FluidR3_GM is MIT-licensed.

What the script does (the performer is ``render_training_data.py``'s, reused as it is):

1. loads the corpus (``zoo_corpus.load_corpus``) and splits it by tune, seeded
   (``zoo_corpus.split_tunes``): ``--eval-tunes`` for the training run's evaluation split,
   ``--heldout-tunes`` that no zoo model trains or is selected on, the rest for training;
2. performs each tune for each instrument in its real range (below) with seeded tempo,
   articulation, dynamics and expression (``render_training_data.perform``; no cut at 24 s:
   a tune is played whole), pass after pass -- each pass a new performance, another tempo and
   transposition -- until the split has its minutes (``--minutes`` for training; the eval split
   a ninth of it, so it is about a tenth of the files; ``--heldout-minutes``);
3. packs the performances into 25-60 s files and writes them as
   ``OUT/<instrument>/train/fNNN.wav`` (training and eval tunes together, the eval-tune files at
   the positions that ``torchddsp prepare`` holds out: every tenth file in name order,
   ``eval_fraction`` 0.1) and ``OUT/<instrument>/heldout/hNNN.wav``; 16 kHz mono 16-bit, one
   gain per instrument, a JSON beside each file (its melodies and notes) and
   ``OUT/manifest.json`` (splits, minutes, which files are eval files).

Instruments (General MIDI program; lowest-highest MIDI note; the range a tune's median pitch
is drawn from): violin 40, G3-E6, G4-E5; flute 73, C4-C7, C5-A5; cello 42, C2-E5, D3-D4;
trumpet 56, F#3-Bb5, E4-C5; clarinet 71, D3-F6, D4-D5; tenor sax 66, Ab2-Eb5, F3-Eb4. The
violin's and the cello's releases are cut to a quarter (their samples ring 0.23-0.26 s to -40 dB
after note-off; the others 0.01-0.18 s), as ``render_training_data.py`` does for the violin.

Usage::

    python scripts/render_zoo_data.py [--out data/zoo/rendered] [--minutes 12]
        [--heldout-minutes 2.5] [--eval-tunes 5] [--heldout-tunes 6] [--seed 0]
        [--instruments violin flute cello trumpet clarinet tenor_sax]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import render_training_data as rtd  # scripts/render_training_data.py
import soundfile as sf
from midi_render import render_mono  # scripts/midi_render.py
from render_training_data import Instrument
from render_training_data import Melody
from render_training_data import Performance
from zoo_corpus import Tune
from zoo_corpus import load_corpus
from zoo_corpus import split_tunes

INSTRUMENTS = {
    "violin": Instrument("violin", 40, low=55, high=88, centre=(67, 76), release_timecents=-2400),
    "flute": Instrument("flute", 73, low=60, high=96, centre=(72, 81)),
    "cello": Instrument("cello", 42, low=36, high=76, centre=(50, 62), release_timecents=-2400),
    "trumpet": Instrument("trumpet", 56, low=54, high=82, centre=(64, 72)),
    "clarinet": Instrument("clarinet", 71, low=50, high=89, centre=(62, 74)),
    "tenor_sax": Instrument("tenor_sax", 66, low=44, high=75, centre=(53, 63)),
}
EVAL_EVERY = 10  # torchddsp prepare holds out every tenth file (eval_fraction 0.1)
MAX_PASSES = 20


def melody(tune: Tune, pass_index: int) -> Melody:
    """The performer's view of a tune; the pass index in the key gives each pass its own
    seeded performance (tempo, transposition, dynamics)."""
    return Melody(key=f"{tune.name}@{pass_index}", title=tune.title, source=tune.origin, events=list(tune.events))


def perform_whole(tune_melody: Melody, inst: Instrument, seed: int) -> Performance:
    """``render_training_data.perform`` without its cut at 24-40 s: the corpus is small, a
    cut would lose the second half of a tune."""
    saved = rtd.PHRASE_CUT_S, rtd.MAX_MELODY_S
    rtd.PHRASE_CUT_S = rtd.MAX_MELODY_S = float("inf")
    try:
        return rtd.perform(tune_melody, inst, seed)
    finally:
        rtd.PHRASE_CUT_S, rtd.MAX_MELODY_S = saved


def performances(tunes: list[Tune], inst: Instrument, seed: int, target_s: float) -> Iterator[Performance]:
    """Performances of ``tunes`` on ``inst``, pass after pass (each pass in a seeded order),
    until about ``target_s`` of music."""
    total = 0.0
    for pass_index in range(MAX_PASSES):
        order = list(tunes)
        random.Random(f"zoo-order:{seed}:{inst.name}:{pass_index}").shuffle(order)
        for tune in order:
            if total >= target_s:
                return
            perf = perform_whole(melody(tune, pass_index), inst, seed)
            total += perf.duration + 1.7  # plus the gap between melodies
            yield perf


def interleave(train: list[rtd.FilePlan], evaluation: list[rtd.FilePlan]) -> list[tuple[str, rtd.FilePlan]]:
    """(split, plan) in file-name order: the eval-tune files at every tenth position, the files
    that ``torchddsp prepare`` holds out. Eval files beyond those positions are dropped; a
    position left over gets a training file (then that file is evaluated, not trained on)."""
    kept = len(evaluation)
    while kept > (len(train) + kept) // EVAL_EVERY:
        kept -= 1
    train_left, eval_left = list(train), list(evaluation[:kept])
    ordered: list[tuple[str, rtd.FilePlan]] = []
    for i in range(len(train) + kept):
        if (i % EVAL_EVERY == EVAL_EVERY - 1 and eval_left) or not train_left:
            ordered.append(("eval", eval_left.pop(0)))
        else:
            ordered.append(("train", train_left.pop(0)))
    return ordered


def check_ranges(tunes: list[Tune], instruments: list[Instrument]) -> None:
    """Every tune fits every instrument's range (the performer would clip it otherwise)."""
    for tune in tunes:
        span = max(tune.pitches) - min(tune.pitches)
        for inst in instruments:
            if span > inst.high - inst.low:
                raise SystemExit(f"{tune.name} spans {span} semitones, more than {inst.name}'s range")


def render_files(plans: list[tuple[str, str, rtd.FilePlan]], inst: Instrument) -> list[np.ndarray]:
    audio = []
    for _, _, plan in plans:
        with contextlib.redirect_stdout(io.StringIO()):  # render_mono prints its command
            audio.append(rtd.trim(render_mono(rtd.file_midi(plan, inst), rtd.SAMPLE_RATE)))
    return audio


def write_instrument(out: Path, inst: Instrument, plans: list[tuple[str, str, rtd.FilePlan]]) -> dict:
    """Render, scale by one gain, write WAV + JSON; the instrument's manifest entry."""
    audio = render_files(plans, inst)
    gain = rtd.PEAK / max(float(np.max(np.abs(a))) for a in audio)
    for folder in {out / inst.name / "train", out / inst.name / "heldout"}:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in list(folder.glob("*.wav")) + list(folder.glob("*.json")):
            stale.unlink()
    summary: dict = {"program": inst.program, "gain": round(gain, 4), "splits": {}}
    for (split, name, plan), samples in zip(plans, audio):
        folder = out / inst.name / ("heldout" if split == "heldout" else "train")
        sf.write(folder / f"{name}.wav", samples * gain, rtd.SAMPLE_RATE, subtype="PCM_16")
        record = rtd.file_record(plan, inst, len(samples) / rtd.SAMPLE_RATE)
        record["split"] = split
        (folder / f"{name}.json").write_text(rtd.json_text(record))
        entry = summary["splits"].setdefault(split, {"files": [], "minutes": 0.0, "tunes": set(), "notes": []})
        entry["files"].append(f"{folder.name}/{name}.wav")
        entry["minutes"] += len(samples) / rtd.SAMPLE_RATE / 60
        entry["tunes"] |= {p.melody.key.split("@")[0] for p in plan.performances}
        entry["notes"] += [n["midi"] for n in record["notes"]]
    for split, entry in summary["splits"].items():
        notes = entry.pop("notes")
        entry.update(
            minutes=round(entry["minutes"], 2), tunes=sorted(entry["tunes"]), note_range=[min(notes), max(notes)]
        )
        print(
            f"{inst.name:9s} {split:7s}: {len(entry['files']):3d} files, {entry['minutes']:5.2f} min, "
            f"{len(entry['tunes']):2d} tunes, {len(notes):5d} notes, "
            f"{rtd.midi_name(min(notes))}-{rtd.midi_name(max(notes))}"
        )
    return summary


def plan_instrument(splits: dict[str, list[Tune]], inst: Instrument, args: argparse.Namespace) -> list:
    """(split, file name, plan) for every file of ``inst``."""
    rng = random.Random(f"zoo-files:{args.seed}:{inst.name}")
    train_s = args.minutes * 60
    train = rtd.plan_split(performances(splits["train"], inst, args.seed, train_s), train_s, "f", rng)
    evaluation = rtd.plan_split(performances(splits["eval"], inst, args.seed, train_s / 9), train_s / 9, "f", rng)
    heldout_s = args.heldout_minutes * 60
    heldout = rtd.plan_split(performances(splits["heldout"], inst, args.seed, heldout_s), heldout_s, "h", rng)
    plans = [(split, f"f{i:03d}", plan) for i, (split, plan) in enumerate(interleave(train, evaluation))]
    return plans + [("heldout", f"h{i:03d}", plan) for i, plan in enumerate(heldout)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/zoo/rendered"), help="output folder")
    parser.add_argument("--minutes", type=float, default=12.0, help="training audio per instrument")
    parser.add_argument("--heldout-minutes", type=float, default=2.5, help="held-out audio per instrument")
    parser.add_argument("--eval-tunes", type=int, default=5, help="tunes of the runs' evaluation split")
    parser.add_argument("--heldout-tunes", type=int, default=6, help="tunes no zoo model trains on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instruments", nargs="+", default=list(INSTRUMENTS), choices=list(INSTRUMENTS))
    args = parser.parse_args(argv)
    started = time.time()
    tunes = load_corpus()
    splits = split_tunes(tunes, args.eval_tunes, args.heldout_tunes, args.seed)
    instruments = [INSTRUMENTS[name] for name in dict.fromkeys(args.instruments)]
    check_ranges(tunes, instruments)
    manifest: dict = {
        "seed": args.seed,
        "sample_rate": rtd.SAMPLE_RATE,
        "tunes": {split: [t.name for t in group] for split, group in splits.items()},
        "instruments": {},
    }
    print(", ".join(f"{len(group)} {split} tunes" for split, group in splits.items()))
    for inst in instruments:
        manifest["instruments"][inst.name] = write_instrument(args.out, inst, plan_instrument(splits, inst, args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"done in {time.time() - started:.0f} s; manifest: {args.out / 'manifest.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
