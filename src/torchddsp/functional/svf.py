"""State-variable filter (SVF) with time-varying cutoff and resonance, stable for every
parameter value.

The topology-preserving (trapezoidal) SVF of Zavalishin ("The Art of VA Filter Design", ch. 4)
in A. Simper's formulation: with ``g = tan(pi f_c / f_s)`` and damping ``k = 1 / q``::

    a1 = 1 / (1 + g (g + k)),  a2 = g a1,  a3 = g a2
    v3 = x - s2,  v1 = a1 s1 + a2 v3,  v2 = s2 + a2 s1 + a3 v3
    s1 <- 2 v1 - s1,  s2 <- 2 v2 - s2
    lowpass = v2,  bandpass (peak gain q) = v1,  highpass = x - k v1 - v2

For fixed parameters it is exactly the bilinear transform (with the cutoff prewarped) of the
analog prototypes ``1 / (s^2 + k s + 1)`` etc., i.e. the same responses as the Audio EQ
Cookbook biquads (tested to 1e-10 against ``scipy.signal.sosfilt``). Unlike a direct-form
biquad whose coefficients are swept, its state stays bounded when the cutoff and resonance
jump from sample to sample (tested over random jumps across the whole range): the state is the
capacitor "charge" of the analog circuit, not a list of past outputs, so modulation does not
inject energy. Its poles stay strictly inside the unit circle for every ``0 < f_c < f_s / 2``
and ``q > 0``; there is no clamping, and values outside those ranges are an error.

The recursion is :func:`~torchddsp.functional.recurrence.linear_recurrence` (state size 2), so
gradients with respect to the input, the cutoff, the resonance and the initial state are exact,
to any order.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from ..validation import check_choice, check_finite, check_positive, check_rank, check_tensor, half_in_float32
from .recurrence import linear_recurrence
from .resampling import upsample
from ..validation import InputError

__all__ = ["state_variable_filter", "SVF_MODES"]

SVF_MODES = ("lowpass", "bandpass", "highpass", "notch", "allpass", "bandpass_q")


def _control(name: str, value: Tensor | float, batch: int, n_samples: int, like: Tensor) -> Tensor:
    """A cutoff or resonance as ``(batch or 1, n_samples or 1)``: a number, a 0-d tensor,
    ``(batch or 1, n_samples or 1)`` (per sample or fixed) or frame-rate ``(batch or 1,
    n_frames, 1)`` (upsampled linearly to ``n_samples``, the library's frame convention)."""
    if not isinstance(value, Tensor):
        try:
            value = torch.tensor(float(value), dtype=like.dtype, device=like.device)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number or a tensor, found {value!r}") from None
    check_tensor(name, value)
    check_finite(name, value)
    if value.dim() == 0:
        value = value.reshape(1, 1)
    elif value.dim() == 3:
        if value.shape[-1] != 1:
            raise InputError(f"{name} at frame rate must have shape (batch, n_frames, 1), found {tuple(value.shape)}")
        value = upsample(value, n_samples, "linear")[..., 0]
    elif value.dim() != 2:
        raise InputError(f"{name} must be a number, (batch, n_samples), (batch, 1) or (batch, n_frames, 1), "
                         f"found shape {tuple(value.shape)}")
    if value.shape[0] not in (1, batch) or value.shape[1] not in (1, n_samples):
        raise InputError(f"{name} must broadcast to ({batch}, {n_samples}) (that of x), found {tuple(value.shape)}")
    return value


@half_in_float32
def state_variable_filter(x: Tensor, cutoff_hz: Tensor | float, q: Tensor | float, sample_rate: float,
                          mode: str | Sequence[str] = "lowpass", zi: Tensor | None = None, *,
                          return_state: bool = False, backend: str = "auto") -> Tensor | tuple:
    """Filter ``x`` by a state-variable filter with (optionally) time-varying cutoff and resonance.

    Args:
        x: input ``(batch, n_samples)``.
        cutoff_hz: cutoff (centre) frequency in Hz, strictly between 0 and Nyquist: a number,
            ``(batch or 1, 1)`` (fixed), ``(batch or 1, n_samples)`` (per sample) or
            ``(batch or 1, n_frames, 1)`` (frame rate, upsampled linearly).
        q: resonance as a quality factor (> 0; 0.7071 is Butterworth, large values ring), same
            shapes as ``cutoff_hz``.
        sample_rate: in Hz.
        mode: ``"lowpass"``, ``"highpass"``, ``"bandpass"`` (0 dB at the centre, the cookbook's
            constant-peak band-pass), ``"bandpass_q"`` (peak gain ``q``, the raw band output),
            ``"notch"`` or ``"allpass"``; or a sequence of them, to get several outputs of one
            run of the filter.
        zi: state ``(batch, 2)`` (the two integrator states); zeros (at rest) by default.
        return_state: also return the state after the last sample (to filter in chunks).
        backend: of the recursion (:func:`~torchddsp.functional.recurrence.linear_recurrence`).

    Returns:
        ``(batch, n_samples)`` (a tuple of them for a sequence of modes), and the state
        ``(batch, 2)`` when asked. Differentiable in ``x``, ``cutoff_hz``, ``q`` and ``zi``.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    sample_rate = check_positive("sample_rate", sample_rate)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    if not modes:
        raise InputError(f"mode must name at least one of {SVF_MODES}")
    for name in modes:
        check_choice("mode", name, SVF_MODES)
    batch, n_samples = x.shape
    cutoff_hz = _control("cutoff_hz", cutoff_hz, batch, n_samples, x)
    q = _control("q", q, batch, n_samples, x)
    if bool(((cutoff_hz <= 0) | (cutoff_hz >= sample_rate / 2)).any()):
        raise InputError(f"cutoff_hz must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz)")
    if bool((q <= 0).any()):
        raise InputError("q must be > 0")
    dtype = torch.promote_types(torch.promote_types(x.dtype, cutoff_hz.dtype), q.dtype)
    x, cutoff_hz, q = x.to(dtype), cutoff_hz.to(dtype), q.to(dtype)
    g = torch.tan(math.pi / sample_rate * cutoff_hz)
    k = 1.0 / q
    a1 = 1.0 / (1.0 + g * (g + k))
    a2 = g * a1
    a3 = g * a2
    # s[n] = A[n] s[n-1] + x[n] b[n], rows from s1 <- 2 v1 - s1 and s2 <- 2 v2 - s2.
    matrix = torch.stack([torch.stack([2 * a1 - 1, -2 * a2], -1), torch.stack([2 * a2, 1 - 2 * a3], -1)], -2)
    if zi is not None:
        check_rank("zi", zi, 2, "(batch, 2)")
        if zi.shape != (batch, 2):
            raise InputError(f"zi must have shape ({batch}, 2), found {tuple(zi.shape)}")
        zi = zi.to(dtype)
    drive = torch.stack([2 * a2 * x, 2 * a3 * x], dim=-1)
    states = linear_recurrence(drive, matrix, zi, backend=backend)
    initial = states.new_zeros(batch, 1, 2) if zi is None else zi.unsqueeze(1)
    previous = torch.cat([initial, states[:, :-1]], dim=1)
    s1, s2 = previous[..., 0], previous[..., 1]
    band = a1 * s1 - a2 * s2 + a2 * x
    low = a2 * s1 + (1 - a3) * s2 + a3 * x
    outputs = []
    for name in modes:
        if name == "lowpass":
            outputs.append(low)
        elif name == "highpass":
            outputs.append(x - k * band - low)
        elif name == "bandpass":
            outputs.append(k * band)
        elif name == "bandpass_q":
            outputs.append(band.expand(batch, n_samples))
        elif name == "notch":
            outputs.append(x - k * band)
        else:  # allpass
            outputs.append(x - 2 * k * band)
    result = outputs[0] if isinstance(mode, str) else tuple(outputs)
    if return_state:
        return result, states[:, -1]
    return result
