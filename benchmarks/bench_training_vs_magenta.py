"""Seconds per training step of torchddsp's ``solo_instrument`` config against Magenta ddsp
3.7.0's solo-instrument autoencoder, on the same machine, data and batch, in one run.

Usage (from the repository root; Magenta's environment ``benchmarks/.peers/magenta`` is made
by ``benchmarks/magenta_env.py`` if missing, unless ``--no-peer-install``)::

    .venv/bin/python benchmarks/bench_training_vs_magenta.py [--rounds 2] [--steps 5] [--warmup 2] [--profile]

Data: 4 s examples (one every second) of the soundfont melodies of ``tests/data/pitch``
(violin, flute, cello; 16 kHz), with f0 (torchddsp's YIN) and A-weighted loudness at 250
frames/s computed once here, before anything is timed; ``--batches`` batches of 16 examples
drawn with a fixed seed. Both libraries get these same arrays (``audio (16, 64000)``,
``f0_hz``, ``loudness_db (16, 1000)``), already in memory: no f0 estimator, file reading or
data pipeline is inside either timed step.

- torchddsp (this process): ``training.train_step`` as ``run_loop`` calls it (learning rate
  set, data checks off, a seeded noise generator per step) on the model and Adam the trainer
  builds from ``configs/solo_instrument.yaml`` with its loss (``train.loss_terms``).
- Magenta (a worker in its own environment, ``benchmarks/peers/magenta_training_step.py``):
  its own gin files, ``Trainer.train_step``, the ``tf.function`` that ``ddsp_run`` runs.
  Magenta's preprocessor recomputes loudness from the audio in every step by default; here it
  is given, like torchddsp's (``--magenta-compute-loudness`` restores the default).

Threads: each library's defaults (torch: ``torch.get_num_threads()``; TensorFlow: intra- and
inter-op 0, i.e. its own choice from the CPU count), or ``--threads N`` for both (torch's
intra-op, TensorFlow's intra- and inter-op); both processes see the same CPUs and only
one of them computes at a time (the other waits on a pipe). After ``--warmup`` excluded steps
each (Magenta's first one traces and compiles the graph), ``--rounds`` rounds alternate
torchddsp then Magenta, ``--steps`` steps each, so a drift in the machine's load falls on
both. Each step is timed until its loss is on the host. Reported: the median over all timed
steps, the ratio, and per round the median, the CPU seconds per step each library's process
used (less sensitive than wall time to other processes' load, though torch's OpenMP threads
spin while they wait), the 1-minute load average at the round's end and the share of the
CPUs other processes used during it. ``--profile`` adds a torch.profiler
table (by op, self CPU time) of one more torchddsp step. Results:
``benchmarks/results/bench_training_vs_magenta.md`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from magenta_env import DEFAULT_MAGENTA_ENV  # benchmarks/magenta_env.py
from magenta_env import ensure_magenta_env  # benchmarks/magenta_env.py
from timing import machine_busy_seconds  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py
from timing import own_cpu_seconds  # benchmarks/timing.py

from torchddsp.features import a_weighted_loudness
from torchddsp.features import estimate_f0
from torchddsp.training import build_loss
from torchddsp.training import load_config
from torchddsp.training.trainer import _model_and_optimizer  # the trainer's own model and Adam
from torchddsp.training.trainer import set_learning_rate
from torchddsp.training.trainer import train_step
from torchddsp.validation import data_checks

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "pitch"
PEER = ROOT / "benchmarks" / "peers" / "magenta_training_step.py"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "bench_training_vs_magenta.md"
CONFIG = "solo_instrument"


def prepare_examples(config, n_batches: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``audio (n, n_samples)``, ``f0_hz``, ``loudness_db (n, n_frames)`` float32 examples of
    the config's length and hop, and ``batches (n_batches, batch_size)`` example indices."""
    rate, frame_rate = config.model.sample_rate, config.model.frame_rate
    hop = rate // frame_rate
    n_frames = round(config.data.example_s * frame_rate)
    step = round(config.data.example_hop_s * frame_rate)
    parts: dict[str, list[np.ndarray]] = {"audio": [], "f0_hz": [], "loudness_db": []}
    for path in sorted(CLIPS.glob("*.flac")):
        audio, clip_rate = soundfile.read(path, dtype="float32")
        if clip_rate != rate:
            raise RuntimeError(f"{path} is {clip_rate} Hz, the config wants {rate}")
        signal = torch.from_numpy(audio)[None]
        total = signal.shape[1] // hop
        f0_hz, _ = estimate_f0(signal, rate, frame_rate, method="yin", n_frames=total)
        loudness_db = a_weighted_loudness(signal, rate, frame_rate, n_frames=total)
        for start in range(0, total - n_frames + 1, step):
            parts["audio"].append(audio[start * hop : (start + n_frames) * hop])
            parts["f0_hz"].append(f0_hz[0, start : start + n_frames].numpy())
            parts["loudness_db"].append(loudness_db[0, start : start + n_frames].numpy())
    arrays = {key: np.stack(values).astype(np.float32) for key, values in parts.items()}
    count = len(arrays["audio"])
    arrays["batches"] = np.random.default_rng(seed).integers(count, size=(n_batches, config.train.batch_size))
    return arrays


