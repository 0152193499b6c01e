"""Phaser: a cascade of first-order all-pass sections with time-varying coefficients, global
feedback and a wet/dry mix, run as one state-space recursion with exact gradients.

Each stage is the first-order all-pass ``H(z) = (a + z^-1) / (1 + a z^-1)`` in transposed
direct form II, whose single memory ``s`` makes a time-varying coefficient harmless::

    y[n] = a[n] x[n] + s[n-1],        s[n] = x[n] - a[n] y[n]

Its magnitude response is 1 at every frequency and its phase falls from 0 (DC) to ``-pi``
(Nyquist), through ``-pi/2`` at the break frequency ``f``, where (bilinear transform, cut-off
prewarped)::

    a = (tan(pi f / fs) - 1) / (tan(pi f / fs) + 1)       (``allpass_coefficient``)

``|a| < 1`` for every ``0 < f < fs / 2``. The cascade of ``n_stages`` sections has phase
``n_stages * (-w + 2 atan2(a sin w, 1 + a cos w))``. The cascade output ``y_K`` is fed back to
its input one sample later, ``v[n] = x[n] + feedback * y_K[n-1]``, and the phaser output is::

    out[n] = (1 - mix) x[n] + mix * y_K[n]

With ``feedback = 0`` and ``mix = 0.5`` the output is ``(1 + H^K) / 2``: a notch (exact
zero) wherever the cascade phase is an odd multiple of ``pi``, ``n_stages / 2`` notches below
Nyquist for an even count; sweeping the break frequency moves them. Feedback sharpens the
notches and adds resonant peaks between them.

Stability: for fixed coefficients the loop ``feedback * z^-1 * H^K`` has gain ``|feedback|``
at every frequency (the cascade is all-pass), so by the small-gain theorem the phaser is
stable exactly when ``|feedback| < 1``; values at or beyond 1 raise. Without feedback each
stage is stable whatever its coefficient does (its memory obeys ``s[n] = (1 - a^2) x[n] -
a s[n-1]`` with ``|a| < 1``). With feedback and coefficients that move from sample to sample
the frequency-domain argument no longer applies: LFO sweeps stay bounded (tested: 8 stages,
50 Hz to 6.4 kHz at a 50 Hz rate, ``|feedback| = 0.9``), but coefficients jumping at random
across their whole range every sample with strong feedback (0.95) can grow without bound.

The whole structure, stages and feedback, is one call of
:func:`~torchddsp.functional.recurrence.linear_recurrence` with state
``[s_1, ..., s_K, y_K]`` (``K + 1`` values): the per-sample matrices are assembled stage by
stage for all samples at once (a Python loop over stages, never over samples), so gradients
with respect to the input, the sweep, the feedback, the mix and the initial state are exact,
to any order.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import (
    as_tensor_like,
    check_choice,
    check_finite,
    check_positive,
    check_positive_int,
    check_rank,
    check_tensor,
    half_in_float32,
)
from .recurrence import linear_recurrence
from .resampling import upsample
from ..validation import InputError

__all__ = ["allpass_coefficient", "allpass_cascade", "phaser", "SWEEP_UNITS"]

SWEEP_UNITS = ("hz", "coefficient")


@half_in_float32
def allpass_coefficient(break_hz: Tensor, sample_rate: float) -> Tensor:
    """First-order all-pass coefficient ``a = (tan(pi f / fs) - 1) / (tan(pi f / fs) + 1)``.

    Args:
        break_hz: break frequencies (phase ``-pi/2``) in Hz, any shape, strictly between 0 and
            Nyquist. Differentiable.
        sample_rate: in Hz.

    Returns:
        ``a`` in (-1, 1), same shape: ``-1`` towards 0 Hz, 0 at ``fs / 4``, ``1`` towards Nyquist.
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    check_finite("break_hz", check_tensor("break_hz", break_hz))
    if bool(((break_hz <= 0) | (break_hz >= sample_rate / 2)).any()):
        raise InputError(f"break_hz must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz)")
    t = torch.tan(math.pi / sample_rate * break_hz)
    return (t - 1.0) / (t + 1.0)


