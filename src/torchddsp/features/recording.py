"""Frame features of recordings of any length, in bounded memory.

f0, its confidence and A-weighted loudness are local: frame ``i`` (centred on sample
``i * hop``) reads only the samples ``[i * hop - before, i * hop + after)`` given by
:func:`~torchddsp.features.yin.yin_context`, :func:`~torchddsp.features.crepe.crepe_context`
and :func:`~torchddsp.features.loudness.loudness_context`. So a long recording is analysed
in chunks of frames, each with that much audio either side taken from its neighbours, and
the result equals the analysis of the whole signal at once (the same arithmetic on the same
samples; tested equal within 1e-5, with chunk boundaries inside notes). Memory depends on
the chunk length, not on the recording's.

    chunks = analysis_chunks(read_audio_blocks(path, 16000, 16000 * 60), 16000, 250, "yin")
    for chunk in chunks:            # chunk.features["f0_hz"]: frames chunk.first_frame ...
        ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..io import audio_info
from ..io import read_audio_blocks
from ..progress import Progress
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive
from .crepe import CREPE_SAMPLE_RATE
from .crepe import crepe_context
from .crepe import crepe_weights_path
from .loudness import a_weighted_loudness
from .loudness import loudness_context
from .pitch import F0_METHODS
from .pitch import estimate_f0
from .yin import yin_context

__all__ = [
    "FeatureChunk",
    "frame_features",
    "feature_context",
    "analysis_chunks",
    "recording_features",
    "FEATURES",
    "CHUNK_SECONDS",
    "frames_per_chunk",
]

FEATURES = ("f0_hz", "confidence", "loudness_db")
#: Seconds of audio analysed (or rendered) at a time: a few hundred MB with CREPE or YIN at 16 kHz.
CHUNK_SECONDS = 30.0


@dataclass
class FeatureChunk:
    """Consecutive frames of a recording's analysis.

    ``features``: ``f0_hz``, ``confidence``, ``loudness_db``, each float32 ``(n,)`` for frames
    ``first_frame .. first_frame + n - 1``; ``audio``: the samples those frames cover,
    ``[first_frame * hop, (first_frame + n) * hop)``; ``n_samples``: samples read so far,
    the recording's length when ``last``.
    """

    first_frame: int
    audio: Tensor
    features: dict[str, Tensor]
    n_samples: int
    last: bool


def frame_features(
    audio: Tensor,
    sample_rate: int,
    frame_rate: int,
    f0_method: str = "crepe",
    crepe_model: str = "tiny",
    n_frames: int | None = None,
    yin_options: Mapping[str, Any] | None = None,
    loudness_n_fft: int | None = None,
) -> dict[str, Tensor]:
    """f0, confidence and loudness of one signal ``(n_samples,)`` analysed whole: float32
    ``(n_frames,)`` each, ``n_frames = n_samples // hop`` by default. ``yin_options``
    (``min_hz``, ``max_hz``, ``threshold``; with ``f0_method="yin"``) and ``loudness_n_fft``
    as :func:`~torchddsp.transfer.transfer` takes them.

    Example:
        >>> features = frame_features(torch.zeros(1600), 16000, 250, f0_method="yin")
        >>> {name: tuple(value.shape) for name, value in features.items()}
        {'f0_hz': (25,), 'confidence': (25,), 'loudness_db': (25,)}
    """
    hop = _hop(sample_rate, frame_rate)
    n_frames = audio.shape[-1] // hop if n_frames is None else n_frames
    options = _yin_options(f0_method, yin_options)
    f0_hz, confidence = estimate_f0(
        audio[None], sample_rate, frame_rate, method=f0_method, model=crepe_model, n_frames=n_frames, **options
    )
    loudness = a_weighted_loudness(audio[None], sample_rate, frame_rate, n_fft=loudness_n_fft, n_frames=n_frames)
    return {"f0_hz": f0_hz[0], "confidence": confidence[0], "loudness_db": loudness[0]}


def _yin_options(f0_method: str, yin_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """YIN's options that are set (None means its default); none for CREPE."""
    return {k: v for k, v in (yin_options or {}).items() if v is not None} if f0_method == "yin" else {}


