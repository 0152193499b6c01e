"""Fractional, time-varying delay lines (vibrato, chorus, flanger, pitch modulation).

``y[n] = x(n - d[n])``, with ``x`` between samples interpolated linearly or with a 4-point
Lagrange cubic. Samples before the start of ``audio`` come from ``history`` (the end of the
previous block when streaming), or are zero. Differentiable in the audio, the delay and the
history; the gradient w.r.t. the delay is the interpolant's slope, which never involves a
sample after ``n``. Read positions are integers plus a fraction, so precision does not
depend on the signal's length.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import check_choice, check_finite, check_rank, half_in_float32
from ..validation import InputError

__all__ = ["fractional_delay", "fractional_delay_stream", "DELAY_INTERPOLATIONS"]

DELAY_INTERPOLATIONS = ("linear", "cubic")


def _taps_before(interpolation: str) -> int:
    """Samples read before the one at ``floor`` of the read position's integer part."""
    return 1 if interpolation == "linear" else 2


@half_in_float32
def fractional_delay_stream(
    audio: Tensor,
    delay_samples: Tensor,
    history: Tensor | None,
    interpolation: str = "linear",
) -> tuple[Tensor, Tensor]:
    """Streaming form of :func:`fractional_delay`: returns ``(delayed, next_history)``.

    ``next_history`` holds the last ``history.shape[1]`` samples of ``history`` followed by
    ``audio``: pass it with the next block to continue exactly as one call would.
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_rank("delay_samples", delay_samples, 2, "(batch, n_samples) or (batch, 1)")
    check_choice("interpolation", interpolation, DELAY_INTERPOLATIONS)
    check_finite("audio", audio)
    check_finite("delay_samples", delay_samples)
    batch, n_samples = audio.shape
    if delay_samples.shape[0] != batch or delay_samples.shape[1] not in (1, n_samples):
        raise InputError(
            f"delay_samples must have shape ({batch}, {n_samples}) or ({batch}, 1) to match audio, "
            f"found {tuple(delay_samples.shape)}"
        )
    # Cubic interpolation reads one sample after the read position's integer part: causal
    # only from a delay of one sample.
    minimum = 0 if interpolation == "linear" else 1
    if not bool((delay_samples >= minimum).all()):
        raise InputError(
            f"delay_samples must be >= {minimum} for {interpolation} interpolation "
            "(a delay line cannot read the future)"
        )
    before = _taps_before(interpolation)
    whole = torch.floor(delay_samples.detach())
    longest = (int(whole.max()) if whole.numel() else 0) + before  # an empty block reads nothing
    if history is None:
        history = audio.new_zeros(batch, longest)
    else:
        check_rank("history", history, 2, "(batch, n_history)")
        if history.shape[0] != batch:
            raise InputError(f"history batch size must match audio ({batch}), found {history.shape[0]}")
        if history.shape[1] < longest:
            raise InputError(
                f"history must hold at least floor(max delay) + {before} = {longest} samples for "
                f"{interpolation} interpolation, found {history.shape[1]}"
            )
        check_finite("history", history)
    n_history = history.shape[1]
    signal = torch.cat([history.to(audio.dtype), audio], dim=1)
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


@half_in_float32
def fractional_delay(
    audio: Tensor,
    delay_samples: Tensor,
    history: Tensor | None = None,
    interpolation: str = "linear",
) -> Tensor:
    """Delay audio by a (time-varying, fractional) number of samples.

    Shape:
        ``audio``: ``(batch, n_samples)``; ``delay_samples``: ``(batch, n_samples)`` or
        ``(batch, 1)``; ``history``: ``(batch, n_history)`` -> ``(batch, n_samples)``.

    Args:
        audio: input signal. Differentiable.
        delay_samples: delay of each output sample in samples (fractional values are
            interpolated), >= 0 for linear and >= 1 for cubic interpolation (which reads one
            sample ahead of the read position). Differentiable.
        history: samples preceding ``audio`` (zeros if None); must hold at least
            ``floor(max delay) + 1`` (linear) or ``+ 2`` (cubic) samples.
        interpolation: ``"linear"`` or ``"cubic"`` (4-point Lagrange: flatter high end).
    """
    delayed, _ = fractional_delay_stream(audio, delay_samples, history, interpolation)
    return delayed
