"""Benchmark torchddsp's modular ``DefaultVoice`` against torchsynth 1.0.2's default ``Voice``
(the same 78-parameter synth1B1 architecture), measured in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_modular.py [--batch-size B] [--repeats N] [--threads T]
        [--json PATH] [--torchsynth-env DIR] [--no-peer-install] [--no-peer]

Shapes: batch ``--batch-size`` (default 128) sounds of 4 s at 44.1 kHz (176400 samples),
control rate 441 Hz, float32, CPU, ``torch.set_num_threads(--threads)`` (default 2) on both
sides; torchddsp's compiled audio-rate kernels use at most as many threads as torch.

torchddsp: ``voice = DefaultVoice()``, ``patch = voice.sound_patch(arange(B), seed=0)`` and
``seeds = voice.noise_seeds(arange(B), seed=0)``. torchsynth: ``Voice(SynthConfig(batch_size=B,
reproducible=False))`` and ``voice.randomize(seed=0)``, run by
``benchmarks/peers/torchsynth_voice.py`` in its own virtual environment (see
``benchmarks/torchsynth_env.py``; created on first use unless ``--no-peer-install``).

Passes:
- ``forward``: ``voice(patch, seeds)`` under ``torch.no_grad()`` (torchsynth:
  ``voice.output()`` under ``torch.no_grad()``);
- ``forward+backward``: ``p = patch.clone().requires_grad_()``, ``voice(p, seeds)``, the loss
  ``mean(output ** 2)`` and its backward: gradients with respect to all 78 parameters
  (torchsynth: the same loss, ``torch.autograd.grad`` with respect to its 78 parameters).

Both sides are measured the same way, by the peer script's method: each pass runs in a fresh
subprocess (here a hidden ``--worker PASS`` mode of this script) which builds the voice and
draws the patch (the "setup"), reads its resident set size, then times the pass with
``benchmarks/timing.py``'s ``measure``: ``--warmup`` excluded runs (the first call loads
torchddsp's numba kernels from their cache), then the median of up to ``--repeats`` runs.
The forward worker first renders once, untimed, to check the output is finite (as the peer
does) and times one patch draw (``sound_patch`` + ``noise_seeds``; torchsynth: one
``randomize``), which is outside the timed passes. Real-time factor: ``B * 4 s / median``.
Peak memory: ``ru_maxrss`` at the end of the timed runs minus the RSS after setup. The
forward+backward worker then runs once more, untimed, and counts non-finite gradient
elements per parameter (torchddsp must have none; torchsynth 1.0.2 has NaN in
``keyboard.duration``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from timing import LoadMonitor  # noqa: E501
from timing import current_rss_mb  # noqa: E501
from timing import fmt_ms  # noqa: E501
from timing import fmt_ratio  # noqa: E501
from timing import machine_description  # noqa: E501
from timing import measure  # noqa: E501
from timing import peak_rss_mb  # noqa: E501
from torchsynth_env import DEFAULT_TORCHSYNTH_ENV  # benchmarks/torchsynth_env.py
from torchsynth_env import ensure_torchsynth_env  # benchmarks/torchsynth_env.py

BENCH_DIR = Path(__file__).resolve().parent
PEER_SCRIPT = BENCH_DIR / "peers" / "torchsynth_voice.py"
PASSES = (("forward", "forward"), ("forward_backward", "fwd+bwd"))
SUBPROCESS_TIMEOUT_S = 3600


# ------------------------------------------------------------------------ worker


def worker(args: argparse.Namespace) -> dict:
    """Time one pass of torchddsp's DefaultVoice in this (fresh) process, as the peer does."""
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    from torchddsp.modular import DefaultVoice  # noqa: PLC0415

    # Setup: the voice built and the patch drawn (torchsynth: Voice built and randomized).
    voice = DefaultVoice()
    indices = torch.arange(args.batch_size)
    patch = voice.sound_patch(indices, seed=args.seed)
    seeds = voice.noise_seeds(indices, seed=args.seed)
    seconds = float(voice.context.duration_s)
    rss_setup, peak_setup = current_rss_mb(), peak_rss_mb()
    result: dict = {"torch_threads": torch.get_num_threads()}

    if args.worker == "forward":

        def run():
            with torch.no_grad():
                return voice(patch, seeds)

        start = time.perf_counter()
        voice.sound_patch(indices, seed=args.seed)
        voice.noise_seeds(indices, seed=args.seed)
        result["patch_ms"] = 1e3 * (time.perf_counter() - start)
    else:

        def run():
            p = patch.clone().requires_grad_()
            voice(p, seeds).pow(2).mean().backward()
            return p.grad

    first_call: dict = {}

    def timed_run():
        value = run()
        if not first_call:  # the numba kernels' load from cache happens in this call
            first_call["peak"] = peak_rss_mb()
        return value

    try:
        if args.worker == "forward":
            output = timed_run()
            result["output_shape"] = list(output.shape)
            result["output_nonfinite"] = int((~torch.isfinite(output)).sum())
            result["output_peak_abs_max"] = float(output.abs().max())
            del output
        timing = measure(timed_run, args.repeats, args.warmup, args.budget)
    except Exception as error:  # noqa: BLE001  (a failing pass is a result, not a crash)
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    result.update(timing)
    result["rtf"] = args.batch_size * seconds / (timing["median_ms"] / 1e3)
    peak = peak_rss_mb()
    result["rss_after_setup_mb"] = rss_setup
    result["peak_rss_mb"] = peak - rss_setup
    result["peak_rss_first_call_mb"] = first_call["peak"] - rss_setup  # includes numba's kernel load
    result["peak_rss_is_setup_peak"] = peak <= peak_setup  # the pass never exceeded setup's peak

    if args.worker == "forward_backward":
        grad = run()
        names = voice.parameter_names
        if grad is None:
            result["grad_none"] = True
            return result
        nonfinite = (~torch.isfinite(grad)).sum(dim=0)
        bad = {name: int(count) for name, count in zip(names, nonfinite.tolist()) if count}
        result["grad_none"] = False
        result["grad_nonfinite_elements"] = sum(bad.values())
        result["grad_nonfinite_by_parameter"] = bad
        result["grad_elements"] = grad.numel()
        result["grad_zero_elements"] = int((grad == 0).sum())
        result["n_parameters"] = len(names)
    result["kernel_threads"] = torch.get_num_threads()  # torchddsp's kernels follow torch's count
    return result


