"""Helpers shared by the training, transfer and CLI tests: the tiny configs, the data, and the
check that a run learned."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.models import Autoencoder
from torchddsp.training import ExperimentConfig
from torchddsp.training import FeatureDataset
from torchddsp.training import load_checkpoint

DATA = Path(__file__).resolve().parent / "data" / "pitch"

# The run of ``learning_config()``: LEARNING_STEPS steps, checkpoints at the half and the end.
LEARNING_STEPS = 60
# What "learned" means for that run (tests/training/test_train.py::test_training_learns):
# the mean training loss of the first 5 steps over that of the last 10. Measured on the 3 clips
# of tests/data/pitch with seeds 0-4: 1.62 to 1.89 when learning, 0.99 to 1.02 with
# optimizer.step() skipped (batch-to-batch noise only).
LOSS_FALL = 1.3


def tiny_config(**train_overrides) -> ExperimentConfig:
    """The cpu_small architecture shrunk to run a step in a few hundredths of a second.

    Half-second examples with YIN pitch (preparing the 3 clips takes 0.1 s; CREPE would take
    5 s): the tests that need CREPE set ``data.f0_method`` themselves.
    """
    return ExperimentConfig.from_dict(
        {
            "name": "tiny",
            "model": {"hidden_size": 32, "rnn_size": 32, "layers_per_stack": 1, "reverb_s": 0.25},
            "data": {"example_s": 0.5, "example_hop_s": 0.125, "f0_method": "yin"},
            "train": {
                "batch_size": 4,
                "steps": 4,
                "log_every": 1,
                "eval_every": 2,
                "eval_examples": 2,
                "checkpoint_every": 2,
                "samples_every": 2,
                "learning_rate": 0.001,
                **train_overrides,
            },
        }
    )


def learning_config(**train_overrides) -> ExperimentConfig:
    """:func:`tiny_config` set to learn audibly in ``LEARNING_STEPS`` steps (about 2 s on 2 cores).

    A schedule that changes every step (5 warm-up steps, then halving over the run) and the
    reverb at a quarter of the rate, so that a resumed run must restore both to match.
    """
    settings = {
        "steps": LEARNING_STEPS,
        "learning_rate": 0.003,
        "warmup_steps": 5,
        "decay_steps": LEARNING_STEPS,
        "decay_rate": 0.5,
        "reverb_learning_rate_scale": 0.25,
        "eval_every": LEARNING_STEPS // 2,
        "checkpoint_every": LEARNING_STEPS // 2,
        "samples_every": LEARNING_STEPS // 2,
    }
    return tiny_config(**{**settings, **train_overrides})


def training_losses(run_dir: Path) -> list[float]:
    """The loss column of a run's train.csv (one row per step with ``log_every: 1``)."""
    return [float(row["loss"]) for row in csv.DictReader((Path(run_dir) / "train.csv").open())]


def loss_fall(run_dir: Path) -> float:
    """Mean training loss of the first 5 steps over that of the last 10 (> 1: the loss fell)."""
    losses = training_losses(run_dir)
    return (sum(losses[:5]) / 5) / (sum(losses[-10:]) / 10)


def checkpoint_model(checkpoint: Path, config: ExperimentConfig) -> Autoencoder:
    model = Autoencoder(config.model)
    load_checkpoint(checkpoint, model)
    return model


def parameters_with_gradient(model: Autoencoder, dataset_dir: Path, loss: str = "magenta") -> set[str]:
    """Names of the parameters that get a nonzero gradient from the training loss on 4 examples."""
    dataset = FeatureDataset(dataset_dir, "train")
    batch = {key: torch.stack([dataset[i][key] for i in range(4)]) for key in dataset[0]}
    output = model(batch["f0_hz"], batch["loudness_db"], batch["audio"], generator=torch.Generator().manual_seed(0))
    model.zero_grad(set_to_none=True)
    getattr(MultiScaleSpectralLoss, loss)()(output["audio"], batch["audio"]).backward()
    return {name for name, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}


def unmoved_parameters(before: Autoencoder, after: Autoencoder, names: set[str]) -> list[str]:
    """The parameters among ``names`` whose values are exactly equal in both models."""
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    return sorted(name for name in names if float((new[name] - old[name]).detach().norm()) == 0.0)
