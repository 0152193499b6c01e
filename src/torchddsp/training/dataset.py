"""The training dataset: :class:`FeatureDataset` reads a split that
:func:`~torchddsp.training.data.prepare_dataset` wrote (layout in :mod:`torchddsp.training.data`),
memory-mapped, checking every array against the others and ``dataset.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..features.recording import FEATURES
from ..validation import InputError

__all__ = ["FeatureDataset", "load_statistics", "ARRAYS"]

#: The arrays of a split, each ``<name>.npy``: audio per sample, the features per frame.
ARRAYS = ("audio",) + FEATURES


def load_statistics(dataset_dir: str | Path) -> dict:
    """``dataset.json`` of a prepared dataset (settings and statistics)."""
    path = Path(dataset_dir) / "dataset.json"
    if not path.is_file():
        raise InputError(f"{dataset_dir} is not a prepared dataset (no dataset.json); run `torchddsp prepare` first")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({error}); prepare the dataset again") from None


def _load_array(path: Path, dtype: type, mmap: bool) -> np.ndarray:
    """A 1-D ``.npy`` array of ``dtype``, or a ``ValueError`` naming the file (missing,
    truncated, corrupt, or of another type)."""
    if not path.is_file():
        raise InputError(f"{path} is missing; the dataset is incomplete: prepare it again")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{path} is not a readable .npy array ({error}); prepare the dataset again") from None
    if array.ndim != 1 or array.dtype != dtype:
        raise InputError(
            f"{path} holds a {array.dtype} array of shape {array.shape}, expected 1-D {np.dtype(dtype)}; "
            "prepare the dataset again"
        )
    return array


class FeatureDataset(torch.utils.data.Dataset):
    """Examples of a prepared dataset split: dicts of ``audio`` ``(n_samples,)`` and ``f0_hz``,
    ``confidence``, ``loudness_db`` ``(n_frames,)``. Arrays are memory-mapped.

    Raises ``ValueError`` naming the file when an array is missing, unreadable, or does not
    match the others or ``dataset.json`` (lengths, example starts).
    """

    def __init__(self, dataset_dir: str | Path, split: str = "train"):
        self.metadata = load_statistics(dataset_dir)
        folder = Path(dataset_dir) / split
        if split not in ("train", "eval") or not folder.is_dir():
            raise InputError(f"split must be 'train' or 'eval' of {dataset_dir}, found {split!r}")
        self.arrays = {key: _load_array(folder / f"{key}.npy", np.float32, mmap=True) for key in ARRAYS}
        self.starts = _load_array(folder / "examples.npy", np.int64, mmap=False)
        self.example_frames = int(self.metadata["example_frames"])
        self.hop_size = int(self.metadata["sample_rate"]) // int(self.metadata["frame_rate"])
        self._check_lengths(folder, self.metadata.get("frames", {}).get(split))

    def _check_lengths(self, folder: Path, frames: int | None) -> None:
        """Every array the length ``dataset.json`` gives (when it does: older datasets don't)
        and the others imply; every example inside them."""
        frames = len(self.arrays["f0_hz"]) if frames is None else int(frames)
        expected = {key: frames for key in FEATURES} | {"audio": frames * self.hop_size}
        for key, length in expected.items():
            if len(self.arrays[key]) != length:
                raise InputError(
                    f"{folder / (key + '.npy')} holds {len(self.arrays[key])} values, expected {length} "
                    "(from dataset.json and the other arrays); prepare the dataset again"
                )
        if len(self.starts) and (self.starts.min() < 0 or self.starts.max() + self.example_frames > frames):
            raise InputError(
                f"{folder / 'examples.npy'} lists examples outside the {frames} frames of the split; "
                "prepare the dataset again"
            )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        start = int(self.starts[index])
        frames = slice(start, start + self.example_frames)
        samples = slice(start * self.hop_size, (start + self.example_frames) * self.hop_size)
        item = {key: torch.from_numpy(np.array(self.arrays[key][frames])) for key in FEATURES}
        item["audio"] = torch.from_numpy(np.array(self.arrays["audio"][samples]))
        return item
