"""Streaming f0 (YIN or CREPE) and A-weighted loudness, block by block, equal to the offline features.

A real-time host hands audio over in blocks of any size (1 to 4096 samples, changing from call
to call). :func:`step_features` appends each block to a fixed-size buffer of the recent audio
(the state) and emits every frame whose analysis span has fully arrived; :func:`finish_features`
emits the rest at the end of the stream, reading zeros past it. The frames are those of the
offline analysis of the whole signal (:func:`~torchddsp.features.yin.yin`,
:func:`~torchddsp.features.crepe.crepe`, :func:`~torchddsp.features.loudness.a_weighted_loudness`
with ``n_frames = floor(n_samples * frame_rate / sample_rate)``): the same per-frame code runs on
the same samples, only the cutting of frames is done here.

Framing (:mod:`torchddsp.features.framing`): frame ``i`` is centred on sample
``c_i = round(i * sample_rate / frame_rate)`` and reads ``[c_i - before, c_i + after)`` (the
contexts of :func:`~torchddsp.features.yin.yin_context`,
:func:`~torchddsp.features.crepe.crepe_context`,
:func:`~torchddsp.features.loudness.loudness_context`); audio before the stream is silence.

Latency: frame ``i`` is emitted by the step whose block brings the stream to ``c_i + after``
samples, ``after`` the larger of the f0 and loudness contexts' (:func:`latency_samples`). At
16 kHz: YIN ``min_hz=40`` 603 samples (37.7 ms), ``min_hz=100`` 243 (15.2 ms); CREPE 512 (32 ms);
loudness ``n_fft=512`` 256 (16 ms), ``n_fft=256`` 128 (8 ms). A host adds up to one block of
buffering on top.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..features.crepe import CAPACITIES
from ..features.crepe import CREPE_SAMPLE_RATE
from ..features.crepe import crepe_context
from ..features.crepe import crepe_weights_path
from ..features.crepe import decode_activations
from ..features.crepe import frame_activations
from ..features.crepe import normalize_frames
from ..features.framing import default_n_frames
from ..features.loudness import default_loudness_n_fft
from ..features.loudness import loudness_context
from ..features.loudness import loudness_of_frames
from ..features.pitch import F0_METHODS
from ..features.yin import _yin_frames
from ..features.yin import yin_context
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = [
    "FeatureSettings",
    "FeatureState",
    "start_features",
    "step_features",
    "finish_features",
    "latency_samples",
    "latency_s",
]

FEATURE_NAMES = ("f0_hz", "confidence", "loudness_db")
#: How a streamed CREPE convolves its second layer (:class:`FeatureSettings`).
CREPE_CONVOLUTIONS = ("direct", "fft")


@dataclass(frozen=True)
class FeatureSettings:
    """What a feature stream computes: the arguments of the offline features.

    Args:
        sample_rate: of the audio, in Hz (16000 with ``f0_method="crepe"``: CREPE's own rate,
            where its internal resampling is the identity).
        frame_rate: frames per second (any: frame centres are rounded as offline).
        f0_method: ``"yin"`` or ``"crepe"``.
        crepe_model: ``"tiny"`` or ``"full"`` (CREPE only).
        min_hz, max_hz, threshold: YIN's search range and threshold (``max_hz=None``: YIN's default).
        loudness_n_fft: the loudness window (None: :func:`default_loudness_n_fft`, 512 at 16 kHz).
        crepe_convolution: how CREPE's second layer convolves a step's few frames: ``"direct"``
            (``conv1d``: the offline :func:`~torchddsp.features.crepe.crepe`'s, bit for bit in
            eager float32 on the CPU; faster than the FFT at a few frames in eager PyTorch, and
            what an ONNX export can hold) or ``"fft"`` (faster once traced to TorchScript; the
            same result to float32 rounding).
    """

    sample_rate: float
    frame_rate: float = 250.0
    f0_method: str = "yin"
    crepe_model: str = "tiny"
    min_hz: float = 40.0
    max_hz: float | None = None
    threshold: float = 0.15
    loudness_n_fft: int | None = None
    crepe_convolution: str = "direct"

    def __post_init__(self) -> None:
        sample_rate = check_positive("sample_rate", self.sample_rate)
        check_positive("frame_rate", self.frame_rate)
        check_choice("f0_method", self.f0_method, F0_METHODS)
        check_choice("crepe_model", self.crepe_model, tuple(CAPACITIES))
        check_choice("crepe_convolution", self.crepe_convolution, CREPE_CONVOLUTIONS)
        check_positive("min_hz", self.min_hz)
        check_positive("threshold", self.threshold)
        max_hz = _max_hz(self)
        if self.f0_method == "yin" and not self.min_hz < max_hz < sample_rate / 4:
            raise InputError(
                f"need min_hz < max_hz < sample_rate / 4 ({sample_rate / 4}), found min_hz={self.min_hz}, max_hz={max_hz}"
            )
        if self.loudness_n_fft is not None:
            check_positive_int("loudness_n_fft", self.loudness_n_fft, minimum=2)
        if self.f0_method == "crepe" and sample_rate != CREPE_SAMPLE_RATE:
            # Offline CREPE resamples to 16 kHz over the whole signal; streaming it exactly
            # would need the resampler's phase grid in the state. Not done: refuse instead.
            raise InputError(
                f"sample_rate must be {CREPE_SAMPLE_RATE} for streaming f0_method='crepe' (found {self.sample_rate}); "
                "resample the stream first, or use f0_method='yin'"
            )


def _max_hz(settings: FeatureSettings) -> float:
    """YIN's ``max_hz``, its default resolved as :func:`~torchddsp.features.yin.yin` does."""
    if settings.max_hz is None:
        return min(2000.0, 0.99 * float(settings.sample_rate) / 4)
    return check_positive("max_hz", settings.max_hz)


