"""Memoryless waveshaping (saturation, clipping, Chebyshev harmonic shaping) with optional
band-limited oversampling.

The signal path of :func:`waveshape`, at the (over)sampled rate::

    u = 10 ** (drive_db / 20) * x + bias        drive, then a DC offset (asymmetry)
    y = f(u) - f(bias)                          the curve, minus its output at rest

Subtracting ``f(bias)`` (the curve's output for silent input) removes the DC offset the bias
put in: silence maps to silence and the operation stays memoryless, so it needs no state and
works in chunks. What it does not remove is the signal-dependent DC that every asymmetric
(even-order) distortion creates (for small signals about ``f''(bias) / 2`` times the mean
square of the driven input); follow with a high-pass filter where that matters.
``remove_dc=False`` skips the subtraction (with oversampling, the constant ``f(bias)`` then
meets the resampler's zero-padded edges, and the first and last few samples ring).

Curves ``f``:

- ``"tanh"``: ``tanh(u)``; slope 1 at the origin, saturates at +-1.
- ``"soft_clip"``: the cubic soft clipper ``1.5 u - 0.5 u^3`` for ``|u| <= 1`` and
  ``sign(u)`` beyond: ``x - x^3 / 3`` scaled by 3/2 so that it saturates at +-1 exactly
  where it reaches +-1. The slope is 1.5 at the origin and 0 at ``|u| = 1``, where the two
  pieces join with matching value and slope (C1): gradients are finite everywhere and zero
  in saturation.
- ``"hard_clip"``: ``u`` limited to [-1, 1] (the curve itself, not a guard); gradient 1
  inside, 0 outside.
- ``"chebyshev"``: ``sum_k c_k T_k(u)`` for ``k = 0 .. n_terms - 1`` with Chebyshev
  polynomials of the first kind and learnable ``coefficients``. Since ``T_k(cos t) = cos(k t)``,
  a full-scale cosine through ``T_k`` comes out as exactly its ``k``-th harmonic (with
  ``remove_dc=False``; by default the constant ``T_k(bias)`` is subtracted as well), which
  makes the coefficients a harmonic recipe for inputs in [-1, 1]. Outside [-1, 1], ``|T_k(u)|``
  grows like ``(|u| + sqrt(u^2 - 1))^k / 2``; nothing is clamped, keep the driven signal in
  range (or accept the growth).

Oversampling by an integer factor ``L``: the input is resampled to ``L`` times its rate by
:func:`~torchddsp.functional.resampling.resample` (a Kaiser-windowed sinc, zero-phase), the
curve applied there (so harmonics up to ``L`` times the Nyquist frequency exist before they
fold), and the result low-passed and resampled back by the same resampler. Both resampling
steps are time-aligned (zero-phase), so the output has the input's length and no delay: no
compensation is needed and none is applied (tested: the oversampled output of a driven sine
lines up with the plain one to a small fraction of a sample). Edges are treated as zero
outside the signal, as ``resample`` does. The resampler's low-pass also acts on the input:
with the defaults its response is flat (to 1e-6) up to 0.75 of the Nyquist frequency (6 kHz
at 16 kHz), -0.3 dB at 0.85 and half amplitude at its cut-off, ``rolloff = 0.945``; content
nearer Nyquist is attenuated even where the curve is linear.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import as_tensor_like, check_choice, check_finite, check_positive_int, check_rank, check_tensor, half_in_float32
from .resampling import resample, upsample
from ..validation import InputError

__all__ = ["waveshape", "chebyshev_polynomials", "WAVESHAPE_KINDS"]

WAVESHAPE_KINDS = ("tanh", "soft_clip", "hard_clip", "chebyshev")


@half_in_float32
def chebyshev_polynomials(x: Tensor, n_terms: int) -> Tensor:
    """Chebyshev polynomials of the first kind ``T_0(x) .. T_{n_terms - 1}(x)``.

    By the recurrence ``T_0 = 1``, ``T_1 = x``, ``T_{k+1} = 2 x T_k - T_{k-1}`` (stable in
    [-1, 1], where ``|T_k| <= 1``; outside it the values grow like ``(|x| + sqrt(x^2 - 1))^k``
    and are returned as they are).

    Shape:
        ``x``: any shape ``(...)`` -> ``(..., n_terms)``.

    Args:
        x: points. Differentiable (to any order).
        n_terms: number of polynomials, >= 1.
    """
    x = check_finite("x", check_tensor("x", x))
    n_terms = check_positive_int("n_terms", n_terms)
    terms = [torch.ones_like(x)]
    if n_terms > 1:
        terms.append(x)
    for _ in range(2, n_terms):
        terms.append(2 * x * terms[-1] - terms[-2])
    return torch.stack(terms, dim=-1)


@half_in_float32
def waveshape(
    x: Tensor,
    kind: str,
    drive_db: Tensor | float = 0.0,
    bias: Tensor | float = 0.0,
    coefficients: Tensor | None = None,
    oversampling: int = 1,
    *,
    remove_dc: bool = True,
    zero_crossings: int = 24,
    rolloff: float = 0.945,
) -> Tensor:
    """Drive ``x`` through a static curve, optionally oversampled (module docstring).

    Shape:
        ``x`` ``(batch, n_samples)`` -> ``(batch, n_samples)`` (same length, no delay).

    Args:
        x: audio. Differentiable.
        kind: ``"tanh"``, ``"soft_clip"``, ``"hard_clip"`` or ``"chebyshev"``.
        drive_db: input gain in dB (0 by default: unity). A number, ``(batch or 1, 1)``
            (fixed), ``(batch or 1, n_samples)`` (per sample) or ``(batch or 1, n_frames, 1)``
            (frame rate, upsampled linearly). Differentiable.
        bias: DC offset added after the drive and before the curve (0 by default: a
            symmetric curve, odd harmonics only); its static DC ``f(bias)`` is subtracted after
            the curve. Same shapes as ``drive_db``. Differentiable.
        coefficients: ``(batch or 1, n_terms)`` weights ``c_k`` of ``T_0 .. T_{n_terms-1}``;
            required for ``"chebyshev"`` and refused by the other kinds. Differentiable.
        oversampling: integer factor ``L >= 1`` (1: none). Per-sample controls are
            interpolated linearly to the oversampled rate.
        remove_dc: subtract ``f(bias)``, the curve's output at rest (default), so that silence
            maps to silence; ``False`` returns ``f(u)`` itself (e.g. ``T_k`` of a full-scale
            cosine is then exactly its ``k``-th harmonic, with no offset ``-T_k(0)``).
        zero_crossings, rolloff: of the resampler
            (:func:`~torchddsp.functional.resampling.resample`): filter length and cut-off as
            a fraction of the original Nyquist frequency.

    Returns:
        ``(batch, n_samples)`` in ``x``'s dtype.

    Raises:
        ValueError: wrong ranks or shapes, non-finite values, an unknown ``kind``,
            ``oversampling < 1``, missing or unexpected ``coefficients``.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    check_choice("kind", kind, WAVESHAPE_KINDS)
    factor = check_positive_int("oversampling", oversampling)
    batch, n_samples = x.shape
    if kind == "chebyshev":
        if coefficients is None:
            raise InputError("coefficients (batch or 1, n_terms) are required for kind='chebyshev'")
        check_rank("coefficients", coefficients, 2, "(batch or 1, n_terms)")
        check_finite("coefficients", coefficients)
        if coefficients.shape[0] not in (1, batch) or coefficients.shape[1] < 1:
            raise InputError(f"coefficients must have shape ({batch} or 1, n_terms >= 1), found {tuple(coefficients.shape)}")
        coefficients = coefficients.to(dtype=x.dtype, device=x.device)
    elif coefficients is not None:
        raise InputError(f"coefficients are only used by kind='chebyshev', found kind={kind!r}")
    if n_samples == 0:  # validated controls, then an empty output (the resampler has nothing to read)
        for name, value in (("drive_db", drive_db), ("bias", bias)):
            _control(name, value, batch, n_samples, 1, x)
        return x.new_zeros(batch, 0)
    gain = 10.0 ** (_control("drive_db", drive_db, batch, n_samples, factor, x) / 20.0)
    offset = _control("bias", bias, batch, n_samples, factor, x)
    rate = {"zero_crossings": zero_crossings, "rolloff": rolloff}
    high = x if factor == 1 else resample(x, 1, factor, **rate)
    shaped = _curve(kind, gain * high + offset, coefficients)
    if remove_dc:
        # At the high rate, before the way down: the downsampler then sees a signal that is
        # zero outside the edges, as its zero padding assumes.
        shaped = shaped - _curve(kind, offset, coefficients)
    return shaped if factor == 1 else resample(shaped, factor, 1, **rate)


