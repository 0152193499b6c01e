"""Fractional, time-varying delay lines (vibrato, chorus, flanger, pitch modulation).

``y[n] = x(n - d[n])``, with ``x`` between samples interpolated linearly or with a 4-point
Lagrange cubic. Samples before the start of ``audio`` come from ``state`` (the end of the
previous block when streaming), or are zero. Differentiable in the audio, the delay and the
state; the gradient w.r.t. the delay is the interpolant's slope, which never involves a
sample after ``n``. Read positions are integers plus a fraction, so precision does not
depend on the signal's length.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .controls import ControlLike
from .controls import control_dtype
from .controls import control_values
from .layout import flatten_audio
from .layout import flatten_state
from .layout import restore_audio

__all__ = ["fractional_delay", "DELAY_INTERPOLATIONS"]

DELAY_INTERPOLATIONS = ("linear", "cubic")


def _taps_before(interpolation: str) -> int:
    """Samples read before the one at ``floor`` of the read position's integer part."""
    return 1 if interpolation == "linear" else 2


def _read(
    audio: Tensor, delay_samples: Tensor, whole: Tensor, before: Tensor, interpolation: str
) -> tuple[Tensor, Tensor]:
    """The delay line's read of checked ``audio`` ``(batch, n)`` after the samples ``before``
    ``(batch, n_history)``, delays ``(batch or 1, n or 1)`` and their integer parts ``whole``."""
    batch, n_samples = audio.shape
    n_history = before.shape[1]
    signal = torch.cat([before.to(audio.dtype), audio], dim=1)
    # Read position n - d = base - fraction with an integer base (kept as integers, so long
    # signals and half-precision delays lose no precision) and fraction in [0, 1).
    position = torch.arange(n_samples, device=audio.device) + n_history
    base = (position - whole.long()).expand(batch, n_samples)
    fraction = (delay_samples - whole).to(audio.dtype).expand(batch, n_samples)

    def tap(offset: int) -> Tensor:
        return torch.gather(signal, 1, base + offset)

    if interpolation == "linear":
        x0 = tap(0)
        delayed = x0 + fraction * (tap(-1) - x0)
    else:  # 4-point Lagrange through base - 2 .. base + 1, evaluated at base - fraction
        xm, x0, x1, x2 = tap(-2), tap(-1), tap(0), tap(1)
        t = 1.0 - fraction
        delayed = (
            -t * (t - 1) * (t - 2) / 6 * xm
            + (t + 1) * (t - 1) * (t - 2) / 2 * x0
            - (t + 1) * t * (t - 2) / 2 * x1
            + (t + 1) * t * (t - 1) / 6 * x2
        )
    return delayed, signal[:, -n_history:] if n_history else signal[:, :0]


def _capacity(max_delay_samples: float, taps: int, longest: int) -> int:
    """Samples the line keeps for a declared longest delay; raises if this block's delays,
    needing ``longest`` samples, exceed it."""
    if not (isinstance(max_delay_samples, (int, float)) and 0 <= max_delay_samples < math.inf):
        raise InputError(f"max_delay_samples must be a number >= 0, found {max_delay_samples!r}")
    capacity = int(max_delay_samples) + taps
    if longest > capacity:
        raise InputError(
            f"delay_samples must not exceed max_delay_samples ({max_delay_samples}), found delays "
            f"needing {longest} samples of history"
        )
    return capacity


