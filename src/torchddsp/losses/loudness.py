"""L1 distance in dB between A-weighted loudness curves."""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn

from ..features.loudness import a_weighted_loudness
from ..processors import check_same_audio
from ..validation import check_choice
from ..validation import check_positive
from .reduction import REDUCTIONS
from .reduction import reduce_items

__all__ = ["LoudnessLoss"]


class LoudnessLoss(nn.Module):
    """L1 distance in dB between the A-weighted loudness curves of two signals
    (:func:`torchddsp.features.a_weighted_loudness`), averaged over frames.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.

    Example:
        >>> prediction, target = torch.zeros(2, 1600), torch.ones(2, 1600)
        >>> LoudnessLoss(16000)(prediction, target).shape
        torch.Size([])
        >>> LoudnessLoss(16000, reduction="none")(prediction, target).shape
        torch.Size([2])
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        frame_rate: float = 250.0,
        n_fft: int | None = None,
        range_db: float = 80.0,
        reduction: str = "mean",
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.n_fft, self.range_db = n_fft, float(range_db)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        loudness = a_weighted_loudness(
            torch.cat([prediction, target]), self.sample_rate, self.frame_rate, self.n_fft, self.range_db
        )
        return reduce_items((loudness[batch:] - loudness[:batch]).abs().mean(dim=-1), self.reduction)
