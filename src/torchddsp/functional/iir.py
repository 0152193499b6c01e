"""IIR filtering of any order: ``lfilter`` (one rational transfer function) and ``sosfilt``
(a cascade of second-order sections), with fixed, per-sample or per-frame coefficients.

Both are direct form I: the FIR part ``v[n] = sum_k b[n, k] x[n-k]`` (shifted products, exact
in both directions; a one-tap ``b`` is a gain that the recursion reads itself, no pass of its
own), then the all-pole recurrence with its leading coefficient ``y[n] = (v[n] - sum_k a[n, k]
y[n-k]) / a[n, 0]`` (:mod:`~torchddsp.functional.engine.recurrence`, the one ``allpole_filter``
runs without ``a0``; the kernels divide by ``a0``, so per-sample coefficients are never
normalised by a copy). Gradients are exact to any order. Direct form I
keeps past inputs and past outputs as its state, which stays meaningful when the coefficients
change from sample to sample (the transposed form's state does not), so filtering a long signal
in chunks with the returned state equals one call even for time-varying filters.

Coefficient layouts: those of :mod:`~torchddsp.functional.allpole` (``(n,)`` as scipy,
``(batch or 1, n)`` fixed, ``(batch or 1, n_samples, n)`` per sample, ``Control.per_frame``
of ``(batch or 1, n_frames, n)``); ``sos`` the same with ``(n_sections, 6)`` rows in place of
``n``. A frame-rate denominator (and the numerator with it) is divided by its ``a0`` frame by
frame before the linear interpolation: interpolating normalised second-order denominators keeps
them stable (the stability triangle of ``(a1, a2)`` is convex), interpolating raw rows does not
when ``a0`` changes across frames.

State layout (``state`` in, returned with ``return_state=True``), with the leading dimensions of
``x``: for ``lfilter``, ``(..., (n_b - 1) + (n_a - 1))``: the last ``n_b - 1`` inputs then the
last ``n_a - 1`` outputs, each most recent first; for ``sosfilt``, ``(..., n_sections, 4)``: per
section ``[x[n-1], x[n-2], y[n-1], y[n-2]]``. Zeros (the default) mean the filter starts at
rest. This is not scipy's ``zi`` (transposed direct form II). Passing the returned state with
the following samples continues exactly as one call over the concatenated input.
"""

from __future__ import annotations

from typing import TypeGuard

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .allpole import coefficient_rows
from .allpole import past_outputs
from .allpole import state_like
from .controls import Control
from .controls import Rate
from .engine.recurrence import allpole
from .engine.recurrence import engine_for
from .fir import fft_convolve
from .layout import flatten_audio
from .layout import restore_audio

__all__ = ["lfilter", "sosfilt"]


def _per_frame(value: object) -> TypeGuard[Control]:
    return isinstance(value, Control) and value.rate is Rate.FRAME


def _normalise_frames(b: Tensor | Control, a: Tensor | Control) -> tuple[Tensor | Control, Tensor | Control]:
    """A frame-rate denominator ``(batch or 1, n_frames, n_a)`` and the numerator divided by its
    ``a0`` frame by frame (module docstring); others pass through."""
    if not _per_frame(a):
        return b, a
    frames = check_rank("a", check_tensor("a", a.value), 3, "(batch or 1, n_frames, n_a)")
    check_finite("a", frames)
    leading = frames[..., :1]
    if data_checks_enabled() and bool((leading == 0).any()):
        raise InputError("a: the leading denominator coefficient a0 must not be 0 in any frame")
    if _per_frame(b):
        numerator = check_rank("b", check_tensor("b", b.value), 3, "(batch or 1, n_frames, n_b)")
        if numerator.shape[1] != frames.shape[1]:
            raise InputError(
                f"frame-rate b and a must have the same frames, found {numerator.shape[1]} and {frames.shape[1]}"
            )
    else:
        given = b.value if isinstance(b, Control) else b
        if not isinstance(given, Tensor) or given.dim() > 2 or (isinstance(b, Control) and b.rate is Rate.SAMPLE):
            raise InputError("with a frame-rate a, b must be fixed ((n_b,) or (batch or 1, n_b)) or per frame")
        numerator = given.reshape(-1 if given.dim() == 2 else 1, 1, given.shape[-1])
    return Control.per_frame(numerator / leading), Control.per_frame(frames / leading)


def _check_leading(a: Tensor, y: Tensor) -> None:
    """Raise if ``a[..., 0]`` is 0 anywhere (a data check), after filtering: with finite inputs
    (checked before) a zero ``a0`` makes its output ``inf`` or NaN (IEEE division), so one sum
    of the contiguous ``y`` clears the usual case; the strided ``a0`` column (a slower read and
    a temporary) is read only when that sum is not finite (a zero ``a0``, or an unstable filter
    that overflowed, which is not an error) or ``y`` is empty."""
    if not data_checks_enabled() or not a.numel():
        return
    if y.numel() and bool(torch.isfinite(y.detach().sum())):
        return
    if bool((a[..., 0] == 0).any()):
        raise InputError("a[..., 0] must not be 0 (the filter would not be causal)")


