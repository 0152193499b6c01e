"""The parameter-estimation network (Masuda & Saito, ISMIR 2021): a log-mel encoder (1-D
convolutions over time, mel bands as channels, then a GRU) conditioned on the given pitch,
ending in one sigmoid per free parameter (the voice's normalised units, [0, 1]).

Saved as a folder: ``estimator.safetensors`` (weights) and ``config.json`` (the network's
sizes and the :class:`~torchddsp.matching.voice_setup.MatchingSetup`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch import nn

from ..features import MelSpectrogram
from ..io import write_text_atomic
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from .voice_setup import MatchingSetup

__all__ = ["EstimatorConfig", "ParameterEstimator", "save_estimator", "load_estimator", "BUNDLED_DIR"]

#: Where bundled matching models live (``matching_<voice>`` folders).
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
WEIGHTS = "estimator.safetensors"
CONFIG = "config.json"
#: Log-mel values (natural log of power, floor 1e-5) are scaled as ``(x - LOG_MEL_CENTRE) / LOG_MEL_SCALE``:
#: roughly [-1, 1] for the voice's levels, keeping the absolute level (the mixer levels set it).
LOG_MEL_CENTRE = -4.0
LOG_MEL_SCALE = 6.0


@dataclass(frozen=True)
class EstimatorConfig:
    """Sizes of :class:`ParameterEstimator`: mel analysis (``n_fft``, ``hop_size`` samples,
    ``n_mels``), conv ``channels``, GRU ``hidden`` units."""

    n_fft: int = 1024
    hop_size: int = 128
    n_mels: int = 64
    channels: int = 128
    hidden: int = 128


class ParameterEstimator(nn.Module):
    """Audio and pitch -> normalised free parameters.

    Shape: ``audio`` ``(batch, n_samples)`` at the setup's sample rate, ``midi_note``
    ``(batch,)`` (MIDI notes) -> ``(batch, n_free)`` in [0, 1].

    Example:
        >>> net = ParameterEstimator(MatchingSetup())
        >>> net(torch.zeros(2, 16000), torch.tensor([57.0, 62.0])).shape
        torch.Size([2, 9])
    """

    def __init__(self, setup: MatchingSetup, config: EstimatorConfig | None = None):
        super().__init__()
        self.setup = setup
        self.config = config = config or EstimatorConfig()
        c = config.channels
        self.mel = MelSpectrogram(setup.sample_rate, n_fft=config.n_fft, hop_size=config.hop_size, n_mels=config.n_mels)
        self.convs = nn.Sequential(
            nn.Conv1d(config.n_mels, c, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(c, c, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(c, c, 5, stride=2, padding=2),
            nn.ReLU(),
        )
        self.gru = nn.GRU(c, config.hidden, batch_first=True)
        # The head sees the GRU's last state, the conv features' mean over time and the pitch.
        self.head = nn.Sequential(nn.Linear(config.hidden + c + 1, config.hidden), nn.ReLU())
        self.out = nn.Linear(config.hidden, setup.n_free)

    def features(self, audio: Tensor) -> Tensor:
        """Scaled log-mel ``(batch, n_mels, n_frames)``."""
        return (self.mel(audio).transpose(1, 2) - LOG_MEL_CENTRE) / LOG_MEL_SCALE

    def forward(self, audio: Tensor, midi_note: Tensor) -> Tensor:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)
        check_rank("midi_note", midi_note, 1, "(batch,)")
        check_finite("midi_note", midi_note)
        if midi_note.shape[0] != audio.shape[0]:
            raise InputError(f"midi_note must have one value per sound ({audio.shape[0]}), found {midi_note.shape[0]}")
        hidden = self.convs(self.features(audio))
        _, last = self.gru(hidden.transpose(1, 2))
        pitch = ((midi_note.to(audio.dtype) - 60.0) / 12.0)[:, None]
        summary = torch.cat([last[-1], hidden.mean(dim=2), pitch], dim=1)
        return torch.sigmoid(self.out(self.head(summary)))


def save_estimator(model: ParameterEstimator, folder: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``folder/estimator.safetensors`` and ``folder/config.json`` (plus ``extra`` keys)."""
    from safetensors.torch import save_file  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.startswith("mel.")}
    save_file(weights, str(folder / WEIGHTS))
    config = {"setup": model.setup.to_dict(), "network": asdict(model.config), **(extra or {})}
    write_text_atomic(folder / CONFIG, json.dumps(config, indent=1))
    return folder


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A model folder: a path holding ``estimator.safetensors``, or a bundled name
    (``matching_rich`` or ``rich``)."""
    path = Path(name_or_path)
    if (path / WEIGHTS).is_file():
        return path
    for candidate in (BUNDLED_DIR / str(name_or_path), BUNDLED_DIR / f"matching_{name_or_path}"):
        if (candidate / WEIGHTS).is_file():
            return candidate
    bundled = sorted(p.name for p in BUNDLED_DIR.glob("matching_*") if (p / WEIGHTS).is_file())
    raise InputError(f"model must be a folder holding {WEIGHTS} or one of {bundled}, found {str(name_or_path)!r}")


def load_estimator(name_or_path: str | os.PathLike) -> ParameterEstimator:
    """A saved estimator (a folder, or a bundled name), in eval mode."""
    from safetensors.torch import load_file  # noqa: PLC0415

    folder = resolve_model(name_or_path)
    config = json.loads((folder / CONFIG).read_text())
    model = ParameterEstimator(MatchingSetup.from_dict(config["setup"]), EstimatorConfig(**config["network"]))
    missing, unexpected = model.load_state_dict(load_file(str(folder / WEIGHTS)), strict=False)
    missing = [k for k in missing if not k.startswith("mel.")]
    if missing or unexpected:
        raise InputError(f"model {folder} does not fit the network: missing {missing}, unexpected {unexpected}")
    return model.eval()
