"""Evaluation metrics of sound matching, per sound, and bootstrap confidence intervals.

- parameter error: mean absolute error of the free parameters in normalised units (0..1);
- multi-scale spectral distance: :func:`~torchddsp.matching.search.matching_loss`;
- log-spectral distance (dB): per frame ``sqrt(mean_f (10 log10 (P / Q))^2)`` of power spectra
  (FFT 1024, hop 256, floor 1e-8), averaged over frames;
- MFCC distance: mean absolute difference of 20 MFCCs (FFT 1024, hop 256, 128 mels).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..features import mfcc
from ..features import power_spectrogram
from ..validation import InputError
from .search import matching_loss

__all__ = ["parameter_error", "log_spectral_distance", "mfcc_distance", "spectral_distance", "bootstrap_ci"]

POWER_FLOOR = 1e-8


def _check_pair(prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape or prediction.dim() != 2:
        raise InputError(
            f"prediction and target must both be (batch, n), found {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def parameter_error(prediction: Tensor, target: Tensor) -> Tensor:
    """``(batch, n_free)`` twice -> ``(batch,)`` mean absolute error.

    Example:
        >>> parameter_error(torch.zeros(1, 4), torch.tensor([[0.0, 0.5, 1.0, 0.5]]))
        tensor([0.5000])
    """
    _check_pair(prediction, target)
    return (prediction - target).abs().mean(dim=1)


@torch.no_grad()
def spectral_distance(prediction: Tensor, target: Tensor) -> Tensor:
    """Multi-scale spectral distance ``(batch, n_samples)`` twice -> ``(batch,)``."""
    _check_pair(prediction, target)
    return matching_loss()(prediction, target)


@torch.no_grad()
def log_spectral_distance(prediction: Tensor, target: Tensor, n_fft: int = 1024, hop_size: int = 256) -> Tensor:
    """Log-spectral distance in dB, ``(batch, n_samples)`` twice -> ``(batch,)``.

    Example:
        >>> x = torch.randn(1, 4096)
        >>> float(log_spectral_distance(x, 10 * x))  # a gain of 20 dB everywhere
        20.0...
    """
    _check_pair(prediction, target)
    p = power_spectrogram(prediction, n_fft, hop_size).clamp_min(POWER_FLOOR)
    q = power_spectrogram(target, n_fft, hop_size).clamp_min(POWER_FLOOR)
    per_frame = (10 * torch.log10(p / q)).pow(2).mean(dim=-1).sqrt()
    return per_frame.mean(dim=-1)


@torch.no_grad()
def mfcc_distance(prediction: Tensor, target: Tensor, sample_rate: float = 16000.0) -> Tensor:
    """Mean absolute MFCC difference, ``(batch, n_samples)`` twice -> ``(batch,)``."""
    _check_pair(prediction, target)
    options = {"n_mfcc": 20, "n_fft": 1024, "hop_size": 256, "n_mels": 128}
    return (mfcc(prediction, sample_rate, **options) - mfcc(target, sample_rate, **options)).abs().mean(dim=(1, 2))


def bootstrap_ci(values: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95 % percentile-bootstrap interval of per-sound ``values`` -> ``(mean, low, high)``.

    Example:
        >>> bootstrap_ci(np.ones(10))
        (1.0, 1.0, 1.0)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise InputError("values must be a non-empty 1-D array of finite numbers")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)
