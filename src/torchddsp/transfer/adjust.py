"""Adjust an input's f0 and loudness to a model's training data (DDSP's auto-adjust).

The adjustment is planned once from statistics (:func:`plan_adjustment`) and then applied to
each frame on its own (:func:`apply_adjustment`): an octave shift toward the training data's mean
pitch, a map of the pitched frames' loudness from the input's quantiles onto the training data's,
unpitched frames made quieter, then the manual shifts. Offline, the input's statistics come
from the whole recording (:func:`adjust_features`); a stream, which cannot see the future,
plans from statistics stated up front (e.g. :func:`feature_statistics` of a reference
recording of the same player) and gets the same frames as the offline call given them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..features.pitch import CONFIDENCE_THRESHOLD
from ..functional import hz_to_midi
from ..training.data import QUANTILES  # the levels of a dataset's statistics
from ..validation import InputError

__all__ = ["Adjustment", "feature_statistics", "plan_adjustment", "apply_adjustment", "adjust_features"]


@dataclass(frozen=True)
class Adjustment:
    """A per-frame map of f0 and loudness, fixed before rendering (:func:`plan_adjustment`).

    Fields: ``octave_semitones`` (the automatic octave shift, a multiple of 12) and
    ``pitch_shift`` (manual), in semitones; ``source_db`` / ``target_db``: the loudness quantile
    map of pitched frames, ``(n_levels,)`` float64 each (non-decreasing), or None
    for no map; ``quiet_db``: how much quieter unpitched frames are made (0 without the map);
    ``loudness_shift``: manual, in dB, added to every frame.
    """

    octave_semitones: float = 0.0
    pitch_shift: float = 0.0
    source_db: Tensor | None = None
    target_db: Tensor | None = None
    quiet_db: float = 0.0
    loudness_shift: float = 0.0

    @property
    def semitones(self) -> float:
        return self.octave_semitones + self.pitch_shift


def feature_statistics(f0_hz: Tensor, loudness_db: Tensor, confidence: Tensor) -> dict[str, Any]:
    """The statistics of confidently pitched frames that auto-adjust reads, under the keys of a
    dataset's statistics: ``pitched_frames``, ``mean_pitch_midi``, ``quantile_levels``,
    ``loudness_db_quantiles`` (only ``pitched_frames: 0`` when no frame is pitched).

    Shape: ``(batch, n_frames)`` each (all frames pooled).

    Example:
        >>> stats = feature_statistics(torch.full((1, 4), 440.0), torch.tensor([[-40.0, -30, -20, -10]]), torch.ones(1, 4))
        >>> stats["pitched_frames"], stats["mean_pitch_midi"], stats["loudness_db_quantiles"][50]
        (4, 69.0, -25.0)
    """
    pitched = confidence >= CONFIDENCE_THRESHOLD
    if int(pitched.sum()) == 0:
        return {"pitched_frames": 0}
    loudness = loudness_db[pitched].double().cpu().numpy()
    return {
        "pitched_frames": int(pitched.sum()),
        "mean_pitch_midi": float(hz_to_midi(f0_hz[pitched].double()).mean()),
        "quantile_levels": list(QUANTILES),
        "loudness_db_quantiles": np.quantile(loudness, QUANTILES).tolist(),
    }


def _quantiles_at(statistics: Mapping[str, Any], levels: np.ndarray, name: str) -> np.ndarray:
    """``statistics``' loudness quantiles read at ``levels`` (linear between its own levels)."""
    try:
        own_levels = np.asarray(statistics["quantile_levels"], dtype=np.float64)
        quantiles = np.asarray(statistics["loudness_db_quantiles"], dtype=np.float64)
    except KeyError as missing:
        raise InputError(f"{name} has pitched frames but no {missing}") from None
    if own_levels.shape != quantiles.shape or own_levels.ndim != 1 or len(own_levels) < 2:
        raise InputError(f"{name}: quantile_levels and loudness_db_quantiles must be equal-length lists (>= 2)")
    return np.interp(levels, own_levels, quantiles)


