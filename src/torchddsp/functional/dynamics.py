"""Dynamic range processing: level detection, the static gain curve of a compressor, limiter
or expander, attack/release ballistics, and the whole compressor.

The design is the "log-domain, smooth, decoupled" feed-forward compressor of Giannoulis,
Massberg and Reiss ("Digital Dynamic Range Compressor Design - A Tutorial and Analysis",
JAES 2012): the input level in dB goes through a static curve with a quadratic soft knee, and
the resulting gain (dB) is smoothed by a one-pole filter whose coefficient switches between
the attack and release time constants.

Ballistics with exact gradients: the switch (attack or release) depends on the output, so the
smoother is a nonlinear recursion; but once the switch decisions are known it is a linear,
time-varying one-pole filter ``y[n] = alpha[n] y[n-1] + (1 - alpha[n]) g[n]``. The decisions
are taken by a compiled pass (``engine.compressor``) or its PyTorch reference (no gradient:
they are piecewise constant), and the output is
then computed by :func:`~torchddsp.functional.allpole.allpole_filter`, whose gradients with
respect to the gain curve, the time constants and the state are exact (the same approach as
torchcomp). Time constant ``tau``: ``alpha = exp(-1 / (tau * sample_rate))``, so a step
settles to ``1 - 1/e`` (63.2 %) of its size in ``tau`` seconds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import as_tensor_like
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .allpole import allpole_filter
from .allpole import state_like
from .controls import Control
from .controls import ControlLike
from .controls import control_values
from .conversions import amplitude_to_db
from .conversions import db_to_amplitude
from .conversions import power_to_db
from .engine import resolve_backend
from .engine.compressor import attack_decisions
from .layout import flatten_audio
from .layout import restore_audio

__all__ = ["gain_computer", "smooth_gain", "detect_level", "compress", "DYNAMICS_MODES", "LEVEL_DETECTORS"]

DYNAMICS_MODES = ("compressor", "expander")
LEVEL_DETECTORS = ("peak", "rms")


def _setting(name: str, value: ControlLike, like: Tensor) -> Tensor:
    """A setting as ``(batch or 1, n_samples or 1)`` for ``like`` ``(batch, n_samples)``: a
    control (:func:`~torchddsp.functional.controls.control_values`: a number, ``(batch, 1)``
    per item, ``(batch or 1, n_samples)`` per sample, or a :class:`Control`)."""
    return control_values(name, value, like, like.shape[-1])[..., 0]


def _ratio_setting(ratio: ControlLike, like: Tensor, mode: str) -> Tensor:
    """The ratio as a setting (:func:`_setting`). A limiter's ``inf`` (a compressor's only; a
    control must be finite) stands as the dtype's largest number, whose reciprocal is 0 to the
    dtype's precision, so the slope above the knee is exactly -1."""
    raw = ratio.value if isinstance(ratio, Control) else ratio
    tensor = as_tensor_like("ratio", raw, like)
    if data_checks_enabled():
        if bool(torch.isnan(tensor).any()):
            raise InputError("ratio must be a number (not NaN), found NaN")
        if bool((tensor < 1).any()):
            raise InputError("ratio must be >= 1 (use mode='expander' for expansion)")
        if mode == "expander" and bool(torch.isinf(tensor).any()):
            raise InputError("ratio must be finite for an expander (a large ratio is a gate)")
    tensor = torch.nan_to_num(tensor, nan=float("nan"), posinf=torch.finfo(tensor.dtype).max)
    return _setting("ratio", Control(tensor, ratio.rate) if isinstance(ratio, Control) else tensor, like)


