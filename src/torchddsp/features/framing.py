"""Frame-rate analysis framing shared by every frame-rate feature (loudness, f0, confidence).

One convention: frame ``i`` is centred on time ``i / frame_rate``, i.e. on sample
``i * sample_rate / frame_rate`` (rounded to the nearest sample when that is not an integer),
the same alignment as the synthesizers' controls (frame ``i`` at sample ``i * hop``). Audio
outside the signal reads as zeros. A signal of ``n_samples`` has
``n_frames = floor(n_samples * frame_rate / sample_rate)`` frames by default, so 4 s at
16 kHz and 250 frames/s give 1000 frames, matching 64000 samples of synthesis with hop 64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["default_n_frames", "frame_centers", "centered_frames"]


def default_n_frames(n_samples: int, sample_rate: float, frame_rate: float) -> int:
    """``floor(n_samples * frame_rate / sample_rate)``, at least 1 (computed exactly for
    integer-valued rates)."""
    if float(sample_rate).is_integer() and float(frame_rate).is_integer():
        return max(1, n_samples * int(frame_rate) // int(sample_rate))
    return max(1, math.floor(n_samples * frame_rate / sample_rate + 1e-9))


def frame_centers(n_frames: int, sample_rate: float, frame_rate: float, device: torch.device | None = None) -> Tensor:
    """Centre sample of each frame, ``round(i * sample_rate / frame_rate)``, as int64 ``(n_frames,)``.

    Example:
        >>> frame_centers(4, 16000, 250).tolist()
        [0, 64, 128, 192]
    """
    position = torch.arange(n_frames, dtype=torch.float64, device=device) * (sample_rate / frame_rate)
    return torch.round(position).long()


def centered_frames(
    audio: Tensor,
    frame_size: int,
    sample_rate: float,
    frame_rate: float,
    n_frames: int | None = None,
    lead: int | None = None,
) -> Tensor:
    """Cut ``audio`` into frames centred on ``i / frame_rate`` (see the module docstring).

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``(batch, n_frames, frame_size)``.

    Args:
        audio: the signal. Differentiable.
        frame_size: samples per frame.
        lead: samples of the frame before its centre (default ``frame_size // 2``): the
            centre is sample ``lead`` of the frame.
        sample_rate: of ``audio``, in Hz.
        frame_rate: frames per second.
        n_frames: frames to return (default ``default_n_frames``).

    Example:
        >>> centered_frames(torch.zeros(2, 1600), 512, 16000, frame_rate=250).shape
        torch.Size([2, 25, 512])
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_finite("audio", audio)
    frame_size = check_positive_int("frame_size", frame_size)
    sample_rate = check_positive("sample_rate", sample_rate)
    frame_rate = check_positive("frame_rate", frame_rate)
    batch, n_samples = audio.shape
    if n_frames is None:
        n_frames = default_n_frames(n_samples, sample_rate, frame_rate)
    n_frames = check_positive_int("n_frames", n_frames)
    half = frame_size // 2 if lead is None else check_positive_int("lead", lead, minimum=0)
    last_center = int(frame_centers(n_frames, sample_rate, frame_rate)[-1])
    pad_right = max(0, last_center - half + frame_size - n_samples)
    padded = torch.nn.functional.pad(audio, (half, pad_right))
    hop = sample_rate / frame_rate
    if float(hop).is_integer():  # strided view, no copy
        return padded.unfold(1, frame_size, int(hop))[:, :n_frames]
    starts = frame_centers(n_frames, sample_rate, frame_rate, audio.device)
    index = starts[:, None] + torch.arange(frame_size, device=audio.device)[None, :]
    return padded[:, index]
