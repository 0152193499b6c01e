"""Synthesizer parameters: each declared once with its range, curve and symmetry, stored
normalised in [0, 1] and read in human units.

The map is torchsynth's (so patches compare one to one), with finite gradients at the ends::

    non-symmetric:  v = min + (max - min) * u ** (1 / curve)
    symmetric:      d = 2 u - 1,  v = min + (max - min) / 2 * (1 + sign(d) |d| ** (1 / curve))

``curve < 1`` crowds values towards ``min`` (or towards the centre when symmetric), which is
where the ear is most sensitive (short attacks, small detunings). A named set of curves (one
:class:`ParameterRange` per ``"module.parameter"``) is saved and loaded as JSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..io import write_text_atomic
from ..validation import InputError

__all__ = ["ParameterRange", "save_curves", "load_curves"]


def _power(base: Tensor, exponent: float) -> Tensor:
    """``base ** exponent`` for ``base >= 0`` with a finite gradient at 0."""
    positive = base > 0
    safe = torch.where(positive, base, torch.ones_like(base))
    return torch.where(positive, safe**exponent, torch.zeros_like(base))


@dataclass(frozen=True)
class ParameterRange:
    """Range of one parameter in human units, and how [0, 1] maps onto it.

    Args:
        minimum, maximum: the range (``minimum < maximum``).
        curve: > 0; 1 is linear (module docstring).
        symmetric: centre the curve on the middle of the range.
        unit: for display ("s", "Hz", "semitones", ...).
        description: one line for humans.
    """

    minimum: float
    maximum: float
    curve: float = 1.0
    symmetric: bool = False
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("minimum", "maximum", "curve"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be finite, found {getattr(self, name)}")
        if not self.minimum < self.maximum:
            raise InputError(f"minimum must be below maximum, found {self.minimum} and {self.maximum}")
        if not self.curve > 0:
            raise InputError(f"curve must be > 0, found {self.curve}")

    def to_human(self, normalized: Tensor) -> Tensor:
        """``[0, 1]`` -> human units (differentiable, finite gradients at 0 and 1)."""
        span = self.maximum - self.minimum
        if not self.symmetric:
            shaped = normalized if self.curve == 1 else _power(normalized, 1.0 / self.curve)
            return self.minimum + span * shaped
        d = 2 * normalized - 1
        shaped = d if self.curve == 1 else torch.sign(d) * _power(d.abs(), 1.0 / self.curve)
        return self.minimum + span / 2 * (shaped + 1)

    def to_normalized(self, human: Tensor) -> Tensor:
        """Human units -> ``[0, 1]``; values outside ``[minimum, maximum]`` are an error."""
        if bool(((human < self.minimum) | (human > self.maximum)).any()):
            raise InputError(
                f"values must lie in [{self.minimum}, {self.maximum}], found "
                f"{float(human.min())} to {float(human.max())}"
            )
        fraction = (human - self.minimum) / (self.maximum - self.minimum)
        if not self.symmetric:
            return fraction if self.curve == 1 else _power(fraction, self.curve)
        d = 2 * fraction - 1
        shaped = d if self.curve == 1 else torch.sign(d) * _power(d.abs(), self.curve)
        return (shaped + 1) / 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> ParameterRange:
        unknown = sorted(set(data) - {"minimum", "maximum", "curve", "symmetric", "unit", "description"})
        if unknown:
            raise InputError(f"unknown parameter range fields {unknown}")
        # Each field converted to its type: bool, str or float (one dict of mixed values).
        fields: dict[str, Any] = {
            k: (bool(v) if k == "symmetric" else str(v) if k in ("unit", "description") else float(v))
            for k, v in data.items()
        }
        return cls(**fields)


def save_curves(ranges: Mapping[str, ParameterRange], path: str | os.PathLike, name: str = "") -> None:
    """Write ``{"name": ..., "parameters": {"module.parameter": {range fields}}}`` as JSON
    (atomically: a temporary file, then a rename)."""
    path = Path(path)
    payload = {"name": name, "parameters": {key: value.to_dict() for key, value in ranges.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=2))


def load_curves(path: str | os.PathLike) -> dict[str, ParameterRange]:
    """Read a curve set written by :func:`save_curves`; an unreadable or malformed file is a
    ``ValueError`` naming it."""
    try:
        payload = json.loads(Path(path).read_text())
        return {key: ParameterRange.from_dict(value) for key, value in payload["parameters"].items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"cannot read parameter curves from {path}: {error}") from error
