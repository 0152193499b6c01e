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

- ``"numba"``: a compiled per-sample loop on CPU (batch items shared out among threads, see
  ``engine``); the default there.
- ``"scan"``: a blocked parallel scan (blocks of about ``sqrt(n_samples)`` samples run side by
  side, then a short pass links them: about ``3 sqrt(n_samples)`` vectorised steps instead of
  ``n_samples``): the path for GPUs, the default on any non-CPU device; exact up to rounding.
- ``"torch"``: a PyTorch loop over samples (vectorised over batch and state), a fallback.

Stability is the caller's: the recursion does what ``A`` says.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import check_choice, check_finite, check_rank, half_in_float32
from .engine import compile_kernel
from ..validation import InputError

__all__ = ["linear_recurrence", "RECURRENCE_BACKENDS"]

RECURRENCE_BACKENDS = ("auto", "numba", "scan", "torch")

def _states_rows(first, stop, u, A, s0, states):  # pragma: no cover - compiled; tested through linear_recurrence
    """Batch items ``first .. stop - 1`` of ``s[n] = A[n] s[n-1] + u[n]``, any state size."""
    n_samples, size = u.shape[1], u.shape[2]
    step_stride = 1 if A.shape[1] > 1 else 0
    item_stride = 1 if A.shape[0] > 1 else 0
    for b in range(first, stop):
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


def _states_rows_2(first, stop, u, A, s0, states):  # pragma: no cover - compiled; tested through linear_recurrence
    """Size 2 (state-variable filters) unrolled: the state lives in registers, about 8x faster
    than the generic loop."""
    n_samples = u.shape[1]
    step_stride = 1 if A.shape[1] > 1 else 0
    item_stride = 1 if A.shape[0] > 1 else 0
    for b in range(first, stop):
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


_KERNEL = compile_kernel(_states_rows)
_KERNEL_2 = compile_kernel(_states_rows_2)


def _loop_torch(u: Tensor, A: Tensor, s0: Tensor) -> Tensor:
    """Per-sample PyTorch loop; ``A`` ``(batch or 1, n_samples or 1, N, N)``."""
    states = []
    previous = s0
    for n in range(u.shape[1]):
        matrix = A[:, n if A.shape[1] > 1 else 0]
        previous = torch.einsum("bij,bj->bi", matrix, previous) + u[:, n]
        states.append(previous)
    return torch.stack(states, dim=1)


def _scan_torch(u: Tensor, A: Tensor, s0: Tensor, block: int | None = None) -> Tensor:
    """Blocked parallel scan of ``s[n] = A[n] s[n-1] + u[n]``: the GPU path.

    The signal is cut into ``n_blocks`` blocks of ``L`` samples (``L ~ sqrt(n_samples)``) that
    run side by side: (1) every block runs from a zero state, keeping its end state and the
    product of its matrices; (2) a short sequential pass over the blocks turns those into each
    block's true entry state; (3) every block runs again from its entry state. That is ``2 L +
    n_blocks`` vectorised steps (about 1300 for four seconds at 44.1 kHz), ``O(n_samples N^2)``
    work and memory of the output's size plus one matrix per block, whatever the matrices.
    """
    batch, n_samples, size = u.shape
    length = block or max(1, int(round(math.sqrt(n_samples))))
    n_blocks = -(-n_samples // length)
    padding = n_blocks * length - n_samples
    fixed = A.shape[1] == 1
    if padding:  # zero drive after the end: those states are discarded
        u = torch.cat([u, u.new_zeros(batch, padding, size)], dim=1)
        if not fixed:
            A = torch.cat([A, torch.eye(size, dtype=A.dtype, device=A.device).expand(A.shape[0], padding, size, size)], 1)
    drive = u.reshape(batch, n_blocks, length, size)
    matrices = A[:, 0].unsqueeze(1) if fixed else A.reshape(A.shape[0], n_blocks, length, size, size)

    def step(j: int) -> Tensor:
        return matrices if fixed else matrices[:, :, j]

    state = u.new_zeros(batch, n_blocks, size)
    product = None
    for j in range(length):
        m = step(j)
        state = torch.einsum("bkij,bkj->bki", m.expand(batch, n_blocks, size, size), state) + drive[:, :, j]
        if not fixed:
            product = m if product is None else m @ product
    if fixed:
        product = torch.linalg.matrix_power(matrices[:, 0], length).unsqueeze(1).expand(-1, n_blocks, -1, -1)
    product = product.expand(batch, n_blocks, size, size)
    entries = [s0]
    for k in range(n_blocks - 1):
        entries.append(torch.einsum("bij,bj->bi", product[:, k], entries[-1]) + state[:, k])
    state = torch.stack(entries, dim=1)
    states = []
    for j in range(length):
        state = torch.einsum("bkij,bkj->bki", step(j).expand(batch, n_blocks, size, size), state) + drive[:, :, j]
        states.append(state)
    return torch.stack(states, dim=2).reshape(batch, n_blocks * length, size)[:, :n_samples]


def _run(u: Tensor, A: Tensor, s0: Tensor, backend: str) -> Tensor:
    """Plain (non-differentiable) evaluation on detached tensors by the chosen engine."""
    u, A, s0 = u.detach(), A.detach(), s0.detach()
    if backend == "auto":
        backend = ("numba" if _KERNEL is not None else "torch") if u.device.type == "cpu" else "scan"
    if backend == "numba":
        if _KERNEL is None:
            raise InputError("backend='numba' needs numba (pip install numba)")
        if u.device.type != "cpu":
            raise InputError(f"backend='numba' runs on CPU tensors, found device {u.device}")
        kernel = _KERNEL_2 if u.shape[-1] == 2 else _KERNEL
        u, A, s0 = u.contiguous(), A.contiguous(), s0.contiguous()
        states = torch.empty_like(u)
        kernel(u.numel() * u.shape[-1], u.shape[0], u.numpy(), A.numpy(), s0.numpy(), states.numpy())
        return states
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


@half_in_float32
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
        raise InputError(f"A must hold ({size}, {size}) matrices (the state size of u), found {tuple(A.shape[-2:])}")
    if A.shape[0] not in (1, batch):
        raise InputError(f"A must have batch size 1 or {batch} (that of u), found {A.shape[0]}")
    if A.shape[1] not in (1, n_samples):
        raise InputError(f"A must have {n_samples} time steps (one per sample of u) or be fixed, found {A.shape[1]}")
    dtype = torch.promote_types(u.dtype, A.dtype)
    if s0 is None:
        s0 = u.new_zeros(batch, size, dtype=dtype)
    else:
        check_rank("s0", s0, 2, "(batch, N)")
        check_finite("s0", s0)
        if s0.shape != (batch, size):
            raise InputError(f"s0 must have shape ({batch}, {size}), found {tuple(s0.shape)}")
    if n_samples == 0:
        return u.new_zeros(batch, 0, size, dtype=dtype)
    return _LinearRecurrence.apply(u.to(dtype), A.to(dtype), s0.to(dtype), backend)
