"""Fine-tuning: steps to 1 dB held-out loudness L1 on a new instrument, from scratch and from
the bundled violin (``torchddsp train ... --init-from violin``).

Usage (from the repository root; needs the Debian packages ``fluidsynth`` and
``fluid-soundfont-gm`` and ``music21`` in the environment, as ``scripts/render_training_data.py``)::

    .venv/bin/python benchmarks/bench_finetune.py [--instrument clarinet] [--minutes 3]
        [--eval-minutes 1] [--steps 600] [--eval-every 50] [--batch-size 16] [--threads 1]
        [--work data/bench_finetune] [--out benchmarks/results/bench_finetune.md]

What it does:

1. renders ``--minutes`` of training melodies and ``--eval-minutes`` of held-out ones (melodies
   in no training split) for an instrument none of the bundled models learned, with
   ``scripts/render_training_data.py`` (seed 0) and an instrument added here (clarinet: FluidR3_GM
   program 71, D3-G6);
2. prepares the training audio with the violin's own settings (``cpu_small`` as the violin was
   trained: 16 kHz, 250 frames/s, 2 s examples every 0.5 s, CREPE tiny) and the held-out audio
   as ``scripts/heldout_dataset.yaml`` does (2 s examples end to end);
3. trains twice with the violin's config (the same architecture, so ``--init-from violin``
   fits), ``--steps`` steps at ``--batch-size``, the same seed, schedule and batches; the runs
   differ only in their start: the config's seeded initial weights, or the bundled violin's
   (a fresh optimizer, step 0);
4. evaluates each at step 0 and every ``--eval-every`` steps with
   :func:`torchddsp.training.evaluate_model` on every held-out example (loudness L1 in dB over all
   frames, f0 L1 in semitones on pitched frames, CREPE tiny), and writes the table to ``--out``.

"Steps to 1 dB" is the first evaluated step whose loudness L1 is at most 1 dB (so it is known to
within ``--eval-every`` steps). Wall time and the machine's load are reported beside the table:
on a shared machine a step's time means little without them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from timing import LoadMonitor  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py

from torchddsp.configs import DataConfig
from torchddsp.training import ExperimentConfig
from torchddsp.training import FeatureDataset
from torchddsp.training import evaluate_model
from torchddsp.training import prepare_dataset
from torchddsp.training.checkpoints import read_state
from torchddsp.training.hooks import Hook
from torchddsp.training.trainer import build_run
from torchddsp.training.trainer import run_loop
from torchddsp.transfer.in_memory import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parents[1]
TARGET_DB = 1.0
# Instruments none of the bundled models learned: name -> (GM program, lowest, highest MIDI note,
# range of the melodies' median pitch), in the form of scripts/render_training_data.py.
NEW_INSTRUMENTS = {
    "clarinet": (71, 50, 91, (62, 72)),
    "cello": (42, 36, 76, (48, 60)),
    "trumpet": (56, 54, 82, (64, 72)),
}


def render(instrument: str, minutes: float, eval_minutes: float, out: Path) -> Path:
    """``out/<instrument>/{train,eval}`` rendered by scripts/render_training_data.py (reused
    when already there)."""
    folder = out / instrument
    if (folder / "train").is_dir() and (folder / "eval").is_dir():
        return folder
    sys.path.insert(0, str(ROOT / "scripts"))
    import render_training_data as rendering  # noqa: PLC0415  (a script, not a package)

    program, low, high, centre = NEW_INSTRUMENTS[instrument]
    rendering.INSTRUMENTS.setdefault(instrument, rendering.Instrument(instrument, program, low, high, centre))
    arguments = ["--out", str(out), "--minutes", str(minutes), "--eval-minutes", str(eval_minutes)]
    rendering.main([*arguments, "--seed", "0", "--instruments", instrument])
    return folder


def violin_config(steps: int, batch_size: int) -> ExperimentConfig:
    """The bundled violin's training config (its architecture), for ``steps`` at ``batch_size``."""
    config = ExperimentConfig.from_dict(read_state(PRETRAINED_DIR / "violin")["config"])
    config.train.steps, config.train.batch_size = steps, batch_size
    return config


def prepare(audio: Path, config: ExperimentConfig, work: Path) -> tuple[Path, FeatureDataset]:
    """The training dataset (all of ``audio/train``) and the held-out examples (``audio/eval``)."""
    data = config.to_dict()["data"]
    training = DataConfig(**{**data, "eval_fraction": 0.0})
    heldout = DataConfig(**{**data, "eval_fraction": 0.0, "example_hop_s": data["example_s"]})
    for split, settings in (("train", training), ("eval", heldout)):
        if not (work / f"ds_{split}" / "dataset.json").is_file():
            prepare_dataset(audio / split, work / f"ds_{split}", config.model, settings, show_progress=False)
    return work / "ds_train", FeatureDataset(work / "ds_eval", "train")


