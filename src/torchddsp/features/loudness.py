"""Loudness per frame: A-weighted perceptual loudness (DDSP's) and plain power in dB.

Frames follow the library's single convention (:mod:`torchddsp.features.framing`): frame
``i`` is centred on time ``i / frame_rate``; the signal is zero outside its ends.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from ..functional import power_to_db
from ..validation import check_positive
from ..validation import check_positive_int
from .fourier import window_tensor
from .fourier import windowed_power
from .framing import centered_frames

__all__ = ["a_weighting_db", "a_weighted_loudness", "rms_db", "default_loudness_n_fft", "loudness_context"]


# The A-weighting poles in Hz to IEC 61672-1 Annex E's precision, as librosa (and so Magenta's
# DDSP) uses them; the often-quoted rounded values (20.6, 107.7, 737.9, 12194) are off by up to
# 0.004 dB per frequency bin.
_A_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)


def a_weighting_db(frequencies_hz: np.ndarray, min_db: float = -80.0) -> np.ndarray:
    """A-weighting curve (IEC 61672-1) in dB, floored at ``min_db``: 0 dB at 1 kHz, -19.1 dB at
    100 Hz. Identical to ``librosa.A_weighting`` (same poles, +2.0 dB normalisation). Float64
    numpy, any shape."""
    f1, f2, f3, f4 = _A_POLES_HZ
    f_sq = np.asarray(frequencies_hz, dtype=np.float64) ** 2
    numerator = f4**2 * f_sq**2
    denominator = (f_sq + f1**2) * np.sqrt((f_sq + f2**2) * (f_sq + f3**2)) * (f_sq + f4**2)
    with np.errstate(divide="ignore"):
        weighting = 2.0 + 20.0 * np.log10(numerator / denominator)
    return np.maximum(weighting, min_db)


@functools.lru_cache(maxsize=32)
def _a_weighting_power(sample_rate: float, n_fft: int) -> np.ndarray:
    return 10.0 ** (a_weighting_db(np.fft.rfftfreq(n_fft, 1.0 / sample_rate)) / 10.0)


def default_loudness_n_fft(sample_rate: float) -> int:
    """A 32 ms window rounded up to a power of two: 512 at 16 kHz (DDSP's), 2048 at 44.1/48 kHz."""
    return 1 << math.ceil(math.log2(0.032 * sample_rate))


def loudness_context(sample_rate: float, n_fft: int | None = None) -> tuple[int, int]:
    """Samples an :func:`a_weighted_loudness` frame reads around its centre ``c``:
    ``[c - before, c + after)``, returned as ``(before, after)``."""
    n_fft = default_loudness_n_fft(check_positive("sample_rate", sample_rate)) if n_fft is None else n_fft
    return n_fft // 2, n_fft - n_fft // 2


def a_weighted_loudness(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    n_fft: int | None = None,
    range_db: float = 80.0,
    ref_db: float = 0.0,
    n_frames: int | None = None,
) -> Tensor:
    """Perceptual loudness in dB per frame, as DDSP defines it.

    The power spectrum of each Hann-windowed frame (periodic window, unnormalised FFT) is
    weighted by the A-weighting curve, averaged over frequency bins, converted to dB,
    ``ref_db`` subtracted, and floored at ``-range_db``. Frame ``i`` is centred on time
    ``i / frame_rate``. Differentiable, with finite (zero) gradients on silence.

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``(batch, n_frames)`` with
        ``n_frames = floor(n_samples * frame_rate / sample_rate)`` by default.

    Args:
        audio: signal. Differentiable.
        sample_rate: of ``audio`` in Hz (any).
        frame_rate: frames per second (any; 250 is DDSP's).
        n_fft: analysis window (default :func:`default_loudness_n_fft`: 512 at 16 kHz).
        range_db: dynamic range; the output is never below ``-range_db``.
        ref_db: subtracted from the result (0 dB = weighted power 1).
        n_frames: frames to return (default as above).

    Example:
        >>> a_weighted_loudness(torch.zeros(2, 1600), 16000, frame_rate=250).shape
        torch.Size([2, 25])
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    n_fft = default_loudness_n_fft(sample_rate) if n_fft is None else check_positive_int("n_fft", n_fft, minimum=2)
    frames = centered_frames(audio, n_fft, sample_rate, frame_rate, n_frames)
    return loudness_of_frames(frames, sample_rate, ref_db, range_db)


def loudness_of_frames(frames: Tensor, sample_rate: float, ref_db: float = 0.0, range_db: float = 80.0) -> Tensor:
    """:func:`a_weighted_loudness` of frames already cut, ``(..., n_fft)`` -> ``(...)`` dB (what a
    stream computes for the frames its buffer completes)."""
    n_fft = frames.shape[-1]
    dtype = frames.dtype if frames.dtype in (torch.float32, torch.float64) else torch.float32
    power = windowed_power(frames.to(dtype), window_tensor("hann", n_fft, n_fft, dtype, frames.device))
    weighting = torch.as_tensor(_a_weighting_power(float(sample_rate), n_fft), dtype=dtype, device=frames.device)
    return power_to_db((power * weighting).mean(-1), ref_db=ref_db, range_db=range_db)


def rms_db(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    frame_size: int | None = None,
    range_db: float = 80.0,
    n_frames: int | None = None,
) -> Tensor:
    """Root-mean-square level in dB per frame (``10 log10(mean(x ** 2))``, floored at ``-range_db``).

    A full-scale sine reads -3.01 dB. Frames are rectangular, ``frame_size`` samples (default:
    two hops, ``2 * sample_rate / frame_rate`` rounded), centred on ``i / frame_rate``.

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``(batch, n_frames)``.

    Example:
        >>> rms_db(torch.zeros(2, 1600), 16000, frame_rate=250).shape
        torch.Size([2, 25])
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    frame_rate = check_positive("frame_rate", frame_rate)
    if frame_size is None:
        frame_size = max(1, round(2 * sample_rate / frame_rate))
    frames = centered_frames(audio, frame_size, sample_rate, frame_rate, n_frames)
    return power_to_db(frames.square().mean(-1), range_db=range_db)
