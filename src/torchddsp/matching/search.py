"""Matching without (or after) a network: gradient refinement through the voice, the
iterative matcher of ``examples/sound_matching.py`` (the same refinement from a neutral
guess), and random search.

All work on a batch of independent sounds at once: the loss is the per-sound multi-scale
spectral distance summed over the batch, so each sound's gradient is its own (Adam's updates
are per element).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..losses import MultiScaleSpectralLoss
from ..modular import Voice
from ..validation import InputError
from ..validation import check_positive_int
from .voice_setup import MatchingSetup
from .voice_setup import assemble_patch
from .voice_setup import sample_free

__all__ = ["matching_loss", "render_free", "refine", "iterative_match", "random_search"]

#: The example's learning rate (Adam on logits).
LEARNING_RATE = 0.05


def matching_loss() -> MultiScaleSpectralLoss:
    """The spectral loss of matching (the example's): L1 on magnitudes and log magnitudes at
    FFT sizes 1024 to 64, per sound (``reduction="none"``)."""
    return MultiScaleSpectralLoss(fft_sizes=(1024, 512, 256, 128, 64), reduction="none")


def render_free(voice: Voice, setup: MatchingSetup, free: Tensor, midi_note: Tensor, seeds: Tensor) -> Tensor:
    """Render free values ``(batch, n_free)`` at pitches ``(batch,)`` -> ``(batch, n_samples)``."""
    return voice(assemble_patch(voice, setup, free, midi_note), seeds)


def refine(
    voice: Voice,
    setup: MatchingSetup,
    free: Tensor,
    target: Tensor,
    midi_note: Tensor,
    seeds: Tensor,
    steps: int,
    learning_rate: float = LEARNING_RATE,
    history: list[float] | None = None,
) -> tuple[Tensor, Tensor]:
    """Adam on the logits of ``free`` ``(batch, n_free)`` for ``steps`` steps, minimising the
    spectral loss to ``target`` ``(batch, n_samples)`` -> ``(best free, its loss (batch,))``:
    per sound, the best of the values visited (so it never ends worse than it started).
    ``history``, when given, receives the batch's mean loss before each step.
    """
    steps = check_positive_int("steps", steps, minimum=0)
    if target.shape[0] != free.shape[0]:
        raise InputError(f"target must have one sound per row of free ({free.shape[0]}), found {target.shape[0]}")
    loss_fn = matching_loss()
    raw = torch.logit(free.detach().clamp(1e-4, 1 - 1e-4)).requires_grad_()
    optimizer = torch.optim.Adam([raw], lr=learning_rate)
    best, best_loss = free.detach().clone(), torch.full((free.shape[0],), float("inf"))
    for step in range(steps + 1):
        current = torch.sigmoid(raw)
        losses = loss_fn(render_free(voice, setup, current, midi_note, seeds), target)
        better = losses.detach() < best_loss
        best[better], best_loss[better] = current.detach()[better], losses.detach()[better]
        if step == steps:
            break
        if history is not None:
            history.append(float(losses.detach().mean()))
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()
    return best, best_loss


def iterative_match(
    voice: Voice, setup: MatchingSetup, target: Tensor, midi_note: Tensor, seeds: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """The iterative matcher of ``examples/sound_matching.py``: :func:`refine` from the neutral
    guess (every free parameter 0.5)."""
    neutral = torch.full((target.shape[0], setup.n_free), 0.5)
    return refine(voice, setup, neutral, target, midi_note, seeds, steps)


@torch.no_grad()
def random_search(
    voice: Voice,
    setup: MatchingSetup,
    target: Tensor,
    midi_note: Tensor,
    seeds: Tensor,
    n_renders: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The best of ``n_renders`` random patches (drawn as the training data) per sound, by the
    spectral loss -> ``(free (batch, n_free), loss (batch,))``."""
    n_renders = check_positive_int("n_renders", n_renders)
    loss_fn = matching_loss()
    best = torch.zeros(target.shape[0], setup.n_free)
    best_loss = torch.full((target.shape[0],), float("inf"))
    for _ in range(n_renders):
        guess = sample_free(setup, target.shape[0], generator)
        losses = loss_fn(render_free(voice, setup, guess, midi_note, seeds), target)
        better = losses < best_loss
        best[better], best_loss[better] = guess[better], losses[better]
    return best, best_loss
