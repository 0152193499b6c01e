"""YIN fundamental-frequency estimation in pure PyTorch (de Cheveigné & Kawahara, JASA 2002).

Per frame: the difference function ``d(tau) = sum_j (x_j - x_{j+tau})^2`` over half the frame
(computed from FFT autocorrelations), its cumulative-mean normalisation ``d'(tau)``, the first
dip below ``threshold`` (its local minimum; the global minimum when none dips that far), and
parabolic interpolation around it. Confidence is ``1 - d'(tau)`` clipped to [0, 1]: near 1
for a clean periodic frame, low for noise and silence. Vectorised over batch and frames.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..functional._checks import check_positive
from .framing import centered_frames

__all__ = ["yin"]


def _difference(frames: Tensor, max_lag: int) -> Tensor:
    """``d(tau)`` for ``tau = 0 .. max_lag`` over the first ``size - max_lag`` samples of each frame."""
    size = frames.shape[-1]
    window = size - max_lag
    n_fft = 1 << (size + window - 1).bit_length()
    frames_fft = torch.fft.rfft(frames, n_fft)
    head_fft = torch.fft.rfft(frames[..., :window], n_fft)
    # Cross-correlation of the head with the whole frame: r(tau) = sum_{j<window} x_j x_{j+tau}.
    correlation = torch.fft.irfft(frames_fft * head_fft.conj(), n_fft)[..., : max_lag + 1]
    energy = torch.nn.functional.pad(torch.cumsum(frames.square(), dim=-1), (1, 0))
    lags = torch.arange(max_lag + 1, device=frames.device)
    head_energy = energy[..., window : window + 1]  # sum_{j<window} x_j^2
    shifted_energy = energy[..., lags + window] - energy[..., lags]  # sum_{j<window} x_{j+tau}^2
    return (head_energy + shifted_energy - 2.0 * correlation).clamp_min(0.0)


def yin(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    f_min: float = 40.0,
    f_max: float = 2000.0,
    threshold: float = 0.15,
    n_frames: int | None = None,
) -> tuple[Tensor, Tensor]:
    """f0 and confidence per frame with YIN (see the module docstring).

    Frame ``i`` is centred on time ``i / frame_rate``; each frame spans ``2 * sample_rate / f_min``
    samples (two periods of the lowest pitch).

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``f0_hz``, ``confidence``: ``(batch, n_frames)``.

    Args:
        audio: signal at ``sample_rate`` (any rate; higher rates resolve high pitches finer).
        sample_rate: in Hz.
        frame_rate: frames per second.
        f_min, f_max: search range in Hz, ``0 < f_min < f_max < sample_rate / 4``.
        threshold: absolute threshold on the normalised difference (YIN's step 4).
        n_frames: frames to return (default ``floor(n_samples * frame_rate / sample_rate)``).
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    check_positive("f_min", f_min)
    if not f_min < f_max < sample_rate / 4:
        raise ValueError(f"need f_min < f_max < sample_rate / 4 ({sample_rate / 4}), found f_min={f_min}, f_max={f_max}")
    check_positive("threshold", threshold)
    max_lag = math.ceil(sample_rate / f_min)
    min_lag = max(2, math.floor(sample_rate / f_max))
    frames = centered_frames(audio, 2 * max_lag + 2, sample_rate, frame_rate, n_frames)
    frames = frames.to(torch.float64 if frames.dtype == torch.float64 else torch.float32)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    difference = _difference(frames, max_lag + 1)  # one extra lag for the parabola at max_lag

    lags = torch.arange(1, difference.shape[-1], device=audio.device, dtype=difference.dtype)
    mean_so_far = torch.cumsum(difference[..., 1:], dim=-1) / lags
    normalised = difference[..., 1:] / mean_so_far.clamp_min(torch.finfo(difference.dtype).tiny)
    normalised = torch.where(mean_so_far > 0, normalised, torch.ones_like(normalised))
    normalised = torch.cat([torch.ones_like(normalised[..., :1]), normalised], dim=-1)  # d'(0) = 1

    search = normalised[..., min_lag : max_lag + 1]
    below = search < threshold
    any_below = below.any(dim=-1, keepdim=True)
    first = torch.where(any_below, below.float().argmax(dim=-1, keepdim=True), torch.zeros_like(any_below, dtype=torch.long))
    # Inside the first run of lags below the threshold, take its minimum; with no run, the global one.
    index = torch.arange(search.shape[-1], device=audio.device)
    after_first = index >= first
    run = torch.cumprod((below | ~after_first).to(torch.uint8), dim=-1).bool() & after_first
    candidates = torch.where(run | ~any_below, search, torch.full_like(search, math.inf))
    lag = candidates.argmin(dim=-1, keepdim=True) + min_lag

    # Parabolic interpolation of d' around the chosen lag.
    left = normalised.gather(-1, lag - 1)
    centre = normalised.gather(-1, lag)
    right = normalised.gather(-1, (lag + 1).clamp_max(normalised.shape[-1] - 1))
    curvature = left - 2.0 * centre + right
    shift = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-12), torch.zeros_like(centre))
    shift = shift.clamp(-0.5, 0.5)
    period = lag.to(difference.dtype) + shift
    f0_hz = (sample_rate / period)[..., 0]
    minimum = (centre - 0.25 * (left - right) * shift)[..., 0]
    confidence = (1.0 - minimum).clamp(0.0, 1.0)
    return f0_hz.to(audio.dtype), confidence.to(audio.dtype)
