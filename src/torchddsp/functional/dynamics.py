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
are taken by a compiled pass (no gradient: they are piecewise constant), and the output is
then computed by :func:`~torchddsp.functional.allpole.allpole_filter`, whose gradients with
respect to the gain curve, the time constants and the state are exact (the same approach as
torchcomp). Time constant ``tau``: ``alpha = exp(-1 / (tau * sample_rate))``, so a step
settles to ``1 - 1/e`` (63.2 %) of its size in ``tau`` seconds.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..validation import as_tensor_like, check_choice, check_finite, check_positive, check_rank, half_in_float32
from .allpole import allpole_filter
from .conversions import amplitude_to_db, db_to_amplitude, power_to_db
from ..validation import InputError

__all__ = ["gain_computer", "smooth_gain", "detect_level", "compress", "DYNAMICS_MODES", "LEVEL_DETECTORS"]

DYNAMICS_MODES = ("compressor", "expander")
LEVEL_DETECTORS = ("peak", "rms")

try:  # numba is a core dependency; the PyTorch loop below is the fallback.
    import numba
except ImportError:  # pragma: no cover
    numba = None


def _parameter(name: str, value: Tensor | float, like: Tensor, allow_inf: bool = False) -> Tensor:
    """A setting as a tensor broadcastable to ``(batch, n_samples)``: a number, ``(batch or 1,
    1)`` (per item) or ``(batch or 1, n_samples)`` (per sample). NaN is always an error,
    +-infinity unless ``allow_inf``."""
    value = as_tensor_like(name, value, like)
    if bool(torch.isnan(value).any()) or (not allow_inf and bool(torch.isinf(value).any())):
        raise InputError(f"{name} must be {'a number (not NaN)' if allow_inf else 'finite'}, found NaN or infinity")
    if value.dim() == 0:
        return value.reshape(1, 1)
    check_rank(name, value, 2, "(batch or 1, 1) or (batch or 1, n_samples)")
    if value.shape[0] not in (1, like.shape[0]) or value.shape[1] not in (1, like.shape[-1]):
        raise InputError(f"{name} must broadcast to {tuple(like.shape)}, found {tuple(value.shape)}")
    return value


