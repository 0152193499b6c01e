"""The Karplus-Strong loop (``functional.string``) on CPU, compiled (numba), forward and backward.

The readable path is ``functional.string._StringLoop`` (``backend="torch"``): whole blocks of
``d0`` samples as tensor ops, one Python step per block, which costs a Python step per period
(about 1000 per second of audio at 1 kHz). Here one compiled loop per item runs sample by
sample; items are independent, so a call is shared out by items (``engine.Kernel``).
``tests/functional/test_string.py`` holds the two equal in values and gradients.

Forward, per item over a buffer whose first ``H`` samples are the state:
``y[H + n] = x[n] + g[n] sum_j c_j y[H + n - d0 - j]``. Backward: the adjoint ``l`` of the
buffer, from the last sample down (each sample's adjoint is final once every later sample has
pushed ``c_j g[n] l[H + n]`` back to the samples it read), with ``d/d g[n] = l[H + n] u[n]``
(``u`` the loop's read), ``d/d c_j = sum_n l[H + n] g[n] y[H + n - d0 - j]``, ``d/d x = l[H:]``
and ``d/d state = l[:H]``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import compile_kernel

__all__ = ["fused_string"]


def _forward(first, stop, x, gain, taps, d0, buffer):  # pragma: no cover - compiled
    """Items ``first .. stop - 1``: fill ``buffer[b, H:]`` (``H`` samples of state before)."""
    n_samples = x.shape[1]
    n_history = buffer.shape[1] - n_samples
    n_taps = taps.shape[1]
    for b in range(first, stop):
        for n in range(n_samples):
            read = n_history + n - d0[b]
            loop = 0.0
            for j in range(n_taps):
                loop += taps[b, j] * buffer[b, read - j]
            buffer[b, n_history + n] = x[b, n] + gain[b, n] * loop


def _backward(first, stop, gain, taps, d0, buffer, grads):  # pragma: no cover - compiled
    """Items ``first .. stop - 1``: ``grads = (adjoint, grad_gain, grad_taps)``; ``adjoint``
    ``(batch, H + n_samples)`` arrives holding ``grad`` in its last ``n_samples`` columns."""
    adjoint, grad_gain, grad_taps = grads
    n_samples = gain.shape[1]
    n_history = buffer.shape[1] - n_samples
    n_taps = taps.shape[1]
    for b in range(first, stop):
        for i in range(n_samples):
            n = n_samples - 1 - i
            read = n_history + n - d0[b]
            share = adjoint[b, n_history + n] * gain[b, n]
            loop = 0.0
            for j in range(n_taps):
                past = buffer[b, read - j]
                loop += taps[b, j] * past
                grad_taps[b, j] += share * past
                adjoint[b, read - j] += taps[b, j] * share
            grad_gain[b, n] = adjoint[b, n_history + n] * loop


_FORWARD = compile_kernel(_forward, error_model="numpy")
_BACKWARD = compile_kernel(_backward, error_model="numpy")


class _FusedString(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, gain: Tensor, taps: Tensor, history: Tensor, d0: Tensor) -> Tensor:
        x, gain, taps = (t.detach().contiguous() for t in (x, gain, taps))
        buffer = torch.cat([history.detach(), torch.zeros_like(x)], dim=1).contiguous()
        d0 = d0.contiguous()
        n_taps = taps.shape[1]
        _FORWARD(x.numel() * n_taps, x.shape[0], x.numpy(), gain.numpy(), taps.numpy(), d0.numpy(), buffer.numpy())
        ctx.save_for_backward(gain, taps, buffer, d0)
        return buffer

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        gain, taps, buffer, d0 = ctx.saved_tensors
        adjoint = grad.detach().to(buffer.dtype).contiguous().clone()
        grad_gain, grad_taps = torch.zeros_like(gain), torch.zeros_like(taps)
        arrays = (adjoint.numpy(), grad_gain.numpy(), grad_taps.numpy())
        work = gain.numel() * taps.shape[1]
        _BACKWARD(work, gain.shape[0], gain.numpy(), taps.numpy(), d0.numpy(), buffer.numpy(), arrays)
        n_history = buffer.shape[1] - gain.shape[1]
        return adjoint[:, n_history:], grad_gain, grad_taps, adjoint[:, :n_history], None


def fused_string(x: Tensor, gain: Tensor, taps: Tensor, history: Tensor, d0: Tensor) -> Tensor:
    """The loop's buffer ``(batch, H + n_samples)``: ``history`` ``(batch, H)`` then ``y``.

    Shapes: ``x``, ``gain`` ``(batch, n_samples)``, ``taps`` ``(batch, n_taps)`` and ``history``
    in one dtype, ``d0`` ``(batch,)`` int64 (at least 1; ``H >= d0 + n_taps - 1``).
    Differentiable in ``x``, ``gain``, ``taps`` and ``history``; CPU only.
    """
    return _FusedString.apply(x, gain, taps, history, d0)
