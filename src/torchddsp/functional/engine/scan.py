"""The blocked parallel scan of ``s[n] = A[n] s[n-1] + u[n]``: the PyTorch path of every
recurrence on GPUs (:mod:`~torchddsp.functional.engine.recurrence`), no loop over samples."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["scan"]


def scan(u: Tensor, A: Tensor, s0: Tensor, block: int | None = None) -> Tensor:
    """States ``(batch, n_samples, N)`` of ``s[n] = A[n] s[n-1] + u[n]``, ``s[-1] = s0``.

    ``u`` ``(batch, n_samples, N)``, ``A`` ``(batch or 1, n_samples or 1, N, N)``, ``s0``
    ``(batch, N)``. The signal is cut into ``n_blocks`` blocks of ``L`` samples (``L ~
    sqrt(n_samples)``, or ``block``) that run side by side: (1) every block runs from a zero
    state, keeping its end state and the product of its matrices; (2) a short sequential pass
    over the blocks turns those into each block's true entry state; (3) every block runs again
    from its entry state. That is ``2 L + n_blocks`` vectorised steps (about 1300 for four
    seconds at 44.1 kHz), ``O(n_samples N^2)`` work and memory of the output's size plus one
    matrix per block, whatever the matrices.

    Example:
        >>> scan(torch.ones(1, 4, 1), torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1)).flatten().tolist()
        [1.0, 1.5, 1.75, 1.875]
    """
    batch, n_samples, size = u.shape
    if n_samples == 0:
        return torch.zeros_like(u)
    length = block or max(1, int(round(math.sqrt(n_samples))))
    n_blocks = -(-n_samples // length)
    padding = n_blocks * length - n_samples
    fixed = A.shape[1] == 1
    if padding:  # zero drive after the end: those states are discarded
        u = torch.cat([u, u.new_zeros(batch, padding, size)], dim=1)
        if not fixed:
            A = torch.cat(
                [A, torch.eye(size, dtype=A.dtype, device=A.device).expand(A.shape[0], padding, size, size)], 1
            )
    drive = u.reshape(batch, n_blocks, length, size)
    matrices = A[:, 0].unsqueeze(1) if fixed else A.reshape(A.shape[0], n_blocks, length, size, size)

    def step(j: int) -> Tensor:
        return (matrices if fixed else matrices[:, :, j]).expand(batch, n_blocks, size, size)

    state = u.new_zeros(batch, n_blocks, size)
    product = None
    for j in range(length):
        state = torch.einsum("bkij,bkj->bki", step(j), state) + drive[:, :, j]
        if not fixed:
            product = matrices[:, :, j] if product is None else matrices[:, :, j] @ product
    if fixed:
        product = torch.linalg.matrix_power(matrices[:, 0], length).unsqueeze(1)
    assert product is not None  # length >= 1: the loop ran at least once
    product = product.expand(batch, n_blocks, size, size)
    entries = [s0]
    for k in range(n_blocks - 1):
        entries.append(torch.einsum("bij,bj->bi", product[:, k], entries[-1]) + state[:, k])
    state = torch.stack(entries, dim=1)
    states = []
    for j in range(length):
        state = torch.einsum("bkij,bkj->bki", step(j), state) + drive[:, :, j]
        states.append(state)
    return torch.stack(states, dim=2).reshape(batch, n_blocks * length, size)[:, :n_samples]
