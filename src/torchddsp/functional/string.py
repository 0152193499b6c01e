"""A plucked string: Karplus-Strong's feedback delay line (Karplus and Strong, 1983; Jaffe and
Smith, 1983), the simplest digital waveguide.

The output feeds back through a fractional delay and a one-zero loss filter::

    y[n] = x[n] + g[n] * ((1 - s) y_d[n] + s y_d[n - 1]),   y_d[n] = y(n - D)

``x`` is the excitation (a pluck: a short noise burst, an impulse), ``g`` the loop gain (<= 1,
the overall decay), ``s`` the damping in [0, 0.5] (0: every harmonic decays alike; 0.5: the
classic two-point average, high harmonics die fastest), and ``y(n - D)`` read between samples
as :func:`~torchddsp.functional.fractional_delay` reads it (``"linear"``, or ``"cubic"``:
4-point Lagrange). The loop's delay is tuned so that the fundamental sits at ``f0_hz``
exactly: ``D`` is the period ``sample_rate / f0_hz`` less the loss filter's phase delay at
``f0``, and with linear interpolation the fraction is chosen so that the interpolator's phase
delay at ``f0`` (not only at 0 Hz) is ``D``'s fraction. Harmonic ``k`` then decays by
``g |H(w_k)|`` per period (``H`` the loss filter and interpolator), i.e. with ``s = 0`` and a
whole period by exactly ``g`` per period.

Interpolator and loss filter fold into a few taps ``c_j`` at delays ``d0 + j``; the recursion
``y[n] = x[n] + g[n] sum_j c_j y[n - d0 - j]`` reads only samples at least ``d0`` in the past,
so the PyTorch path (``backend="torch"``, any device) runs ``d0`` samples at a time as
whole-block tensor ops (a Python step per ``d0`` samples, about one per period), and its
backward pass is the adjoint recursion run backwards the same way (a custom autograd
function), so memory stays ``O(batch * n_samples)``. On CPU a compiled loop
(``engine.string``) does the same sample by sample, tested equal to it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_range
from ..validation import half_in_float32
from .controls import ControlLike
from .controls import Rate
from .controls import control_dtype
from .controls import control_values
from .controls import rate_of
from .delay import DELAY_INTERPOLATIONS
from .engine import resolve_backend
from .engine.string import fused_string
from .layout import flatten_audio
from .layout import flatten_state
from .layout import restore_audio

__all__ = ["karplus_strong", "string_taps"]


def _fraction_for_phase_delay(delay: Tensor, omega: Tensor) -> Tensor:
    """The linear interpolator ``(1 - rho) + rho z^-1`` whose phase delay at ``omega`` is
    ``delay`` (in [0, 1)): ``tan(omega delay) = rho sin w / (1 - rho + rho cos w)``, solved."""
    tangent = torch.tan(omega * delay)
    return tangent / (torch.sin(omega) + tangent * (1.0 - torch.cos(omega)))


def _lagrange_taps(fraction: Tensor) -> Tensor:
    """Weights of ``y[n - N + 1], y[n - N], y[n - N - 1], y[n - N - 2]`` reading ``y(n - N - fraction)``:
    :func:`~torchddsp.functional.fractional_delay`'s 4-point Lagrange cubic."""
    t = 1.0 - fraction
    return torch.stack(
        [
            (t + 1) * t * (t - 1) / 6,
            -(t + 1) * t * (t - 2) / 2,
            (t + 1) * (t - 1) * (t - 2) / 2,
            -t * (t - 1) * (t - 2) / 6,
        ],
        dim=-1,
    )


