"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from app_support import flute_excerpt  # noqa: F401  (fixtures of tests/app)
from app_support import flute_excerpt_flac  # noqa: F401
from training_support import DATA
from training_support import learning_config
from training_support import tiny_config

from torchddsp.training import prepare_dataset
from torchddsp.training import train

# `make test` runs the suite in one pytest-xdist worker per core: a worker that also used
# PyTorch's intra-op threads would fight the other workers for the same cores (and spin at
# barriers while they run), so each worker computes on one thread. Tests of the threaded
# kernel paths set their thread count themselves.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator: every test draws the same numbers on every run."""
    return np.random.default_rng(1234)


# A tiny real dataset (soundfont melodies from tests/data/pitch, half-second examples, YIN
# pitch: 0.1 s to prepare) and a tiny run that learned on it (learning_config: 60 steps,
# about 2 s), shared by the training, transfer and CLI tests.


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dataset")
    config = tiny_config()
    prepare_dataset(DATA, folder, config.model, config.data, show_progress=False)
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, dataset_dir) -> Path:
    """Read-only for the tests: write evaluations and transfers elsewhere."""
    run = tmp_path_factory.mktemp("run")
    train(learning_config(), dataset_dir, run, show_progress=False)
    return run
