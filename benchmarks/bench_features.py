"""Benchmark torchddsp's spectral losses, f0 estimation and loudness; compare the loss presets
with auraloss 0.4.0 (speed and value) and with Magenta ddsp (value), measured in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_features.py [--repeats N] [--quick] [--json PATH]
        [--magenta-python PATH] [--magenta-env DIR] [--no-peer-install] [--no-peer]

Losses: batch 4 x 4 s at 16 kHz, float32; ``forward`` under ``torch.no_grad()``,
``fwd+bwd`` = loss and its gradient w.r.t. the prediction. Against auraloss 0.4.0
(``pip install auraloss==0.4.0`` in this environment: a benchmark peer, never a dependency):
- the ``auraloss`` preset vs auraloss's ``MultiResolutionSTFTLoss()`` defaults;
- the ``magenta`` preset vs auraloss configured like it (FFT 2048..64, hop a quarter,
  window = FFT, linear plus log magnitude, no spectral convergence).
Loss values are also compared: the auraloss preset with auraloss, the magenta preset with
Magenta ddsp's ``SpectralLoss(mag_weight=1, logmag_weight=1)`` run in its own environment by
``benchmarks/peers/magenta_losses.py`` (see ``benchmarks/magenta_env.py``).

f0 and loudness: seconds of computation per second of audio (10 s of audio, batch 1) at
250 frames/s (DDSP's rate) and 100 frames/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from magenta_env import DEFAULT_MAGENTA_ENV  # benchmarks/magenta_env.py
from magenta_env import ensure_magenta_env  # benchmarks/magenta_env.py
from timing import LoadMonitor  # benchmarks/timing.py
from timing import fmt_ms  # benchmarks/timing.py
from timing import fmt_ratio  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py
from timing import measure  # benchmarks/timing.py

from torchddsp.features import a_weighted_loudness
from torchddsp.features import estimate_f0
from torchddsp.losses import MultiScaleSpectralLoss

SAMPLE_RATE = 16000
BATCH = 4
SECONDS = 4
PITCH_SECONDS = 10
SEED = 0
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "magenta_losses.py"


def make_audio(seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """A target (harmonic tones with vibrato and a swell, plus a little noise) and a prediction
    (the target detuned and rescaled, with more noise): the kind of pair a DDSP model trains on."""
    rng = np.random.default_rng(seed)
    n = SAMPLE_RATE * SECONDS
    t = np.arange(n) / SAMPLE_RATE
    target, prediction = [], []
    for b in range(BATCH):
        f0 = 110 * 2 ** (b * 7 / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        envelope = np.minimum(1, t / 0.5) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))
        tone = sum(np.sin(k * phase) / k for k in range(1, 20) if k * f0.max() < SAMPLE_RATE / 2)
        target.append(0.3 * envelope * tone + 0.003 * rng.standard_normal(n))
        detuned = sum(np.sin(k * phase * 1.01) / k**1.2 for k in range(1, 20) if k * f0.max() * 1.01 < SAMPLE_RATE / 2)
        prediction.append(0.25 * envelope * detuned + 0.01 * rng.standard_normal(n))
    as_tensor = lambda x: torch.tensor(np.stack(x), dtype=torch.float32)  # noqa: E731
    return as_tensor(prediction), as_tensor(target)


def auraloss_losses():
    """auraloss's losses for the two configurations, or (None, note) when it is missing."""
    try:
        import auraloss  # noqa: PLC0415
    except ImportError:
        return None, "auraloss is not installed (pip install auraloss==0.4.0)"
    default = auraloss.freq.MultiResolutionSTFTLoss()
    magenta_like = auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=[2048, 1024, 512, 256, 128, 64],
        hop_sizes=[512, 256, 128, 64, 32, 16],
        win_lengths=[2048, 1024, 512, 256, 128, 64],
        w_sc=0.0,
        w_log_mag=1.0,
        w_lin_mag=1.0,
    )
    return {"auraloss": default, "magenta": magenta_like}, f"auraloss {auraloss.__version__}" if hasattr(
        auraloss, "__version__"
    ) else "auraloss"