def _fir(x: Tensor, b: Tensor, past_x: Tensor) -> Tensor:
    """``v[n] = sum_k b[n, k] x[n-k]`` with the ``n_b - 1`` past inputs (most recent first)."""
    n_b, n_samples = b.shape[2], x.shape[1]
    if n_b == 1:
        return x * b[..., 0]
    extended = torch.cat([past_x.flip(1), x], dim=1)
    out = b[..., 0] * x
    for k in range(1, n_b):
        out = out + b[..., k] * extended[:, n_b - 1 - k : n_b - 1 - k + n_samples]
    return out


@half_in_float32
def lfilter(
    x: Tensor,
    b: Tensor | Control,
    a: Tensor | Control,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    backend: str = "auto",
    method: str = "exact",
    n_fft: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Filter ``x`` by ``B(z) / A(z)``, as ``scipy.signal.lfilter(b, a, x)``, batched and
    optionally time-varying.

    Args:
        x: input ``(..., n_samples)``.
        b: numerator, ``(n_b,)``, ``(batch or 1, n_b)`` (fixed), ``(batch or 1, n_samples,
            n_b)`` (per sample) or ``Control.per_frame`` of ``(batch or 1, n_frames, n_b)``
            (upsampled linearly, frame ``i`` at sample ``i * n_samples / n_frames``).
        a: denominator with its leading term, same layouts; everything is divided by
            ``a[..., 0]``, which must not be 0 (a frame-rate ``a`` divides ``b`` frame by frame).
        state: ``(..., (n_b - 1) + (n_a - 1))`` (module docstring); zeros (at rest) by default.
        return_state: also return the state after the last sample (to filter in chunks).
        backend: of the recursion: ``"auto"``, ``"numba"`` or ``"torch"``.
        method: ``"exact"`` (the recursion) or ``"frequency_sampling"``: an approximation, for
            comparison with libraries that filter this way. It samples ``B / A`` at ``n_fft``
            frequencies, takes the inverse FFT as an ``n_fft``-tap impulse response and
            convolves: the true (infinite) response is truncated and time-aliased, badly for
            poles near the unit circle. Fixed coefficients only, no state.
        n_fft: FFT size of ``"frequency_sampling"`` (required there).

    Returns:
        ``y`` ``(..., n_samples)`` (and the state). Differentiable in ``x``, ``b``, ``a`` and
        ``state``, to any order. With ``n_a == 1`` it is an FIR filter.

    Example:
        >>> lfilter(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([2.0]), torch.tensor([2.0, -1.0])).tolist()
        [1.0, 0.5, 0.25]
    """
    flat, leading = flatten_audio("x", x)
    check_finite("x", flat)
    if method == "frequency_sampling":
        return restore_audio(_frequency_sampling(flat, b, a, state, return_state, n_fft), leading)
    if method != "exact":
        raise InputError(f"method must be 'exact' or 'frequency_sampling', found {method!r}")
    batch, n_samples = flat.shape
    engine = engine_for(backend, flat.device)
    b, a = _normalise_frames(b, a)
    b, a = coefficient_rows("b", b, batch, n_samples), coefficient_rows("a", a, batch, n_samples)
    n_b, n_a = b.shape[2], a.shape[2]
    if n_b < 1 or n_a < 1:
        raise InputError(f"b and a must hold at least one coefficient, found {n_b} and {n_a}")
    dtype = torch.promote_types(torch.promote_types(flat.dtype, b.dtype), a.dtype)
    flat, b, a = flat.to(dtype), b.to(dtype), a.to(dtype)
    before = state_like("state", state, leading, ((n_b - 1) + (n_a - 1),), flat)
    past_x, past_y = before[:, : n_b - 1], before[:, n_b - 1 :]
    if n_b == 1 and n_a > 1:  # a gain (decided by the shape): read inside the recursion, no pass of its own
        y = allpole(flat, a, past_y, 1, engine, gain=b[..., 0])
    else:
        v = _fir(flat, b, past_x)
        y = v / a[..., 0] if n_a == 1 else allpole(v, a, past_y, 1, engine)
    _check_leading(a, y)
    if not return_state:
        return restore_audio(y, leading)
    new_x = past_outputs(past_x, flat, n_b - 1) if n_b > 1 else flat.new_zeros(batch, 0)
    new_y = past_outputs(past_y, y, n_a - 1) if n_a > 1 else flat.new_zeros(batch, 0)
    return restore_audio(y, leading), restore_audio(torch.cat([new_x, new_y], dim=1), leading)


def _frequency_sampling(
    x: Tensor, b: Tensor | Control, a: Tensor | Control, state: Tensor | None, return_state: bool, n_fft: int | None
) -> Tensor:
    """``lfilter(..., method="frequency_sampling")`` on ``x`` ``(batch, n_samples)``."""
    if n_fft is None:
        raise InputError("n_fft is required with method='frequency_sampling'")
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    if state is not None or return_state:
        raise InputError("method='frequency_sampling' has no state: state and return_state need method='exact'")
    rows = []
    for name, given in (("b", b), ("a", a)):
        layout = f"(n_{name},) or (batch or 1, n_{name}) (fixed coefficients with frequency sampling)"
        value = check_rank(name, check_tensor(name, given), (1, 2), layout)
        check_finite(name, value)
        if value.shape[-1] > n_fft:
            raise InputError(f"{name} has {value.shape[-1]} coefficients, more than n_fft ({n_fft})")
        rows.append(value.reshape(-1, value.shape[-1]))
    response = torch.fft.rfft(rows[0], n_fft) / torch.fft.rfft(rows[1], n_fft)
    impulse_response = torch.fft.irfft(response, n_fft)
    return fft_convolve(x, impulse_response.to(x.dtype), padding="same", delay_compensation=0)


def _sections(sos: Tensor | Control, batch: int, n_samples: int) -> Tensor:
    """``sos`` in a layout of the module docstring -> ``(batch or 1, n_samples or 1, n_sections,
    6)``; a frame-rate ``sos`` normalised by ``a0`` per frame, then upsampled."""
    per_frame = _per_frame(sos)
    value = check_tensor("sos", sos.value if isinstance(sos, Control) else sos)
    check_rank(
        "sos",
        value,
        (2, 3, 4),
        "(n_sections, 6), (batch, n_sections, 6) or (batch, n_samples or n_frames, n_sections, 6)",
    )
    if value.shape[-1] != 6:
        raise InputError(f"sos rows must hold 6 coefficients [b0, b1, b2, a0, a1, a2], found {value.shape[-1]}")
    n_sections = value.shape[-2]
    if n_sections < 1:
        raise InputError("sos must hold at least one section")
    if per_frame:
        check_rank("sos", value, 4, "(batch or 1, n_frames, n_sections, 6) per frame")
        check_finite("sos", value)
        if data_checks_enabled() and bool((value[..., 3] == 0).any()):
            raise InputError("sos: the leading denominator coefficient a0 must not be 0 in any frame")
        value = value / value[..., 3:4]
    rows = value.reshape(*value.shape[:-2], n_sections * 6) if value.dim() >= 3 else value.reshape(1, -1)
    rows = coefficient_rows("sos", Control.per_frame(rows) if per_frame else rows, batch, n_samples)
    return rows.reshape(rows.shape[0], rows.shape[1], n_sections, 6)


@half_in_float32
def sosfilt(
    x: Tensor, sos: Tensor | Control, *, state: Tensor | None = None, return_state: bool = False, backend: str = "auto"
) -> Tensor | tuple[Tensor, Tensor]:
    """Cascade of second-order sections, as ``scipy.signal.sosfilt(sos, x)``, batched and
    optionally time-varying.

    Args:
        x: input ``(..., n_samples)``.
        sos: rows ``[b0, b1, b2, a0, a1, a2]``: ``(n_sections, 6)`` (as scipy), ``(batch or 1,
            n_sections, 6)``, per sample ``(batch or 1, n_samples, n_sections, 6)``, or
            ``Control.per_frame`` of ``(batch or 1, n_frames, n_sections, 6)`` (normalised by
            ``a0`` per frame, then upsampled linearly, which keeps every stable section stable).
        state: ``(..., n_sections, 4)`` (module docstring); zeros (at rest) by default.
        return_state, backend: as :func:`lfilter`.

    Example:
        >>> sosfilt(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([[1.0, 0, 0, 1, -0.5, 0]])).tolist()
        [1.0, 0.5, 0.25]
    """
    flat, leading = flatten_audio("x", x)
    sos = _sections(sos, flat.shape[0], flat.shape[1])
    n_sections = sos.shape[2]
    before = None if state is None else state_like("state", state, leading, (n_sections, 4), flat)
    states = []
    y = flat
    for section in range(n_sections):
        y, section_state = lfilter(
            y,
            sos[:, :, section, :3],
            sos[:, :, section, 3:],
            return_state=True,
            state=None if before is None else before[:, section],
            backend=backend,
        )
        states.append(section_state)
    y = restore_audio(y, leading)
    return (y, restore_audio(torch.stack(states, dim=1), leading)) if return_state else y
