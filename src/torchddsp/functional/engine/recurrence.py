"""One linear recurrence, one autograd Function: the engine under every recursive filter.

:class:`Recurrence` runs one of two structures of ``s[n] = A[n] s[n-1] + u[n]``:

- :class:`AllPole` (the direct form, the recursive half of any IIR filter)::

      y[n] = (x[n] - sum_{k=1..K} a[n, lead + k - 1] y[n-k]) / a[n, 0]

  with the leading coefficient ``a[n, 0]`` (``lead=1``: ``lfilter``'s denominator, divided out
  inside the kernels so it is never divided per sample in PyTorch) or without it (``lead=0``,
  ``a0 = 1``: ``allpole_filter``). Its state is the ``K`` past outputs ``zi`` (most recent
  first): the companion-matrix special case, with ``K`` parameters per step instead of ``K^2``.
- :class:`StateSpace`: any state size ``N``, ``A[n]`` ``(N, N)`` (state-variable filters, phasers).

Gradients are exact and of any order. The adjoint of a recurrence is the same recurrence run in
reversed time with its coefficients shifted (all-pole: ``l[n] = (g[n] - sum_k a[n+k, lead+k-1]
l[n+k]) / a[n, 0]``; state space: ``l[n] = g[n] + A[n+1]^T l[n+1]``), and the coefficient
gradients are products of that adjoint with the saved outputs (all-pole: ``grad a[n, lead+k-1]
= -l[n] y[n-k]``, ``k = 0`` for ``a0``). ``backward`` evaluates that by calling
:class:`Recurrence` itself, so it is differentiable (second derivatives come for free); when no
graph of the backward pass is wanted (a plain ``.backward()``), the numba engine runs the
all-pole adjoint as one fused pass instead, writing the input gradient and the coefficient
gradient together, with no reversed or shifted copies.

Engines (:data:`ENGINES`), tested against each other and against float64 loops:

- ``"numba"``: compiled per-sample kernels on CPU (batch items shared out among threads, see
  :mod:`~torchddsp.functional.engine`); order 2 and state size 2 keep their state in registers.
- ``"loop"``: the readable PyTorch reference, a loop over samples vectorised over the batch.
- ``"scan"``: the PyTorch path for GPUs, a blocked parallel scan (:func:`scan`), about ``3
  sqrt(n_samples)`` vectorised steps instead of ``n_samples``; exact up to rounding.

An op's ``backend`` (``auto``/``numba``/``torch``) maps to one by :func:`engine_for`: ``torch``
is the loop on CPU and the scan elsewhere (:func:`torch_strategy`). Stability is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import compile_kernel
from . import resolve_backend
from .scan import scan
from .shared import FLUSH_EVERY
from .shared import flushed
from .shared import inline

__all__ = [
    "ENGINES",
    "engine_for",
    "torch_strategy",
    "Recurrence",
    "AllPole",
    "StateSpace",
    "allpole",
    "state_space",
    "scan",
]

#: The engines of :class:`Recurrence` (module docstring).
ENGINES = ("numba", "loop", "scan")


def torch_strategy(device: torch.device) -> str:
    """The PyTorch reference path for ``device``: ``"loop"`` on CPU, ``"scan"`` elsewhere."""
    return "loop" if torch.device(device).type == "cpu" else "scan"


def engine_for(backend: str, device: torch.device) -> str:
    """The engine for an op's ``backend`` argument on ``device`` (see ``resolve_backend``).

    Example:
        >>> engine_for("torch", torch.device("cpu"))
        'loop'
    """
    return "numba" if resolve_backend(backend, device) == "numba" else torch_strategy(device)


# Compiled kernels. Arguments: items ``first .. stop - 1``; ``a`` ``(1 or batch, 1 or n_samples,
# lead + K)`` read with zero strides where it broadcasts (fixed coefficients are never copied per
# sample); ``unit`` a 1 of the data's dtype (float32 stays float32). Every ``FLUSH_EVERY`` samples
# a kernel sets subnormal state to 0 (``shared.flushed``: subnormal arithmetic is slow).
_FLUSH = FLUSH_EVERY - 1


@inline
def _strides(coefficients):  # pragma: no cover - compiled
    """``(item_stride, step_stride)``: 0 along the item or time axis of ``coefficients`` where it
    broadcasts (size 1), else 1."""
    return (1 if coefficients.shape[0] > 1 else 0), (1 if coefficients.shape[1] > 1 else 0)


def _allpole_rows(first, stop, x, gain, a, lead, zi, unit, y):  # pragma: no cover - compiled; tested against "loop"
    """Any order: ``y[b, n]`` from ``gain * x``, ``a`` and the past outputs ``zi`` (most recent first)."""
    n_samples, order, tiny = x.shape[1], zi.shape[1], np.finfo(y.dtype).tiny
    item_stride, step_stride = _strides(a)
    gain_item, gain_step = _strides(gain)
    for b in range(first, stop):
        item = b * item_stride
        for n in range(n_samples):
            step = n * step_stride
            inv = unit / a[item, step, 0] if lead else unit
            acc = x[b, n] * gain[b * gain_item, n * gain_step] * inv
            for k in range(order, 0, -1):  # the most recent output last: the shortest dependency chain
                past = y[b, n - k] if n >= k else zi[b, k - n - 1]
                acc -= a[item, step, lead + k - 1] * inv * past
            y[b, n] = acc
            if n & _FLUSH == _FLUSH:  # the state: the last K outputs
                for k in range(min(order, n + 1)):
                    y[b, n - k] = flushed(y[b, n - k], tiny)


def _allpole2_rows(first, stop, x, gain, a, lead, zi, unit, y):  # pragma: no cover - compiled; tested against "loop"
    """Order 2, two items at a time (two independent dependency chains keep the core busy), the
    past outputs in registers; an odd last item runs as its own pair (same values written twice)."""
    n_samples, tiny = x.shape[1], np.finfo(y.dtype).tiny
    item_stride, step_stride = _strides(a)
    gain_item, gain_step = _strides(gain)
    for b in range(first, stop, 2):
        c = b + 1 if b + 1 < stop else b
        ib = b * item_stride
        ic = c * item_stride
        p1, p2, q1, q2 = zi[b, 0], zi[b, 1], zi[c, 0], zi[c, 1]
        for n in range(n_samples):
            step = n * step_stride
            inv = unit / a[ib, step, 0] if lead else unit
            jnv = unit / a[ic, step, 0] if lead else unit
            drive_b = x[b, n] * gain[b * gain_item, n * gain_step]
            drive_c = x[c, n] * gain[c * gain_item, n * gain_step]
            out_b = drive_b * inv - a[ib, step, lead + 1] * inv * p2 - a[ib, step, lead] * inv * p1
            out_c = drive_c * jnv - a[ic, step, lead + 1] * jnv * q2 - a[ic, step, lead] * jnv * q1
            y[b, n] = out_b
            y[c, n] = out_c
            p2, p1, q2, q1 = p1, out_b, q1, out_c
            if n & _FLUSH == _FLUSH:
                p1, p2, q1, q2 = flushed(p1, tiny), flushed(p2, tiny), flushed(q1, tiny), flushed(q2, tiny)


def _allpole_adjoint_rows(first, stop, g, gain, a, lead, zi, y, unit, gx, ga, gzi):  # pragma: no cover - compiled
    """Any order, one reversed pass: ``gx[b, n] = l[n] gain[b, n]``, ``ga`` (per sample, or summed
    over time in float64 for fixed ``a``) and ``gzi`` (module docstring)."""
    n_samples, order, width, tiny = g.shape[1], zi.shape[1], a.shape[2], np.finfo(gx.dtype).tiny
    item_stride, step_stride = _strides(a)
    gain_item, gain_step = _strides(gain)
    for b in range(first, stop):
        item = b * item_stride
        sums = np.zeros(width)
        for end in range(n_samples, 0, -FLUSH_EVERY):  # blocks in reversed time, each then flushed
            low = max(end - FLUSH_EVERY, 0)
            for n in range(end - 1, low - 1, -1):
                step = n * step_stride
                inv = unit / a[item, step, 0] if lead else unit
                acc = g[b, n] * inv
                for k in range(order, 0, -1):
                    if n + k < n_samples:
                        acc -= a[item, (n + k) * step_stride, lead + k - 1] * inv * gx[b, n + k]
                gx[b, n] = acc
                for k in range(1 - lead, order + 1):
                    past = y[b, n - k] if n >= k else zi[b, k - n - 1]
                    if step_stride:
                        ga[b, n, lead + k - 1] = -acc * past
                    else:
                        sums[lead + k - 1] -= acc * past
            for k in range(min(order, n_samples - low)):  # the state for the next block: l[low .. low+K-1]
                gx[b, low + k] = flushed(gx[b, low + k], tiny)
        if not step_stride:
            for j in range(width):
                ga[b, 0, j] = sums[j]
        for j in range(1, order + 1):  # zi[j-1] = y[-j] feeds y[k-j] through a[k-j, lead+k-1]
            total = 0.0
            for k in range(j, min(order, n_samples + j - 1) + 1):
                total += a[item, (k - j) * step_stride, lead + k - 1] * gx[b, k - j]
            gzi[b, j - 1] = -total
        for n in range(n_samples):  # gx held l[n] (read back above) until here
            gx[b, n] *= gain[b * gain_item, n * gain_step]


def _allpole2_adjoint_rows(first, stop, g, gain, a, lead, zi, y, unit, gx, ga, gzi):  # pragma: no cover - compiled
    """Order 2, one reversed pass, two items at a time (as :func:`_allpole2_rows`), the adjoint,
    the outputs and the coefficients it needs in registers; ``gx[b, n] = l[n] gain[b, n]``."""
    n_samples, tiny = g.shape[1], np.finfo(gx.dtype).tiny
    item_stride, step_stride = _strides(a)
    gain_item, gain_step = _strides(gain)
    zero = unit - unit
    last = n_samples - 1
    for b in range(first, stop, 2):
        c = b + 1 if b + 1 < stop else b
        ib = b * item_stride
        ic = c * item_stride
        # l[n+1], l[n+2]; a[n+1, lead] and a[n+2, lead+1] (multiplying them); a[n+1, lead+1]
        lb1, lb2, cb1, cb2, db2 = zero, zero, zero, zero, zero
        lc1, lc2, cc1, cc2, dc2 = zero, zero, zero, zero, zero
        sb0, sb1, sb2, sc0, sc1, sc2 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0  # float64 sums for fixed coefficients
        # y[n], y[n-1], y[n-2] (the state before the block for negative times)
        yb0 = y[b, last]
        yb1 = y[b, last - 1] if last >= 1 else zi[b, 0]
        yb2 = y[b, last - 2] if last >= 2 else zi[b, 1 - last]
        yc0 = y[c, last]
        yc1 = y[c, last - 1] if last >= 1 else zi[c, 0]
        yc2 = y[c, last - 2] if last >= 2 else zi[c, 1 - last]
        for n in range(last, -1, -1):
            step = n * step_stride
            inv = unit / a[ib, step, 0] if lead else unit
            jnv = unit / a[ic, step, 0] if lead else unit
            lam_b = g[b, n] * inv - cb2 * inv * lb2 - cb1 * inv * lb1
            lam_c = g[c, n] * jnv - cc2 * jnv * lc2 - cc1 * jnv * lc1
            gx[b, n] = lam_b * gain[b * gain_item, n * gain_step]
            gx[c, n] = lam_c * gain[c * gain_item, n * gain_step]
            if step_stride:
                if lead:
                    ga[b, n, 0] = -lam_b * yb0
                    ga[c, n, 0] = -lam_c * yc0
                ga[b, n, lead] = -lam_b * yb1
                ga[b, n, lead + 1] = -lam_b * yb2
                ga[c, n, lead] = -lam_c * yc1
                ga[c, n, lead + 1] = -lam_c * yc2
            else:
                sb0 -= lam_b * yb0
                sb1 -= lam_b * yb1
                sb2 -= lam_b * yb2
                sc0 -= lam_c * yc0
                sc1 -= lam_c * yc1
                sc2 -= lam_c * yc2
            cb2, db2, cb1 = db2, a[ib, step, lead + 1], a[ib, step, lead]
            cc2, dc2, cc1 = dc2, a[ic, step, lead + 1], a[ic, step, lead]
            lb2, lb1, lc2, lc1 = lb1, lam_b, lc1, lam_c
            if n & _FLUSH == 0:
                lb1, lb2, lc1, lc2 = flushed(lb1, tiny), flushed(lb2, tiny), flushed(lc1, tiny), flushed(lc2, tiny)
            yb0, yb1, yc0, yc1 = yb1, yb2, yc1, yc2
            if n >= 3:
                yb2, yc2 = y[b, n - 3], y[c, n - 3]
            elif n >= 1:
                yb2, yc2 = zi[b, 2 - n], zi[c, 2 - n]
        if not step_stride:
            if lead:
                ga[b, 0, 0] = sb0
                ga[c, 0, 0] = sc0
            ga[b, 0, lead] = sb1
            ga[b, 0, lead + 1] = sb2
            ga[c, 0, lead] = sc1
            ga[c, 0, lead + 1] = sc2
        # y[-1] feeds y[0] (through a[0, lead]) and y[1] (a[1, lead+1]); y[-2] feeds y[0] (a[0, lead+1])
        gzi[b, 0] = -(cb1 * lb1 + cb2 * lb2)
        gzi[b, 1] = -(db2 * lb1)
        gzi[c, 0] = -(cc1 * lc1 + cc2 * lc2)
        gzi[c, 1] = -(dc2 * lc1)


def _states_rows(first, stop, u, A, s0, states):  # pragma: no cover - compiled; tested against "loop"
    """Any state size: ``s[n] = A[n] s[n-1] + u[n]``."""
    n_samples, size, tiny = u.shape[1], u.shape[2], np.finfo(states.dtype).tiny
    item_stride, step_stride = _strides(A)
    for b in range(first, stop):
        item = b * item_stride
        for n in range(n_samples):
            step = n * step_stride
            for i in range(size):
                acc = u[b, n, i]
                for j in range(size):
                    acc += A[item, step, i, j] * (states[b, n - 1, j] if n else s0[b, j])
                states[b, n, i] = acc
            if n & _FLUSH == _FLUSH:
                for i in range(size):
                    states[b, n, i] = flushed(states[b, n, i], tiny)


def _states2_rows(first, stop, u, A, s0, states):  # pragma: no cover - compiled; tested against "loop"
    """State size 2 (state-variable filters) with the state in registers."""
    n_samples, tiny = u.shape[1], np.finfo(states.dtype).tiny
    item_stride, step_stride = _strides(A)
    for b in range(first, stop):
        item = b * item_stride
        p0, p1 = s0[b, 0], s0[b, 1]
        for n in range(n_samples):
            step = n * step_stride
            c0 = u[b, n, 0] + A[item, step, 0, 0] * p0 + A[item, step, 0, 1] * p1
            c1 = u[b, n, 1] + A[item, step, 1, 0] * p0 + A[item, step, 1, 1] * p1
            states[b, n, 0] = c0
            states[b, n, 1] = c1
            p0, p1 = c0, c1
            if n & _FLUSH == _FLUSH:
                p0, p1 = flushed(p0, tiny), flushed(p1, tiny)


# IEEE division (a0 = 0 gives infinities, as in PyTorch, when the data checks are off), and no
# zero test per sample.
_ALLPOLE = compile_kernel(_allpole_rows, error_model="numpy")
_ALLPOLE2 = compile_kernel(_allpole2_rows, error_model="numpy")
_ALLPOLE_ADJOINT = compile_kernel(_allpole_adjoint_rows, error_model="numpy")
_ALLPOLE2_ADJOINT = compile_kernel(_allpole2_adjoint_rows, error_model="numpy")
_STATES = compile_kernel(_states_rows)
_STATES2 = compile_kernel(_states2_rows)


def _arrays(*tensors: Tensor) -> list[np.ndarray]:
    return [t.detach().contiguous().numpy() for t in tensors]


def _unit(dtype: torch.dtype) -> np.generic:
    return np.float32(1) if dtype == torch.float32 else np.float64(1)


Grads = tuple[Tensor, Tensor, Tensor]  # of a structure's drive, coefficients and initial state


def _gain_or_one(gain: Tensor | None, like: Tensor) -> Tensor:
    """The kernels' drive gain ``(batch or 1, n_samples or 1)``: a single 1 when there is none."""
    return like.new_ones(1, 1) if gain is None else gain


