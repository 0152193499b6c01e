"""Seconds per training step of the shipped configs, measured on real audio on this machine.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_training.py [--configs cpu_small,solo_instrument] [--steps 20] [--warmup 3]

For each config: the soundfont melodies of ``tests/data/pitch`` (violin, flute, cello; real
sampled instruments) are prepared with the config's own data settings (CREPE f0, loudness,
its example length), then ``torchddsp.training.train`` runs ``--warmup + --steps`` steps with
the config's batch size, model and loss (evaluation, samples and checkpoints only after the
last step, outside the timed steps). Each step's wall time comes from the trainer's own
``train.csv`` (``log_every=1``); the warm-up steps are dropped. Prints the median, fastest
and slowest step and the machine's load while it ran (the share of the CPUs that other
processes used, and the 1-minute load average), since a step time means little without it.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

from timing import LoadMonitor  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py

from torchddsp.training import load_config
from torchddsp.training import prepare_dataset
from torchddsp.training import train

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "pitch"


def step_times(config_name: str, steps: int, warmup: int, folder: Path) -> list[float]:
    config = load_config(config_name)
    dataset = folder / f"{config_name}_data"
    prepare_dataset(CLIPS, dataset, config.model, config.data, show_progress=False)
    total = warmup + steps
    config.train.steps = total
    config.train.log_every = 1
    config.train.eval_every = config.train.checkpoint_every = config.train.samples_every = total
    config.train.eval_examples = 2
    run = folder / f"{config_name}_run"
    train(config, dataset, run, show_progress=False)
    rows = list(csv.DictReader((run / "train.csv").open()))
    return [float(r["seconds_per_step"]) for r in rows[warmup:]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="cpu_small,solo_instrument")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    machine = machine_description()
    lines = [
        "| config | batch x example | median s/step | fastest | slowest | steps timed | other processes' CPU share | load average (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name in args.configs.split(","):
            print(f"training {name}...", file=sys.stderr, flush=True)
            monitor = LoadMonitor()
            times = step_times(name, args.steps, args.warmup, Path(folder))
            share = monitor.fraction()
            config = load_config(name)
            lines.append(
                f"| {name} | {config.train.batch_size} x {config.data.example_s:g} s | "
                f"{statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | {len(times)} | "
                f"{'-' if share is None else f'{100 * share:.0f} %'} | {os.getloadavg()[0]:.2f} |"
            )
    print(
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']} with "
        f"{machine['torch_threads']} threads, torchddsp {machine['torchddsp']}.\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
