"""Training the estimator: rendered examples in memory, and steps with a parameter loss (on
rendered sounds, whose free values are known) or a spectral loss through the voice (on any
audio with a known pitch: rendered or out-of-domain).

The recipe of Masuda & Saito (ISMIR 2021): parameter loss first, then spectral-loss fine-tuning
(which can also use out-of-domain sounds, which have no parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ..modular import Voice
from ..validation import InputError
from ..validation import check_positive_int
from .network import ParameterEstimator
from .search import matching_loss
from .search import render_free
from .voice_setup import MatchingSetup
from .voice_setup import sample_free

__all__ = ["Examples", "render_examples", "parameter_loss", "spectral_loss", "batches", "train_steps"]


@dataclass
class Examples:
    """Sounds with their pitch: ``audio`` ``(n, n_samples)``, ``midi_note`` ``(n,)``, and for
    rendered sounds their ``free`` values ``(n, n_free)`` and noise ``seeds`` ``(n,)`` (None
    for out-of-domain sounds)."""

    audio: Tensor
    midi_note: Tensor
    free: Tensor | None = None
    seeds: Tensor | None = None

    def __len__(self) -> int:
        return self.audio.shape[0]

    def take(self, index: Tensor) -> Examples:
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return Examples(self.audio[index].float(), self.midi_note[index], pick(self.free), pick(self.seeds))


@torch.no_grad()
def render_examples(
    voice: Voice, setup: MatchingSetup, n: int, seed: int, batch_size: int = 64, dtype: torch.dtype = torch.float32
) -> Examples:
    """``n`` random sounds of the setup (free values uniform in ``[free_low, free_high]``,
    pitch uniform in ``[midi_low, midi_high]``, noise seeded per sound), all from ``seed``."""
    n = check_positive_int("n", n)
    generator = torch.Generator().manual_seed(seed)
    free = sample_free(setup, n, generator)
    midi = setup.midi_low + (setup.midi_high - setup.midi_low) * torch.rand(n, generator=generator)
    seeds = torch.randint(1, 2**62, (n,), generator=generator)
    audio = torch.empty(n, setup.n_samples, dtype=dtype)
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        audio[part] = render_free(voice, setup, free[part], midi[part], seeds[part]).to(dtype)
    return Examples(audio, midi, free, seeds)


def parameter_loss(model: ParameterEstimator, batch: Examples) -> Tensor:
    """Mean squared error of the predicted free values (normalised units)."""
    if batch.free is None:
        raise InputError("batch has no free values: the parameter loss needs rendered sounds")
    return (model(batch.audio, batch.midi_note) - batch.free).pow(2).mean()


def spectral_loss(model: ParameterEstimator, voice: Voice, batch: Examples) -> Tensor:
    """Mean multi-scale spectral distance between the batch and the voice's render of the
    predicted parameters (noise seed 0: a matcher does not know the target's noise)."""
    prediction = model(batch.audio, batch.midi_note)
    seeds = torch.zeros(len(batch), dtype=torch.int64)
    rendered = render_free(voice, model.setup, prediction, batch.midi_note, seeds)
    return matching_loss()(rendered, batch.audio).mean()


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Endless shuffled index batches of ``range(n)`` (each epoch a new permutation)."""
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train_steps(
    model: ParameterEstimator,
    voice: Voice,
    data: Examples,
    loss: str,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    log_every: int = 50,
) -> list[float]:
    """``steps`` Adam steps with ``loss`` ``"parameter"`` or ``"spectral"`` on shuffled batches
    of ``data`` -> the loss of every step (printed every ``log_every``)."""
    if loss not in ("parameter", "spectral"):
        raise InputError(f"loss must be 'parameter' or 'spectral', found {loss!r}")
    if len(data) < batch_size:
        raise InputError(f"data must hold at least batch_size ({batch_size}) sounds, found {len(data)}")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1), eta_min=learning_rate / 10)
    model.train()
    history: list[float] = []
    for step, index in zip(range(steps), batches(len(data), batch_size, torch.Generator().manual_seed(seed))):
        batch = data.take(index)
        value = parameter_loss(model, batch) if loss == "parameter" else spectral_loss(model, voice, batch)
        optimizer.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history.append(float(value.detach()))
        if log_every and (step + 1) % log_every == 0:
            recent = history[-log_every:]
            print(f"step {step + 1}: {loss} loss {sum(recent) / len(recent):.4f}", flush=True)
    model.eval()
    return history