@half_in_float32
def gain_computer(
    level_db: Tensor,
    threshold_db: Tensor | float,
    ratio: Tensor | float,
    knee_db: Tensor | float = 0.0,
    mode: str = "compressor",
) -> Tensor:
    """Static gain (dB, ``<= 0``) of a compressor or downward expander at each input level.

    Compressor (above the threshold ``T`` the level rises ``1 / ratio`` dB per dB; ``ratio =
    inf`` is a limiter), with a quadratic knee of width ``W`` dB centred on ``T``::

        out = x                                        x <= T - W/2
        out = x + (1/R - 1) (x - T + W/2)^2 / (2 W)    |x - T| < W/2
        out = T + (x - T) / R                          x >= T + W/2

    Expander (below ``T`` the level falls ``ratio`` dB per dB; a gate for large ratios)::

        out = x                                        x >= T + W/2
        out = x - (R - 1) (x - T - W/2)^2 / (2 W)      |x - T| < W/2
        out = T + (x - T) R                            x <= T - W/2

    Args:
        level_db: input level in dB, ``(..., n_samples)``.
        threshold_db: ``T`` in dB; a control: a number, ``(batch, 1)``, ``(batch or 1,
            n_samples)`` or a :class:`~torchddsp.functional.controls.Control` (``batch``: the
            product of the leading dimensions).
        ratio: ``R >= 1`` (``float("inf")`` allowed for a compressor: a limiter).
        knee_db: ``W >= 0`` (0: hard knee).
        mode: ``"compressor"`` or ``"expander"``.

    Returns:
        ``gain_db = out - level_db`` ``(..., n_samples)``. Differentiable in the level, the
        threshold, the ratio and the knee (the curve is continuously differentiable in the level).
    """
    level_db, leading = flatten_audio("level_db", level_db)
    check_finite("level_db", level_db)
    check_choice("mode", mode, DYNAMICS_MODES)
    threshold_db = _setting("threshold_db", threshold_db, level_db)
    ratio = _ratio_setting(ratio, level_db, mode)
    knee_db = _setting("knee_db", knee_db, level_db)
    if data_checks_enabled() and bool((knee_db < 0).any()):
        raise InputError("knee_db must be >= 0")
    # A knee of zero width has no quadratic part; a tiny floor keeps the division finite
    # where the branch is not selected (its value and gradient are then unused).
    safe_knee = torch.where(knee_db > 0, knee_db, torch.ones_like(knee_db))
    offset = level_db - threshold_db
    half = knee_db / 2
    if mode == "compressor":
        slope = 1.0 / ratio - 1.0  # d(gain)/d(level) above the knee (inf ratio -> -1)
        above = slope * offset
        inside = slope * (offset + half) ** 2 / (2 * safe_knee)
        gain = torch.where(offset <= -half, torch.zeros_like(offset), torch.where(offset >= half, above, inside))
    else:
        slope = ratio - 1.0
        below = slope * offset
        inside = -slope * (offset - half) ** 2 / (2 * safe_knee)
        gain = torch.where(offset >= half, torch.zeros_like(offset), torch.where(offset <= -half, below, inside))
    return restore_audio(gain, leading)


def _time_constant_coefficient(name: str, seconds: ControlLike, like: Tensor, sample_rate: float) -> Tensor:
    """``alpha = exp(-1 / (tau * sample_rate))`` of a time constant setting (:func:`_setting`)."""
    seconds = _setting(name, seconds, like)
    if data_checks_enabled() and bool((seconds <= 0).any()):
        raise InputError(f"{name} must be > 0 seconds")
    return torch.exp(-1.0 / (seconds * sample_rate))


def _decisions_torch(target: Tensor, attack: Tensor, release: Tensor, state: Tensor, rising: bool) -> Tensor:
    """Where the ballistics use the attack coefficient, one sample at a time: the readable
    reference of ``engine.compressor`` (any device). Shapes as :func:`attack_decisions`'s."""
    batch, n_samples = target.shape
    attack, release = attack.expand(batch, n_samples), release.expand(batch, n_samples)
    y = state
    decisions = []
    for n in range(n_samples):
        use = target[:, n] > y if rising else target[:, n] < y
        decisions.append(use)
        alpha = torch.where(use, attack[:, n], release[:, n])
        y = alpha * y + (1 - alpha) * target[:, n]
    return torch.stack(decisions, dim=1) if decisions else target.new_zeros(target.shape, dtype=torch.bool)


