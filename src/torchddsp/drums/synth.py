"""A differentiable one-shot drum synthesizer: transient + modal body + filtered noise.

A hit is the sum of three parts, each with its own envelope, all struck at sample 0:

- transient: a noise burst through a 2nd-order Butterworth low-pass (magnitude applied in the
  frequency domain), its amplitude decaying exponentially over a few milliseconds (the stick);
- body: :func:`~torchddsp.functional.modal.modal_synthesis` of ``N_MODES`` damped resonators at
  ``f0 * ratio_i`` (``ratio_0 = 1``; the others between 1 and 6, so membranes' inharmonic
  ratios 1.59, 2.14, ... and bars' are reachable), each with its own amplitude, sharing one
  decay time (the membrane);
- noise: noise through a band-pass (2nd-order Butterworth high-pass times low-pass
  magnitudes), decaying exponentially (snares, hats, cymbals).

The controls of a hit are one vector of ``N_CONTROLS`` numbers in [0, 1] (a network's sigmoid
outputs), mapped by :func:`unit_to_controls` to physical units (ranges in ``RANGES``: Hz and
seconds log-uniform, amplitudes ``unit^2``). The noise is fixed per seed (``seeded_noise``)
so a hit is a deterministic, differentiable function of its controls.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor
from torch import nn

from ..functional.controls import Control
from ..functional.modal import modal_synthesis
from ..functional.noise import seeded_noise
from ..validation import InputError
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_range
from ..validation import check_rank

__all__ = ["N_MODES", "N_CONTROLS", "CONTROL_NAMES", "RANGES", "unit_to_controls", "drum_synthesis", "DrumSynth"]

N_MODES = 4
#: Names of the unit controls, in vector order.
CONTROL_NAMES = (
    "transient_amplitude",
    "transient_decay_s",
    "transient_cutoff_hz",
    "body_f0_hz",
    *(f"body_ratio_{i}" for i in range(1, N_MODES)),
    *(f"body_amplitude_{i}" for i in range(N_MODES)),
    "body_t60_s",
    "noise_amplitude",
    "noise_t60_s",
    "noise_low_hz",
    "noise_high_hz",
)
N_CONTROLS = len(CONTROL_NAMES)
#: (low, high, scale) of each sort of control: "log" log-uniform, "square" ``low + (high - low)
#: unit^2`` (amplitudes: fine control near silence), "linear".
RANGES = {
    "amplitude": (0.0, 1.0, "square"),
    "transient_decay_s": (0.001, 0.03, "log"),
    "transient_cutoff_hz": (500.0, 7500.0, "log"),
    "body_f0_hz": (30.0, 1200.0, "log"),
    "body_ratio": (1.0, 6.0, "linear"),
    "body_t60_s": (0.02, 2.0, "log"),
    "noise_t60_s": (0.01, 2.0, "log"),
    "noise_low_hz": (20.0, 7000.0, "log"),
    "noise_high_hz": (200.0, 7900.0, "log"),
}


def _scaled(unit: Tensor, key: str) -> Tensor:
    low, high, scale = RANGES[key]
    if scale == "log":
        return low * torch.exp(unit * math.log(high / low))
    if scale == "square":
        return low + (high - low) * unit.square()
    return low + (high - low) * unit


def _range_key(name: str) -> str:
    if name.endswith("amplitude") or "_amplitude_" in name:
        return "amplitude"
    if name.startswith("body_ratio"):
        return "body_ratio"
    return name


def unit_to_controls(unit: Tensor) -> dict[str, Tensor]:
    """Unit controls to physical ones (``CONTROL_NAMES`` -> ``RANGES``).

    Shape: ``(batch, N_CONTROLS)`` in [0, 1] -> each ``(batch,)``.

    Example:
        >>> round(unit_to_controls(torch.full((1, N_CONTROLS), 0.5))["body_t60_s"].item(), 4)  # sqrt(0.02 * 2)
        0.2
    """
    check_rank("unit", unit, 2, "(batch, N_CONTROLS)")
    if unit.shape[1] != N_CONTROLS:
        raise InputError(f"unit must have {N_CONTROLS} controls (CONTROL_NAMES), found {unit.shape[1]}")
    check_range("unit", unit, 0.0, 1.0)
    return {name: _scaled(unit[:, i], _range_key(name)) for i, name in enumerate(CONTROL_NAMES)}


def _butterworth2(frequencies_hz: Tensor, cutoff_hz: Tensor, mode: str) -> Tensor:
    """Magnitude of a 2nd-order Butterworth section, ``(batch, bins)``."""
    ratio = (frequencies_hz[None, :] / cutoff_hz[:, None]) ** 2
    return torch.rsqrt(1.0 + ratio.square()) if mode == "low" else ratio * torch.rsqrt(1.0 + ratio.square())


def _filtered(noise: Tensor, sample_rate: float, low_hz: Tensor | None, high_hz: Tensor) -> Tensor:
    """``noise`` through a low-pass at ``high_hz`` (and a high-pass at ``low_hz``), applied as
    magnitudes on its spectrum (zero phase; circular, harmless for stationary noise)."""
    n_samples = noise.shape[-1]
    freqs = torch.fft.rfftfreq(n_samples, 1.0 / sample_rate, dtype=high_hz.dtype)
    gain = _butterworth2(freqs, high_hz, "low")
    if low_hz is not None:
        gain = gain * _butterworth2(freqs, low_hz, "high")
    return torch.fft.irfft(torch.fft.rfft(noise) * gain, n=n_samples)


def _decay(t60_s: Tensor, n_samples: int, sample_rate: float) -> Tensor:
    """``exp(-ln(1000) t / t60)`` from ``t = 0``: ``(batch, n_samples)``."""
    t = torch.arange(n_samples, dtype=t60_s.dtype) / sample_rate
    return torch.exp(-math.log(1000.0) * t[None, :] / t60_s[:, None])


def drum_synthesis(controls: dict[str, Tensor], n_samples: int, sample_rate: float = 16000.0, seed: int = 0) -> Tensor:
    """A drum hit from physical controls (:func:`unit_to_controls`'s output; module docstring).

    Shape: each control ``(batch,)`` -> ``(batch, n_samples)``.

    Example:
        >>> hit = drum_synthesis(unit_to_controls(torch.full((2, N_CONTROLS), 0.5)), 800)
        >>> hit.shape
        torch.Size([2, 800])
    """
    n_samples = check_positive_int("n_samples", n_samples)
    sample_rate = check_positive("sample_rate", sample_rate)
    c = controls
    batch, dtype = c["body_f0_hz"].shape[0], c["body_f0_hz"].dtype
    # one noise for every row: a hit depends on its controls only, not on its place in a batch
    noise = [seeded_noise(seed, 2, n_samples, dtype=dtype)[i].expand(batch, n_samples) for i in range(2)]
    click = _filtered(noise[0], sample_rate, None, c["transient_cutoff_hz"])
    click = c["transient_amplitude"][:, None] * click * _decay(c["transient_decay_s"], n_samples, sample_rate)
    ratios = torch.stack([torch.ones_like(c["body_f0_hz"])] + [c[f"body_ratio_{i}"] for i in range(1, N_MODES)], -1)
    amplitudes = torch.stack([c[f"body_amplitude_{i}"] for i in range(N_MODES)], -1)
    body = modal_synthesis(
        Control.per_item(c["body_f0_hz"][:, None] * ratios),
        Control.per_item(amplitudes),
        n_samples,
        sample_rate,
        t60_s=Control.per_item(c["body_t60_s"][:, None]),
    )
    body = cast(Tensor, body)  # no state was asked for: the op returns a tensor
    hiss = _filtered(noise[1], sample_rate, c["noise_low_hz"], c["noise_high_hz"])
    hiss = c["noise_amplitude"][:, None] * hiss * _decay(c["noise_t60_s"], n_samples, sample_rate)
    return click + body.to(dtype) + hiss


class DrumSynth(nn.Module):
    """:func:`drum_synthesis` of unit controls (:func:`unit_to_controls`) as a module.

    Shape: ``(batch, N_CONTROLS)`` in [0, 1] -> ``(batch, n_samples)``.

    Example:
        >>> DrumSynth(16000, n_samples=400)(torch.rand(3, N_CONTROLS)).shape
        torch.Size([3, 400])

    Args:
        sample_rate: in Hz.
        n_samples: length of a hit.
        seed: of the fixed noise.
    """

    def __init__(self, sample_rate: float = 16000.0, n_samples: int = 12000, seed: int = 0):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.n_samples = check_positive_int("n_samples", n_samples)
        self.seed = seed

    def forward(self, unit: Tensor) -> Tensor:
        return drum_synthesis(unit_to_controls(unit), self.n_samples, self.sample_rate, self.seed)
