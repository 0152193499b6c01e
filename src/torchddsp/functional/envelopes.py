"""Control signals of a synthesizer voice, computed at control rate: ADSR envelopes and
low-frequency oscillators (LFOs).

Both are differentiable everywhere with finite gradients, including the corner cases a random
patch produces: zero-length segments (an attack of 0 s is a step), notes released before the
attack or decay has finished (the release starts from the level reached at note-off), and
curvature exponents applied at exactly 0 or 1 (``0 ** alpha`` has a finite gradient here).
Frame ``i`` is at time ``i / frame_rate`` (the library's frame convention).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import check_finite, check_positive, check_positive_int, check_rank, half_in_float32
from ..validation import InputError

__all__ = ["adsr", "lfo", "LFO_SHAPES"]

LFO_SHAPES = ("sine", "triangle", "saw", "reverse_saw", "square")


def _per_item(name: str, value: Tensor, batch: int | None = None) -> Tensor:
    check_rank(name, value, 1, "(batch,)")
    check_finite(name, value)
    if batch is not None and value.shape[0] != batch:
        raise InputError(f"{name} must have shape ({batch},), found {tuple(value.shape)}")
    return value


def _progress(t: Tensor, start: Tensor, length: Tensor) -> Tensor:
    """Fraction of a segment ``[start, start + length)`` done at times ``t``: 0 before, 1 after;
    a zero-length segment is a step at ``start`` (with zero gradient, not 0/0)."""
    positive = length > 0
    safe = torch.where(positive, length, torch.ones_like(length))
    ramp = torch.clamp((t - start) / safe, 0.0, 1.0)
    return torch.where(positive, ramp, (t >= start).to(t.dtype))


def _shaped(p: Tensor, alpha: Tensor) -> Tensor:
    """``p ** alpha`` for ``p`` in [0, 1] with finite gradients at ``p = 0`` (where the value is 0)."""
    positive = p > 0
    safe = torch.where(positive, p, torch.ones_like(p))
    return torch.where(positive, torch.exp(alpha * torch.log(safe)), torch.zeros_like(p))


@half_in_float32
def adsr(attack_s: Tensor, decay_s: Tensor, sustain: Tensor, release_s: Tensor, note_duration_s: Tensor,
         n_frames: int, frame_rate: float, curve: Tensor | float = 1.0) -> Tensor:
    """Attack-decay-sustain-release envelopes, one per batch item.

    With ``p`` the progress (0 to 1) of a segment and ``alpha`` the curvature::

        attack   p_a ** alpha                                  0 <= t < A
        decay    S + (1 - S) (1 - p_d) ** alpha                A <= t < A + D
        sustain  S                                             until note-off at d
        release  level(d) (1 - p_r) ** alpha                   d <= t < d + R, then 0

    ``alpha = 1`` gives straight lines, ``alpha > 1`` fast-then-slow falls (exponential-like
    decays) and slow-then-fast rises, ``alpha < 1`` the opposite. A note shorter than
    ``A + D`` is released from the level it has reached (a truncated attack or decay).

    Args:
        attack_s, decay_s, release_s: segment lengths in seconds (>= 0), each ``(batch,)``.
        sustain: level in [0, 1], ``(batch,)``.
        note_duration_s: time of note-off in seconds (>= 0), ``(batch,)``.
        n_frames: envelope length; ``frame_rate``: frames per second.
        curve: ``alpha`` (> 0), a number or ``(batch,)``.

    Returns:
        ``(batch, n_frames)`` in [0, 1]. Differentiable in every argument, finite everywhere.
    """
    frame_rate = check_positive("frame_rate", frame_rate)
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    attack_s = _per_item("attack_s", attack_s)
    batch = attack_s.shape[0]
    decay_s, sustain, release_s, note_duration_s = (
        _per_item(name, value, batch) for name, value in
        (("decay_s", decay_s), ("sustain", sustain), ("release_s", release_s), ("note_duration_s", note_duration_s)))
    for name, value in (("attack_s", attack_s), ("decay_s", decay_s), ("release_s", release_s),
                        ("note_duration_s", note_duration_s)):
        if bool((value < 0).any()):
            raise InputError(f"{name} must be >= 0 seconds")
    if bool(((sustain < 0) | (sustain > 1)).any()):
        raise InputError("sustain must lie in [0, 1]")
    alpha = curve if isinstance(curve, Tensor) else torch.tensor(float(curve), dtype=attack_s.dtype)
    alpha = alpha.to(dtype=attack_s.dtype, device=attack_s.device)
    check_finite("curve", alpha)
    if bool((alpha <= 0).any()):
        raise InputError("curve must be > 0")
    alpha = alpha.reshape(-1, 1) if alpha.dim() == 1 else alpha
    t = torch.arange(n_frames, dtype=attack_s.dtype, device=attack_s.device)[None, :] / frame_rate
    A, D, S, R, d = (v[:, None] for v in (attack_s, decay_s, sustain, release_s, note_duration_s))

    def held(time: Tensor) -> Tensor:
        attack = _shaped(_progress(time, torch.zeros_like(A), A), alpha)
        decay = S + (1 - S) * _shaped(1 - _progress(time, A, D), alpha)
        return attack * decay

    release = _shaped(1 - _progress(t, d, R), alpha)
    return torch.where(t < d, held(t), held(d) * release)


@half_in_float32
def lfo(frequency_hz: Tensor, shape_weights: Tensor, n_frames: int, frame_rate: float,
        initial_phase: Tensor | None = None, rate_modulation: Tensor | None = None,
        modulation_depth_hz: Tensor | None = None, weight_exponent: float = math.e) -> Tensor:
    """Unipolar low-frequency oscillators in [0, 1], a weighted mix of five shapes.

    The rate is ``frequency_hz + modulation_depth_hz * rate_modulation[n]`` (negative rates run
    the shapes backwards; nothing is clamped); the phase accumulates it in float64 like every
    oscillator of the library. Shapes of the phase ``theta`` (in turns ``u = theta / 2 pi``):
    ``sine = (1 - cos theta) / 2``, ``triangle = 1 - |2 frac(u) - 1|`` (0 at the start, 1 half
    way), ``saw = frac(u)``, ``reverse_saw = 1 - saw``, ``square = 1`` where ``cos theta < 0``
    (the middle half of each period, torchsynth's phase). The mix weights are ``w ** weight_exponent`` normalised to sum to
    one (an all-zero mix is an even blend), as in torchsynth.

    Args:
        frequency_hz: ``(batch,)`` base rate.
        shape_weights: ``(batch, 5)`` in [0, 1], in ``LFO_SHAPES`` order.
        n_frames, frame_rate: length and rate of the output.
        initial_phase: ``(batch,)`` radians; 0 by default.
        rate_modulation: ``(batch, n_frames)`` (e.g. an envelope); none by default.
        modulation_depth_hz: ``(batch,)`` scale of ``rate_modulation``.
        weight_exponent: exponent of the mix weights.

    Returns:
        ``(batch, n_frames)``. Differentiable in the rate, the depth, the phase and the weights
        (the square's gradient with respect to the phase is zero: it is piecewise constant).
    """
    frame_rate = check_positive("frame_rate", frame_rate)
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    frequency_hz = _per_item("frequency_hz", frequency_hz)
    batch = frequency_hz.shape[0]
    check_rank("shape_weights", shape_weights, 2, f"(batch, {len(LFO_SHAPES)})")
    check_finite("shape_weights", shape_weights)
    if shape_weights.shape != (batch, len(LFO_SHAPES)):
        raise InputError(f"shape_weights must have shape ({batch}, {len(LFO_SHAPES)}), found {tuple(shape_weights.shape)}")
    rate = frequency_hz[:, None].expand(batch, n_frames)
    if rate_modulation is not None:
        check_rank("rate_modulation", rate_modulation, 2, "(batch, n_frames)")
        check_finite("rate_modulation", rate_modulation)
        if rate_modulation.shape != (batch, n_frames):
            raise InputError(f"rate_modulation must have shape ({batch}, {n_frames}), found {tuple(rate_modulation.shape)}")
        if modulation_depth_hz is None:
            raise InputError("modulation_depth_hz is required with rate_modulation")
        rate = rate + _per_item("modulation_depth_hz", modulation_depth_hz, batch)[:, None] * rate_modulation
    start = torch.zeros(batch, dtype=torch.float64, device=frequency_hz.device) if initial_phase is None else \
        _per_item("initial_phase", initial_phase, batch).to(torch.float64) / (2 * math.pi)
    turns = torch.cumsum(rate.to(torch.float64) / frame_rate, dim=1) + start[:, None]
    fraction = (turns - torch.floor(turns.detach())).to(frequency_hz.dtype)
    theta = 2 * math.pi * fraction
    shapes = torch.stack([
        (1 - torch.cos(theta)) / 2,
        1 - torch.abs(2 * fraction - 1),
        fraction,
        1 - fraction,
        ((fraction > 0.25) & (fraction < 0.75)).to(fraction.dtype),
    ], dim=1)
    if bool(((shape_weights < 0) | (shape_weights > 1)).any()):
        raise InputError("shape_weights must lie in [0, 1]")
    weights = _shaped(shape_weights, torch.tensor(weight_exponent, dtype=shape_weights.dtype, device=shape_weights.device))
    total = weights.sum(1, keepdim=True)
    even = torch.full_like(weights, 1.0 / len(LFO_SHAPES))
    weights = torch.where(total > 0, weights / torch.where(total > 0, total, torch.ones_like(total)), even)
    return (weights[:, :, None] * shapes).sum(1)