def _initial_state(state: Tensor | None, gain_db: Tensor, leading: torch.Size, return_state: bool) -> Tensor:
    """``y[-1]`` per flattened item ``(batch,)``: ``state`` ``(..., 1)`` (after the leading
    dimensions) or, by default, the first target."""
    batch, n_samples = gain_db.shape
    if state is None:
        if n_samples == 0 and return_state:
            raise InputError(
                "state is required to return a state from an empty gain_db (by default the state "
                "starts at the first target, and an empty block has none)"
            )
        return gain_db[:, 0] if n_samples else gain_db.new_zeros(batch)
    check_tensor("state", state)
    if state.shape != (*leading, 1):
        raise InputError(
            f"state must have shape {(*leading, 1)} (gain_db's leading dimensions, then 1), found {tuple(state.shape)}"
        )
    check_finite("state", state)
    return state.reshape(batch).to(gain_db.dtype)


@half_in_float32
def smooth_gain(
    gain_db: Tensor,
    attack_s: ControlLike,
    release_s: ControlLike,
    sample_rate: float,
    *,
    attack_when: str = "falling",
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Attack/release ballistics: ``y[n] = alpha[n] y[n-1] + (1 - alpha[n]) gain_db[n]``.

    ``alpha[n]`` is the attack coefficient when the target moves in the attack direction
    (``attack_when="falling"``: the target is below ``y[n-1]``, more gain reduction, as in a
    compressor; ``"rising"``: above it, as in an expander opening) and the release coefficient
    otherwise. ``alpha = exp(-1 / (tau * sample_rate))``.

    Args:
        gain_db: target gain ``(..., n_samples)`` (any unit; dB in a compressor).
        attack_s, release_s: time constants in seconds (> 0): controls (a number, ``(batch,
            1)``, ``(batch or 1, n_samples)`` or a :class:`~torchddsp.functional.controls.Control`;
            ``batch``: the product of the leading dimensions).
        sample_rate: in Hz.
        attack_when: ``"falling"`` or ``"rising"``.
        state: ``y[-1]``, ``(..., 1)`` (``gain_db``'s leading dimensions); by default the first
            target (no start-up transient).
        return_state: also return the block's last output as the state ``(..., 1)``; passed
            as ``state`` with the following samples, the result equals one call.
        backend: ``"auto"``, ``"numba"`` or ``"torch"``
            (:func:`~torchddsp.functional.engine.resolve_backend`): the engine of the
            attack/release decisions (a compiled pass or a loop of PyTorch ops) and of the
            smoothing (:func:`allpole_filter`'s ``backend``).

    Returns:
        ``(..., n_samples)`` (and the state). Differentiable in ``gain_db``, both time
        constants and ``state``; the attack/release decisions are piecewise constant.
    """
    gain_db, leading = flatten_audio("gain_db", gain_db)
    check_finite("gain_db", gain_db)
    check_choice("attack_when", attack_when, ("falling", "rising"))
    engine = resolve_backend(backend, gain_db.device)
    sample_rate = check_positive("sample_rate", sample_rate)
    attack = _time_constant_coefficient("attack_s", attack_s, gain_db, sample_rate)
    release = _time_constant_coefficient("release_s", release_s, gain_db, sample_rate)
    before = _initial_state(state, gain_db, leading, return_state)
    decide = attack_decisions if engine == "numba" else _decisions_torch
    decisions = decide(gain_db.detach(), attack.detach(), release.detach(), before.detach(), attack_when == "rising")
    alpha = torch.where(decisions, attack, release)
    y = allpole_filter((1 - alpha) * gain_db, -alpha.unsqueeze(-1), state=before.unsqueeze(-1), backend=engine)
    if return_state:
        return restore_audio(y, leading), (y[:, -1] if gain_db.shape[1] else before).reshape(*leading, 1)
    return restore_audio(y, leading)


@half_in_float32
def detect_level(
    audio: Tensor,
    sample_rate: float,
    detector: str = "peak",
    rms_time_s: float = 0.01,
    range_db: float = 120.0,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Level of ``audio`` ``(..., n_samples)`` in dB, per sample, floored at ``-range_db``.

    ``"peak"``: ``20 log10 |x|`` (the ballistics do the smoothing); ``"rms"``: the mean square
    through a one-pole of time constant ``rms_time_s``, then ``10 log10``. Differentiable, with
    finite gradients on silence.

    ``state`` ``(..., 1)``: the rms detector's mean square before the block (zeros, at rest, by
    default; the peak detector has no memory and returns the state it was given). With
    ``return_state=True`` the result is ``(level_db, state)``; passing that state with the
    following samples continues exactly as one call.
    """
    audio, leading = flatten_audio("audio", audio)
    check_finite("audio", audio)
    check_choice("detector", detector, LEVEL_DETECTORS)
    sample_rate = check_positive("sample_rate", sample_rate)
    before = state_like("state", state, leading, (1,), audio)
    if detector == "peak":
        level, after = amplitude_to_db(audio, range_db=range_db), before
    else:
        alpha = math.exp(-1.0 / (check_positive("rms_time_s", rms_time_s) * sample_rate))
        power, after = allpole_filter(
            (1 - alpha) * audio * audio, audio.new_tensor([[-alpha]]), state=before, return_state=True
        )
        level = power_to_db(power, range_db=range_db)
    level = restore_audio(level, leading)
    return (level, restore_audio(after, leading)) if return_state else level


@half_in_float32
def compress(
    audio: Tensor,
    sample_rate: float,
    threshold_db: ControlLike = -20.0,
    ratio: ControlLike = 4.0,
    knee_db: ControlLike = 6.0,
    attack_s: ControlLike = 0.005,
    release_s: ControlLike = 0.1,
    makeup_db: ControlLike = 0.0,
    mode: str = "compressor",
    detector: str = "peak",
    return_gain: bool = False,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, ...]:
    """Feed-forward compressor, limiter (``ratio=inf``) or downward expander.

    ``level = detect_level(audio)``, ``gain = gain_computer(level)``, smoothed by
    :func:`smooth_gain` (attack on more reduction for a compressor, on opening for an
    expander), then ``out = audio * 10 ** ((smoothed + makeup_db) / 20)``.

    Args:
        audio: ``(..., n_samples)``.
        sample_rate: in Hz.
        threshold_db, ratio, knee_db: the static curve (:func:`gain_computer`).
        attack_s, release_s: ballistics time constants in seconds.
        makeup_db: gain added after compression.
        mode: ``"compressor"`` or ``"expander"``.
        detector: ``"peak"`` or ``"rms"``.
        return_gain: also return the applied gain in dB ``(..., n_samples)`` (makeup included).
        state: ``(..., 2)``: the rms detector's mean square (unused by ``"peak"``) and the
            smoothed gain ``y[-1]`` in dB; by default the detector at rest and the ballistics
            starting at the first target gain (:func:`smooth_gain`).
        return_state: also return the state after the last sample (last in the tuple); passed
            as ``state`` with the following samples, the result equals one call.
        backend: the ballistics' engine (:func:`smooth_gain`).

    Every setting is a control: a number, ``(batch, 1)`` per item, ``(batch or 1, n_samples)``
    per sample or a :class:`~torchddsp.functional.controls.Control` (``batch``: the product of
    the leading dimensions); the output is differentiable in the audio and every setting but
    ``mode``/``detector``.
    """
    audio, leading = flatten_audio("audio", audio)
    before = None if state is None else state_like("state", state, leading, (2,), audio)
    level, detector_state = detect_level(
        audio, sample_rate, detector, return_state=True, state=None if before is None else before[:, :1]
    )
    gain = gain_computer(level, threshold_db, ratio, knee_db, mode)
    smoothed = smooth_gain(
        gain,
        attack_s,
        release_s,
        sample_rate,
        return_state=return_state,
        attack_when="falling" if mode == "compressor" else "rising",
        state=None if before is None else before[:, 1:],
        backend=backend,
    )
    if return_state:
        smoothed, gain_state = smoothed
    applied = smoothed + _setting("makeup_db", makeup_db, audio)
    result: tuple[Tensor, ...] = (restore_audio(audio * db_to_amplitude(applied), leading),)
    if return_gain:
        result += (restore_audio(applied, leading),)
    if return_state:
        result += (restore_audio(torch.cat([detector_state, gain_state], dim=1), leading),)
    return result if len(result) > 1 else result[0]