@half_in_float32
def allpass_cascade(
    x: Tensor,
    coefficient: Tensor | float,
    n_stages: int = 4,
    feedback: Tensor | float = 0.0,
    zi: Tensor | None = None,
    *,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """The all-pass cascade with feedback: ``y_K`` of the module docstring (the wet signal).

    Shape:
        ``x`` ``(batch, n_samples)`` -> ``(batch, n_samples)``; state ``(batch, n_stages + 1)``.

    Args:
        x: input. Differentiable.
        coefficient: all-pass coefficients ``a``, each in (-1, 1): a number, ``(batch or 1, 1)``
            (fixed), ``(batch or 1, n_samples)`` (per sample, all stages alike) or ``(batch or
            1, n_frames, 1 or n_stages)`` (frame rate, upsampled linearly; ``n_frames =
            n_samples`` is per sample; ``n_stages`` channels give each stage its own).
            Differentiable.
        n_stages: number of first-order sections (>= 1; phasers use 2 to 12, even).
        feedback: gain from the cascade output back to its input, one sample later;
            ``|feedback| < 1``. Same layouts as ``coefficient`` with one channel.
            Differentiable.
        zi: state ``(batch, n_stages + 1)``: the stage memories ``s_1 .. s_K`` then the last
            output ``y_K[n-1]``; zeros (at rest) by default. Differentiable.
        return_state: also return the state after the last sample, to continue in chunks.
        backend: of :func:`~torchddsp.functional.recurrence.linear_recurrence`.

    Returns:
        ``y_K`` ``(batch, n_samples)`` (and the state).
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    n_stages = check_positive_int("n_stages", n_stages)
    batch, n_samples = x.shape
    a = _control("coefficient", coefficient, batch, n_samples, x, (1, n_stages))
    if bool((a.abs() >= 1).any()):
        raise InputError("coefficient must lie strictly between -1 and 1 (a stable all-pass section)")
    fb = _control("feedback", feedback, batch, n_samples, x, (1,))[..., 0]
    if bool((fb.abs() >= 1).any()):
        raise InputError("feedback must satisfy |feedback| < 1 (the loop is unstable otherwise)")
    size = n_stages + 1
    if zi is not None:
        check_rank("zi", zi, 2, f"(batch, {size})")
        check_finite("zi", zi)
        if zi.shape != (batch, size):
            raise InputError(f"zi must have shape ({batch}, {size}) (n_stages memories + the last output), "
                             f"found {tuple(zi.shape)}")
        zi = zi.to(dtype=x.dtype, device=x.device)
    A, drive = _state_space(a.expand(-1, -1, n_stages), fb, n_stages)
    if A.shape[1] == 1:
        A = A[:, 0]  # fixed coefficients: one matrix for every sample, never copied
    u = x.unsqueeze(-1) * drive.expand(batch, n_samples, size)
    states = linear_recurrence(u, A, zi, backend=backend)
    wet = states[..., n_stages]
    return (wet, states[:, -1]) if return_state else wet


@half_in_float32
def phaser(
    x: Tensor,
    sweep: Tensor | float,
    n_stages: int = 4,
    feedback: Tensor | float = 0.0,
    mix: Tensor | float = 0.5,
    sample_rate: float = 16000.0,
    zi: Tensor | None = None,
    *,
    sweep_unit: str = "hz",
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Phaser: ``(1 - mix) x + mix * allpass_cascade(x, a(sweep), n_stages, feedback)``.

    Shape:
        ``x`` ``(batch, n_samples)`` -> ``(batch, n_samples)``; state ``(batch, n_stages + 1)``.

    Args:
        x: input. Differentiable.
        sweep: the break frequency of the sections in Hz (strictly between 0 and Nyquist), or
            with ``sweep_unit="coefficient"`` the all-pass coefficient itself (in (-1, 1)):
            a number, ``(batch or 1, 1)``, per sample ``(batch or 1, n_samples)`` or frame rate
            ``(batch or 1, n_frames, 1 or n_stages)`` (upsampled linearly, in Hz for ``"hz"``,
            then converted per sample). Differentiable.
        n_stages: number of first-order all-pass sections (>= 1; 4 by default).
        feedback: ``|feedback| < 1`` (0 by default); a number, ``(batch or 1, 1)``, per sample
            or frame rate ``(batch or 1, n_frames, 1)``. Differentiable.
        mix: wet proportion (0.5 by default: the deepest notches; 0 is dry, 1 only the phase-
            shifted signal, no notches). Not limited to [0, 1]. Same layouts as ``feedback``.
            Differentiable.
        sample_rate: in Hz (used by ``sweep_unit="hz"``).
        zi: cascade state ``(batch, n_stages + 1)`` (see :func:`allpass_cascade`); zeros by
            default. Differentiable.
        sweep_unit: ``"hz"`` or ``"coefficient"``.
        return_state: also return the state after the last sample, to continue in chunks
            (pass it as ``zi`` with the following samples; the result equals one call).
        backend: of :func:`~torchddsp.functional.recurrence.linear_recurrence`.

    Returns:
        ``(batch, n_samples)`` (and the state).

    Raises:
        ValueError: wrong ranks or shapes, non-finite values, a sweep outside (0, Nyquist) Hz
            or a coefficient outside (-1, 1), ``|feedback| >= 1``.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    check_choice("sweep_unit", sweep_unit, SWEEP_UNITS)
    sample_rate = check_positive("sample_rate", sample_rate)
    n_stages = check_positive_int("n_stages", n_stages)
    batch, n_samples = x.shape
    if sweep_unit == "hz":
        break_hz = _control("sweep", sweep, batch, n_samples, x, (1, n_stages))
        if bool(((break_hz <= 0) | (break_hz >= sample_rate / 2)).any()):
            raise InputError(f"sweep must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz) with sweep_unit='hz'")
        coefficient = allpass_coefficient(break_hz, sample_rate)
    else:
        coefficient = _control("sweep", sweep, batch, n_samples, x, (1, n_stages))
    result = allpass_cascade(x, coefficient, n_stages, feedback, zi, return_state=return_state, backend=backend)
    wet, state = result if return_state else (result, None)
    weight = _control("mix", mix, batch, n_samples, x, (1,))[..., 0]
    out = x + weight * (wet - x)
    return (out, state) if return_state else out


def _state_space(a: Tensor, fb: Tensor, n_stages: int) -> tuple[Tensor, Tensor]:
    """Per-sample ``A`` ``(B, T, K+1, K+1)`` and input column ``(B, T, K+1)`` of the cascade.

    Every quantity of one sample is a linear form in ``e = [s_1 .. s_K, y_K]`` (the previous
    state) and the input ``x[n]``, held as a row of ``K + 2`` weights (the last one for
    ``x[n]``). Going through the stages in order builds the rows of the new state; ``B`` and
    ``T`` are those of the (broadcast) coefficients, 1 when they are fixed.
    """
    size = n_stages + 1
    basis = torch.eye(size + 1, dtype=a.dtype, device=a.device)  # rows: s_1..s_K, y_K, x
    shape = torch.broadcast_shapes(a.shape[:2], fb.shape)
    stage_input = basis[size] + fb.expand(shape).unsqueeze(-1) * basis[n_stages]  # v = x + fb y_K[n-1]
    rows = []
    for k in range(n_stages):
        ak = a[..., k : k + 1].expand(*shape, 1)
        output = ak * stage_input + basis[k]  # y_k = a v + s_k[n-1]
        rows.append(stage_input - ak * output)  # s_k[n] = v - a y_k
        stage_input = output
    rows.append(stage_input)  # y_K[n], delayed by the state for the feedback
    matrix = torch.stack(rows, dim=-2)  # (B, T, K+1, K+2)
    return matrix[..., :size], matrix[..., size]


def _control(name: str, value: Tensor | float, batch: int, n_samples: int, like: Tensor,
             channels: tuple[int, ...]) -> Tensor:
    """A control as ``(batch or 1, n_samples or 1, channels)``: a number or ``(batch or 1, 1)``
    (fixed), ``(batch or 1, n_samples)`` (per sample), or ``(batch or 1, n_frames, c)`` with
    ``c`` in ``channels`` (frame rate, upsampled linearly to ``n_samples``)."""
    value = as_tensor_like(name, value, like)
    check_finite(name, value)
    if value.dim() == 0:
        value = value.reshape(1, 1, 1)
    elif value.dim() == 2:
        if value.shape[0] not in (1, batch) or value.shape[1] not in (1, n_samples):
            raise InputError(f"{name} must broadcast to ({batch}, {n_samples}) (that of x), found {tuple(value.shape)}")
        value = value.unsqueeze(-1)
    elif value.dim() == 3:
        if value.shape[0] not in (1, batch) or value.shape[2] not in channels:
            layout = " or ".join(map(str, channels))
            raise InputError(f"{name} at frame rate must have shape ({batch} or 1, n_frames, {layout}), "
                             f"found {tuple(value.shape)}")
        if value.shape[1] not in (1, n_samples):  # one frame is fixed; n_samples frames, per sample
            value = upsample(value, n_samples, "linear")
    else:
        raise InputError(f"{name} must be a number, (batch, 1), (batch, n_samples) or (batch, n_frames, channels), "
                         f"found shape {tuple(value.shape)}")
    return value
