"""Self-supervised training of :class:`~torchddsp.style.model.StyleTransfer` (DeepAFx-ST's
recipe): two segments ``a``, ``b`` of one recording are first coloured by one random chain
setting (so inputs are not all "clean"); a second random setting ``s`` then makes the
reference ``chain(a', s)`` and the target ``chain(b', s)``; the model sees ``b'`` and the
reference and must find ``s``. The loss compares its output with the target (multi-scale STFT,
auraloss's resolutions), so any audio is training data and no setting is ever labelled.

Gradients: ``"exact"`` (autodiff through the chain) or ``"spsa"``
(:func:`~torchddsp.style.spsa.spsa_chain`, the estimate DeepAFx-ST used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ..losses import MultiScaleSpectralLoss
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive_int
from .chain import apply_chain
from .model import StyleTransfer
from .settings import N_SETTINGS
from .spsa import spsa_chain

__all__ = ["GRADIENTS", "StyleExample", "random_settings", "make_examples", "segment_pairs", "style_loss", "train_step"]

GRADIENTS = ("exact", "spsa")


class StyleExample(NamedTuple):
    """One self-supervised batch: ``input``, ``reference``, ``target`` ``(batch, n_samples)``
    and the (hidden) normalised settings ``(batch, N_SETTINGS)`` that made the target."""

    input: Tensor
    reference: Tensor
    target: Tensor
    settings: Tensor


def random_settings(batch: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform random normalised settings ``(batch, N_SETTINGS)``."""
    return torch.rand(check_positive_int("batch", batch), N_SETTINGS, generator=generator, dtype=dtype)


def make_examples(
    first: Tensor, second: Tensor, sample_rate: float, generator: torch.Generator | None = None
) -> StyleExample:
    """A :class:`StyleExample` from segment pairs ``first``, ``second`` ``(batch, n_samples)``
    (item ``i`` of both from the same recording; ``first`` becomes the reference)."""
    if first.shape != second.shape:
        raise InputError(
            f"first and second must have the same shape, found {tuple(first.shape)}, {tuple(second.shape)}"
        )
    with torch.no_grad():
        colour = random_settings(first.shape[0], generator, first.dtype)
        style = random_settings(first.shape[0], generator, first.dtype)
        source = apply_chain(second, colour, sample_rate)
        reference = apply_chain(apply_chain(first, colour, sample_rate), style, sample_rate)
        target = apply_chain(source, style, sample_rate)
    return StyleExample(source, reference, target, style)


def segment_pairs(
    recordings: Sequence[Tensor],
    batch: int,
    n_samples: int,
    generator: torch.Generator | None = None,
    min_rms: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Two non-overlapping segments of ``n_samples`` from each of ``batch`` random recordings
    ``(n_samples_i,)`` (each at least ``2 n_samples`` long): ``(batch, n_samples)`` twice.
    Segments quieter than ``min_rms`` are drawn again (up to 20 times)."""
    n_samples = check_positive_int("n_samples", n_samples)
    usable = [r for r in recordings if r.shape[-1] >= 2 * n_samples]
    if not usable:
        raise InputError(f"recordings: none is at least {2 * n_samples} samples long")
    pairs = []
    for _ in range(check_positive_int("batch", batch)):
        for _attempt in range(20):
            audio = usable[int(torch.randint(len(usable), (1,), generator=generator))]
            start = int(torch.randint(audio.shape[-1] - 2 * n_samples + 1, (1,), generator=generator))
            gap = int(torch.randint(audio.shape[-1] - 2 * n_samples - start + 1, (1,), generator=generator))
            a, b = audio[start : start + n_samples], audio[start + n_samples + gap : start + 2 * n_samples + gap]
            if min(float(a.square().mean().sqrt()), float(b.square().mean().sqrt())) >= min_rms:
                break
        pairs.append((a, b) if bool(torch.rand((), generator=generator) < 0.5) else (b, a))
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def style_loss() -> MultiScaleSpectralLoss:
    """The training loss: auraloss's multi-resolution STFT loss (spectral convergence + log
    magnitude), per item."""
    return MultiScaleSpectralLoss.auraloss(convergence_over_batch=False)


def train_step(
    model: StyleTransfer,
    optimizer: torch.optim.Optimizer,
    loss: torch.nn.Module,
    example: StyleExample,
    gradient: str = "exact",
    epsilon: float = 1e-3,
    generator: torch.Generator | None = None,
) -> float:
    """One optimiser step on ``example``; returns the loss. ``gradient``: ``"exact"`` or ``"spsa"``."""
    check_choice("gradient", gradient, GRADIENTS)
    optimizer.zero_grad()
    normalized = model.predict(example.input, example.reference)
    if gradient == "exact":
        output = apply_chain(example.input, normalized, model.sample_rate)
    else:
        output = spsa_chain(example.input, normalized, model.sample_rate, epsilon, generator)
    value = loss(output, example.target)
    value.backward()
    optimizer.step()
    return float(value.detach())