@half_in_float32
def gain_computer(level_db: Tensor, threshold_db: Tensor | float, ratio: Tensor | float,
                  knee_db: Tensor | float = 0.0, mode: str = "compressor") -> Tensor:
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
        level_db: input level in dB, ``(batch, n_samples)``.
        threshold_db: ``T`` in dB; a number or ``(batch or 1, 1 or n_samples)``.
        ratio: ``R >= 1`` (``float("inf")`` allowed for a compressor: a limiter).
        knee_db: ``W >= 0`` (0: hard knee).
        mode: ``"compressor"`` or ``"expander"``.

    Returns:
        ``gain_db = out - level_db`` ``(batch, n_samples)``. Differentiable in the level, the
        threshold, the ratio and the knee (the curve is continuously differentiable in the level).
    """
    check_rank("level_db", level_db, 2, "(batch, n_samples)")
    check_finite("level_db", level_db)
    check_choice("mode", mode, DYNAMICS_MODES)
    threshold_db = _parameter("threshold_db", threshold_db, level_db)
    ratio = _parameter("ratio", ratio, level_db, allow_inf=True)
    knee_db = _parameter("knee_db", knee_db, level_db)
    if bool((ratio < 1).any()):
        raise InputError("ratio must be >= 1 (use mode='expander' for expansion)")
    if mode == "expander" and bool(torch.isinf(ratio).any()):
        raise InputError("ratio must be finite for an expander (a large ratio is a gate)")
    if bool((knee_db < 0).any()):
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
    return gain


def _time_constant_coefficient(name: str, seconds: Tensor | float, like: Tensor, sample_rate: float) -> Tensor:
    seconds = _parameter(name, seconds, like)
    if bool((seconds <= 0).any()):
        raise InputError(f"{name} must be > 0 seconds")
    return torch.exp(-1.0 / (seconds * sample_rate))


if numba is not None:

    @numba.njit(cache=True)
    def _ballistics_kernel(target, attack, release, state, rising):  # pragma: no cover - compiled
        batch, n_samples = target.shape
        uses_attack = np.empty((batch, n_samples), dtype=np.bool_)
        attack_step = 1 if attack.shape[1] > 1 else 0
        release_step = 1 if release.shape[1] > 1 else 0
        attack_item = 1 if attack.shape[0] > 1 else 0
        release_item = 1 if release.shape[0] > 1 else 0
        for b in range(batch):
            y = state[b]
            for n in range(n_samples):
                moving_up = target[b, n] > y
                use = moving_up if rising else (target[b, n] < y)
                uses_attack[b, n] = use
                if use:
                    alpha = attack[b * attack_item, n * attack_step]
                else:
                    alpha = release[b * release_item, n * release_step]
                y = alpha * y + (1.0 - alpha) * target[b, n]
        return uses_attack


def _ballistics_torch(target: Tensor, attack: Tensor, release: Tensor, state: Tensor, rising: bool) -> Tensor:
    batch, n_samples = target.shape
    attack, release = attack.expand(batch, n_samples), release.expand(batch, n_samples)
    y = state
    decisions = []
    for n in range(n_samples):
        use = target[:, n] > y if rising else target[:, n] < y
        decisions.append(use)
        alpha = torch.where(use, attack[:, n], release[:, n])
        y = alpha * y + (1 - alpha) * target[:, n]
    return torch.stack(decisions, dim=1)


@half_in_float32
def smooth_gain(gain_db: Tensor, attack_s: Tensor | float, release_s: Tensor | float, sample_rate: float,
                zi: Tensor | None = None, *, attack_when: str = "falling", return_state: bool = False,
                backend: str = "auto") -> Tensor | tuple[Tensor, Tensor]:
    """Attack/release ballistics: ``y[n] = alpha[n] y[n-1] + (1 - alpha[n]) gain_db[n]``.

    ``alpha[n]`` is the attack coefficient when the target moves in the attack direction
    (``attack_when="falling"``: the target is below ``y[n-1]``, more gain reduction, as in a
    compressor; ``"rising"``: above it, as in an expander opening) and the release coefficient
    otherwise. ``alpha = exp(-1 / (tau * sample_rate))``.

    Args:
        gain_db: target gain ``(batch, n_samples)`` (any unit; dB in a compressor).
        attack_s, release_s: time constants in seconds (> 0): numbers or ``(batch or 1, 1 or
            n_samples)``.
        sample_rate: in Hz.
        zi: ``(batch,)`` value of ``y[-1]``; by default the first target (no start-up transient).
        attack_when: ``"falling"`` or ``"rising"``.
        return_state: also return ``y[-1]`` of the block (``(batch,)``), to continue in chunks.
        backend: ``"auto"`` (the compiled decision pass, on any device), ``"torch"`` (a loop),
            or ``"numba"``; the smoothing itself is :func:`allpole_filter` either way.

    Returns:
        ``(batch, n_samples)`` (and the state). Differentiable in ``gain_db``, both time
        constants and ``zi``; the attack/release decisions are piecewise constant.
    """
    check_rank("gain_db", gain_db, 2, "(batch, n_samples)")
    check_finite("gain_db", gain_db)
    check_choice("attack_when", attack_when, ("falling", "rising"))
    check_choice("backend", backend, ("auto", "numba", "torch"))
    sample_rate = check_positive("sample_rate", sample_rate)
    attack = _time_constant_coefficient("attack_s", attack_s, gain_db, sample_rate)
    release = _time_constant_coefficient("release_s", release_s, gain_db, sample_rate)
    batch, n_samples = gain_db.shape
    if zi is None:
        if n_samples == 0 and return_state:
            raise InputError("zi is required to return a state from an empty gain_db (by default the state "
                             "starts at the first target, and an empty block has none)")
        zi = gain_db[:, 0] if n_samples else gain_db.new_zeros(batch)
    else:
        check_rank("zi", zi, 1, "(batch,)")
        check_finite("zi", zi)
        if zi.shape[0] != batch:
            raise InputError(f"zi must have shape ({batch},), found {tuple(zi.shape)}")
        zi = zi.to(gain_db.dtype)
    rising = attack_when == "rising"
    # The decisions carry no gradient, so the compiled pass serves every device (a copy to the
    # CPU and back beats a Python loop of one small GPU kernel per sample).
    use_kernel = backend == "numba" or (backend == "auto" and numba is not None)
    if use_kernel:
        if numba is None:
            raise InputError("backend='numba' needs numba (pip install numba)")
        decisions = torch.from_numpy(_ballistics_kernel(
            gain_db.detach().cpu().double().numpy(), attack.detach().cpu().double().numpy(),
            release.detach().cpu().double().numpy(), zi.detach().cpu().double().numpy(), rising))
        decisions = decisions.to(gain_db.device)
    else:
        decisions = _ballistics_torch(gain_db.detach(), attack.detach(), release.detach(), zi.detach(), rising)
    alpha = torch.where(decisions, attack, release)
    y = allpole_filter((1 - alpha) * gain_db, -alpha.unsqueeze(-1), zi.unsqueeze(-1))
    if return_state:
        return y, y[:, -1] if n_samples else zi
    return y


@half_in_float32
def detect_level(audio: Tensor, sample_rate: float, detector: str = "peak", rms_time_s: float = 0.01,
                 range_db: float = 120.0) -> Tensor:
    """Level of ``audio`` ``(batch, n_samples)`` in dB, per sample, floored at ``-range_db``.

    ``"peak"``: ``20 log10 |x|`` (the ballistics do the smoothing); ``"rms"``: the mean square
    through a one-pole of time constant ``rms_time_s``, then ``10 log10``. Differentiable, with
    finite gradients on silence.
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_finite("audio", audio)
    check_choice("detector", detector, LEVEL_DETECTORS)
    sample_rate = check_positive("sample_rate", sample_rate)
    if detector == "peak":
        return amplitude_to_db(audio, range_db=range_db)
    alpha = math.exp(-1.0 / (check_positive("rms_time_s", rms_time_s) * sample_rate))
    power = allpole_filter((1 - alpha) * audio * audio, audio.new_tensor([[-alpha]]))
    return power_to_db(power, range_db=range_db)


