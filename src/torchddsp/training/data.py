"""Dataset preparation (``torchddsp prepare``) and the training dataset.

On-disk layout of a prepared dataset (``DATASET_DIR``)::

    dataset.json            settings, source files, skipped files, split, statistics
    train/audio.npy         float32 (n_samples,): every training file's audio, concatenated
    train/f0_hz.npy         float32 (n_frames,): f0 per frame (frame i centred on i / frame_rate)
    train/confidence.npy    float32 (n_frames,): f0 confidence in [0, 1]
    train/loudness_db.npy   float32 (n_frames,): A-weighted loudness in dB
    train/examples.npy      int64 (n_examples,): first frame of every example
    eval/...                the same for the held-out part

Audio and features are computed on whole files (no edge effects at example boundaries) at
``sample_rate`` and ``frame_rate`` (a whole number of samples per frame); examples never
cross a file. ``dataset.json["statistics"]`` holds the pitch (MIDI) and loudness (dB)
quantiles of confidently pitched frames, for transfer's auto-adjust.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from ..features import a_weighted_loudness, estimate_f0
from ..functional import hz_to_midi, resample
from ..models.autoencoder import AutoencoderConfig
from .config import DataConfig
from ..progress import progress

__all__ = ["AUDIO_SUFFIXES", "AudioFileError", "prepare_dataset", "read_audio", "FeatureDataset", "load_statistics",
           "compute_features", "CONFIDENCE_THRESHOLD", "QUANTILES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
CONFIDENCE_THRESHOLD = 0.85  # frames at or above it count as pitched (statistics, metrics)
QUANTILES = tuple(float(q) for q in np.linspace(0.0, 1.0, 101).round(2))


class AudioFileError(ValueError):
    """An audio file is unreadable, empty or corrupt (the message names it)."""


def read_audio(path: str | Path, sample_rate: int) -> Tensor:
    """Read any soundfile-readable file as mono float32 at ``sample_rate``: ``(n_samples,)``.

    Raises :class:`AudioFileError` naming the file when it cannot be read, holds no samples,
    or holds NaN/inf.
    """
    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for corrupt or unknown files
        raise AudioFileError(f"{path}: cannot read audio ({error})") from None
    if data.size == 0:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    if not np.isfinite(data).all():
        raise AudioFileError(f"{path}: the file holds NaN or infinite samples")
    audio = torch.from_numpy(data.mean(axis=1))  # downmix
    if rate != sample_rate:
        audio = resample(audio[None], rate, sample_rate)[0]
    return audio.contiguous()


def compute_features(audio: Tensor, config: AutoencoderConfig, data: DataConfig) -> dict[str, Tensor]:
    """f0, confidence and loudness per frame of one signal ``(n_samples,)``; ``n_frames =
    n_samples // hop``."""
    n_frames = audio.shape[-1] // config.hop_size
    f0_hz, confidence = estimate_f0(audio[None], config.sample_rate, config.frame_rate, method=data.f0_method,
                                    model=data.crepe_model, n_frames=n_frames)
    loudness = a_weighted_loudness(audio[None], config.sample_rate, config.frame_rate, n_frames=n_frames)
    return {"f0_hz": f0_hz[0], "confidence": confidence[0], "loudness_db": loudness[0]}


@dataclass
class _Part:
    """A stretch of one file assigned to a split."""

    file: str
    split: str
    audio: Tensor
    features: dict[str, Tensor]


