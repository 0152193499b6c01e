"""Regenerate the held-out evaluation of every bundled model, the figures its README and the
project README quote.

Usage (from the repository root, after ``make install``; needs Debian's ``fluidsynth`` and
``fluid-soundfont-gm`` and ``pip install music21``, like ``render_training_data.py``)::

    .venv/bin/python scripts/evaluate_bundled_models.py [--data data/heldout] [--write]

Steps, all deterministic:
1. ``scripts/render_training_data.py --seed 0`` renders the same melodies the models were
   made from (the held-out ones are drawn first, so they are the same whatever the training
   minutes) into ``DATA/rendered``;
2. each instrument's held-out files are prepared with ``scripts/heldout_dataset.yaml`` (2 s
   examples, no overlap, CREPE tiny) into ``DATA/NAME_heldout``;
3. each bundled model resynthesises every example of its own instrument's held-out set from
   the example's f0 and loudness (:func:`torchddsp.training.metrics.evaluate_model`).

Prints a markdown table (loudness L1 in dB, f0 L1 in semitones, f0 outlier ratio, spectral
loss, examples); ``--write`` also stores each result as the ``heldout:NAME_heldout`` entry of
the model's ``evaluation.json`` (the step-2500 weights). ``--run-eval-split`` also prepares each
model's training data as its run did (``--config cpu_small``, about 15 minutes of audio per
instrument, a few minutes of CREPE) and evaluates the run's own evaluation split
(``run_eval_split``).

Then melody preservation across instruments: the flute clip of ``tests/data/pitch`` played by
the violin (auto-adjust on), the output's f0 measured by CREPE and compared with the f0 given
to the model on voiced frames (input confidence >= 0.85, within 30 dB of the input's peak
loudness), as ``tests/test_bundled_models.py`` checks it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from torchddsp.features import estimate_f0
from torchddsp.functional import hz_to_midi
from torchddsp.training import load_config
from torchddsp.training import prepare_dataset
from torchddsp.training.data import FeatureDataset
from torchddsp.training.metrics import evaluate_model
from torchddsp.transfer import PRETRAINED_DIR
from torchddsp.transfer import available_models
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer

ROOT = Path(__file__).resolve().parents[1]


def render(folder: Path, instruments: list[str]) -> None:
    """The seed-0 renders of ``render_training_data.py`` (training files too: the held-out
    melodies are drawn first, but the script renders both splits)."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / "render_training_data.py"),
        "--out",
        str(folder),
        "--seed",
        "0",
        "--instruments",
        *instruments,
    ]
    subprocess.run(command, check=True)


def prepare(rendered: Path, data: Path, name: str) -> Path:
    config = load_config(ROOT / "scripts" / "heldout_dataset.yaml")
    target = data / f"{name}_heldout"
    if not (target / "dataset.json").is_file():
        prepare_dataset(rendered / name / "eval", target, config.model, config.data, show_progress=False)
    return target


def row(name: str, metrics: dict) -> str:
    return (
        f"| {name} | {metrics['loudness_l1_db']:.2f} | {metrics['f0_l1_semitones']:.3f} | "
        f"{100 * metrics['f0_outlier_ratio']:.2f} % | {metrics['spectral_loss']:.2f} | {int(metrics['examples'])} x 2 s |"
    )


def melody_preservation(clip: Path, model: str) -> dict[str, float]:
    """Cents between the output's f0 and the f0 given to ``model`` when it plays ``clip``."""
    audio, rate = sf.read(clip, dtype="float32")
    result = transfer(torch.from_numpy(audio), rate, model)
    output_f0, _ = estimate_f0(
        result["audio"][None], result["sample_rate"], result["frame_rate"], n_frames=result["model_f0_hz"].shape[0]
    )
    voiced = (result["confidence"] >= 0.85) & (result["input_loudness_db"] > result["input_loudness_db"].max() - 30)
    cents = (100 * (hz_to_midi(output_f0[0]) - hz_to_midi(result["model_f0_hz"]))[voiced].abs()).numpy()
    return {
        "voiced_frames": int(voiced.sum()),
        "median_cents": float(np.median(cents)),
        "within_50_cents": float(np.mean(cents < 50.0)),
        "octave_shift_semitones": result["adjustments"]["octave_shift_semitones"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "heldout", help="working folder")
    parser.add_argument("--write", action="store_true", help="update each model's evaluation.json")
    parser.add_argument("--run-eval-split", action="store_true", help="also evaluate the runs' own evaluation splits")
    args = parser.parse_args(argv)
    started = time.time()
    names = available_models()
    rendered = args.data / "rendered"
    if not (rendered / "manifest.json").is_file():
        render(rendered, names)
    lines = [
        "| model | loudness L1 (dB) | f0 L1 (semitones) | f0 outliers | spectral loss | examples |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        dataset_dir = prepare(rendered, args.data, name)
        loaded = load_model(name)
        results = {f"heldout:{dataset_dir.name}": evaluate_model(loaded.model, FeatureDataset(dataset_dir, "train"))}
        lines.append(row(f"{name}, held-out melodies", results[f"heldout:{dataset_dir.name}"]))
        if args.run_eval_split:
            training_data = args.data / name
            if not (training_data / "dataset.json").is_file():
                config = load_config("cpu_small")
                prepare_dataset(
                    rendered / name / "train", training_data, config.model, config.data, show_progress=False
                )
            results["run_eval_split"] = evaluate_model(loaded.model, FeatureDataset(training_data, "eval"))
            lines.append(row(f"{name}, the run's evaluation split", results["run_eval_split"]))
        if args.write:
            path = PRETRAINED_DIR / name / "evaluation.json"
            evaluation = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("heldout_at_step")}
            evaluation.update(results)
            path.write_text(json.dumps(evaluation, indent=1) + "\n")
    print("\n".join(lines))
    if "violin" in names:
        kept = melody_preservation(ROOT / "tests" / "data" / "pitch" / "flute.flac", "violin")
        print(
            f"\nflute melody played by the violin ({kept['octave_shift_semitones']:+.0f} semitones): output f0 a median "
            f"{kept['median_cents']:.1f} cents from the f0 given, {100 * kept['within_50_cents']:.1f} % of "
            f"{kept['voiced_frames']} voiced frames within 50 cents"
        )
    print(f"\n(held-out melodies of each model's own instrument, seed 0; {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
