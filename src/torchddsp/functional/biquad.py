"""Biquad designs from the Audio EQ Cookbook (R. Bristow-Johnson), differentiable in their
parameters: cutoff (Hz), Q and gain (dB) are tensors, so a network can predict them and learn
through :func:`~torchddsp.functional.sosfilt`.

Every design is the bilinear transform of an analog prototype ``H(s)`` with the frequency
warped so the cutoff lands exactly at ``cutoff_hz``: the digital response at angular frequency
``w`` equals ``H(j tan(w / 2) / tan(w0 / 2))`` (tested against that closed form).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32

__all__ = ["biquad", "BIQUAD_MODES"]

BIQUAD_MODES = ("lowpass", "highpass", "bandpass", "notch", "peak", "lowshelf", "highshelf", "allpass")


@half_in_float32
def biquad(
    mode: str, cutoff_hz: Tensor | float, q: Tensor | float, sample_rate: float, gain_db: Tensor | float = 0.0
) -> Tensor:
    """Second-order section ``[b0, b1, b2, a0, a1, a2]`` of a cookbook filter.

    Args:
        mode: one of ``BIQUAD_MODES``: ``lowpass``, ``highpass``, ``bandpass`` (0 dB at the
            centre), ``notch``, ``peak``, ``lowshelf``, ``highshelf``, ``allpass``.
        cutoff_hz: cutoff or centre frequency in Hz, strictly between 0 and Nyquist; any
            shape (e.g. ``(batch,)`` or ``(batch, n_samples)`` for a time-varying filter).
        q: quality factor (> 0), broadcastable with ``cutoff_hz``.
        sample_rate: in Hz.
        gain_db: gain of ``peak`` and the shelves in dB (ignored by the others).

    Returns:
        coefficients of shape ``broadcast(cutoff_hz, q, gain_db).shape + (6,)``; feed them to
        :func:`sosfilt` as one section (``unsqueeze(-2)``). Differentiable in every parameter.
    """
    check_choice("mode", mode, BIQUAD_MODES)
    sample_rate = check_positive("sample_rate", sample_rate)
    cutoff, quality, gain = _checked_parameters(cutoff_hz, q, gain_db, sample_rate)
    w0 = 2 * math.pi * cutoff / sample_rate
    return torch.stack(_cookbook_rows(mode, torch.cos(w0), torch.sin(w0) / (2 * quality), gain), dim=-1)


def _checked_parameters(
    cutoff_hz: Tensor | float, q: Tensor | float, gain_db: Tensor | float, sample_rate: float
) -> tuple[Tensor, ...]:
    """``(cutoff_hz, q, gain_db)`` as validated tensors broadcast to one shape."""
    # Plain numbers take the dtype and device of the tensor parameters (float64 stays float64).
    given = [
        check_tensor(name, v)
        for name, v in (("cutoff_hz", cutoff_hz), ("q", q), ("gain_db", gain_db))
        if isinstance(v, Tensor)
    ]
    dtype = given[0].dtype if given else torch.get_default_dtype()
    for value in given[1:]:
        dtype = torch.promote_types(dtype, value.dtype)
    device = given[0].device if given else None
    cutoff, quality, gain = (torch.as_tensor(v, dtype=dtype, device=device) for v in (cutoff_hz, q, gain_db))
    for name, value in (("cutoff_hz", cutoff), ("q", quality), ("gain_db", gain)):
        check_finite(name, value)
    if data_checks_enabled() and bool(((cutoff <= 0) | (cutoff >= sample_rate / 2)).any()):
        raise InputError(f"cutoff_hz must be strictly between 0 and Nyquist ({sample_rate / 2} Hz)")
    if data_checks_enabled() and bool((quality <= 0).any()):
        raise InputError("q must be > 0")
    return torch.broadcast_tensors(cutoff, quality, gain)


def _cookbook_rows(mode: str, cos: Tensor, alpha: Tensor, gain_db: Tensor) -> tuple[Tensor, ...]:
    """The six coefficients ``(b0, b1, b2, a0, a1, a2)`` of ``mode`` from ``cos(w0)``, ``alpha =
    sin(w0) / (2 Q)`` and the gain (the cookbook's formulas)."""
    one = torch.ones_like(cos)
    if mode == "lowpass":
        rows = ((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)
    elif mode == "highpass":
        rows = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)
    elif mode == "bandpass":
        rows = (alpha, torch.zeros_like(cos), -alpha, 1 + alpha, -2 * cos, 1 - alpha)
    elif mode == "notch":
        rows = (one, -2 * cos, one, 1 + alpha, -2 * cos, 1 - alpha)
    elif mode == "allpass":
        rows = (1 - alpha, -2 * cos, 1 + alpha, 1 + alpha, -2 * cos, 1 - alpha)
    else:
        amplitude = 10.0 ** (gain_db / 40.0)
        if mode == "peak":
            rows = (
                1 + alpha * amplitude,
                -2 * cos,
                1 - alpha * amplitude,
                1 + alpha / amplitude,
                -2 * cos,
                1 - alpha / amplitude,
            )
        else:
            root = 2 * torch.sqrt(amplitude) * alpha
            plus, minus = amplitude + 1, amplitude - 1
            if mode == "lowshelf":
                rows = (
                    amplitude * (plus - minus * cos + root),
                    2 * amplitude * (minus - plus * cos),
                    amplitude * (plus - minus * cos - root),
                    plus + minus * cos + root,
                    -2 * (minus + plus * cos),
                    plus + minus * cos - root,
                )
            else:  # highshelf
                rows = (
                    amplitude * (plus + minus * cos + root),
                    -2 * amplitude * (minus + plus * cos),
                    amplitude * (plus + minus * cos - root),
                    plus - minus * cos + root,
                    2 * (minus - plus * cos),
                    plus - minus * cos - root,
                )
    return rows
