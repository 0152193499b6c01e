"""The style-transfer network (after Steinmetz et al., DeepAFx-ST, DAFx 2022): one encoder
embeds the input and the reference, a controller maps both embeddings to normalised chain
settings, and the chain (:func:`~torchddsp.style.chain.apply_chain`) processes the input.

Encoder: log-mel spectrogram -> 1-D CNN over time (mel bands as channels) -> mean and standard
deviation over time, concatenated with the mean log-mel frame (the long-term spectrum, which is
what an EQ changes). Controller: MLP on ``[input, reference, reference - input]`` -> sigmoid.

Saved as a folder: ``model.safetensors`` (weights) and ``config.json`` (constructor keywords).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save_file
from torch import Tensor
from torch import nn

from ..features.mel import MelSpectrogram
from ..validation import InputError
from ..validation import check_positive_int
from ..validation import check_rank
from .chain import MIN_SAMPLE_RATE
from .chain import apply_chain
from .settings import N_SETTINGS

__all__ = ["StyleEncoder", "StyleController", "StyleTransfer", "save_style_model", "load_style_model"]


class StyleEncoder(nn.Module):
    """Audio -> embedding ``(batch, embedding_size)``, ``embedding_size = 2 * channels + n_mels``.

    Shape: ``(batch, n_samples)`` -> ``(batch, 2 * channels + n_mels)``.

    Example:
        >>> StyleEncoder(16000, n_mels=32, channels=16)(torch.randn(2, 4000)).shape
        torch.Size([2, 64])
    """

    def __init__(self, sample_rate: float = 16000, n_mels: int = 64, channels: int = 64, n_fft: int = 1024):
        super().__init__()
        self.mel = MelSpectrogram(sample_rate, n_fft=n_fft, hop_size=n_fft // 4, n_mels=n_mels, log=True)
        self.cnn = nn.Sequential(
            nn.Conv1d(n_mels, channels, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 5, padding=2, stride=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1),
            nn.ReLU(),
        )
        self.embedding_size = 2 * channels + n_mels

    def forward(self, audio: Tensor) -> Tensor:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        frames = self.mel(audio)  # (batch, n_frames, n_mels), natural log
        features = self.cnn(frames.transpose(1, 2))  # (batch, channels, n_frames / 2)
        return torch.cat([features.mean(-1), features.std(-1, unbiased=False), frames.mean(1)], dim=-1)


class StyleController(nn.Module):
    """Two embeddings -> normalised settings ``(batch, N_SETTINGS)`` in ``(0, 1)``.

    Example:
        >>> StyleController(8, hidden=16)(torch.randn(3, 8), torch.randn(3, 8)).shape
        torch.Size([3, 29])
    """

    def __init__(self, embedding_size: int, hidden: int = 256, n_settings: int = N_SETTINGS):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(3 * embedding_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_settings),
        )

    def forward(self, input_embedding: Tensor, reference_embedding: Tensor) -> Tensor:
        features = torch.cat([input_embedding, reference_embedding, reference_embedding - input_embedding], dim=-1)
        return torch.sigmoid(self.mlp(features))


class StyleTransfer(nn.Module):
    """Encoder + controller + chain: ``model(input, reference) -> (output, normalized)``.

    Args:
        sample_rate: in Hz (at least 16 kHz).
        n_mels, channels, n_fft: the encoder's.
        hidden: the controller's hidden width.

    Shape: ``input`` ``(batch, n_samples)``, ``reference`` ``(batch, m_samples)`` (any length)
    -> output ``(batch, n_samples)``, normalised settings ``(batch, N_SETTINGS)``.

    Example:
        >>> model = StyleTransfer(16000, n_mels=32, channels=16, hidden=32)
        >>> output, normalized = model(torch.randn(2, 4000) * 0.1, torch.randn(2, 6000) * 0.1)
        >>> output.shape, normalized.shape
        (torch.Size([2, 4000]), torch.Size([2, 29]))
    """

    def __init__(
        self, sample_rate: float = 16000, n_mels: int = 64, channels: int = 64, n_fft: int = 1024, hidden: int = 256
    ):
        super().__init__()
        if sample_rate < MIN_SAMPLE_RATE:
            raise InputError(f"sample_rate must be at least {MIN_SAMPLE_RATE:g} Hz, found {sample_rate}")
        self.config: dict[str, Any] = {
            "sample_rate": float(sample_rate),
            "n_mels": check_positive_int("n_mels", n_mels),
            "channels": check_positive_int("channels", channels),
            "n_fft": check_positive_int("n_fft", n_fft),
            "hidden": check_positive_int("hidden", hidden),
        }
        self.sample_rate = float(sample_rate)
        self.encoder = StyleEncoder(sample_rate, n_mels, channels, n_fft)
        self.controller = StyleController(self.encoder.embedding_size, hidden)

    def predict(self, audio: Tensor, reference: Tensor) -> Tensor:
        """Normalised settings ``(batch, N_SETTINGS)`` that should make ``audio`` sound like ``reference``."""
        check_rank("reference", reference, 2, "(batch, n_samples)")
        if reference.shape[0] != audio.shape[0]:
            raise InputError(f"reference has {reference.shape[0]} items but input has {audio.shape[0]}")
        return self.controller(self.encoder(audio), self.encoder(reference))

    def forward(self, audio: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
        normalized = self.predict(audio, reference)
        return apply_chain(audio, normalized, self.sample_rate), normalized


def save_style_model(model: StyleTransfer, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (the constructor keywords, plus ``extra``)
    into ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.startswith("encoder.mel.")}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model": model.config, **(extra or {})}, indent=2) + "\n")
    return folder


def load_style_model(folder: str | Path) -> StyleTransfer:
    """The :class:`StyleTransfer` saved in ``folder`` (in eval mode); ``InputError`` naming the
    folder when it holds no model."""
    folder = Path(folder)
    if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise InputError(f"--model {folder}: expected a folder with model.safetensors and config.json")
    model = StyleTransfer(**json.loads((folder / "config.json").read_text())["model"])
    missing, unexpected = model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    if unexpected or any(not k.startswith("encoder.mel.") for k in missing):
        raise InputError(
            f"--model {folder}: weights do not match config.json (missing {missing}, unexpected {unexpected})"
        )
    return model.eval()
