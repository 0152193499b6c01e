"""Dataset preparation (``torchddsp prepare``); the dataset it writes is read by
:class:`~torchddsp.training.dataset.FeatureDataset` (re-exported here).

On-disk layout of a prepared dataset (``DATASET_DIR``)::

    dataset.json            settings, source files, skipped files, split, statistics, lengths
    train/audio.npy         float32 (n_samples,): every training file's audio, concatenated
    train/f0_hz.npy         float32 (n_frames,): f0 per frame (frame i centred on i / frame_rate)
    train/confidence.npy    float32 (n_frames,): f0 confidence in [0, 1]
    train/loudness_db.npy   float32 (n_frames,): A-weighted loudness in dB
    train/examples.npy      int64 (n_examples,): first frame of every example
    eval/...                the same for the held-out part

Audio and features are computed at ``sample_rate`` and ``frame_rate`` (a whole number of
samples per frame) as if on whole files (no edge effects at example boundaries), in chunks
of about a minute (:mod:`torchddsp.features.recording`: the same numbers in memory that does
not grow with the recording); examples never cross a file. ``dataset.json["statistics"]``
holds the pitch (MIDI) and loudness (dB) quantiles of confidently pitched frames, for
transfer's auto-adjust; ``dataset.json["frames"]`` the length of each split's arrays.

The dataset is built in a temporary folder beside ``DATASET_DIR`` and swapped in whole when
complete (:func:`torchddsp.io.atomic_folder`): a full disk, an error or a kill leaves the
previous dataset as it was.

Under ``torchrun`` (``WORLD_SIZE > 1``) the ranks share the work: rank ``r`` analyses files
``r, r + N, ...`` and rank 0 merges the parts in file order into the same dataset one process
writes (:mod:`torchddsp.training.prepare_parallel`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from ..configs import AutoencoderConfig
from ..configs import DataConfig
from ..distributed import process_group
from ..features.crepe import crepe_weights_path
from ..features.pitch import CONFIDENCE_THRESHOLD
from ..features.recording import CHUNK_SECONDS
from ..features.recording import FEATURES
from ..features.recording import analysis_chunks
from ..features.recording import frame_features
from ..functional import hz_to_midi
from ..io import AudioFileError
from ..io import atomic_folder
from ..io import audio_info
from ..io import read_audio_blocks
from ..io import write_text_atomic
from ..progress import Progress
from ..validation import InputError
from .dataset import ARRAYS
from .dataset import FeatureDataset
from .dataset import load_statistics

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioFileError",
    "prepare_dataset",
    "FeatureDataset",
    "load_statistics",
    "compute_features",
    "CONFIDENCE_THRESHOLD",
    "QUANTILES",
    "CHUNK_SECONDS",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
QUANTILES = tuple(float(q) for q in np.linspace(0.0, 1.0, 101).round(2))
_COPY_FRAMES = 1 << 16  # frames moved at a time between arrays


def compute_features(audio: Tensor, config: AutoencoderConfig, data: DataConfig) -> dict[str, Tensor]:
    """f0, confidence and loudness per frame of one signal ``(n_samples,)`` analysed whole;
    ``n_frames = n_samples // hop``. (``prepare`` computes the same in chunks.)"""
    return frame_features(audio, config.sample_rate, config.frame_rate, data.f0_method, data.crepe_model)