def string_taps(period: Tensor, damping: Tensor, interpolation: str = "linear") -> tuple[Tensor, Tensor]:
    """The loop's taps: ``(d0, c)`` with ``d0`` ``(batch,)`` long, the shortest delay, and ``c``
    ``(batch, n_taps)`` the weights of ``y[n - d0 - j]`` (interpolator times loss filter).

    Shape:
        ``period`` (samples per cycle, ``sample_rate / f0_hz``), ``damping``: ``(batch,)``.

    Example:
        >>> d0, c = string_taps(torch.tensor([10.5]), torch.tensor([0.0]))
        >>> d0.tolist(), c.tolist()
        ([10], [[0.5, 0.5, 0.0]])
    """
    omega = 2 * math.pi / period
    # The loss filter's phase delay at f0 (s at 0 Hz; exact at the fundamental).
    loss_delay = torch.atan2(damping * torch.sin(omega), 1.0 - damping + damping * torch.cos(omega)) / omega
    delay = period - loss_delay
    whole = torch.floor(delay.detach())
    if interpolation == "linear":
        rho = _fraction_for_phase_delay(delay - whole, omega)
        interpolator, first = torch.stack([1.0 - rho, rho], dim=-1), whole
    else:
        interpolator, first = _lagrange_taps(delay - whole), whole - 1
    loss = torch.stack([1.0 - damping, damping], dim=-1)
    # The product of the two FIR filters: a full convolution of their taps.
    taps = interpolator.new_zeros(*interpolator.shape[:-1], interpolator.shape[-1] + 1)
    taps = taps + torch.nn.functional.pad(interpolator * loss[..., :1], (0, 1))
    taps = taps + torch.nn.functional.pad(interpolator * loss[..., 1:], (1, 0))
    return first.long(), taps


def _block_positions(d0: Tensor, n_taps: int, block: int, history: int) -> Tensor:
    """``(batch, n_taps, block)`` buffer positions, relative to a block's start ``t``, of
    ``y[t + r - d0 - j]`` in a buffer holding ``history`` samples before sample 0."""
    r = torch.arange(block, device=d0.device)
    j = torch.arange(n_taps, device=d0.device)
    return history - d0[:, None, None] - j[None, :, None] + r[None, None, :]


class _StringLoop(torch.autograd.Function):
    """``y = x + g * sum_j c_j y[n - d0 - j]`` over a buffer that starts with ``history``."""

    @staticmethod
    def forward(ctx, x: Tensor, gain: Tensor, taps: Tensor, history: Tensor, d0: Tensor) -> Tensor:
        batch, n_samples = x.shape
        n_history, n_taps = history.shape[1], taps.shape[1]
        block = int(d0.min())
        positions = _block_positions(d0, n_taps, block, n_history)
        buffer = torch.cat([history, torch.zeros_like(x)], dim=1)
        for t in range(0, n_samples, block):
            m = min(block, n_samples - t)
            past = buffer.gather(1, (positions[..., :m] + t).reshape(batch, -1)).view(batch, n_taps, m)
            loop = torch.einsum("bj,bjm->bm", taps, past)
            buffer[:, n_history + t : n_history + t + m] = x[:, t : t + m] + gain[:, t : t + m] * loop
        ctx.save_for_backward(gain, taps, buffer, d0)
        return buffer

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        gain, taps, buffer, d0 = ctx.saved_tensors
        batch, n_taps = taps.shape
        n_samples = gain.shape[1]
        n_history = buffer.shape[1] - n_samples
        block = int(d0.min())
        positions = _block_positions(d0, n_taps, block, n_history)
        adjoint = grad.clone()  # d loss / d buffer, completed block by block from the end
        starts = list(range(0, n_samples, block))
        for t in reversed(starts):
            m = min(block, n_samples - t)
            # Every later sample has pushed its share back: this block's adjoint is final.
            weighted = adjoint[:, n_history + t : n_history + t + m] * gain[:, t : t + m]
            shares = (taps[:, :, None] * weighted[:, None, :]).reshape(batch, -1)
            adjoint.scatter_add_(1, (positions[..., :m] + t).reshape(batch, -1), shares)
        output_adjoint = adjoint[:, n_history:]
        every = _block_positions(d0, n_taps, n_samples, n_history).reshape(batch, -1)
        past = buffer.gather(1, every).view(batch, n_taps, n_samples)
        grad_gain = output_adjoint * torch.einsum("bj,bjm->bm", taps, past)
        grad_taps = torch.einsum("bm,bjm->bj", output_adjoint * gain, past)
        return output_adjoint, grad_gain, grad_taps, adjoint[:, :n_history], None


def _per_item(name: str, value: ControlLike, like: Tensor) -> Tensor:
    """A control that must be fixed per call (a number or ``(batch, 1)``) as ``(batch,)``."""
    if rate_of(name, value) not in (Rate.FIXED, Rate.ITEM):
        raise InputError(f"{name} must be a number or (batch, 1) per item (the string is fixed per call)")
    return control_values(name, value, like, like.shape[1])[:, 0, 0].expand(like.shape[0])


