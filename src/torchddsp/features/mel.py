"""Mel scales and filterbanks, (log-)mel spectrograms and MFCCs, as functions and modules.

Functions take the analysis settings as arguments; the filterbanks and DCT matrices they need
are built once per setting (an LRU cache) and reused. The modules (:class:`MelSpectrogram`,
:class:`MFCC`) hold them and the window as buffers. Spectra come from
:mod:`torchddsp.features.fourier` (framing and its options there).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor
from torch import nn
from typing_extensions import Unpack

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from .fourier import StftOptions
from .fourier import magnitude_from_power
from .fourier import power_spectrogram
from .fourier import window_tensor
from .fourier import windowed_power

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "mel_spectrogram",
    "log_mel_spectrogram",
    "dct_matrix",
    "mfcc",
    "MelSpectrogram",
    "MFCC",
]

_SLANEY_BREAK_HZ = 1000.0
_SLANEY_LINEAR_HZ_PER_MEL = 200.0 / 3
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies_hz: np.ndarray | float, scale: str = "slaney") -> np.ndarray:
    """Hz to mels. ``"htk"``: ``2595 log10(1 + f / 700)``; ``"slaney"`` (Auditory Toolbox,
    librosa's default): linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    f = np.asarray(frequencies_hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_LINEAR_HZ_PER_MEL
    break_mel = _SLANEY_BREAK_HZ / _SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = break_mel + np.log(np.maximum(f, 1e-12) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(f >= _SLANEY_BREAK_HZ, logarithmic, linear)


def mel_to_hz(mels: np.ndarray | float, scale: str = "slaney") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    break_mel = _SLANEY_BREAK_HZ / _SLANEY_LINEAR_HZ_PER_MEL
    return np.where(
        m >= break_mel, _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (m - break_mel)), _SLANEY_LINEAR_HZ_PER_MEL * m
    )


@functools.lru_cache(maxsize=32)
def _mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: float, min_hz: float, max_hz: float, scale: str, norm: str | None
) -> np.ndarray:
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(min_hz, scale), hz_to_mel(max_hz, scale), n_mels + 2), scale)
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # k * sr / n, also for odd n
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":  # equal area: each triangle scaled by 2 / bandwidth
        weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights


