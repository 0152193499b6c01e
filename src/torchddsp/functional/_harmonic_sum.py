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

Harmonics at or above Nyquist are silenced per sample (:class:`NyquistMask`), in one of two
ways, whichever costs less for the signal at hand:

- "global": harmonics ``k_all < k <= k_max`` (audible at some samples only) get a per-sample
  0/1 mask inside the recurrence, ``clamp(limit - k, 0, 1)`` with ``limit = ceil(nyquist / |f0|)``
  at the sample (integer valued; cheaper than boolean comparisons);
- "local": the caller zeroes, per column, the harmonics inaudible in the whole hop, so the
  recurrence runs unmasked, and the few harmonics whose audibility changes *within* a hop
  (one or two for a smooth pitch contour, even when the pitch spans octaves) are subtracted
  again at the samples where they are inaudible, each with one direct sine.

Sign trick: the recurrences ``b_k = a_k + 2 cos(theta) b_{k+1} - b_{k+2}`` run on
``beta_k = eps_k b_k`` with ``eps = (+1, +1, -1, -1, +1, ...)``, so that the subtraction becomes
an in-place ``addcmul_`` with a +-1 scale (one pass over memory instead of two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["harmonic_sum", "NyquistMask"]


@dataclass(frozen=True)
class NyquistMask:
    """Which harmonics are audible where (see the module docstring).

    Attributes:
        k_max: highest harmonic audible at any sample; the recurrence stops there.
        k_all: harmonics ``1..k_all`` are audible at every sample ("global" mode masks the
            harmonics above it per sample).
        limit: ``(rows, M)`` ``ceil(nyquist / |f0|)`` at each sample, at most ``K + 1`` (integer
            valued, in the working dtype; harmonic k is audible where ``limit > k``), or None
            when no sample needs a mask.
        first, last: ``(M,)`` long, "local" mode only: in column ``m`` harmonics below
            ``first[m]`` are audible at every sample and those above ``last[m]`` nowhere (their
            coefficients are zero); ``first[m] .. last[m]`` need per-sample corrections.
        n_local: ``max(last - first + 1)``, the number of correction passes.
    """

    k_max: int
    k_all: int
    limit: Tensor | None = None
    first: Tensor | None = None
    last: Tensor | None = None
    n_local: int = 0

    @property
    def is_local(self) -> bool:
        return self.first is not None


def _eps(k: int) -> float:
    """+1 when k // 2 is even, else -1; eps_k * eps_{k+2} = -1 for every k."""
    return 1.0 if (k // 2) % 2 == 0 else -1.0


def _signs(n_harmonics: int, like: Tensor, scale_by_k: bool = False) -> Tensor:
    values = [(k if scale_by_k else 1) * _eps(k) for k in range(1, n_harmonics + 1)]
    return torch.tensor(values, dtype=like.dtype, device=like.device)[:, None]


def _clenshaw(
    cos2: Tensor, end: Tensor, delta: Tensor, weights: Tensor, limit: Tensor | None, k_lo: int, k_hi: int
) -> tuple[Tensor, Tensor]:
    """Run the signed recurrence for k = k_hi .. 1 and return ``(beta_1, beta_2)``; harmonics
    above ``k_lo`` are masked per sample with ``limit``.

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
            torch.sub(limit, k, out=mask).clamp_(0.0, 1.0)  # type: ignore[arg-type]
            previous.addcmul_(amplitude, mask)
        else:
            previous.add_(end[k - 1])
            previous.addcmul_(weights, delta[k - 1])
        previous.addcmul_(cos2, current, value=_eps(k) * _eps(k + 1))
        current, previous = previous, current
    return current, previous


def _corrections(turns: Tensor, end: Tensor, delta: Tensor, weights: Tensor, mask: NyquistMask):
    """Yield, for each local correction pass, ``(k, valid, inaudible, amplitude, angle)``.

    ``k`` ``(M,)`` long: the corrected harmonic per column; ``valid`` ``(M,)`` 0/1: whether the
    column has one in this pass; ``inaudible`` ``(rows, M)`` 0/1: where it is at or above
    Nyquist; ``amplitude`` ``(rows, M)``: its amplitude there (0 elsewhere); ``angle``
    ``(rows, M)``: ``2 pi k turns``.
    """
    n_harmonics = end.shape[0]
    for t in range(mask.n_local):
        k = mask.first + t  # type: ignore[operator]
        valid = (k <= mask.last).to(end.dtype)
        index = (k - 1).clamp(0, n_harmonics - 1)[None]
        end_k = end.gather(0, index)[0] * valid
        delta_k = delta.gather(0, index)[0] * valid
        k_float = k.to(end.dtype)
        inaudible = torch.sub(k_float + 1.0, mask.limit).clamp_(0.0, 1.0)  # 1 where limit <= k
        amplitude = torch.addcmul(end_k, weights, delta_k).mul_(inaudible)
        angle = turns * (2.0 * math.pi * k_float)
        yield k, valid, inaudible, amplitude, angle


class _HarmonicSum(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, turns: Tensor, end: Tensor, delta: Tensor, weights: Tensor, mask: NyquistMask
    ) -> Tensor:
        angle = (2.0 * math.pi) * turns
        signs = _signs(end.shape[0], end)
        k_all = mask.k_max if mask.is_local else mask.k_all
        beta_1, _ = _clenshaw(2.0 * torch.cos(angle), end * signs, delta * signs, weights, mask.limit, k_all, mask.k_max)
        audio = beta_1.mul_(torch.sin(angle))
        if mask.is_local:
            for _, _, _, amplitude, angle_k in _corrections(turns, end, delta, weights, mask):
                audio.addcmul_(amplitude, torch.sin(angle_k), value=-1.0)
        ctx.save_for_backward(turns, end, delta, weights)
        ctx.mask = mask
        return audio

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        turns, end, delta, weights = ctx.saved_tensors
        mask: NyquistMask = ctx.mask
        k_all = mask.k_max if mask.is_local else mask.k_all
        k_max = mask.k_max
        dtype = end.dtype
        grad = grad.contiguous().to(dtype)
        angle = (2.0 * math.pi) * turns
        cos = torch.cos(angle)
        cos2 = 2.0 * cos
        grad_turns = grad_end = grad_delta = None
        blend_t = torch.cat([torch.ones_like(weights), weights], dim=1).T.contiguous()  # (2, rows)

        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # d y / d (end_k, delta_k) = [1, w].T @ (g * mask_k * sin(k theta)).
            projections = torch.zeros(end.shape[0], 2, end.shape[1], dtype=dtype, device=end.device)
            current = grad * torch.sin(angle)  # eps_k g sin(k theta), from k = 1
            previous = torch.zeros_like(current)  # k = 0
            if k_max > k_all:
                masked = torch.empty_like(current)
                sample_mask = torch.empty_like(current)
            for k in range(1, k_max + 1):
                source = current
                if k > k_all:
                    torch.sub(mask.limit, k, out=sample_mask).clamp_(0.0, 1.0)
                    source = torch.mul(current, sample_mask, out=masked)
                torch.mm(blend_t, source, out=projections[k - 1])
                if _eps(k) < 0:
                    projections[k - 1].neg_()
                if k < k_max:
                    previous.addcmul_(cos2, current, value=_eps(k + 1) * _eps(k))
                    current, previous = previous, current
            if mask.is_local:  # remove what the inaudible samples contributed
                for k, valid, inaudible, _, angle_k in _corrections(turns, end, delta, weights, mask):
                    removed = torch.mm(blend_t, grad * inaudible * torch.sin(angle_k)) * valid
                    index = (k - 1).clamp(0, end.shape[0] - 1).view(1, 1, -1).expand(1, 2, -1)
                    projections.scatter_add_(0, index, -removed[None])
            grad_end, grad_delta = projections[:, 0], projections[:, 1]

        if ctx.needs_input_grad[0]:
            # d y / d theta = sum_k k c_k cos(k theta): Clenshaw on the cosine series.
            scale = _signs(end.shape[0], end, scale_by_k=True)
            beta_1, beta_2 = _clenshaw(cos2, end * scale, delta * scale, weights, mask.limit, k_all, k_max)
            derivative = beta_1.mul_(cos).add_(beta_2)
            if mask.is_local:
                for k, _, _, amplitude, angle_k in _corrections(turns, end, delta, weights, mask):
                    derivative.addcmul_(amplitude * k.to(dtype), torch.cos(angle_k), value=-1.0)
            grad_turns = derivative.mul_(grad).mul_(2.0 * math.pi)
        return grad_turns, grad_end, grad_delta, None, None


def harmonic_sum(turns: Tensor, end: Tensor, delta: Tensor, weights: Tensor, mask: NyquistMask) -> Tensor:
    """``y[r, m] = sum_k audible_k[r, m] (end[k-1, m] + weights[r] delta[k-1, m]) sin(2 pi k turns[r, m])``.

    Shapes: ``turns`` ``(rows, M)`` fundamental phase in cycles, in ``end``'s dtype (keep it
    small: the caller wraps whole cycles away in float64); ``end``, ``delta``
    ``(n_harmonics, M)`` contiguous; ``weights`` ``(rows, 1)``. ``mask`` says which harmonics
    are audible (:class:`NyquistMask`). Output ``(rows, M)`` in ``end``'s dtype.
    Differentiable in ``turns``, ``end`` and ``delta``.
    """
    return _HarmonicSum.apply(turns, end, delta, weights, mask)
