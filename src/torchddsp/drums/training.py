"""Training of the drum model: a multi-scale spectral loss against the real hit plus an L1
loss between the generated hit's normalised descriptors and the requested ones (the
descriptors are differentiable where :mod:`.descriptors` says so).

Real hits only ask for descriptor vectors the training set happens to contain, and the network
can satisfy the spectral term while ignoring its descriptor inputs. :func:`control_loss` asks
for descriptors directly: requests drawn at random over each class's normalised range [0, 1]
and sweeps of one descriptor with the other two fixed, penalising ``|measured - requested|``
and, along each sweep, any step where the measured value does not rise by at least half the
requested step (a hinge ranking loss)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ..losses import MultiScaleSpectralLoss
from ..validation import check_positive_int
from .model import DrumModel

__all__ = ["control_loss", "drum_loss", "fit", "random_requests", "spectral_loss"]


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


def random_requests(
    n_random: int, n_sweeps: int, points: int, generator: torch.Generator, n_drums: int = 5
) -> tuple[Tensor, Tensor, Tensor]:
    """Requests for :func:`control_loss`: ``n_random`` uniform descriptor vectors, then
    ``n_sweeps`` sweeps of ``points`` rows each (one descriptor at ``linspace(0, 1, points)``,
    the other two fixed at a random value), each with a random drum class.

    Shape: -> ``drum`` ``(n,)`` int64, ``targets`` ``(n, 3)`` float64 with ``n = n_random +
    n_sweeps * points``, and the swept descriptor of each sweep ``(n_sweeps,)`` int64.

    Example:
        >>> drum, targets, swept = random_requests(2, 1, 3, torch.Generator().manual_seed(0))
        >>> drum.shape, targets.shape, swept.shape
        (torch.Size([5]), torch.Size([5, 3]), torch.Size([1]))
    """
    drum = torch.randint(n_drums, (n_random + n_sweeps,), generator=generator)
    drum = torch.cat([drum[:n_random], drum[n_random:].repeat_interleave(points)])
    fixed = torch.rand(n_random + n_sweeps, 3, generator=generator, dtype=torch.float64)
    swept = torch.randint(3, (n_sweeps,), generator=generator)
    sweeps = fixed[n_random:].repeat_interleave(points, 0).reshape(n_sweeps, points, 3)
    sweeps[torch.arange(n_sweeps), :, swept] = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    return drum, torch.cat([fixed[:n_random], sweeps.reshape(-1, 3)]), swept


def control_loss(model: DrumModel, drum: Tensor, targets: Tensor, swept: Tensor, points: int) -> tuple[Tensor, Tensor]:
    """L1 between measured and requested normalised descriptors over all requests, and the mean
    hinge ``relu(step / 2 - (m[i + 1] - m[i]))`` along the sweeps (the last ``len(swept) *
    points`` rows, as :func:`random_requests` lays them out; ``step = 1 / (points - 1)``).

    Shape: ``drum`` ``(n,)``, ``targets`` ``(n, 3)``, ``swept`` ``(n_sweeps,)`` -> two scalars.
    """
    measured = model.measure(drum, model(drum, targets))
    l1 = (measured - targets).abs().mean()
    if swept.numel() == 0 or points < 2:
        return l1, torch.zeros_like(l1)
    tail = measured[measured.shape[0] - swept.numel() * points :].reshape(swept.numel(), points, 3)
    along = tail[torch.arange(swept.numel()), :, swept]
    ranking = torch.relu(0.5 / (points - 1) - along.diff(dim=-1)).mean()
    return l1, ranking


def _batches(n_items: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    while True:
        yield from torch.randperm(n_items, generator=generator).split(batch_size)


_COLUMNS = ("loss", "spectral", "descriptors", "control", "ranking")


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
    control_weight: float = 0.0,
    ranking_weight: float = 0.0,
    requests: tuple[int, int, int] = (16, 4, 5),
    seed: int = 0,
    log_every: int = 0,
) -> list[tuple[float, ...]]:
    """Adam on :func:`drum_loss` over random batches, plus ``control_weight`` and
    ``ranking_weight`` times :func:`control_loss` on fresh :func:`random_requests` (``requests``
    = ``(n_random, n_sweeps, points)``) when either weight is > 0; returns (total, spectral,
    descriptor, control L1, ranking) per step (printed every ``log_every`` steps when > 0).

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
    history: list[tuple[float, ...]] = []
    batches = _batches(drum.shape[0], batch_size, generator)
    for step in range(steps):
        index = next(batches)
        total, spectral_term, descriptor_term = drum_loss(
            model, drum[index], targets[index], audio[index], spectral, descriptor_weight
        )
        control_term = ranking_term = torch.zeros(())
        if control_weight > 0 or ranking_weight > 0:
            asked = random_requests(*requests, generator, n_drums=int(model.ranges.shape[0]))
            control_term, ranking_term = control_loss(model, *asked, requests[2])
            total = total + (control_weight * control_term + ranking_weight * ranking_term).to(total.dtype)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        row = (total.item(), spectral_term.item(), descriptor_term.item(), control_term.item(), ranking_term.item())
        history.append(row)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step}: " + " ".join(f"{n} {v:.4f}" for n, v in zip(_COLUMNS, row)), flush=True)
    return history