class _Plan(NamedTuple):
    """Sizes derived from the settings, in samples (frames read ``[c - before, c + after)``)."""

    f0_before: int  # samples of the f0 frame before its centre
    f0_size: int  # samples of the f0 frame
    n_fft: int  # loudness frame (centred: n_fft // 2 before)
    before: int  # the most any frame reads before its centre
    after: int  # the most any frame reads from its centre on: the latency
    buffer_size: int  # samples the state keeps


@functools.lru_cache(maxsize=64)
def _plan(settings: FeatureSettings) -> _Plan:
    sample_rate = float(settings.sample_rate)
    n_fft = settings.loudness_n_fft or default_loudness_n_fft(sample_rate)
    loudness_before, loudness_after = loudness_context(sample_rate, n_fft)
    if settings.f0_method == "yin":
        f0_before, f0_after = yin_context(sample_rate, settings.min_hz)
    else:
        f0_before, f0_after = crepe_context(CREPE_SAMPLE_RATE)
    before, after = max(f0_before, loudness_before), max(f0_after, loudness_after)
    # The first frame not yet emitted has c + after > n_samples, so it reads from
    # n_samples - after - before + 1 on: the buffer keeps those after + before - 1 samples.
    return _Plan(f0_before, f0_before + f0_after, n_fft, before, after, max(1, after + before - 1))


def latency_samples(settings: FeatureSettings) -> int:
    """Samples from frame ``i``'s centre ``c_i`` to the end of the audio it needs: frame ``i`` is
    emitted by the step whose block brings the stream to ``c_i + latency_samples`` samples, and
    by no earlier one (its last sample read is ``c_i + latency_samples - 1``).

    Example:
        >>> latency_samples(FeatureSettings(16000, min_hz=100.0, loudness_n_fft=512))
        256
    """
    return _plan(settings).after


def latency_s(settings: FeatureSettings) -> float:
    """:func:`latency_samples` in seconds (not counting the host's block).

    Example:
        >>> round(1000 * latency_s(FeatureSettings(16000)), 1)  # YIN, min_hz=40
        37.7
    """
    return latency_samples(settings) / float(settings.sample_rate)


class FeatureState(NamedTuple):
    """Where a feature stream stands.

    ``buffer``: ``(batch, buffer_size)``, the last samples of the stream (zeros before it
    started); ``n_samples``: int64 ``()``, samples seen; ``next_frame``: int64 ``()``, the first
    frame not yet emitted.
    """

    buffer: Tensor
    n_samples: Tensor
    next_frame: Tensor


