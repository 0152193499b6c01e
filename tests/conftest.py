"""Shared fixtures for the test suite."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator: every test draws the same numbers on every run."""
    return np.random.default_rng(1234)