def plan_adjustment(
    model_statistics: Mapping[str, Any],
    input_statistics: Mapping[str, Any],
    auto_adjust: bool = True,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    quiet_db: float = 20.0,
) -> Adjustment:
    """The :class:`Adjustment` from the model's training statistics and the input's.

    With ``auto_adjust`` and pitched frames in both: ``octave_semitones = 12 * round((model mean
    pitch - input mean pitch) / 12)``; pitched frames' loudness mapped from the input's quantiles
    onto the model's (at the model's levels); unpitched frames ``quiet_db`` quieter. Otherwise
    only the manual ``pitch_shift`` (semitones) and ``loudness_shift`` (dB).

    Example:
        >>> model = {"pitched_frames": 9, "mean_pitch_midi": 81.0, "quantile_levels": [0, 1],
        ...          "loudness_db_quantiles": [-50.0, -10.0]}
        >>> plan = plan_adjustment(model, {"pitched_frames": 9, "mean_pitch_midi": 67.0, "quantile_levels": [0, 1],
        ...                                "loudness_db_quantiles": [-60.0, -20.0]})
        >>> plan.octave_semitones, plan.target_db.tolist(), plan.quiet_db
        (12.0, [-50.0, -10.0], 20.0)
    """
    plan = Adjustment(pitch_shift=float(pitch_shift), loudness_shift=float(loudness_shift))
    if not (
        auto_adjust and input_statistics.get("pitched_frames", 0) > 0 and model_statistics.get("pitched_frames", 0) > 0
    ):
        return plan
    levels = np.asarray(model_statistics.get("quantile_levels", QUANTILES), dtype=np.float64)
    target = _quantiles_at(model_statistics, levels, "model_statistics")
    source = _quantiles_at(input_statistics, levels, "input_statistics")
    octaves = round((float(model_statistics["mean_pitch_midi"]) - float(input_statistics["mean_pitch_midi"])) / 12.0)
    return Adjustment(
        octave_semitones=12.0 * octaves,
        pitch_shift=float(pitch_shift),
        source_db=torch.as_tensor(source),
        target_db=torch.as_tensor(target),
        quiet_db=float(quiet_db),
        loudness_shift=float(loudness_shift),
    )


