"""FIR filtering: linear-phase impulse responses by frequency sampling or windowed sinc, and
FFT convolution with time-invariant or time-varying (per-frame) impulse responses.

Impulse responses from :func:`frequency_impulse_response` and :func:`sinc_impulse_response`
are exactly symmetric about tap ``ir_size // 2``: a constant group delay of ``ir_size // 2``
samples, which :func:`fft_convolve` removes when ``delay_compensation`` is negative.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import (
    check_choice,
    check_finite,
    check_positive,
    check_positive_int,
    check_rank,
    check_tensor,
)

__all__ = [
    "frequency_impulse_response",
    "sinc_impulse_response",
    "fft_convolve",
    "frequency_filter",
    "sinc_filter",
    "linear_phase_window",
]


def linear_phase_window(window_size: int, dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
    """Hann window of ``window_size`` taps, symmetric about tap ``window_size // 2``.

    Even sizes: the periodic Hann ``sin(pi t / W) ** 2`` (tap 0 is zero). Odd sizes: the
    symmetric Hann without zero end points, ``sin(pi (t + 1) / (W + 1)) ** 2``.
    """
    taps = torch.arange(window_size, dtype=torch.float64, device=device)
    if window_size % 2 == 0:
        window = torch.sin(math.pi * taps / window_size) ** 2
    else:
        window = torch.sin(math.pi * (taps + 1) / (window_size + 1)) ** 2
    return window.to(dtype)


def frequency_impulse_response(magnitudes: Tensor, window_size: int = 0) -> Tensor:
    """Linear-phase FIR impulse response from sampled magnitudes (frequency sampling method).

    The magnitudes define a zero-phase response (inverse real FFT of size
    ``n_fft = 2 * (n_bins - 1)``); it is windowed by a Hann window of ``window_size`` taps
    centred on lag 0 and shifted to be causal, so the filter delays by exactly
    ``window_size // 2`` samples. The realised response at bin ``k`` is the requested one
    smoothed by the window: ``0.5 M[k] + 0.25 (M[k - 1] + M[k + 1])`` for the full window,
    equal to ``M`` wherever ``M`` is locally linear; shorter windows smooth more.

    Shape:
        ``magnitudes``: ``(batch, n_bins)`` or ``(batch, n_frames, n_bins)`` (bins evenly spaced
        from 0 Hz to Nyquist) -> ``(batch, [n_frames,] window_size)``.

    Args:
        magnitudes: linear magnitudes, >= 0 in practice (not enforced: signs flip the phase).
            Differentiable.
        window_size: taps of the impulse response, 1 <= window_size <= n_fft; 0 means n_fft.
    """
    check_rank("magnitudes", magnitudes, (2, 3), "(batch, [n_frames,] n_bins)")
    check_finite("magnitudes", magnitudes)
    n_bins = magnitudes.shape[-1]
    if n_bins < 2:
        raise ValueError(f"magnitudes must have at least 2 frequency bins (0 Hz and Nyquist), found {n_bins}")
    n_fft = 2 * (n_bins - 1)
    if window_size == 0:
        window_size = n_fft
    window_size = check_positive_int("window_size", window_size)
    if window_size > n_fft:
        raise ValueError(
            f"window_size must be at most n_fft = 2 * (n_bins - 1) = {n_fft} for {n_bins} bins, "
            f"found {window_size}"
        )
    zero_phase = torch.fft.irfft(magnitudes.to(torch.promote_types(magnitudes.dtype, torch.float32)), n=n_fft)
    delay = window_size // 2
    causal = torch.roll(zero_phase, shifts=delay, dims=-1)[..., :window_size]
    return causal * linear_phase_window(window_size, causal.dtype, causal.device)


def sinc_impulse_response(cutoff_frequency: Tensor | float, window_size: int = 257, sample_rate: float = 16000.0) -> Tensor:
    """Windowed-sinc low-pass impulse response (Blackman window, unit gain at 0 Hz).

    Shape:
        ``cutoff_frequency``: a number, or a tensor ``(batch, 1)`` or ``(batch, n_frames, 1)`` ->
        ``(window_size,)``, ``(batch, window_size)`` or ``(batch, n_frames, window_size)``.

    Args:
        cutoff_frequency: -6 dB cut-off in Hz, in (0, sample_rate / 2]. Differentiable.
        window_size: taps, odd (so the filter delays by exactly ``window_size // 2`` samples).
        sample_rate: samples per second.
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    window_size = check_positive_int("window_size", window_size)
    if window_size % 2 == 0:
        raise ValueError(f"window_size must be odd for a linear-phase sinc filter, found {window_size}")
    if isinstance(cutoff_frequency, Tensor):
        check_tensor("cutoff_frequency", cutoff_frequency)
        if cutoff_frequency.dim() not in (2, 3) or cutoff_frequency.shape[-1] != 1:
            raise ValueError(
                "cutoff_frequency must be a number or have shape (batch, 1) or (batch, n_frames, 1), "
                f"found {tuple(cutoff_frequency.shape)}"
            )
        cutoff = cutoff_frequency
    else:
        cutoff = torch.tensor(float(cutoff_frequency), dtype=torch.float32)
    check_finite("cutoff_frequency", cutoff)
    if not bool(((cutoff > 0) & (cutoff <= sample_rate / 2)).all()):
        raise ValueError(f"cutoff_frequency must be in (0, {sample_rate / 2}] Hz (Nyquist), found values outside")
    dtype = torch.promote_types(cutoff.dtype, torch.float32)
    normalized = cutoff.to(dtype) * (2.0 / sample_rate)  # 1 = Nyquist
    half = window_size // 2
    lags = torch.arange(-half, half + 1, dtype=dtype, device=cutoff.device)
    response = normalized * torch.sinc(normalized * lags)
    response = response * torch.blackman_window(window_size, periodic=False, dtype=dtype, device=cutoff.device)
    return response / response.sum(dim=-1, keepdim=True)


def fft_convolve(
    audio: Tensor, impulse_response: Tensor, padding: str = "same", delay_compensation: int = -1
) -> Tensor:
    """Convolve audio with a time-invariant or time-varying impulse response via the FFT.

    A time-varying response ``(batch, n_frames, ir_size)`` cuts the audio into ``n_frames``
    consecutive blocks of ``ceil(n_samples / n_frames)`` samples, convolves block ``i`` with
    response ``i`` and overlap-adds the results (DDSP's scheme), so equal frames give exactly
    the time-invariant result.

    Shape:
        ``audio``: ``(batch, n_samples)``; ``impulse_response``: ``(batch or 1, ir_size)`` or
        ``(batch or 1, n_frames, ir_size)`` -> ``(batch, n_samples + ir_size - 1)`` for
        ``padding="valid"``, ``(batch, n_samples)`` for ``padding="same"``.

    Args:
        audio: input signal. Differentiable.
        impulse_response: FIR taps. Differentiable.
        padding: ``"valid"``: the whole convolution; ``"same"``: ``n_samples`` samples starting
            ``delay_compensation`` samples into it.
        delay_compensation: samples to skip with ``padding="same"``, 0 <= value < ir_size; a
            negative value means ``ir_size // 2``, the delay of the linear-phase responses of
            :func:`frequency_impulse_response` and :func:`sinc_impulse_response`.
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_rank("impulse_response", impulse_response, (2, 3), "(batch, [n_frames,] ir_size)")
    check_choice("padding", padding, ("same", "valid"))
    check_finite("audio", audio)
    check_finite("impulse_response", impulse_response)
    batch, n_samples = audio.shape
    if n_samples < 1:
        raise ValueError("audio must hold at least one sample")
    ir = impulse_response if impulse_response.dim() == 3 else impulse_response.unsqueeze(1)
    if ir.shape[0] not in (1, batch):
        raise ValueError(
            f"impulse_response batch size must be 1 or match audio's ({batch}), found {ir.shape[0]}"
        )
    n_frames, ir_size = ir.shape[1], ir.shape[2]
    if ir_size < 1 or n_frames < 1:
        raise ValueError(f"impulse_response must have at least one frame and one tap, found {tuple(impulse_response.shape)}")
    if padding == "same":
        start = ir_size // 2 if delay_compensation < 0 else int(delay_compensation)
        if start > ir_size - 1:
            raise ValueError(
                f"delay_compensation must be < ir_size ({ir_size}) or negative, found {delay_compensation}"
            )

    block = -(-n_samples // n_frames)
    if -(-n_samples // block) != n_frames:
        raise ValueError(
            f"impulse_response has {n_frames} frames but audio of {n_samples} samples cut into blocks "
            f"of ceil({n_samples} / {n_frames}) = {block} samples gives {-(-n_samples // block)}"
        )
    dtype = torch.promote_types(audio.dtype, ir.dtype)
    blocks = torch.nn.functional.pad(audio.to(dtype), (0, n_frames * block - n_samples))
    blocks = blocks.view(batch, n_frames, block)
    fft_size = 1 << (block + ir_size - 2).bit_length()  # power of 2 >= block + ir_size - 1
    spectrum = torch.fft.rfft(blocks, n=fft_size) * torch.fft.rfft(ir.to(dtype), n=fft_size)
    convolved = torch.fft.irfft(spectrum, n=fft_size)  # (batch, n_frames, fft_size)
    if n_frames == 1:
        full = convolved[:, 0]
    else:
        length = (n_frames - 1) * block + fft_size
        full = torch.nn.functional.fold(
            convolved.transpose(1, 2), output_size=(1, length), kernel_size=(1, fft_size), stride=(1, block)
        ).view(batch, length)
    full = full[:, : n_samples + ir_size - 1]
    if padding == "valid":
        return full
    return full[:, start : start + n_samples]


def frequency_filter(audio: Tensor, magnitudes: Tensor, window_size: int = 0) -> Tensor:
    """Filter audio by sampled magnitude responses (one per frame, or one for all).

    ``fft_convolve(audio, frequency_impulse_response(magnitudes, window_size))`` with the
    filter's delay removed, so the output is aligned with the input.

    Shape:
        ``audio``: ``(batch, n_samples)``; ``magnitudes``: ``(batch or 1, [n_frames,] n_bins)``
        -> ``(batch, n_samples)``.
    """
    return fft_convolve(audio, frequency_impulse_response(magnitudes, window_size), "same", -1)


def sinc_filter(
    audio: Tensor, cutoff_frequency: Tensor | float, window_size: int = 257, sample_rate: float = 16000.0
) -> Tensor:
    """Low-pass filter audio with :func:`sinc_impulse_response` (delay removed).

    Shape:
        ``audio``: ``(batch, n_samples)``; ``cutoff_frequency``: number, ``(batch, 1)`` or
        ``(batch, n_frames, 1)`` -> ``(batch, n_samples)``.
    """
    response = sinc_impulse_response(cutoff_frequency, window_size, sample_rate)
    if response.dim() == 1:
        response = response.unsqueeze(0)
    return fft_convolve(audio, response.to(audio.device), "same", -1)