def _sum_like(grad: Tensor, like: Tensor) -> Tensor:
    """``grad`` summed over the batch and time axes along which ``like`` broadcasts (size 1)."""
    if like.shape[1] == 1 and grad.shape[1] != 1:
        grad = grad.sum(1, keepdim=True)
    if like.shape[0] == 1 and grad.shape[0] != 1:
        grad = grad.sum(0, keepdim=True)
    return grad


class Recurrence(torch.autograd.Function):
    """``Recurrence.apply(drive, coefficients, initial, structure, gain)``: the outputs of ``structure``
    (:class:`AllPole` or :class:`StateSpace`) driven by ``gain * drive`` (``gain`` None, or for
    all-pole a one-tap numerator, read in the kernels), with exact gradients of any order."""

    @staticmethod
    def forward(ctx, drive: Tensor, coefficients: Tensor, initial: Tensor, structure, gain: Tensor | None = None):
        gain_ = None if gain is None else gain.detach()
        output = structure.run(drive.detach(), coefficients.detach(), initial.detach(), gain_)
        # The output itself is saved (not a copy), so second derivatives see its dependence on
        # the inputs; the drive only with a gain (its gradient is sum l[n] drive[n]).
        ctx.save_for_backward(coefficients, initial, output, gain, None if gain is None else drive)
        ctx.structure = structure
        return output

    @staticmethod
    def backward(ctx, grad: Tensor):
        coefficients, initial, output, gain, drive = ctx.saved_tensors
        # Grad mode is on in backward only when a graph of it is wanted (create_graph=True).
        fused = ctx.structure.engine == "numba" and not torch.is_grad_enabled()
        adjoint = ctx.structure.fused_adjoint if fused else ctx.structure.adjoint
        if gain is None or not ctx.needs_input_grad[4]:
            return (*adjoint(grad, coefficients, initial, output, gain), None, None)
        # The gain's gradient needs the adjoint l itself (the drive's gradient is l * gain).
        lam, grad_coefficients, grad_initial = adjoint(grad, coefficients, initial, output, None)
        return lam * gain, grad_coefficients, grad_initial, None, _sum_like(lam * drive, gain)


