"""FIR filtering: linear-phase impulse responses by frequency sampling or windowed sinc, and
FFT convolution with time-invariant or time-varying (per-frame) impulse responses.

Impulse responses from :func:`frequency_impulse_response` and :func:`sinc_impulse_response`
are exactly symmetric about tap ``ir_size // 2``: a constant group delay of ``ir_size // 2``
samples, which :func:`fft_convolve` removes when ``delay_compensation`` is negative.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .layout import flatten_audio
from .layout import restore_audio
from .overlap_add import overlap_add_unchecked

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


def _check_magnitudes(magnitudes: Tensor, window_size: int) -> tuple[int, int]:
    """Validate sampled magnitudes and a window size; return ``(n_bins, window_size)`` with
    0 resolved to ``n_fft = 2 * (n_bins - 1)``."""
    check_rank("magnitudes", magnitudes, (2, 3), "(batch, [n_frames,] n_bins)")
    check_finite("magnitudes", magnitudes)
    n_bins = magnitudes.shape[-1]
    if n_bins < 2:
        raise InputError(f"magnitudes must have at least 2 frequency bins (0 Hz and Nyquist), found {n_bins}")
    n_fft = 2 * (n_bins - 1)
    window_size = check_positive_int("window_size", window_size or n_fft)
    if window_size > n_fft:
        raise InputError(
            f"window_size must be at most n_fft = 2 * (n_bins - 1) = {n_fft} for {n_bins} bins, found {window_size}"
        )
    return n_bins, window_size


@half_in_float32
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

    Example:
        >>> tuple(frequency_impulse_response(torch.ones(2, 4, 33), window_size=16).shape)
        (2, 4, 16)
        >>> tuple(frequency_impulse_response(torch.ones(2, 33)).shape)  # window_size 0: n_fft taps
        (2, 64)
    """
    n_bins, window_size = _check_magnitudes(magnitudes, window_size)
    n_fft = 2 * (n_bins - 1)
    if magnitudes.numel() == 0:  # no frames (or an empty batch): no responses
        return magnitudes.new_zeros(
            *magnitudes.shape[:-1], window_size, dtype=torch.promote_types(magnitudes.dtype, torch.float32)
        )
    zero_phase = torch.fft.irfft(magnitudes.to(torch.promote_types(magnitudes.dtype, torch.float32)), n=n_fft)
    delay = window_size // 2
    causal = torch.roll(zero_phase, shifts=delay, dims=-1)[..., :window_size]
    return causal * linear_phase_window(window_size, causal.dtype, causal.device)