def _audio_files(audio_dir: Path) -> list[Path]:
    if not audio_dir.is_dir():
        raise ValueError(f"audio_dir must be a folder of audio files, found {audio_dir}")
    files = sorted(p for p in audio_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ValueError(f"{audio_dir} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def _split(files: list[Path], data: DataConfig) -> dict[Path, str | None]:
    """Whole files for evaluation when there are many; otherwise None (split inside each file)."""
    if len(files) < data.min_files_for_file_split or data.eval_fraction == 0:
        return {f: None for f in files}
    every = max(2, round(1 / data.eval_fraction))
    return {f: ("eval" if i % every == every - 1 else "train") for i, f in enumerate(files)}


def _write_split(folder: Path, parts: list[_Part], example_frames: int, hop_frames: int, hop_size: int,
                 silence_db: float) -> tuple[int, int]:
    """Concatenate a split's parts and list its examples; returns (examples, silent examples skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    audio, features, starts = [], {k: [] for k in ("f0_hz", "confidence", "loudness_db")}, []
    offset, silent = 0, 0
    for part in parts:
        n_frames = part.features["f0_hz"].shape[0]
        audio.append(part.audio[: n_frames * hop_size].numpy())
        for key in features:
            features[key].append(part.features[key].numpy())
        for start in range(0, n_frames - example_frames + 1, hop_frames):
            if part.features["loudness_db"][start : start + example_frames].max() <= silence_db:
                silent += 1  # nothing to learn from silence
                continue
            starts.append(offset + start)
        offset += n_frames
    np.save(folder / "audio.npy", np.concatenate(audio).astype(np.float32) if audio else np.zeros(0, np.float32))
    for key, values in features.items():
        np.save(folder / f"{key}.npy", np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32))
    np.save(folder / "examples.npy", np.asarray(starts, dtype=np.int64))
    return len(starts), silent


def _statistics(parts: Iterable[_Part]) -> dict:
    parts = list(parts)
    f0 = torch.cat([p.features["f0_hz"] for p in parts])
    confidence = torch.cat([p.features["confidence"] for p in parts])
    loudness = torch.cat([p.features["loudness_db"] for p in parts])
    pitched = confidence >= CONFIDENCE_THRESHOLD
    if int(pitched.sum()) == 0:
        return {"pitched_frames": 0}
    midi = hz_to_midi(f0[pitched].double()).numpy()
    loud = loudness[pitched].double().numpy()
    return {
        "pitched_frames": int(pitched.sum()),
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "quantile_levels": list(QUANTILES),
        "pitch_midi_quantiles": np.quantile(midi, QUANTILES).round(4).tolist(),
        "loudness_db_quantiles": np.quantile(loud, QUANTILES).round(4).tolist(),
        "mean_pitch_midi": float(midi.mean()),
        "mean_loudness_db": float(loud.mean()),
    }


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
    analysed whole (f0, confidence, loudness), assigned to train/eval, and cut into examples;
    see the module docstring for the layout. Returns the ``dataset.json`` content.

    Raises :class:`AudioFileError` on the first unreadable, empty or corrupt file, unless
    ``skip_bad``: then every such file is listed in ``dataset.json["skipped"]`` (with the reason)
    and the rest is used. Files that are silent throughout are never trained on: they are
    listed in ``dataset.json["silent_files"]``. ``ValueError`` when nothing usable is left.
    """
    model = model or AutoencoderConfig()
    data = data or DataConfig()
    model.validate()
    data.validate()
    audio_dir, dataset_dir = Path(audio_dir), Path(dataset_dir)
    files = _audio_files(audio_dir)
    assignment = _split(files, data)
    example_frames = round(data.example_seconds * model.frame_rate)
    hop_frames = max(1, round(data.hop_seconds * model.frame_rate))
    parts: list[_Part] = []
    skipped, silent_files = [], []
    for path in progress(files, desc="prepare", enabled=show_progress):
        name = str(path.relative_to(audio_dir))
        try:
            audio = read_audio(path, model.sample_rate)
        except AudioFileError as error:
            if not skip_bad:
                raise
            skipped.append({"file": name, "reason": str(error)})
            continue
        if audio.shape[0] < example_frames * model.hop_size:
            skipped.append({"file": name, "reason": f"shorter than one example ({data.example_seconds} s)"})
            continue
        features = compute_features(audio, model, data)
        if float(features["loudness_db"].max()) <= data.silence_db:
            silent_files.append(name)
            continue
        split = assignment[path]
        if split is not None:
            parts.append(_Part(name, split, audio, features))
            continue
        # Split inside the file: the last eval_fraction of it (whole examples) is held out.
        n_frames = features["f0_hz"].shape[0]
        eval_frames = 0
        if data.eval_fraction:
            eval_frames = max(math.ceil(n_frames * data.eval_fraction / hop_frames) * hop_frames, example_frames)
        if eval_frames and n_frames - eval_frames >= example_frames:
            cut = n_frames - eval_frames
            parts.append(_Part(name, "train", audio[: cut * model.hop_size], {k: v[:cut] for k, v in features.items()}))
            parts.append(_Part(name, "eval", audio[cut * model.hop_size :], {k: v[cut:] for k, v in features.items()}))
        else:
            parts.append(_Part(name, "train", audio, features))
    train = [p for p in parts if p.split == "train"]
    if not train:
        raise ValueError(f"no usable audio in {audio_dir}: skipped {len(skipped)} file(s), silent {len(silent_files)}")
    counts = {}
    silent_examples = 0
    for split in ("train", "eval"):
        counts[split], dropped = _write_split(dataset_dir / split, [p for p in parts if p.split == split],
                                              example_frames, hop_frames, model.hop_size, data.silence_db)
        silent_examples += dropped
    if counts["train"] == 0:
        raise ValueError(f"no training example in {audio_dir} is louder than {data.silence_db} dB")
    metadata = {
        "format": "torchddsp-dataset-1",
        "sample_rate": model.sample_rate,
        "frame_rate": model.frame_rate,
        "example_frames": example_frames,
        "hop_frames": hop_frames,
        "data": asdict(data),
        "files": {p.file: p.split for p in parts},
        "examples": counts,
        "seconds": {s: round(sum(p.audio.shape[0] for p in parts if p.split == s) / model.sample_rate, 2)
                    for s in ("train", "eval")},
        "skipped": skipped,
        "silent_files": silent_files,
        "silent_examples_skipped": silent_examples,
        "statistics": _statistics(train),
    }
    (dataset_dir / "dataset.json").write_text(json.dumps(metadata, indent=1))
    return metadata


def load_statistics(dataset_dir: str | Path) -> dict:
    """``dataset.json`` of a prepared dataset (settings and statistics)."""
    path = Path(dataset_dir) / "dataset.json"
    if not path.is_file():
        raise ValueError(f"{dataset_dir} is not a prepared dataset (no dataset.json); run `torchddsp prepare` first")
    return json.loads(path.read_text())


class FeatureDataset(torch.utils.data.Dataset):
    """Examples of a prepared dataset split: dicts of ``audio`` ``(n_samples,)`` and ``f0_hz``,
    ``confidence``, ``loudness_db`` ``(n_frames,)``. Arrays are memory-mapped."""

    def __init__(self, dataset_dir: str | Path, split: str = "train"):
        self.metadata = load_statistics(dataset_dir)
        folder = Path(dataset_dir) / split
        if split not in ("train", "eval") or not folder.is_dir():
            raise ValueError(f"split must be 'train' or 'eval' of {dataset_dir}, found {split!r}")
        self.arrays = {key: np.load(folder / f"{key}.npy", mmap_mode="r")
                       for key in ("audio", "f0_hz", "confidence", "loudness_db")}
        self.starts = np.load(folder / "examples.npy")
        self.example_frames = int(self.metadata["example_frames"])
        self.hop_size = int(self.metadata["sample_rate"]) // int(self.metadata["frame_rate"])

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        start = int(self.starts[index])
        frames = slice(start, start + self.example_frames)
        samples = slice(start * self.hop_size, (start + self.example_frames) * self.hop_size)
        item = {key: torch.from_numpy(np.array(self.arrays[key][frames])) for key in ("f0_hz", "confidence", "loudness_db")}
        item["audio"] = torch.from_numpy(np.array(self.arrays["audio"][samples]))
        return item