@dataclass(frozen=True)
class AllPole:
    """The all-pole structure: drive ``x`` ``(batch, n_samples)``, coefficients ``a`` ``(batch
    or 1, n_samples or 1, lead + K)``, initial state ``zi`` ``(batch, K)`` (the past outputs,
    most recent first); output ``y`` ``(batch, n_samples)``. An optional ``gain`` ``(batch or
    1, n_samples or 1)`` scales the drive (the recurrence runs on ``gain * x``)."""

    lead: int
    engine: str

    def run(self, x: Tensor, a: Tensor, zi: Tensor, gain: Tensor | None = None) -> Tensor:
        if self.engine == "numba":
            y = torch.empty_like(x)
            kernel = _ALLPOLE2 if zi.shape[1] == 2 else _ALLPOLE
            x_, gain_, a_, zi_ = _arrays(x, _gain_or_one(gain, x), a, zi)
            kernel(x.numel() * zi.shape[1], x.shape[0], x_, gain_, a_, self.lead, zi_, _unit(x.dtype), y.numpy())
            return y
        x = x if gain is None else x * gain  # the readable paths scale the drive first
        return (allpole_scan if self.engine == "scan" else allpole_loop)(x, a, self.lead, zi)

    def adjoint(self, g: Tensor, a: Tensor, zi: Tensor, y: Tensor, gain: Tensor | None = None) -> Grads:
        """The gradients w.r.t. ``(x, a, zi)`` from ``g = dL/dy``, differentiably (that of ``x``
        is the adjoint ``l`` times ``gain``)."""
        batch, n_samples = g.shape
        order, lead = zi.shape[1], self.lead
        fixed = a.shape[1] == 1
        # In reversed time m = T-1-n the adjoint is this filter with c[m, lead+k-1] = a[T-1-m+k,
        # lead+k-1] (0 past the end) and the same a0. Fixed coefficients stay fixed: the terms
        # past the end multiply the adjoint's zero initial state, whatever their coefficient.
        if fixed:
            shifted = a
        else:
            padded = torch.cat([a, a.new_zeros(a.shape[0], order, a.shape[2])], dim=1)
            columns = [a[:, :, 0]] if lead else []
            columns += [padded[:, k + 1 : k + 1 + n_samples, lead + k] for k in range(order)]
            shifted = torch.stack(columns, dim=2).flip(1)
        adjoint = Recurrence.apply(g.flip(1), shifted, g.new_zeros(batch, order), self, None).flip(1)
        full = torch.cat([zi.flip(1), y], dim=1)  # outputs from y[-K] on: y[n-k] is full[:, K + n - k]
        past = torch.stack([full[:, order - k : order - k + n_samples] for k in range(1 - lead, order + 1)], dim=2)
        grad_a = _sum_like(-adjoint.unsqueeze(2) * past, a)
        grad_zi = torch.stack(
            [  # zi[j-1] = y[-j] feeds y[k-j] through a[k-j, lead+k-1]
                -sum(
                    (
                        adjoint[:, k - j] * a[:, 0 if fixed else k - j, lead + k - 1]
                        for k in range(j, order + 1)
                        if k - j < n_samples
                    ),
                    g.new_zeros(batch),
                )
                for j in range(1, order + 1)
            ],
            dim=1,
        )
        return (adjoint if gain is None else adjoint * gain), grad_a, grad_zi

    def fused_adjoint(self, g: Tensor, a: Tensor, zi: Tensor, y: Tensor, gain: Tensor | None = None) -> Grads:
        """:meth:`adjoint` as one compiled pass (not differentiable)."""
        batch, n_samples = g.shape
        if n_samples == 0:
            return torch.zeros_like(g), torch.zeros_like(a), torch.zeros_like(zi)
        gx, gzi = torch.empty_like(y), torch.empty_like(zi)
        ga = y.new_empty(batch, a.shape[1], a.shape[2])
        kernel = _ALLPOLE2_ADJOINT if zi.shape[1] == 2 else _ALLPOLE_ADJOINT
        g_, gain_, a_, zi_, y_ = _arrays(g.to(y.dtype), _gain_or_one(gain, y), a, zi, y)
        outputs = gx.numpy(), ga.numpy(), gzi.numpy()
        kernel(g.numel() * a.shape[2], batch, g_, gain_, a_, self.lead, zi_, y_, _unit(y.dtype), *outputs)
        return gx, _sum_like(ga, a), gzi