def start_features(
    settings: FeatureSettings, batch: int = 1, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> FeatureState:
    """The state of a stream before its first sample: silence before it, no frame emitted.
    Loads the CREPE weights now (``CrepeWeightsMissing`` before any audio) with ``f0_method="crepe"``.

    Example:
        >>> state = start_features(FeatureSettings(16000))
        >>> state.buffer.shape, int(state.n_samples), int(state.next_frame)
        (torch.Size([1, 1003]), 0, 0)
    """
    if not isinstance(settings, FeatureSettings):
        raise TypeError(f"settings must be a FeatureSettings, found {type(settings).__name__}")
    batch = check_positive_int("batch", batch)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, found {dtype}")
    if settings.f0_method == "crepe":
        crepe_weights_path(settings.crepe_model)
    buffer = torch.zeros(batch, _plan(settings).buffer_size, dtype=dtype, device=device)  # silence before
    n_samples = torch.zeros((), dtype=torch.int64, device=device)
    return FeatureState(buffer, n_samples, torch.zeros_like(n_samples))


def _check_state(state: FeatureState, settings: FeatureSettings) -> None:
    if not isinstance(settings, FeatureSettings):
        raise TypeError(f"settings must be a FeatureSettings, found {type(settings).__name__}")
    if not isinstance(state, FeatureState):
        raise TypeError(f"state must be a FeatureState (from start_features), found {type(state).__name__}")
    if state.buffer.dim() != 2 or state.buffer.shape[-1] != _plan(settings).buffer_size:
        raise InputError(
            f"state holds a buffer of shape {tuple(state.buffer.shape)}, these settings need "
            f"(batch, {_plan(settings).buffer_size}): it was started with other settings"
        )


def _check_step(audio: Tensor, state: FeatureState, settings: FeatureSettings) -> None:
    _check_state(state, settings)
    check_rank("audio", audio, 2, "(batch, n_samples)")
    buffer = state.buffer
    if audio.shape[0] != buffer.shape[0]:
        raise InputError(f"audio has batch {audio.shape[0]}, the state was started for batch {buffer.shape[0]}")
    if audio.dtype != buffer.dtype:
        raise TypeError(f"audio must have the state's dtype {buffer.dtype}, found {audio.dtype}")
    if audio.device != buffer.device:
        raise InputError(f"audio is on {audio.device}, the state on {buffer.device}")
    check_finite("audio", audio)


def _centres(first: int, stop: int, settings: FeatureSettings) -> list[int]:
    """``round(i * sample_rate / frame_rate)`` for ``i`` in ``first .. stop - 1``: the float64
    product and round-half-to-even of :func:`~torchddsp.features.framing.frame_centers`."""
    ratio = float(settings.sample_rate) / float(settings.frame_rate)
    return [round(i * ratio) for i in range(first, stop)]


def _ready_stop(first: int, limit: int, settings: FeatureSettings) -> int:
    """One past the last frame from ``first`` on whose centre is at most ``limit``."""
    ratio = float(settings.sample_rate) / float(settings.frame_rate)
    stop = max(first, math.floor((limit + 0.5) / ratio) + 1)  # a guess, corrected below
    while stop > first and round((stop - 1) * ratio) > limit:
        stop -= 1
    while round(stop * ratio) <= limit:
        stop += 1
    return stop


def _cut(audio: Tensor, starts: Tensor, size: int) -> Tensor:
    """``(batch, n)`` -> ``(batch, len(starts), size)``: ``audio[:, s : s + size]`` for each start."""
    return audio[:, starts[:, None] + torch.arange(size, device=audio.device)]


def _loudness(frames: Tensor, settings: FeatureSettings, n_fft: int) -> Tensor:
    """:func:`~torchddsp.features.loudness.a_weighted_loudness` of frames already cut ``(..., n_fft)``."""
    return loudness_of_frames(frames, float(settings.sample_rate))


def _crepe(frames: Tensor, model: str, convolution: str = "direct") -> tuple[Tensor, Tensor]:
    """:func:`~torchddsp.features.crepe.crepe` of 16 kHz frames already cut ``(batch, n, 1024)``
    (its code after the framing: normalisation as trained, the network, the decoding). With
    ``"direct"`` each frame's values are the offline ones bit for bit, however few frames a
    step brings (:func:`~torchddsp.features.crepe.frame_activations`): the harmonic phase
    integrates f0, so one frame's f0 one float32 rounding apart moves a 0.4 s transfer by up to
    about 1e-4 of its peak, and batch-dependent roundings by up to a few 1e-3."""
    activations = frame_activations(normalize_frames(frames), model, fast=convolution == "fft")
    return decode_activations(activations)


def _f0(frames: Tensor, settings: FeatureSettings, plan: _Plan) -> tuple[Tensor, Tensor]:
    """f0 and confidence of f0 frames already cut, ``(batch, n, f0_size)``, by the offline code."""
    if settings.f0_method == "crepe":
        return _crepe(frames, settings.crepe_model, settings.crepe_convolution)
    sample_rate = float(settings.sample_rate)
    max_lag = math.ceil(sample_rate / settings.min_hz)
    min_lag = max(2, math.floor(sample_rate / _max_hz(settings)))
    return _yin_frames(frames, sample_rate, plan.f0_before, min_lag, max_lag, settings.threshold)


def _frames(audio: Tensor, centres: list[int], settings: FeatureSettings) -> dict[str, Tensor]:
    """The features of the frames centred on ``centres`` (sample indices into ``audio``, which
    holds every sample they read): one batched call of each feature's offline code."""
    plan = _plan(settings)
    batch, dtype = audio.shape[0], audio.dtype
    if not centres:
        empty = audio.new_zeros(batch, 0)
        return {name: empty for name in FEATURE_NAMES}
    centre = torch.tensor(centres, dtype=torch.int64, device=audio.device)
    with torch.no_grad():
        f0_hz, confidence = _f0(_cut(audio, centre - plan.f0_before, plan.f0_size), settings, plan)
        loudness_db = _loudness(_cut(audio, centre - plan.n_fft // 2, plan.n_fft), settings, plan.n_fft)
    values = (f0_hz, confidence, loudness_db)
    return {name: value.to(dtype) for name, value in zip(FEATURE_NAMES, values)}


def step_features(
    audio: Tensor, state: FeatureState | None, settings: FeatureSettings
) -> tuple[dict[str, Tensor], FeatureState]:
    """Take one block of a stream; return the frames it completes and the new state.

    Frame ``i`` comes out of the step whose block brings the stream to
    ``round(i * sample_rate / frame_rate) + latency_samples(settings)`` samples. The state is
    not modified (a state used twice gives the same result twice); nor is ``audio``.

    Shape:
        ``audio``: ``(batch, n_samples)``, any ``n_samples >= 0``, the state's batch and dtype
        -> ``f0_hz``, ``confidence``, ``loudness_db``: ``(batch, n_new_frames)`` each.

    Args:
        audio: the next block of the stream, at ``settings.sample_rate``.
        state: from :func:`start_features` or the previous step; None: a fresh stream.
        settings: the stream's settings (the same at every step).

    Example:
        >>> settings = FeatureSettings(16000, min_hz=100.0)
        >>> frames, state = step_features(torch.zeros(1, 256), None, settings)
        >>> frames["f0_hz"].shape, int(state.next_frame)  # frame 0 has its 256 samples, frame 1 not
        (torch.Size([1, 1]), 1)
    """
    if state is None:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        state = start_features(settings, audio.shape[0], audio.dtype, audio.device)
    _check_step(audio, state, settings)
    plan = _plan(settings)
    n_seen, first = int(state.n_samples), int(state.next_frame)
    n_total = n_seen + audio.shape[-1]
    stop = _ready_stop(first, n_total - plan.after, settings)
    extended = torch.cat([state.buffer, audio], dim=-1)  # samples n_seen - buffer_size .. n_total - 1
    offset = n_seen - plan.buffer_size
    frames = _frames(extended, [c - offset for c in _centres(first, stop, settings)], settings)
    new_state = FeatureState(
        extended[:, extended.shape[-1] - plan.buffer_size :].clone(),
        torch.full_like(state.n_samples, n_total),
        torch.full_like(state.next_frame, stop),
    )
    return frames, new_state


def finish_features(state: FeatureState, settings: FeatureSettings) -> dict[str, Tensor]:
    """The frames left at the end of a stream, reading zeros past its end: with the steps'
    frames, ``floor(n_samples * frame_rate / sample_rate)`` frames in all (at least one),
    as the offline features of the whole stream.

    Shape:
        ``f0_hz``, ``confidence``, ``loudness_db``: ``(batch, n_left)`` each.

    Example:
        >>> settings = FeatureSettings(16000, min_hz=100.0)
        >>> _, state = step_features(torch.zeros(1, 1000), None, settings)
        >>> finish_features(state, settings)["loudness_db"].shape  # frames 12 .. 14 (of 0 .. 14)
        torch.Size([1, 3])
    """
    _check_state(state, settings)
    plan = _plan(settings)
    n_seen, first = int(state.n_samples), int(state.next_frame)
    stop = default_n_frames(n_seen, float(settings.sample_rate), float(settings.frame_rate))
    padded = torch.nn.functional.pad(state.buffer, (0, plan.after))
    offset = n_seen - plan.buffer_size
    return _frames(padded, [c - offset for c in _centres(first, stop, settings)], settings)
