"""The style chain's settings: a table of named ranges, and the maps between the controller's
normalised outputs in ``[0, 1]`` and human units (Hz, dB, Q, ratio, seconds).

Chain (in this order): a parametric EQ (low shelf, six peaks, high shelf), a compressor and an
output gain. Each setting maps ``[0, 1]`` onto ``[low, high]`` linearly (gains and the
threshold, in dB) or logarithmically (frequencies, Qs, ratio, times: equal steps are equal
ratios, as the ear hears them).

The identity: every EQ gain 0 dB, compressor ratio 1 (no gain reduction at any threshold) and
output gain 0 dB (:func:`identity_settings`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from ..validation import data_checks_enabled

__all__ = [
    "Setting",
    "EQ_BANDS",
    "SETTINGS",
    "N_SETTINGS",
    "COMPRESSOR_KNEE_DB",
    "denormalize",
    "normalize",
    "identity_settings",
    "settings_to_json",
]


class Setting(NamedTuple):
    """One setting: ``name`` in ``unit`` between ``low`` and ``high``, mapped logarithmically
    when ``log``."""

    name: str
    unit: str
    low: float
    high: float
    log: bool


#: EQ bands in chain order: (name, biquad mode, frequency range in Hz).
EQ_BANDS: tuple[tuple[str, str, float, float], ...] = (
    ("low_shelf", "lowshelf", 30.0, 300.0),
    ("peak1", "peak", 60.0, 300.0),
    ("peak2", "peak", 150.0, 700.0),
    ("peak3", "peak", 300.0, 1500.0),
    ("peak4", "peak", 700.0, 3000.0),
    ("peak5", "peak", 1500.0, 5000.0),
    ("peak6", "peak", 3000.0, 7000.0),
    ("high_shelf", "highshelf", 2000.0, 7000.0),
)
EQ_GAIN_DB = 12.0
#: The compressor's soft knee (fixed: the reference rarely tells a knee apart from a threshold).
COMPRESSOR_KNEE_DB = 6.0


def _eq_settings() -> list[Setting]:
    rows = []
    for name, mode, low_hz, high_hz in EQ_BANDS:
        q_range = (0.5, 1.5) if mode != "peak" else (0.5, 5.0)
        rows += [
            Setting(f"{name}_frequency_hz", "Hz", low_hz, high_hz, True),
            Setting(f"{name}_gain_db", "dB", -EQ_GAIN_DB, EQ_GAIN_DB, False),
            Setting(f"{name}_q", "", *q_range, True),
        ]
    return rows


#: Every setting, in the order of the controller's outputs.
SETTINGS: tuple[Setting, ...] = (
    *_eq_settings(),
    Setting("threshold_db", "dB", -60.0, 0.0, False),
    Setting("ratio", "", 1.0, 10.0, True),
    Setting("attack_s", "s", 0.001, 0.1, True),
    Setting("release_s", "s", 0.02, 1.0, True),
    Setting("gain_db", "dB", -24.0, 24.0, False),
)
N_SETTINGS = len(SETTINGS)


def _bounds(like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``low``, ``high`` (log of them where ``log``) and the log mask, each ``(N_SETTINGS,)``."""
    log = torch.tensor([s.log for s in SETTINGS], device=like.device)
    low = torch.tensor([math.log(s.low) if s.log else s.low for s in SETTINGS], dtype=like.dtype, device=like.device)
    high = torch.tensor([math.log(s.high) if s.log else s.high for s in SETTINGS], dtype=like.dtype, device=like.device)
    return low, high, log


def _check_normalized(normalized: Tensor) -> None:
    check_rank("normalized", normalized, 2, "(batch, n_settings)")
    if normalized.shape[-1] != N_SETTINGS:
        raise InputError(
            f"normalized must have {N_SETTINGS} settings in its last dimension, found {normalized.shape[-1]}"
        )
    check_finite("normalized", normalized)
    if data_checks_enabled() and bool(((normalized < 0) | (normalized > 1)).any()):
        raise InputError("normalized settings must lie in [0, 1]")


def denormalize(normalized: Tensor) -> dict[str, Tensor]:
    """Human units of normalised settings.

    Args:
        normalized: ``(batch, N_SETTINGS)`` in ``[0, 1]``, ordered as :data:`SETTINGS`.

    Returns:
        ``{name: (batch,)}`` in each setting's unit (differentiable).

    Example:
        >>> settings = denormalize(torch.full((1, N_SETTINGS), 0.5))
        >>> round(float(settings["ratio"]), 3), float(settings["gain_db"])
        (3.162, 0.0)
    """
    _check_normalized(normalized)
    low, high, log = _bounds(normalized)
    value = low + normalized * (high - low)
    value = torch.where(log, torch.exp(value), value)
    return {s.name: value[:, i] for i, s in enumerate(SETTINGS)}


def normalize(settings: dict[str, Tensor]) -> Tensor:
    """The inverse of :func:`denormalize`: ``{name: (batch,)}`` -> ``(batch, N_SETTINGS)``.

    Raises ``InputError`` naming a missing setting or one outside its range.

    Example:
        >>> x = torch.rand(3, N_SETTINGS, dtype=torch.float64)
        >>> bool(torch.allclose(normalize(denormalize(x)), x))
        True
    """
    columns = []
    for s in SETTINGS:
        if s.name not in settings:
            raise InputError(f"settings lacks {s.name!r}")
        value = torch.as_tensor(settings[s.name])
        tolerance = 1e-6 * (abs(s.high) + abs(s.low))
        if data_checks_enabled() and bool(((value < s.low - tolerance) | (value > s.high + tolerance)).any()):
            raise InputError(f"{s.name} must lie in [{s.low}, {s.high}] {s.unit}".rstrip())
        if s.log:
            columns.append((torch.log(value) - math.log(s.low)) / (math.log(s.high) - math.log(s.low)))
        else:
            columns.append((value - s.low) / (s.high - s.low))
    return torch.stack(columns, dim=-1)


def identity_settings(batch: int = 1, dtype: torch.dtype = torch.float32) -> Tensor:
    """Normalised settings that leave audio unchanged ``(batch, N_SETTINGS)``: EQ gains and the
    output gain at 0 dB, ratio 1; frequencies, Qs and times mid-range (they then do nothing).

    Example:
        >>> float(denormalize(identity_settings())["peak3_gain_db"])
        0.0
    """
    row = torch.full((N_SETTINGS,), 0.5, dtype=dtype)
    row[[i for i, s in enumerate(SETTINGS) if s.name == "ratio"]] = 0.0
    return row.expand(batch, N_SETTINGS).clone()


def settings_to_json(normalized: Tensor) -> list[dict[str, dict[str, float | str]]]:
    """Each item's settings as JSON-ready ``{name: {"value": v, "unit": u, "normalized": n}}``."""
    human = denormalize(normalized.detach().double())
    return [
        {
            s.name: {
                "value": round(float(human[s.name][b]), 6),
                "unit": s.unit,
                "normalized": round(float(normalized[b, i]), 6),
            }
            for i, s in enumerate(SETTINGS)
        }
        for b in range(normalized.shape[0])
    ]