class TorchStep:
    """torchddsp's training step on the prepared batches (what ``run_loop`` does per step)."""

    def __init__(self, config, arrays: dict[str, np.ndarray]):
        self.config = config
        self.model, self.optimizer, _ = _model_and_optimizer(config, None)
        self.model.train()
        self.loss_fn = build_loss(config)
        self.parameters = list(self.model.parameters())
        self.batches = [
            {key: torch.from_numpy(arrays[key][indices]) for key in ("f0_hz", "loudness_db", "audio")}
            for indices in arrays["batches"]
        ]
        self.done = 0

    def one(self) -> tuple[float, float]:
        """(seconds, loss) of the next step, timed until its loss is on the host."""
        batch = self.batches[self.done % len(self.batches)]
        noise = torch.Generator().manual_seed(self.done)
        begin = time.perf_counter()
        set_learning_rate(self.optimizer, self.config.train, self.done)
        with data_checks(False):
            output = train_step(
                self.model, self.optimizer, batch, self.loss_fn, self.config.train.grad_clip, noise, self.parameters
            )
        loss = float(output.loss)
        self.done += 1
        return time.perf_counter() - begin, loss

    def run(self, count: int) -> dict:
        cpu_0 = own_cpu_seconds()
        results = [self.one() for _ in range(count)]
        return {"times": [t for t, _ in results], "cpu_s": own_cpu_seconds() - cpu_0, "loss": results[-1][1]}