def train_from(
    start: str | None, config: ExperimentConfig, data: Path, heldout: FeatureDataset, every: int, run_dir: Path
) -> tuple[list[dict[str, Any]], float]:
    """Train from ``start`` (None: the seeded initial weights); return the held-out metrics at
    step 0 and every ``every`` steps (on ``config.train.eval_examples`` examples, evenly
    spread), and the seconds spent training (evaluations excluded)."""
    run = build_run(config, data, run_dir, overwrite=True, init_from=start)
    rows: list[dict[str, Any]] = []
    evaluating = [0.0]  # seconds spent in evaluations during the steps

    def evaluate(run: Any, done: int, step: Any, batch: Any) -> None:
        began = time.perf_counter()
        metrics = evaluate_model(run.model, heldout, config.train.eval_examples, f0_method=config.data.f0_method)
        rows.append({"step": done, "loss": float(step.loss) if step is not None else float("nan"), **metrics})
        print(f"{start or 'scratch'} step {done}: {metrics['loudness_l1_db']:.2f} dB", file=sys.stderr, flush=True)
        evaluating[0] += time.perf_counter() - began

    evaluate(run, 0, None, None)
    evaluating[0] = 0.0
    started = time.perf_counter()
    run_loop(run, [Hook("heldout", every, evaluate)])
    return rows, time.perf_counter() - started - evaluating[0]


def steps_to(rows: list[dict[str, Any]], target_db: float) -> str:
    reached = [row["step"] for row in rows if row["loudness_l1_db"] <= target_db]
    return str(reached[0]) if reached else f"not in {rows[-1]['step']}"


def table(results: dict[str, tuple[list[dict[str, Any]], float]]) -> list[str]:
    """Steps to the target per start, then the metrics at every evaluated step."""
    names = list(results)
    lines = ["| start | steps to <= 1 dB loudness L1 | training s/step (evaluations excluded) |", "|---|---:|---:|"]
    for name, (rows, seconds) in results.items():
        lines.append(f"| {name} | {steps_to(rows, TARGET_DB)} | {seconds / max(rows[-1]['step'], 1):.2f} |")
    columns = [f"loudness L1 dB, {n}" for n in names] + [f"f0 L1 semitones, {n}" for n in names]
    columns += [f"spectral loss, {n}" for n in names]
    lines += ["", "| step | " + " | ".join(columns) + " |", "|---:|" + "---:|" * len(columns)]
    for i, row in enumerate(results[names[0]][0]):
        cells = [
            f"{results[n][0][i][key]:.{digits}f}"
            for key, digits in (("loudness_l1_db", 2), ("f0_l1_semitones", 3), ("spectral_loss", 2))
            for n in names
        ]
        lines.append(f"| {row['step']} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instrument", default="clarinet", choices=sorted(NEW_INSTRUMENTS))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--eval-minutes", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-examples", type=int, default=None, help="held-out examples (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_finetune")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_finetune.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    began, load_before, monitor = time.perf_counter(), os.getloadavg()[0], LoadMonitor()
    audio = render(args.instrument, args.minutes, args.eval_minutes, args.work / "rendered")
    config = violin_config(args.steps, args.batch_size)
    data, heldout = prepare(audio, config, args.work / args.instrument)
    config.train.eval_examples = min(args.eval_examples or len(heldout), len(heldout))
    results = {
        name: train_from(start, config, data, heldout, args.eval_every, args.work / args.instrument / f"run_{name}")
        for name, start in (("scratch", None), ("violin", "violin"))
    }
    report(args, config, data, heldout, results, (time.perf_counter() - began, load_before, monitor))


def report(
    args: argparse.Namespace, config: ExperimentConfig, data: Path, heldout: FeatureDataset, results: dict, load: tuple
) -> None:
    wall, load_before, monitor = load
    share, machine = monitor.fraction(), machine_description()
    seconds = FeatureDataset(data, "train").metadata["seconds"]["train"]
    text = [
        "# Fine-tuning: from scratch vs from the bundled violin",
        "",
        f"`.venv/bin/python benchmarks/bench_finetune.py --instrument {args.instrument} --minutes {args.minutes:g} "
        f"--eval-minutes {args.eval_minutes:g} --steps {args.steps} --eval-every {args.eval_every} "
        f"--batch-size {args.batch_size} --threads {args.threads}"
        + (f" --eval-examples {args.eval_examples}`" if args.eval_examples else "`"),
        "",
        f"New instrument: FluidR3_GM {args.instrument} (program {NEW_INSTRUMENTS[args.instrument][0]}), "
        f"{seconds / 60:.1f} min of training melodies, held-out: {len(heldout)} x {config.data.example_s:g} s "
        f"(evaluated: {config.train.eval_examples}) "
        f"of melodies in no training split. Config: the violin's ({config.name}), batch {args.batch_size} x "
        f"{config.data.example_s:g} s, learning rate {config.train.learning_rate:g} "
        f"({config.train.warmup_steps} warm-up steps), seed {config.train.seed}; metrics by `evaluate_model` "
        f"(f0 by {config.data.f0_method} {config.data.crepe_model}).",
        "",
        *table(results),
        "",
        f"Wall time {wall / 60:.1f} min in all (rendering, preparing, both runs, evaluations) on {machine['cpu']}, "
        f"{machine['cpu_count']} CPUs, torch {machine['torch']} with {machine['torch_threads']} thread(s); "
        f"load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; other "
        f"processes used {'-' if share is None else f'{100 * share:.0f} %'} of the CPUs meanwhile.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
