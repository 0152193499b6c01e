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

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .controls import Control
from .controls import ControlLike
from .controls import Rate
from .controls import control_dtype
from .controls import control_values
from .controls import rate_of

__all__ = ["adsr", "lfo", "LFO_SHAPES"]

LFO_SHAPES = ("sine", "triangle", "saw", "reverse_saw", "square")


def _per_item(values: dict[str, ControlLike | None]) -> dict[str, Tensor]:
    """Per-note arguments as ``(batch or 1,)`` tensors of one dtype and device.

    Each is fixed (a number, a 0-d tensor, ``Control.fixed``) or per item (``(batch,)``, the
    layout these ops document, ``(batch, 1)`` or ``Control.per_item``); the rates of
    :mod:`~torchddsp.functional.controls` that vary in time are refused: an envelope's times
    are set once per note. ``batch`` is the largest batch among them; a None value is left out.
    """
    given = {name: value for name, value in values.items() if value is not None}
    raw = [v.value if isinstance(v, Control) else v for v in given.values()]
    tensors = [t for t in raw if isinstance(t, Tensor)]
    batch = max((t.shape[0] for t in tensors if t.dim() >= 1), default=1)
    device = tensors[0].device if tensors else None
    dtype = control_dtype(torch.empty(0, device=device), *tensors)
    like = torch.empty(batch, 0, dtype=dtype, device=device)
    result: dict[str, Tensor] = {}
    for name, value in given.items():
        if isinstance(value, Tensor) and value.dim() == 1:
            value = Control.per_item(value)  # the documented bare layout (batch,)
        rate = rate_of(name, value)
        if rate not in (Rate.FIXED, Rate.ITEM):
            raise InputError(
                f"{name} must be a number, (batch,), (batch, 1) or a fixed or per-item Control "
                f"(one value per note), found a {rate.value}-rate control"
            )
        result[name] = control_values(name, value, like, 1).reshape(-1)
    return result


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
def adsr(
    attack_s: ControlLike,
    decay_s: ControlLike,
    sustain: ControlLike,
    release_s: ControlLike,
    note_duration_s: ControlLike,
    n_frames: int,
    frame_rate: float,
    curve: ControlLike = 1.0,
) -> Tensor:
    """Attack-decay-sustain-release envelopes, one per batch item.

    With ``p`` the progress (0 to 1) of a segment and ``alpha`` the curvature::

        attack   p_a ** alpha                                  0 <= t < A
        decay    S + (1 - S) (1 - p_d) ** alpha                A <= t < A + D
        sustain  S                                             until note-off at d
        release  level(d) (1 - p_r) ** alpha                   d <= t < d + R, then 0

    ``alpha = 1`` gives straight lines, ``alpha > 1`` fast-then-slow falls (exponential-like
    decays) and slow-then-fast rises, ``alpha < 1`` the opposite. A note shorter than
    ``A + D`` is released from the level it has reached (a truncated attack or decay).

    Every argument but ``n_frames`` and ``frame_rate`` is one value per note: a number or
    ``Control.fixed`` (every item), ``(batch,)``, ``(batch, 1)`` or ``Control.per_item`` (the
    fixed and per-item rates of :mod:`~torchddsp.functional.controls`, its table).

    Args:
        attack_s, decay_s, release_s: segment lengths in seconds (>= 0).
        sustain: level in [0, 1].
        note_duration_s: time of note-off in seconds (>= 0).
        n_frames: envelope length; ``frame_rate``: frames per second.
        curve: ``alpha`` (> 0).

    Returns:
        ``(batch, n_frames)`` in [0, 1] (``batch`` the largest of the arguments', 1 when all are
        fixed). Differentiable in every argument, finite everywhere.

    Example:
        >>> adsr(0.25, 0.25, 0.5, 0.25, torch.tensor([0.75, 0.25]), 5, 4.0).tolist()
        [[0.0, 1.0, 0.5, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    frame_rate = check_positive("frame_rate", frame_rate)
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    v = _per_item(
        {
            "attack_s": attack_s,
            "decay_s": decay_s,
            "sustain": sustain,
            "release_s": release_s,
            "note_duration_s": note_duration_s,
            "curve": curve,
        }
    )
    alpha = v["curve"][:, None]
    if data_checks_enabled():
        for name in ("attack_s", "decay_s", "release_s", "note_duration_s"):
            if bool((v[name] < 0).any()):
                raise InputError(f"{name} must be >= 0 seconds")
        if bool(((v["sustain"] < 0) | (v["sustain"] > 1)).any()):
            raise InputError("sustain must lie in [0, 1]")
        if bool((alpha <= 0).any()):
            raise InputError("curve must be > 0")
    batch = max(value.shape[0] for value in v.values())
    t = torch.arange(n_frames, dtype=alpha.dtype, device=alpha.device)[None, :] / frame_rate
    A, D, S, R, d = (v[name][:, None] for name in ("attack_s", "decay_s", "sustain", "release_s", "note_duration_s"))

    def held(time: Tensor) -> Tensor:
        attack = _shaped(_progress(time, torch.zeros_like(A), A), alpha)
        decay = S + (1 - S) * _shaped(1 - _progress(time, A, D), alpha)
        return attack * decay

    release = _shaped(1 - _progress(t, d, R), alpha)
    return torch.where(t < d, held(t), held(d) * release).expand(batch, n_frames)


@half_in_float32
def lfo(
    rate_hz: ControlLike,
    shape_weights: Tensor,
    n_frames: int,
    frame_rate: float,
    rate_modulation: ControlLike | None = None,
    modulation_depth_hz: ControlLike | None = None,
    weight_exponent: float = math.e,
    *,
    state: ControlLike | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Unipolar low-frequency oscillators in [0, 1], a weighted mix of five shapes.

    The rate is ``rate_hz + modulation_depth_hz * rate_modulation[n]`` (negative rates run
    the shapes backwards; nothing is clamped); the phase accumulates it in float64 like every
    oscillator of the library. Shapes of the phase ``theta`` (in turns ``u = theta / 2 pi``):
    ``sine = (1 - cos theta) / 2``, ``triangle = 1 - |2 frac(u) - 1|`` (0 at the start, 1 half
    way), ``saw = frac(u)``, ``reverse_saw = 1 - saw``, ``square = 1`` where ``cos theta < 0``
    (the middle half of each period, torchsynth's phase). The mix weights are ``w ** weight_exponent`` normalised to sum to
    one (an all-zero mix is an even blend), as in torchsynth.

    ``rate_hz``, ``state`` and ``modulation_depth_hz`` are one value per item: a
    number or ``Control.fixed``, ``(batch,)``, ``(batch, 1)`` or ``Control.per_item``;
    ``rate_modulation`` takes every rate of :mod:`~torchddsp.functional.controls` (its table),
    its samples being the output's ``n_frames`` frames.

    Args:
        rate_hz: base rate (cycles per second).
        shape_weights: ``(batch or 1, 5)`` in [0, 1], in ``LFO_SHAPES`` order.
        n_frames, frame_rate: length and rate of the output.
        rate_modulation: e.g. an envelope ``(batch or 1, n_frames)``; none by default.
        modulation_depth_hz: scale of ``rate_modulation`` in Hz (required with it).
        weight_exponent: exponent of the mix weights.
        state: the phase in radians before the first frame, ``(batch or 1, 1)`` (or any
            per-item layout above); 0 (at rest) by default.
        return_state: also return the phase after the last frame ``(batch, 1)`` in [0, 2 pi);
            passed as ``state`` with the following frames, the result equals one call.

    Returns:
        ``(batch, n_frames)`` (``batch`` the largest of the arguments'), and the state when
        asked. Differentiable in the rate, the depth, the phase and the weights (the square's gradient with respect to the phase is zero: it is piecewise constant).
    """
    frame_rate = check_positive("frame_rate", frame_rate)
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    if rate_modulation is not None and modulation_depth_hz is None:
        raise InputError("modulation_depth_hz is required with rate_modulation")
    v = _per_item({"rate_hz": rate_hz, "state": state, "modulation_depth_hz": modulation_depth_hz})
    base_hz = v["rate_hz"]
    batch = max(value.shape[0] for value in v.values())
    check_rank("shape_weights", shape_weights, 2, f"(batch or 1, {len(LFO_SHAPES)})")
    check_finite("shape_weights", shape_weights)
    modulation_raw = rate_modulation.value if isinstance(rate_modulation, Control) else rate_modulation
    modulation_batch = modulation_raw.shape[0] if isinstance(modulation_raw, Tensor) and modulation_raw.dim() else 1
    batch = max(batch, shape_weights.shape[0], modulation_batch)
    if shape_weights.shape[0] not in (1, batch) or shape_weights.shape[1] != len(LFO_SHAPES):
        raise InputError(
            f"shape_weights must have shape ({batch} or 1, {len(LFO_SHAPES)}), found {tuple(shape_weights.shape)}"
        )
    rate = base_hz[:, None]
    if rate_modulation is not None:
        like = base_hz.new_empty(batch, 0)
        modulation = control_values("rate_modulation", rate_modulation, like, n_frames)[..., 0]
        rate = rate + v["modulation_depth_hz"][:, None] * modulation
    rate = rate.expand(batch, n_frames)
    phase = v.get("state")
    start = rate.new_zeros(1, dtype=torch.float64) if phase is None else phase.to(torch.float64) / (2 * math.pi)
    turns = torch.cumsum(rate.to(torch.float64) / frame_rate, dim=1) + start[:, None]
    last = (turns[:, -1:] if n_frames else start[:, None]).expand(batch, 1)
    fraction = (turns - torch.floor(turns.detach())).to(base_hz.dtype)
    out = (_mix_weights(shape_weights, weight_exponent)[:, :, None] * _lfo_shapes(fraction)).sum(1)
    if not return_state:
        return out
    # Whole turns dropped: the phase stays in [0, 2 pi) however long the stream runs.
    return out, (2 * math.pi * (last - torch.floor(last.detach()))).to(base_hz.dtype)