class MagentaWorker:
    """The Magenta peer process: builds and compiles its step, then runs steps on request."""

    def __init__(self, python: Path, data: Path, compute_loudness: bool, threads: int | None):
        command = [str(python), str(PEER), "--data", str(data)] + (["--compute-loudness"] if compute_loudness else [])
        command += [] if threads is None else ["--threads", str(threads)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._answer()

    def _answer(self) -> dict:
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the Magenta worker stopped (exit code {self.process.wait()}); see its stderr above")

    def run(self, count: int) -> dict:
        self.process.stdin.write(f"steps {count}\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=120)


def timed_round(runner, count: int) -> dict:
    """``runner.run(count)`` plus the load around it: the share of the CPUs that processes
    other than the two benchmarked ones used, and the 1-minute load average at the end."""
    wall_0, busy_0, own_0 = time.perf_counter(), machine_busy_seconds(), own_cpu_seconds()
    result = runner.run(count)
    wall, busy = time.perf_counter() - wall_0, machine_busy_seconds()
    # The worker's CPU time is its own report; this process's includes the torch steps.
    ours = own_cpu_seconds() - own_0 + (result["cpu_s"] if isinstance(runner, MagentaWorker) else 0.0)
    share = None if busy is None or busy_0 is None else max(0.0, busy - busy_0 - ours) / (wall * (os.cpu_count() or 1))
    return {**result, "other_share": share, "load_1min": os.getloadavg()[0]}


def profile_table(step: TorchStep, rows: int = 25) -> str:
    """torch.profiler's table (by op, sorted by self CPU time) of one torchddsp step."""
    from torch.profiler import ProfilerActivity  # noqa: PLC0415
    from torch.profiler import profile  # noqa: PLC0415

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step.one()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def report(args, machine: dict, info: dict, rounds: list[dict], warm: dict, table: str | None) -> str:
    """The Markdown report."""
    torch_all = [t for r in rounds for t in r["torchddsp"]["times"]]
    magenta_all = [t for r in rounds for t in r["magenta"]["times"]]
    ours, theirs = statistics.median(torch_all), statistics.median(magenta_all)
    tf_default = (
        f" (0: its default for {info['cpus']} CPUs)"
        if 0 in (info["intra_op_threads"], info["inter_op_threads"])
        else ""
    )
    share = lambda r: "-" if r["other_share"] is None else f"{100 * r['other_share']:.0f} %"  # noqa: E731
    lines = [
        f"<!-- .venv/bin/python benchmarks/bench_training_vs_magenta.py --rounds {args.rounds} --steps {args.steps} "
        f"--warmup {args.warmup} --batches {args.batches}{'' if args.threads is None else f' --threads {args.threads}'}"
        f"{' --magenta-compute-loudness' if args.magenta_compute_loudness else ''}{' --profile' if args.profile else ''} -->",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs; torch {machine['torch']} with "
        f"{torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op threads, torchddsp "
        f"{machine['torchddsp']}; {info['versions']} with intra-op {info['intra_op_threads']} / inter-op "
        f"{info['inter_op_threads']} threads{tf_default}.",
        "",
        f"Config: solo_instrument (torchddsp `configs/solo_instrument.yaml`; Magenta `models/solo_instrument.gin` "
        f"+ `optimization/base.gin`), batch 16 x 4 s at 16 kHz, 1000 frames; Magenta's loudness "
        f"{'recomputed in the step (its default)' if args.magenta_compute_loudness else 'given (as torchddsp)'}. "
        f"Trainable parameters: torchddsp {sum(p.numel() for p in warm['parameters'])}, Magenta {info['parameters']}. "
        f"Warm-up: {args.warmup} steps each (Magenta's first, with tracing: {info['first_step_s']:.1f} s); "
        f"then {args.rounds} alternating rounds of {args.steps} steps.",
        "",
        "| library | median s/step | fastest | slowest | steps timed | step rate vs Magenta |",
        "|---|---:|---:|---:|---:|---:|",
        f"| torchddsp | {ours:.2f} | {min(torch_all):.2f} | {max(torch_all):.2f} | {len(torch_all)} | {theirs / ours:.2f}x |",
        f"| Magenta ddsp | {theirs:.2f} | {min(magenta_all):.2f} | {max(magenta_all):.2f} | {len(magenta_all)} | 1.00x |",
        "",
        "| round | library | median s/step | CPU s/step (its own process) | last loss | other processes' CPU share "
        "| load average (1 min) at end |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for index, entry in enumerate(rounds, 1):
        for name in ("torchddsp", "magenta"):
            r = entry[name]
            lines.append(
                f"| {index} | {name} | {statistics.median(r['times']):.2f} | {r['cpu_s'] / len(r['times']):.2f} | "
                f"{r['loss']:.3f} | {share(r)} | "
                f"{r['load_1min']:.2f} |"
            )
    if table is not None:
        lines += ["", "torchddsp step profile (torch.profiler, CPU, one step, sorted by self CPU time):", "", "```"]
        lines += [table.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per library per round (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="excluded steps per library first (default 2)")
    parser.add_argument("--batches", type=int, default=2, help="distinct batches cycled through (default 2)")
    parser.add_argument("--magenta-compute-loudness", action="store_true", help="Magenta's default preprocessor")
    parser.add_argument("--threads", type=int, help="both libraries' threads (default: each one's own default)")
    parser.add_argument("--profile", action="store_true", help="add a torch.profiler table of one torchddsp step")
    parser.add_argument("--magenta-env", type=Path, default=DEFAULT_MAGENTA_ENV)
    parser.add_argument("--no-peer-install", action="store_true", help="fail rather than build Magenta's environment")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps, args.warmup, args.batches, 1 if args.threads is None else args.threads) < 1:
        parser.error("--rounds, --steps, --warmup, --batches and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python, note = ensure_magenta_env(args.magenta_env, not args.no_peer_install)
    if python is None:
        print(note, file=sys.stderr)
        return 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config = load_config(CONFIG)
    arrays = prepare_examples(config, args.batches)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "batches.npz"
        np.savez(data, **arrays)
        print("building Magenta's step (tracing and the first step)...", file=sys.stderr, flush=True)
        worker = MagentaWorker(python, data, args.magenta_compute_loudness, args.threads)
        try:
            ours = TorchStep(config, arrays)
            print(f"warm-up: {args.warmup} steps each...", file=sys.stderr, flush=True)
            ours.run(args.warmup)
            if args.warmup > 1:  # its first step ran at start-up
                worker.run(args.warmup - 1)
            rounds = []
            for index in range(args.rounds):
                print(f"round {index + 1}/{args.rounds}...", file=sys.stderr, flush=True)
                rounds.append({"torchddsp": timed_round(ours, args.steps), "magenta": timed_round(worker, args.steps)})
            table = profile_table(ours) if args.profile else None
        finally:
            worker.close()
    text = report(args, machine_description(), worker.info, rounds, {"parameters": ours.parameters}, table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
