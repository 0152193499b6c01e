"""Time-varying all-pole (recursive) filtering with exact gradients.

``allpole_filter(x, a, state=state)`` computes, for every item ``b`` of ``x`` and sample ``n``::

    y[b, n] = x[b, n] - sum_{k=1..K} a[b, n, k-1] * y[b, n-k]

with ``y[b, -k] = state[b, k-1]`` (the ``K`` outputs before the block, most recent first). This
is the recursive half of any IIR filter and the synthesis filter of LPC: the all-pole structure
(without a leading coefficient) of the library's one recurrence,
:mod:`~torchddsp.functional.engine.recurrence`, which holds the compiled CPU kernels, the PyTorch
paths (a loop on CPU, a parallel scan on GPUs) and the exact gradients of any order.
Stability is the caller's: the filter does exactly what the coefficients say (see
``stable_poles.py`` for stable parameterisations).

Coefficient layouts (shared with :func:`~torchddsp.functional.lfilter`), against ``x`` flattened
to ``(batch, n_samples)``: ``(n,)`` (one set for everything, as scipy) or ``(batch or 1, n)``
(fixed per item), ``(batch or 1, n_samples, n)`` (one set per sample), or
``Control.per_frame(c)`` with ``c`` ``(batch or 1, n_frames, n)`` (upsampled linearly to one
set per sample, the library's frame convention). A bare tensor's time axis is 1 or
``n_samples``, never guessed to be frames.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import half_in_float32
from .controls import Control
from .controls import Rate
from .engine.recurrence import allpole
from .engine.recurrence import engine_for
from .layout import flatten_audio
from .layout import restore_audio
from .resampling import upsample

__all__ = ["allpole_filter", "allpole_kernel_available", "coefficient_rows", "state_like"]


def allpole_kernel_available() -> bool:
    """Whether the compiled CPU kernels (numba) are importable."""
    from .engine import available  # noqa: PLC0415 - one guard, read when asked

    return available()


def _bare_rows(name: str, value: Tensor, batch: int, n_samples: int) -> Tensor:
    check_rank(name, value, (1, 2, 3), f"(n_{name},), (batch, n_{name}) or (batch, n_samples, n_{name})")
    if value.dim() < 3:
        value = value.reshape(-1 if value.dim() == 2 else 1, 1, value.shape[-1])
    if value.shape[1] not in (1, n_samples):
        raise InputError(
            f"{name} must have {n_samples} time steps (one per sample of x) or 1, found "
            f"{value.shape[1]}; state frame-rate coefficients as Control.per_frame({name})"
        )
    return value


def coefficient_rows(name: str, value: Tensor | Control, batch: int, n_samples: int) -> Tensor:
    """Filter coefficients in one of the layouts of the module docstring -> ``(batch or 1,
    n_samples or 1, n)``: views, no copy; fixed coefficients keep a time axis of 1 (the kernels
    never copy them per sample)."""
    if isinstance(value, Control):
        if value.rate is not Rate.FRAME:
            value = value.value if isinstance(value.value, Tensor) else torch.as_tensor(value.value)
            return coefficient_rows(name, value, batch, n_samples)
        frames = check_rank(name, check_tensor(name, value.value), 3, f"(batch or 1, n_frames, n_{name})")
        check_finite(name, frames)
        rows = frames if frames.shape[1] == 1 else upsample(frames, n_samples, "linear")
    else:
        rows = _bare_rows(name, check_tensor(name, value), batch, n_samples)
        check_finite(name, rows)
    if rows.shape[0] not in (1, batch):
        raise InputError(f"{name} must have batch size 1 or {batch} (that of x), found {rows.shape[0]}")
    return rows


def state_like(name: str, state: Tensor | None, leading: torch.Size, size: tuple[int, ...], like: Tensor) -> Tensor:
    """A filter state ``(*leading, *size)`` (zeros when None) as ``(batch, *size)``."""
    batch = like.shape[0]
    if state is None:
        return like.new_zeros(batch, *size)
    check_tensor(name, state)
    if tuple(state.shape) != (*leading, *size):
        raise InputError(f"{name} must have shape {(*leading, *size)}, found {tuple(state.shape)}")
    check_finite(name, state)
    return state.reshape(batch, *size).to(like.dtype)


def past_outputs(before: Tensor, y: Tensor, order: int) -> Tensor:
    """The last ``order`` outputs, most recent first, from the state ``before`` and ``y`` after."""
    if y.shape[1] >= order:
        return y[:, -order:].flip(1)
    return torch.cat([before.flip(1), y], dim=1)[:, -order:].flip(1)


@half_in_float32
def allpole_filter(
    x: Tensor, a: Tensor | Control, *, state: Tensor | None = None, return_state: bool = False, backend: str = "auto"
) -> Tensor | tuple[Tensor, Tensor]:
    """All-pole filter with per-sample coefficients: ``y[n] = x[n] - sum_k a[n, k-1] y[n-k]``.

    Args:
        x: input ``(..., n_samples)``.
        a: feedback coefficients without the leading 1, ``order`` per set, in a layout of the
            module docstring: ``(order,)``, ``(batch or 1, order)`` (fixed), ``(batch or 1,
            n_samples, order)`` (per sample) or ``Control.per_frame`` of ``(batch or 1,
            n_frames, order)``. Same sign convention as ``scipy.signal.lfilter([1], [1, *a])``.
        state: the ``order`` outputs before the block, most recent first, ``(..., order)``
            (the leading dimensions of ``x``); zeros (at rest) by default.
        return_state: also return the state for the next block (the last ``order`` outputs,
            most recent first, ``(..., order)``); passed as ``state`` with the following
            samples, the result equals one call.
        backend: ``"auto"``, ``"numba"`` (compiled CPU kernel) or ``"torch"`` (the PyTorch
            path: a loop over samples on CPU, a parallel scan elsewhere); see ``engine``.

    Returns:
        ``y`` ``(..., n_samples)`` (and the state). Differentiable in ``x``, ``a`` and ``state``,
        to any order.

    Example:
        >>> allpole_filter(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-0.5])).tolist()
        [1.0, 0.5, 0.25]
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    batch, n_samples = flat.shape
    engine = engine_for(backend, flat.device)
    a = coefficient_rows("a", a, batch, n_samples)
    order = a.shape[2]
    if order < 1:
        raise InputError("a must hold at least one coefficient (order >= 1)")
    dtype = torch.promote_types(flat.dtype, a.dtype)
    flat, a = flat.to(dtype), a.to(dtype)
    before = state_like("state", state, leading, (order,), flat)
    y = allpole(flat, a, before, 0, engine)
    if not return_state:
        return restore_audio(y, leading)
    return restore_audio(y, leading), restore_audio(past_outputs(before, y, order), leading)