def _lfo_shapes(fraction: Tensor) -> Tensor:
    """The five shapes of :func:`lfo` at phase ``fraction`` (turns in [0, 1)), ``(batch, 5, n)``."""
    theta = 2 * math.pi * fraction
    return torch.stack(
        [
            (1 - torch.cos(theta)) / 2,
            1 - torch.abs(2 * fraction - 1),
            fraction,
            1 - fraction,
            ((fraction > 0.25) & (fraction < 0.75)).to(fraction.dtype),
        ],
        dim=1,
    )


def _mix_weights(shape_weights: Tensor, weight_exponent: float) -> Tensor:
    """``shape_weights ** weight_exponent`` normalised to sum to one per item (an all-zero mix is
    an even blend), ``(batch or 1, 5)``."""
    if data_checks_enabled() and bool(((shape_weights < 0) | (shape_weights > 1)).any()):
        raise InputError("shape_weights must lie in [0, 1]")
    exponent = torch.tensor(weight_exponent, dtype=shape_weights.dtype, device=shape_weights.device)
    weights = _shaped(shape_weights, exponent)
    total = weights.sum(1, keepdim=True)
    even = torch.full_like(weights, 1.0 / len(LFO_SHAPES))
    return torch.where(total > 0, weights / torch.where(total > 0, total, torch.ones_like(total)), even)