def interpolate(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """``numpy.interp`` in PyTorch: piecewise linear through ``(xp, fp)`` (``xp`` increasing),
    the end values held outside; float64 inside, ``x``'s dtype out.

    Example:
        >>> interpolate(torch.tensor([-1.0, 0.5, 3.0]), torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 10.0, 0.0]))
        tensor([0., 5., 0.])
    """
    xp, fp, values = xp.to(x.device, torch.float64), fp.to(x.device, torch.float64), x.double()
    right = torch.searchsorted(xp, values.clamp(xp[0], xp[-1]), right=True).clamp(1, len(xp) - 1)
    x0, x1, y0, y1 = xp[right - 1], xp[right], fp[right - 1], fp[right]
    weight = ((values - x0) / (x1 - x0)).clamp(0.0, 1.0)
    return (y0 + weight * (y1 - y0)).to(x.dtype)


def apply_adjustment(plan: Adjustment, f0_hz: Tensor, loudness_db: Tensor, confidence: Tensor) -> tuple[Tensor, Tensor]:
    """Adjust frames by ``plan``: each frame on its own (a stream applies it block by block).

    Shape: ``(batch, n_frames)`` each -> ``(f0_hz, loudness_db)`` adjusted, same shape.

    Example:
        >>> f0, loudness = apply_adjustment(Adjustment(pitch_shift=12.0, loudness_shift=-6.0),
        ...                                 torch.full((1, 2), 220.0), torch.zeros(1, 2), torch.ones(1, 2))
        >>> [round(v, 3) for v in f0[0].tolist()], loudness[0].tolist()
        ([440.0, 440.0], [-6.0, -6.0])
    """
    if plan.source_db is not None and plan.target_db is not None:
        pitched = confidence >= CONFIDENCE_THRESHOLD
        # Equal quantiles (a constant stretch) would make the map a step: nudge them apart.
        nudge = torch.arange(len(plan.source_db), dtype=torch.float64) * 1e-9
        source = torch.cummax(plan.source_db.double() + nudge, dim=0).values
        mapped = interpolate(loudness_db, source, plan.target_db)
        loudness_db = torch.where(pitched, mapped, loudness_db - plan.quiet_db)
    if plan.semitones:
        # midi_to_hz(hz_to_midi(f0) + semitones) as one float64 product, rounded once: log and
        # pow differ in f0's last bit between runtimes (an exported step's), and the harmonic
        # phase keeps that bit for good.
        f0_hz = (f0_hz.clamp_min(1e-3).double() * 2.0 ** (plan.semitones / 12.0)).to(f0_hz.dtype)
    return f0_hz, loudness_db + plan.loudness_shift


def _report(plan: Adjustment, loudness_in: Tensor, loudness_out: Tensor, confidence: Tensor) -> dict[str, Any]:
    """What was applied, the median loudness shift measured on what the model is given."""
    pitched = confidence >= CONFIDENCE_THRESHOLD
    frames = pitched if bool(pitched.any()) else torch.ones_like(pitched)
    source, target = plan.source_db, plan.target_db
    return {
        "octave_shift_semitones": plan.octave_semitones,
        "manual_pitch_shift_semitones": plan.pitch_shift,
        "median_loudness_shift_db": float(
            np.median(loudness_out[frames].double().cpu().numpy())
            - np.median(loudness_in[frames].double().cpu().numpy())
        ),
        "loudness_map_input_range_db": None if source is None else [float(source[0]), float(source[-1])],
        "loudness_map_output_range_db": None if target is None else [float(target[0]), float(target[-1])],
        "manual_loudness_shift_db": plan.loudness_shift,
        "quiet_db": plan.quiet_db,
    }


def adjust_features(
    f0_hz: Tensor,
    loudness_db: Tensor,
    confidence: Tensor,
    statistics: dict[str, Any],
    auto_adjust: bool = True,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    quiet_db: float = 20.0,
    input_statistics: Mapping[str, Any] | None = None,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Adjust an input's f0 and loudness to a model's training data (DDSP's auto-adjust).

    With ``auto_adjust``: f0 is shifted by whole octaves toward the training data's mean pitch;
    the loudness of pitched frames (confidence >= CONFIDENCE_THRESHOLD, 0.85) is mapped through its quantiles onto the
    training data's loudness quantiles; unpitched frames are made ``quiet_db`` quieter. Then
    the manual overrides apply: ``pitch_shift`` semitones and ``loudness_shift`` dB. The input's
    statistics are those of these frames (:func:`feature_statistics`), or ``input_statistics``
    when given (what a stream, which cannot see the whole input, is given: the same frames
    come out of both).

    Shape: ``(batch, n_frames)`` each; returns the adjusted ``f0_hz`` and ``loudness_db`` and a
    dict of what was applied:

    - ``octave_shift_semitones``: the automatic octave shift; ``manual_pitch_shift_semitones``.
    - ``median_loudness_shift_db``: how far the median loudness of the pitched frames moved,
      everything included (quantile map and manual shift); over all frames when none is pitched.
    - ``loudness_map_input_range_db`` / ``loudness_map_output_range_db``: the input loudness
      range the quantile map took (its lowest and highest quantiles of the pitched frames) and
      the training data's range it mapped it onto, ``[low, high]``; ``None`` without the map.
    - ``manual_loudness_shift_db``; ``quiet_db``: how much quieter unpitched frames were made.

    Example:
        >>> f0_hz, loudness_db, applied = adjust_features(torch.full((2, 5), 220.0), torch.full((2, 5), -30.0),
        ...                                               torch.ones(2, 5), statistics={}, pitch_shift=12.0)
        >>> f0_hz.shape, loudness_db.shape, round(float(f0_hz[0, 0]), 3)
        (torch.Size([2, 5]), torch.Size([2, 5]), 440.0)
    """
    if input_statistics is None:
        input_statistics = feature_statistics(f0_hz, loudness_db, confidence) if auto_adjust else {}
    plan = plan_adjustment(statistics, input_statistics, auto_adjust, pitch_shift, loudness_shift, quiet_db)
    f0_out, loudness_out = apply_adjustment(plan, f0_hz, loudness_db, confidence)
    return f0_out, loudness_out, _report(plan, loudness_db, loudness_out, confidence)
