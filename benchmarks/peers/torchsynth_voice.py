"""Time torchsynth 1.0.2's default ``Voice`` (the synth1B1 architecture) on the CPU.

Runs inside torchsynth's own virtual environment (never torchddsp's, see
``benchmarks/torchsynth_env.py``), for example::

    benchmarks/.peers/torchsynth/bin/python benchmarks/peers/torchsynth_voice.py --threads 2

Builds ``SynthConfig(batch_size=B, reproducible=False)`` (4 s at 44.1 kHz, control rate
441 Hz) and ``Voice(synthconfig)``, sets its 78 parameters with ``voice.randomize(seed=0)``
(outside the timed region, timed on its own as ``randomize``), then times two passes:

- ``forward``: ``voice.output()`` under ``torch.no_grad()``;
- ``forward_backward``: ``voice.output()`` with every parameter requiring grad, the loss
  ``mean(output ** 2)`` and ``torch.autograd.grad`` with respect to all 78 parameters (the
  same loss as ``benchmarks/bench_synth.py``). One extra, untimed run counts the non-finite
  gradient elements per parameter.

``voice.output()`` is called directly: ``voice.forward()`` would need
``SynthConfig(no_grad=False)`` for gradients, which torchsynth 1.0.2 refuses with a
ValueError ("Gradients have not been explicitly tested in 1.0").

Each pass runs in a fresh subprocess so that its peak memory can be read: ``peak_rss_mb``
is ``ru_maxrss`` at the end minus the resident set size once the voice is built and
randomized (torch's CPU allocations are invisible to tracemalloc). Timing: ``--warmup``
excluded runs, then the median of up to ``--repeats`` runs (fewer when one run is slow, see
``--budget``), by ``benchmarks/timing.py``'s ``measure``. The real-time factor is
``batch_size * 4 s / median``; ``other_load`` is the share of the machine's CPUs that other
processes used meanwhile (timings on a shared machine are only as good as that). Prints one JSON object to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import LoadMonitor  # noqa: E402  (benchmarks/timing.py: standard library only)
from timing import current_rss_mb  # noqa: E402  (benchmarks/timing.py: standard library only)
from timing import measure  # noqa: E402  (benchmarks/timing.py: standard library only)
from timing import peak_rss_mb  # noqa: E402  (benchmarks/timing.py: standard library only)

PASSES = ("forward", "forward_backward")


def build_voice(batch_size: int, threads: int, seed: int):
    """Import torch and torchsynth quietly, build and randomize the default Voice."""
    warnings.filterwarnings("ignore")  # pkg_resources and LightningModule deprecation notices
    import torch  # noqa: PLC0415

    torch.set_num_threads(threads)
    from torchsynth.config import SynthConfig  # noqa: PLC0415
    from torchsynth.synth import Voice  # noqa: PLC0415

    config = SynthConfig(batch_size=batch_size, reproducible=False)
    voice = Voice(config)
    voice.randomize(seed=seed)
    return torch, config, voice


def worker(args: argparse.Namespace) -> dict:
    """Time one pass in this (fresh) process and report its peak memory."""
    torch, config, voice = build_voice(args.batch_size, args.threads, args.seed)
    seconds = float(config.buffer_size_seconds)
    rss_setup, peak_setup = current_rss_mb(), peak_rss_mb()
    parameters = [parameter for _, parameter in sorted(voice.named_parameters())]
    result: dict = {}

    if args.worker == "forward":

        def run():
            with torch.no_grad():
                return voice.output()

        start = time.perf_counter()
        voice.randomize(seed=args.seed)
        result["randomize_ms"] = 1e3 * (time.perf_counter() - start)
    else:
        for parameter in parameters:
            parameter.requires_grad_(True)

        def run():
            loss = voice.output().square().mean()
            return torch.autograd.grad(loss, parameters)

    try:
        output = run() if args.worker == "forward" else None
        if output is not None:
            result["output_shape"] = list(output.shape)
            result["output_nonfinite"] = int((~torch.isfinite(output)).sum())
            result["output_peak_abs_max"] = float(output.abs().max())
            del output
        timing = measure(run, args.repeats, args.warmup, args.budget)
    except Exception as error:  # noqa: BLE001  (a failing peer pass is a result, not a crash)
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    result.update(timing)
    result["rtf"] = args.batch_size * seconds / (timing["median_ms"] / 1e3)
    peak = peak_rss_mb()
    result["rss_after_setup_mb"] = rss_setup
    result["peak_rss_mb"] = peak - rss_setup
    result["peak_rss_is_setup_peak"] = peak <= peak_setup  # the pass never exceeded setup's peak

    if args.worker == "forward_backward":
        grads = run()
        names = [name for name, _ in sorted(voice.named_parameters())]
        bad = {
            name.replace(".torchparameters.", "."): int((~torch.isfinite(g)).sum())
            for name, g in zip(names, grads)
            if g is not None and not torch.isfinite(g).all()
        }
        result["grad_none"] = [n for n, g in zip(names, grads) if g is None]
        result["grad_nonfinite_elements"] = sum(bad.values())
        result["grad_nonfinite_by_parameter"] = bad
        result["grad_elements"] = sum(g.numel() for g in grads if g is not None)
        result["grad_zero_elements"] = int(sum((g == 0).sum() for g in grads if g is not None))
    return result


def main() -> None:
    """Parse arguments; run every pass in its own subprocess (or be that subprocess)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per measurement, at most")
    parser.add_argument("--seed", type=int, default=0, help="voice.randomize(seed=...)")
    parser.add_argument("--passes", default=",".join(PASSES))
    parser.add_argument("--worker", choices=PASSES, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        json.dump(worker(args), sys.stdout)
        print()
        return

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    results = {}
    monitor = LoadMonitor()
    for pass_name in args.passes.split(","):
        print(
            f"torchsynth: Voice {pass_name} (batch {args.batch_size}, {args.threads} threads)",
            file=sys.stderr,
            flush=True,
        )
        command = [sys.executable, __file__, "--worker", pass_name] + [
            f"--{name}={getattr(args, name.replace('-', '_'))}"
            for name in ("batch-size", "threads", "repeats", "warmup", "budget", "seed")
        ]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
        if done.returncode != 0:
            results[pass_name] = {"error": f"worker exited with status {done.returncode}"}
            continue
        results[pass_name] = json.loads(done.stdout.strip().splitlines()[-1])

    warnings.filterwarnings("ignore")
    import pytorch_lightning  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import torchsynth  # noqa: PLC0415

    json.dump(
        {
            "torch": torch.__version__,
            "torchsynth": torchsynth.__version__,
            "pytorch_lightning": pytorch_lightning.__version__,
            "threads": args.threads,
            "batch_size": args.batch_size,
            "sample_rate": 44100,
            "duration_s": 4.0,
            "seed": args.seed,
            "cpu_count": os.cpu_count(),
            "other_load": monitor.fraction(),  # share of the CPUs other processes used meanwhile
            "results": results,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