@half_in_float32
def fractional_delay(
    audio: Tensor,
    delay_samples: ControlLike,
    interpolation: str = "linear",
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    max_delay_samples: float | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Delay audio by a (time-varying, fractional) number of samples.

    ``delay_samples`` takes every rate of :mod:`~torchddsp.functional.controls` (its table): a
    number, ``(batch, 1)`` per item, ``(batch or 1, n_samples)`` per sample, ``(batch or 1,
    n_frames, 1)`` frame rate (upsampled linearly), or a ``Control``.

    Shape:
        ``audio``: ``(..., n_samples)``; ``state``: ``(..., n_history)`` -> ``(...,
        n_samples)`` (leading dimensions flattened into ``batch``).

    Args:
        audio: input signal. Differentiable.
        delay_samples: delay of each output sample in samples (fractional values are
            interpolated), >= 0 for linear and >= 1 for cubic interpolation (which reads one
            sample ahead of the read position). Differentiable.
        interpolation: ``"linear"`` or ``"cubic"`` (4-point Lagrange: flatter high end).
        state: the delay line's memory, the ``n_history`` samples preceding ``audio`` (oldest
            first); zeros (at rest) by default. It must hold at least ``floor(max delay) + 1``
            (linear) or ``+ 2`` (cubic) samples. Differentiable.
        return_state: also return the next state ``(..., n_history)``: the last ``n_history``
            samples of ``state`` followed by ``audio`` (``n_history`` that of ``state``, or from
            rest that of ``max_delay_samples``, else the block's ``floor(max delay) + 1`` or
            ``+ 2``). Passed as ``state`` with the following samples, the result equals one call.
        max_delay_samples: the delay line's capacity, declared up front: the longest delay any
            block of the stream will ask for (delays beyond it raise). From rest the line then
            holds ``floor(max_delay_samples) + 1`` (linear) or ``+ 2`` (cubic) samples, so a delay
            that grows in a later block still finds the samples it reads (without it, the line
            fits the first block's delays, and a longer delay later raises, since the samples
            it would read were not kept).

    Example:
        >>> fractional_delay(torch.tensor([1.0, 2.0, 3.0, 4.0]), 1.5).tolist()
        [0.0, 0.5, 1.5, 2.5]
        >>> _, state = fractional_delay(torch.tensor([1.0, 2.0]), 1.5, state=torch.zeros(4), return_state=True)
        >>> state.tolist()
        [0.0, 0.0, 1.0, 2.0]
        >>> _, state = fractional_delay(torch.tensor([1.0]), 0.5, state=None, return_state=True, max_delay_samples=3)
        >>> state.tolist()  # room for a delay of up to 3 samples in the following blocks
        [0.0, 0.0, 0.0, 1.0]
    """
    flat, leading = flatten_audio("audio", audio)
    check_choice("interpolation", interpolation, DELAY_INTERPOLATIONS)
    check_finite("audio", flat)
    batch, n_samples = flat.shape
    like = flat.new_empty(batch, 0, dtype=control_dtype(flat, delay_samples))
    delay_samples = control_values("delay_samples", delay_samples, like, n_samples)[..., 0]
    # Cubic interpolation reads one sample after the read position's integer part: causal
    # only from a delay of one sample.
    minimum = 0 if interpolation == "linear" else 1
    if data_checks_enabled() and not bool((delay_samples >= minimum).all()):
        raise InputError(
            f"delay_samples must be >= {minimum} for {interpolation} interpolation "
            "(a delay line cannot read the future)"
        )
    taps = _taps_before(interpolation)
    whole = torch.floor(delay_samples.detach())
    longest = (int(whole.max()) if whole.numel() else 0) + taps  # an empty block reads nothing
    capacity = longest if max_delay_samples is None else _capacity(max_delay_samples, taps, longest)
    if state is None:
        state = flat.new_zeros(batch, capacity)
    else:
        state = check_finite("state", flatten_state("state", state, leading, (None,)))
        if state.shape[1] < longest:
            raise InputError(
                f"state must hold at least floor(max delay) + {taps} = {longest} samples for "
                f"{interpolation} interpolation, found {state.shape[1]} (a delay that grows across "
                "blocks needs its capacity declared from the first block: pass max_delay_samples)"
            )
    delayed, after = _read(flat, delay_samples, whole, state, interpolation)
    delayed = restore_audio(delayed, leading)
    return (delayed, restore_audio(after, leading)) if return_state else delayed
