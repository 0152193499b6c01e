"""Train the zoo: one instrument after another, one thread, resumable.

For each instrument in ``--instruments`` (in order), this script

1. prepares its training data (``scripts/zoo_train.yaml``: the cpu_small rates, 2 s examples,
   CREPE tiny; the eval-tune files are the dataset's eval split) and its held-out tunes
   (``scripts/heldout_dataset.yaml``) from ``scripts/render_zoo_data.py``'s renders, unless
   already prepared;
2. trains it with ``torchddsp train`` up to ``--steps``: a run with checkpoints resumes from
   the newest, a finished run is skipped, a new one starts from scratch or, with
   ``--init-from RUN``, from another zoo run's newest weights (fine-tuning; the run is then
   named ``<instrument>_from_<RUN's name>``);
3. evaluates the run's newest weights on every example of the held-out tunes
   (``RUN/heldout.json``, :func:`torchddsp.training.metrics.evaluate_model`).

Every phase runs as a child process with ``OMP_NUM_THREADS=1`` and is logged to
``--log`` (CSV: instrument, run, phase, steps, wall seconds, CPU seconds of the child, start
time), so a queue stopped by a time box restarts where it stopped, and the CPU cost of each
model is on record (wall time on a shared machine overstates it).

``--init-from`` takes a zoo run folder, never a bundled model's name: the bundled violin and
flute learned from the Essen encodings (non-commercial), the zoo from public-domain tunes only.

Usage::

    python scripts/train_zoo.py [--instruments violin cello ...] [--steps 2500]
        [--init-from data/zoo/runs/violin] [--rendered data/zoo/rendered] [--data data/zoo/ds]
        [--runs data/zoo/runs] [--log data/zoo/queue.csv]
    python scripts/train_zoo.py --report   # the table of the runs so far (benchmarks/results/zoo.md)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scripts" / "zoo_train.yaml"
HELDOUT_CONFIG = ROOT / "scripts" / "heldout_dataset.yaml"
CLI = [sys.executable, "-m", "torchddsp.cli"]
LOG_FIELDS = ["instrument", "run", "phase", "from_step", "to_step", "wall_s", "cpu_s", "started_utc"]


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_logged(command: list[str], log: Path, row: dict) -> None:
    """Run ``command`` at one thread; append its wall and CPU seconds to ``log``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started, cpu = time.time(), child_cpu_s()
    row["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)
    row.update(wall_s=round(time.time() - started, 1), cpu_s=round(child_cpu_s() - cpu, 1))
    new = not log.is_file()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def newest_step(run_dir: Path) -> int | None:
    """The step of the run's newest checkpoint, or None when it has none."""
    steps = [json.loads(p.read_text())["step"] for p in run_dir.glob("checkpoints/step_*/state.json")]
    return max(steps) if steps else None


def prepare(args: argparse.Namespace, name: str) -> tuple[Path, Path]:
    """The instrument's training and held-out datasets, prepared once."""
    datasets = (args.data / name, args.data / f"{name}_heldout")
    sources = (args.rendered / name / "train", args.rendered / name / "heldout")
    for dataset, source, config in zip(datasets, sources, (CONFIG, HELDOUT_CONFIG)):
        if not (dataset / "dataset.json").is_file():
            if not source.is_dir():
                raise SystemExit(f"no renders in {source}: run scripts/render_zoo_data.py first")
            row = {"instrument": name, "run": "", "phase": f"prepare {dataset.name}", "from_step": "", "to_step": ""}
            command = [*CLI, "prepare", str(source), str(dataset), "--config", str(config)]
            run_logged(command, args.log, row)
    return datasets


def run_name(name: str, init_from: Path | None) -> str:
    return name if init_from is None else f"{name}_from_{init_from.name}"


def train(args: argparse.Namespace, name: str, dataset: Path) -> Path:
    """Train (or resume) the instrument's run up to ``args.steps``; returns the run folder."""
    run_dir = args.runs / run_name(name, args.init_from)
    step = newest_step(run_dir)
    if step is not None and step >= args.steps:
        print(f"{run_dir}: done (step {step})", flush=True)
        return run_dir
    command = [*CLI, "train", str(CONFIG), str(dataset), str(run_dir), "--steps", str(args.steps), "--quiet"]
    if step is not None:
        command.append("--resume")
    elif args.init_from is not None:
        command += ["--init-from", str(args.init_from)]
    row = {"instrument": name, "run": run_dir.name, "phase": "train", "from_step": step or 0, "to_step": args.steps}
    run_logged(command, args.log, row)
    return run_dir


def evaluate_heldout(run_dir: Path, heldout: Path) -> dict:
    """Metrics of the run's newest weights on every held-out example (``RUN/heldout.json``)."""
    from torchddsp.training.data import FeatureDataset
    from torchddsp.training.metrics import evaluate_model
    from torchddsp.transfer import load_model

    loaded = load_model(run_dir)
    metrics = evaluate_model(loaded.model, FeatureDataset(heldout, "train"))
    result = {"step": newest_step(run_dir), "heldout": str(heldout), **metrics}
    (run_dir / "heldout.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def steps_to_target(eval_csv: Path, column: str = "loudness_l1_db", target: float = 1.0) -> int | None:
    """The first evaluated step whose ``column`` is at or below ``target`` (issue 16's
    fine-tuning figure: steps to 1 dB held-out loudness L1); None when no step reaches it."""
    with eval_csv.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: int(r["step"]))
    return next((int(r["step"]) for r in rows if float(r[column]) <= target), None)


def report(runs: Path, log: Path) -> str:
    """A markdown table of every run: steps to 1 dB (eval split), the held-out metrics of its
    newest weights, and the CPU seconds its training phases cost (from the queue log)."""
    cpu: dict[str, float] = {}
    if log.is_file():
        with log.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["phase"] == "train":
                    cpu[row["run"]] = cpu.get(row["run"], 0.0) + float(row["cpu_s"])
    lines = [
        "| run | steps | steps to <= 1 dB loudness L1 (eval split) | held-out loudness L1 (dB) "
        "| f0 L1 (semitones) | f0 outliers | training CPU (min) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run_dir in sorted(p for p in runs.iterdir() if (p / "eval.csv").is_file()):
        reached = steps_to_target(run_dir / "eval.csv")
        held = json.loads((run_dir / "heldout.json").read_text()) if (run_dir / "heldout.json").is_file() else None
        metrics = (
            f"{held['loudness_l1_db']:.2f} | {held['f0_l1_semitones']:.3f} | {100 * held['f0_outlier_ratio']:.2f} %"
            if held
            else "- | - | -"
        )
        minutes = f"{cpu[run_dir.name] / 60:.1f}" if run_dir.name in cpu else "-"
        lines.append(f"| {run_dir.name} | {newest_step(run_dir)} | {reached or 'not yet'} | {metrics} | {minutes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instruments", nargs="+", default=["violin", "cello", "trumpet", "clarinet", "tenor_sax", "flute"]
    )
    parser.add_argument("--steps", type=int, default=2500, help="train each run up to this step")
    parser.add_argument("--init-from", type=Path, help="a zoo run folder to fine-tune from")
    parser.add_argument("--rendered", type=Path, default=ROOT / "data" / "zoo" / "rendered")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "zoo" / "ds")
    parser.add_argument("--runs", type=Path, default=ROOT / "data" / "zoo" / "runs")
    parser.add_argument("--log", type=Path, default=ROOT / "data" / "zoo" / "queue.csv")
    parser.add_argument("--report", action="store_true", help="only print the table of the runs so far")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.runs, args.log))
        return
    if args.init_from is not None:
        if newest_step(args.init_from) is None:
            raise SystemExit(
                f"--init-from {args.init_from}: not a zoo run with checkpoints (bundled names are refused)"
            )
        args.init_from = args.init_from.resolve()
    import torch

    torch.set_num_threads(1)  # this process only evaluates; the children train at one thread
    for name in args.instruments:
        dataset, heldout = prepare(args, name)
        run_dir = train(args, name, dataset)
        started, cpu = time.time(), time.process_time()
        result = evaluate_heldout(run_dir, heldout)
        print(
            f"{run_dir.name} step {result['step']}: held-out loudness L1 {result['loudness_l1_db']:.2f} dB, "
            f"f0 L1 {result['f0_l1_semitones']:.3f} st, outliers {100 * result['f0_outlier_ratio']:.2f} % "
            f"({result['examples']} examples; {time.time() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU)",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
