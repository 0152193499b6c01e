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

import math  # noqa: F401 (the doctest uses it)

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import half_in_float32
from .controls import ControlLike
from .controls import Rate
from .controls import control_values
from .controls import rate_of
from .layout import flatten_audio
from .layout import restore_audio
from .resampling import resample
from .resampling import upsample

__all__ = ["waveshape", "chebyshev_polynomials", "WAVESHAPE_CURVES"]

WAVESHAPE_CURVES = ("tanh", "soft_clip", "hard_clip", "chebyshev")


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

    Example:
        >>> chebyshev_polynomials(torch.tensor([0.5, -1.0]), 3).tolist()
        [[1.0, 0.5, -0.5], [1.0, -1.0, 1.0]]
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
    curve: str,
    drive_db: ControlLike = 0.0,
    bias: ControlLike = 0.0,
    coefficients: Tensor | None = None,
    oversampling: int = 1,
    *,
    remove_dc: bool = True,
    zero_crossings: int = 24,
    rolloff: float = 0.945,
) -> Tensor:
    """Drive ``x`` through a static curve, optionally oversampled (module docstring).

    Controls (``drive_db``, ``bias``) take every rate of :mod:`~torchddsp.functional.controls`
    (its table): a number, ``(batch, 1)`` per item, ``(batch or 1, n_samples)`` per sample,
    ``(batch or 1, n_frames, 1)`` frame rate, or a ``Control``; with oversampling, per-sample
    and frame-rate values are interpolated linearly to the oversampled rate.

    Shape:
        ``x`` ``(..., n_samples)`` -> ``(..., n_samples)`` (same length, no delay).

    Args:
        x: audio (leading dimensions flattened into ``batch``). Differentiable.
        curve: ``"tanh"``, ``"soft_clip"``, ``"hard_clip"`` or ``"chebyshev"``.
        drive_db: input gain in dB (0 by default: unity). Differentiable.
        bias: DC offset added after the drive and before the curve (0 by default: a
            symmetric curve, odd harmonics only); its static DC ``f(bias)`` is subtracted after
            the curve. Differentiable.
        coefficients: ``(batch or 1, n_terms)`` weights ``c_k`` of ``T_0 .. T_{n_terms-1}``;
            required for ``"chebyshev"`` and refused by the other curves. Differentiable.
        oversampling: integer factor ``L >= 1`` (1: none).
        remove_dc: subtract ``f(bias)``, the curve's output at rest (default), so that silence
            maps to silence; ``False`` returns ``f(u)`` itself (e.g. ``T_k`` of a full-scale
            cosine is then exactly its ``k``-th harmonic, with no offset ``-T_k(0)``).
        zero_crossings, rolloff: of the resampler
            (:func:`~torchddsp.functional.resampling.resample`): filter length and cut-off as
            a fraction of the original Nyquist frequency.

    Returns:
        ``(..., n_samples)`` in ``x``'s dtype.

    Raises:
        InputError: wrong shapes, an unknown ``curve``, ``oversampling < 1``, missing or
            unexpected ``coefficients``; non-finite values while data checks run.

    Example:
        >>> y = waveshape(torch.linspace(-1, 1, 5), "hard_clip", drive_db=20 * math.log10(2))
        >>> [round(v, 4) for v in y.tolist()]
        [-1.0, -1.0, 0.0, 1.0, 1.0]
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    check_choice("curve", curve, WAVESHAPE_CURVES)
    factor = check_positive_int("oversampling", oversampling)
    coefficients = _coefficients(curve, coefficients, flat)
    n_samples = flat.shape[1]
    gain = 10.0 ** (_control("drive_db", drive_db, flat, factor) / 20.0)
    offset = _control("bias", bias, flat, factor)
    if n_samples == 0:  # validated controls, then an empty output (the resampler has nothing to read)
        return restore_audio(flat.new_zeros(flat.shape[0], 0), leading)

    def resampled(signal: Tensor, orig: int, new: int) -> Tensor:
        return resample(signal, orig, new, zero_crossings=zero_crossings, rolloff=rolloff)

    high = flat if factor == 1 else resampled(flat, 1, factor)
    shaped = _apply_curve(curve, gain * high + offset, coefficients)
    if remove_dc:
        # At the high rate, before the way down: the downsampler then sees a signal that is
        # zero outside the edges, as its zero padding assumes.
        shaped = shaped - _apply_curve(curve, offset, coefficients)
    return restore_audio(shaped if factor == 1 else resampled(shaped, factor, 1), leading)


def _coefficients(curve: str, coefficients: Tensor | None, x: Tensor) -> Tensor | None:
    """The Chebyshev weights ``(batch or 1, n_terms)`` in ``x``'s dtype, checked against
    ``curve``: required by ``"chebyshev"``, refused by the other curves."""
    if curve != "chebyshev":
        if coefficients is not None:
            raise InputError(f"coefficients are only used by curve='chebyshev', found curve={curve!r}")
        return None
    if coefficients is None:
        raise InputError("coefficients (batch or 1, n_terms) are required for curve='chebyshev'")
    check_rank("coefficients", coefficients, 2, "(batch or 1, n_terms)")
    check_finite("coefficients", coefficients)
    batch = x.shape[0]
    if coefficients.shape[0] not in (1, batch) or coefficients.shape[1] < 1:
        raise InputError(
            f"coefficients must have shape ({batch} or 1, n_terms >= 1), found {tuple(coefficients.shape)}"
        )
    return coefficients.to(dtype=x.dtype, device=x.device)


def _apply_curve(curve: str, u: Tensor, coefficients: Tensor | None) -> Tensor:
    """The static curve ``f`` named ``curve`` (module docstring), elementwise on ``(batch, n)``."""
    if curve == "tanh":
        return torch.tanh(u)
    if curve == "soft_clip":
        # clamp is the curve's definition here (flat beyond |u| = 1), not an input guard; at
        # the joins the cubic's slope 1.5 (1 - u^2) is 0, matching the flat pieces.
        inside = u.clamp(-1.0, 1.0)
        return 1.5 * inside - 0.5 * inside**3
    if curve == "hard_clip":
        return u.clamp(-1.0, 1.0)
    assert coefficients is not None  # _coefficients requires them for "chebyshev"
    polynomials = chebyshev_polynomials(u, coefficients.shape[-1])  # (batch or 1, n, n_terms)
    return (polynomials * coefficients.unsqueeze(1)).sum(-1)  # batch sizes 1 and B broadcast


def _control(name: str, value: ControlLike, x: Tensor, factor: int) -> Tensor:
    """A drive or bias as ``(batch or 1, n_samples * factor or 1)``: fixed and per-item values
    keep a time size of 1; per-sample values are interpolated linearly to the oversampled rate
    (as frames, one per sample) and frame-rate values straight to it."""
    n_samples = x.shape[1]
    if factor > 1 and rate_of(name, value) is Rate.FRAME:
        return control_values(name, value, x, n_samples * factor)[..., 0]
    values = control_values(name, value, x, n_samples)
    if factor > 1 and values.shape[1] > 1:
        values = upsample(values, n_samples * factor, "linear")
    return values[..., 0]
