"""Magenta DDSP TFRecord datasets (``ddsp_prepare_tfrecord``) converted into torchddsp's
prepared-dataset layout (:mod:`torchddsp.training.data`), which ``train`` and ``evaluate`` read
(``torchddsp convert-tfrecord``).

Magenta writes one ``tf.train.Example`` per example, float lists under the keys ``audio``
(``n_samples`` at ``sample_rate``, 16 kHz by default), ``audio_16k`` (the same at 16 kHz, for
CREPE), ``f0_hz``, ``f0_confidence`` and ``loudness_db`` (``n_frames`` at ``frame_rate``, 250 by
default); examples are 4 s every 1 s, cut from 20 s chunks, shuffled, train and eval in separate
files (``<prefix>-train-*`` and ``<prefix>-eval-*`` when an eval split was asked for).

Frames. torchddsp's frame ``i`` is centred on sample ``i * hop`` and a signal of ``n_samples``
has ``n_samples // hop`` frames (docs/design.md). Magenta computes the features on
``audio_16k`` in one of two ways (``ddsp.spectral_ops``):

- ``center=False`` (the default, ``'same'`` padding): ``n_samples / hop`` frames; frame ``j``
  *starts* at sample ``j * hop``: CREPE's 1024-sample window (at 16 kHz) is centred 512 samples
  (32 ms, 8 frames at 250 Hz) later, the 512-point loudness FFT 256 samples (16 ms, 4 frames)
  later. ``alignment="auto"`` realigns them exactly: f0 frame ``j`` and loudness frame
  ``j + 4`` become torchddsp frame ``j``, with the audio from sample ``8 * hop`` on, so each
  example loses its last 8 frames (32 ms) and no value is made up.
- ``center=True``: ``n_samples / hop + 1`` frames centred on ``j * hop``, torchddsp's own
  convention: the last frame (centred on the sample after the end) is dropped.

``alignment="stored"`` takes the frames as stored (only a centred set's extra frame dropped):
the features then lead the audio by 32 ms (f0) and 16 ms (loudness) as in Magenta's own
training, and as in datasets from ddsp versions before 2.0, whose framing differs again.

Example:
    >>> convert_tfrecord_dataset("no/such/train.tfrecord*", "out")
    Traceback (most recent call last):
    ...
    torchddsp.validation.InputError: no TFRecord file matches no/such/train.tfrecord*
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..configs import DataConfig
from ..io import atomic_folder
from ..io import write_text_atomic
from ..progress import Progress

# The prepared layout's writer and checks, shared with ``prepare`` so both write one format.
from ..training.data import _check_dataset_dir
from ..training.data import _Split
from ..training.data import _statistics
from ..validation import InputError
from .tfrecord import parse_example
from .tfrecord import read_records
from .tfrecord import tfrecord_files

__all__ = ["convert_tfrecord_dataset", "MAGENTA_KEYS", "ALIGNMENTS"]

#: Magenta's example keys and torchddsp's names for them (``audio_16k`` is only checked).
MAGENTA_KEYS = {"audio": "audio", "f0_hz": "f0_hz", "f0_confidence": "confidence", "loudness_db": "loudness_db"}
ALIGNMENTS = ("auto", "stored")
CREPE_SAMPLE_RATE = 16000  # Magenta analyses audio_16k
CREPE_WINDOW = 1024  # samples at 16 kHz (ddsp.spectral_ops.CREPE_FRAME_SIZE)
LOUDNESS_N_FFT = 512  # prepare_tfrecord's n_fft


@dataclass(frozen=True)
class Layout:
    """How one dataset's examples map onto torchddsp frames (the same for every example).

    ``shifts``: per Magenta key, the frames by which its frame ``j`` is centred after sample
    ``j * hop``; ``trim``: frames cut from the start of the audio (the largest shift).
    """

    n_samples: int
    n_frames: int
    hop_size: int
    padding: str  # "same" or "center": how Magenta framed it
    shifts: dict
    trim: int

    @property
    def example_frames(self) -> int:
        return self.n_samples // self.hop_size - self.trim

    def convert(self, example: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(audio ``(example_frames * hop,)``, features ``(example_frames,)`` by torchddsp name)."""
        frames = self.example_frames
        features = {
            MAGENTA_KEYS[key]: example[key][self.trim - shift : self.trim - shift + frames]
            for key, shift in self.shifts.items()
        }
        return example["audio"][self.trim * self.hop_size :], features


def _whole_frames(seconds_at_16k: float, frame_rate: int, alignment: str) -> int:
    """A Magenta window's centre offset in frames; an error when it is not whole."""
    frames = seconds_at_16k * frame_rate
    if abs(frames - round(frames)) > 1e-9:
        raise InputError(
            f"frame_rate {frame_rate}: Magenta's 'same' frames sit {frames:g} frames after torchddsp's, "
            f"not a whole number, so they cannot be realigned exactly (alignment={alignment!r}); "
            "pass alignment='stored' to take them as they are"
        )
    return round(frames)