@half_in_float32
def compress(audio: Tensor, sample_rate: float, threshold_db: Tensor | float = -20.0, ratio: Tensor | float = 4.0,
             knee_db: Tensor | float = 6.0, attack_s: Tensor | float = 0.005, release_s: Tensor | float = 0.1,
             makeup_db: Tensor | float = 0.0, mode: str = "compressor", detector: str = "peak",
             return_gain: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Feed-forward compressor, limiter (``ratio=inf``) or downward expander.

    ``level = detect_level(audio)``, ``gain = gain_computer(level)``, smoothed by
    :func:`smooth_gain` (attack on more reduction for a compressor, on opening for an
    expander), then ``out = audio * 10 ** ((smoothed + makeup_db) / 20)``.

    Args:
        audio: ``(batch, n_samples)``.
        sample_rate: in Hz.
        threshold_db, ratio, knee_db: the static curve (:func:`gain_computer`).
        attack_s, release_s: ballistics time constants in seconds.
        makeup_db: gain added after compression.
        mode: ``"compressor"`` or ``"expander"``.
        detector: ``"peak"`` or ``"rms"``.
        return_gain: also return the applied gain in dB ``(batch, n_samples)`` (makeup included).

    Every setting is a number or a tensor ``(batch or 1, 1 or n_samples)``; the output is
    differentiable in the audio and every setting but ``mode``/``detector``.
    """
    level = detect_level(audio, sample_rate, detector)
    gain = gain_computer(level, threshold_db, ratio, knee_db, mode)
    smoothed = smooth_gain(gain, attack_s, release_s, sample_rate,
                           attack_when="falling" if mode == "compressor" else "rising")
    applied = smoothed + _parameter("makeup_db", makeup_db, audio)
    out = audio * db_to_amplitude(applied)
    return (out, applied) if return_gain else out
