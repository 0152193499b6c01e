"""IIR filtering of any order: ``lfilter`` (one rational transfer function) and ``sosfilt``
(a cascade of second-order sections), with fixed or per-sample coefficients.

Both are direct form I: the FIR part ``v[n] = sum_k b[n, k] x[n-k]`` (shifted products, exact
in both directions), then the recursion of :func:`~torchddsp.functional.allpole.allpole_filter`,
whose gradients are exact to any order. Direct form I keeps past inputs and past outputs as its
state, which stays meaningful when the coefficients change from sample to sample (the
transposed form's state does not), so filtering a long signal in chunks with the returned
state equals one call even for time-varying filters.

State layout (``zi`` in, returned with ``return_state=True``): for ``lfilter``,
``(batch, (n_b - 1) + (n_a - 1))``: the last ``n_b - 1`` inputs then the last ``n_a - 1``
outputs, each most recent first; for ``sosfilt``, ``(batch, n_sections, 4)``: per section
``[x[n-1], x[n-2], y[n-1], y[n-2]]``. Zeros (the default) mean the filter starts at rest.
This is not scipy's ``zi`` (transposed direct form II).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import check_finite, check_positive_int, check_rank, half_in_float32
from .allpole import allpole_filter, per_sample_coefficients
from .fir import fft_convolve
from .resampling import upsample
from ..validation import InputError

__all__ = ["lfilter", "sosfilt"]


def _is_frame_rate(coefficients: Tensor, n_samples: int) -> bool:
    return isinstance(coefficients, Tensor) and coefficients.dim() >= 3 and coefficients.shape[1] not in (1, n_samples)


def _frames_to_samples(name: str, coefficients: Tensor, n_samples: int) -> Tensor:
    """Frame-rate coefficients ``(batch, n_frames, ...)`` (``n_frames`` neither 1 nor
    ``n_samples``) upsampled linearly to one set per sample (the library's frame convention,
    last frame held); others pass through."""
    if not _is_frame_rate(coefficients, n_samples):
        return coefficients  # fixed or per-sample (or not a tensor: per_sample_coefficients says so)
    check_finite(name, coefficients)
    shape = coefficients.shape
    flat = coefficients.reshape(shape[0], shape[1], -1)
    return upsample(flat, n_samples, "linear").reshape(shape[0], n_samples, *shape[2:])


def _normalise_frames(name: str, numerator: Tensor, denominator: Tensor, n_samples: int) -> tuple[Tensor, Tensor]:
    """Divide frame-rate coefficients by their leading denominator term frame by frame, before
    any interpolation: interpolating normalised second-order denominators keeps them stable
    (the stability triangle of ``(a1, a2)`` is convex), which interpolating raw rows does not
    when ``a0`` changes across frames."""
    if not _is_frame_rate(denominator, n_samples):
        return numerator, denominator
    check_finite(name, denominator)
    leading = denominator[..., :1]
    if bool((leading == 0).any()):
        raise InputError(f"{name}: the leading denominator coefficient a0 must not be 0 in any frame")
    if _is_frame_rate(numerator, n_samples) and numerator.shape[1] != denominator.shape[1]:
        raise InputError(f"frame-rate numerator and denominator must have the same frames, found "
                         f"{numerator.shape[1]} and {denominator.shape[1]}")
    if isinstance(numerator, Tensor) and numerator.dim() == denominator.dim() - 1:
        numerator = numerator.unsqueeze(1)  # fixed numerator: one set, divided per frame
    return numerator / leading, denominator / leading


@half_in_float32
def lfilter(x: Tensor, b: Tensor, a: Tensor, zi: Tensor | None = None, *, return_state: bool = False,
            backend: str = "auto", method: str = "exact", n_fft: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Filter ``x`` by ``B(z) / A(z)``, as ``scipy.signal.lfilter(b, a, x)``, batched and
    optionally time-varying.

    Args:
        x: input ``(batch, n_samples)``.
        b: numerator ``(batch or 1, n_b)``, per sample ``(batch or 1, n_samples, n_b)``, or per
            frame ``(batch or 1, n_frames, n_b)`` with ``n_frames != n_samples`` (normalised by
            the frame's ``a0``, then upsampled linearly to one set per sample, frame ``i`` at
            sample ``i * n_samples / n_frames``).
        a: denominator with its leading term, same layouts as ``b``; everything is divided by
            ``a[..., 0]``, which must not be 0.
        zi: state ``(batch, (n_b - 1) + (n_a - 1))`` (module docstring); zeros by default.
        return_state: also return the state after the last sample.
        backend: of the recursion (see :func:`allpole_filter`).
        method: ``"exact"`` (the recursion) or ``"frequency_sampling"``: an approximation, for
            comparison with libraries that filter this way. It samples ``B / A`` at ``n_fft``
            frequencies, takes the inverse FFT as an ``n_fft``-tap impulse response and
            convolves: the true (infinite) response is truncated and time-aliased, badly for
            poles near the unit circle. Fixed coefficients only, no state.
        n_fft: FFT size of ``"frequency_sampling"`` (required there).

    Returns:
        ``y`` ``(batch, n_samples)`` (and the state). Differentiable in ``x``, ``b``, ``a`` and
        ``zi``, to any order. With ``n_a == 1`` it is an FIR filter.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_finite("x", x)
    if method == "frequency_sampling":
        return _frequency_sampling(x, b, a, zi, return_state, n_fft)
    if method != "exact":
        raise InputError(f"method must be 'exact' or 'frequency_sampling', found {method!r}")
    batch, n_samples = x.shape
    b, a = _normalise_frames("a", b, a, n_samples)
    b = per_sample_coefficients("b", _frames_to_samples("b", b, n_samples), batch, n_samples)
    a = per_sample_coefficients("a", _frames_to_samples("a", a, n_samples), batch, n_samples)
    n_b, n_a = b.shape[2], a.shape[2]
    if n_b < 1 or n_a < 1:
        raise InputError(f"b and a must hold at least one coefficient, found {n_b} and {n_a}")
    if bool((a[..., 0] == 0).any()):
        raise InputError("a[..., 0] must not be 0 (the filter would not be causal)")
    dtype = torch.promote_types(torch.promote_types(x.dtype, b.dtype), a.dtype)
    x, b, a = x.to(dtype), b.to(dtype), a.to(dtype)
    state_size = (n_b - 1) + (n_a - 1)
    if zi is None:
        zi = x.new_zeros(batch, state_size)
    else:
        check_rank("zi", zi, 2, "(batch, (n_b - 1) + (n_a - 1))")
        check_finite("zi", zi)
        if zi.shape != (batch, state_size):
            raise InputError(f"zi must have shape ({batch}, {state_size}), found {tuple(zi.shape)}")
        zi = zi.to(dtype)
    past_x, past_y = zi[:, : n_b - 1], zi[:, n_b - 1 :]
    leading = a[..., :1]
    b, a = b / leading, a[..., 1:] / leading
    # FIR part over the inputs with their history in front (oldest first).
    extended = torch.cat([past_x.flip(1), x], dim=1)
    v = sum(b[..., k] * extended[:, n_b - 1 - k : n_b - 1 - k + n_samples] for k in range(n_b))
    if n_a == 1:
        y = v
    else:
        y = allpole_filter(v, a, past_y, backend=backend)
    if not return_state:
        return y
    new_x = extended[:, -(n_b - 1) :].flip(1) if n_b > 1 else x.new_zeros(batch, 0)
    new_y = torch.cat([past_y.flip(1), y], dim=1)[:, -(n_a - 1) :].flip(1) if n_a > 1 else x.new_zeros(batch, 0)
    return y, torch.cat([new_x, new_y], dim=1)


def _frequency_sampling(x: Tensor, b: Tensor, a: Tensor, zi: Tensor | None, return_state: bool,
                        n_fft: int | None) -> Tensor:
    """``lfilter(..., method="frequency_sampling")``: see its docstring."""
    if n_fft is None:
        raise InputError("n_fft is required with method='frequency_sampling'")
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    if zi is not None or return_state:
        raise InputError("method='frequency_sampling' has no state: zi and return_state need method='exact'")
    for name, value in (("b", b), ("a", a)):
        check_rank(name, value, 2, f"(batch or 1, n_{name}) (fixed coefficients with frequency sampling)")
        check_finite(name, value)
        if value.shape[-1] > n_fft:
            raise InputError(f"{name} has {value.shape[-1]} coefficients, more than n_fft ({n_fft})")
    response = torch.fft.rfft(b, n_fft) / torch.fft.rfft(a, n_fft)
    impulse_response = torch.fft.irfft(response, n_fft)
    return fft_convolve(x, impulse_response.to(x.dtype), padding="same", delay_compensation=0)


@half_in_float32
def sosfilt(x: Tensor, sos: Tensor, zi: Tensor | None = None, *, return_state: bool = False,
            backend: str = "auto") -> Tensor | tuple[Tensor, Tensor]:
    """Cascade of second-order sections, as ``scipy.signal.sosfilt(sos, x)``, batched and
    optionally time-varying.

    Args:
        x: input ``(batch, n_samples)``.
        sos: ``(batch or 1, n_sections, 6)`` rows ``[b0, b1, b2, a0, a1, a2]``, per sample
            ``(batch or 1, n_samples, n_sections, 6)``, or per frame ``(batch or 1, n_frames,
            n_sections, 6)`` (normalised by ``a0`` per frame, then upsampled linearly, which keeps
            every stable section stable).
        zi: state ``(batch, n_sections, 4)`` (module docstring); zeros by default.
        return_state, backend: as :func:`lfilter`.
    """
    check_rank("x", x, 2, "(batch, n_samples)")
    check_rank("sos", sos, (3, 4), "(batch, n_sections, 6) or (batch, n_samples, n_sections, 6)")
    if sos.shape[-1] != 6:
        raise InputError(f"sos rows must hold 6 coefficients [b0, b1, b2, a0, a1, a2], found {sos.shape[-1]}")
    n_sections = sos.shape[-2]
    if n_sections < 1:
        raise InputError("sos must hold at least one section")
    if zi is not None:
        check_rank("zi", zi, 3, "(batch, n_sections, 4)")
        if zi.shape != (x.shape[0], n_sections, 4):
            raise InputError(f"zi must have shape ({x.shape[0]}, {n_sections}, 4), found {tuple(zi.shape)}")
    if sos.dim() == 4:
        numerator, denominator = _normalise_frames("sos", sos[..., :3], sos[..., 3:], x.shape[1])
        sos = _frames_to_samples("sos", torch.cat([numerator, denominator], dim=-1), x.shape[1])
    states = []
    y = x
    for section in range(n_sections):
        coefficients = sos[..., section, :]
        result = lfilter(y, coefficients[..., :3], coefficients[..., 3:],
                         None if zi is None else zi[:, section], return_state=True, backend=backend)
        y, state = result
        states.append(state)
    return (y, torch.stack(states, dim=1)) if return_state else y
