"""Time-varying linear state-space recursion with exact gradients: the engine under every
recursive filter whose state is more than a list of past outputs (state-variable filters,
phasers, feedback structures).

``linear_recurrence(u, A, s0)`` computes, for every batch item and sample ``n``::

    s[n] = A[n] @ s[n-1] + u[n],        s[-1] = s0

with states of size ``N`` (``A`` ``(N, N)`` per sample, or one matrix for every sample).

Gradients are exact and of any order: the adjoint ``l[n] = g[n] + A[n+1]^T l[n+1]`` is the
same recursion run in reversed time with the matrices shifted and transposed, so ``backward``
calls the recursion itself (differentiably), and ``grad_A[n] = l[n] s[n-1]^T``,
``grad_s0 = A[0]^T l[0]`` are plain tensor products.

Three interchangeable engines (tested against each other):

- ``"numba"``: a compiled per-sample loop on CPU (parallel over the batch); the default there.
- ``"scan"``: a parallel prefix scan over affine maps ``s -> A s + u`` (Hillis-Steele, ``log2
  n_samples`` steps of batched matrix products, no per-sample loop): the path for GPUs, the
  default on any non-CPU device. It does ``O(n log n)`` work, so on CPU it is slower than the
  kernel; it is exact up to rounding.
- ``"torch"``: a PyTorch loop over samples (vectorised over batch and state), a fallback.

Stability is the caller's: the recursion does what ``A`` says.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._checks import check_choice, check_finite, check_rank

__all__ = ["linear_recurrence", "RECURRENCE_BACKENDS"]

RECURRENCE_BACKENDS = ("auto", "numba", "scan", "torch")

try:  # numba is a core dependency; the guard keeps the PyTorch paths usable on exotic installs.
    import numba
except ImportError:  # pragma: no cover - exercised only where numba cannot be installed
    numba = None


if numba is not None:

    @numba.njit(parallel=True, cache=True, fastmath=False)
    def _state_space_kernel(u, A, s0):  # pragma: no cover - compiled; tested through linear_recurrence
        batch, n_samples, size = u.shape
        step_stride = 1 if A.shape[1] > 1 else 0
        item_stride = 1 if A.shape[0] > 1 else 0
        states = np.empty_like(u)
        for b in numba.prange(batch):
            item = b * item_stride
            for i in range(size):
                acc = u[b, 0, i]
                for j in range(size):
                    acc += A[item, 0, i, j] * s0[b, j]
                states[b, 0, i] = acc
            for n in range(1, n_samples):
                step = n * step_stride
                for i in range(size):
                    acc = u[b, n, i]
                    for j in range(size):
                        acc += A[item, step, i, j] * states[b, n - 1, j]
                    states[b, n, i] = acc
        return states

    @numba.njit(parallel=True, cache=True, fastmath=False)
    def _state_space_kernel_2(u, A, s0):  # pragma: no cover - compiled; tested through linear_recurrence
        # Size 2 (state-variable filters) unrolled: the state lives in registers, about 8x
        # faster than the generic loop.
        batch, n_samples = u.shape[0], u.shape[1]
        step_stride = 1 if A.shape[1] > 1 else 0
        item_stride = 1 if A.shape[0] > 1 else 0
        states = np.empty_like(u)
        for b in numba.prange(batch):
            item = b * item_stride
            p0 = s0[b, 0]
            p1 = s0[b, 1]
            for n in range(n_samples):
                step = n * step_stride
                c0 = u[b, n, 0] + A[item, step, 0, 0] * p0 + A[item, step, 0, 1] * p1
                c1 = u[b, n, 1] + A[item, step, 1, 0] * p0 + A[item, step, 1, 1] * p1
                states[b, n, 0] = c0
                states[b, n, 1] = c1
                p0 = c0
                p1 = c1
        return states


def _loop_torch(u: Tensor, A: Tensor, s0: Tensor) -> Tensor:
    """Per-sample PyTorch loop; ``A`` ``(batch or 1, n_samples or 1, N, N)``."""
    states = []
    previous = s0
    for n in range(u.shape[1]):
        matrix = A[:, n if A.shape[1] > 1 else 0]
        previous = torch.einsum("bij,bj->bi", matrix, previous) + u[:, n]
        states.append(previous)
    return torch.stack(states, dim=1)


def _scan_torch(u: Tensor, A: Tensor, s0: Tensor) -> Tensor:
    """Hillis-Steele inclusive scan of the affine maps ``s -> A[n] s + u[n]``.

    After the step with offset ``d``, position ``n`` holds the composition of the maps
    ``n-2d+1 .. n`` (or all of them from 0): ``(P[n], c[n])`` with ``s[n] = P[n] s[start-1] +
    c[n]``. The initial state is folded into the first input, so at the end ``s[n] = c[n]``.
    """
    batch, n_samples, size = u.shape
    A = A.expand(batch, n_samples, size, size)
    u = u.clone()
    u[:, 0] = u[:, 0] + torch.einsum("bij,bj->bi", A[:, 0], s0)
    # The first map now ignores the state before it: its matrix is zero.
    P = torch.cat([torch.zeros_like(A[:, :1]), A[:, 1:]], dim=1)
    offset = 1
    while offset < n_samples:
        later_P, later_c = P[:, offset:], u[:, offset:]
        earlier_P, earlier_c = P[:, :-offset], u[:, :-offset]
        c = torch.cat([u[:, :offset], torch.einsum("btij,btj->bti", later_P, earlier_c) + later_c], dim=1)
        P = torch.cat([P[:, :offset], later_P @ earlier_P], dim=1)
        u = c
        offset *= 2
    return u


def _run(u: Tensor, A: Tensor, s0: Tensor, backend: str) -> Tensor:
    """Plain (non-differentiable) evaluation on detached tensors by the chosen engine."""
    u, A, s0 = u.detach(), A.detach(), s0.detach()
    if backend == "auto":
        backend = ("numba" if numba is not None else "torch") if u.device.type == "cpu" else "scan"
    if backend == "numba":
        if numba is None:
            raise ValueError("backend='numba' needs numba (pip install numba)")
        if u.device.type != "cpu":
            raise ValueError(f"backend='numba' runs on CPU tensors, found device {u.device}")
        kernel = _state_space_kernel_2 if u.shape[-1] == 2 else _state_space_kernel
        return torch.from_numpy(kernel(u.contiguous().numpy(), A.contiguous().numpy(), s0.contiguous().numpy()))
    if backend == "scan":
        return _scan_torch(u, A, s0)
    return _loop_torch(u, A, s0)


class _LinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, A: Tensor, s0: Tensor, backend: str) -> Tensor:
        states = _run(u, A, s0, backend).to(u.dtype)
        # The output itself is saved, so second derivatives see its dependence on the inputs.
        ctx.save_for_backward(A, s0, states)
        ctx.backend = backend
        return states

    @staticmethod
    def backward(ctx, grad_states: Tensor):
        A, s0, states = ctx.saved_tensors
        batch, n_samples, size = grad_states.shape
        # Adjoint l[n] = g[n] + A[n+1]^T l[n+1]; in reversed time m = T-1-n it is the forward
        # recursion with matrices B[m] = A[T-m]^T (B[0] multiplies l[T] = 0).
        transposed = A.transpose(-1, -2)
        if A.shape[1] > 1:
            shifted = torch.cat([transposed[:, 1:], torch.zeros_like(transposed[:, :1])], dim=1).flip(1)
        else:
            shifted = transposed
        adjoint = _LinearRecurrence.apply(grad_states.flip(1), shifted, grad_states.new_zeros(batch, size),
                                          ctx.backend).flip(1)
        previous = torch.cat([s0.unsqueeze(1), states[:, :-1]], dim=1)
        grad_A = adjoint.unsqueeze(-1) * previous.unsqueeze(-2)  # (batch, T, N, N)
        if A.shape[1] == 1:
            grad_A = grad_A.sum(1, keepdim=True)
        if A.shape[0] == 1 and batch > 1:
            grad_A = grad_A.sum(0, keepdim=True)
        grad_s0 = torch.einsum("bji,bj->bi", A[:, 0].expand(batch, size, size), adjoint[:, 0])
        return adjoint, grad_A, grad_s0, None


def linear_recurrence(u: Tensor, A: Tensor, s0: Tensor | None = None, *, backend: str = "auto") -> Tensor:
    """States of ``s[n] = A[n] @ s[n-1] + u[n]`` for every sample.

    Args:
        u: input drive ``(batch, n_samples, N)``.
        A: transition matrices ``(batch or 1, n_samples, N, N)`` (time-varying) or ``(batch or 1,
            N, N)`` (fixed; never copied per sample).
        s0: state before the first sample ``(batch, N)``; zeros by default. Pass the last
            returned state (``states[:, -1]``) to continue a long signal in chunks.
        backend: ``"auto"`` (numba kernel on CPU, parallel scan elsewhere), ``"numba"``,
            ``"scan"`` or ``"torch"`` (module docstring).

    Returns:
        ``states`` ``(batch, n_samples, N)``: ``states[:, n] = s[n]``. Differentiable in ``u``,
        ``A`` and ``s0``, to any order.
    """
    check_rank("u", u, 3, "(batch, n_samples, N)")
    check_rank("A", A, (3, 4), "(batch or 1, N, N) or (batch or 1, n_samples, N, N)")
    check_choice("backend", backend, RECURRENCE_BACKENDS)
    check_finite("u", u)
    check_finite("A", A)
    batch, n_samples, size = u.shape
    if A.dim() == 3:
        A = A.unsqueeze(1)
    if A.shape[-2:] != (size, size):
        raise ValueError(f"A must hold ({size}, {size}) matrices (the state size of u), found {tuple(A.shape[-2:])}")
    if A.shape[0] not in (1, batch):
        raise ValueError(f"A must have batch size 1 or {batch} (that of u), found {A.shape[0]}")
    if A.shape[1] not in (1, n_samples):
        raise ValueError(f"A must have {n_samples} time steps (one per sample of u) or be fixed, found {A.shape[1]}")
    dtype = torch.promote_types(u.dtype, A.dtype)
    if s0 is None:
        s0 = u.new_zeros(batch, size, dtype=dtype)
    else:
        check_rank("s0", s0, 2, "(batch, N)")
        check_finite("s0", s0)
        if s0.shape != (batch, size):
            raise ValueError(f"s0 must have shape ({batch}, {size}), found {tuple(s0.shape)}")
    if n_samples == 0:
        return u.new_zeros(batch, 0, size, dtype=dtype)
    return _LinearRecurrence.apply(u.to(dtype), A.to(dtype), s0.to(dtype), backend)