def _layout(example: dict[str, np.ndarray], sample_rate: int, frame_rate: int, alignment: str, where: str) -> Layout:
    """The layout the first example implies, checked against the rates."""
    hop = sample_rate // frame_rate
    n_samples, n_frames = len(example["audio"]), len(example["f0_hz"])
    if n_samples % hop:
        raise InputError(
            f"{where}: audio of {n_samples} samples is not a whole number of hops ({hop} at "
            f"sample_rate {sample_rate}, frame_rate {frame_rate}); give the rates the dataset was made with"
        )
    if n_frames not in (n_samples // hop, n_samples // hop + 1):
        raise InputError(
            f"{where}: {n_frames} frames for {n_samples} samples do not fit frame_rate {frame_rate} at "
            f"sample_rate {sample_rate} (expected {n_samples // hop} or {n_samples // hop + 1}); "
            "give the rates the dataset was made with"
        )
    padding = "center" if n_frames == n_samples // hop + 1 else "same"
    shifts = dict.fromkeys(("f0_hz", "f0_confidence", "loudness_db"), 0)
    if padding == "same" and alignment == "auto":
        crepe = _whole_frames(CREPE_WINDOW / 2 / CREPE_SAMPLE_RATE, frame_rate, alignment)
        loudness = _whole_frames(LOUDNESS_N_FFT / 2 / CREPE_SAMPLE_RATE, frame_rate, alignment)
        shifts = {"f0_hz": crepe, "f0_confidence": crepe, "loudness_db": loudness}
    layout = Layout(n_samples, n_frames, hop, padding, shifts, max(shifts.values()))
    if layout.example_frames < 1:
        raise InputError(f"{where}: examples of {n_frames} frames are too short to realign")
    return layout


def _check_example(example: dict[str, np.ndarray], sample_rate: int, where: str) -> None:
    """Magenta's keys are there, float32, the features of one length, ``audio_16k`` in step."""
    missing = [key for key in MAGENTA_KEYS if key not in example]
    if missing:
        raise InputError(
            f"{where}: not a Magenta DDSP example: missing {', '.join(missing)} (found {', '.join(sorted(example))})"
        )
    for key in (*MAGENTA_KEYS, "audio_16k"):
        if key in example and example[key].dtype != np.float32:
            raise InputError(f"{where}: {key} is a {example[key].dtype} list, expected floats")
    if not len(example["f0_hz"]) == len(example["f0_confidence"]) == len(example["loudness_db"]):
        lengths = {key: len(example[key]) for key in ("f0_hz", "f0_confidence", "loudness_db")}
        raise InputError(f"{where}: the features differ in length {lengths}")
    if "audio_16k" in example and len(example["audio_16k"]) * sample_rate != len(example["audio"]) * CREPE_SAMPLE_RATE:
        raise InputError(
            f"{where}: audio has {len(example['audio'])} samples and audio_16k {len(example['audio_16k'])}: "
            f"sample_rate {sample_rate} does not fit; give the rate the dataset was made with"
        )


@dataclass
class _Counts:
    silent: int = 0


def _convert_split(
    files: list[Path],
    split: _Split,
    state: dict,
    sample_rate: int,
    frame_rate: int,
    alignment: str,
    compression: str | None,
    counts: _Counts,
    bar: Progress,
) -> None:
    """Append every example of ``files`` to ``split``; ``state["layout"]`` is set by the first
    example and every later one (of either split) must match it."""
    silence_db = DataConfig().silence_db
    for path in files:
        for index, record in enumerate(read_records(path, compression)):
            where = f"{path} record {index}"
            example = parse_example(record)
            _check_example(example, sample_rate, where)
            if "layout" not in state:
                state["layout"] = _layout(example, sample_rate, frame_rate, alignment, where)
            layout = state["layout"]
            found = (len(example["audio"]), len(example["f0_hz"]))
            if found != (layout.n_samples, layout.n_frames):
                raise InputError(
                    f"{where}: {found[0]} samples and {found[1]} frames, but earlier examples have "
                    f"{layout.n_samples} and {layout.n_frames}; every example must have one length"
                )
            audio, features = layout.convert(example)
            bar.update(1)
            if features["loudness_db"].max() <= silence_db:
                counts.silent += 1  # nothing to learn from silence (as prepare does)
                continue
            split.starts.append(split.frames)
            split.append(audio, features)


def convert_tfrecord_dataset(
    train_pattern: str | Path,
    dataset_dir: str | Path,
    eval_pattern: str | Path | None = None,
    sample_rate: int = 16000,
    frame_rate: int = 250,
    alignment: str = "auto",
    compression: str | None = "auto",
    show_progress: bool = True,
) -> dict:
    """Write a Magenta TFRecord dataset as a prepared dataset (``torchddsp convert-tfrecord``).

    Args:
        train_pattern: the training examples' TFRecord file, glob pattern (``data/train.tfrecord*``,
            Magenta's ``file_pattern``) or folder; a sharded set must be complete.
        dataset_dir: the prepared dataset to write (replaced whole when complete, as ``prepare``).
        eval_pattern: the same for the eval split (``...-eval-*``); None: no eval split.
        sample_rate: Hz of ``audio`` (Magenta's ``--sample_rate``, 16000 by default).
        frame_rate: frames per second of the features (Magenta's ``--frame_rate``, 250).
        alignment: ``"auto"`` (realign to centred frames, see the module docstring) or
            ``"stored"`` (frames as stored).
        compression: ``"auto"`` (GZIP for ``.gz`` names), ``"gzip"`` or None.

    Shape:
        each example becomes ``example_frames`` frames (Magenta's frames, less the 8 that
        realignment cuts from a ``'same'`` dataset at 250 frames/s) and ``example_frames * hop``
        samples, stored one after another; examples whose loudness never exceeds
        ``DataConfig.silence_db`` are left out (counted in ``silent_examples_skipped``).

    Returns:
        the ``dataset.json`` content (``source`` records the files and the alignment used).

    Raises:
        InputError: bad arguments, unreadable or corrupt files, examples that are not Magenta's
            or differ in length, rates that do not fit the examples.
    """
    if sample_rate <= 0 or frame_rate <= 0 or sample_rate % frame_rate:
        raise InputError(f"sample_rate ({sample_rate}) must be a positive multiple of frame_rate ({frame_rate})")
    if alignment not in ALIGNMENTS:
        raise InputError(f"alignment must be one of {ALIGNMENTS}, found {alignment!r}")
    dataset_dir = Path(dataset_dir)
    sources = {"train": tfrecord_files(train_pattern), "eval": []}
    if eval_pattern is not None:
        sources["eval"] = tfrecord_files(eval_pattern)
    for folder in {file.parent for files in sources.values() for file in files}:
        _check_dataset_dir(folder, dataset_dir)  # replacing dataset_dir must not delete the TFRecords
    with atomic_folder(dataset_dir) as folder:
        metadata = _convert_into(folder, sources, sample_rate, frame_rate, alignment, compression, show_progress)
        write_text_atomic(folder / "dataset.json", json.dumps(metadata, indent=1))
    return metadata


def _convert_into(
    folder: Path,
    sources: dict[str, list[Path]],
    sample_rate: int,
    frame_rate: int,
    alignment: str,
    compression: str | None,
    show_progress: bool,
) -> dict:
    """Both splits' arrays in ``folder``; returns the metadata."""
    hop = sample_rate // frame_rate
    splits = {name: _Split(folder / name, hop) for name in ("train", "eval")}
    state: dict = {}
    counts = _Counts()
    try:
        for name, files in sources.items():
            with Progress(None, f"convert {name} (examples)", enabled=show_progress) as bar:
                args = (sample_rate, frame_rate, alignment, compression, counts, bar)
                _convert_split(files, splits[name], state, *args)
        statistics = _statistics(splits["train"])
        frames = {name: split.frames for name, split in splits.items()}
        examples = {name: len(split.starts) for name, split in splits.items()}
        for split in splits.values():
            split.close()
    except BaseException:
        for split in splits.values():
            split.abandon()
        raise
    if "layout" not in state:
        raise InputError(f"{', '.join(str(f) for f in sources['train'])}: no records (empty TFRecord files)")
    if examples["train"] == 0:
        raise InputError(
            f"no training example in {sources['train'][0].parent} is louder than {DataConfig().silence_db} dB"
        )
    layout: Layout = state["layout"]
    return {
        "format": "torchddsp-dataset-1",
        "sample_rate": sample_rate,
        "frame_rate": frame_rate,
        "example_frames": layout.example_frames,
        "hop_frames": layout.example_frames,
        "source": {
            "kind": "magenta-tfrecord",
            "files": {name: [str(file) for file in files] for name, files in sources.items()},
            "padding": layout.padding,  # how Magenta framed the features
            "alignment": alignment,
            "frames_cut": layout.trim,  # from the start of every example (realignment)
            "magenta_example": {"samples": layout.n_samples, "frames": layout.n_frames},
        },
        "files": {},
        "eval_from_s": {},
        "examples": examples,
        "frames": frames,
        "seconds": {name: round(count * hop / sample_rate, 2) for name, count in frames.items()},
        "skipped": [],
        "silent_files": [],
        "silent_examples_skipped": counts.silent,
        "statistics": statistics,
    }
