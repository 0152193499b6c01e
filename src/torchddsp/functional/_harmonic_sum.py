"""The fast kernel behind ``harmonic_synthesis``: a sum of K harmonics without K sines per sample.

All harmonics of one sample share the fundamental's phase ``theta``: harmonic ``k`` is
``sin(k theta)``. Clenshaw's recurrence evaluates ``sum_k c_k sin(k theta)`` from
``cos(theta)`` and ``sin(theta)`` alone, with two fused passes over memory per harmonic,
and never materialises a ``(batch, n_samples, n_harmonics)`` tensor.

Layout: samples are arranged as ``(hop, batch * n_intervals)``: a sample's position inside
its hop indexes rows, its frame interval indexes columns. The per-sample amplitude of
harmonic ``k`` is ``end_k + w[row] * delta_k`` with ``delta_k = start_k - end_k`` (the
upsampling blend of ``resampling``); the recurrence adds it with two broadcasting in-place
ops, so a per-sample amplitude tensor never exists. (All ops are elementwise with the same
partition over the two cores: a matrix product here would move the rows between caches.)

Gradients come from a custom autograd Function, so the backward pass is as lean as the
forward:
- w.r.t. the coefficients: ``[1, w].T @ (g * sin(k theta))`` per harmonic, where
  ``g * sin(k theta)`` itself follows the Chebyshev recurrence (it is linear), so ``g`` is
  multiplied in once;
- w.r.t. the phase: ``g * sum_k k c_k cos(k theta)``, a second Clenshaw pass.

Harmonics at or above Nyquist are silenced per sample by a 0/1 mask that is only computed
for the "transition" harmonics (``k_lo < k <= k_hi``) whose audibility changes within the
signal; ``mask_k = clamp(headroom - k, 0, 1)`` with ``headroom = 1 + number of audible
harmonics`` (integer valued), which is cheaper than boolean comparisons.

Sign trick: the recurrences ``b_k = a_k + 2 cos(theta) b_{k+1} - b_{k+2}`` run on
``beta_k = eps_k b_k`` with ``eps = (+1, +1, -1, -1, +1, ...)``, so that the subtraction becomes
an in-place ``addcmul_`` with a +-1 scale (one pass over memory instead of two).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["harmonic_sum"]


def _eps(k: int) -> float:
    """+1 when k // 2 is even, else -1; eps_k * eps_{k+2} = -1 for every k."""
    return 1.0 if (k // 2) % 2 == 0 else -1.0


def _signs(n_harmonics: int, like: Tensor, scale_by_k: bool = False) -> Tensor:
    values = [(k if scale_by_k else 1) * _eps(k) for k in range(1, n_harmonics + 1)]
    return torch.tensor(values, dtype=like.dtype, device=like.device)[:, None]


def _clenshaw(
    cos2: Tensor, end: Tensor, delta: Tensor, weights: Tensor, headroom: Tensor | None, k_lo: int, k_hi: int
) -> tuple[Tensor, Tensor]:
    """Run the signed recurrence for k = k_hi .. 1 and return ``(beta_1, beta_2)``.

    ``end``, ``delta``: ``(K, M)`` coefficient rows already multiplied by eps_k. Then
    ``sum_k c_k sin(k theta) = beta_1 sin(theta)`` and
    ``sum_k c_k cos(k theta) = beta_1 cos(theta) + beta_2``.
    """
    current = torch.zeros_like(cos2)  # beta_{k+1}
    previous = torch.zeros_like(cos2)  # beta_{k+2}, becomes beta_k
    if k_hi > k_lo:
        amplitude = torch.empty_like(cos2)
        mask = torch.empty_like(cos2)
    for k in range(k_hi, 0, -1):
        if k > k_lo:  # a transition harmonic: audible at some samples only
            torch.addcmul(end[k - 1], weights, delta[k - 1], out=amplitude)
            torch.sub(headroom, k, out=mask).clamp_(0.0, 1.0)  # type: ignore[arg-type]
            previous.addcmul_(amplitude, mask)
        else:
            previous.add_(end[k - 1])
            previous.addcmul_(weights, delta[k - 1])
        previous.addcmul_(cos2, current, value=_eps(k) * _eps(k + 1))
        current, previous = previous, current
    return current, previous


class _HarmonicSum(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        turns: Tensor,
        end: Tensor,
        delta: Tensor,
        weights: Tensor,
        headroom: Tensor | None,
        k_lo: int,
        k_hi: int,
    ) -> Tensor:
        angle = (2.0 * math.pi) * turns
        signs = _signs(end.shape[0], end)
        beta_1, _ = _clenshaw(2.0 * torch.cos(angle), end * signs, delta * signs, weights, headroom, k_lo, k_hi)
        ctx.save_for_backward(turns, end, delta, weights, headroom)
        ctx.k_range = (k_lo, k_hi)
        return beta_1.mul_(torch.sin(angle))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        turns, end, delta, weights, headroom = ctx.saved_tensors
        k_lo, k_hi = ctx.k_range
        dtype = end.dtype
        grad = grad.contiguous().to(dtype)
        angle = (2.0 * math.pi) * turns
        cos = torch.cos(angle)
        cos2 = 2.0 * cos
        grad_turns = grad_end = grad_delta = None

        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # d y / d (end_k, delta_k) = [1, w].T @ (g * mask_k * sin(k theta)).
            projections = torch.zeros(end.shape[0], 2, end.shape[1], dtype=dtype, device=end.device)
            blend_t = torch.cat([torch.ones_like(weights), weights], dim=1).T.contiguous()
            current = grad * torch.sin(angle)  # eps_k g sin(k theta), from k = 1
            previous = torch.zeros_like(current)  # k = 0
            if k_hi > k_lo:
                masked = torch.empty_like(current)
                mask = torch.empty_like(current)
            for k in range(1, k_hi + 1):
                source = current
                if k > k_lo:
                    torch.sub(headroom, k, out=mask).clamp_(0.0, 1.0)
                    source = torch.mul(current, mask, out=masked)
                torch.mm(blend_t, source, out=projections[k - 1])
                if _eps(k) < 0:
                    projections[k - 1].neg_()
                if k < k_hi:
                    previous.addcmul_(cos2, current, value=_eps(k + 1) * _eps(k))
                    current, previous = previous, current
            grad_end, grad_delta = projections[:, 0], projections[:, 1]

        if ctx.needs_input_grad[0]:
            # d y / d theta = sum_k k c_k cos(k theta): Clenshaw on the cosine series.
            scale = _signs(end.shape[0], end, scale_by_k=True)
            beta_1, beta_2 = _clenshaw(cos2, end * scale, delta * scale, weights, headroom, k_lo, k_hi)
            derivative = beta_1.mul_(cos).add_(beta_2).mul_(grad)
            grad_turns = derivative.mul_(2.0 * math.pi)
        return grad_turns, grad_end, grad_delta, None, None, None, None


def harmonic_sum(
    turns: Tensor,
    end: Tensor,
    delta: Tensor,
    weights: Tensor,
    headroom: Tensor | None,
    k_lo: int,
    k_hi: int,
) -> Tensor:
    """``y[r, m] = sum_{k=1..k_hi} mask_k[r, m] (end[k-1, m] + weights[r] delta[k-1, m]) sin(2 pi k turns[r, m])``.

    Shapes: ``turns`` ``(rows, M)`` fundamental phase in cycles, in ``end``'s dtype (keep it
    small: the caller wraps whole cycles away in float64); ``end``, ``delta``
    ``(n_harmonics, M)`` contiguous; ``weights`` ``(rows, 1)``; ``headroom`` ``(rows, M)`` one
    plus the number of harmonics below Nyquist at each sample (read only for
    ``k_lo < k <= k_hi``; harmonics above ``k_hi`` are silent everywhere, those up to ``k_lo``
    audible everywhere). Output ``(rows, M)`` in ``end``'s dtype. Differentiable in ``turns``,
    ``end`` and ``delta``.
    """
    return _HarmonicSum.apply(turns, end, delta, weights, headroom, k_lo, k_hi)