def run_worker_subprocess(command: list[str], threads: int, label: str) -> dict:
    """Run one worker (ours or the peer's driver) and parse the last JSON line of its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=None, text=True, env=env, timeout=SUBPROCESS_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"error": f"{label} failed to run: {error}"}
    if done.returncode != 0:
        return {"error": f"{label} exited with status {done.returncode} (its errors are above)"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"{label} printed no JSON result"}


def common_flags(args: argparse.Namespace) -> list[str]:
    """The settings both our workers and the peer script take."""
    return [
        f"--{name}={getattr(args, name.replace('-', '_'))}"
        for name in ("batch-size", "threads", "repeats", "warmup", "budget", "seed")
    ]


def time_torchddsp(args: argparse.Namespace) -> dict:
    """Each pass of torchddsp's DefaultVoice in a fresh subprocess of this script."""
    results = {}
    for pass_name, _ in PASSES:
        print(
            f"torchddsp: DefaultVoice {pass_name} (batch {args.batch_size}, {args.threads} threads)",
            file=sys.stderr,
            flush=True,
        )
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", pass_name] + common_flags(args)
        results[pass_name] = run_worker_subprocess(command, args.threads, f"torchddsp {pass_name} worker")
    return results


def time_torchsynth(python: Path, args: argparse.Namespace) -> tuple[dict | None, str]:
    """Run the peer script (which runs each pass in its own subprocess); (JSON, note on failure)."""
    print(f"torchsynth: running {PEER_SCRIPT.name} in {python}", file=sys.stderr, flush=True)
    peer = run_worker_subprocess(
        [str(python), "-W", "ignore", str(PEER_SCRIPT)] + common_flags(args), args.threads, "torchsynth peer"
    )
    if "error" in peer and "results" not in peer:
        return None, peer["error"]
    return peer, ""


# ------------------------------------------------------------------------ report


def fmt_rtf(value: float | None) -> str:
    """A real-time factor as ``123x``, or a dash."""
    if value is None:
        return "-"
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def fmt_mib(value: float | None) -> str:
    """MiB as an integer, or a dash."""
    return "-" if value is None else f"{value:.0f}"


