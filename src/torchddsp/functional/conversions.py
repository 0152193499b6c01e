"""Unit conversions and scale functions: MIDI <-> Hz, amplitude <-> dB, DDSP's exp_sigmoid.

All functions work elementwise on tensors of any shape, keep the input's dtype and device,
and are differentiable with finite gradients everywhere (including at 0 Hz and at silence).
NaN or infinite input is a ``ValueError`` naming the argument, as everywhere in the library:
a conversion neither passes NaN on unnoticed nor clamps it into a number (while
:func:`~torchddsp.validation.data_checks_enabled`; with the data checks off, values pass
unchecked).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32

__all__ = [
    "midi_to_hz",
    "hz_to_midi",
    "amplitude_to_db",
    "db_to_amplitude",
    "power_to_db",
    "exp_sigmoid",
    "frequencies_sigmoid",
    "smooth_limit",
]


@half_in_float32
def midi_to_hz(notes: Tensor) -> Tensor:
    """MIDI note numbers to frequency in Hz: ``440 * 2 ** ((notes - 69) / 12)``.

    Args:
        notes: MIDI notes (any shape; fractional notes are fine). Differentiable.

    Returns:
        Frequencies in Hz, same shape as ``notes``.
    """
    check_finite("notes", check_tensor("notes", notes))
    return 440.0 * torch.pow(2.0, (notes - 69.0) / 12.0)


@half_in_float32
def hz_to_midi(frequencies_hz: Tensor) -> Tensor:
    """Frequency in Hz to (fractional) MIDI note numbers: ``12 * log2(f / 440) + 69``.

    0 Hz maps to MIDI 0, DDSP's convention for unvoiced frames; its gradient there is 0,
    never NaN.

    Args:
        frequencies_hz: frequencies in Hz, any shape, >= 0. Differentiable.

    Returns:
        MIDI notes, same shape as ``frequencies_hz``.

    Raises:
        ValueError: if any frequency is negative or not finite.
    """
    check_tensor("frequencies_hz", frequencies_hz)
    if data_checks_enabled() and not bool(((frequencies_hz >= 0) & torch.isfinite(frequencies_hz)).all()):
        raise InputError(
            "frequencies_hz must be finite and >= 0 Hz (0 marks unvoiced frames), found negative, infinite or NaN values"
        )
    voiced = frequencies_hz > 0
    # Evaluate the log on a safe value everywhere so the masked branch has a finite gradient.
    safe = torch.where(voiced, frequencies_hz, torch.ones_like(frequencies_hz))
    notes = 12.0 * torch.log2(safe / 440.0) + 69.0
    return torch.where(voiced, notes, torch.zeros_like(notes))


@half_in_float32
def power_to_db(power: Tensor, ref_db: float = 0.0, range_db: float = 80.0) -> Tensor:
    """Power to decibels, ``10 log10(power) - ref_db``, floored at ``-range_db``.

    The floor is DDSP's convention (``range_db=80``): silence reads ``-range_db`` dB with a
    zero (finite) gradient instead of ``-inf``.

    Args:
        power: non-negative power, any shape. Differentiable.
        ref_db: dB value subtracted after conversion (0 dB = power 1).
        range_db: dynamic range; the output is never below ``-range_db``. Must be > 0.
    """
    check_finite("power", check_tensor("power", power))
    return _power_to_db(power, ref_db, range_db)


def _power_to_db(power: Tensor, ref_db: float, range_db: float) -> Tensor:
    """:func:`power_to_db` of a checked tensor."""
    range_db = check_positive("range_db", range_db)
    floor = 10.0 ** (-range_db / 10.0)
    db = 10.0 * torch.log10(torch.clamp_min(power, floor)) - ref_db
    return torch.clamp_min(db, -range_db)


@half_in_float32
def amplitude_to_db(amplitude: Tensor, ref_db: float = 0.0, range_db: float = 80.0) -> Tensor:
    """Amplitude to decibels, ``20 log10(|amplitude|) - ref_db``, floored at ``-range_db``.

    Args:
        amplitude: linear amplitude, any shape. Differentiable.
        ref_db: dB value subtracted after conversion (0 dB = amplitude 1).
        range_db: dynamic range; the output is never below ``-range_db``. Must be > 0.
    """
    check_finite("amplitude", check_tensor("amplitude", amplitude))
    return _power_to_db(amplitude * amplitude, ref_db, range_db)


@half_in_float32
def db_to_amplitude(db: Tensor) -> Tensor:
    """Decibels to linear amplitude, ``10 ** (db / 20)``; ``-inf`` dB is silence (0). Differentiable.

    Raises ``ValueError`` for NaN or ``+inf`` (no amplitude).
    """
    check_tensor("db", db)
    if data_checks_enabled() and bool(torch.isnan(db).any() | torch.isposinf(db).any()):
        raise InputError("db must be finite (or -inf dB: silence), found NaN or +inf")
    return torch.pow(10.0, db / 20.0)


@half_in_float32
def exp_sigmoid(x: Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7) -> Tensor:
    """DDSP's scale function for amplitudes: ``max_value * sigmoid(x) ** log(exponent) + threshold``.

    Maps raw network outputs to positive amplitudes in ``(threshold, max_value + threshold)``
    with an exponential-like slope, which suits perceived loudness. Computed in log space so
    large negative inputs give a finite gradient.

    Args:
        x: raw network output, any shape. Differentiable.
        exponent: slope of the curve; must be > 1.
        max_value: limit of the output for large ``x``; must be > 0.
        threshold: added floor, keeps outputs strictly positive; must be >= 0.
    """
    check_finite("x", check_tensor("x", x))
    if not exponent > 1.0:
        raise InputError(f"exponent must be > 1, found {exponent!r}")
    check_positive("max_value", max_value)
    if not threshold >= 0.0:
        raise InputError(f"threshold must be >= 0, found {threshold!r}")
    return max_value * torch.exp(math.log(exponent) * torch.nn.functional.logsigmoid(x)) + threshold


@half_in_float32
def frequencies_sigmoid(x: Tensor, min_hz: float = 20.0, max_hz: float = 8000.0) -> Tensor:
    """Map raw network outputs to frequencies in (min_hz, max_hz), uniformly in pitch.

    ``midi_to_hz(m_min + sigmoid(x) * (m_max - m_min))`` with ``m = hz_to_midi(hz)``, so equal
    steps of ``sigmoid(x)`` are equal musical intervals.

    Args:
        x: raw values, any shape. Differentiable.
        min_hz, max_hz: output range in Hz, 0 < min_hz < max_hz.
    """
    check_finite("x", check_tensor("x", x))
    check_positive("min_hz", min_hz)
    if not max_hz > min_hz:
        raise InputError(f"max_hz must be greater than min_hz ({min_hz}), found {max_hz!r}")
    midi_min = 69.0 + 12.0 * math.log2(min_hz / 440.0)
    midi_max = 69.0 + 12.0 * math.log2(max_hz / 440.0)
    return midi_to_hz(midi_min + torch.sigmoid(x) * (midi_max - midi_min))


@half_in_float32
def smooth_limit(x: Tensor, low: float, high: float, softness: float = 1.0) -> Tensor:
    """Keep ``x`` between ``low`` and ``high`` with smooth corners: ``low + softplus(high -
    softplus(high - x) - low)`` (softplus of width ``softness``). Identity, within about
    ``softness``, well inside the range; never outside it; differentiable everywhere with a
    gradient that fades (never vanishes) past the ends. For controls that must stay valid
    whatever an optimiser does (a filter cutoff below Nyquist), not for hiding bad input."""
    check_finite("x", check_tensor("x", x))
    if not low < high:
        raise InputError(f"low must be below high, found {low} and {high}")
    if not softness > 0:
        raise InputError(f"softness must be > 0, found {softness}")
    beta = 1.0 / softness
    upper = high - torch.nn.functional.softplus(high - x, beta=beta)
    return low + torch.nn.functional.softplus(upper - low, beta=beta)
