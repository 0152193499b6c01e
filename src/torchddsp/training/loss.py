"""The training loss a config declares: ``train.loss_terms`` (term -> weight), summed."""

from __future__ import annotations

from torch import Tensor
from torch import nn

from ..configs import ExperimentConfig
from ..losses import LoudnessLoss
from ..losses import MelSpectrogramLoss
from ..losses import MultiScaleSpectralLoss

__all__ = ["WeightedLoss", "build_loss"]


class WeightedLoss(nn.Module):
    """``sum(weight * term(prediction, target))`` over named terms (a weight of 0 drops its term).

    Shape: ``prediction``, ``target`` ``(batch, n_samples)`` -> a scalar (the terms' mean
    reduction).

    Example:
        >>> import torch
        >>> loss = WeightedLoss({"spectral": MultiScaleSpectralLoss.magenta()}, {"spectral": 2.0})
        >>> a, b = torch.randn(1, 4096), torch.randn(1, 4096)
        >>> bool(torch.isclose(loss(a, b), 2 * MultiScaleSpectralLoss.magenta()(a, b)))
        True
    """

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]):
        super().__init__()
        self.weights = {name: float(weights[name]) for name in terms if weights[name] != 0}
        self.terms = nn.ModuleDict({name: terms[name] for name in self.weights})

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        values = [weight * self.terms[name](prediction, target) for name, weight in self.weights.items()]
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total


def build_loss(config: ExperimentConfig) -> WeightedLoss:
    """The loss of ``config.train.loss_terms``: ``spectral`` is ``MultiScaleSpectralLoss``
    with the ``train.loss`` preset, ``loudness`` :class:`LoudnessLoss` and ``mel``
    :class:`MelSpectrogramLoss` at the model's sample and frame rates."""
    model = config.model
    makers = {
        "spectral": lambda: getattr(MultiScaleSpectralLoss, config.train.loss)(),
        "loudness": lambda: LoudnessLoss(model.sample_rate, model.frame_rate),
        "mel": lambda: MelSpectrogramLoss(model.sample_rate),
    }
    weights = config.train.loss_terms
    return WeightedLoss({name: makers[name]() for name in weights if weights[name] != 0}, weights)