@half_in_float32
def karplus_strong(
    excitation: Tensor,
    f0_hz: ControlLike,
    sample_rate: float,
    *,
    loop_gain: ControlLike = 0.999,
    damping: ControlLike = 0.5,
    interpolation: str = "linear",
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """A plucked string: ``excitation`` through a Karplus-Strong loop tuned to ``f0_hz`` (module
    docstring).

    Shape:
        ``excitation``: ``(..., n_samples)``; ``state``: ``(..., n_history)`` -> ``(...,
        n_samples)`` (leading dimensions flattened into ``batch``).

    Args:
        excitation: the input driving the string (a pluck). Differentiable.
        f0_hz: the fundamental, a number or ``(batch, 1)`` per item, below Nyquist and with
            a period of more than about 2 (linear) or 3 (cubic) samples, so that the loop spans
            its taps. Differentiable (through the fractional delay).
        sample_rate: samples per second, > 0.
        loop_gain: ``g`` in [0, 1], at any rate of :mod:`~torchddsp.functional.controls` (a
            per-sample gain damps a note at its release). Differentiable.
        damping: ``s`` in [0, 0.5], a number or ``(batch, 1)``. Differentiable.
        interpolation: ``"linear"`` or ``"cubic"`` (4-point Lagrange: less damping of high
            harmonics, closer tuning of them).
        state: the string's memory, its last ``n_history`` outputs (oldest first); zeros (at
            rest) by default. It must hold at least ``d0 + n_taps - 1`` samples (about one
            period). Differentiable.
        return_state: also return the next state, the last ``n_history`` outputs (as many as
            ``state`` held, or one period and the taps from rest); blocks then equal one call.
        backend: ``"auto"`` (the compiled loop on CPU, else the block-wise PyTorch loop),
            ``"numba"`` or ``"torch"``; the two agree to float rounding.

    Example:
        >>> pluck = torch.zeros(1, 400); pluck[0, 0] = 1.0
        >>> y = karplus_strong(pluck, 400.0, 16000, loop_gain=0.5, damping=0.0)
        >>> y[0, [0, 40, 80]].tolist()  # one period is 40 samples: 0.5 per trip round the loop
        [1.0, 0.5, 0.25]
    """
    flat, leading = flatten_audio("excitation", excitation)
    check_finite("excitation", flat)
    check_choice("interpolation", interpolation, DELAY_INTERPOLATIONS)
    sample_rate = check_positive("sample_rate", sample_rate)
    batch, n_samples = flat.shape
    like = flat.new_empty(batch, n_samples, dtype=control_dtype(flat, f0_hz, loop_gain, damping))
    f0, s = _per_item("f0_hz", f0_hz, like), _per_item("damping", damping, like)
    gain = control_values("loop_gain", loop_gain, like, n_samples)
    check_range("f0_hz", f0, 0.0, sample_rate / 2, low_open=True, high_open=True)
    check_range("damping", s, 0.0, 0.5)
    check_range("loop_gain", gain, 0.0, 1.0)
    d0, taps = string_taps(sample_rate / f0, s, interpolation)
    if bool((d0 < 1).any()):
        raise InputError(
            f"f0_hz must leave the {interpolation} loop a delay longer than its taps (at least "
            f"{2 if interpolation == 'linear' else 3} samples per period), found up to {float(f0.max()):.6g} Hz"
        )
    needed = int(d0.max()) + taps.shape[1] - 1
    if state is None:
        history = like.new_zeros(batch, needed)
    else:
        history = check_finite("state", flatten_state("state", state, leading, (None,))).to(like.dtype)
        if history.shape[1] < needed:
            raise InputError(f"state must hold at least {needed} samples for this string, found {history.shape[1]}")
    gain = gain[..., 0].expand(batch, n_samples)
    loop = fused_string if resolve_backend(backend, flat.device) == "numba" else _StringLoop.apply
    buffer = loop(flat.to(like.dtype), gain, taps, history, d0)
    audio = restore_audio(buffer[:, history.shape[1] :], leading)
    return (audio, restore_audio(buffer[:, -history.shape[1] :], leading)) if return_state else audio
