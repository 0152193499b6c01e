"""Benchmark torchddsp's Harmonic, FilteredNoise and Reverb against a plain PyTorch reference
and Magenta's TensorFlow ddsp, measured in the same run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_synth.py [--repeats N] [--quick] [--json PATH]
        [--magenta-python PATH] [--magenta-env DIR] [--no-peer-install] [--no-peer]

Shapes: batch 4, 4 s at 16 kHz (64000 samples), 1000 frames (hop 64); Harmonic with 60
harmonics and a smooth random pitch contour between 100 and 800 Hz, FilteredNoise with 65
bands, Reverb with a trainable 48000-tap impulse response. CPU, float32, torch's default
threads, no ``torch.compile``.

Passes: ``forward`` renders under ``torch.no_grad()`` (TensorFlow: no tape);
``forward+backward`` renders with gradients enabled and computes the gradients of
``mean(output ** 2)`` with respect to every control (and the reverb's impulse response).
Timing: warm-up runs excluded, then the median of ``--repeats`` runs (fewer when a single
run is slow) measured with ``time.perf_counter``.

Peers:
- ``reference``: the obvious PyTorch implementation, written below: controls upsampled per
  harmonic to audio rate (``F.interpolate`` for frequencies, Hann overlap-add with
  ``conv_transpose1d`` for amplitudes), a float64 cumulative sum of phase and a sine per
  harmonic and sample; per-frame FIR filters (``irfft`` + Hann window) applied block by
  block by FFT and overlap-added; one large FFT convolution for reverb.
- ``Magenta``: ``ddsp`` 3.7.0 on TensorFlow 2.15 (CPU), run by ``benchmarks/peers/magenta_synth.py``
  in its own virtual environment (created on first use, see ``ensure_magenta_env``), timed
  both eagerly and inside ``tf.function``; ratios use the faster of the two. Its
  ``FilteredNoise`` default ``window_size=257`` is clipped to the 128-tap response of 65
  bands: the same filter length as torchddsp's default.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from magenta_env import DEFAULT_MAGENTA_ENV  # benchmarks/magenta_env.py
from magenta_env import ensure_magenta_env  # benchmarks/magenta_env.py
from magenta_env import magenta_works  # benchmarks/magenta_env.py
from timing import LoadMonitor  # benchmarks/timing.py
from timing import fmt_ms  # benchmarks/timing.py
from timing import fmt_ratio  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py
from timing import measure  # benchmarks/timing.py

import torchddsp

SAMPLE_RATE = 16000
BATCH = 4
N_SAMPLES = 64000
N_FRAMES = 1000
N_HARMONICS = 60
N_BANDS = 65
REVERB_LENGTH = 48000
NOISE_BIAS = -5.0  # FilteredNoise's initial_bias (the same in torchddsp and Magenta)
SEED = 0

BENCH_DIR = Path(__file__).resolve().parent
PEER_SCRIPT = BENCH_DIR / "peers" / "magenta_synth.py"

CASES = (
    ("harmonic", f"Harmonic ({N_HARMONICS} harmonics)"),
    ("filtered_noise", f"FilteredNoise ({N_BANDS} bands)"),
    ("reverb", f"Reverb ({REVERB_LENGTH} taps)"),
)
PASSES = (("forward", "forward"), ("forward_backward", "fwd+bwd"))


# ----------------------------------------------------------------------------- inputs


def pitch_contour(
    rng: np.random.Generator,
    batch: int,
    n_frames: int,
    frame_rate: float,
    low_hz: float = 100.0,
    high_hz: float = 800.0,
) -> np.ndarray:
    """Smooth random pitch contours ``(batch, n_frames, 1)`` in Hz spanning ``[low_hz, high_hz]``.

    Each contour is a sum of four slow sinusoids in MIDI pitch (0.1 to 1.5 Hz, random
    phases and depths) rescaled so that it spans exactly the given range.
    """
    time_s = np.arange(n_frames) / frame_rate
    rates = rng.uniform(0.1, 1.5, size=(batch, 4, 1))
    phases = rng.uniform(0.0, 2 * np.pi, size=(batch, 4, 1))
    depths = rng.uniform(0.2, 1.0, size=(batch, 4, 1))
    curve = (depths * np.sin(2 * np.pi * rates * time_s + phases)).sum(axis=1)
    curve = (curve - curve.min(axis=1, keepdims=True)) / np.ptp(curve, axis=1, keepdims=True)
    low_midi, high_midi = (69 + 12 * np.log2(hz / 440.0) for hz in (low_hz, high_hz))
    midi = low_midi + curve * (high_midi - low_midi)
    return (440.0 * 2 ** ((midi - 69) / 12))[..., None].astype(np.float32)


def make_inputs(seed: int = SEED) -> dict[str, np.ndarray]:
    """Network-like raw controls and test audio shared by every implementation (float32)."""
    rng = np.random.default_rng(seed)
    hop = N_SAMPLES // N_FRAMES
    return {
        "amplitudes": rng.standard_normal((BATCH, N_FRAMES, 1), dtype=np.float32),
        "harmonic_distribution": rng.standard_normal((BATCH, N_FRAMES, N_HARMONICS), dtype=np.float32),
        "f0_hz": pitch_contour(rng, BATCH, N_FRAMES, SAMPLE_RATE / hop),
        "magnitudes": rng.standard_normal((BATCH, N_FRAMES, N_BANDS), dtype=np.float32),
        "audio": rng.uniform(-1.0, 1.0, size=(BATCH, N_SAMPLES)).astype(np.float32),
        "sample_rate": np.array(SAMPLE_RATE),
        "reverb_length": np.array(REVERB_LENGTH),
        "seed": np.array(seed),
    }


def leaf(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor that requires grad (forward passes run under ``no_grad`` anyway)."""
    return torch.tensor(array, dtype=torch.float32, requires_grad=True)


