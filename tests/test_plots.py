"""Figures are drawn without touching the host's matplotlib state."""

from __future__ import annotations

import pytest
import torch

from torchddsp.plots import save_spectrograms

matplotlib = pytest.importorskip("matplotlib")


def test_drawing_keeps_the_hosts_backend_and_figure_registry(tmp_path):
    """A library that called ``matplotlib.use("Agg")`` would switch a notebook's inline
    backend off for the rest of the session; one that drew through pyplot would leave figures
    in its registry."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    previous = matplotlib.get_backend()
    try:
        matplotlib.use("svg")
        figures = plt.get_fignums()
        save_spectrograms(tmp_path / "figure.png", [("tone", torch.sin(torch.arange(8000.0) * 0.1))], 16000)
        assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == figures
    finally:
        matplotlib.use(previous)
