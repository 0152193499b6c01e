"""Feedback delay network (FDN) reverberation: delay lines, an orthogonal mixing matrix and
per-line attenuation filters set from per-band reverberation times (Jot and Chaigne, 1991).

The network is linear and time-invariant, so its impulse response is computed from its exact
transfer function, sampled on ``n_fft`` frequencies (as in the differentiable FDN of Dal Santo
et al., 2023)::

    H(z) = c^T (I - G(z) D(z) A)^-1 G(z) D(z) b,    D = diag(z^-m_i),  G = diag(g_i(z))

with delays ``m_i`` samples, feedback matrix ``A`` (orthogonal: lossless, so all decay comes
from ``G``), input gains ``b``, output gains ``c``. Each attenuation filter ``g_i`` is a
broadband gain times a cascade of low shelves (Audio EQ Cookbook, Q = 1/sqrt(2)) placed at the
band edges, designed so that band ``k`` loses ``60 m_i / (RT60_k f_s)`` dB per pass: a sound
in that band decays by 60 dB in ``RT60_k`` seconds, whichever lines it travels.

Sampling the transfer function time-aliases the (infinite) response by ``n_fft`` samples; the
default ``n_fft`` (a power of two >= twice the longest RT60, and >= ``n_samples``) puts the
aliased part at least 120 dB down. Every step (``torch.linalg.solve`` per frequency, FFTs) is
differentiable, so gradients reach the gains, the matrix and the reverberation times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .biquad import biquad

__all__ = ["fdn_impulse_response", "orthogonal_matrix", "fdn_delays", "attenuation_db"]


@half_in_float32
def orthogonal_matrix(parameters: Tensor) -> Tensor:
    """An orthogonal matrix ``exp(P - P^T)`` (special orthogonal) from any square ``P``
    ``(..., N, N)``; differentiable, and zero ``P`` gives the identity."""
    check_tensor("parameters", parameters)
    if parameters.dim() < 2 or parameters.shape[-1] != parameters.shape[-2]:
        raise InputError(f"parameters must have shape (..., N, N), found {tuple(parameters.shape)}")
    check_finite("parameters", parameters)
    return torch.linalg.matrix_exp(parameters - parameters.transpose(-1, -2))


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def fdn_delays(n_lines: int, sample_rate: float, min_delay_s: float = 0.015, max_delay_s: float = 0.045) -> list[int]:
    """``n_lines`` distinct prime delay lengths (samples), spread geometrically between
    ``min_delay_s`` and ``max_delay_s`` seconds: mutually prime lengths keep the echoes from
    piling up."""
    n_lines = check_positive_int("n_lines", n_lines)
    sample_rate = check_positive("sample_rate", sample_rate)
    low, high = check_positive("min_delay_s", min_delay_s), check_positive("max_delay_s", max_delay_s)
    if not low <= high:
        raise InputError(f"min_delay_s must not exceed max_delay_s, found {min_delay_s}, {max_delay_s}")
    delays: list[int] = []
    for i in range(n_lines):
        target = low * (high / low) ** (i / max(n_lines - 1, 1)) * sample_rate
        candidate = max(2, int(round(target)))
        while not _is_prime(candidate) or candidate in delays:
            candidate += 1
        delays.append(candidate)
    return delays


def attenuation_db(delays: Tensor, rt60_s: Tensor, sample_rate: float) -> Tensor:
    """Loss in dB per pass through each line, per band: ``-60 m_i / (RT60_k f_s)``;
    ``delays`` ``(N,)``, ``rt60_s`` ``(..., n_bands)`` -> ``(..., N, n_bands)``."""
    return -60.0 * delays[:, None].to(rt60_s.dtype) / (rt60_s.unsqueeze(-2) * sample_rate)


def _biquad_response(sos: Tensor, z_inverse: Tensor) -> Tensor:
    """Frequency response of sections ``(..., 6)`` at ``z^-1`` values ``(n_bins,)`` ->
    ``(..., n_bins)`` complex."""
    b0, b1, b2, a0, a1, a2 = (sos[..., i, None] for i in range(6))
    z1, z2 = z_inverse, z_inverse * z_inverse
    return (b0 + b1 * z1 + b2 * z2) / (a0 + a1 * z1 + a2 * z2)


def _checked_network(
    delays: Sequence[int] | Tensor, tensors: tuple[Tensor, ...], sample_rate: float, band_edges_hz: Sequence[float]
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, list[float], int]:
    """:func:`fdn_impulse_response`'s arguments checked, with batch dimensions added:
    ``(delays, feedback_matrix, input_gains, output_gains, rt60_s, edges, batch)`` from
    ``delays``, ``tensors = (feedback_matrix, input_gains, output_gains, rt60_s)``, the rate
    and the band edges."""
    feedback_matrix, input_gains, output_gains, rt60_s = tensors
    delays = torch.as_tensor(delays)
    if delays.dim() != 1 or delays.numel() < 1 or delays.is_floating_point() and bool((delays != delays.round()).any()):
        raise InputError(f"delays must be a sequence of integer lengths in samples, found {delays.tolist()}")
    delays = delays.long()
    if bool((delays < 1).any()):
        raise InputError(f"delays must be >= 1 sample, found {delays.tolist()}")
    n_lines = delays.numel()

    def batched(name: str, value: Tensor, rank: int, layout: str) -> Tensor:
        check_rank(name, value, (rank - 1, rank), layout)
        check_finite(name, value)
        return value.unsqueeze(0) if value.dim() == rank - 1 else value

    feedback_matrix = batched("feedback_matrix", feedback_matrix, 3, "(batch or 1, N, N)")
    input_gains = batched("input_gains", input_gains, 2, "(batch or 1, N)")
    output_gains = batched("output_gains", output_gains, 2, "(batch or 1, N)")
    rt60_s = batched("rt60_s", rt60_s, 2, "(batch or 1, n_bands)")
    if feedback_matrix.shape[-2:] != (n_lines, n_lines):
        raise InputError(
            f"feedback_matrix must be ({n_lines}, {n_lines}) for {n_lines} delays, "
            f"found {tuple(feedback_matrix.shape[-2:])}"
        )
    for name, value in (("input_gains", input_gains), ("output_gains", output_gains)):
        if value.shape[-1] != n_lines:
            raise InputError(f"{name} must have {n_lines} entries (one per delay line), found {value.shape[-1]}")
    if data_checks_enabled() and bool((rt60_s <= 0).any()):
        raise InputError("rt60_s must be > 0 seconds")
    edges = [float(e) for e in band_edges_hz]
    if len(edges) != rt60_s.shape[-1] - 1:
        raise InputError(
            f"band_edges_hz must hold n_bands - 1 = {rt60_s.shape[-1] - 1} frequencies, found {len(edges)}"
        )
    if any(not 0 < e < sample_rate / 2 for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        raise InputError(f"band_edges_hz must increase strictly between 0 and Nyquist, found {edges}")
    batch = max(t.shape[0] for t in (feedback_matrix, input_gains, output_gains, rt60_s))
    for name, value in (
        ("feedback_matrix", feedback_matrix),
        ("input_gains", input_gains),
        ("output_gains", output_gains),
        ("rt60_s", rt60_s),
    ):
        if value.shape[0] not in (1, batch):
            raise InputError(f"{name} must have batch size 1 or {batch}, found {value.shape[0]}")
    return delays, feedback_matrix, input_gains, output_gains, rt60_s, edges, batch


@half_in_float32
def fdn_impulse_response(
    delays: Sequence[int] | Tensor,
    feedback_matrix: Tensor,
    input_gains: Tensor,
    output_gains: Tensor,
    rt60_s: Tensor,
    sample_rate: float,
    n_samples: int,
    band_edges_hz: Sequence[float] = (),
    n_fft: int | None = None,
) -> Tensor:
    """Impulse response of a feedback delay network with per-band reverberation times.

    Args:
        delays: ``N`` delay-line lengths in samples (integers >= 1; mutually prime is best,
            see :func:`fdn_delays`).
        feedback_matrix: ``(batch or 1, N, N)`` (or ``(N, N)``), orthogonal for a lossless
            network (:func:`orthogonal_matrix`); not checked, so other matrices work too.
        input_gains, output_gains: ``(batch or 1, N)`` (or ``(N,)``).
        rt60_s: reverberation time per band in seconds (> 0), ``(batch or 1, n_bands)`` (or
            ``(n_bands,)``), bands ordered from low to high.
        sample_rate: in Hz.
        n_samples: length of the returned response (0: an empty one).
        band_edges_hz: the ``n_bands - 1`` increasing frequencies between the bands.
        n_fft: number of frequencies the transfer function is sampled at (module docstring);
            by default the smallest power of two >= ``n_samples`` and >= twice the longest RT60.

    Returns:
        ``(batch, n_samples)`` impulse response (``ir[0] = 0``: the shortest path is one delay).
        Differentiable in the matrix, the gains and the reverberation times.
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    lengths, feedback_matrix, input_gains, output_gains, rt60_s, edges, batch = _checked_network(
        delays, (feedback_matrix, input_gains, output_gains, rt60_s), sample_rate, band_edges_hz
    )
    if n_fft is None:
        longest = 2.0 * float(rt60_s.detach().max()) * sample_rate
        n_fft = 1 << max(int(math.ceil(math.log2(max(n_samples, longest, 2)))), 1)
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    if n_fft < n_samples:
        raise InputError(f"n_fft must be >= n_samples ({n_samples}), found {n_fft}")

    dtype = torch.promote_types(
        torch.promote_types(feedback_matrix.dtype, input_gains.dtype),
        torch.promote_types(output_gains.dtype, rt60_s.dtype),
    )
    if n_samples == 0:  # validated, and empty
        return feedback_matrix.new_zeros(batch, 0, dtype=dtype)
    n_lines = lengths.numel()
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    device = feedback_matrix.device
    omega = 2 * math.pi * torch.arange(n_fft // 2 + 1, dtype=dtype, device=device) / n_fft
    z_inverse = torch.polar(torch.ones_like(omega), -omega)  # e^{-j w}
    # Per line and band: dB lost per pass; the broadband gain is the top band's, the shelves
    # below each edge add the difference to the band under them.
    loss_db = attenuation_db(lengths.to(device), rt60_s.to(dtype), sample_rate)  # (b, N, n_bands)
    attenuation = (10.0 ** (loss_db[..., -1:] / 20.0)).to(complex_dtype)  # (b, N, 1)
    for j, edge in enumerate(edges):
        shelf_gain = loss_db[..., j] - loss_db[..., j + 1]
        sos = biquad(
            "lowshelf",
            torch.full_like(shelf_gain, edge),
            torch.full_like(shelf_gain, 1 / math.sqrt(2)),
            sample_rate,
            shelf_gain,
        )
        attenuation = attenuation * _biquad_response(sos.to(dtype), z_inverse)
    line_delay = z_inverse[None, :] ** lengths.to(device)[:, None]  # (N, n_bins): e^{-j w m_i}
    loop = attenuation * line_delay  # (b, N, n_bins): G(w) D(w) diagonal
    loop = loop.transpose(-1, -2)  # (b, n_bins, N)
    identity = torch.eye(n_lines, dtype=complex_dtype, device=device)
    system = identity - loop.unsqueeze(-1) * feedback_matrix.to(complex_dtype).unsqueeze(1)
    drive = loop * input_gains.to(complex_dtype).unsqueeze(1)
    states = torch.linalg.solve(system, drive.unsqueeze(-1)).squeeze(-1)  # (b, n_bins, N)
    response = (states * output_gains.to(complex_dtype).unsqueeze(1)).sum(-1)
    ir = torch.fft.irfft(response, n_fft)[..., :n_samples]
    return ir.expand(batch, -1) if ir.shape[0] != batch else ir
