"""The descriptor-controlled drum model: (drum class, brightness, depth, warmth) -> the unit
controls of :class:`~torchddsp.drums.synth.DrumSynth` (after Lavault et al., DAFx 2022).

Descriptors are conditioned in per-class normalised units: ``(value - low) / (high - low)`` with
``low``/``high`` the smallest and largest value of :func:`~.descriptors.timbre_descriptors`
over the class's training hits, so ``--brightness 0.7`` asks for a snare 70 % of the way from
the dullest to the brightest training snare. The tables travel with the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save_file
from torch import Tensor
from torch import nn

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_range
from ..validation import check_rank
from .descriptors import timbre_descriptors
from .synth import N_CONTROLS
from .synth import DrumSynth

__all__ = ["DRUMS", "DESCRIPTORS", "DrumModel", "load_drum_model", "save_drum_model", "request", "BUNDLED"]

DRUMS = ("kick", "snare", "tom", "hihat", "cymbal")
DESCRIPTORS = ("brightness", "depth", "warmth")
#: The bundled model's folder.
BUNDLED = Path(__file__).resolve().parent.parent / "pretrained" / "drums"


class DrumModel(nn.Module):
    """An MLP from (one-hot class, normalised descriptors) to sigmoid unit controls, and the
    synthesizer they drive.

    Shape: ``drum`` ``(batch,)`` int64, ``targets`` ``(batch, 3)`` normalised descriptors ->
    unit controls ``(batch, N_CONTROLS)`` (:meth:`controls`) or audio ``(batch, n_samples)``.

    Example:
        >>> model = DrumModel(n_samples=400)
        >>> model(torch.tensor([0, 1]), torch.full((2, 3), 0.5)).shape
        torch.Size([2, 400])

    Args:
        hidden: width of the two hidden layers.
        sample_rate, n_samples: of the hits.
        ranges: ``(n_drums, 3, 2)`` per-class (low, high) of the raw descriptors (module
            docstring); default 0 and 1 (raw = normalised).
    """

    ranges: Tensor

    def __init__(
        self, hidden: int = 96, sample_rate: float = 16000.0, n_samples: int = 12000, ranges: Tensor | None = None
    ):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(len(DRUMS) + len(DESCRIPTORS), hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, N_CONTROLS),
        )
        self.synth = DrumSynth(sample_rate, n_samples)
        default = torch.stack([torch.zeros(len(DRUMS), 3), torch.ones(len(DRUMS), 3)], -1)
        self.register_buffer("ranges", (default if ranges is None else ranges).to(torch.float64))
        self.hidden = hidden

    def _check(self, drum: Tensor, targets: Tensor) -> None:
        if not isinstance(drum, Tensor) or drum.dim() != 1:
            raise InputError(f"drum must be a (batch,) tensor of class indices, found {drum!r}")
        check_rank("targets", targets, 2, "(batch, 3)")
        if targets.shape != (drum.shape[0], len(DESCRIPTORS)):
            raise InputError(f"targets must be (batch, 3) with batch {drum.shape[0]}, found {tuple(targets.shape)}")
        if drum.dtype != torch.int64 or bool(((drum < 0) | (drum >= len(DRUMS))).any()):
            raise InputError(f"drum must hold int64 class indices in [0, {len(DRUMS)}), found {drum.tolist()}")

    def controls(self, drum: Tensor, targets: Tensor) -> Tensor:
        """Unit controls of the hits asked for."""
        self._check(drum, targets)
        features = torch.cat([nn.functional.one_hot(drum, len(DRUMS)).to(targets.dtype), targets], -1)
        return torch.sigmoid(self.net(features.to(next(self.net.parameters()).dtype)))

    def forward(self, drum: Tensor, targets: Tensor) -> Tensor:
        return self.synth(self.controls(drum, targets))

    def normalise(self, drum: Tensor, raw: Tensor) -> Tensor:
        """Raw descriptors ``(batch, 3)`` to per-class normalised ones (module docstring)."""
        low, high = self.ranges[drum, :, 0], self.ranges[drum, :, 1]
        return (raw.to(torch.float64) - low) / (high - low).clamp_min(1e-9)

    def measure(self, drum: Tensor, audio: Tensor) -> Tensor:
        """Per-class normalised descriptors of ``audio`` ``(batch, n_samples)`` -> ``(batch, 3)``."""
        return self.normalise(drum, timbre_descriptors(audio, self.synth.sample_rate))


def save_drum_model(model: DrumModel, folder: Path, extra: dict | None = None) -> None:
    """Weights as ``model.safetensors`` and ``config.json`` (sizes, ranges, ``extra``)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "ranges"}
    save_file(weights, str(folder / "model.safetensors"))
    config = {
        "hidden": model.hidden,
        "sample_rate": model.synth.sample_rate,
        "n_samples": model.synth.n_samples,
        "drums": list(DRUMS),
        "descriptors": list(DESCRIPTORS),
        "ranges": model.ranges.tolist(),
        **(extra or {}),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")


def load_drum_model(folder: Path | str = BUNDLED) -> DrumModel:
    """A :class:`DrumModel` from a folder written by :func:`save_drum_model` (default: bundled).

    Example:
        >>> load_drum_model().synth.sample_rate
        16000.0
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise InputError(f"model must be a folder with config.json and model.safetensors, found {str(folder)!r}")
    config = json.loads((folder / "config.json").read_text())
    ranges = torch.tensor(config["ranges"], dtype=torch.float64)
    model = DrumModel(config["hidden"], config["sample_rate"], config["n_samples"], ranges)
    state = load_file(str(folder / "model.safetensors"))
    state["ranges"] = ranges
    model.load_state_dict(state)
    return model.eval()


def request(drum: str, brightness: float, depth: float, warmth: float) -> tuple[Tensor, Tensor]:
    """One hit's model inputs from names and numbers, checked: ``drum`` one of ``DRUMS``, each
    descriptor in [0, 1]. Returns ``drum`` ``(1,)`` and ``targets`` ``(1, 3)``.

    Example:
        >>> request("snare", 0.7, 0.3, 0.5)[0]
        tensor([1])
    """
    check_choice("drum", drum, DRUMS)
    for name, value in (("brightness", brightness), ("depth", depth), ("warmth", warmth)):
        check_range(name, value, 0.0, 1.0)
    return torch.tensor([DRUMS.index(drum)]), torch.tensor([[brightness, depth, warmth]], dtype=torch.float64)
