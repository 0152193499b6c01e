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

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .controls import ControlLike
from .controls import control_values
from .layout import flatten_audio
from .layout import flatten_state
from .layout import restore_audio
from .recurrence import linear_recurrence

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
    if data_checks_enabled() and bool(((break_hz <= 0) | (break_hz >= sample_rate / 2)).any()):
        raise InputError(f"break_hz must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz)")
    t = torch.tan(math.pi / sample_rate * break_hz)
    return (t - 1.0) / (t + 1.0)


@half_in_float32
def allpass_cascade(
    x: Tensor,
    coefficient: ControlLike,
    n_stages: int = 4,
    feedback: ControlLike = 0.0,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """The all-pass cascade with feedback: ``y_K`` of the module docstring (the wet signal).

    Controls take every rate of :mod:`~torchddsp.functional.controls` (its table): a number,
    ``(batch, 1)`` per item, ``(batch or 1, n_samples)`` per sample, ``(batch or 1, n_frames,
    channels)`` frame rate (upsampled linearly), or a ``Control``.

    Shape:
        ``x`` ``(..., n_samples)`` -> ``(..., n_samples)``; state ``(..., n_stages + 1)``.

    Args:
        x: input (leading dimensions flattened into ``batch``). Differentiable.
        coefficient: all-pass coefficients ``a``, each in (-1, 1); 1 or ``n_stages`` channels
            (one for all stages, or each stage its own). Differentiable.
        n_stages: number of first-order sections (>= 1; phasers use 2 to 12, even).
        feedback: gain from the cascade output back to its input, one sample later;
            ``|feedback| < 1``; one channel. Differentiable.
        state: ``(..., n_stages + 1)``: the stage memories ``s_1 .. s_K`` then the last
            output ``y_K[n-1]``; zeros (at rest) by default. Differentiable.
        return_state: also return the state after the last sample; passed as ``state`` with
            the following samples, the result equals one call.
        backend: of :func:`~torchddsp.functional.recurrence.linear_recurrence`.

    Returns:
        ``y_K`` ``(..., n_samples)`` (and the state).

    Example:
        >>> y, state = allpass_cascade(torch.randn(2, 3, 64), 0.5, n_stages=4, return_state=True)
        >>> tuple(y.shape), tuple(state.shape)
        ((2, 3, 64), (2, 3, 5))
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    n_stages = check_positive_int("n_stages", n_stages)
    a = control_values("coefficient", coefficient, flat, flat.shape[1], (1, n_stages))
    if state is not None:
        state = check_finite("state", flatten_state("state", state, leading, (n_stages + 1,)))
    wet, state = _cascade(flat, a, n_stages, feedback, state, backend)
    wet = restore_audio(wet, leading)
    return (wet, restore_audio(state, leading)) if return_state else wet


def _cascade(
    x: Tensor, a: Tensor, n_stages: int, feedback: ControlLike, state: Tensor | None, backend: str
) -> tuple[Tensor, Tensor]:
    """``y_K`` ``(batch, n)`` and the last state of the cascade for checked ``x`` ``(batch, n)``,
    coefficients ``a`` ``(batch or 1, n or 1, 1 or n_stages)`` and ``state`` ``(batch, n_stages + 1)``."""
    batch, n_samples = x.shape
    if data_checks_enabled() and bool((a.abs() >= 1).any()):
        raise InputError("coefficient must lie strictly between -1 and 1 (a stable all-pass section)")
    fb = control_values("feedback", feedback, x, n_samples)[..., 0]
    if data_checks_enabled() and bool((fb.abs() >= 1).any()):
        raise InputError("feedback must satisfy |feedback| < 1 (the loop is unstable otherwise)")
    size = n_stages + 1
    if state is not None:
        state = state.to(dtype=x.dtype, device=x.device)
    A, drive = _state_space(a.expand(-1, -1, n_stages), fb, n_stages)
    if A.shape[1] == 1:
        A = A[:, 0]  # fixed coefficients: one matrix for every sample, never copied
    u = x.unsqueeze(-1) * drive.expand(batch, n_samples, size)
    states, last = linear_recurrence(u, A, state=state, return_state=True, backend=backend)
    return states[..., n_stages], last


@half_in_float32
def phaser(
    x: Tensor,
    sweep: ControlLike,
    n_stages: int = 4,
    feedback: ControlLike = 0.0,
    mix: ControlLike = 0.5,
    sample_rate: float = 16000.0,
    *,
    state: Tensor | None = None,
    sweep_unit: str = "hz",
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Phaser: ``(1 - mix) x + mix * allpass_cascade(x, a(sweep), n_stages, feedback)``.

    Controls take the rates that :func:`allpass_cascade` documents.

    Shape:
        as :func:`allpass_cascade`: ``x`` ``(..., n_samples)`` -> ``(..., n_samples)``.

    Args:
        x: input (leading dimensions flattened into ``batch``). Differentiable.
        sweep: the break frequency of the sections in Hz (strictly between 0 and Nyquist), or
            with ``sweep_unit="coefficient"`` the all-pass coefficient itself (in (-1, 1)); 1
            or ``n_stages`` channels (frame-rate values are upsampled in Hz for ``"hz"``, then
            converted per sample). Differentiable.
        n_stages: number of first-order all-pass sections (>= 1; 4 by default).
        feedback: ``|feedback| < 1`` (0 by default); one channel. Differentiable.
        mix: wet proportion (0.5 by default: the deepest notches; 0 is dry, 1 only the phase-
            shifted signal, no notches). Not limited to [0, 1]; one channel. Differentiable.
        sample_rate: in Hz (used by ``sweep_unit="hz"``).
        state: the cascade's state ``(..., n_stages + 1)`` (see :func:`allpass_cascade`); zeros
            (at rest) by default. Differentiable.
        sweep_unit: ``"hz"`` or ``"coefficient"``.
        return_state: also return the state after the last sample, to continue in chunks
            (pass it as ``state`` with the following samples; the result equals one call).
        backend: of :func:`~torchddsp.functional.recurrence.linear_recurrence`.

    Returns:
        ``(..., n_samples)`` (and the state).

    Raises:
        InputError: wrong shapes; and while data checks run, non-finite values, a sweep
            outside (0, Nyquist) Hz or a coefficient outside (-1, 1), ``|feedback| >= 1``.

    Example:
        >>> tuple(phaser(torch.randn(3, 160), 1000.0).shape)
        (3, 160)
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    check_choice("sweep_unit", sweep_unit, SWEEP_UNITS)
    sample_rate = check_positive("sample_rate", sample_rate)
    n_stages = check_positive_int("n_stages", n_stages)
    n_samples = flat.shape[1]
    coefficient = control_values("sweep", sweep, flat, n_samples, (1, n_stages))
    if sweep_unit == "hz":
        if data_checks_enabled() and bool(((coefficient <= 0) | (coefficient >= sample_rate / 2)).any()):
            raise InputError(
                f"sweep must lie strictly between 0 and Nyquist ({sample_rate / 2} Hz) with sweep_unit='hz'"
            )
        coefficient = allpass_coefficient(coefficient, sample_rate)
    if state is not None:
        state = check_finite("state", flatten_state("state", state, leading, (n_stages + 1,)))
    wet, state = _cascade(flat, coefficient, n_stages, feedback, state, backend)
    weight = control_values("mix", mix, flat, n_samples)[..., 0]
    out = restore_audio(flat + weight * (wet - flat), leading)
    return (out, restore_audio(state, leading)) if return_state else out


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