class _GrowingArray:
    """A 1-D ``.npy`` file written by appending (plain writes: no mapping, so memory stays
    bounded), truncated back when a file turns out unusable; the header is written on close.

    The 128-byte header of a version 1.0 ``.npy`` holds any 1-D shape up to 10**30 elements, so
    the data starts at the same offset whatever the final length.
    """

    HEADER = 128

    def __init__(self, path: Path, dtype: npt.DTypeLike):
        self.path, self.dtype, self.length = path, np.dtype(dtype), 0
        self.handle = open(path, "w+b")  # noqa: SIM115  (closed by close())
        self.handle.write(b"\0" * self.HEADER)

    def append(self, values: np.ndarray) -> None:
        self.handle.seek(self.HEADER + self.length * self.dtype.itemsize)
        self.handle.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.length += len(values)

    def read(self, start: int, stop: int) -> np.ndarray:
        self.handle.flush()
        self.handle.seek(self.HEADER + start * self.dtype.itemsize)
        return np.frombuffer(self.handle.read((stop - start) * self.dtype.itemsize), dtype=self.dtype).copy()

    def truncate(self, length: int) -> None:
        self.length = length
        self.handle.truncate(self.HEADER + length * self.dtype.itemsize)

    def close(self) -> None:
        self.handle.truncate(self.HEADER + self.length * self.dtype.itemsize)
        self.handle.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.length,)}
        np.lib.format.write_array_header_1_0(self.handle, header)
        if self.handle.tell() != self.HEADER:  # never: the header always pads to 128 bytes
            raise RuntimeError(f"{self.path}: unexpected .npy header length {self.handle.tell()}")
        self.handle.close()


