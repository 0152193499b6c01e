"""What the training loop hands its interval hooks, and the hooks (log, samples, eval,
checkpoint): the only places a run brings values to the host (see
:mod:`~torchddsp.training.trainer`)."""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import NamedTuple

import torch
from torch import nn

from ..configs import ExperimentConfig
from ..configs import TrainConfig
from ..io import atomic_path
from ..io import write_audio
from ..io import write_text_atomic
from ..models.autoencoder import Autoencoder
from .checkpoints import save_checkpoint
from .data import FeatureDataset
from .metrics import METRIC_NAMES
from .metrics import evaluate_model

__all__ = ["Run", "StepOutput", "Hook", "default_hooks", "TRAIN_COLUMNS"]

TRAIN_COLUMNS = ("step", "loss", "learning_rate", "grad_norm", "seconds_per_step")


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (nested in dicts and lists) replaced by None, so
    that ``json.dumps`` writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _append_csv(path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in columns})
        stream.flush()


@dataclass
class Run:
    """A training run ready to step: what :func:`~torchddsp.training.trainer.build_run` made, read
    by the loop and its hooks.

    ``model`` is the :class:`Autoencoder`; ``trained`` the module that is called (the model, or
    its ``DistributedDataParallel`` wrapper); ``start_step`` the step it continues from (0 for
    a new run); ``extra`` what every checkpoint records besides the weights.
    """

    config: ExperimentConfig
    run_dir: Path
    model: Autoencoder
    trained: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    dataset: FeatureDataset
    eval_dataset: FeatureDataset | None
    start_step: int
    final_step: int
    extra: dict[str, Any]
    device: torch.device = torch.device("cpu")
    rank: int = 0
    world: int = 1
    writer: Any = None  # a TensorBoard SummaryWriter on rank 0, when asked for
    last_log: tuple[float, int] = (0.0, 0)  # (time, step) of the last log row
    loss: float = math.nan  # the loss last brought to the host


class StepOutput(NamedTuple):
    """What :func:`~torchddsp.training.trainer.train_step` returns: tensors still on the device
    (reading them syncs)."""

    loss: torch.Tensor  # 0-d
    grad_norm: torch.Tensor  # 0-d, before clipping
    output: torch.Tensor  # (batch, n_samples): the model's audio


@dataclass
class Hook:
    """``action(run, done, step)`` after step ``done`` (1-based) when ``done`` is a multiple of
    ``every``, or the last step and ``at_end``. Every rank calls it (some synchronise)."""

    name: str
    every: int
    action: Callable[[Run, int, StepOutput, dict[str, torch.Tensor]], None]
    at_end: bool = True

    def due(self, done: int, final_step: int) -> bool:
        return done % self.every == 0 or (self.at_end and done == final_step)


def _host_loss(run: Run, done: int, step: StepOutput) -> float:
    """The loss as a number (a host sync), refusing a non-finite one on every rank. Every hook
    reads it first: no log row, sample, evaluation or checkpoint of weights that a non-finite
    loss has stepped (between hooks the loss stays on the device)."""
    run.loss = float(step.loss)
    if not math.isfinite(run.loss):
        raise FloatingPointError(f"the loss became {run.loss} at step {done}; lower the learning rate")
    return run.loss


def _log(run: Run, done: int, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
    loss = _host_loss(run, done, step)
    if run.rank != 0:
        return
    now = time.perf_counter()
    seconds = (now - run.last_log[0]) / max(done - run.last_log[1], 1)
    run.last_log = (now, done)
    row = {
        "step": done,
        "loss": loss,
        "learning_rate": run.optimizer.param_groups[0]["lr"],
        "grad_norm": float(step.grad_norm),
        "seconds_per_step": seconds,
    }
    _append_csv(run.run_dir / "train.csv", TRAIN_COLUMNS, row)
    if run.writer is not None:
        run.writer.add_scalar("train/loss", loss, done)


def _samples(run: Run, done: int, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
    _host_loss(run, done, step)
    if run.rank != 0:
        return
    from ..plots import have_matplotlib  # noqa: PLC0415  (matplotlib stays optional)
    from ..plots import save_spectrograms  # noqa: PLC0415  (matplotlib stays optional)

    sample_rate, folder = run.config.model.sample_rate, run.run_dir / "samples"
    for kind, audio in (("target", batch["audio"][0]), ("output", step.output[0].clamp(-1, 1))):
        write_audio(folder / f"step_{done:08d}_{kind}.wav", audio, sample_rate)
    if have_matplotlib():
        with atomic_path(folder / f"step_{done:08d}.png") as temporary:
            save_spectrograms(
                temporary, [("target", batch["audio"][0].cpu()), ("resynthesis", step.output[0].cpu())], sample_rate
            )


def _evaluate(run: Run, done: int, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
    _host_loss(run, done, step)
    if run.rank != 0 or run.eval_dataset is None:
        return
    metrics = evaluate_model(
        run.model, run.eval_dataset, run.config.train.eval_examples, f0_method=run.config.data.f0_method
    )
    _append_csv(run.run_dir / "eval.csv", ("step",) + METRIC_NAMES, {"step": done, **metrics})
    write_text_atomic(run.run_dir / "eval.json", json.dumps(json_safe({"step": done, **metrics}), indent=1))
    if run.writer is not None:
        for key in METRIC_NAMES:
            run.writer.add_scalar(f"eval/{key}", metrics[key], done)


def _checkpoint(run: Run, done: int, step: StepOutput, batch: dict[str, torch.Tensor]) -> None:
    _host_loss(run, done, step)
    if run.rank == 0:
        save_checkpoint(run.run_dir, done, run.model, run.optimizer, run.extra, keep=run.config.train.keep_checkpoints)


def default_hooks(train: TrainConfig) -> list[Hook]:
    """The run's hooks, in the order they are called after a step: log, samples, eval, checkpoint."""
    return [
        Hook("log", train.log_every, _log),
        Hook("samples", train.samples_every, _samples, at_end=False),
        Hook("eval", train.eval_every, _evaluate),
        Hook("checkpoint", train.checkpoint_every, _checkpoint),
    ]