def _hop(sample_rate: int, frame_rate: int) -> int:
    check_positive("sample_rate", sample_rate)
    check_positive("frame_rate", frame_rate)
    if not float(sample_rate).is_integer() or not float(frame_rate).is_integer() or sample_rate % frame_rate:
        raise InputError(f"sample_rate ({sample_rate}) must be a whole multiple of frame_rate ({frame_rate})")
    return int(sample_rate) // int(frame_rate)


def feature_context(
    sample_rate: int,
    frame_rate: int,
    f0_method: str = "crepe",
    yin_options: Mapping[str, Any] | None = None,
    loudness_n_fft: int | None = None,
) -> tuple[int, int, int]:
    """``(before, after, grid)``: a chunk of frames ``i0 .. i1 - 1`` is analysed exactly from the
    samples ``[i0 * hop - before, (i1 - 1) * hop + after)`` (clipped to the recording), and
    chunks start on multiples of ``grid`` samples. ``before`` and ``grid`` are multiples of the
    hop; ``grid`` also puts CREPE's resampler to 16 kHz and its frame centres on the phase of
    the whole signal's."""
    hop = _hop(sample_rate, frame_rate)
    check_choice("f0_method", f0_method, F0_METHODS)
    spans = [loudness_context(sample_rate, loudness_n_fft)]
    grid = hop
    if f0_method == "yin":
        spans.append(
            yin_context(sample_rate, **{k: v for k, v in _yin_options("yin", yin_options).items() if k == "min_hz"})
        )
    else:
        spans.append(crepe_context(int(sample_rate)))
        # Chunk offsets must be whole input periods of the resampler (sample_rate / gcd) and
        # whole numbers of 16 kHz samples per frame offset (frame centres are rounded).
        down = int(sample_rate) // math.gcd(int(sample_rate), CREPE_SAMPLE_RATE)
        frames_step = int(frame_rate) // math.gcd(CREPE_SAMPLE_RATE, int(frame_rate))
        grid = math.lcm(hop, down, hop * frames_step)
    before = max(span[0] for span in spans)
    after = max(span[1] for span in spans)
    return -(-before // grid) * grid, after, grid


def analysis_chunks(
    blocks: Iterable[Tensor],
    sample_rate: int,
    frame_rate: int,
    f0_method: str = "crepe",
    crepe_model: str = "tiny",
    chunk_frames: int = 15000,
    yin_options: Mapping[str, Any] | None = None,
    loudness_n_fft: int | None = None,
) -> Iterator[FeatureChunk]:
    """Analyse a signal given as consecutive 1-D blocks at ``sample_rate`` (e.g. from
    :func:`torchddsp.io.read_audio_blocks`), about ``chunk_frames`` frames at a time.

    Yields :class:`FeatureChunk` s covering frames ``0 .. n_samples // hop - 1`` in order; the
    last one (``last=True``, possibly with no frames) gives the signal's length. Their
    features, concatenated, equal :func:`frame_features` of the whole signal. Memory: the
    chunk's audio and frames, plus the blocks.
    """
    hop = _hop(sample_rate, frame_rate)
    before, after, grid = feature_context(sample_rate, frame_rate, f0_method, yin_options, loudness_n_fft)
    step = max(1, -(-int(chunk_frames) * hop // grid)) * grid // hop  # frames per chunk, on the grid
    kept = torch.zeros(0)
    kept_start, n_samples, next_frame = 0, 0, 0  # kept: samples kept_start .. n_samples - 1
    for block in _with_end(blocks):
        if block is not None:
            kept = torch.cat([kept, block.to(torch.float32)]) if kept.numel() else block.to(torch.float32)
            n_samples += block.shape[-1]
        while True:
            stop_frame = next_frame + step
            if block is not None:
                if max((stop_frame - 1) * hop + after, stop_frame * hop) > n_samples:
                    break  # the chunk's last frame still lacks audio to its right
            else:
                stop_frame = min(stop_frame, n_samples // hop)
                if stop_frame <= next_frame:
                    break
            start = max(0, next_frame * hop - before)  # a multiple of grid: next_frame is one of step
            stop = min(n_samples, (stop_frame - 1) * hop + after)
            audio = kept[start - kept_start : stop - kept_start]
            skip = next_frame - start // hop  # frames of the left context, computed and dropped
            n_frames = stop_frame - start // hop
            features = frame_features(
                audio, sample_rate, frame_rate, f0_method, crepe_model, n_frames, yin_options, loudness_n_fft
            )
            features = {key: value[skip:].clone() for key, value in features.items()}
            covered = kept[next_frame * hop - kept_start : stop_frame * hop - kept_start].clone()
            first, next_frame = next_frame, stop_frame
            last = block is None and next_frame >= n_samples // hop
            yield FeatureChunk(first, covered, features, n_samples, last)
            drop = max(0, next_frame * hop - before) - kept_start
            kept, kept_start = kept[drop:].clone(), kept_start + drop
            if last:
                return
        if block is None:
            empty = torch.zeros(0)
            yield FeatureChunk(next_frame, empty, {key: empty for key in FEATURES}, n_samples, True)


def _with_end(blocks: Iterable[Tensor]) -> Iterator[Tensor | None]:
    yield from blocks
    yield None


def recording_features(
    path: str | os.PathLike,
    sample_rate: int,
    frame_rate: int,
    f0_method: str = "crepe",
    crepe_model: str = "tiny",
    chunk_s: float = CHUNK_SECONDS,
    show_progress: bool = False,
    yin_options: Mapping[str, Any] | None = None,
    loudness_n_fft: int | None = None,
) -> dict:
    """f0, confidence and loudness of an audio file of any length, in chunks (``yin_options``,
    ``loudness_n_fft``: as :func:`frame_features`).

    The file is read in blocks (mono, resampled to ``sample_rate``: see
    :func:`torchddsp.io.read_audio_blocks`) and analysed ``chunk_s`` at a time; the result
    equals the analysis of the whole file at once (:func:`frame_features`).

    Returns:
        ``f0_hz``, ``confidence``, ``loudness_db``: float32 ``(n_frames,)`` with
        ``n_frames = n_samples // hop``; ``n_samples``: the file's length at ``sample_rate``.

    Raises:
        AudioFileError: (a ``ValueError``) naming the file.
        CrepeWeightsMissing: ``f0_method="crepe"`` without the weights.
    """
    hop = _hop(sample_rate, frame_rate)
    n_chunk = frames_per_chunk(chunk_s, frame_rate)
    check_choice("f0_method", f0_method, F0_METHODS)
    if f0_method == "crepe":
        crepe_weights_path(crepe_model)  # before reading anything
    frames, rate, _ = audio_info(path)
    pieces: dict[str, list[Tensor]] = {key: [] for key in FEATURES}
    n_samples = 0
    blocks = read_audio_blocks(path, sample_rate, n_chunk * hop)
    with Progress(-(-frames * sample_rate // rate) // hop, f"features {os.fspath(path)}", show_progress) as bar:
        chunks = analysis_chunks(
            blocks, sample_rate, frame_rate, f0_method, crepe_model, n_chunk, yin_options, loudness_n_fft
        )
        for chunk in chunks:
            for key in FEATURES:
                pieces[key].append(chunk.features[key])
            n_samples = chunk.n_samples
            bar.update(chunk.features["f0_hz"].shape[0])
    result: dict = {key: torch.cat(values) for key, values in pieces.items()}
    result["n_samples"] = n_samples
    return result


def frames_per_chunk(chunk_s: float, frame_rate: float) -> int:
    """Frames in ``chunk_s`` (at least one); InputError unless a positive finite number."""
    if not isinstance(chunk_s, (int, float)) or not math.isfinite(chunk_s) or chunk_s <= 0:
        raise InputError(f"chunk_s must be a positive number of seconds, found {chunk_s!r}")
    return max(1, round(chunk_s * frame_rate))