class _Split:
    """The arrays of one split under construction (audio per sample, features per frame)."""

    def __init__(self, folder: Path, hop_size: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.hop_size = folder, hop_size
        self.arrays = {key: _GrowingArray(folder / f"{key}.npy", np.float32) for key in ARRAYS}
        self.starts: list[int] = []

    @property
    def frames(self) -> int:
        return self.arrays["f0_hz"].length

    def append(self, audio: np.ndarray, features: dict[str, np.ndarray]) -> None:
        self.arrays["audio"].append(audio)
        for key in FEATURES:
            self.arrays[key].append(features[key])

    def read(self, start: int, stop: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Audio and features of frames ``start .. stop - 1``."""
        audio = self.arrays["audio"].read(start * self.hop_size, stop * self.hop_size)
        return audio, {key: self.arrays[key].read(start, stop) for key in FEATURES}

    def truncate(self, frames: int) -> None:
        self.arrays["audio"].truncate(frames * self.hop_size)
        for key in FEATURES:
            self.arrays[key].truncate(frames)

    def close(self) -> None:
        for array in self.arrays.values():
            array.close()
        np.save(self.folder / "examples.npy", np.asarray(self.starts, dtype=np.int64))

    def abandon(self) -> None:
        """Close the files after an error (the temporary folder is deleted with them)."""
        for array in self.arrays.values():
            array.handle.close()


def _audio_files(audio_dir: Path) -> list[Path]:
    if not audio_dir.is_dir():
        raise InputError(f"audio_dir must be a folder of audio files, found {audio_dir}")
    files = sorted(p for p in audio_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputError(f"{audio_dir} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def _check_dataset_dir(audio_dir: Path, dataset_dir: Path) -> None:
    """Refuse a destination whose replacement would destroy something that is not a dataset."""
    audio, target = audio_dir.resolve(), dataset_dir.resolve()
    if audio == target or target in audio.parents:
        raise InputError(f"dataset_dir {dataset_dir} holds the audio_dir {audio_dir}; choose another folder")
    if dataset_dir.is_symlink():
        raise InputError(f"dataset_dir {dataset_dir} is a symbolic link; give the real folder")
    if dataset_dir.exists():
        if not dataset_dir.is_dir():
            raise InputError(f"dataset_dir {dataset_dir} exists and is not a folder")
        if any(dataset_dir.iterdir()) and not (dataset_dir / "dataset.json").is_file():
            raise InputError(
                f"dataset_dir {dataset_dir} is a folder that holds files but no dataset.json; "
                "prepare replaces the whole folder: choose a new or empty one"
            )
    # The new dataset is built beside it: its parent (or the first existing folder above) must be writable.
    parent = dataset_dir.absolute().parent
    existing = next(folder for folder in (parent, *parent.parents) if folder.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"dataset_dir {dataset_dir}: the folder {existing} is not writable")


def _split(files: list[Path], data: DataConfig) -> dict[Path, str | None]:
    """Whole files for evaluation when there are many; otherwise None (split inside each file)."""
    if len(files) < data.min_files_for_file_split or data.eval_fraction == 0:
        return {f: None for f in files}
    every = max(2, round(1 / data.eval_fraction))
    return {f: ("eval" if i % every == every - 1 else "train") for i, f in enumerate(files)}


def _list_examples(
    split: _Split, first: int, stop: int, example_frames: int, hop_frames: int, silence_db: float
) -> int:
    """Add the examples of the part in frames ``first .. stop - 1`` (never crossing its ends,
    silent ones left out); returns how many silent ones were left out."""
    loudness = split.arrays["loudness_db"].read(first, stop)
    silent = 0
    for start in range(0, stop - first - example_frames + 1, hop_frames):
        if loudness[start : start + example_frames].max() <= silence_db:
            silent += 1  # nothing to learn from silence
            continue
        split.starts.append(first + start)
    return silent


def _move_tail(source: _Split, target: _Split, start: int) -> None:
    """Append frames ``start ..`` of ``source`` to ``target`` and cut them from ``source``."""
    for first in range(start, source.frames, _COPY_FRAMES):
        target.append(*source.read(first, min(first + _COPY_FRAMES, source.frames)))
    source.truncate(start)


def _analyse_into(
    path: Path, split: _Split, model: AutoencoderConfig, data: DataConfig, bar: Progress
) -> tuple[int, float]:
    """Analyse one file in chunks, appending its audio and features to ``split``; returns
    (samples at the model rate, loudest frame in dB). ``bar`` counts seconds of audio."""
    chunk_frames = round(CHUNK_SECONDS * model.frame_rate)
    blocks = read_audio_blocks(path, model.sample_rate, chunk_frames * model.hop_size)
    n_samples, loudest = 0, -math.inf
    for chunk in analysis_chunks(
        blocks, model.sample_rate, model.frame_rate, data.f0_method, data.crepe_model, chunk_frames
    ):
        features = {key: chunk.features[key].numpy() for key in FEATURES}
        split.append(chunk.audio.numpy(), features)
        if len(features["loudness_db"]):
            loudest = max(loudest, float(features["loudness_db"].max()))
        n_samples = chunk.n_samples
        bar.update(round(len(chunk.audio) / model.sample_rate))
    return n_samples, loudest


def _statistics(split: _Split) -> dict:
    """Pitch and loudness quantiles of the confidently pitched frames of ``split``."""
    midi, loud = [], []
    for first in range(0, split.frames, _COPY_FRAMES):
        stop = min(first + _COPY_FRAMES, split.frames)
        f0, confidence, loudness = (split.arrays[key].read(first, stop) for key in FEATURES)
        pitched = confidence >= CONFIDENCE_THRESHOLD
        midi.append(hz_to_midi(torch.from_numpy(f0[pitched]).double()).numpy())
        loud.append(loudness[pitched].astype(np.float64))
    midi_all = np.concatenate(midi) if midi else np.zeros(0)
    loud_all = np.concatenate(loud) if loud else np.zeros(0)
    if len(midi_all) == 0:
        return {"pitched_frames": 0}
    return {
        "pitched_frames": int(len(midi_all)),
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "quantile_levels": list(QUANTILES),
        "pitch_midi_quantiles": np.quantile(midi_all, QUANTILES).round(4).tolist(),
        "loudness_db_quantiles": np.quantile(loud_all, QUANTILES).round(4).tolist(),
        "mean_pitch_midi": float(midi_all.mean()),
        "mean_loudness_db": float(loud_all.mean()),
    }


@dataclass
class _Plan:
    """Fixed numbers of a preparation."""

    example_frames: int
    hop_frames: int
    hop_size: int
    sample_rate: int


def _eval_frames(n_frames: int, data: DataConfig, plan: _Plan) -> int:
    """Frames held out at the end of a file split inside itself (0: the whole file trains)."""
    if not data.eval_fraction:
        return 0
    eval_frames = max(math.ceil(n_frames * data.eval_fraction / plan.hop_frames) * plan.hop_frames, plan.example_frames)
    return eval_frames if n_frames - eval_frames >= plan.example_frames else 0


def prepare_dataset(
    audio_dir: str | Path,
    dataset_dir: str | Path,
    model: AutoencoderConfig | None = None,
    data: DataConfig | None = None,
    skip_bad: bool = False,
    show_progress: bool = True,
) -> dict:
    """Build a dataset from a folder of recordings of one instrument (``torchddsp prepare``).

    Every file is read (any rate and channel count), downmixed, resampled to the model rate,
    analysed (f0, confidence, loudness: the same as on the whole file, computed in chunks so
    that memory does not grow with its length), assigned to train/eval, and cut into examples;
    see the module docstring for the layout. Returns the ``dataset.json`` content. The dataset
    is written to a temporary folder and replaces ``dataset_dir`` only when complete.

    Raises :class:`AudioFileError` on the first unreadable, empty or corrupt file, unless
    ``skip_bad``: then every such file is listed in ``dataset.json["skipped"]`` (with the reason)
    and the rest is used. Files that are silent throughout are never trained on: they are
    listed in ``dataset.json["silent_files"]``. A file shorter than its header says is used
    with a warning (:class:`torchddsp.io.TruncatedAudioWarning`). ``ValueError`` when nothing
    usable is left, or when ``dataset_dir`` is a folder of other files (it would be replaced).
    """
    model = model or AutoencoderConfig()
    data = data or DataConfig()
    model.validate()
    data.validate()
    audio_dir, dataset_dir = Path(audio_dir), Path(dataset_dir)
    files = _audio_files(audio_dir)
    _check_dataset_dir(audio_dir, dataset_dir)
    if data.f0_method == "crepe":
        crepe_weights_path(data.crepe_model)  # a missing model fails now, not after the first file
    plan = _Plan(
        round(data.example_s * model.frame_rate),
        max(1, round(data.example_hop_s * model.frame_rate)),
        model.hop_size,
        model.sample_rate,
    )
    with process_group() as (_, world):
        if world > 1:  # under torchrun: each rank analyses its share of the files
            from .prepare_parallel import prepare_in_parallel  # noqa: PLC0415  (it imports this module)

            return prepare_in_parallel(audio_dir, dataset_dir, files, model, data, plan, skip_bad, show_progress)
    with atomic_folder(dataset_dir) as folder:  # every file inside appears at once, when complete
        metadata = _prepare_into(folder, audio_dir, files, model, data, plan, skip_bad, show_progress)
        write_text_atomic(folder / "dataset.json", json.dumps(metadata, indent=1))
    return metadata


@dataclass
class _Record:
    """What ``dataset.json`` says about the files (filled file by file)."""

    files: dict = field(default_factory=dict)  # name -> "train", "eval" or "train+eval"
    eval_from_s: dict = field(default_factory=dict)  # name -> where its held-out end starts
    samples: dict = field(default_factory=lambda: {"train": 0, "eval": 0})
    skipped: list = field(default_factory=list)
    silent_files: list = field(default_factory=list)
    silent_examples: int = 0


def _add_file(
    path: Path,
    name: str,
    split_name: str | None,
    splits: dict[str, _Split],
    record: _Record,
    model: AutoencoderConfig,
    data: DataConfig,
    plan: _Plan,
    skip_bad: bool,
    bar: Progress,
) -> None:
    """Analyse one file into its split (``None``: split inside it), or record why not."""
    target = splits[split_name or "train"]
    base = target.frames
    too_short = f"shorter than one example ({data.example_s} s)"
    try:
        frames, rate, _ = audio_info(path)
        if -(-frames * model.sample_rate // rate) < plan.example_frames * plan.hop_size:
            record.skipped.append({"file": name, "reason": too_short})  # known from the header: no work
            return
        bar.total = round(frames / rate)
        n_samples, loudest = _analyse_into(path, target, model, data, bar)
    except AudioFileError as error:
        target.truncate(base)
        if not skip_bad:
            raise
        record.skipped.append({"file": name, "reason": str(error)})
        return
    n_frames = target.frames - base
    if n_samples < plan.example_frames * plan.hop_size:  # shorter than its header said
        target.truncate(base)
        record.skipped.append({"file": name, "reason": too_short})
        return
    if loudest <= data.silence_db:
        target.truncate(base)
        record.silent_files.append(name)
        return
    eval_frames = _eval_frames(n_frames, data, plan) if split_name is None else 0
    examples = (plan.example_frames, plan.hop_frames, data.silence_db)
    if not eval_frames:
        record.silent_examples += _list_examples(target, base, target.frames, *examples)
        record.samples[split_name or "train"] += n_samples
        record.files[name] = split_name or "train"
        return
    # Split inside the file: its last eval_fraction (whole examples) is held out.
    cut = n_frames - eval_frames
    eval_base = splits["eval"].frames
    _move_tail(target, splits["eval"], base + cut)
    record.silent_examples += _list_examples(target, base, base + cut, *examples)
    record.silent_examples += _list_examples(splits["eval"], eval_base, eval_base + eval_frames, *examples)
    record.samples["train"] += cut * plan.hop_size
    record.samples["eval"] += n_samples - cut * plan.hop_size
    record.files[name] = "train+eval"
    record.eval_from_s[name] = cut * plan.hop_size / plan.sample_rate


def _prepare_into(
    folder: Path,
    audio_dir: Path,
    files: list[Path],
    model: AutoencoderConfig,
    data: DataConfig,
    plan: _Plan,
    skip_bad: bool,
    show_progress: bool,
) -> dict:
    """Write both splits' arrays into ``folder``; returns the metadata."""
    assignment = _split(files, data)
    splits = {name: _Split(folder / name, plan.hop_size) for name in ("train", "eval")}
    record = _Record()
    try:
        for index, path in enumerate(files):
            name = str(path.relative_to(audio_dir))
            with Progress(None, f"prepare {index + 1}/{len(files)} {name} (s)", enabled=show_progress) as bar:
                _add_file(path, name, assignment[path], splits, record, model, data, plan, skip_bad, bar)
    except BaseException:
        for split in splits.values():
            split.abandon()
        raise
    return _conclude(splits, record, audio_dir, model, data, plan)


def _conclude(
    splits: dict[str, _Split], record: _Record, audio_dir: Path, model: AutoencoderConfig, data: DataConfig, plan: _Plan
) -> dict:
    """Close complete splits (the training statistics read first); returns the metadata."""
    try:
        statistics = _statistics(splits["train"])
        frame_counts = {name: split.frames for name, split in splits.items()}
        for split in splits.values():
            split.close()
    except BaseException:
        for split in splits.values():
            split.abandon()
        raise
    if frame_counts["train"] == 0:
        raise InputError(
            f"no usable audio in {audio_dir}: skipped {len(record.skipped)} file(s), silent {len(record.silent_files)}"
        )
    counts = {name: len(split.starts) for name, split in splits.items()}
    if counts["train"] == 0:
        raise InputError(f"no training example in {audio_dir} is louder than {data.silence_db} dB")
    return {
        "format": "torchddsp-dataset-1",
        "sample_rate": model.sample_rate,
        "frame_rate": model.frame_rate,
        "example_frames": plan.example_frames,
        "hop_frames": plan.hop_frames,
        "data": asdict(data),
        # "train+eval": the file's start trains, its end (from eval_from_s) is held out.
        "files": record.files,
        "eval_from_s": record.eval_from_s,
        "examples": counts,
        "frames": frame_counts,
        "seconds": {s: round(n / model.sample_rate, 2) for s, n in record.samples.items()},
        "skipped": record.skipped,
        "silent_files": record.silent_files,
        "silent_examples_skipped": record.silent_examples,
        "statistics": statistics,
    }
