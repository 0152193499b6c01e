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
from collections.abc import Sequence

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .controls import ControlLike
from .controls import control_dtype
from .controls import control_values
from .layout import flatten_audio
from .layout import flatten_state
from .layout import restore_audio
from .recurrence import linear_recurrence

__all__ = ["state_variable_filter", "SVF_MODES"]

SVF_MODES = ("lowpass", "bandpass", "highpass", "notch", "allpass", "bandpass_q")


@half_in_float32
def state_variable_filter(
    x: Tensor,
    cutoff_hz: ControlLike,
    q: ControlLike,
    sample_rate: float,
    mode: str | Sequence[str] = "lowpass",
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple:
    """Filter ``x`` by a state-variable filter with (optionally) time-varying cutoff and resonance.

    Controls (``cutoff_hz``, ``q``) take every rate of :mod:`~torchddsp.functional.controls`
    (its table): a number, ``(batch, 1)`` per item, ``(batch or 1, n_samples)`` per sample,
    ``(batch or 1, n_frames, 1)`` frame rate (upsampled linearly), or a ``Control``.

    Args:
        x: input ``(..., n_samples)`` (leading dimensions flattened into ``batch``).
        cutoff_hz: cutoff (centre) frequency in Hz, strictly between 0 and Nyquist.
        q: resonance as a quality factor (> 0; 0.7071 is Butterworth, large values ring).
        sample_rate: in Hz.
        mode: ``"lowpass"``, ``"highpass"``, ``"bandpass"`` (0 dB at the centre, the cookbook's
            constant-peak band-pass), ``"bandpass_q"`` (peak gain ``q``, the raw band output),
            ``"notch"`` or ``"allpass"``; or a sequence of them, to get several outputs of one
            run of the filter.
        state: ``(..., 2)`` (the two integrator states, after ``x``'s leading dimensions);
            zeros (at rest) by default.
        return_state: also return the state after the last sample; passed as ``state`` with
            the following samples, the result equals one call.
        backend: of the recursion (:func:`~torchddsp.functional.recurrence.linear_recurrence`).

    Returns:
        ``(..., n_samples)`` (a tuple of them for a sequence of modes), in the promoted dtype
        of ``x`` and the controls, and the state ``(..., 2)`` when asked. Differentiable in
        ``x``, ``cutoff_hz``, ``q`` and ``state``.

    Example:
        >>> y = state_variable_filter(torch.randn(2, 3, 100), 1000.0, 0.7071, 16000.0)
        >>> tuple(y.shape)
        (2, 3, 100)
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    sample_rate = check_positive("sample_rate", sample_rate)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    if not modes:
        raise InputError(f"mode must name at least one of {SVF_MODES}")
    for name in modes:
        check_choice("mode", name, SVF_MODES)
    like = flat.to(control_dtype(flat, cutoff_hz, q))
    n_samples = flat.shape[1]
    cutoff_hz = control_values("cutoff_hz", cutoff_hz, like, n_samples)[..., 0]
    q = control_values("q", q, like, n_samples)[..., 0]
    if data_checks_enabled():
        if bool(((cutoff_hz <= 0) | (cutoff_hz >= sample_rate / 2)).any()):
            raise InputError(f"cutoff_hz must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz)")
        if bool((q <= 0).any()):
            raise InputError("q must be > 0")
    if state is not None:
        state = check_finite("state", flatten_state("state", state, leading, (2,))).to(like.dtype)
    outputs, state = _filter(like, cutoff_hz, q, sample_rate, modes, state, backend)
    outputs = [restore_audio(y, leading) for y in outputs]
    result = outputs[0] if isinstance(mode, str) else tuple(outputs)
    if return_state:
        return result, restore_audio(state, leading)
    return result


def _filter(
    x: Tensor,
    cutoff_hz: Tensor,
    q: Tensor,
    sample_rate: float,
    modes: tuple[str, ...],
    state: Tensor | None,
    backend: str,
) -> tuple[list[Tensor], Tensor]:
    """The filter's outputs for ``modes`` and its last state, all inputs checked: ``x`` ``(batch,
    n)``, controls ``(batch or 1, n or 1)`` in ``x``'s dtype, ``state`` ``(batch, 2)`` or None."""
    batch, n_samples = x.shape
    g = torch.tan(math.pi / sample_rate * cutoff_hz)
    k = 1.0 / q
    a1 = 1.0 / (1.0 + g * (g + k))
    a2 = g * a1
    a3 = g * a2
    # s[n] = A[n] s[n-1] + x[n] b[n], rows from s1 <- 2 v1 - s1 and s2 <- 2 v2 - s2.
    matrix = torch.stack([torch.stack([2 * a1 - 1, -2 * a2], -1), torch.stack([2 * a2, 1 - 2 * a3], -1)], -2)
    drive = torch.stack([2 * a2 * x, 2 * a3 * x], dim=-1)
    states, last = linear_recurrence(drive, matrix, state=state, return_state=True, backend=backend)
    initial = states.new_zeros(batch, 1, 2) if state is None else state.unsqueeze(1)
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
    return outputs, last