def mel_filterbank(
    n_fft: int,
    n_mels: int,
    sample_rate: float,
    min_hz: float = 0.0,
    max_hz: float | None = None,
    scale: str = "slaney",
    norm: str | None = "slaney",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Triangular mel filterbank, ``(n_mels, n_fft // 2 + 1)``: row ``m`` weights the FFT bins.

    Triangles have edges evenly spaced on the mel ``scale`` (``"slaney"`` or ``"htk"``) between
    ``min_hz`` and ``max_hz`` (default Nyquist); ``norm="slaney"`` scales each to unit area per Hz
    (librosa's defaults), ``None`` leaves peaks at 1. Cached per setting.
    """
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    n_mels = check_positive_int("n_mels", n_mels)
    sample_rate = check_positive("sample_rate", sample_rate)
    max_hz = sample_rate / 2 if max_hz is None else float(max_hz)
    if not 0.0 <= min_hz < max_hz <= sample_rate / 2:
        raise InputError(
            f"need 0 <= min_hz < max_hz <= Nyquist ({sample_rate / 2}), found min_hz={min_hz}, max_hz={max_hz}"
        )
    check_choice("scale", scale, ("slaney", "htk"))
    if norm not in ("slaney", None):
        raise InputError(f"norm must be 'slaney' or None, found {norm!r}")
    weights = _mel_filterbank(n_fft, n_mels, float(sample_rate), float(min_hz), float(max_hz), scale, norm)
    return torch.as_tensor(weights, dtype=dtype, device=device)


def mel_spectrogram(
    audio: Tensor,
    sample_rate: float,
    n_fft: int = 2048,
    hop_size: int | None = None,
    n_mels: int = 128,
    min_hz: float = 0.0,
    max_hz: float | None = None,
    power: float = 2.0,
    scale: str = "slaney",
    norm: str | None = "slaney",
    **stft_options: Unpack[StftOptions],
) -> Tensor:
    """Mel spectrogram ``|stft| ** power`` through :func:`mel_filterbank`: ``(batch, n_frames, n_mels)``.

    Example:
        >>> mel_spectrogram(torch.zeros(2, 1600), 16000, n_fft=256, hop_size=64, n_mels=40).shape
        torch.Size([2, 26, 40])
    """
    spectrum = power_spectrogram(audio, n_fft, hop_size, **stft_options)
    if power != 2.0:
        spectrum = magnitude_from_power(spectrum).pow(check_positive("power", power))
    filters = mel_filterbank(n_fft, n_mels, sample_rate, min_hz, max_hz, scale, norm, spectrum.dtype, spectrum.device)
    return spectrum @ filters.T


def log_mel_spectrogram(audio: Tensor, sample_rate: float, log_floor: float = 1e-5, **mel_options) -> Tensor:
    """``log(max(mel_spectrogram, log_floor))`` (natural log), ``(batch, n_frames, n_mels)``;
    finite, with a zero gradient, below the floor.

    Example:
        >>> log_mel_spectrogram(torch.zeros(2, 1600), 16000, n_fft=256, hop_size=64, n_mels=40).shape
        torch.Size([2, 26, 40])
    """
    check_positive("log_floor", log_floor)
    return torch.log(torch.clamp_min(mel_spectrogram(audio, sample_rate, **mel_options), log_floor))


@functools.lru_cache(maxsize=32)
def _dct_matrix(n_inputs: int, n_outputs: int) -> np.ndarray:
    k = np.arange(n_outputs)[:, None]
    n = np.arange(n_inputs)[None, :]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_inputs)) * np.sqrt(2.0 / n_inputs)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def dct_matrix(n_inputs: int, n_outputs: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """Orthonormal DCT-II, ``(n_outputs, n_inputs)`` (scipy's ``dct(type=2, norm="ortho")``).

    Example:
        >>> dct_matrix(40, 13).shape
        torch.Size([13, 40])
    """
    n_inputs = check_positive_int("n_inputs", n_inputs)
    n_outputs = check_positive_int("n_outputs", n_outputs)
    if n_outputs > n_inputs:
        raise InputError(f"n_outputs must be at most n_inputs ({n_inputs}), found {n_outputs}")
    return torch.as_tensor(_dct_matrix(n_inputs, n_outputs), dtype=dtype, device=device)


def mfcc(audio: Tensor, sample_rate: float, n_mfcc: int = 20, log_floor: float = 1e-5, **mel_options) -> Tensor:
    """Mel-frequency cepstral coefficients: orthonormal DCT-II of the log-mel spectrogram
    (natural log of mel power), ``(batch, n_frames, n_mfcc)``.

    Example:
        >>> mfcc(torch.zeros(2, 1600), 16000, n_mfcc=13, n_fft=256, hop_size=64, n_mels=40).shape
        torch.Size([2, 26, 13])
    """
    log_mel = log_mel_spectrogram(audio, sample_rate, log_floor=log_floor, **mel_options)
    return log_mel @ dct_matrix(log_mel.shape[-1], n_mfcc, log_mel.dtype, log_mel.device).T


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram by default (``log=False``: linear mel power, as
    :func:`mel_spectrogram`), with its window and filterbank held as buffers.

    Shape: ``(batch, n_samples)`` -> ``(batch, n_frames, n_mels)`` (centred frames, see
    :func:`~torchddsp.features.fourier.stft`). ``log=True`` returns ``log(max(mel, log_floor))``.

    Example:
        >>> MelSpectrogram(16000, n_fft=256, hop_size=64, n_mels=40)(torch.zeros(2, 1600)).shape
        torch.Size([2, 26, 40])
    """

    window: Tensor  # buffers
    filterbank: Tensor

    def __init__(
        self,
        sample_rate: float = 16000,
        n_fft: int = 2048,
        hop_size: int | None = None,
        n_mels: int = 128,
        min_hz: float = 0.0,
        max_hz: float | None = None,
        power: float = 2.0,
        scale: str = "slaney",
        norm: str | None = "slaney",
        log: bool = True,
        log_floor: float = 1e-5,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        self.n_fft = check_positive_int("n_fft", n_fft, minimum=2)
        self.hop_size = check_positive_int("hop_size", n_fft // 4 if hop_size is None else hop_size)
        self.power = check_positive("power", power)
        self.log, self.log_floor = log, check_positive("log_floor", log_floor)
        self.center, self.pad_mode = center, check_choice("pad_mode", pad_mode, ("reflect", "constant"))
        self.register_buffer("window", window_tensor("hann", n_fft, n_fft, torch.float32, torch.device("cpu")))
        self.register_buffer("filterbank", mel_filterbank(n_fft, n_mels, sample_rate, min_hz, max_hz, scale, norm))

    def forward(self, audio: Tensor) -> Tensor:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)
        if audio.dtype not in (torch.float32, torch.float64):  # no half-precision FFT on CPU
            audio = audio.float()
        if self.center:
            audio = torch.nn.functional.pad(audio.unsqueeze(1), (self.n_fft // 2,) * 2, mode=self.pad_mode).squeeze(1)
        spectrum = windowed_power(audio, self.window.to(audio.dtype), self.hop_size)
        if self.power != 2.0:
            spectrum = magnitude_from_power(spectrum).pow(self.power)
        mel = spectrum @ self.filterbank.to(spectrum.dtype).T
        return torch.log(torch.clamp_min(mel, self.log_floor)) if self.log else mel


class MFCC(nn.Module):
    """MFCCs (see :func:`mfcc`, same defaults) with window, filterbank and DCT held as buffers.

    Shape: ``(batch, n_samples)`` -> ``(batch, n_frames, n_mfcc)``.

    Example:
        >>> MFCC(16000, n_mfcc=13, n_fft=256, hop_size=64, n_mels=40)(torch.zeros(2, 1600)).shape
        torch.Size([2, 26, 13])
    """

    dct: Tensor  # a buffer

    def __init__(
        self,
        sample_rate: float = 16000,
        n_mfcc: int = 20,
        n_fft: int = 2048,
        hop_size: int | None = None,
        n_mels: int = 128,
        min_hz: float = 0.0,
        max_hz: float | None = None,
        log_floor: float = 1e-5,
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        self.mel = MelSpectrogram(
            sample_rate,
            n_fft,
            hop_size,
            n_mels,
            min_hz,
            max_hz,
            log=True,
            log_floor=log_floor,
            center=center,
            pad_mode=pad_mode,
        )
        self.register_buffer("dct", dct_matrix(n_mels, n_mfcc))

    def forward(self, audio: Tensor) -> Tensor:
        log_mel = self.mel(audio)
        return log_mel @ self.dct.to(log_mel.dtype).T