def pass_result(results: dict | None, pass_name: str) -> dict:
    """One pass's figures, or an empty dict when missing or failed."""
    if results is None:
        return {}
    figures = results.get(pass_name, {})
    return {} if "error" in figures else figures


def table(ours: dict, peer: dict | None) -> str:
    """The markdown table of medians, real-time factors, speed-ups and peak memory."""
    peer_results = peer["results"] if peer else None
    lines = [
        "| pass | torchddsp ms | torchsynth ms | torchddsp x real time | torchsynth x real time "
        "| speed-up | torchddsp peak MiB | torchsynth peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pass_name, label in PASSES:
        a, b = pass_result(ours, pass_name), pass_result(peer_results, pass_name)
        lines.append(
            f"| {label} | {fmt_ms(a.get('median_ms'))} | {fmt_ms(b.get('median_ms'))} "
            f"| {fmt_rtf(a.get('rtf'))} | {fmt_rtf(b.get('rtf'))} "
            f"| {fmt_ratio(b.get('median_ms'), a.get('median_ms'))} "
            f"| {fmt_mib(a.get('peak_rss_mb'))} | {fmt_mib(b.get('peak_rss_mb'))} |"
        )
    return "\n".join(lines)


def gradient_line(name: str, figures: dict) -> str:
    """Non-finite gradient elements of one side's forward+backward pass."""
    if not figures or "grad_nonfinite_elements" not in figures:
        return f"- {name}: not measured"
    count, total = figures["grad_nonfinite_elements"], figures.get("grad_elements")
    where = ", ".join(f"{k}: {v}" for k, v in figures.get("grad_nonfinite_by_parameter", {}).items())
    return f"- {name}: {count} of {total} elements" + (f" ({where})" if where else "")


def output_line(name: str, figures: dict) -> str:
    """Non-finite output samples and peak of one side's forward pass."""
    if not figures or "output_nonfinite" not in figures:
        return f"- {name}: not measured"
    return (
        f"- {name}: {figures['output_nonfinite']} non-finite samples, peak |x| "
        f"{figures['output_peak_abs_max']:.3f}, shape {tuple(figures['output_shape'])}"
    )


def load_line(background: float | None) -> str:
    """How busy the rest of the machine was during the measurements."""
    if background is None:
        return "Background load: not measured (no /proc/stat)."
    warning = " WARNING: timings are unreliable, rerun on an idle machine." if background > 0.1 else ""
    return (
        f"Background load: other processes used {100 * background:.0f}% of the CPUs during the measurements.{warning}"
    )


def report(
    machine: dict, args: argparse.Namespace, ours: dict, peer: dict | None, peer_note: str, background: float | None
) -> str:
    """The whole printed report."""
    forward = pass_result(ours, "forward")
    training = pass_result(ours, "forward_backward")
    peer_forward = pass_result(peer["results"] if peer else None, "forward")
    peer_training = pass_result(peer["results"] if peer else None, "forward_backward")
    if peer:
        peer_text = (
            f"torchsynth {peer['torchsynth']} on torch {peer['torch']} (pytorch-lightning "
            f"{peer['pytorch_lightning']}), {peer['threads']} threads, its own environment"
        )
    else:
        peer_text = f"torchsynth: NOT MEASURED ({peer_note})"
    lines = [
        "## Modular synth benchmark: DefaultVoice vs torchsynth Voice",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']}, "
        f"Python {machine['python']}, torchddsp {machine['torchddsp']}.",
        f"Threads: torch {args.threads} on both sides (OMP/MKL_NUM_THREADS={args.threads}); "
        f"torchddsp's compiled kernels up to {forward.get('kernel_threads', '-')} (torch's count).",
        f"Peer: {peer_text}.",
        f"Shapes: batch {args.batch_size} x 4 s at 44.1 kHz (176400 samples), control rate 441 Hz, "
        f"78 parameters, float32. Each pass in a fresh subprocess; median of {args.repeats} runs requested "
        f"(timing.measure makes at least 3, fewer past the {args.budget:g} s budget) after {args.warmup} "
        f"warm-up run(s); runs made forward / fwd+bwd: torchddsp {forward.get('repeats', '-')} / "
        f"{training.get('repeats', '-')}, torchsynth {peer_forward.get('repeats', '-')} / "
        f"{peer_training.get('repeats', '-')}.",
        load_line(background),
        "",
        table(ours, peer),
        "",
        "forward: no autograd graph. fwd+bwd: gradients of mean(output^2) w.r.t. all 78 parameters. "
        "speed-up = torchsynth ms / torchddsp ms. x real time = batch * 4 s / median. peak MiB = "
        "ru_maxrss at the end minus RSS after setup (voice built, patch drawn).",
    ]
    if forward.get("peak_rss_first_call_mb") is not None:
        lines.append(
            f"torchddsp peak after its first call (numba kernels loaded from cache): forward "
            f"{fmt_mib(forward.get('peak_rss_first_call_mb'))} MiB, fwd+bwd "
            f"{fmt_mib(training.get('peak_rss_first_call_mb'))} MiB."
        )
    if forward.get("median_ms") and training.get("median_ms"):
        ratio = fmt_ratio(training["median_ms"], forward["median_ms"])
        peer_ratio = fmt_ratio(peer_training.get("median_ms"), peer_forward.get("median_ms"))
        lines.append(f"fwd+bwd / forward: torchddsp {ratio}, torchsynth {peer_ratio}.")
    lines += [
        "",
        f"Patch sampling (outside the timed passes, one call): torchddsp sound_patch + noise_seeds "
        f"{fmt_ms(forward.get('patch_ms'))} ms, torchsynth randomize {fmt_ms(peer_forward.get('randomize_ms'))} ms.",
        "",
        "Non-finite gradient elements (fwd+bwd; torchddsp must have none):",
        gradient_line("torchddsp", training),
        gradient_line("torchsynth", peer_training),
        "",
        "Forward output:",
        output_line("torchddsp", forward),
        output_line("torchsynth", peer_forward),
    ]
    errors = [f"- torchddsp {p}: {ours[p]['error']}" for p, _ in PASSES if "error" in ours.get(p, {})]
    if peer:
        errors += [
            f"- torchsynth {p}: {peer['results'][p]['error']}"
            for p, _ in PASSES
            if "error" in peer["results"].get(p, {})
        ]
    if errors:
        lines += ["", "Errors:", *errors]
    if training and training.get("grad_nonfinite_elements"):
        lines += ["", "WARNING: torchddsp produced non-finite gradients."]
    if forward and forward.get("output_nonfinite"):
        lines += ["", "WARNING: torchddsp produced non-finite output samples."]
    return "\n".join(lines)


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128, help="sounds per batch (default 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per pass (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="excluded warm-up runs (default 1)")
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds per pass; slow passes run fewer repeats, never under 3 (default 30)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on both sides (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="patch seed (torchsynth: randomize seed)")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument(
        "--torchsynth-env",
        type=Path,
        default=DEFAULT_TORCHSYNTH_ENV,
        help=f"torchsynth's virtual environment, created if missing (default {DEFAULT_TORCHSYNTH_ENV})",
    )
    parser.add_argument("--no-peer-install", action="store_true", help="never create torchsynth's environment")
    parser.add_argument("--no-peer", action="store_true", help="skip torchsynth entirely")
    parser.add_argument("--worker", choices=[p for p, _ in PASSES], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--batch-size, --repeats and --threads must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run both sides' passes, print the report, optionally write JSON (or be one worker)."""
    args = parse_args(argv)
    if args.worker:
        json.dump(worker(args), sys.stdout)
        print()
        return

    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    machine = machine_description()
    python, peer_note = None, "skipped (--no-peer)"
    if not args.no_peer:
        python, peer_note = ensure_torchsynth_env(args.torchsynth_env, not args.no_peer_install)
        if python is None:
            print(f"torchsynth environment missing: {peer_note}", file=sys.stderr, flush=True)

    monitor = LoadMonitor()
    ours = time_torchddsp(args)
    peer = None
    if python is not None:
        peer, peer_note = time_torchsynth(python, args)
    background = monitor.fraction()

    print(report(machine, args, ours, peer, peer_note, background))
    if args.json is not None:
        settings = {
            name: getattr(args, name) for name in ("batch_size", "repeats", "warmup", "budget", "threads", "seed")
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "settings": settings,
                    "torchddsp": ours,
                    "torchsynth": peer,
                    "torchsynth_note": peer_note,
                    "background_load": background,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
