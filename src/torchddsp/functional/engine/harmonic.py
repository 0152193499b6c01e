"""Harmonic synthesis on CPU in one compiled pass (numba), forward and backward.

The readable PyTorch path is ``functional._harmonic_sum`` (with the phase and Nyquist planning
of ``functional.oscillators``); ``tests/functional/test_oscillators.py`` holds the two equal in
values and gradients. The PyTorch engine builds the per-sample phase, its sine and cosine and
the Nyquist limits as whole-signal tensors, then runs each step of the recurrence over the
harmonics as elementwise ops: dozens of passes over memory and as many parallel regions per
call, and each region is a barrier where a busy machine makes the call wait (see
``engine``). Here one kernel call does all of it per frame interval, with the interval's
samples in cache; intervals are independent, so a call is shared out in chunks of intervals
(``engine.Kernel``).

Per interval ``m`` (``M = batch * intervals`` of them, ``hop`` samples each) the inputs are
the phase before it ``start`` (float64 cycles, wrapped), its f0 at the start ``f_a`` and the
f0 change across it ``slope`` (float64 Hz; f0 is linear inside), and per harmonic ``k`` the
amplitude ``e_k + weights[r] (s_k - e_k)`` at sample ``r``, where ``s_k`` and ``e_k`` are the
frame-rate amplitude times distribution at the interval's start and end frame (read straight
from the controls, so no per-interval tensor is built). The phase of sample
``r`` is ``theta_r = 2 pi (start + (r + 1) f_a / sr + r (r + 1) / (2 hop sr) slope)`` (the
running sum of a linear f0, DDSP's convention); its cosine and sine come from one float64
rotation per sample (``e^{i theta_{r+1}} = e^{i theta_r} e^{i omega} e^{i (r+1) delta}``), not
from a sine per sample. Harmonic ``k`` sounds where ``k |f_r| < sr / 2``.

- forward: Clenshaw's recurrence ``b_k = a_k + 2 cos(theta) b_{k+1} - b_{k+2}`` from
  ``k_max`` down to 1, then ``sum_k a_k sin(k theta) = b_1 sin(theta)``;
- backward: ``g sin(k theta)`` and ``cos(k theta)`` by the Chebyshev recurrence upwards,
  accumulating ``d/d end_k``, ``d/d delta_k`` and, when f0 or the initial phase need it,
  ``d/d theta = g sum_k k a_k cos(k theta)`` reduced straight to ``d/d start``, ``d/d f_a``
  and ``d/d slope`` (the phase is linear in them), so no per-sample gradient tensor exists.

The recurrences run in the working dtype (float32 or float64), the phase in float64.
Indices into the big arrays are unsigned on purpose: numba checks signed indices for
wrap-around, which keeps LLVM from vectorising the loops (measured 8x slower).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import compile_function
from . import compile_kernel
from .shared import inline

__all__ = ["fused_harmonic_synthesis"]

TWO_PI = 2.0 * math.pi


@inline
def _phase_rows(start, f_a, slope, hop, sample_rate, nyquist, dtype, c2, s, c, limit):  # pragma: no cover - compiled
    """Fill ``c2 = 2 cos(theta_r)``, ``s = sin(theta_r)``, ``c = cos(theta_r)`` and ``limit =
    nyquist / |f_r|`` (inf at 0 Hz) for the ``hop`` samples of one interval."""
    omega = TWO_PI * f_a / sample_rate
    step = TWO_PI * slope / (hop * sample_rate)
    theta = TWO_PI * start + omega
    z_re, z_im = math.cos(theta), math.sin(theta)
    w_re, w_im = math.cos(omega), math.sin(omega)
    e_re, e_im = math.cos(step), math.sin(step)
    u_re, u_im = e_re, e_im  # e^{i (r + 1) step}
    for r in range(hop):
        c[r] = dtype(z_re)
        s[r] = dtype(z_im)
        c2[r] = dtype(2.0 * z_re)
        frequency = abs(f_a + slope * (r / hop))
        limit[r] = dtype(nyquist / frequency) if frequency > 0.0 else dtype(np.inf)
        t_re = w_re * u_re - w_im * u_im
        t_im = w_re * u_im + w_im * u_re
        z_re, z_im = z_re * t_re - z_im * t_im, z_re * t_im + z_im * t_re
        u_re, u_im = u_re * e_re - u_im * e_im, u_re * e_im + u_im * e_re


@inline
def _frames(m, intervals, n_frames):  # pragma: no cover - compiled
    """Item, start frame and end frame of interval ``m`` (the last frame is held past the end)."""
    item = m // intervals
    first = m - item * intervals
    return item, first, min(first + 1, n_frames - 1)


@inline
def _phase_buffers(hop, weights):  # pragma: no cover - compiled
    """The hop buffers :func:`_phase_rows` fills: ``(c2, s, c, limit)``."""
    return (
        np.empty(hop, weights.dtype),
        np.empty(hop, weights.dtype),
        np.empty(hop, weights.dtype),
        np.empty(hop, weights.dtype),
    )


def _forward(first_column, stop_column, inputs, settings, out):  # pragma: no cover - compiled
    """Render intervals ``first_column .. stop_column - 1`` into ``out``: ``inputs`` =
    ``(start, f_a, slope, amplitudes, distribution, weights)``, ``settings`` = ``(hop,
    sample_rate, k_all, k_max)`` (:func:`fused_harmonic_synthesis`)."""
    start, f_a, slope, amplitudes, distribution, weights = inputs
    hop, sample_rate, k_all, k_max = settings
    intervals, n_frames = start.shape[0] // amplitudes.shape[0], amplitudes.shape[1]
    dtype = weights.dtype.type
    zero = dtype(0)
    nyquist = 0.5 * sample_rate
    c2, s, c, limit = _phase_buffers(hop, weights)
    b1 = np.empty(hop, weights.dtype)  # b_{k+1}
    b2 = np.empty(hop, weights.dtype)  # b_{k+2}
    for m in range(first_column, stop_column):
        item, first, last = _frames(m, intervals, n_frames)
        b1[:] = zero
        b2[:] = zero
        _phase_rows(start[m], f_a[m], slope[m], hop, sample_rate, nyquist, dtype, c2, s, c, limit)
        a_first, a_last = amplitudes[item, first], amplitudes[item, last]
        for i in range(k_max):
            k = k_max - i  # signed: compared with k_all
            e = a_last * distribution[item, last, k - 1]  # amplitude at the interval's end
            d = a_first * distribution[item, first, k - 1] - e
            if k > k_all:  # audible at some samples only
                for r in range(hop):
                    a = e + weights[r] * d
                    a = a if limit[r] > k else zero
                    b0 = a + c2[r] * b1[r] - b2[r]
                    b2[r] = b1[r]
                    b1[r] = b0
            else:
                for r in range(hop):
                    b0 = e + weights[r] * d + c2[r] * b1[r] - b2[r]
                    b2[r] = b1[r]
                    b1[r] = b0
        base = np.uint64(m) * np.uint64(hop)
        for r in range(hop):
            out[base + np.uint64(r)] = b1[r] * s[r]


def _backward(first_column, stop_column, grad, inputs, settings, need_phase, grads):  # pragma: no cover - compiled
    """Per interval ``m``: ``grad_first[m, k]`` / ``grad_last[m, k]``, the gradients w.r.t. harmonic
    ``k``'s amplitude at the interval's start and end frame (summed over frames by the caller),
    and, with ``need_phase``, the gradients w.r.t. ``start``, ``f_a`` and ``slope``: ``grads`` =
    ``(grad_first, grad_last, grad_start, grad_f_a, grad_slope)``; ``inputs`` and ``settings``
    as :func:`_forward` takes them."""
    start, f_a, slope, amplitudes, distribution, weights = inputs
    hop, sample_rate, k_all, k_max = settings
    grad_first, grad_last, grad_start, grad_f_a, grad_slope = grads
    intervals, n_frames = start.shape[0] // amplitudes.shape[0], amplitudes.shape[1]
    dtype = weights.dtype.type
    zero = dtype(0)
    one = dtype(1)
    nyquist = 0.5 * sample_rate
    c2, s, c, limit = _phase_buffers(hop, weights)
    s_now = np.empty(hop, weights.dtype)  # g sin(k theta)
    s_old = np.empty(hop, weights.dtype)
    c_now = np.empty(hop, weights.dtype)  # cos(k theta)
    c_old = np.empty(hop, weights.dtype)
    total = np.empty(hop, weights.dtype)  # sum_k k a_k mask_k cos(k theta)
    for m in range(first_column, stop_column):
        item, first, last = _frames(m, intervals, n_frames)
        _phase_rows(start[m], f_a[m], slope[m], hop, sample_rate, nyquist, dtype, c2, s, c, limit)
        base = np.uint64(m) * np.uint64(hop)
        s_old[:] = zero
        c_old[:] = one
        total[:] = zero
        for r in range(hop):
            s_now[r] = grad[base + np.uint64(r)] * s[r]  # the recurrence is linear: g rides along
            c_now[r] = c[r]
        a_first, a_last = amplitudes[item, first], amplitudes[item, last]
        for k in range(1, k_max + 1):  # signed: compared with k_all
            masked = k > k_all
            sum_all = zero  # sum_r g mask sin(k theta): d/d(amplitude at the end)
            sum_weighted = zero  # the same weighted by w_r: d/d(start - end)
            if need_phase:  # both recurrences in one pass over the hop
                e = a_last * distribution[item, last, k - 1]
                d = a_first * distribution[item, first, k - 1] - e
                scale = dtype(k)
                for r in range(hop):
                    audible = one if (not masked or limit[r] > k) else zero
                    g_sin = audible * s_now[r]
                    sum_all += g_sin
                    sum_weighted += weights[r] * g_sin
                    total[r] += scale * audible * (e + weights[r] * d) * c_now[r]
                    s_next = c2[r] * s_now[r] - s_old[r]
                    s_old[r] = s_now[r]
                    s_now[r] = s_next
                    c_next = c2[r] * c_now[r] - c_old[r]
                    c_old[r] = c_now[r]
                    c_now[r] = c_next
            elif masked:
                for r in range(hop):
                    g_sin = s_now[r] if limit[r] > k else zero
                    sum_all += g_sin
                    sum_weighted += weights[r] * g_sin
                    s_next = c2[r] * s_now[r] - s_old[r]
                    s_old[r] = s_now[r]
                    s_now[r] = s_next
            else:
                for r in range(hop):
                    sum_all += s_now[r]
                    sum_weighted += weights[r] * s_now[r]
                    s_next = c2[r] * s_now[r] - s_old[r]
                    s_old[r] = s_now[r]
                    s_now[r] = s_next
            grad_first[m, k - 1] = sum_weighted
            grad_last[m, k - 1] = sum_all - sum_weighted
        if need_phase:
            # theta_r = 2 pi (start + (r + 1) f_a / sr + r (r + 1) / (2 hop sr) slope)
            g_start = 0.0
            g_f_a = 0.0
            g_slope = 0.0
            for r in range(hop):
                g_theta = TWO_PI * float(grad[base + np.uint64(r)] * total[r])
                g_start += g_theta
                g_f_a += g_theta * (r + 1)
                g_slope += g_theta * (r * (r + 1))
            grad_start[m] = g_start
            grad_f_a[m] = g_f_a / sample_rate
            grad_slope[m] = g_slope / (2.0 * hop * sample_rate)


def _amplitude_gradients(
    grad_first, grad_last, amplitudes, distribution, grad_amplitudes, grad_distribution
):  # pragma: no cover - compiled
    """Frame-rate gradients from the intervals' (one pass, on the calling thread: every frame
    gathers from the interval it starts and the one it ends)."""
    batch, n_frames, n_harmonics = distribution.shape
    intervals = grad_first.shape[0] // batch
    for item in range(batch):
        for frame in range(n_frames):
            total = 0.0
            for k in range(n_harmonics):
                g = 0.0
                if frame < intervals:
                    g += grad_first[item * intervals + frame, k]
                if frame >= 1 and frame - 1 < intervals:
                    g += grad_last[item * intervals + frame - 1, k]
                if frame == n_frames - 1 and intervals == n_frames:  # the held last frame
                    g += grad_last[item * intervals + frame, k]
                grad_distribution[item, frame, k] = g * amplitudes[item, frame]
                total += g * distribution[item, frame, k]
            grad_amplitudes[item, frame] = total


_FORWARD = compile_kernel(_forward, error_model="numpy")
_BACKWARD = compile_kernel(_backward, fastmath={"reassoc"}, error_model="numpy")
_AMPLITUDE_GRADIENTS = compile_function(_amplitude_gradients)


class _FusedHarmonic(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        start: Tensor,
        f_a: Tensor,
        slope: Tensor,
        amplitudes: Tensor,
        distribution: Tensor,
        weights: Tensor,
        settings: tuple,
    ) -> Tensor:
        hop, sample_rate, k_all, k_max = settings
        wrapped = (start - torch.floor(start)).detach().contiguous()
        f_a, slope = f_a.detach().contiguous(), slope.detach().contiguous()
        amplitudes, distribution = amplitudes.detach().contiguous(), distribution.detach().contiguous()
        weights = weights.detach().contiguous()
        out = torch.empty(start.shape[0] * hop, dtype=weights.dtype)
        arrays = tuple(t.numpy() for t in (wrapped, f_a, slope, amplitudes, distribution, weights))
        _FORWARD(out.numel() * k_max, wrapped.shape[0], arrays, (hop, float(sample_rate), k_all, k_max), out.numpy())
        ctx.save_for_backward(wrapped, f_a, slope, amplitudes, distribution, weights)
        ctx.settings = settings
        return out.view(amplitudes.shape[0], -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        wrapped, f_a, slope, amplitudes, distribution, weights = ctx.saved_tensors
        hop, sample_rate, k_all, k_max = ctx.settings
        need_phase = any(ctx.needs_input_grad[:3])
        grad = grad.detach().to(weights.dtype).contiguous().view(-1)
        n_columns, n_harmonics = wrapped.shape[0], distribution.shape[-1]
        grad_first = torch.zeros(n_columns, n_harmonics, dtype=weights.dtype)
        grad_last = torch.zeros_like(grad_first)
        grad_start, grad_f_a, grad_slope = (torch.zeros_like(wrapped) for _ in range(3))
        arrays = tuple(t.numpy() for t in (wrapped, f_a, slope, amplitudes, distribution, weights))
        grads = tuple(t.numpy() for t in (grad_first, grad_last, grad_start, grad_f_a, grad_slope))
        settings = (hop, float(sample_rate), k_all, k_max)
        _BACKWARD(grad.numel() * k_max, n_columns, grad.numpy(), arrays, settings, need_phase, grads)
        grad_amplitudes, grad_distribution = torch.empty_like(amplitudes), torch.empty_like(distribution)
        _AMPLITUDE_GRADIENTS(
            grad_first.numpy(),
            grad_last.numpy(),
            amplitudes.numpy(),
            distribution.numpy(),
            grad_amplitudes.numpy(),
            grad_distribution.numpy(),
        )
        if not need_phase:
            return None, None, None, grad_amplitudes, grad_distribution, None, None
        return grad_start, grad_f_a, grad_slope, grad_amplitudes, grad_distribution, None, None


def fused_harmonic_synthesis(
    phase: tuple[Tensor, Tensor, Tensor],
    amplitudes: Tensor,
    distribution: Tensor,
    weights: Tensor,
    hop: int,
    sample_rate: float,
    k_all: int,
    k_max: int,
) -> Tensor:
    """Harmonic synthesis of frame-rate controls in one compiled pass: ``(batch, intervals * hop)``.

    Shapes: ``phase = (start, f_a, slope)``: ``start`` (phase before each interval, cycles),
    ``f_a`` (f0 at its start, Hz), ``slope`` (f0 change across it, Hz), each ``(batch *
    intervals,)`` float64; ``amplitudes``
    ``(batch, n_frames)`` and ``distribution`` ``(batch, n_frames, n_harmonics)`` in the working
    dtype (interval ``i`` blends frame ``i`` into frame ``i + 1``, the last frame held);
    ``weights`` ``(hop,)`` the earlier frame's weight per sample. Harmonics above ``k_max`` are
    skipped (inaudible everywhere); those up to ``k_all`` are audible everywhere.
    Differentiable in ``start``, ``f_a``, ``slope``, ``amplitudes`` and ``distribution``; CPU only.
    """
    return _FusedHarmonic.apply(*phase, amplitudes, distribution, weights, (hop, float(sample_rate), k_all, k_max))
