"""Multi-scale spectral loss: every term and loss type of Magenta ddsp's ``SpectralLoss``, plus
auraloss's spectral convergence, with both libraries' settings as presets."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from collections.abc import Sequence

import torch
from torch import Tensor
from torch import nn

from ..features.spectral import WINDOWS
from ..features.spectral import magnitude_spectrogram
from ..features.spectral import window_tensor
from ..processors import check_same_audio
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive
from ..validation import check_positive_int
from .reduction import REDUCTIONS
from .reduction import reduce_items
from .spectral_distances import DistanceSettings
from .spectral_distances import SpectralDistances
from .spectral_terms import LOSS_TYPES
from .spectral_terms import cumsum_frequency
from .spectral_terms import delta_frequency
from .spectral_terms import delta_time
from .spectral_terms import loudness_curves
from .spectral_terms import mean_difference
from .spectral_terms import safe_log

__all__ = ["MultiScaleSpectralLoss"]


def _check_weight(name: str, value: object) -> float:
    """A term's weight: a finite number >= 0 (0 leaves the term out, as in Magenta)."""
    if isinstance(value, (bool, str, Tensor)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, found {type(value).__name__} {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number >= 0.0):
        raise InputError(f"{name} must be a finite number >= 0, found {value!r}")
    return number


def _check_resolutions(
    fft_sizes: Sequence[int], hop_sizes: Sequence[int] | None, win_lengths: Sequence[int] | None, overlap: float
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(fft_sizes, hop_sizes, win_lengths)`` with the defaults filled in, or ``InputError``."""
    fft_sizes = tuple(int(n) for n in fft_sizes)
    if not fft_sizes:
        raise InputError("fft_sizes must name at least one FFT size")
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"overlap must be in [0, 1), found {overlap}")
    hops = (
        tuple(int(h) for h in hop_sizes)
        if hop_sizes is not None
        else tuple(max(1, int(n * (1.0 - overlap))) for n in fft_sizes)
    )
    wins = tuple(int(w) for w in win_lengths) if win_lengths is not None else fft_sizes
    if not len(fft_sizes) == len(hops) == len(wins):
        raise InputError(
            f"fft_sizes, hop_sizes and win_lengths must have the same length, found "
            f"{len(fft_sizes)}, {len(hops)} and {len(wins)}"
        )
    for n_fft, hop, win in zip(fft_sizes, hops, wins):
        if n_fft < 2 or hop < 1 or not 1 <= win <= n_fft:
            raise InputError(
                f"each resolution needs n_fft >= 2, hop >= 1 and 1 <= win_length <= n_fft, "
                f"found n_fft={n_fft}, hop={hop}, win_length={win}"
            )
    return fft_sizes, hops, wins


class MultiScaleSpectralLoss(nn.Module):
    """Distance between STFT magnitudes of two signals at several resolutions (Engel et al.,
    "DDSP", ICLR 2020; Yamamoto et al., "Parallel WaveGAN", 2020): every term and loss type of
    Magenta's ``SpectralLoss``, and auraloss's spectral convergence.

    For each resolution and item, with ``P`` and ``T`` the magnitudes ``(frames, bins)`` of
    prediction and target and ``D`` the distance of ``loss_type``: ``magnitude_weight * D(T, P)
    + delta_time_weight * D(dT/dt, dP/dt) + delta_frequency_weight * D(dT/df, dP/df)
    + cumsum_frequency_weight * D(cumsum_f T, cumsum_f P) + log_magnitude_weight * D(L(T), L(P))
    + spectral_convergence_weight * ||T - P||_F / ||T||_F``. ``d/dt`` and ``d/df`` are first
    differences between neighbouring frames and bins; ``cumsum_f`` sums bins 0 .. f of each
    frame; ``L`` is the guarded log (``log_guard="floor"``: ``log(max(x, log_epsilon))``;
    ``"zero_only"``: ``log(x)`` with only exact zeros replaced by ``log_epsilon``, Magenta's
    ``safe_log``). ``D``: ``"l1"`` ``mean|T - P|``; ``"l2"`` ``mean (T - P)^2`` (no square root);
    ``"cosine"`` the mean over frames of ``1 - cos`` between the frames' spectra (see
    :func:`~torchddsp.losses.spectral_terms.cosine_distance`). Resolutions are summed
    (``scale_reduction="sum"``, Magenta) or averaged (``"mean"``, auraloss). Then, once,
    ``loudness_weight * D(loudness_T, loudness_P)`` on A-weighted loudness curves in dB
    (Magenta's ``compute_loudness(n_fft=2048)``: 250 frames per second at 16 kHz).

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
        magnitude_weight, log_magnitude_weight, spectral_convergence_weight: term weights
            (finite, >= 0; 0 leaves a term out).
        log_epsilon, log_guard: the log's guard (see above).
        magnitude_floor: magnitudes below it are raised to it before every term (auraloss's
            ``sqrt(clamp(power, 1e-8))`` is a floor of 1e-4).
        scale_reduction: ``"sum"`` or ``"mean"`` over resolutions.
        convergence_over_batch: spectral convergence as one ratio over the whole batch (what
            auraloss computes) instead of per item; per item when ``reduction="none"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the batch.
        loss_type: ``D`` above: ``"l1"`` (default), ``"l2"`` or ``"cosine"`` (Magenta's
            ``'L1'``, ``'L2'``, ``'COSINE'``); spectral convergence has its own form.
        delta_time_weight, delta_frequency_weight, cumsum_frequency_weight, loudness_weight:
            weights of Magenta's other terms (finite, >= 0; default 0: left out).
        sample_rate: of the audio in Hz; only the loudness term uses it (A-weighting, frames).
        loudness_frame_rate: loudness frames per second (Magenta: 250).
        loudness_n_fft: loudness analysis window in samples (Magenta's loss: 2048).

    Shape: ``prediction``, ``target``: ``(batch, n_samples)`` -> scalar, or ``(batch,)``.

    Example:
        >>> prediction, target = torch.zeros(2, 1024), torch.ones(2, 1024)
        >>> MultiScaleSpectralLoss(fft_sizes=(256, 64))(prediction, target).shape
        torch.Size([])
        >>> MultiScaleSpectralLoss(fft_sizes=(256, 64), reduction="none")(prediction, target).shape
        torch.Size([2])
        >>> every_term = MultiScaleSpectralLoss.magenta(
        ...     loss_type="l2", delta_time_weight=1.0, delta_frequency_weight=1.0,
        ...     cumsum_frequency_weight=0.01, loudness_weight=0.1)
        >>> every_term(prediction, target).shape
        torch.Size([])
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
        *,
        loss_type: str = "l1",
        delta_time_weight: float = 0.0,
        delta_frequency_weight: float = 0.0,
        cumsum_frequency_weight: float = 0.0,
        loudness_weight: float = 0.0,
        sample_rate: float = 16000.0,
        loudness_frame_rate: float = 250.0,
        loudness_n_fft: int = 2048,
    ):
        super().__init__()
        self.fft_sizes, self.hop_sizes, self.win_lengths = _check_resolutions(
            fft_sizes, hop_sizes, win_lengths, overlap
        )
        self.window = check_choice("window", window, WINDOWS)
        # Windows per (resolution, dtype, device), made once: exact in float64 (the log terms of
        # near-silent bins are sensitive to them), no host-to-device copy per step on a GPU.
        self._windows: dict[tuple[int, torch.dtype, torch.device], Tensor] = {}
        self.center = bool(center)
        self.pad_mode = check_choice("pad_mode", pad_mode, ("reflect", "constant"))
        self.loss_type = check_choice("loss_type", loss_type, LOSS_TYPES)
        self.magnitude_weight = _check_weight("magnitude_weight", magnitude_weight)
        self.log_magnitude_weight = _check_weight("log_magnitude_weight", log_magnitude_weight)
        self.spectral_convergence_weight = _check_weight("spectral_convergence_weight", spectral_convergence_weight)
        self.delta_time_weight = _check_weight("delta_time_weight", delta_time_weight)
        self.delta_frequency_weight = _check_weight("delta_frequency_weight", delta_frequency_weight)
        self.cumsum_frequency_weight = _check_weight("cumsum_frequency_weight", cumsum_frequency_weight)
        self.loudness_weight = _check_weight("loudness_weight", loudness_weight)
        self.log_epsilon = check_positive("log_epsilon", log_epsilon)
        self.log_guard = check_choice("log_guard", log_guard, ("floor", "zero_only"))
        if not magnitude_floor >= 0.0:
            raise InputError(f"magnitude_floor must be >= 0, found {magnitude_floor}")
        self.magnitude_floor = float(magnitude_floor)
        self.scale_reduction = check_choice("scale_reduction", scale_reduction, ("sum", "mean"))
        self.convergence_over_batch = bool(convergence_over_batch)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.loudness_frame_rate = check_positive("loudness_frame_rate", loudness_frame_rate)
        self.loudness_n_fft = check_positive_int("loudness_n_fft", loudness_n_fft, minimum=2)

    @classmethod
    def magenta(cls, **overrides) -> MultiScaleSpectralLoss:
        """Magenta DDSP's ``SpectralLoss(mag_weight=1, logmag_weight=1)``: FFT sizes 2048 to 64,
        overlap 0.75, frames from sample 0 with the end zero-padded, periodic Hann, L1 on
        magnitude plus L1 on ``safe_log`` magnitude (zeros -> log 1e-5), summed over sizes.
        Magenta's other arguments map to ``loss_type`` (``'L2'`` -> ``"l2"``), ``mag_weight`` ->
        ``magnitude_weight``, ``logmag_weight`` -> ``log_magnitude_weight``,
        ``delta_freq_weight`` -> ``delta_frequency_weight``, ``cumsum_freq_weight`` ->
        ``cumsum_frequency_weight``; ``delta_time_weight`` and ``loudness_weight`` keep their
        names."""
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

    def _magnitudes(self, index: int, prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Magnitude spectrograms ``(batch, frames, bins)`` of both signals at one resolution."""
        dtype = prediction.dtype if prediction.dtype in (torch.float32, torch.float64) else torch.float32
        spectrogram = functools.partial(
            magnitude_spectrogram,
            n_fft=self.fft_sizes[index],
            hop_size=self.hop_sizes[index],
            window=self._window(index, dtype, prediction.device),
            center=self.center,
            pad_mode=self.pad_mode,
            pad_end=not self.center,
        )
        magnitude_prediction = spectrogram(prediction)
        # The target usually needs no gradient: no graph, and no backward FFT, for it.
        with torch.set_grad_enabled(torch.is_grad_enabled() and target.requires_grad):
            magnitude_target = spectrogram(target)
        return magnitude_prediction, magnitude_target

    def _views(self) -> list[tuple[float, Callable[[Tensor], Tensor]]]:
        """``(weight, view)`` of each weighted term outside the L1 fast path."""
        views: list[tuple[float, Callable[[Tensor], Tensor]]] = []
        if self.loss_type != "l1":
            epsilon = max(self.log_epsilon, self.magnitude_floor) if self.log_guard == "floor" else self.log_epsilon
            log = functools.partial(safe_log, epsilon=epsilon, guard=self.log_guard)
            views += [(self.magnitude_weight, lambda m: m), (self.log_magnitude_weight, log)]
        views += [
            (self.delta_time_weight, delta_time),
            (self.delta_frequency_weight, delta_frequency),
            (self.cumsum_frequency_weight, cumsum_frequency),
        ]
        return [(weight, view) for weight, view in views if weight]

    def _resolution_terms(self, magnitude_p: Tensor, magnitude_t: Tensor) -> tuple[Tensor, Tensor]:
        """One resolution's per-item terms ``(batch,)`` and its batch-wide spectral convergence
        (a scalar, 0 unless ``convergence_over_batch`` applies)."""
        fast_l1 = self.loss_type == "l1"
        settings = DistanceSettings(
            self.magnitude_floor,
            self.log_guard,
            self.log_epsilon,
            fast_l1 and bool(self.magnitude_weight),
            fast_l1 and bool(self.log_magnitude_weight),
            bool(self.spectral_convergence_weight),
        )
        magnitude_l1, log_l1, squared_difference, squared_target = SpectralDistances.apply(
            magnitude_p, magnitude_t, settings
        )
        term = self.magnitude_weight * magnitude_l1 + self.log_magnitude_weight * log_l1
        batch_convergence = term.new_zeros(())
        if self.spectral_convergence_weight:
            if self.convergence_over_batch and self.reduction != "none":
                squared_difference, squared_target = squared_difference.sum(), squared_target.sum()
            # ||T - P|| / ||T||: exactly 0 for equal spectra, finite with a finite gradient when
            # either is silent (the norms' floors only act there).
            tiny = torch.finfo(squared_difference.dtype).tiny
            norm = torch.where(squared_difference > 0, torch.sqrt(squared_difference.clamp_min(tiny)), 0.0)
            ratio = self.spectral_convergence_weight * norm / torch.sqrt(squared_target.clamp_min(1e-24))
            if ratio.dim() == 0:
                batch_convergence = ratio
            else:
                term = term + ratio
        views = self._views()
        if views and self.magnitude_floor:
            magnitude_p = torch.clamp_min(magnitude_p, self.magnitude_floor)
            magnitude_t = torch.clamp_min(magnitude_t, self.magnitude_floor)
        for weight, view in views:
            term = term + weight * mean_difference(view(magnitude_t), view(magnitude_p), self.loss_type)
        return term, batch_convergence

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        check_same_audio(prediction=prediction, target=target)
        batch = prediction.shape[0]
        per_item = prediction.new_zeros(batch, dtype=torch.promote_types(prediction.dtype, torch.float32))
        batch_convergence = per_item.new_zeros(())
        for index in range(len(self.fft_sizes)):
            term, convergence = self._resolution_terms(*self._magnitudes(index, prediction, target))
            per_item, batch_convergence = per_item + term, batch_convergence + convergence
        scales = len(self.fft_sizes) if self.scale_reduction == "mean" else 1
        per_item = per_item / scales
        if self.loudness_weight:
            loudness_p, loudness_t = loudness_curves(
                prediction, target, self.sample_rate, self.loudness_frame_rate, self.loudness_n_fft
            )
            per_item = per_item + self.loudness_weight * mean_difference(loudness_t, loudness_p, self.loss_type)
        loss = reduce_items(per_item, self.reduction)
        if self.reduction == "none":
            return loss
        return loss + batch_convergence / scales * (batch if self.reduction == "sum" else 1)
