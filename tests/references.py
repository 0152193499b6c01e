"""Independent float64 numpy references the tests compare against."""

from __future__ import annotations

import numpy as np
import torch


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def hann_overlap_add_upsample(frames: np.ndarray, n_samples: int) -> np.ndarray:
    """Independent float64 reference of DDSP's window upsampling (Magenta's algorithm).

    ``frames`` (n_frames, channels); appends the last frame (end point), overlap-adds periodic
    Hann windows of 2 * hop samples with hop ``n_samples / n_frames``, and trims hop samples
    at both ends.
    """
    frames = np.concatenate([frames, frames[-1:]], axis=0)
    n_intervals = frames.shape[0] - 1
    hop = n_samples // n_intervals
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))
    out = np.zeros((n_intervals * hop + 2 * hop, frames.shape[1]))
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + 2 * hop] += window[:, None] * frame[None, :]
    return out[hop:-hop][:n_samples]


def linear_upsample(frames: np.ndarray, n_samples: int) -> np.ndarray:
    """Float64 reference of linear upsampling: sample n at frame position n * n_frames / n_samples,
    the last frame held."""
    n_frames = frames.shape[0]
    position = np.arange(n_samples) * n_frames / n_samples
    return np.stack([np.interp(position, np.arange(n_frames), frames[:, c]) for c in range(frames.shape[1])], axis=1)


def harmonic_reference(
    f0_frames, amplitude_frames, distribution_frames, n_samples, sample_rate, method="window", phase0=0.0
):
    """Float64 numpy harmonic synthesis: per-sample frequencies and amplitudes, one sine per
    harmonic, phase = initial + 2 pi cumsum(k f / sr), partials at or above Nyquist silent."""
    f0 = linear_upsample(np.asarray(f0_frames, dtype=np.float64), n_samples)[:, 0]
    coefficients = np.asarray(amplitude_frames, dtype=np.float64) * np.asarray(distribution_frames, dtype=np.float64)
    upsample = hann_overlap_add_upsample if method == "window" else linear_upsample
    amplitudes = upsample(coefficients, n_samples)
    harmonics = np.arange(1, coefficients.shape[1] + 1)
    phase = phase0 + 2 * np.pi * np.cumsum(f0) / sample_rate
    out = np.zeros(n_samples)
    for k in harmonics:
        audible = np.abs(k * f0) < sample_rate / 2
        out += amplitudes[:, k - 1] * audible * np.sin(k * phase)
    return out
