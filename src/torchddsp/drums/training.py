"""Training of the drum model: a multi-scale spectral loss against the real hit plus an L1
loss between the generated hit's normalised descriptors and the requested ones (the
descriptors are differentiable where :mod:`.descriptors` says so)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ..losses import MultiScaleSpectralLoss
from ..validation import check_positive_int
from .model import DrumModel

__all__ = ["drum_loss", "fit", "spectral_loss"]


def spectral_loss(**overrides) -> MultiScaleSpectralLoss:
    """The training and evaluation distance: Magenta's multi-scale L1 on magnitude and log
    magnitude, FFT sizes 2048 to 64 (``overrides``: other arguments, e.g. ``reduction``)."""
    return MultiScaleSpectralLoss.magenta(**overrides)


def drum_loss(
    model: DrumModel,
    drum: Tensor,
    targets: Tensor,
    audio: Tensor,
    spectral: MultiScaleSpectralLoss,
    descriptor_weight: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Total, spectral and descriptor loss of one batch.

    Shape: ``drum`` ``(batch,)``, ``targets`` ``(batch, 3)`` normalised descriptors of
    ``audio`` ``(batch, n_samples)`` -> three scalars.
    """
    generated = model(drum, targets)
    spectral_term = spectral(generated, audio)
    if descriptor_weight == 0:
        descriptor_term = torch.zeros((), dtype=spectral_term.dtype)
    else:
        measured = model.measure(drum, generated)
        descriptor_term = (measured - targets).abs().mean().to(spectral_term.dtype)
    return spectral_term + descriptor_weight * descriptor_term, spectral_term, descriptor_term


def _batches(n_items: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    while True:
        yield from torch.randperm(n_items, generator=generator).split(batch_size)


def fit(
    model: DrumModel,
    drum: Tensor,
    targets: Tensor,
    audio: Tensor,
    steps: int,
    *,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    descriptor_weight: float = 1.0,
    seed: int = 0,
    log_every: int = 0,
) -> list[tuple[float, float, float]]:
    """Adam on :func:`drum_loss` over random batches; returns (total, spectral, descriptor) per
    step (printed every ``log_every`` steps when > 0).

    Example:
        >>> model = DrumModel(hidden=8, n_samples=2048)
        >>> audio = torch.randn(4, 2048, generator=torch.Generator().manual_seed(0)) * 0.1
        >>> len(fit(model, torch.tensor([0, 1, 2, 3]), torch.rand(4, 3), audio, steps=2, batch_size=2))
        2
    """
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.net.parameters(), lr=learning_rate)
    spectral = spectral_loss()
    history = []
    batches = _batches(drum.shape[0], batch_size, generator)
    for step in range(steps):
        index = next(batches)
        total, spectral_term, descriptor_term = drum_loss(
            model, drum[index], targets[index], audio[index], spectral, descriptor_weight
        )
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append((total.item(), spectral_term.item(), descriptor_term.item()))
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(
                f"step {step}: loss {total.item():.4f} spectral {spectral_term.item():.4f} "
                f"descriptors {descriptor_term.item():.4f}",
                flush=True,
            )
    return history