def time_losses(prediction: torch.Tensor, target: torch.Tensor, repeats: int, warmup: int, budget: float) -> dict:
    """Forward and forward+backward timings of ours and auraloss's, per preset."""
    ours = {"magenta": MultiScaleSpectralLoss.magenta(), "auraloss": MultiScaleSpectralLoss.auraloss()}
    theirs, note = auraloss_losses()
    results: dict = {"note": note}
    for preset, loss in ours.items():
        candidates = {"torchddsp": lambda x, y, loss=loss: loss(x, y)}
        if theirs is not None:
            candidates["auraloss"] = lambda x, y, loss=theirs[preset]: loss(x[:, None], y[:, None])
        for name, fn in candidates.items():

            def forward(fn=fn):
                with torch.no_grad():
                    fn(prediction, target)

            leaf = prediction.clone().requires_grad_(True)

            def training(fn=fn, leaf=leaf):
                torch.autograd.grad(fn(leaf, target), leaf)

            results.setdefault(preset, {})[name] = {
                "forward": measure(forward, repeats, warmup, budget),
                "forward_backward": measure(training, repeats, warmup, budget),
            }
    return results


def loss_values(prediction: torch.Tensor, target: torch.Tensor) -> dict:
    """Our presets' values, and auraloss's where installed."""
    values = {
        "magenta": MultiScaleSpectralLoss.magenta()(prediction, target).item(),
        "auraloss": MultiScaleSpectralLoss.auraloss()(prediction, target).item(),
    }
    theirs, _ = auraloss_losses()
    if theirs is not None:
        values["auraloss_itself"] = theirs["auraloss"](prediction[:, None], target[:, None]).item()
    return values


def magenta_loss_value(python: Path | None, prediction: torch.Tensor, target: torch.Tensor) -> float | None:
    """Magenta's SpectralLoss on the same audio, from its own environment."""
    if python is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "audio.npz"
        np.savez(inputs, prediction=prediction.numpy(), target=target.numpy())
        done = subprocess.run(
            [str(python), str(PEER_SCRIPT), "--inputs", str(inputs)],
            capture_output=True,
            text=True,
            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["spectral_loss"])


