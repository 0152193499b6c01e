"""L1 distance between log-mel spectrograms at several resolutions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch import nn

from ..features.spectral import mel_filterbank
from ..features.spectral import power_spectrogram
from ..processors import check_same_audio
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive
from .reduction import REDUCTIONS
from .reduction import reduce_items

__all__ = ["MelSpectrogramLoss"]


class MelSpectrogramLoss(nn.Module):
    """L1 distance between log-mel spectrograms at several resolutions.

    For each resolution: ``mean|log(max(M_t, floor)) - log(max(M_p, floor))|`` (plus
    ``magnitude_weight * mean|M_t - M_p|``) with ``M`` the mel power spectrogram (periodic Hann,
    frames centred on ``i * hop`` with zero padding, hop = a quarter of the FFT); summed over
    resolutions. Filterbanks are buffers.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.

    Example:
        >>> prediction, target = torch.zeros(2, 1024), torch.ones(2, 1024)
        >>> MelSpectrogramLoss(fft_sizes=(256,), n_mels=(40,))(prediction, target).shape
        torch.Size([])
        >>> MelSpectrogramLoss(fft_sizes=(256,), n_mels=(40,), reduction="none")(prediction, target).shape
        torch.Size([2])
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        fft_sizes: Sequence[int] = (2048, 1024, 512),
        n_mels: Sequence[int] = (128, 80, 40),
        min_hz: float = 0.0,
        max_hz: float | None = None,
        log_floor: float = 1e-5,
        log_weight: float = 1.0,
        magnitude_weight: float = 0.0,
        reduction: str = "mean",
    ):
        super().__init__()
        if len(fft_sizes) != len(n_mels) or not fft_sizes:
            raise InputError(f"fft_sizes and n_mels must be non-empty and of equal length, found {fft_sizes}, {n_mels}")
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.log_floor = check_positive("log_floor", log_floor)
        self.log_weight, self.magnitude_weight = float(log_weight), float(magnitude_weight)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        for i, (n_fft, mels) in enumerate(zip(self.fft_sizes, n_mels)):
            self.register_buffer(f"filterbank_{i}", mel_filterbank(n_fft, mels, sample_rate, min_hz, max_hz))

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        pair = torch.cat([prediction, target], dim=0)
        per_item = pair.new_zeros(batch, dtype=torch.promote_types(pair.dtype, torch.float32))
        for i, n_fft in enumerate(self.fft_sizes):
            power = power_spectrogram(pair, n_fft, n_fft // 4, pad_mode="constant")
            mel = power @ getattr(self, f"filterbank_{i}").to(power.dtype).T
            predicted, expected = mel[:batch], mel[batch:]
            if self.log_weight:
                logs = torch.log(torch.clamp_min(mel, self.log_floor))
                per_item = per_item + self.log_weight * (logs[batch:] - logs[:batch]).abs().mean(dim=(1, 2))
            if self.magnitude_weight:
                per_item = per_item + self.magnitude_weight * (expected - predicted).abs().mean(dim=(1, 2))
        return reduce_items(per_item, self.reduction)