@half_in_float32
def sinc_impulse_response(cutoff_hz: Tensor | float, window_size: int = 257, sample_rate: float = 16000.0) -> Tensor:
    """Windowed-sinc low-pass impulse response (Blackman window, unit gain at 0 Hz).

    Shape:
        ``cutoff_hz``: a number, or a tensor ``(batch, 1)`` or ``(batch, n_frames, 1)`` ->
        ``(window_size,)``, ``(batch, window_size)`` or ``(batch, n_frames, window_size)``.

    Args:
        cutoff_hz: -6 dB cut-off in Hz, in (0, sample_rate / 2]. Differentiable.
        window_size: taps, odd (so the filter delays by exactly ``window_size // 2`` samples).
        sample_rate: samples per second.

    Example:
        >>> tuple(sinc_impulse_response(1000.0, 9).shape)
        (9,)
        >>> tuple(sinc_impulse_response(torch.full((2, 1), 4000.0), window_size=31).shape)
        (2, 31)
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    window_size = check_positive_int("window_size", window_size)
    if window_size % 2 == 0:
        raise InputError(f"window_size must be odd for a linear-phase sinc filter, found {window_size}")
    if isinstance(cutoff_hz, Tensor):
        check_tensor("cutoff_hz", cutoff_hz)
        if cutoff_hz.dim() not in (2, 3) or cutoff_hz.shape[-1] != 1:
            raise InputError(
                "cutoff_hz must be a number or have shape (batch, 1) or (batch, n_frames, 1), "
                f"found {tuple(cutoff_hz.shape)}"
            )
        cutoff = cutoff_hz
    else:
        cutoff = torch.tensor(float(cutoff_hz), dtype=torch.float32)
    check_finite("cutoff_hz", cutoff)
    if data_checks_enabled() and not bool(((cutoff > 0) & (cutoff <= sample_rate / 2)).all()):
        raise InputError(f"cutoff_hz must be in (0, {sample_rate / 2}] Hz (Nyquist), found values outside")
    dtype = torch.promote_types(cutoff.dtype, torch.float32)
    normalized = cutoff.to(dtype) * (2.0 / sample_rate)  # 1 = Nyquist
    half = window_size // 2
    lags = torch.arange(-half, half + 1, dtype=dtype, device=cutoff.device)
    response = normalized * torch.sinc(normalized * lags)
    response = response * torch.blackman_window(window_size, periodic=False, dtype=dtype, device=cutoff.device)
    return response / response.sum(dim=-1, keepdim=True)


@half_in_float32
def fft_convolve(
    audio: Tensor, impulse_response: Tensor, padding: str = "same", delay_compensation: int = -1
) -> Tensor:
    """Convolve audio with a time-invariant or time-varying impulse response via the FFT.

    A time-varying response ``(batch, n_frames, ir_size)`` cuts the audio into ``n_frames``
    consecutive blocks of ``ceil(n_samples / n_frames)`` samples, convolves block ``i`` with
    response ``i`` and overlap-adds the results (DDSP's scheme), so equal frames give exactly
    the time-invariant result.

    Shape:
        ``audio``: ``(..., n_samples)`` (leading dimensions flattened into ``batch``);
        ``impulse_response``: ``(batch or 1, ir_size)`` or ``(batch or 1, n_frames, ir_size)``
        -> ``(..., n_samples + ir_size - 1)`` for ``padding="valid"``, ``(..., n_samples)``
        for ``padding="same"``.

    Args:
        audio: input signal. Differentiable.
        impulse_response: FIR taps. Differentiable.
        padding: ``"valid"``: the whole convolution; ``"same"``: ``n_samples`` samples starting
            ``delay_compensation`` samples into it.
        delay_compensation: samples to skip with ``padding="same"``, 0 <= value < ir_size; a
            negative value means ``ir_size // 2``, the delay of the linear-phase responses of
            :func:`frequency_impulse_response` and :func:`sinc_impulse_response`.

    Example:
        >>> fft_convolve(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[1.0, 1.0]]), padding="valid").tolist()
        [1.0, 3.0, 5.0, 3.0]
        >>> tuple(fft_convolve(torch.randn(2, 3, 100), torch.randn(1, 4, 17)).shape)
        (2, 3, 100)
    """
    check_rank("impulse_response", impulse_response, (2, 3), "(batch, [n_frames,] ir_size)")
    check_finite("impulse_response", impulse_response)
    ir = impulse_response if impulse_response.dim() == 3 else impulse_response.unsqueeze(1)
    if ir.shape[2] < 1 or ir.shape[1] < 1:
        raise InputError(
            f"impulse_response must have at least one frame and one tap, found {tuple(impulse_response.shape)}"
        )
    flat, leading = flatten_audio("audio", audio)
    plan = _BlockConvolution.plan(flat, ir.shape[0], ir.shape[1], ir.shape[2], padding, delay_compensation, ir.dtype)
    spectrum = torch.fft.rfft(ir.to(plan.dtype), n=plan.fft_size)
    return restore_audio(plan.run(flat, spectrum), leading)


class _BlockConvolution:
    """Validated sizes of a (block-wise) FFT convolution, and the convolution itself."""

    def __init__(
        self,
        batch: int,
        n_samples: int,
        n_frames: int,
        block: int,
        ir_size: int,
        fft_size: int,
        padding: str,
        start: int,
        dtype: torch.dtype,
    ):
        self.batch, self.n_samples, self.n_frames, self.block = batch, n_samples, n_frames, block
        self.ir_size, self.fft_size, self.padding, self.start, self.dtype = ir_size, fft_size, padding, start, dtype

    @classmethod
    def plan(
        cls,
        audio: Tensor,
        ir_batch: int,
        n_frames: int,
        ir_size: int,
        padding: str,
        delay_compensation: int,
        ir_dtype: torch.dtype,
    ) -> _BlockConvolution:
        """The sizes for flattened ``audio`` ``(batch, n_samples)`` (:func:`flatten_audio`)."""
        check_choice("padding", padding, ("same", "valid"))
        check_finite("audio", audio)
        batch, n_samples = audio.shape
        if ir_batch not in (1, batch):
            raise InputError(f"impulse_response batch size must be 1 or match audio's ({batch}), found {ir_batch}")
        start = 0
        if padding == "same":
            if isinstance(delay_compensation, bool) or not isinstance(delay_compensation, (int, np.integer)):
                raise InputError(
                    f"delay_compensation must be an integer number of samples, found {delay_compensation!r}"
                )
            start = ir_size // 2 if delay_compensation < 0 else int(delay_compensation)
            if start > ir_size - 1:
                raise InputError(
                    f"delay_compensation must be < ir_size ({ir_size}) or negative, found {delay_compensation}"
                )
        block = -(-n_samples // n_frames)
        if n_samples and -(-n_samples // block) != n_frames:  # empty audio: nothing to cut
            raise InputError(
                f"impulse_response has {n_frames} frames but audio of {n_samples} samples cut into blocks "
                f"of ceil({n_samples} / {n_frames}) = {block} samples gives {-(-n_samples // block)}"
            )
        fft_size = 1 << max(block + ir_size - 2, 0).bit_length()  # power of 2 >= block + ir_size - 1
        # The promoted dtype of audio and filter; half precision computes in float32 (the
        # CPU FFT has no half-precision kernels).
        dtype = torch.promote_types(torch.promote_types(audio.dtype, ir_dtype), torch.float32)
        return cls(batch, n_samples, n_frames, block, ir_size, fft_size, padding, start, dtype)

    def run(self, audio: Tensor, ir_spectrum: Tensor) -> Tensor:
        """Convolve with the filters whose spectra (size ``fft_size``) are ``ir_spectrum``
        ``(batch or 1, n_frames, fft_size // 2 + 1)``."""
        if self.n_samples == 0:  # empty audio: an empty output ("same"), or the zero tail ("valid")
            length = 0 if self.padding == "same" else self.ir_size - 1
            return audio.new_zeros(self.batch, length, dtype=self.dtype)
        blocks = audio.to(self.dtype)
        if self.n_frames * self.block != self.n_samples:  # pad only a short last block (no copy otherwise)
            blocks = torch.nn.functional.pad(blocks, (0, self.n_frames * self.block - self.n_samples))
        blocks = blocks.reshape(self.batch, self.n_frames, self.block)
        convolved = torch.fft.irfft(torch.fft.rfft(blocks, n=self.fft_size) * ir_spectrum, n=self.fft_size)
        full = convolved[:, 0] if self.n_frames == 1 else overlap_add_unchecked(convolved, self.block)
        if self.padding == "valid":
            return full[:, : self.n_samples + self.ir_size - 1]
        # One slice (start + n_samples <= n_samples + ir_size - 1): one zero-filled gradient backward.
        return full[:, self.start : self.start + self.n_samples]


#: frequency_filter maps magnitudes to spectra by a cached matrix while the FFT size is at
#: most this many times the window (short blocks: the usual per-frame filtering); above it
#: the matrix would grow with the audio's length.
_MATRIX_FFT_FACTOR = 4


@functools.lru_cache(maxsize=8)
def _magnitude_to_spectrum(n_bins: int, window_size: int, fft_size: int) -> np.ndarray:
    """The linear map from sampled magnitudes to the ``fft_size``-point spectrum of their
    :func:`frequency_impulse_response`, ``(n_bins, 2 * (fft_size // 2 + 1))``: real and
    imaginary parts interleaved, so one matrix product gives the spectrum as
    ``torch.view_as_complex`` reads it.

    The response is linear in the magnitudes, so its spectrum is one small matrix product
    away (float64 here, computed once per size): cheaper forward and backward than an
    inverse FFT, a window and a forward FFT per frame. One product (not one per part joined
    by ``torch.complex``): no complex copy forward, no strided real and imaginary copies
    backward (``view_as_real`` of the gradient is free).
    """
    identity = torch.eye(n_bins, dtype=torch.float64)
    spectrum = torch.fft.rfft(frequency_impulse_response(identity, window_size), n=fft_size)
    return torch.view_as_real(spectrum).reshape(n_bins, -1).numpy()


@half_in_float32
def frequency_filter(audio: Tensor, magnitudes: Tensor, window_size: int = 0) -> Tensor:
    """Filter audio by sampled magnitude responses (one per frame, or one for all).

    ``fft_convolve(audio, frequency_impulse_response(magnitudes, window_size))`` with the
    filter's delay removed, so the output is aligned with the input.

    Shape:
        ``audio``: ``(..., n_samples)`` (leading dimensions flattened into ``batch``);
        ``magnitudes``: ``(batch or 1, [n_frames,] n_bins)`` -> ``(..., n_samples)``.

    Args:
        audio: input signal. Differentiable.
        magnitudes: linear magnitudes from 0 Hz to Nyquist. Differentiable.
        window_size: taps of the filter (see :func:`frequency_impulse_response`); 0 for
            ``2 * (n_bins - 1)``.

    Example:
        >>> tuple(frequency_filter(torch.randn(2, 160), torch.ones(2, 4, 33)).shape)
        (2, 160)
    """
    n_bins, window_size = _check_magnitudes(magnitudes, window_size)
    frames = magnitudes if magnitudes.dim() == 3 else magnitudes.unsqueeze(1)
    audio, leading = flatten_audio("audio", audio)
    plan = _BlockConvolution.plan(audio, frames.shape[0], frames.shape[1], window_size, "same", -1, magnitudes.dtype)
    frames = frames.to(plan.dtype)
    if plan.fft_size > _MATRIX_FFT_FACTOR * window_size:
        # Long blocks: the matrix would be large, and FFTs of the response are cheap by comparison.
        spectrum = torch.fft.rfft(frequency_impulse_response(frames, window_size), n=plan.fft_size)
    else:
        matrix = torch.as_tensor(_magnitude_to_spectrum(n_bins, window_size, plan.fft_size), device=audio.device)
        interleaved = frames @ matrix.to(plan.dtype)  # (batch or 1, n_frames, 2 * n_frequencies)
        spectrum = torch.view_as_complex(interleaved.unflatten(-1, (-1, 2)))
    return restore_audio(plan.run(audio, spectrum), leading)


@half_in_float32
def sinc_filter(
    audio: Tensor, cutoff_hz: Tensor | float, window_size: int = 257, sample_rate: float = 16000.0
) -> Tensor:
    """Low-pass filter audio with :func:`sinc_impulse_response` (delay removed).

    Shape:
        ``audio``: ``(..., n_samples)`` (leading dimensions flattened into ``batch``);
        ``cutoff_hz``: number, ``(batch, 1)`` or ``(batch, n_frames, 1)`` (one filter per
        block of :func:`fft_convolve`, not upsampled) -> ``(..., n_samples)``.

    Example:
        >>> tuple(sinc_filter(torch.randn(3, 160), 2000.0, window_size=31).shape)
        (3, 160)
    """
    response = sinc_impulse_response(cutoff_hz, window_size, sample_rate)
    if response.dim() == 1:
        response = response.unsqueeze(0)
    return fft_convolve(audio, response.to(audio.device), "same", -1)
