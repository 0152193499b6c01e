"""Phase accumulation in float64, shared by every oscillator.

Convention (DDSP's): the phase of sample ``n`` is
``initial_phase + 2 pi sum_{m <= n} f[m] / sample_rate``, so the first sample has already
advanced by one step, and a stream continues seamlessly from the returned final phase.

Precision: both the per-sample step ``f / sample_rate`` and its running sum are computed in
float64, in cycles ("turns"), and wrapped with ``frac`` before any float32 sine. A float32
step summed in float64 drifts audibly after seconds; this does not (below 1e-9 cycles of
error per minute of audio).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import check_finite, check_rank, half_in_float32
from ..validation import InputError

__all__ = [
    "cumulative_phase",
    "initial_turns",
    "cumulative_turns",
    "turns_to_radians",
    "wrap_turns",
    "output_dtype",
]

TWO_PI = 2.0 * math.pi


def output_dtype(*amplitude_like: Tensor) -> torch.dtype:
    """Working and output dtype of an oscillator: the promoted dtype of its amplitude-like
    inputs (frequencies only feed the float64 phase and do not count). Half precision cannot
    hold sums of many partials: it computes in float32 (the public ops are wrapped by
    ``half_in_float32``, which hands the result back in the half dtype)."""
    dtype = amplitude_like[0].dtype
    for tensor in amplitude_like[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def initial_turns(initial_phase: Tensor | None, shape: tuple[int, int], like: Tensor, name: str) -> Tensor:
    """Validate an initial phase in radians of ``shape`` and return it in float64 cycles."""
    if initial_phase is None:
        return torch.zeros(shape, dtype=torch.float64, device=like.device)
    check_rank(name, initial_phase, 2, f"(batch, {shape[1]})")
    if tuple(initial_phase.shape) != tuple(shape):
        raise InputError(f"{name} must have shape {tuple(shape)}, found {tuple(initial_phase.shape)}")
    check_finite(name, initial_phase)
    return initial_phase.to(device=like.device, dtype=torch.float64) / TWO_PI


def cumulative_turns(frequencies_hz: Tensor, sample_rate: float, start_turns: Tensor, dim: int = 1) -> Tensor:
    """``start_turns + cumsum(f / sample_rate)`` along ``dim`` in float64 (cycles, not wrapped).

    ``start_turns`` must broadcast against ``frequencies_hz`` with ``dim`` removed.
    """
    steps = frequencies_hz.to(torch.float64) / float(sample_rate)
    return torch.cumsum(steps, dim=dim) + start_turns.unsqueeze(dim)


def wrap_turns(turns: Tensor) -> Tensor:
    """Phase in cycles wrapped to [0, 1), differentiable (gradient 1)."""
    return turns - torch.floor(turns)


def turns_to_radians(turns: Tensor) -> Tensor:
    """Phase in cycles to radians wrapped to [0, 2 pi), float64."""
    return TWO_PI * wrap_turns(turns.to(torch.float64))


@half_in_float32
def cumulative_phase(frequencies_hz: Tensor, sample_rate: float, initial_phase: Tensor | None = None) -> Tensor:
    """Running phase of per-sample frequencies, in radians wrapped to [0, 2 pi), float64.

    Shape:
        ``frequencies_hz``: ``(batch, n_samples, channels)`` -> ``(batch, n_samples, channels)``.

    Args:
        frequencies_hz: instantaneous frequency of each sample in Hz. Differentiable.
        sample_rate: samples per second.
        initial_phase: ``(batch, channels)`` phase in radians before the first sample; 0 if None.
    """
    check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_samples, channels)")
    check_finite("frequencies_hz", frequencies_hz)
    batch, _, channels = frequencies_hz.shape
    start = initial_turns(initial_phase, (batch, channels), frequencies_hz, "initial_phase")
    return turns_to_radians(cumulative_turns(frequencies_hz, sample_rate, start))