def time_pitch_and_loudness(repeats: int, warmup: int, budget: float) -> dict:
    """Seconds per second of audio for f0 (crepe tiny and full, yin) and loudness."""
    t = torch.arange(PITCH_SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    audio = (0.5 * torch.sin(2 * torch.pi * 220 * t) + 0.2 * torch.sin(2 * torch.pi * 440 * t))[None]
    jobs = {}
    for frame_rate in (250, 100):
        jobs[f"crepe tiny, {frame_rate} frames/s"] = lambda r=frame_rate: estimate_f0(audio, SAMPLE_RATE, r, "crepe")
        jobs[f"yin, {frame_rate} frames/s"] = lambda r=frame_rate: estimate_f0(audio, SAMPLE_RATE, r, "yin")
        jobs[f"loudness, {frame_rate} frames/s"] = lambda r=frame_rate: a_weighted_loudness(audio, SAMPLE_RATE, r)
    jobs["crepe full, 100 frames/s"] = lambda: estimate_f0(audio, SAMPLE_RATE, 100, "crepe", model="full")
    results = {}
    for name, job in jobs.items():
        repeats_here = 2 if "full" in name else repeats
        results[name] = measure(job, repeats_here, 1, budget)["median_ms"] / 1000 / PITCH_SECONDS
    return results


def fmt_real_time(factor: float) -> str:
    """A real-time factor (seconds of audio per second of compute) as ``0.56x``, ``12.3x`` or
    ``250x``: two decimals below 10, so a job slower than real time never rounds up to ``1x``."""
    if factor < 10:
        return f"{factor:.2f}x"
    return f"{factor:.1f}x" if factor < 100 else f"{factor:.0f}x"


def report(
    machine: dict,
    load: float | None,
    losses: dict,
    values: dict,
    magenta_value: float | None,
    magenta_note: str,
    costs: dict,
) -> str:
    lines = ["## Features and losses benchmark", ""]
    lines.append(
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads)."
    )
    if load is not None:
        warning = " WARNING: timings are unreliable, rerun on an idle machine." if load > 0.10 else ""
        lines.append(f"Background load: other processes used {load:.0%} of the CPUs during the measurements.{warning}")
    lines += [
        "",
        f"Losses: batch {BATCH} x {SECONDS} s at {SAMPLE_RATE} Hz, float32 (median ms). {losses['note']}.",
        "",
        "| preset | pass | torchddsp ms | auraloss ms | auraloss / torchddsp |",
        "|---|---|---:|---:|---:|",
    ]
    speedups = {}
    for preset in ("magenta", "auraloss"):
        for pass_name, label in (("forward", "forward"), ("forward_backward", "fwd+bwd")):
            ours = losses[preset]["torchddsp"][pass_name]["median_ms"]
            theirs = losses[preset].get("auraloss", {}).get(pass_name, {}).get("median_ms")
            speedups[(preset, pass_name)] = None if theirs is None else theirs / ours
            lines.append(f"| {preset} | {label} | {fmt_ms(ours)} | {fmt_ms(theirs)} | {fmt_ratio(theirs, ours)} |")
    lines += ["", "Loss values on the same audio:", ""]
    if "auraloss_itself" in values:
        gap = abs(values["auraloss"] - values["auraloss_itself"]) / abs(values["auraloss_itself"])
        lines.append(
            f"- auraloss preset {values['auraloss']:.6f} vs auraloss {values['auraloss_itself']:.6f} "
            f"(relative difference {gap:.2e}; target within 1%)"
        )
    if magenta_value is not None:
        gap = abs(values["magenta"] - magenta_value) / abs(magenta_value)
        lines.append(
            f"- magenta preset {values['magenta']:.6f} vs Magenta ddsp SpectralLoss {magenta_value:.6f} "
            f"(relative difference {gap:.2e}; target within 1%)"
        )
    else:
        lines.append(f"- magenta preset {values['magenta']:.6f}; Magenta not measured: {magenta_note}")
    lines += [
        "",
        f"Cost per second of audio ({PITCH_SECONDS} s, batch 1):",
        "",
        "| job | s per s of audio | x real time |",
        "|---|---:|---:|",
    ]
    for name, cost in costs.items():
        lines.append(f"| {name} | {cost:.4f} | {fmt_real_time(1 / cost)} |")
    lines += ["", "Targets:"]
    for preset in ("magenta", "auraloss"):
        for pass_name in ("forward", "forward_backward"):
            ratio = speedups[(preset, pass_name)]
            verdict = "not measured" if ratio is None else f"{ratio:.2f}x, {'met' if ratio >= 1.5 else 'NOT met'}"
            lines.append(f"- {preset} preset {pass_name} vs auraloss (target >= 1.5x faster): {verdict}")
    crepe_cost = costs["crepe tiny, 250 frames/s"]
    yin_speed = 1 / costs["yin, 250 frames/s"]
    lines.append(
        f"- crepe tiny at 250 frames/s (target <= 0.3 s per s): {crepe_cost:.3f} s, "
        f"{'met' if crepe_cost <= 0.3 else 'NOT met'}"
    )
    lines.append(
        f"- yin at 250 frames/s (target >= 100x real time): {fmt_real_time(yin_speed)}, {'met' if yin_speed >= 100 else 'NOT met'}"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per measurement, at most")
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke test, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--magenta-python", type=Path, help="interpreter of a working Magenta environment")
    parser.add_argument("--magenta-env", type=Path, default=DEFAULT_MAGENTA_ENV)
    parser.add_argument("--no-peer-install", action="store_true", help="never create Magenta's environment")
    parser.add_argument("--no-peer", action="store_true", help="skip Magenta")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.budget = 3, 1, 5.0
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(SEED)
    prediction, target = make_audio()
    magenta_python, magenta_note = None, "skipped (--no-peer)"
    if not args.no_peer:
        if args.magenta_python is not None:
            magenta_python, magenta_note = args.magenta_python, ""
        else:
            magenta_python, magenta_note = ensure_magenta_env(args.magenta_env, not args.no_peer_install)
    monitor = LoadMonitor()
    losses = time_losses(prediction, target, args.repeats, args.warmup, args.budget)
    costs = time_pitch_and_loudness(args.repeats, args.warmup, args.budget)
    load = monitor.fraction()
    values = loss_values(prediction, target)
    magenta_value = magenta_loss_value(magenta_python, prediction, target)
    text = report(machine_description(), load, losses, values, magenta_value, magenta_note, costs)
    print(text)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"losses": losses, "values": values, "magenta_value": magenta_value, "costs": costs, "load": load},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
