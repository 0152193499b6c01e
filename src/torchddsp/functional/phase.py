"""Phase accumulation in float64, shared by every oscillator.

Convention (DDSP's): the phase of sample ``n`` is
``state + 2 pi sum_{m <= n} f[m] / sample_rate`` (``state``: the phase before the first
sample, 0 at rest), so the first sample has already advanced by one step, and a stream
continues seamlessly from the returned state (the phase of the last sample).

Precision: both the per-sample step ``f / sample_rate`` and its running sum are computed in
float64, in cycles ("turns"), and wrapped with ``frac`` before any float32 sine. A float32
step summed in float64 drifts audibly after seconds; this does not (below 1e-9 cycles of
error per minute of audio). Where a phase error is amplified (an FM operator's modulation
index and feedback), :func:`cumulative_turns` with ``exact=True`` sums whole units of 2^-32
cycle exactly, so its error stays a few float64 roundings of one cycle however long the
signal, and blocks equal one call to that accuracy.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from ..validation import half_in_float32

__all__ = [
    "cumulative_phase",
    "initial_turns",
    "cumulative_turns",
    "hop_turns",
    "turns_to_radians",
    "wrap_turns",
    "output_dtype",
]

TWO_PI = 2.0 * math.pi

#: The exact part of the running phase counts whole units of 2^-32 cycle (see cumulative_turns).
_UNITS_PER_TURN = 2.0**32
_UNIT_MASK = 2**32 - 1


def output_dtype(*amplitude_like: Tensor) -> torch.dtype:
    """Working and output dtype of an oscillator: the promoted dtype of its amplitude-like
    inputs (frequencies only feed the float64 phase and do not count). Half precision cannot
    hold sums of many partials: it computes in float32 (the public ops are wrapped by
    ``half_in_float32``, which hands the result back in the half dtype)."""
    dtype = amplitude_like[0].dtype
    for tensor in amplitude_like[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def initial_turns(state: Tensor | None, shape: tuple[int, int], like: Tensor, name: str = "state") -> Tensor:
    """Validate a phase state in radians of ``shape`` (None: at rest, phase 0) and return it
    in float64 cycles."""
    if state is None:
        return torch.zeros(shape, dtype=torch.float64, device=like.device)
    check_rank(name, state, 2, f"(batch, {shape[1]})")
    if tuple(state.shape) != tuple(shape):
        raise InputError(f"{name} must have shape {tuple(shape)}, found {tuple(state.shape)}")
    check_finite(name, state)
    return state.to(device=like.device, dtype=torch.float64) / TWO_PI


def cumulative_turns(
    frequencies_hz: Tensor, sample_rate: float, start_turns: Tensor, dim: int = 1, exact: bool = False
) -> Tensor:
    """``start_turns + cumsum(f / sample_rate)`` along ``dim`` in float64, in cycles, equal to
    it modulo whole cycles (not wrapped, but not unwrapped either: wrap before use).

    Accuracy: a plain float64 cumsum (``exact=False``, 3 passes over the data) loses about
    ``n`` roundings of the running sum: 1e-10 cycles after 20000 samples, inaudible, and
    blocks equal one call to about that. ``exact=True`` (about 11 passes) keeps a few float64
    rounding steps of one cycle (about 1e-15) at any sample. So the phase after any split into blocks, each started from
    the phase the previous one ended on, equals the phase of one call to that accuracy: what
    an FM operator, whose phase error its modulation index amplifies, needs to stream.

    How: each step, reduced modulo one cycle, splits exactly into whole units of 2^-32 cycle,
    summed exactly as int64 and wrapped (``n`` up to 2^31 samples), and a remainder below
    2^-33 cycle, summed in float64 (tiny, so its rounding is too). The gradient is that of
    the plain cumsum (the remainder carries it).

    Shape:
        ``frequencies_hz``: ``(..., n, ...)`` with ``n`` along ``dim``; ``start_turns`` broadcasts
        against it with ``dim`` removed -> ``frequencies_hz``'s shape, float64.

    Example:
        >>> turns = cumulative_turns(torch.full((1, 4), 6000.0), 16000, torch.tensor([0.25]))
        >>> wrap_turns(turns).tolist()
        [[0.625, 0.0, 0.375, 0.75]]
    """
    if not exact:
        steps = frequencies_hz.to(torch.float64) / float(sample_rate)
        return torch.cumsum(steps, dim=dim) + start_turns.unsqueeze(dim)
    # Exact in float64: frac (only the phase modulo one cycle matters; its gradient is 1), the
    # scaling by a power of two, and the remainder of the rounding (at most half a unit).
    steps = torch.frac(frequencies_hz.to(torch.float64) / float(sample_rate))
    units = torch.round(steps.detach() * _UNITS_PER_TURN)
    remainder = torch.add(steps, units, alpha=-1.0 / _UNITS_PER_TURN)
    # |units| <= 2^32, so the int64 running sum is exact for n < 2^31; the mask wraps it to one cycle.
    whole = torch.bitwise_and(torch.cumsum(units.to(torch.int64), dim=dim), _UNIT_MASK)
    start = torch.add(start_turns.unsqueeze(dim), whole, alpha=1.0 / _UNITS_PER_TURN)
    return start + torch.cumsum(remainder, dim=dim)


def hop_turns(turns: Tensor, step_turns: Tensor, step_change: Tensor, hop: int) -> Tensor:
    """Phase in cycles (float64, not wrapped) of the ``hop`` samples after phase ``turns`` whose
    per-sample step starts at ``step_turns`` and moves by ``step_change`` per sample (a linear
    frequency ramp): ``turns + (j + 1) step_turns + j (j + 1) / 2 step_change`` at sample ``j``,
    the closed form of :func:`cumulative_turns` over the ramp. Compiled kernels use its twin,
    ``engine.shared.advance_turns`` (the same, wrapped).

    Shape:
        ``turns``, ``step_turns``, ``step_change``: ``(...)`` -> ``(..., hop)``.

    Example:
        >>> hop_turns(torch.tensor(0.0), torch.tensor(0.25), torch.tensor(0.0), 3)
        tensor([0.2500, 0.5000, 0.7500], dtype=torch.float64)
    """
    j = torch.arange(hop, dtype=torch.float64, device=turns.device)
    ramp = 0.5 * j * (j + 1)
    as64 = [t.to(torch.float64).unsqueeze(-1) for t in (turns, step_turns, step_change)]
    return as64[0] + (j + 1) * as64[1] + ramp * as64[2]


def wrap_turns(turns: Tensor) -> Tensor:
    """Phase in cycles wrapped to [0, 1), differentiable (gradient 1)."""
    return turns - torch.floor(turns)


def turns_to_radians(turns: Tensor) -> Tensor:
    """Phase in cycles to radians wrapped to [0, 2 pi), float64."""
    return TWO_PI * wrap_turns(turns.to(torch.float64))


@half_in_float32
def cumulative_phase(
    frequencies_hz: Tensor, sample_rate: float, *, state: Tensor | None = None, return_state: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Running phase of per-sample frequencies, in radians wrapped to [0, 2 pi), float64.

    Shape:
        ``frequencies_hz``: ``(batch, n_samples, channels)`` -> ``(batch, n_samples, channels)``.

    Args:
        frequencies_hz: instantaneous frequency of each sample in Hz. Differentiable.
        sample_rate: samples per second.
        state: ``(batch, channels)`` phase in radians before the first sample; None: 0.
        return_state: also return the phase of the last sample ``(batch, channels)`` (the
            ``state`` unchanged for an empty block), to continue the next block.

    Example:
        >>> f = torch.full((1, 4, 1), 4000.0)
        >>> phase, state = cumulative_phase(f[:, :2], 16000, return_state=True)
        >>> torch.equal(torch.cat([phase, cumulative_phase(f[:, 2:], 16000, state=state)], 1),
        ...             cumulative_phase(f, 16000))
        True
    """
    check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_samples, channels)")
    check_finite("frequencies_hz", frequencies_hz)
    batch, _, channels = frequencies_hz.shape
    start = initial_turns(state, (batch, channels), frequencies_hz)
    turns = cumulative_turns(frequencies_hz, sample_rate, start)
    phase = turns_to_radians(turns)
    if not return_state:
        return phase
    return phase, turns_to_radians(turns[:, -1] if turns.shape[1] else start)
