"""The terms and loss types of :class:`~torchddsp.losses.MultiScaleSpectralLoss` beyond its
L1 magnitude and log-magnitude fast path, as Magenta ddsp's ``SpectralLoss`` defines them:
the views of a magnitude spectrogram that are compared (finite differences along time and
frequency, cumulative sum along frequency) and the distances between two views (L1, L2, cosine).
Plain autograd: these terms are rarer than the L1 ones, which have a hand-written backward.

Spectrograms are ``(batch, n_frames, n_bins)``: time is dimension 1, frequency dimension 2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..features.loudness import a_weighted_loudness

__all__ = [
    "LOSS_TYPES",
    "delta_time",
    "delta_frequency",
    "cumsum_frequency",
    "mean_difference",
    "cosine_distance",
    "safe_log",
    "loudness_curves",
]

LOSS_TYPES = ("l1", "l2", "cosine")
# tf.math.l2_normalize's guard: x / sqrt(max(sum x^2, 1e-12)), so a silent row stays 0.
_NORM_EPSILON = 1e-12


def delta_time(magnitude: Tensor) -> Tensor:
    """First difference along time: ``M[:, t + 1, f] - M[:, t, f]``, ``(batch, n_frames - 1, n_bins)``
    (Magenta's ``core.diff(M, axis=1)``)."""
    return magnitude[:, 1:, :] - magnitude[:, :-1, :]


def delta_frequency(magnitude: Tensor) -> Tensor:
    """First difference along frequency: ``M[:, t, f + 1] - M[:, t, f]``, ``(batch, n_frames, n_bins - 1)``
    (Magenta's ``core.diff(M, axis=2)``)."""
    return magnitude[:, :, 1:] - magnitude[:, :, :-1]


def cumsum_frequency(magnitude: Tensor) -> Tensor:
    """Cumulative sum along frequency within each frame, unnormalised, ``(batch, n_frames, n_bins)``
    (Magenta's ``tf.math.cumsum(M, axis=2)``: a 1-D Wasserstein-like view that still has a
    gradient between two sinusoids that do not overlap)."""
    return torch.cumsum(magnitude, dim=2)


def cosine_distance(target: Tensor, value: Tensor) -> Tensor:
    """``1 - <t, v> / (|t| |v|)`` along the last dimension, averaged over the others but the
    first: ``(batch, ..., n)`` pairs -> ``(batch,)``.

    Norms are guarded as ``tf.math.l2_normalize`` guards them (``sqrt(max(sum x^2, 1e-12))``):
    a silent row against a sounding one is at distance 1; two silent rows are at distance 0
    (equal rows). Magenta's ``'COSINE'`` loss type meant this (see
    ``benchmarks/peers/magenta_losses.py``: its TensorFlow 1 function assumes unit vectors)."""
    rows = (target.shape[0], -1, target.shape[-1])  # (batch, rows, n): a loudness curve is one row
    target, value = target.reshape(rows), value.reshape(rows)
    squares_t, squares_v = target.square().sum(-1), value.square().sum(-1)
    norms = torch.rsqrt(squares_t.clamp_min(_NORM_EPSILON)) * torch.rsqrt(squares_v.clamp_min(_NORM_EPSILON))
    distance = 1.0 - (target * value).sum(-1) * norms
    both_silent = (squares_t == 0) & (squares_v == 0)
    return torch.where(both_silent, 0.0, distance).mean(dim=1)


def mean_difference(target: Tensor, value: Tensor, loss_type: str) -> Tensor:
    """Per-item distance between two views ``(batch, ...)`` -> ``(batch,)`` (Magenta's
    ``losses.mean_difference``): ``"l1"``: ``mean|t - v|``; ``"l2"``: ``mean (t - v)^2`` (no
    square root); ``"cosine"``: :func:`cosine_distance` along the last dimension."""
    if loss_type == "cosine":
        return cosine_distance(target, value)
    difference = (target - value).flatten(1)
    return (difference.abs() if loss_type == "l1" else difference.square()).mean(dim=1)


def safe_log(magnitude: Tensor, epsilon: float, guard: str) -> Tensor:
    """Differentiable guarded log (see :func:`~torchddsp.losses.spectral_distances.guarded_log`):
    ``"floor"``: ``log(max(M, epsilon))``; ``"zero_only"``: ``log(M)``, ``log(epsilon)`` where
    ``M`` is exactly 0 (Magenta's ``safe_log``). Gradient 0, never NaN, where the guard holds."""
    if guard == "floor":
        return torch.log(torch.clamp_min(magnitude, epsilon))
    positive = magnitude > 0
    return torch.where(positive, torch.log(torch.where(positive, magnitude, 1.0)), math.log(epsilon))


def loudness_curves(
    prediction: Tensor, target: Tensor, sample_rate: float, frame_rate: float, n_fft: int
) -> tuple[Tensor, Tensor]:
    """A-weighted loudness in dB of both signals as Magenta's loss computes it
    (``compute_loudness(audio, n_fft=2048)``: 80 dB range, 0 dB reference, frames centred on
    ``i / frame_rate`` with zero padding, ``floor(n_samples * frame_rate / sample_rate) + 1`` of
    them: one more than :func:`~torchddsp.features.a_weighted_loudness`'s default count).

    Shape: ``(batch, n_samples)`` pairs -> two ``(batch, n_frames)``."""
    batch, n_samples = prediction.shape
    n_frames = math.floor(n_samples * frame_rate / sample_rate) + 1
    loudness = a_weighted_loudness(torch.cat([prediction, target]), sample_rate, frame_rate, n_fft, n_frames=n_frames)
    return loudness[:batch], loudness[batch:]