# ------------------------------------------------------------------ PyTorch reference


def reference_exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's scale function: ``2 * sigmoid(x) ** ln(10) + 1e-7``."""
    return 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7


def reference_upsample_linear(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``(batch, n_frames, channels)`` -> ``(batch, channels, n_samples)`` by linear interpolation.

    Frame ``i`` sits at sample ``i * hop``; the last frame is held for the final hop.
    """
    held = torch.cat([x, x[:, -1:]], dim=1).transpose(1, 2)
    return F.interpolate(held, size=n_samples + 1, mode="linear", align_corners=True)[..., :n_samples]


def reference_upsample_hann(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``(batch, n_frames, channels)`` -> ``(batch, channels, n_samples)`` by Hann overlap-add.

    Frame ``i`` is spread by a Hann window of ``2 * hop`` samples centred on sample
    ``i * hop`` (50% overlap); the last frame is held for the final hop.
    """
    batch, n_frames, channels = x.shape
    hop = n_samples // n_frames
    held = torch.cat([x, x[:, -1:]], dim=1).transpose(1, 2).reshape(batch * channels, 1, n_frames + 1)
    window = torch.hann_window(2 * hop, periodic=True, dtype=x.dtype).view(1, 1, -1)
    spread = F.conv_transpose1d(held, window, stride=hop)  # window of frame i starts at i * hop
    return spread[..., hop : hop + n_samples].reshape(batch, channels, n_samples)


def reference_harmonic_controls(
    amplitudes: torch.Tensor, harmonic_distribution: torch.Tensor, f0_hz: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw network outputs -> positive amplitudes and a distribution normalised over the
    harmonics below Nyquist (DDSP's ``Harmonic.get_controls``)."""
    amplitudes = reference_exp_sigmoid(amplitudes)
    distribution = reference_exp_sigmoid(harmonic_distribution)
    harmonics = torch.arange(1, distribution.shape[-1] + 1, dtype=f0_hz.dtype)
    distribution = distribution * (f0_hz * harmonics < sample_rate / 2)
    return amplitudes, distribution / distribution.sum(dim=-1, keepdim=True)


def reference_harmonic_synthesis(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    harmonic_distribution: torch.Tensor,
    n_samples: int,
    sample_rate: float,
) -> torch.Tensor:
    """A sine per harmonic and sample: ``(batch, n_frames, 1|n_harmonics)`` -> ``(batch, n_samples)``.

    Frequencies ``k * f0`` are upsampled linearly, amplitudes by Hann overlap-add; the phase
    of sample ``n`` is ``2 pi sum_{m <= n} f[m] / sample_rate`` (cumulative sum in float64);
    partials at or above Nyquist are silent.
    """
    harmonics = torch.arange(1, harmonic_distribution.shape[-1] + 1, dtype=f0_hz.dtype)
    frequencies = reference_upsample_linear(f0_hz * harmonics, n_samples)  # (batch, K, n_samples)
    envelopes = reference_upsample_hann(amplitudes * harmonic_distribution, n_samples)
    cycles = torch.cumsum(frequencies.double() / sample_rate, dim=-1)
    sines = torch.sin((2 * math.pi * (cycles - torch.floor(cycles))).to(envelopes.dtype))
    audible = frequencies < sample_rate / 2
    return (envelopes * sines * audible).sum(dim=1)


def reference_harmonic(
    amplitudes: torch.Tensor,
    harmonic_distribution: torch.Tensor,
    f0_hz: torch.Tensor,
    n_samples: int,
    sample_rate: float,
) -> torch.Tensor:
    """Raw controls to audio, as ``torchddsp.Harmonic()`` does."""
    amplitudes, distribution = reference_harmonic_controls(amplitudes, harmonic_distribution, f0_hz, sample_rate)
    return reference_harmonic_synthesis(f0_hz, amplitudes, distribution, n_samples, sample_rate)


def reference_filtered_noise(magnitudes: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    """Uniform noise filtered block by block by per-frame linear-phase FIR filters.

    Frame ``i``'s magnitudes (after ``exp_sigmoid(x - 5)``) become a zero-phase response by
    ``irfft``, made causal and Hann-windowed (``2 * (n_bands - 1)`` taps, delay of half of
    that); block ``i`` of the noise is convolved with it (FFT of the block and the filter),
    the blocks are overlap-added and the delay is removed. The noise is ``torch.rand`` from
    a generator seeded with ``seed``, mapped to [-1, 1).
    """
    magnitudes = reference_exp_sigmoid(magnitudes + NOISE_BIAS)
    batch, n_frames, n_bands = magnitudes.shape
    n_taps = 2 * (n_bands - 1)
    impulse = torch.roll(torch.fft.irfft(magnitudes, n=n_taps), n_taps // 2, dims=-1)
    impulse = impulse * torch.hann_window(n_taps, periodic=True, dtype=impulse.dtype)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, n_samples, generator=generator) * 2.0 - 1.0
    block = n_samples // n_frames
    segment = block + n_taps - 1  # length of one block's full convolution
    n_fft = 1 << (segment - 1).bit_length()
    spectra = torch.fft.rfft(noise.view(batch, n_frames, block), n=n_fft) * torch.fft.rfft(impulse, n=n_fft)
    segments = torch.fft.irfft(spectra, n=n_fft)[..., :segment]  # (batch, n_frames, segment)
    length = (n_frames - 1) * block + segment
    filtered = F.fold(
        segments.transpose(1, 2), output_size=(1, length), kernel_size=(1, segment), stride=(1, block)
    ).view(batch, length)
    return filtered[:, n_taps // 2 : n_taps // 2 + n_samples]


def reference_reverb(audio: torch.Tensor, impulse_response: torch.Tensor) -> torch.Tensor:
    """Dry audio plus its convolution with ``impulse_response`` (first tap zeroed): one FFT."""
    impulse_response = torch.cat([impulse_response.new_zeros(1), impulse_response[1:]])
    n_samples = audio.shape[-1]
    n_fft = 1 << (n_samples + impulse_response.shape[-1] - 2).bit_length()
    spectrum = torch.fft.rfft(audio, n=n_fft) * torch.fft.rfft(impulse_response, n=n_fft)
    return torch.fft.irfft(spectrum, n=n_fft)[..., :n_samples] + audio


# ------------------------------------------------------------------------ timing


def forward_pass(render: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Render without building an autograd graph."""

    def run() -> torch.Tensor:
        with torch.no_grad():
            return render()

    return run


def training_pass(render: Callable[[], torch.Tensor], wrt: list[torch.Tensor]) -> Callable[[], object]:
    """Render, then the gradients of ``mean(output ** 2)`` with respect to ``wrt``."""

    def run() -> object:
        loss = render().square().mean()
        return torch.autograd.grad(loss, wrt)

    return run


def torch_cases(data: dict[str, np.ndarray]) -> dict[str, dict[str, tuple[Callable, list[torch.Tensor]]]]:
    """Case name -> implementation ("torchddsp", "reference") -> (render function, grad inputs)."""
    amplitudes, distribution, f0_hz = (leaf(data[k]) for k in ("amplitudes", "harmonic_distribution", "f0_hz"))
    magnitudes = leaf(data["magnitudes"])
    audio = leaf(data["audio"])

    harmonic = torchddsp.Harmonic(sample_rate=SAMPLE_RATE)
    noise = torchddsp.FilteredNoise()
    reverb = torchddsp.Reverb(trainable=True, reverb_length=REVERB_LENGTH)
    reference_ir = reverb.ir.detach().clone().requires_grad_(True)
    harmonic_inputs = [amplitudes, distribution, f0_hz]
    return {
        "harmonic": {
            "torchddsp": (lambda: harmonic(amplitudes, distribution, f0_hz, n_samples=N_SAMPLES), harmonic_inputs),
            "reference": (
                lambda: reference_harmonic(amplitudes, distribution, f0_hz, N_SAMPLES, SAMPLE_RATE),
                harmonic_inputs,
            ),
        },
        "filtered_noise": {
            "torchddsp": (lambda: noise(magnitudes, n_samples=N_SAMPLES, seed=SEED), [magnitudes]),
            "reference": (lambda: reference_filtered_noise(magnitudes, N_SAMPLES, SEED), [magnitudes]),
        },
        "reverb": {
            "torchddsp": (lambda: reverb(audio), [reverb.ir, audio]),
            "reference": (lambda: reference_reverb(audio, reference_ir), [reference_ir, audio]),
        },
    }


def time_torch(data: dict[str, np.ndarray], repeats: int, warmup: int, budget_s: float) -> dict:
    """Time torchddsp and the reference: ``results[case][implementation][pass]``."""
    results: dict = {}
    for case, implementations in torch_cases(data).items():
        results[case] = {}
        for name, (render, wrt) in implementations.items():
            results[case][name] = {}
            for pass_name, runner in (
                ("forward", forward_pass(render)),
                ("forward_backward", training_pass(render, wrt)),
            ):
                print(f"torch: {case} {name} {pass_name}", file=sys.stderr, flush=True)
                results[case][name][pass_name] = measure(runner, repeats, warmup, budget_s)
    return results


# ------------------------------------------------------------------- sanity checks


def sanity_checks(data: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Max abs differences between torchddsp and the reference on identical inputs.

    ``harmonic_synthesis``: the same (already scaled and normalised) controls, from
    ``Harmonic.controls``, rendered by ``torchddsp.functional.harmonic_synthesis`` and by
    the reference synthesis, in float32 and in float64 (where only the algorithms can
    differ, not their rounding); ``harmonic``: raw controls end to end; ``filtered_noise`` (same
    seed) and ``reverb`` (same impulse response) end to end. Also gives each output's peak.
    """
    with torch.no_grad():
        raw = [torch.from_numpy(data[k]) for k in ("amplitudes", "harmonic_distribution", "f0_hz")]
        harmonic = torchddsp.Harmonic(sample_rate=SAMPLE_RATE)
        controls = harmonic.controls(*raw)
        amplitudes, distribution, f0_hz = (controls[k] for k in ("amplitudes", "harmonic_distribution", "f0_hz"))
        magnitudes, audio = torch.from_numpy(data["magnitudes"]), torch.from_numpy(data["audio"])
        reverb = torchddsp.Reverb(trainable=True, reverb_length=REVERB_LENGTH)
        reverb.ir.normal_(0.0, 1e-3, generator=torch.Generator().manual_seed(SEED))  # audible wet part
        pairs = {
            "harmonic_synthesis": (
                torchddsp.functional.harmonic_synthesis(f0_hz, amplitudes, distribution, N_SAMPLES, SAMPLE_RATE),
                reference_harmonic_synthesis(f0_hz, amplitudes, distribution, N_SAMPLES, SAMPLE_RATE),
            ),
            "harmonic_synthesis_float64": (
                torchddsp.functional.harmonic_synthesis(
                    f0_hz.double(), amplitudes.double(), distribution.double(), N_SAMPLES, SAMPLE_RATE
                ),
                reference_harmonic_synthesis(
                    f0_hz.double(), amplitudes.double(), distribution.double(), N_SAMPLES, SAMPLE_RATE
                ),
            ),
            "harmonic": (harmonic(*raw, n_samples=N_SAMPLES), reference_harmonic(*raw, N_SAMPLES, SAMPLE_RATE)),
            "filtered_noise": (
                torchddsp.FilteredNoise()(magnitudes, n_samples=N_SAMPLES, seed=SEED),
                reference_filtered_noise(magnitudes, N_SAMPLES, SEED),
            ),
            "reverb": (reverb(audio), reference_reverb(audio, reverb.ir)),
        }
    return {
        name: {"max_abs_diff": float((ours - ref).abs().max()), "peak": float(ref.abs().max())}
        for name, (ours, ref) in pairs.items()
    }


# ------------------------------------------------------------------------ Magenta


def time_magenta(
    python: Path, data: dict[str, np.ndarray], repeats: int, warmup: int, budget_s: float
) -> tuple[dict | None, str]:
    """Run the peer script on the same inputs; return (parsed JSON, note on failure)."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        np.savez(inputs, **data)
        command = [
            str(python),
            str(PEER_SCRIPT),
            "--inputs",
            str(inputs),
            "--repeats",
            str(repeats),
            "--warmup",
            str(warmup),
            "--budget",
            str(budget_s),
        ]
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"Magenta peer failed to run: {error}"
    if done.returncode != 0:
        return None, f"Magenta peer exited with status {done.returncode} (its errors are above)"
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (json.JSONDecodeError, IndexError):
        return None, "Magenta peer printed no JSON result"


# ------------------------------------------------------------------ background load


# ------------------------------------------------------------------------ report


def magenta_times(magenta: dict | None, case: str, pass_name: str) -> tuple[float | None, float | None]:
    """(eager ms, tf.function ms) for one case and pass, or Nones."""
    if magenta is None:
        return None, None
    modes = magenta["results"].get(case, {}).get(pass_name, {})
    return (modes.get("eager", {}).get("median_ms"), modes.get("graph", {}).get("median_ms"))


def table(results: dict, magenta: dict | None) -> str:
    """The markdown table of medians and ratios."""
    lines = [
        "| case | pass | torchddsp ms | reference ms | Magenta eager ms | Magenta tf.function ms "
        "| Magenta / torchddsp | reference / torchddsp | torchddsp fwd+bwd / fwd |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, label in CASES:
        ours_forward = results[case]["torchddsp"]["forward"]["median_ms"]
        for pass_name, pass_label in PASSES:
            ours = results[case]["torchddsp"][pass_name]["median_ms"]
            reference = results[case]["reference"][pass_name]["median_ms"]
            eager, graph = magenta_times(magenta, case, pass_name)
            best = min((t for t in (eager, graph) if t is not None), default=None)
            backward_ratio = fmt_ratio(ours, ours_forward) if pass_name == "forward_backward" else ""
            lines.append(
                f"| {label} | {pass_label} | {fmt_ms(ours)} | {fmt_ms(reference)} | {fmt_ms(eager)} | {fmt_ms(graph)} "
                f"| {fmt_ratio(best, ours)} | {fmt_ratio(reference, ours)} | {backward_ratio} |"
            )
    return "\n".join(lines)


def targets(results: dict, magenta: dict | None) -> list[str]:
    """The Harmonic targets: >= 10x faster than Magenta forward; fwd+bwd <= 3x forward."""
    forward = results["harmonic"]["torchddsp"]["forward"]["median_ms"]
    training = results["harmonic"]["torchddsp"]["forward_backward"]["median_ms"]
    lines = []
    eager, graph = magenta_times(magenta, "harmonic", "forward")
    best = min((t for t in (eager, graph) if t is not None), default=None)
    if best is None:
        lines.append("- Harmonic forward vs Magenta (target >= 10x): not measured (no Magenta peer)")
    else:
        verdict = "met" if best / forward >= 10 else "NOT met"
        lines.append(f"- Harmonic forward vs Magenta (target >= 10x): {best / forward:.1f}x, {verdict}")
    verdict = "met" if training / forward <= 3 else "NOT met"
    lines.append(f"- Harmonic fwd+bwd / forward (target <= 3x): {training / forward:.2f}x, {verdict}")
    return lines


def load_line(background: float | None) -> str:
    """How busy the rest of the machine was during the measurements."""
    if background is None:
        return "Background load: not measured (no /proc/stat)."
    warning = " WARNING: timings are unreliable, rerun on an idle machine." if background > 0.1 else ""
    return (
        f"Background load: other processes used {100 * background:.0f}% of the CPUs during the measurements.{warning}"
    )


def report(
    machine: dict,
    settings: dict,
    results: dict,
    magenta: dict | None,
    magenta_note: str,
    checks: dict,
    background: float | None,
) -> str:
    """The whole printed report: machine, table, notes, targets and sanity checks."""
    peer = (
        f"Magenta ddsp {magenta['ddsp']}, TensorFlow {magenta['tensorflow']} (CPU, default threads)"
        if magenta
        else f"Magenta: not measured ({magenta_note})"
    )
    lines = [
        "## Synth benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), Python {machine['python']}, torchddsp {machine['torchddsp']}.",
        f"Peer: {peer}.",
        f"Shapes: batch {BATCH}, {N_SAMPLES} samples at {SAMPLE_RATE} Hz, {N_FRAMES} frames; float32. "
        f"Median of up to {settings['repeats']} runs after {settings['warmup']} warm-up runs.",
        load_line(background),
        "",
        table(results, magenta),
        "",
        "forward: no autograd graph (TensorFlow: no tape). fwd+bwd: gradients of mean(output^2) w.r.t. "
        "every control (Harmonic: amplitudes, distribution, f0; FilteredNoise: magnitudes; Reverb: IR and "
        "audio). Magenta / torchddsp uses the faster of Magenta's two modes.",
        "",
        "Targets:",
        *targets(results, magenta),
        "",
        "Sanity checks, torchddsp vs reference on identical inputs (max abs difference, output peak):",
        *(f"- {name}: {check['max_abs_diff']:.2e} (peak {check['peak']:.3f})" for name, check in checks.items()),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (default 7)")
    parser.add_argument("--warmup", type=int, default=2, help="excluded warm-up runs (default 2)")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds per measurement; slow cases run fewer repeats (default 20)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 repeats, 1 warm-up run")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--magenta-python", type=Path, help="interpreter of an existing Magenta environment")
    parser.add_argument(
        "--magenta-env",
        type=Path,
        default=DEFAULT_MAGENTA_ENV,
        help=f"Magenta's virtual environment, created if missing (default {DEFAULT_MAGENTA_ENV})",
    )
    parser.add_argument("--no-peer-install", action="store_true", help="never create Magenta's environment")
    parser.add_argument("--no-peer", action="store_true", help="skip Magenta entirely")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, 3), 1
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run every measurement, print the report, optionally write JSON."""
    args = parse_args(argv)
    data = make_inputs(SEED)
    machine = machine_description()

    magenta_python, magenta_note = None, "skipped (--no-peer)"
    if not args.no_peer:
        if args.magenta_python is not None:
            magenta_python = args.magenta_python
            magenta_note = "" if magenta_works(magenta_python) else f"{magenta_python} cannot import ddsp"
            magenta_python = None if magenta_note else magenta_python
        else:
            magenta_python, magenta_note = ensure_magenta_env(args.magenta_env, not args.no_peer_install)

    monitor = LoadMonitor()
    checks = sanity_checks(data)
    results = time_torch(data, args.repeats, args.warmup, args.budget)
    magenta = None
    if magenta_python is not None:
        magenta, magenta_note = time_magenta(magenta_python, data, args.repeats, args.warmup, args.budget)

    background = monitor.fraction()
    settings = {"repeats": args.repeats, "warmup": args.warmup, "budget_s": args.budget}
    print(report(machine, settings, results, magenta, magenta_note, checks, background))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "settings": settings,
                    "torch": results,
                    "magenta": magenta,
                    "magenta_note": magenta_note,
                    "sanity_checks": checks,
                    "background_load": background,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
