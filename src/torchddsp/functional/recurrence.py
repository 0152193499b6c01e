"""Time-varying linear state-space recursion with exact gradients: the engine under every
recursive filter whose state is more than a list of past outputs (state-variable filters,
phasers, feedback structures).

``linear_recurrence(u, A, state=state)`` computes, for every batch item and sample ``n``::

    s[n] = A[n] @ s[n-1] + u[n],        s[-1] = state

with states of size ``N`` (``A`` ``(N, N)`` per sample, or one matrix for every sample). It is
the state-space structure of the library's one recurrence
(:mod:`~torchddsp.functional.engine.recurrence`): compiled CPU kernels, the PyTorch paths (a loop
on CPU, a blocked parallel scan on GPUs) and exact gradients of any order (the adjoint ``l[n] =
g[n] + A[n+1]^T l[n+1]`` is the same recursion run in reversed time). Stability is the
caller's: the recursion does what ``A`` says.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from ..validation import half_in_float32
from .engine import BACKENDS
from .engine.recurrence import engine_for
from .engine.recurrence import state_space

__all__ = ["linear_recurrence", "RECURRENCE_BACKENDS"]

#: The values of ``backend`` (those of every op, :data:`~torchddsp.functional.engine.BACKENDS`).
RECURRENCE_BACKENDS = BACKENDS


@half_in_float32
def linear_recurrence(
    u: Tensor, A: Tensor, *, state: Tensor | None = None, return_state: bool = False, backend: str = "auto"
) -> Tensor | tuple[Tensor, Tensor]:
    """States of ``s[n] = A[n] @ s[n-1] + u[n]`` for every sample.

    Args:
        u: input drive ``(batch, n_samples, N)``.
        A: transition matrices ``(batch or 1, n_samples, N, N)`` (time-varying) or ``(batch or 1,
            N, N)`` (fixed; never copied per sample).
        state: ``s[-1]``, the state before the first sample ``(batch, N)``; zeros (at rest) by
            default.
        return_state: also return the state after the last sample ``(batch, N)`` (the given
            one for an empty ``u``); passed as ``state`` with the following samples, the
            result equals one call.
        backend: ``"auto"``, ``"numba"`` (compiled CPU kernel) or ``"torch"`` (the PyTorch path:
            a loop over samples on CPU, a parallel scan elsewhere).

    Returns:
        ``states`` ``(batch, n_samples, N)``: ``states[:, n] = s[n]`` (and the state).
        Differentiable in ``u``, ``A`` and ``state``, to any order.

    Example:
        >>> linear_recurrence(torch.ones(1, 3, 1), torch.full((1, 1, 1), 0.5)).flatten().tolist()
        [1.0, 1.5, 1.75]
    """
    check_rank("u", u, 3, "(batch, n_samples, N)")
    check_rank("A", A, (3, 4), "(batch or 1, N, N) or (batch or 1, n_samples, N, N)")
    engine = engine_for(backend, u.device)
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
    if state is None:
        state = u.new_zeros(batch, size, dtype=dtype)
    else:
        check_rank("state", state, 2, "(batch, N)")
        check_finite("state", state)
        if state.shape != (batch, size):
            raise InputError(f"state must have shape ({batch}, {size}), found {tuple(state.shape)}")
        state = state.to(dtype)
    if n_samples == 0:
        states = u.new_zeros(batch, 0, size, dtype=dtype)
        return (states, state) if return_state else states
    states = state_space(u.to(dtype), A.to(dtype), state, engine)
    return (states, states[:, -1]) if return_state else states
