"""Time-varying all-pole (recursive) filtering with exact gradients.

``allpole_filter(x, a, zi)`` computes, for every batch item ``b`` and sample ``n``::

    y[b, n] = x[b, n] - sum_{k=1..K} a[b, n, k-1] * y[b, n-k]

with ``y[b, -k] = zi[b, k-1]`` (the ``K`` outputs before the block, most recent first). This
is the recursive half of any IIR filter (``lfilter`` = FIR part, then this) and the synthesis
filter of LPC.

Gradients are exact, not a truncated or frequency-sampled approximation: the adjoint of the
recursion is the same recursion run backwards in time with the coefficients shifted
(``g_x[n] = g_y[n] - sum_k a[n+k, k-1] g_x[n+k]``), so ``backward`` calls the filter itself
and second derivatives come for free. The coefficient and state gradients are plain tensor
products of that adjoint with the (saved) outputs.

The per-sample recursion runs in a compiled numba kernel on CPU (batch items shared out
among threads when the call is large enough, see ``engine``); on other devices (GPUs) it runs as a parallel prefix scan over the companion-matrix form of the
recursion (:mod:`~torchddsp.functional.recurrence`), with no loop over samples; a PyTorch loop
over samples is the fallback. All three are tested against each other and against
``scipy.signal.lfilter``. Stability is the caller's: the filter does exactly what the
coefficients say (see ``iir.py`` for stable parameterisations).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import check_finite, check_rank, half_in_float32
from .engine import compile_kernel
from .recurrence import _scan_torch
from ..validation import InputError

__all__ = ["allpole_filter", "allpole_kernel_available"]

def _recursion_rows(first, stop, x, a, history, y):  # pragma: no cover - compiled; tested through allpole_filter
    """Batch items ``first .. stop - 1``: ``y[b, :order]`` is the history, then the recursion."""
    n_samples = x.shape[1]
    order = a.shape[2]
    step_stride = 1 if a.shape[1] > 1 else 0  # fixed coefficients are not copied per sample
    for b in range(first, stop):
        for k in range(order):
            y[b, k] = history[b, k]
        for n in range(n_samples):
            step = n * step_stride
            acc = x[b, n]
            for k in range(order):
                acc -= a[b, step, k] * y[b, n + order - 1 - k]
            y[b, n + order] = acc


_RECURSION = compile_kernel(_recursion_rows)


def allpole_kernel_available() -> bool:
    """Whether the compiled CPU kernel (numba) is importable."""
    return _RECURSION is not None


def _recursion_torch(x: Tensor, a: Tensor, history: Tensor) -> Tensor:
    """The recursion in PyTorch: ``history`` ``(batch, order)`` oldest first -> ``(batch,
    order + n_samples)`` with the history in front."""
    order = a.shape[2]
    outputs = list(history.unbind(1))
    for n in range(x.shape[1]):
        past = torch.stack(outputs[-1 : -order - 1 : -1], dim=1)  # most recent first
        outputs.append(x[:, n] - (a[:, n if a.shape[1] > 1 else 0] * past).sum(1))
    return torch.stack(outputs, dim=1)


def _recursion_scan(x: Tensor, a: Tensor, history: Tensor) -> Tensor:
    """The recursion as a blocked parallel scan over companion-matrix state updates (the GPU
    path: no loop over samples); same layout as :func:`_recursion_torch`."""
    batch, steps, order = a.shape
    companion = a.new_zeros(batch, steps, order, order)
    companion[:, :, 0, :] = -a
    if order > 1:
        companion[:, :, 1:, :-1] = torch.eye(order - 1, dtype=a.dtype, device=a.device)
    drive = x.new_zeros(batch, x.shape[1], order)
    drive[:, :, 0] = x
    states = _scan_torch(drive, companion, history.flip(1))
    return torch.cat([history, states[:, :, 0]], dim=1)


def _recursion(x: Tensor, a: Tensor, history: Tensor, backend: str) -> Tensor:
    if backend == "auto":
        backend = ("numba" if _RECURSION is not None else "torch") if x.device.type == "cpu" else "scan"
    if backend == "scan":
        return _recursion_scan(x.detach(), a.detach(), history.detach())
    if backend == "numba":
        if _RECURSION is None:
            raise InputError("backend='numba' needs numba (pip install numba)")
        if x.device.type != "cpu":
            raise InputError(f"backend='numba' runs on CPU tensors, found device {x.device}")
        x, a, history = (t.detach().contiguous() for t in (x, a, history))
        y = x.new_empty(x.shape[0], x.shape[1] + a.shape[2])
        _RECURSION(x.numel() * a.shape[2], x.shape[0], x.numpy(), a.numpy(), history.numpy(), y.numpy())
        return y
    return _recursion_torch(x.detach(), a.detach(), history.detach())


class _AllPole(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, zi: Tensor, backend: str) -> Tensor:
        order = a.shape[2]
        y = _recursion(x, a, zi.flip(1), backend)[:, order:].to(x.dtype)
        # The output itself is saved (not a copy), so second derivatives see its dependence on
        # the inputs.
        ctx.save_for_backward(a, zi, y)
        ctx.backend = backend
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor):
        a, zi, y = ctx.saved_tensors
        order, n_samples = a.shape[2], y.shape[1]
        fixed = a.shape[1] == 1
        full = torch.cat([zi.flip(1), y], dim=1)  # outputs from y[-order] on
        # Adjoint: g_x[n] = g_y[n] - sum_k a[n+k, k-1] g_x[n+k]. In reversed time m = T-1-n it
        # is the same all-pole filter with coefficients c[m, k-1] = a[T-1-m+k, k-1] (0 past the
        # end). Fixed coefficients stay fixed: the terms past the end multiply the adjoint's
        # zero initial state, whatever their coefficient.
        if fixed:
            shifted = a
        else:
            padded = torch.cat([a, a.new_zeros(a.shape[0], order, order)], dim=1)
            shifted = torch.stack([padded[:, k + 1 : k + 1 + n_samples, k] for k in range(order)], dim=2).flip(1)
        grad_x = _AllPole.apply(grad_y.flip(1), shifted, grad_y.new_zeros(grad_y.shape[0], order),
                                ctx.backend).flip(1)
        # dy[n]/da[n, k-1] = -y[n-k]; y[n-k] sits at full[:, order + n - k].
        past = torch.stack([full[:, order - k : order - k + n_samples] for k in range(1, order + 1)], dim=2)
        grad_a = -grad_x.unsqueeze(2) * past
        if fixed:
            grad_a = grad_a.sum(1, keepdim=True)
        # zi[j-1] = y[-j] feeds y[n] for n = k - j >= 0 through a[n, k-1].
        grad_zi = torch.stack([
            -sum((grad_x[:, k - j] * a[:, 0 if fixed else k - j, k - 1] for k in range(j, order + 1)
                  if k - j < n_samples), grad_x.new_zeros(grad_x.shape[0]))
            for j in range(1, order + 1)
        ], dim=1)
        return grad_x, grad_a, grad_zi, None


def per_sample_coefficients(name: str, coefficients: Tensor, batch: int, n_samples: int) -> Tensor:
    """Check filter coefficients against ``x`` ``(batch, n_samples)``: ``(batch or 1, n)`` or
    ``(batch or 1, 1, n)`` (fixed) -> ``(batch, 1, n)``; ``(batch or 1, n_samples, n)`` (one set
    per sample) -> ``(batch, n_samples, n)``. Broadcast views, no copy; fixed coefficients keep
    a time axis of 1 (the kernels never copy them per sample)."""
    check_rank(name, coefficients, (2, 3), f"(batch, n_{name}) or (batch, n_samples, n_{name})")
    check_finite(name, coefficients)
    if coefficients.dim() == 2:
        coefficients = coefficients.unsqueeze(1)
    if coefficients.shape[0] not in (1, batch):
        raise InputError(f"{name} must have batch size 1 or {batch} (that of x), found {coefficients.shape[0]}")
    if coefficients.shape[1] not in (1, n_samples):
        raise InputError(f"{name} must have {n_samples} time steps (one per sample of x), found {coefficients.shape[1]}")
    return coefficients.expand(batch, -1, -1)


@half_in_float32
def allpole_filter(x: Tensor, a: Tensor, zi: Tensor | None = None, *, return_state: bool = False,
                   backend: str = "auto") -> Tensor | tuple[Tensor, Tensor]:
    """All-pole filter with per-sample coefficients: ``y[n] = x[n] - sum_k a[n, k-1] y[n-k]``.

    Args:
        x: input ``(batch, n_samples)``.
        a: feedback coefficients without the leading 1: ``(batch or 1, n_samples, order)``
            (time-varying, one set per sample) or ``(batch or 1, order)`` (fixed). Same sign
            convention as ``scipy.signal.lfilter([1], [1, *a])``.
        zi: the ``order`` outputs before the block, most recent first, ``(batch, order)``;
            zeros by default. Pass the returned state to filter a long signal in chunks.
        return_state: also return the state for the next block (the last ``order`` outputs,
            most recent first).
        backend: ``"auto"`` (numba kernel on CPU, parallel scan on other devices), ``"numba"``,
            ``"scan"`` (a blocked parallel scan over companion matrices, about ``3
            sqrt(n_samples)`` vectorised steps: the GPU path) or ``"torch"`` (a loop over samples).

    Returns:
        ``y`` ``(batch, n_samples)`` (and the state ``(batch, order)``). Differentiable in ``x``,
        ``a`` and ``zi``, to any order.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    if backend not in ("auto", "numba", "scan", "torch"):
        raise InputError(f"backend must be 'auto', 'numba', 'scan' or 'torch', found {backend!r}")
    batch, n_samples = x.shape
    a = per_sample_coefficients("a", a, batch, n_samples)
    order = a.shape[2]
    if order < 1:
        raise InputError("a must hold at least one coefficient (order >= 1)")
    dtype = torch.promote_types(x.dtype, a.dtype)
    if zi is None:
        zi = x.new_zeros(batch, order, dtype=dtype)
    else:
        check_rank("zi", zi, 2, "(batch, order)")
        check_finite("zi", zi)
        if zi.shape != (batch, order):
            raise InputError(f"zi must have shape ({batch}, {order}), found {tuple(zi.shape)}")
    x, a, zi = x.to(dtype), a.to(dtype), zi.to(dtype)
    y = _AllPole.apply(x, a, zi, backend)
    if not return_state:
        return y
    state = torch.cat([zi.flip(1), y], dim=1)[:, -order:].flip(1)
    return y, state