def allpole_loop(x: Tensor, a: Tensor, lead: int, zi: Tensor) -> Tensor:
    """The all-pole recurrence in PyTorch, one sample at a time (the reference)."""
    order = zi.shape[1]
    outputs = list(zi.unbind(1))[::-1]  # oldest first
    for n in range(x.shape[1]):
        row = a[:, n if a.shape[1] > 1 else 0]
        past = torch.stack(outputs[-1 : -order - 1 : -1], dim=1)  # y[n-1], ..., y[n-K]
        value = x[:, n] - (row[:, lead:] * past).sum(1)
        outputs.append(value / row[:, 0] if lead else value)
    return torch.stack(outputs[order:], dim=1) if x.shape[1] else x.new_zeros(x.shape)


def allpole_scan(x: Tensor, a: Tensor, lead: int, zi: Tensor) -> Tensor:
    """The all-pole recurrence as a parallel scan over its companion matrices (the GPU path)."""
    if lead:  # normalised first: the companion form has no leading coefficient
        x, a = x / a[:, :, 0], a[:, :, 1:] / a[:, :, :1]
    batch, n_samples = x.shape
    order = zi.shape[1]
    companion = a.new_zeros(a.shape[0], a.shape[1], order, order)
    companion[:, :, 0, :] = -a
    if order > 1:
        companion[:, :, 1:, :-1] = torch.eye(order - 1, dtype=a.dtype, device=a.device)
    drive = x.new_zeros(batch, n_samples, order)
    drive[:, :, 0] = x
    return scan(drive, companion, zi)[:, :, 0]  # the state is [y[n], ..., y[n-K+1]]


