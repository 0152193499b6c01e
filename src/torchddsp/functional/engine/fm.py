"""The FM feedback operator's compiled CPU pass (numba), forward and adjoint.

``y[n] = a[n] sin(psi[n] + beta[n] y[n-1])`` with ``y[-1] = y0`` is a true per-sample
recursion (the DX7's feedback loop). The readable PyTorch path, a loop over samples that
autograd differentiates, is ``functional.fm._feedback_torch``; ``tests/functional/test_fm.py``
holds the two equal in values and gradients. Here one compiled pass per batch item runs the
recursion in float64, except that ``y[n-1]`` is read back as stored in the output's dtype (as
the PyTorch path and a stream of blocks see it), and the backward pass runs its exact adjoint
from the last sample back: with ``phi[n] = psi[n] + beta[n] y[n-1]`` and
``G[n] = g[n] + beta[n+1] dL/dphi[n+1]`` (the output's own gradient plus what it feeds into
the next sample),

    dL/dphi[n] = G[n] a[n] cos(phi[n]),  dL/da[n] = G[n] sin(phi[n]),
    dL/dbeta[n] = dL/dphi[n] y[n-1],     dL/dy0 = beta[0] dL/dphi[0].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import compile_kernel

__all__ = ["feedback_oscillator"]


def _forward(first, stop, psi, amplitude, beta, y0, out):  # pragma: no cover - compiled
    for b in range(first, stop):
        previous = y0[b]
        for n in range(psi.shape[1]):
            out[b, n] = amplitude[b, n] * math.sin(psi[b, n] + beta[b, n] * previous)
            previous = out[b, n]  # as stored, in the output's dtype: what the next block gets as y0


def _backward(
    first, stop, grad, psi, amplitude, beta, y0, out, grad_psi, grad_amplitude, grad_beta, grad_y0
):  # pragma: no cover - compiled
    for b in range(first, stop):
        carry = 0.0  # beta[n+1] dL/dphi[n+1]: what y[n] feeds into the next sample
        for n in range(psi.shape[1] - 1, -1, -1):
            before = out[b, n - 1] if n > 0 else y0[b]
            phase = psi[b, n] + beta[b, n] * before
            total = grad[b, n] + carry
            grad_amplitude[b, n] = total * math.sin(phase)
            d_phase = total * amplitude[b, n] * math.cos(phase)
            grad_psi[b, n] = d_phase
            grad_beta[b, n] = d_phase * before
            carry = d_phase * beta[b, n]
        grad_y0[b] = carry


# Batch items are independent: each call is shared out in chunks of items (see engine).
_FORWARD = compile_kernel(_forward, error_model="numpy")
_BACKWARD = compile_kernel(_backward, error_model="numpy")


def _float64(tensor: Tensor) -> Tensor:
    return tensor.detach().to(torch.float64).contiguous()


class _FeedbackOscillator(torch.autograd.Function):
    @staticmethod
    def forward(ctx, psi: Tensor, amplitude: Tensor, beta: Tensor, y0: Tensor) -> Tensor:
        inputs = [_float64(t) for t in (psi, amplitude, beta, y0)]
        # Written in psi's dtype, which the recursion then reads back: the memory is the output
        # as returned, so blocks (each given the last returned output) equal one call exactly.
        out = torch.empty(inputs[0].shape, dtype=psi.dtype)
        _FORWARD(out.numel(), out.shape[0], *(t.numpy() for t in inputs), out.numpy())
        ctx.save_for_backward(*inputs, out.to(torch.float64))
        ctx.dtypes = tuple(t.dtype for t in (psi, amplitude, beta, y0))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        saved = ctx.saved_tensors
        grads = [torch.empty_like(t) for t in saved[:4]]
        _BACKWARD(
            grad.numel(),
            grad.shape[0],
            _float64(grad).numpy(),
            *(t.numpy() for t in saved),
            *(g.numpy() for g in grads),
        )
        return tuple(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes))


def feedback_oscillator(psi: Tensor, amplitude: Tensor, beta: Tensor, y0: Tensor) -> Tensor:
    """``y[n] = amplitude[n] sin(psi[n] + beta[n] y[n-1])``, ``y[-1] = y0``, in one compiled pass.

    Shapes: ``psi``, ``amplitude``, ``beta`` ``(batch, n_samples)`` (expanded views are fine),
    ``y0`` ``(batch,)``; CPU tensors. Computed in float64, each output stored in ``psi``'s dtype
    and remembered as stored.
    Differentiable in all four (first derivatives: the adjoint is compiled).
    """
    return _FeedbackOscillator.apply(psi, amplitude, beta, y0)
