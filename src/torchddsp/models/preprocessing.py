"""Scale f0 and loudness to network inputs, as DDSP's ``F0LoudnessPreprocessor``."""

from __future__ import annotations

from torch import Tensor
from torch import nn

from ..functional import hz_to_midi
from ..validation import check_rank
from ..validation import check_shape

__all__ = ["F0LoudnessPreprocessor", "F0_RANGE", "LOUDNESS_RANGE"]

F0_RANGE = 127.0  # MIDI notes
LOUDNESS_RANGE = 120.0  # dB


class F0LoudnessPreprocessor(nn.Module):
    """``f0_scaled = hz_to_midi(f0_hz) / 127`` and ``loudness_scaled = loudness_db / 120 + 1``
    (``loudness_range_db`` replaces the 120: Magenta's models divide by 80).

    Shape: ``f0_hz``, ``loudness_db`` ``(batch, n_frames)`` or ``(batch, n_frames, 1)`` ->
    two ``(batch, n_frames, 1)`` tensors, roughly in [0, 1].

    Example:
        >>> import torch
        >>> f0_scaled, loudness_scaled = F0LoudnessPreprocessor()(torch.full((2, 10), 440.0), torch.zeros(2, 10))
        >>> f0_scaled.shape, loudness_scaled.shape
        (torch.Size([2, 10, 1]), torch.Size([2, 10, 1]))
    """

    def __init__(self, loudness_range_db: float = LOUDNESS_RANGE):
        super().__init__()
        self.loudness_range_db = float(loudness_range_db)

    def forward(self, f0_hz: Tensor, loudness_db: Tensor) -> tuple[Tensor, Tensor]:
        f0_hz, loudness_db = (x if x.dim() == 3 else x.unsqueeze(-1) for x in (f0_hz, loudness_db))
        check_rank("f0_hz", f0_hz, 3, "(batch, n_frames[, 1])")
        check_shape("loudness_db", loudness_db, tuple(f0_hz.shape))  # f0_hz's
        return hz_to_midi(f0_hz) / F0_RANGE, loudness_db / self.loudness_range_db + 1.0
