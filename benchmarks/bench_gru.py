"""Forward + backward of the decoder's GRU: ``nn.GRU`` against ``torchddsp.models.gru``
(``gru_sequence``, a hand-written backward), the same weights and input, in one process.

Usage (from the repository root)::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_gru.py [--repeats 5] [--threads 1 2] [--training-steps N]

Case: the ``solo_instrument`` decoder's GRU, float32: batch 16 x 1000 frames (4 s at 250
frames/s), input 1024 (two 512-wide input MLPs, f0 and loudness), hidden 512; one step is
``output, h_n = gru(x)`` and ``backward`` of a fixed random projection of both (every
gradient: x and the four weights). For each thread count (``torch.set_num_threads``) the two
implementations run alternately, ``--repeats`` pairs after one warm-up pair, the order swapped
every pair, so that a change in the machine's load falls on both. Reported per thread count:
the median wall time and process CPU time of each, and the median of the per-pair ratios
(nn.GRU / ours: above 1 is faster): on a shared machine these interleaved ratios are what
counts, the absolute times are not. Before timing, the largest differences of the output and
the gradients from nn.GRU's are printed (float32 rounding).

``--training-steps N`` adds N interleaved pairs of whole ``solo_instrument`` training steps
(``bench_training_vs_magenta.TorchStep``: batch 16 x 4 s, Adam, the config's loss; about 7 CPU
seconds each) with the decoder's GRU call switched between the two, at the last thread count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from timing import LoadMonitor  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py

import torchddsp.models.decoders as decoders
from torchddsp.models.gru import gru_sequence
from torchddsp.models.gru import run_gru


def make_case(batch: int, n_frames: int, input_size: int, hidden: int) -> tuple[torch.nn.GRU, torch.Tensor, tuple]:
    """A seeded GRU, its input (requires grad) and the output gradients."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(input_size, hidden, batch_first=True)
    x = torch.randn(batch, n_frames, input_size, requires_grad=True)
    return gru, x, (torch.randn(batch, n_frames, hidden), torch.randn(batch, hidden))


def step(kind: str, gru: torch.nn.GRU, x: torch.Tensor, grads: tuple) -> None:
    """One forward + backward (gradients accumulate into .grad; cleared first)."""
    x.grad = None
    gru.zero_grad(set_to_none=True)
    if kind == "nn.GRU":
        output, h_n = gru(x)
        h_n = h_n[0]
    else:
        output, h_n = gru_sequence(x, *gru.parameters())
    ((output * grads[0]).sum() + (h_n * grads[1]).sum()).backward()


