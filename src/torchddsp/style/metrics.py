"""Evaluation of style transfer, and the rule-based baseline it is compared with.

Metrics (per item, lower is better): multi-scale STFT distance (the training loss), log-mel
distance (:class:`~torchddsp.losses.MelSpectrogramLoss`), and absolute errors of three
descriptors of the whole clip: loudness (dB, mean A-weighted power), spectral centroid (Hz)
and crest factor (dB, peak over RMS).

Baseline :func:`matching_eq`: the ratio of the reference's and the input's long-term average
spectra, smoothed over a fraction of an octave and limited to +-``max_gain_db``, applied by a
linear-phase FIR filter, followed by loudness normalisation to the reference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..features.fourier import power_spectrogram
from ..features.loudness import a_weighted_loudness
from ..losses import MelSpectrogramLoss
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from .training import style_loss

__all__ = [
    "loudness_db",
    "spectral_centroid_hz",
    "crest_factor_db",
    "style_metrics",
    "matching_eq",
    "match_loudness",
    "METRICS",
]

METRICS = ("stft", "mel", "loudness_db", "centroid_hz", "crest_db")


def loudness_db(audio: Tensor, sample_rate: float) -> Tensor:
    """Clip loudness ``(batch,)`` in dB: 10 log10 of the mean A-weighted frame power (frames of
    :func:`~torchddsp.features.loudness.a_weighted_loudness`, no floor applied before averaging)."""
    frames_db = a_weighted_loudness(audio, sample_rate, frame_rate=50.0, range_db=200.0)
    return 10 * torch.log10(torch.clamp_min((10 ** (frames_db / 10)).mean(-1), 1e-20))


def spectral_centroid_hz(audio: Tensor, sample_rate: float, n_fft: int = 1024) -> Tensor:
    """Power-weighted mean frequency of the whole clip ``(batch,)`` in Hz."""
    power = power_spectrogram(audio, n_fft, n_fft // 4).sum(-2)  # (batch, bins)
    frequencies = torch.linspace(0, sample_rate / 2, power.shape[-1], dtype=power.dtype)
    return (power * frequencies).sum(-1) / torch.clamp_min(power.sum(-1), 1e-20)


def crest_factor_db(audio: Tensor) -> Tensor:
    """Peak over RMS of each clip ``(batch,)`` in dB."""
    rms = torch.clamp_min(audio.square().mean(-1).sqrt(), 1e-10)
    return 20 * torch.log10(torch.clamp_min(audio.abs().amax(-1), 1e-10) / rms)


def style_metrics(output: Tensor, target: Tensor, sample_rate: float) -> dict[str, Tensor]:
    """Every metric of ``output`` against ``target`` ``(batch, n_samples)``: ``{name: (batch,)}``.

    Example:
        >>> x = torch.randn(2, 8000) * 0.1
        >>> sorted(style_metrics(x, x, 16000)) == sorted(METRICS), float(style_metrics(x, x, 16000)["loudness_db"].max())
        (True, 0.0)
    """
    check_rank("output", output, 2, "(batch, n_samples)")
    check_rank("target", target, 2, "(batch, n_samples)")
    mel = MelSpectrogramLoss(sample_rate, fft_sizes=(2048, 1024, 512), n_mels=(128, 80, 40), reduction="none")
    stft = style_loss()
    stft.reduction = "none"
    return {
        "stft": stft(output, target).detach(),
        "mel": mel(output, target).detach(),
        "loudness_db": (loudness_db(output, sample_rate) - loudness_db(target, sample_rate)).abs(),
        "centroid_hz": (spectral_centroid_hz(output, sample_rate) - spectral_centroid_hz(target, sample_rate)).abs(),
        "crest_db": (crest_factor_db(output) - crest_factor_db(target)).abs(),
    }


def _smooth_octaves(values: Tensor, frequencies: Tensor, octaves: float) -> Tensor:
    """Mean of ``values`` ``(batch, bins)`` over +-``octaves / 2`` around each bin's frequency."""
    log_f = torch.log2(torch.clamp_min(frequencies, frequencies[1]))
    inside = (log_f[:, None] - log_f[None, :]).abs() <= octaves / 2  # (bins, bins)
    weights = inside.to(values.dtype) / inside.sum(-1, keepdim=True)
    return values @ weights.T


def matching_eq(
    audio: Tensor,
    reference: Tensor,
    sample_rate: float,
    n_fft: int = 2048,
    octaves: float = 1 / 3,
    max_gain_db: float = 12.0,
) -> Tensor:
    """Rule-based style match: FIR matching EQ and loudness normalisation.

    Args:
        audio: ``(batch, n_samples)``.
        reference: ``(batch, m_samples)``.
        sample_rate: in Hz.
        n_fft: analysis size; the FIR filter has ``n_fft - 1`` taps (linear phase, its delay
            removed).
        octaves: smoothing width of the spectrum ratio.
        max_gain_db: limit of the EQ curve (+-).

    Returns:
        ``(batch, n_samples)``.

    Example:
        >>> x = torch.randn(1, 16000) * 0.05
        >>> y = matching_eq(x, 2 * x, 16000)
        >>> round(float((loudness_db(y, 16000) - loudness_db(2 * x, 16000)).abs()), 3)
        0.0
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_rank("reference", reference, 2, "(batch, n_samples)")
    n_fft = check_positive_int("n_fft", n_fft, minimum=16)
    check_positive("octaves", octaves)
    spectra = [power_spectrogram(x.double(), n_fft, n_fft // 4).mean(-2) + 1e-12 for x in (audio, reference)]
    frequencies = torch.linspace(0, sample_rate / 2, spectra[0].shape[-1], dtype=torch.float64)
    ratio_db = 10 * torch.log10(spectra[1] / spectra[0])
    curve_db = _smooth_octaves(ratio_db, frequencies, octaves).clamp(-max_gain_db, max_gain_db)
    half = n_fft // 2 - 1  # odd-length symmetric FIR: (n_fft - 1) taps, centred
    kernel = torch.fft.irfft(10 ** (curve_db / 20), n=n_fft)  # zero-phase impulse response
    kernel = torch.roll(kernel, half, dims=-1)[..., : 2 * half + 1] * torch.hann_window(
        2 * half + 1, periodic=False, dtype=torch.float64
    )
    length = audio.shape[-1] + kernel.shape[-1] - 1
    size = 2 ** math.ceil(math.log2(length))
    filtered = torch.fft.irfft(torch.fft.rfft(audio.double(), size) * torch.fft.rfft(kernel, size), size)
    filtered = filtered[..., half : half + audio.shape[-1]]
    return match_loudness(filtered, reference.double(), sample_rate).to(audio.dtype)


def match_loudness(audio: Tensor, reference: Tensor, sample_rate: float) -> Tensor:
    """``audio`` ``(batch, n_samples)`` scaled to the :func:`loudness_db` of ``reference``
    ``(batch, m_samples)``.

    Example:
        >>> x = torch.randn(1, 8000) * 0.1
        >>> bool(torch.allclose(match_loudness(x, 3 * x, 16000), 3 * x, rtol=1e-4))
        True
    """
    gain_db = loudness_db(reference, sample_rate) - loudness_db(audio, sample_rate)
    return audio * 10 ** (gain_db[:, None] / 20)
