"""Latent encoders: DDSP's ``MfccTimeDistributedRnnEncoder`` (z from MFCCs, per frame)."""

from __future__ import annotations

from torch import Tensor
from torch import nn

from ..features.mel import MFCC
from .gru import run_gru

__all__ = ["MfccRnnEncoder"]


class MfccRnnEncoder(nn.Module):
    """MFCCs (30 by default, 1024-point FFT, frames on the model's frame grid) -> instance
    normalisation over time -> GRU -> linear to ``z_dims`` per frame.

    Shape: ``audio`` ``(batch, n_samples)`` -> ``z`` ``(batch, n_frames, z_dims)`` with
    ``n_frames = n_samples // hop`` (frame ``i`` centred on sample ``i * hop``).

    Example:
        >>> import torch
        >>> MfccRnnEncoder(16000, hop_size=64, z_dims=4, rnn_size=8)(torch.zeros(2, 640)).shape
        torch.Size([2, 10, 4])
    """

    def __init__(
        self,
        sample_rate: int,
        hop_size: int,
        z_dims: int = 16,
        n_mfcc: int = 30,
        rnn_size: int = 512,
        n_fft: int = 1024,
    ):
        super().__init__()
        self.hop_size = int(hop_size)
        self.mfcc = MFCC(
            sample_rate, n_mfcc=n_mfcc, n_fft=n_fft, hop_size=hop_size, n_mels=128, min_hz=20.0, pad_mode="constant"
        )
        self.norm = nn.InstanceNorm1d(n_mfcc, affine=True)
        self.rnn = nn.GRU(n_mfcc, rnn_size, batch_first=True)
        self.output = nn.Linear(rnn_size, z_dims)

    def forward(self, audio: Tensor) -> Tensor:
        n_frames = audio.shape[-1] // self.hop_size
        coefficients = self.mfcc(audio)[:, :n_frames]  # centred frames: 1 + n // hop of them
        normalized = self.norm(coefficients.transpose(1, 2)).transpose(1, 2)
        recurrent, _ = run_gru(self.rnn, normalized)
        return self.output(recurrent)
