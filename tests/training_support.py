"""Helpers shared by the training, transfer and CLI tests: the tiny config and the data."""

from __future__ import annotations

from pathlib import Path

from torchddsp.training import ExperimentConfig

DATA = Path(__file__).resolve().parent / "data" / "pitch"


def tiny_config(**train_overrides) -> ExperimentConfig:
    """The cpu_small architecture shrunk to run a step in a fraction of a second."""
    return ExperimentConfig.from_dict({
        "name": "tiny",
        "model": {"hidden_size": 32, "rnn_size": 32, "layers_per_stack": 1, "reverb_seconds": 0.25},
        "data": {"example_seconds": 2.0, "hop_seconds": 0.5, "f0_method": "crepe"},
        "train": {"batch_size": 4, "steps": 4, "log_every": 1, "eval_every": 2, "eval_examples": 2,
                  "checkpoint_every": 2, "samples_every": 2, "learning_rate": 0.001, **train_overrides},
    })