@dataclass(frozen=True)
class StateSpace:
    """The state-space structure: drive ``u`` ``(batch, n_samples, N)``, matrices ``A`` ``(batch
    or 1, n_samples or 1, N, N)``, initial state ``s0`` ``(batch, N)``; output the states."""

    engine: str

    def run(self, u: Tensor, A: Tensor, s0: Tensor, gain: None = None) -> Tensor:
        if self.engine == "numba":
            states = torch.empty_like(u)
            kernel = _STATES2 if u.shape[-1] == 2 else _STATES
            kernel(u.numel() * u.shape[-1], u.shape[0], *_arrays(u, A, s0), states.numpy())
            return states
        return scan(u, A, s0) if self.engine == "scan" else state_space_loop(u, A, s0)

    def adjoint(self, grad_states: Tensor, A: Tensor, s0: Tensor, states: Tensor, gain: None = None) -> Grads:
        """The gradients w.r.t. ``(u, A, s0)``, differentiably (no gain: ``u`` is the drive)."""
        batch, n_samples, size = grad_states.shape
        # Adjoint l[n] = g[n] + A[n+1]^T l[n+1]; in reversed time m = T-1-n it is the forward
        # recursion with matrices B[m] = A[T-m]^T (B[0] multiplies l[T] = 0).
        transposed = A.transpose(-1, -2)
        if A.shape[1] > 1:
            shifted = torch.cat([transposed[:, 1:], torch.zeros_like(transposed[:, :1])], dim=1).flip(1)
        else:
            shifted = transposed
        adjoint = Recurrence.apply(grad_states.flip(1), shifted, grad_states.new_zeros(batch, size), self, None).flip(1)
        previous = torch.cat([s0.unsqueeze(1), states[:, :-1]], dim=1)
        grad_A = _sum_like(adjoint.unsqueeze(-1) * previous.unsqueeze(-2), A)  # (batch, T, N, N) reduced
        grad_s0 = torch.einsum("bji,bj->bi", A[:, 0].expand(batch, size, size), adjoint[:, 0])
        return adjoint, grad_A, grad_s0

    fused_adjoint = adjoint  # no separate kernel: the adjoint is one more run of the recurrence


def state_space_loop(u: Tensor, A: Tensor, s0: Tensor) -> Tensor:
    """The state-space recurrence in PyTorch, one sample at a time (the reference)."""
    states, previous = [], s0
    for n in range(u.shape[1]):
        previous = torch.einsum("bij,bj->bi", A[:, n if A.shape[1] > 1 else 0], previous) + u[:, n]
        states.append(previous)
    return torch.stack(states, dim=1) if states else torch.zeros_like(u)


def allpole(x: Tensor, a: Tensor, zi: Tensor, lead: int, engine: str, gain: Tensor | None = None) -> Tensor:
    """``y`` of the all-pole recurrence (:class:`AllPole`) driven by ``gain * x`` (``gain`` ``(batch or
    1, n_samples or 1)``, default 1), differentiable in all four."""
    return Recurrence.apply(x, a, zi, AllPole(lead, engine), gain)


def state_space(u: Tensor, A: Tensor, s0: Tensor, engine: str) -> Tensor:
    """The states of ``s[n] = A[n] s[n-1] + u[n]`` (:class:`StateSpace`), differentiable."""
    return Recurrence.apply(u, A, s0, StateSpace(engine), None)
