"""Shifted or stretched partials (``functional.partials``) on CPU in one compiled pass (numba).

The readable path is the oscillator bank of ``functional.oscillators`` (``backend="torch"``):
audio-rate frequency and amplitude envelopes ``(batch, n_samples, n_harmonics)``, a float64
running sum and a sine per partial and sample, each a pass over memory.
``tests/functional/test_partials.py`` holds the two equal in values and gradients.

Per frame interval ``m`` (``hop`` samples) and partial ``k`` the inputs are the partial's phase
before the interval ``start`` (float64 cycles), its frequency at the interval's start ``f_a``
and its change across it ``slope`` (float64 Hz, linear inside), and its amplitude at the
interval's start and end frames ``c_start``, ``c_end`` (blended by ``weights[r]``, the earlier
frame's weight at sample ``r``). The phase of sample ``r`` is ``theta_r = 2 pi (start + (r + 1)
f_a / sr + r (r + 1) / (2 hop sr) slope)`` (the running sum of a linear frequency), its sine
from one float64 complex rotation per sample; the partial is silent where ``|f_a + slope r /
hop| >= sr / 2``.

Backward: ``d/d c_start = sum_r g w_r mask sin(theta_r)``, ``d/d c_end = sum_r g (1 - w_r)
mask sin(theta_r)``, and with ``g_theta = g a_r mask cos(theta_r)``, ``d/d start = 2 pi sum_r
g_theta``, ``d/d f_a = 2 pi sum_r g_theta (r + 1) / sr``, ``d/d slope = 2 pi sum_r g_theta r (r
+ 1) / (2 hop sr)``: no per-sample tensor exists in either direction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import compile_kernel
from .shared import inline

__all__ = ["fused_partials"]

TWO_PI = 2.0 * math.pi


@inline
def _start_rotations(m, inputs, sample_rate, hop, z, w, u, e, blend):  # pragma: no cover - compiled
    """Fill, per partial of interval ``m``, ``z = e^{i theta_0}``, ``w = e^{i omega}``, ``u = e =
    e^{i step}`` (real parts in row 0, imaginary in row 1) and ``blend = (end, start - end)``."""
    start, f_a, slope, c_start, c_end, _ = inputs
    for k in range(start.shape[1]):
        omega = TWO_PI * f_a[m, k] / sample_rate
        step = TWO_PI * slope[m, k] / (hop * sample_rate)
        theta = TWO_PI * start[m, k] + omega
        z[0, k], z[1, k] = math.cos(theta), math.sin(theta)
        w[0, k], w[1, k] = math.cos(omega), math.sin(omega)
        e[0, k], e[1, k] = math.cos(step), math.sin(step)
        u[0, k], u[1, k] = e[0, k], e[1, k]
        blend[0, k] = c_end[m, k]
        blend[1, k] = c_start[m, k] - blend[0, k]


@inline
def _rotate(k, z, w, u, e):  # pragma: no cover - compiled
    """Advance partial ``k`` one sample: ``z *= w u``, ``u *= e`` (the phase step grows by ``step``)."""
    t_re = w[0, k] * u[0, k] - w[1, k] * u[1, k]
    t_im = w[0, k] * u[1, k] + w[1, k] * u[0, k]
    z_re = z[0, k] * t_re - z[1, k] * t_im
    z[1, k] = z[0, k] * t_im + z[1, k] * t_re
    z[0, k] = z_re
    u_re = u[0, k] * e[0, k] - u[1, k] * e[1, k]
    u[1, k] = u[0, k] * e[1, k] + u[1, k] * e[0, k]
    u[0, k] = u_re


def _forward(first_column, stop_column, inputs, settings, out):  # pragma: no cover - compiled
    """Render intervals ``first_column .. stop_column - 1`` into ``out``: ``inputs`` = ``(start,
    f_a, slope, c_start, c_end, weights)`` (``(M, K)`` each but ``weights``), ``settings`` =
    ``(hop, sample_rate)``. The partials are the inner loop (independent: it vectorises)."""
    f_a, slope, weights = inputs[1], inputs[2], inputs[5]
    hop, sample_rate = settings
    n_partials = f_a.shape[1]
    nyquist = 0.5 * sample_rate
    z, w, u = np.empty((2, n_partials)), np.empty((2, n_partials)), np.empty((2, n_partials))
    e, blend = np.empty((2, n_partials)), np.empty((2, n_partials))
    for m in range(first_column, stop_column):
        _start_rotations(m, inputs, sample_rate, hop, z, w, u, e, blend)
        base = np.uint64(m) * np.uint64(hop)
        for r in range(hop):
            position = r / hop
            weight = float(weights[r])
            total = 0.0
            for k in range(n_partials):
                audible = abs(f_a[m, k] + slope[m, k] * position) < nyquist
                total += (blend[0, k] + weight * blend[1, k]) * z[1, k] if audible else 0.0
                _rotate(k, z, w, u, e)
            out[base + np.uint64(r)] = total


def _backward(first_column, stop_column, grad, inputs, settings, grads):  # pragma: no cover - compiled
    """Per interval ``m`` and partial ``k`` the gradients ``grads`` = ``(grad_start, grad_f_a,
    grad_slope, grad_c_start, grad_c_end)`` (module docstring); ``inputs`` and ``settings`` as
    :func:`_forward` takes them."""
    f_a, slope, weights = inputs[1], inputs[2], inputs[5]
    hop, sample_rate = settings
    grad_start, grad_f_a, grad_slope, grad_c_start, grad_c_end = grads
    n_partials = f_a.shape[1]
    nyquist = 0.5 * sample_rate
    z, w, u = np.empty((2, n_partials)), np.empty((2, n_partials)), np.empty((2, n_partials))
    e, blend = np.empty((2, n_partials)), np.empty((2, n_partials))
    sums = np.empty((5, n_partials))  # sum g sin, sum g w sin, sum g_theta, ... (r + 1), ... r (r + 1)
    for m in range(first_column, stop_column):
        _start_rotations(m, inputs, sample_rate, hop, z, w, u, e, blend)
        sums[:] = 0.0
        base = np.uint64(m) * np.uint64(hop)
        for r in range(hop):
            position = r / hop
            weight = float(weights[r])
            g = float(grad[base + np.uint64(r)])
            for k in range(n_partials):
                audible = abs(f_a[m, k] + slope[m, k] * position) < nyquist
                gz = g if audible else 0.0
                g_sin = gz * z[1, k]
                sums[0, k] += g_sin
                sums[1, k] += weight * g_sin
                g_cos = gz * (blend[0, k] + weight * blend[1, k]) * z[0, k]
                sums[2, k] += g_cos
                sums[3, k] += g_cos * (r + 1)
                sums[4, k] += g_cos * (r * (r + 1))
                _rotate(k, z, w, u, e)
        for k in range(n_partials):
            grad_c_start[m, k] = sums[1, k]
            grad_c_end[m, k] = sums[0, k] - sums[1, k]
            grad_start[m, k] = TWO_PI * sums[2, k]
            grad_f_a[m, k] = TWO_PI * sums[3, k] / sample_rate
            grad_slope[m, k] = TWO_PI * sums[4, k] / (2.0 * hop * sample_rate)


_FORWARD = compile_kernel(_forward, fastmath={"reassoc"}, error_model="numpy")
_BACKWARD = compile_kernel(_backward, error_model="numpy")


class _FusedPartials(torch.autograd.Function):
    @staticmethod
    def forward(ctx, start, f_a, slope, c_start, c_end, weights, settings):
        hop, sample_rate = settings
        wrapped = (start - torch.floor(start)).detach().contiguous()
        tensors = (wrapped, *(t.detach().contiguous() for t in (f_a, slope, c_start, c_end, weights)))
        out = torch.empty(start.shape[0] * hop, dtype=weights.dtype)
        arrays = tuple(t.numpy() for t in tensors)
        _FORWARD(out.numel() * start.shape[1], start.shape[0], arrays, (hop, float(sample_rate)), out.numpy())
        ctx.save_for_backward(*tensors)
        ctx.settings = settings
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        tensors = ctx.saved_tensors
        hop, sample_rate = ctx.settings
        grad = grad.detach().to(tensors[-1].dtype).contiguous()
        grads = tuple(torch.zeros_like(t) for t in tensors[:5])
        arrays = tuple(t.numpy() for t in tensors)
        n_columns, n_partials = tensors[0].shape
        _BACKWARD(
            grad.numel() * n_partials,
            n_columns,
            grad.numpy(),
            arrays,
            (hop, float(sample_rate)),
            tuple(g.numpy() for g in grads),
        )
        return (*grads, None, None)


def fused_partials(
    phase: tuple[Tensor, Tensor, Tensor],
    amplitude: tuple[Tensor, Tensor],
    weights: Tensor,
    hop: int,
    sample_rate: float,
) -> Tensor:
    """Sum of partials over frame intervals in one compiled pass: ``(M * hop,)`` in ``weights``'
    dtype, interval after interval.

    Shapes: ``phase = (start, f_a, slope)`` float64 ``(M, K)`` (cycles before each interval, Hz
    at its start, Hz of change across it); ``amplitude = (c_start, c_end)`` ``(M, K)`` in the
    working dtype; ``weights`` ``(hop,)``. Differentiable in all five; CPU only.
    """
    return _FusedPartials.apply(*phase, *amplitude, weights, (hop, float(sample_rate)))