def _curve(kind: str, u: Tensor, coefficients: Tensor | None) -> Tensor:
    """The static curve ``f`` of ``kind`` (module docstring), elementwise on ``(batch, n)``."""
    if kind == "tanh":
        return torch.tanh(u)
    if kind == "soft_clip":
        # clamp is the curve's definition here (flat beyond |u| = 1), not an input guard; at
        # the joins the cubic's slope 1.5 (1 - u^2) is 0, matching the flat pieces.
        inside = u.clamp(-1.0, 1.0)
        return 1.5 * inside - 0.5 * inside**3
    if kind == "hard_clip":
        return u.clamp(-1.0, 1.0)
    polynomials = chebyshev_polynomials(u, coefficients.shape[-1])  # (batch or 1, n, n_terms)
    return (polynomials * coefficients.unsqueeze(1)).sum(-1)  # batch sizes 1 and B broadcast


def _control(name: str, value: Tensor | float, batch: int, n_samples: int, factor: int, like: Tensor) -> Tensor:
    """A drive or bias as ``(batch or 1, n_samples * factor or 1)``: numbers and ``(batch or 1,
    1)`` stay fixed; ``(batch or 1, n_samples)`` per-sample and ``(batch or 1, n_frames, 1)``
    frame-rate values are interpolated linearly to the (oversampled) rate."""
    value = as_tensor_like(name, value, like)
    check_finite(name, value)
    if value.dim() == 0:
        return value.reshape(1, 1)
    if value.dim() == 2:
        if value.shape[0] not in (1, batch) or value.shape[1] not in (1, n_samples):
            raise InputError(f"{name} must broadcast to ({batch}, {n_samples}) (that of x), found {tuple(value.shape)}")
        if value.shape[1] == 1 or factor == 1:
            return value
        value = value.unsqueeze(-1)  # one frame per sample: hop `factor` at the high rate
    elif value.dim() == 3:
        if value.shape[0] not in (1, batch) or value.shape[2] != 1:
            raise InputError(f"{name} at frame rate must have shape ({batch} or 1, n_frames, 1), found {tuple(value.shape)}")
    else:
        raise InputError(f"{name} must be a number, (batch, 1), (batch, n_samples) or (batch, n_frames, 1), "
                         f"found shape {tuple(value.shape)}")
    if n_samples == 0:  # nothing to interpolate onto
        return value.new_zeros(value.shape[0], 0)
    return upsample(value, n_samples * factor, "linear")[..., 0]
