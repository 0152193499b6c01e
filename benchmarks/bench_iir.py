"""Benchmark torchddsp's recursive filters against torchlpc 0.7.2 and scipy, measured in the
same run, plus the error of the frequency-sampling approximation.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_iir.py [--repeats N]

Cases (batch 4 x 64000 samples, float32, 2 cores):
- time-varying order-2 all-pole filter (per-sample coefficients of slowly moving stable
  resonators): ``allpole_filter`` vs ``torchlpc.sample_wise_lpc``; forward (no grad) and
  forward+backward (gradients w.r.t. input and coefficients); the same filter through the
  general path ``lfilter(x, [[1.0]], [1, a1, a2])`` (the FIR part and the leading coefficient
  ``a0``, per sample) against the same peer;
- a 4-section ``sosfilt`` (Butterworth order 8, fixed): torchddsp forward and forward+backward
  vs ``scipy.signal.sosfilt`` forward;
- the frequency-sampling approximation (``lfilter(method="frequency_sampling")``) of a
  resonator with poles at radius 0.999: max error relative to the exact recursion's peak, at
  several FFT sizes.

torchlpc is a benchmark peer, never a dependency: ``pip install --no-build-isolation
torchlpc==0.7.2`` into this environment (``make bench`` does it; builds in about a minute).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import scipy.signal
import torch
from timing import LoadMonitor  # benchmarks/timing.py
from timing import fmt_ms  # benchmarks/timing.py
from timing import fmt_ratio  # benchmarks/timing.py
from timing import machine_description  # benchmarks/timing.py
from timing import measure  # benchmarks/timing.py

from torchddsp.functional import allpole_filter
from torchddsp.functional import lfilter
from torchddsp.functional import sosfilt

BATCH, N_SAMPLES = 4, 64000


def resonator_track(batch: int, n_samples: int) -> torch.Tensor:
    """``(batch, n_samples, 2)`` coefficients of slowly moving stable resonators."""
    n = torch.arange(n_samples, dtype=torch.float64)
    offsets = torch.linspace(0, 1, batch, dtype=torch.float64)[:, None]
    radius = 0.95 + 0.04 * torch.sin(2 * math.pi * (n / n_samples + offsets))
    angle = 0.2 + 0.15 * torch.cos(2 * math.pi * (n / 8000 + offsets))
    return torch.stack([-2 * radius * torch.cos(angle), radius**2], dim=-1).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    try:
        import torchlpc  # noqa: PLC0415
    except ImportError:
        torchlpc = None
    torch.manual_seed(0)
    monitor = LoadMonitor()
    rows = []
    x = torch.randn(BATCH, N_SAMPLES)
    a = resonator_track(BATCH, N_SAMPLES)

    def timed(fn):
        return measure(fn, args.repeats, warmup=2, budget_s=20.0)["median_ms"]

    def forward_backward(filter_fn):
        def run():
            xi, ai = x.clone().requires_grad_(), a.clone().requires_grad_()
            filter_fn(xi, ai).sum().backward()

        return run

    with torch.no_grad():
        ours_fwd = timed(lambda: allpole_filter(x, a))
        peer_fwd = timed(lambda: torchlpc.sample_wise_lpc(x, a)) if torchlpc else None
    ours_fb = timed(forward_backward(allpole_filter))
    peer_fb = timed(forward_backward(torchlpc.sample_wise_lpc)) if torchlpc else None
    if torchlpc:
        with torch.no_grad():
            difference = float((allpole_filter(x, a) - torchlpc.sample_wise_lpc(x, a)).abs().max())
    rows.append(("all-pole order 2, time-varying", "forward", ours_fwd, "torchlpc 0.7.2", peer_fwd))
    rows.append(("all-pole order 2, time-varying", "fwd+bwd", ours_fb, "torchlpc 0.7.2", peer_fb))

    # The general path on the same problem: b = [1], a = [1, a1, a2] per sample.
    numerator, denominator = torch.ones(1, 1), torch.cat([torch.ones(BATCH, N_SAMPLES, 1), a], dim=-1)

    def general_fb():
        xi, ai = x.clone().requires_grad_(), denominator.clone().requires_grad_()
        lfilter(xi, numerator, ai).sum().backward()

    with torch.no_grad():
        general_fwd = timed(lambda: lfilter(x, numerator, denominator))
    rows.append(("lfilter b=[1], a=[1, a1, a2], time-varying", "forward", general_fwd, "torchlpc 0.7.2", peer_fwd))
    rows.append(("lfilter b=[1], a=[1, a1, a2], time-varying", "fwd+bwd", timed(general_fb), "torchlpc 0.7.2", peer_fb))

    sos = torch.from_numpy(scipy.signal.butter(8, 0.1, output="sos")).float()[None]
    x_np, sos_np = x.numpy().astype(np.float32), sos[0].numpy()
    with torch.no_grad():
        ours_sos = timed(lambda: sosfilt(x, sos))
    scipy_sos = timed(lambda: scipy.signal.sosfilt(sos_np, x_np, axis=-1))

    def sos_fb():
        xi, si = x.clone().requires_grad_(), sos.clone().requires_grad_()
        sosfilt(xi, si).sum().backward()

    rows.append(("sosfilt 4 sections", "forward", ours_sos, "scipy.signal.sosfilt", scipy_sos))
    rows.append(("sosfilt 4 sections", "fwd+bwd", timed(sos_fb), "(scipy has no gradient)", None))

    print(f"machine: {machine_description()}")
    print(
        f"torch threads: {torch.get_num_threads()}; batch {BATCH} x {N_SAMPLES} samples, float32; median of "
        f"up to {args.repeats}"
    )
    print()
    print("| case | pass | torchddsp ms | peer | peer ms | peer / torchddsp |")
    print("|---|---|---:|---|---:|---:|")
    for case, kind, ours, peer, theirs in rows:
        print(f"| {case} | {kind} | {fmt_ms(ours)} | {peer} | {fmt_ms(theirs)} | {fmt_ratio(theirs, ours)} |")
    if torchlpc:
        print(f"\nmax |torchddsp - torchlpc| on the all-pole case: {difference:.2e}")
    else:
        print("\ntorchlpc is not installed: pip install --no-build-isolation torchlpc==0.7.2")

    # Frequency sampling against the exact recursion (float64), poles at radius 0.999.
    signal = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 64000)))
    denominator = torch.tensor([[1.0, -2 * 0.999 * math.cos(0.3), 0.999**2]], dtype=torch.float64)
    numerator = torch.ones(1, 1, dtype=torch.float64)
    exact = lfilter(signal, numerator, denominator)
    print("\n| frequency sampling n_fft | max error / peak of the exact output |")
    print("|---:|---:|")
    for n_fft in (256, 1024, 4096, 16384, 65536):
        approx = lfilter(signal, numerator, denominator, method="frequency_sampling", n_fft=n_fft)
        print(f"| {n_fft} | {float((approx - exact).abs().max() / exact.abs().max()):.2e} |")
    load = monitor.fraction()
    if load is not None:
        print(f"\nother processes used {100 * load:.0f}% of the CPU during the run")


if __name__ == "__main__":
    main()
