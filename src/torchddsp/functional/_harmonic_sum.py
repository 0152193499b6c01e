"""The PyTorch engine of ``harmonic_synthesis``: a sum of K harmonics without K sines per sample.

It runs on any device and is the reference of the compiled CPU pass (``_harmonic_kernel``,
the same mathematics fused into one pass, tested equal to this).

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


def _signs(n_harmonics: int, like: Tensor) -> Tensor:
    values = [_eps(k) for k in range(1, n_harmonics + 1)]
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
            assert limit is not None  # the caller passes a limit whenever k_hi > k_lo
            torch.addcmul(end[k - 1], weights, delta[k - 1], out=amplitude)
            torch.sub(limit, k, out=mask).clamp_(0.0, 1.0)
            previous.addcmul_(amplitude, mask)
        else:
            previous.add_(end[k - 1])
            previous.addcmul_(weights, delta[k - 1])
        previous.addcmul_(cos2, current, value=_eps(k) * _eps(k + 1))
        current, previous = previous, current
    return current, previous


def _corrections(turns: Tensor, end: Tensor, delta: Tensor, weights: Tensor, mask: NyquistMask):
    """Yield, for each local correction pass, ``(columns, k, inaudible, amplitude, angle)``.

    Only the columns that have a harmonic to correct in the pass are touched (usually a
    minority). ``columns`` ``(n,)`` long: their indices; ``k`` ``(n,)`` long: the corrected
    harmonic; ``inaudible`` ``(rows, n)`` 0/1: where it is at or above Nyquist; ``amplitude``
    ``(rows, n)``: its amplitude there (0 elsewhere); ``angle`` ``(rows, n)``: ``2 pi k turns``.
    """
    # _corrections runs in "local" mode only, where the mask has all three tensors.
    assert mask.first is not None and mask.last is not None and mask.limit is not None
    for t in range(mask.n_local):
        harmonic = mask.first + t
        columns = torch.nonzero(harmonic <= mask.last).squeeze(1)
        if columns.numel() == 0:
            continue
        k = harmonic[columns]
        end_k = end[k - 1, columns]
        delta_k = delta[k - 1, columns]
        k_float = k.to(end.dtype)
        limit = mask.limit.index_select(1, columns)
        inaudible = torch.sub(k_float + 1.0, limit).clamp_(0.0, 1.0)  # 1 where limit <= k
        amplitude = torch.addcmul(end_k, weights, delta_k).mul_(inaudible)
        angle = turns.index_select(1, columns).mul_(2.0 * math.pi * k_float)
        yield columns, k, inaudible, amplitude, angle


def _row_sums(blend_parts: Tensor, values: Tensor, out: Tensor, scratch: Tensor) -> None:
    """``out = blend.T @ values`` (``(2, M)``), with the rows split into as many parts as
    ``blend_parts`` has: on CPU, one per thread, matching how elementwise ops partition the
    rows, so each core reduces the rows already in its cache (a single matrix product
    would pull half of them from the other core)."""
    parts = blend_parts.shape[0]
    if parts == 1:
        torch.mm(blend_parts[0], values, out=out)
        return
    torch.bmm(blend_parts, values.view(parts, -1, values.shape[1]), out=scratch)
    torch.sum(scratch, dim=0, out=out)


class _HarmonicSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, turns: Tensor, end: Tensor, delta: Tensor, weights: Tensor, mask: NyquistMask) -> Tensor:
        angle = (2.0 * math.pi) * turns
        cos2 = 2.0 * torch.cos(angle)
        sin = torch.sin(angle)
        signs = _signs(end.shape[0], end)
        k_all = mask.k_max if mask.is_local else mask.k_all
        beta_1, _ = _clenshaw(cos2, end * signs, delta * signs, weights, mask.limit, k_all, mask.k_max)
        audio = beta_1.mul_(sin)
        if mask.is_local:
            for columns, _, _, amplitude, angle_k in _corrections(turns, end, delta, weights, mask):
                audio.index_add_(1, columns, amplitude.mul_(torch.sin(angle_k)), alpha=-1.0)
        # The backward pass reuses sin and 2 cos of the phase rather than recomputing them.
        ctx.save_for_backward(turns, end, delta, weights, sin, cos2)
        ctx.mask = mask
        return audio

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        turns, end, delta, weights, sin, cos2 = ctx.saved_tensors
        mask: NyquistMask = ctx.mask
        k_all = mask.k_max if mask.is_local else mask.k_all
        k_max = mask.k_max
        n_harmonics, n_columns = end.shape
        rows = turns.shape[0]
        dtype = end.dtype
        grad = grad.contiguous().to(dtype)
        grad_turns = grad_end = grad_delta = None
        blend_t = torch.cat([torch.ones_like(weights), weights], dim=1).T.contiguous()  # (2, rows)
        need_coefficients = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        need_phase = ctx.needs_input_grad[0]

        if need_coefficients:
            # d y / d (end_k, delta_k) = [1, w].T @ (g * mask_k * sin(k theta)); g sin(k theta)
            # follows the Chebyshev recurrence itself (it is linear), from g sin(theta).
            parts = torch.get_num_threads() if grad.device.type == "cpu" else 1
            parts = parts if parts > 1 and rows % parts == 0 else 1
            blend_parts = blend_t.view(2, parts, rows // parts).permute(1, 0, 2).contiguous()
            scratch = torch.empty(parts, 2, n_columns, dtype=dtype, device=grad.device)
            projections = torch.zeros(n_harmonics, 2, n_columns, dtype=dtype, device=grad.device)
            rows_of = projections.unbind(0)
            current = grad * sin  # eps_k g sin(k theta), from k = 1
            previous = torch.zeros_like(current)  # k = 0
            if k_max > k_all:
                masked = torch.empty_like(current)
                sample_mask = torch.empty_like(current)
            for k in range(1, k_max + 1):
                source = current
                if k > k_all:
                    assert mask.limit is not None  # harmonics above k_all are masked per sample
                    torch.sub(mask.limit, k, out=sample_mask).clamp_(0.0, 1.0)
                    source = torch.mul(current, sample_mask, out=masked)
                _row_sums(blend_parts, source, rows_of[k - 1], scratch)
                if _eps(k) < 0:
                    rows_of[k - 1].neg_()
                if k < k_max:
                    previous.addcmul_(cos2, current, value=_eps(k + 1) * _eps(k))
                    current, previous = previous, current

        if need_phase:
            # d y / d theta = sum_k k c_k cos(k theta): Clenshaw on the cosine series.
            scale = _signs(n_harmonics, end) * torch.arange(1, n_harmonics + 1, dtype=dtype, device=end.device)[:, None]
            beta_1, beta_2 = _clenshaw(cos2, end * scale, delta * scale, weights, mask.limit, k_all, k_max)
            derivative = beta_1.mul_(cos2).mul_(0.5).add_(beta_2)

        if mask.is_local:  # remove what the inaudible samples contributed
            for columns, k, inaudible, amplitude, angle_k in _corrections(turns, end, delta, weights, mask):
                if need_coefficients:
                    removed = blend_t @ (grad.index_select(1, columns) * inaudible * torch.sin(angle_k))  # (2, n)
                    flat = ((k - 1) * 2)[None, :] + torch.arange(2, device=k.device)[:, None]
                    flat = flat * n_columns + columns[None, :]
                    projections.view(-1).index_add_(0, flat.reshape(-1), removed.reshape(-1), alpha=-1.0)
                if need_phase:
                    derivative.index_add_(1, columns, amplitude * k.to(dtype) * torch.cos(angle_k), alpha=-1.0)

        if need_coefficients:
            grad_end, grad_delta = projections[:, 0], projections[:, 1]
        if need_phase:
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