def differences(gru: torch.nn.GRU, x: torch.Tensor, grads: tuple) -> dict[str, float]:
    """Largest |ours - nn.GRU| of the output and of each gradient, relative to nn.GRU's largest."""
    results = {}
    for kind in ("nn.GRU", "ours"):
        step(kind, gru, x, grads)
        with torch.no_grad():
            output = gru(x)[0] if kind == "nn.GRU" else gru_sequence(x, *gru.parameters())[0]
        results[kind] = [output, x.grad, *(p.grad for p in gru.parameters())]
    names = ("output", "x", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {
        name: ((ours - reference).abs().max() / reference.abs().max()).item()
        for name, reference, ours in zip(names, results["nn.GRU"], results["ours"])
    }


def timed(kind: str, case: tuple) -> tuple[float, float]:
    """(wall s, process CPU s) of one step."""
    wall, cpu = time.perf_counter(), time.process_time()
    step(kind, *case)
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(case: tuple, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """One warm-up pair, then ``repeats`` pairs, the order swapped every pair."""
    times: dict[str, list[tuple[float, float]]] = {"nn.GRU": [], "ours": []}
    for kind in times:
        timed(kind, case)
    for repeat in range(repeats):
        order = ("nn.GRU", "ours") if repeat % 2 == 0 else ("ours", "nn.GRU")
        for kind in order:
            times[kind].append(timed(kind, case))
    return times


def report(threads: int, times: dict, load: float | None) -> str:
    """One markdown table row per implementation."""
    ratios = [ref[0] / ours[0] for ref, ours in zip(times["nn.GRU"], times["ours"])]
    cpu_ratios = [ref[1] / ours[1] for ref, ours in zip(times["nn.GRU"], times["ours"])]
    rows = []
    for kind, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        ratio = (
            "1.00x"
            if kind == "nn.GRU"
            else f"{statistics.median(ratios):.2f}x wall, {statistics.median(cpu_ratios):.2f}x CPU"
        )
        share = "-" if load is None else f"{100 * load:.0f} %"
        rows.append(f"| {threads} | {kind} | {wall:.2f} | {cpu:.2f} | {ratio} | {len(values)} | {share} |")
    return "\n".join(rows)


def training_steps(pairs: int) -> str:
    """The whole solo_instrument training step (``bench_training_vs_magenta.TorchStep``: batch
    16 x 4 s, Adam, the config's loss) with the decoder's GRU call switched between the fast
    path and ``nn.GRU``: two models from one seed, one warm-up step each, then ``pairs``
    interleaved pairs. Returns a markdown table."""
    from bench_training_vs_magenta import CONFIG  # noqa: PLC0415  (its data preparation, imported only here)
    from bench_training_vs_magenta import TorchStep  # noqa: PLC0415
    from bench_training_vs_magenta import prepare_examples  # noqa: PLC0415

    from torchddsp.training import load_config  # noqa: PLC0415

    config = load_config(CONFIG)
    arrays = prepare_examples(config, 2)
    calls = {"nn.GRU": lambda rnn, x, hidden=None: rnn(x, hidden), "ours": run_gru}
    steps = {}
    for kind in calls:
        torch.manual_seed(0)
        steps[kind] = TorchStep(config, arrays)

    def one(kind: str) -> tuple[float, float]:
        decoders.run_gru = calls[kind]  # the name RnnFcDecoder.forward calls
        cpu = time.process_time()
        wall, _ = steps[kind].one()
        return wall, time.process_time() - cpu

    times: dict[str, list[tuple[float, float]]] = {kind: [] for kind in calls}
    for kind in calls:
        one(kind)
    for repeat in range(pairs):
        for kind in list(calls) if repeat % 2 == 0 else list(calls)[::-1]:
            times[kind].append(one(kind))
    decoders.run_gru = run_gru
    header = "| threads | GRU in the step | median wall s | median CPU s | ours vs nn.GRU | pairs | others |"
    return "\n".join([header, "|---:|---|---:|---:|---|---:|---:|", report(torch.get_num_threads(), times, None)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed pairs per thread count (0: none)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--input-size", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--training-steps", type=int, default=0, help="also time N pairs of whole training steps")
    args = parser.parse_args()
    case = make_case(args.batch, args.frames, args.input_size, args.hidden)
    print(machine_description())
    print(f"batch {args.batch} x {args.frames} frames, input {args.input_size}, hidden {args.hidden}, float32")
    torch.set_num_threads(min(args.threads))  # the check is not timed: the fewest threads stall least
    print("largest |ours - nn.GRU| / max|nn.GRU|:", {k: f"{v:.1e}" for k, v in differences(*case).items()})
    if args.repeats > 0:
        print(
            "\n| threads | GRU | median wall s | median CPU s | ours vs nn.GRU (median of pair ratios) | pairs | others |"
        )
        print("|---:|---|---:|---:|---|---:|---:|")
    for threads in args.threads if args.repeats > 0 else []:
        torch.set_num_threads(threads)
        monitor = LoadMonitor()
        times = interleaved(case, args.repeats)
        print(report(threads, times, monitor.fraction()), flush=True)
    if args.training_steps:
        print(f"\nWhole solo_instrument training steps, {torch.get_num_threads()} thread(s):\n")
        print(training_steps(args.training_steps))


if __name__ == "__main__":
    main()
