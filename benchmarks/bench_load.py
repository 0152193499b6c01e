"""No performance cliffs, by input or by load: every hot path timed idle and beside busy processes.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_load.py [--repeats 10] [--loads 0,1,2] [--only NAME,...]
        [--json PATH] [--no-peer] [--magenta-python PATH] [--no-peer-install]

Each case is a call a user makes with the library's default settings (default constructors,
default thread count, float32, CPU) on one *input family* (see ``FAMILIES`` below: f0
constant, smooth, random per frame or crossing Nyquist; ``scale_fn`` default or None;
silence; very small amplitudes that drive float32 into subnormal numbers). Every case runs at
each load: idle, then beside one and two busy background processes (``sh -c 'while :; do :;
done'``, started and killed by this script, the way a DAW, a data loader or a second training
run would compete for the 2 cores). Per case and load: ``--repeats`` timed calls after two
warm-up calls.

Targets (checked and printed):
- load: under one and under two busy processes, the slowest of the repeats of every case is
  within 3x of the same case's idle median (no stalls);
- input: for each operation and pass, the idle median of its slowest input family is within
  2x of its fastest family's (no input-dependent cliff);
- Magenta: ``Harmonic`` forward (smooth f0) at least 10x faster than Magenta's (the faster of
  eager and ``tf.function``) under the same load (``benchmarks/peers/magenta_synth.py`` in
  Magenta's own environment, started while the same busy processes run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from magenta_env import DEFAULT_MAGENTA_ENV  # benchmarks/magenta_env.py
from magenta_env import ensure_magenta_env  # benchmarks/magenta_env.py
from timing import machine_description  # benchmarks/timing.py

import torchddsp as td
from torchddsp.functional import biquad
from torchddsp.functional import lfilter
from torchddsp.functional import sosfilt
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.modular import DefaultVoice

SR = 16000
BATCH = 4
N_FRAMES = 1000
N_SAMPLES = 64000
TINY = 1e-38  # times a distribution or a filter gain, this is below float32's smallest normal


@dataclass
class Case:
    operation: str  # e.g. "Harmonic"
    pass_name: str  # "forward" or "fwd+bwd"
    family: str
    run: Callable[[], object]

    @property
    def name(self) -> str:
        return f"{self.operation} {self.pass_name} [{self.family}]"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _forward(render: Callable[[], torch.Tensor]) -> Callable[[], object]:
    def run():
        with torch.no_grad():
            return render()

    return run


def _training(render: Callable[[], torch.Tensor], leaves: list[torch.Tensor]) -> Callable[[], object]:
    def run():
        return torch.autograd.grad(render().square().mean(), leaves)

    return run


# Input families ------------------------------------------------------------------------------


def f0_family(name: str) -> torch.Tensor:
    """``(BATCH, N_FRAMES, 1)`` f0 in Hz for each f0 family."""
    frames = torch.arange(N_FRAMES, dtype=torch.float64) / 250.0
    if name == "constant":
        f0 = torch.full((BATCH, N_FRAMES), 220.0, dtype=torch.float64)
    elif name == "smooth":  # glides and vibrato between about 100 and 800 Hz
        base = 100.0 * 8.0 ** (0.5 + 0.5 * torch.sin(2 * torch.pi * 0.3 * frames + torch.arange(BATCH)[:, None]))
        f0 = base * (1 + 0.01 * torch.sin(2 * torch.pi * 5.5 * frames))
    elif name == "random per frame":  # a new pitch every frame, 50 Hz to 2 kHz
        f0 = 50.0 * 40.0 ** torch.rand(BATCH, N_FRAMES, generator=_generator(1), dtype=torch.float64)
    elif name == "crossing Nyquist":  # 100 Hz to 7.9 kHz: harmonics cross Nyquist all along
        f0 = (100.0 * 79.0 ** (frames / frames[-1])).expand(BATCH, -1)
    else:
        raise ValueError(name)
    return f0.float()[..., None].contiguous()


def harmonic_cases() -> list[Case]:
    cases = []
    raw = torch.randn(BATCH, N_FRAMES, 1, generator=_generator(2))
    raw_distribution = torch.randn(BATCH, N_FRAMES, 60, generator=_generator(3))
    positive = torch.rand(BATCH, N_FRAMES, 60, generator=_generator(4)) / 30
    families = {
        f"f0 {name}": (td.Harmonic(SR), raw, raw_distribution, f0_family(name))
        for name in ("constant", "smooth", "random per frame", "crossing Nyquist")
    }
    plain = td.Harmonic(SR, scale_fn=None)
    smooth = f0_family("smooth")
    families["scale_fn None"] = (plain, torch.full((BATCH, N_FRAMES, 1), 0.5), positive, smooth)
    families["silence"] = (plain, torch.zeros(BATCH, N_FRAMES, 1), positive, smooth)
    families["very small amplitudes"] = (plain, torch.full((BATCH, N_FRAMES, 1), TINY), positive, smooth)
    for family, (synth, amplitudes, distribution, f0) in families.items():

        def render(synth=synth, a=amplitudes, d=distribution, f0=f0):
            return synth(a, d, f0, n_samples=N_SAMPLES)

        cases.append(Case("Harmonic", "forward", family, _forward(render)))
        a, d = amplitudes.clone().requires_grad_(), distribution.clone().requires_grad_()
        cases.append(
            Case(
                "Harmonic",
                "fwd+bwd",
                family,
                _training(lambda synth=synth, a=a, d=d, f0=f0: synth(a, d, f0, n_samples=N_SAMPLES), [a, d]),
            )
        )
    return cases


def noise_cases() -> list[Case]:
    cases = []
    plain = td.FilteredNoise(scale_fn=None)
    families = {
        "default": (td.FilteredNoise(), torch.randn(BATCH, N_FRAMES, 65, generator=_generator(5))),
        "scale_fn None": (plain, torch.rand(BATCH, N_FRAMES, 65, generator=_generator(6))),
        "silence": (plain, torch.zeros(BATCH, N_FRAMES, 65)),
        "very small amplitudes": (plain, torch.full((BATCH, N_FRAMES, 65), TINY)),
    }
    for family, (noise, magnitudes) in families.items():
        cases.append(
            Case(
                "FilteredNoise",
                "forward",
                family,
                _forward(lambda noise=noise, m=magnitudes: noise(m, n_samples=N_SAMPLES, generator=_generator(7))),
            )
        )
    return cases


def filter_inputs() -> dict[str, torch.Tensor]:
    noise = torch.randn(BATCH, N_SAMPLES, generator=_generator(8)) * 0.1
    impulse = torch.zeros(BATCH, N_SAMPLES)
    impulse[:, 0] = 1.0  # then silence: a resonant filter's tail decays into subnormal numbers
    return {
        "noise": noise,
        "silence": torch.zeros(BATCH, N_SAMPLES),
        "very small amplitudes": noise * TINY,
        "impulse then silence": impulse,
    }


def filter_cases() -> list[Case]:
    cases = []
    b2, a2 = torch.tensor([[0.02, 0.04, 0.02]]), torch.tensor([[1.0, -1.96, 0.9604]])  # poles at 0.98
    sections = biquad("lowpass", torch.tensor([300.0, 1000.0, 3000.0, 6000.0]), torch.tensor([4.0, 2.0, 1.0, 0.7]), SR)[
        None
    ]  # (1, 4, 6)
    for family, x in filter_inputs().items():
        cases.append(Case("lfilter order 2", "forward", family, _forward(lambda x=x: lfilter(x, b2, a2))))
        cases.append(Case("sosfilt 4 sections", "forward", family, _forward(lambda x=x: sosfilt(x, sections))))
    return cases


def loss_cases() -> list[Case]:
    cases = []
    noise = torch.randn(BATCH, N_SAMPLES, generator=_generator(9)) * 0.1
    t = torch.arange(N_SAMPLES) / SR
    tones = torch.sin(2 * torch.pi * torch.tensor([220.0, 330.0, 440.0, 550.0])[:, None] * t) * 0.5
    families = {
        "noise": (noise, noise * 0.5 + 0.01 * tones),
        "tones": (tones, 0.8 * tones.roll(7, -1)),
        "silence": (torch.zeros(BATCH, N_SAMPLES), torch.zeros(BATCH, N_SAMPLES)),
        "very small amplitudes": (noise * TINY, noise * 0.5 * TINY),
    }
    for preset in ("magenta", "auraloss"):
        loss = getattr(MultiScaleSpectralLoss, preset)()
        for family, (prediction, target) in families.items():
            leaf = prediction.clone().requires_grad_()
            cases.append(
                Case(
                    f"spectral loss ({preset})",
                    "fwd+bwd",
                    family,
                    lambda loss=loss, p=leaf, t=target: torch.autograd.grad(loss(p, t), [p]),
                )
            )
    return cases


def voice_cases() -> list[Case]:
    voice = DefaultVoice()  # torchsynth's defaults: 4 s at 44.1 kHz
    generator = _generator(10)
    random = voice.random_patch(8, generator)
    corners = torch.tensor([[float((i >> j) & 1) for j in range(voice.n_parameters)] for i in range(8)])
    silent = random.clone()
    for name in ("mixer.vco_1", "mixer.vco_2", "mixer.noise"):
        silent[:, voice.parameter_names.index(name)] = 0.0
    seeds = voice.noise_seeds(torch.arange(8))
    cases = []
    for family, patch in (("random patches", random), ("corner patches", corners), ("silent mixer", silent)):
        cases.append(Case("DefaultVoice (batch 8)", "forward", family, _forward(lambda p=patch: voice(p, seeds))))
    return cases


def all_cases() -> list[Case]:
    return harmonic_cases() + noise_cases() + filter_cases() + loss_cases() + voice_cases()


# Load ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` processes spinning on the CPU for the duration of the block."""
    processes = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(count)]
    try:
        time.sleep(0.5 if count else 0.0)  # let the scheduler spread them
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def time_calls(run: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds of ``repeats`` calls after two warm-up calls."""
    run()
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def magenta_harmonic(python: Path, repeats: int) -> dict | None:
    """Magenta's Harmonic forward on the smooth family's controls, timed in its own venv."""
    amplitudes = torch.randn(BATCH, N_FRAMES, 1, generator=_generator(2)).numpy()
    distribution = torch.randn(BATCH, N_FRAMES, 60, generator=_generator(3)).numpy()
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "inputs.npz"
        np.savez(
            inputs,
            amplitudes=amplitudes,
            harmonic_distribution=distribution,
            f0_hz=f0_family("smooth").numpy(),
            magnitudes=np.zeros((BATCH, N_FRAMES, 65), np.float32),
            audio=np.zeros((BATCH, N_SAMPLES), np.float32),
            sample_rate=SR,
            seed=0,
            reverb_length=16,
        )
        script = Path(__file__).resolve().parent / "peers" / "magenta_synth.py"
        command = [
            str(python),
            str(script),
            "--inputs",
            str(inputs),
            "--cases",
            "harmonic",
            "--passes",
            "forward",
            "--repeats",
            str(repeats),
            "--warmup",
            "2",
            "--budget",
            "60",
        ]
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, timeout=1800, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        )
    if done.returncode != 0:
        return None
    modes = json.loads(done.stdout)["results"]["harmonic"]["forward"]
    return min(modes.values(), key=lambda m: m["median_ms"])


# Report --------------------------------------------------------------------------------------


def load_table(cases: list[Case], times: dict, loads: list[int]) -> tuple[list[str], bool]:
    busy = [n for n in loads if n > 0]
    header = "| case | idle median ms | " + " | ".join(f"{n} busy: median / slowest ms" for n in busy)
    header += " | slowest / idle median | within 3x |"
    lines = [header, "|" + "---|" * (3 + len(busy)) + "---|"]
    all_met = True
    for case in cases:
        idle = statistics.median(times[case.name][0])
        cells, worst = [], 0.0
        for n in busy:
            values = times[case.name][n]
            cells.append(f"{statistics.median(values):.1f} / {max(values):.1f}")
            worst = max(worst, max(values) / idle)
        met = worst <= 3.0
        all_met &= met
        lines.append(
            f"| {case.name} | {idle:.1f} | " + " | ".join(cells) + f" | {worst:.2f}x | {'yes' if met else 'NO'} |"
        )
    return lines, all_met


def summary_table(cases: list[Case], times: dict, loads: list[int]) -> list[str]:
    """Per operation and pass: its idle medians (fastest to slowest family) and the worst
    slowest-call / idle-median ratio over its families under each load."""
    busy = [n for n in loads if n > 0]
    lines = [
        "| operation | pass | idle median ms (families) | "
        + " | ".join(f"worst slowest / idle, {n} busy" for n in busy)
        + " |",
        "|---|---|---|" + "---:|" * len(busy),
    ]
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.operation, case.pass_name), []).append(case)
    for (operation, pass_name), members in groups.items():
        idle = [statistics.median(times[c.name][0]) for c in members]
        worst = [max(max(times[c.name][n]) / statistics.median(times[c.name][0]) for c in members) for n in busy]
        lines.append(
            f"| {operation} | {pass_name} | {min(idle):.1f}-{max(idle):.1f} | "
            + " | ".join(f"{w:.1f}x" for w in worst)
            + " |"
        )
    return lines


def family_table(cases: list[Case], times: dict) -> tuple[list[str], bool]:
    lines = [
        "| operation | pass | fastest family (idle ms) | slowest family (idle ms) | slowest / fastest | within 2x |",
        "|---|---|---|---|---:|---|",
    ]
    all_met = True
    groups: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for case in cases:
        groups.setdefault((case.operation, case.pass_name), []).append(
            (statistics.median(times[case.name][0]), case.family)
        )
    for (operation, pass_name), medians in groups.items():
        fastest, slowest = min(medians), max(medians)
        ratio = slowest[0] / fastest[0]
        met = ratio <= 2.0
        all_met &= met
        lines.append(
            f"| {operation} | {pass_name} | {fastest[1]} ({fastest[0]:.1f}) | {slowest[1]} ({slowest[0]:.1f}) "
            f"| {ratio:.2f}x | {'yes' if met else 'NO'} |"
        )
    return lines, all_met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--loads", default="0,1,2", help="numbers of busy background processes (0 first)")
    parser.add_argument("--only", default="", help="comma-separated operation name prefixes to run")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument("--from-json", type=Path, help="print the report of timings saved by --json (no runs)")
    parser.add_argument("--no-peer", action="store_true", help="skip Magenta")
    parser.add_argument("--magenta-python", type=Path, help="interpreter of a working Magenta environment")
    parser.add_argument("--magenta-env", type=Path, default=DEFAULT_MAGENTA_ENV)
    parser.add_argument("--no-peer-install", action="store_true", help="never create Magenta's environment")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    loads = [int(n) for n in args.loads.split(",")]
    if loads[0] != 0:
        raise SystemExit("--loads must start with 0 (the idle baseline)")
    cases = [c for c in all_cases() if not args.only or any(c.operation.startswith(p) for p in args.only.split(","))]
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        times = {name: {int(n): v for n, v in per_load.items()} for name, per_load in saved["times_ms"].items()}
        cases = [c for c in cases if c.name in times]
        loads = sorted(next(iter(times.values())))
        magenta = {int(n): v for n, v in saved["magenta"].items()}
        machine, environment = saved["machine"], saved.get("environment", {})
        print("\n".join(report(args, cases, times, loads, magenta, "", machine, environment)))
        return
    magenta_python, magenta_note = None, "skipped (--no-peer)"
    if not args.no_peer:
        magenta_python = args.magenta_python or ensure_magenta_env(args.magenta_env, not args.no_peer_install)[0]
        magenta_note = "" if magenta_python else "Magenta's environment is not available"
    times: dict[str, dict[int, list[float]]] = {c.name: {} for c in cases}
    magenta: dict[int, dict | None] = {}
    for load in loads:
        with busy_processes(load):
            for case in cases:
                print(f"{load} busy: {case.name}", file=sys.stderr, flush=True)
                times[case.name][load] = time_calls(case.run, args.repeats)
            if magenta_python is not None:
                print(f"{load} busy: Magenta Harmonic", file=sys.stderr, flush=True)
                magenta[load] = magenta_harmonic(magenta_python, args.repeats)
    machine = machine_description()
    environment = {name: os.environ.get(name, "") for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    print("\n".join(report(args, cases, times, loads, magenta, magenta_note, machine, environment)))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine, "environment": environment, "times_ms": times, "magenta": magenta}, indent=1
            )
        )


def report(args, cases, times, loads, magenta, magenta_note, machine, environment) -> list[str]:
    settings = ", ".join(f"{k}={v}" for k, v in environment.items() if v) or "no OpenMP variables set"
    lines = [
        "## Load and input-family benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']} with "
        f"{machine['torch_threads']} threads, torchddsp {machine['torchddsp']}; {settings}; {args.repeats} calls "
        f"per case and load after 2 warm-up calls; busy processes: `sh -c 'while :; do :; done'`.",
        "",
    ]
    table, load_met = load_table(cases, times, loads)
    lines += table + [""] + summary_table(cases, times, loads) + [""]
    table, family_met = family_table(cases, times)
    lines += table + [""]
    if magenta:
        lines += [
            "| busy processes | torchddsp Harmonic forward median ms | Magenta median ms | Magenta / torchddsp |",
            "|---:|---:|---:|---:|",
        ]
        ours_name = "Harmonic forward [f0 smooth]"
        for load, theirs in magenta.items():
            ours = statistics.median(times[ours_name][load]) if ours_name in times else float("nan")
            if theirs is None:
                lines.append(f"| {load} | {ours:.1f} | failed | - |")
            else:
                lines.append(f"| {load} | {ours:.1f} | {theirs['median_ms']:.0f} | {theirs['median_ms'] / ours:.1f}x |")
        lines.append("")
    elif magenta_note:
        lines += [f"Magenta: {magenta_note}.", ""]
    lines.append(
        f"Targets: slowest of every case within 3x of its idle median under load: {'met' if load_met else 'NOT met'}; "
        f"slowest input family within 2x of the fastest: {'met' if family_met else 'NOT met'}."
    )
    return lines


if __name__ == "__main__":
    main()
