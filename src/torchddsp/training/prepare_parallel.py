"""``torchddsp prepare`` under ``torchrun``: the same dataset as one process, built by N.

1. Rank 0 creates the temporary folder that will replace ``DATASET_DIR`` (the other ranks
   wait for it: :func:`torchddsp.distributed.share`).
2. Rank ``r`` analyses files ``r, r + N, r + 2N, ...`` (in sorted order, as one process
   would) into its own part ``part-r/{train,eval}/*.npy`` of that folder, writing no other
   file, and reports what each file added (its frame ranges, example starts, record).
3. When every rank is done (:func:`torchddsp.distributed.gather`), rank 0 copies the parts'
   frames file by file in file order into the final arrays, shifting example starts, merges
   the records in the same order, computes the statistics on the merged training split,
   deletes the parts and swaps the folder in; the others wait for its result.

A file's analysis depends on that file alone and a split's arrays are the concatenation of
its files' frames in file order, so the arrays are byte-identical to one process's and
``dataset.json`` equal. An error on any rank reaches every rank: the first bad file in file
order is reported, as one process would (with ``skip_bad`` it is listed instead).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..configs import AutoencoderConfig
from ..configs import DataConfig
from ..distributed import gather
from ..distributed import portable_error
from ..distributed import share
from ..distributed import torchrun_rank
from ..features.recording import FEATURES
from ..io import atomic_folder
from ..io import write_text_atomic
from ..progress import Progress
from .data import _COPY_FRAMES
from .data import _add_file
from .data import _conclude
from .data import _Plan
from .data import _Record
from .data import _Split
from .data import _split

__all__ = ["prepare_in_parallel"]

SPLITS = ("train", "eval")


@dataclass
class _FilePart:
    """What one file added to its rank's part."""

    index: int  # position in the sorted file list
    record: _Record  # its entries only
    frames: dict[str, tuple[int, int]]  # split -> (first, stop) frames in the part's arrays
    starts: dict[str, list[int]]  # split -> its examples' first frames in the part's arrays


@dataclass
class _RankPart:
    """A rank's files, up to its first failure (file index, error), if any."""

    files: list[_FilePart]
    failure: tuple[int, Exception] | None = None


@dataclass
class _Job:
    """The fixed inputs every rank shares."""

    audio_dir: Path
    files: list[Path]
    model: AutoencoderConfig
    data: DataConfig
    plan: _Plan
    skip_bad: bool
    assignment: dict[Path, str | None]  # file -> split (None: split inside the file)


def _analyse_file(index: int, splits: dict[str, _Split], job: _Job, show_progress: bool) -> _FilePart:
    path = job.files[index]
    name = str(path.relative_to(job.audio_dir))
    before = {key: (split.frames, len(split.starts)) for key, split in splits.items()}
    record = _Record()
    with Progress(None, f"prepare {index + 1}/{len(job.files)} {name} (s)", enabled=show_progress) as bar:
        _add_file(path, name, job.assignment[path], splits, record, job.model, job.data, job.plan, job.skip_bad, bar)
    return _FilePart(
        index,
        record,
        {key: (before[key][0], split.frames) for key, split in splits.items()},
        {key: split.starts[before[key][1] :] for key, split in splits.items()},
    )


def _analyse_part(folder: Path, rank: int, world: int, job: _Job, show_progress: bool) -> _RankPart:
    """Analyse this rank's files into ``folder``; stops at the first failing file and says which."""
    splits = {key: _Split(folder / key, job.plan.hop_size) for key in SPLITS}
    part = _RankPart([])
    try:
        for index in range(rank, len(job.files), world):
            try:
                part.files.append(_analyse_file(index, splits, job, show_progress))
            except Exception as error:  # reported by file order on every rank, as one process would
                part.failure = (index, error)
                break
    finally:
        for split in splits.values():
            split.close()
    return part


def _sendable(part: _RankPart) -> _RankPart:
    """``part`` with its error in a form that pickles."""
    return part if part.failure is None else _RankPart(part.files, (part.failure[0], portable_error(part.failure[1])))


def _first_failure(parts: list[_RankPart], own: _RankPart) -> None:
    """Raise the error of the first failing file in file order, the same on every rank (the
    original, with its traceback, on the rank that analysed the file)."""
    failures = [part.failure for part in parts if part.failure is not None]
    if not failures:
        return
    index, error = min(failures, key=lambda failure: failure[0])
    raise own.failure[1] if own.failure is not None and own.failure[0] == index else error


def _copy(source: Path, target: _Split, first: int, stop: int) -> None:
    """Append frames ``first .. stop - 1`` of the part in ``source`` to ``target``."""
    hop = target.hop_size
    arrays = {key: np.load(source / f"{key}.npy", mmap_mode="r") for key in ("audio", *FEATURES)}
    for start in range(first, stop, _COPY_FRAMES):
        end = min(start + _COPY_FRAMES, stop)
        target.append(arrays["audio"][start * hop : end * hop], {key: arrays[key][start:end] for key in FEATURES})


def _merge(folder: Path, parts: list[_RankPart], job: _Job) -> dict:
    """Rank 0: the parts, file by file in file order, into the final splits; the metadata."""
    splits = {key: _Split(folder / key, job.plan.hop_size) for key in SPLITS}
    record = _Record()
    ordered = sorted((file.index, rank, file) for rank, part in enumerate(parts) for file in part.files)
    try:
        for _, rank, file in ordered:
            for key, split in splits.items():
                first, stop = file.frames[key]
                shift = split.frames - first
                _copy(folder / f"part-{rank}" / key, split, first, stop)
                split.starts.extend(start + shift for start in file.starts[key])
            _add_record(record, file.record)
    except BaseException:
        for split in splits.values():
            split.abandon()
        raise
    metadata = _conclude(splits, record, job.audio_dir, job.model, job.data, job.plan)
    for rank in range(len(parts)):
        shutil.rmtree(folder / f"part-{rank}")
    return metadata


def _add_record(record: _Record, other: _Record) -> None:
    """Append a later file's entries (``record`` then holds what one process's would)."""
    record.files.update(other.files)
    record.eval_from_s.update(other.eval_from_s)
    for key, samples in other.samples.items():
        record.samples[key] += samples
    record.skipped.extend(other.skipped)
    record.silent_files.extend(other.silent_files)
    record.silent_examples += other.silent_examples


def prepare_in_parallel(
    audio_dir: Path,
    dataset_dir: Path,
    files: list[Path],
    model: AutoencoderConfig,
    data: DataConfig,
    plan: _Plan,
    skip_bad: bool,
    show_progress: bool,
) -> dict:
    """The dataset of :func:`~torchddsp.training.data.prepare_dataset` (checked arguments),
    built by every torchrun rank (module docstring); every rank returns its metadata."""
    rank, world = torchrun_rank()
    job = _Job(audio_dir, files, model, data, plan, skip_bad, _split(files, data))
    with contextlib.ExitStack() as rank_zero:
        folder = share(lambda: rank_zero.enter_context(atomic_folder(dataset_dir)))
        own: list[_RankPart] = []

        def analyse() -> _RankPart:
            own.append(_analyse_part(folder / f"part-{rank}", rank, world, job, show_progress and rank == 0))
            return _sendable(own[0])

        parts = gather(analyse)
        _first_failure(parts, own[0])

        def finish() -> dict:
            metadata = _merge(folder, parts, job)
            write_text_atomic(folder / "dataset.json", json.dumps(metadata, indent=1))
            rank_zero.close()  # the folder replaces dataset_dir before any rank returns
            return metadata

        return share(finish)
