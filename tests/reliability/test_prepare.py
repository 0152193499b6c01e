"""``prepare`` of long recordings: chunked, atomic, and honest about its input.

The reference is today's whole-file preparation written out here from its specification (read
the whole file, analyse it whole with ``estimate_f0`` and ``a_weighted_loudness``, hold out
the last ``eval_fraction`` in whole example hops, list the loud examples, take the quantiles of
the confidently pitched training frames), never the chunked code under test.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from training_support import DATA
from training_support import tiny_config

from torchddsp.features import a_weighted_loudness
from torchddsp.features import estimate_f0
from torchddsp.functional import hz_to_midi
from torchddsp.functional import resample
from torchddsp.io import TEMPORARY_MARK
from torchddsp.io import TruncatedAudioWarning
from torchddsp.training import data as data_module
from torchddsp.training.data import CONFIDENCE_THRESHOLD
from torchddsp.training.data import QUANTILES
from torchddsp.training.data import FeatureDataset
from torchddsp.training.data import prepare_dataset

ROOT = Path(__file__).resolve().parents[2]
CHUNK_SECONDS = 1.2  # chunk edges inside the violin's notes (see test_long_recordings.py)


def _write_48k_stereo(path: Path, clips: list[str], gap_seconds: float = 0.3) -> None:
    """Clips of tests/data/pitch, with silences between, as a 48 kHz stereo float WAV."""
    pieces = []
    for name in clips:
        mono, _ = sf.read(DATA / f"{name}.flac", dtype="float32")
        pieces += [mono, np.zeros(round(gap_seconds * 16000), np.float32)]
    up = resample(torch.from_numpy(np.concatenate(pieces))[None].double(), 16000, 48000)[0].numpy()
    sf.write(path, np.stack([up, 0.5 * up], axis=1).astype(np.float32), 48000, subtype="FLOAT")


def _reference(audio_dir: Path, config) -> tuple[dict, dict]:
    """Whole-file preparation of every file of ``audio_dir`` (each split inside itself):
    (arrays per split, statistics)."""
    model, data = config.model, config.data
    hop = model.hop_size
    example_frames = round(data.example_s * model.frame_rate)
    hop_frames = round(data.example_hop_s * model.frame_rate)
    splits = {
        s: {k: [] for k in ("audio", "f0_hz", "confidence", "loudness_db", "examples")} for s in ("train", "eval")
    }
    offsets = {"train": 0, "eval": 0}
    for path in sorted(audio_dir.iterdir()):
        raw, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = resample(torch.from_numpy(raw.mean(axis=1))[None], rate, model.sample_rate)[0]
        n_frames = audio.shape[0] // hop
        f0, confidence = estimate_f0(
            audio[None], model.sample_rate, model.frame_rate, method=data.f0_method, n_frames=n_frames
        )
        loudness = a_weighted_loudness(audio[None], model.sample_rate, model.frame_rate, n_frames=n_frames)
        features = {"f0_hz": f0[0], "confidence": confidence[0], "loudness_db": loudness[0]}
        eval_frames = max(math.ceil(n_frames * data.eval_fraction / hop_frames) * hop_frames, example_frames)
        cut = n_frames - eval_frames
        for split, frames in (("train", slice(0, cut)), ("eval", slice(cut, n_frames))):
            part = {k: v[frames].numpy() for k, v in features.items()}
            splits[split]["audio"].append(audio[frames.start * hop : frames.stop * hop].numpy())
            for key, values in part.items():
                splits[split][key].append(values)
            for start in range(0, len(part["f0_hz"]) - example_frames + 1, hop_frames):
                if part["loudness_db"][start : start + example_frames].max() > data.silence_db:
                    splits[split]["examples"].append(np.array([offsets[split] + start]))
            offsets[split] += len(part["f0_hz"])
    arrays = {s: {k: np.concatenate(v) for k, v in values.items()} for s, values in splits.items()}
    train = arrays["train"]
    pitched = train["confidence"] >= CONFIDENCE_THRESHOLD
    midi = hz_to_midi(torch.from_numpy(train["f0_hz"][pitched]).double()).numpy()
    statistics = {
        "pitched_frames": int(pitched.sum()),
        "pitch_midi_quantiles": np.quantile(midi, QUANTILES).round(4).tolist(),
        "loudness_db_quantiles": np.quantile(train["loudness_db"][pitched].astype(np.float64), QUANTILES)
        .round(4)
        .tolist(),
    }
    return arrays, statistics


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if TEMPORARY_MARK in p.name]


@pytest.fixture
def long_audio(tmp_path) -> Path:
    """Two files: a 48 kHz stereo one of two melodies (chunked many times, edges inside notes)
    and the violin clip as it is."""
    folder = tmp_path / "audio"
    folder.mkdir()
    _write_48k_stereo(folder / "a_long.wav", ["violin", "violin"])
    (folder / "b_violin.flac").write_bytes((DATA / "violin.flac").read_bytes())
    return folder


def test_chunked_prepare_equals_whole_file_preparation(tmp_path, long_audio, monkeypatch):
    # Catches: statistics computed per chunk or per file, features cut at chunk edges, audio and
    # features out of step, the held-out end of a file cut at the wrong frame, examples counted
    # from the wrong offset, a split file labelled "eval" in dataset.json.
    monkeypatch.setattr(data_module, "CHUNK_SECONDS", CHUNK_SECONDS)
    monkeypatch.setattr(data_module, "_COPY_FRAMES", 777)  # the copy and statistics loops, several times
    config = tiny_config()
    metadata = prepare_dataset(long_audio, tmp_path / "ds", config.model, config.data, show_progress=False)
    arrays, statistics = _reference(long_audio, config)
    for split in ("train", "eval"):
        for key, expected in arrays[split].items():
            got = np.load(tmp_path / "ds" / split / f"{key}.npy")
            assert got.shape == expected.shape, (split, key)
            if key == "f0_hz":
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0, err_msg=f"{split}/{key}")
            else:
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=f"{split}/{key}")
        assert metadata["examples"][split] == len(arrays[split]["examples"])
        assert metadata["frames"][split] == len(arrays[split]["f0_hz"])
    for key, expected in statistics.items():
        np.testing.assert_allclose(metadata["statistics"][key], expected, rtol=0, atol=1e-3, err_msg=key)
    assert metadata["files"] == {"a_long.wav": "train+eval", "b_violin.flac": "train+eval"}
    hop = config.model.hop_size
    train_frames = {name: t * config.model.frame_rate for name, t in metadata["eval_from_s"].items()}
    assert sum(train_frames.values()) == pytest.approx(len(arrays["train"]["f0_hz"]))
    assert len(arrays["train"]["audio"]) == hop * len(arrays["train"]["f0_hz"])
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text()) == metadata


@pytest.mark.parametrize("where", ["array", "examples", "dataset.json", "swap"])
def test_a_full_disk_leaves_the_previous_dataset_intact(tmp_path, long_audio, monkeypatch, where):
    # Catches: arrays written in place over the old dataset (a full disk used to leave new arrays
    # beside the old dataset.json and a truncated eval/audio.npy), temporary folders left behind.
    config = tiny_config()
    dataset = tmp_path / "ds"
    prepare_dataset(DATA, dataset, config.model, config.data, show_progress=False)
    before = _snapshot(dataset)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    calls = {"n": 0}
    original_append = data_module._GrowingArray.append

    def append_then_full(self, values):
        calls["n"] += 1
        if calls["n"] > 9:  # part of the way through the first file
            full_disk()
        original_append(self, values)

    if where == "array":
        monkeypatch.setattr(data_module._GrowingArray, "append", append_then_full)
    elif where == "examples":
        monkeypatch.setattr(data_module.np, "save", full_disk)
    elif where == "dataset.json":
        monkeypatch.setattr(data_module, "write_text_atomic", full_disk)
    else:
        import torchddsp.io as io_module

        monkeypatch.setattr(io_module, "sync_to_disk", full_disk)  # the last step before the swap
    monkeypatch.setattr(data_module, "CHUNK_SECONDS", CHUNK_SECONDS)
    with pytest.raises(OSError, match="No space left"):
        prepare_dataset(long_audio, dataset, config.model, config.data, show_progress=False)
    monkeypatch.undo()
    assert _snapshot(dataset) == before
    assert _leftovers(tmp_path) == []
    assert (
        len(FeatureDataset(dataset, "train")) == json.loads((dataset / "dataset.json").read_text())["examples"]["train"]
    )


@pytest.mark.slow  # a CLI process (3 s alone; 15 s on a loaded 2-core machine)
def test_a_kill_during_prepare_leaves_the_previous_dataset_usable(tmp_path):
    # Catches: a dataset rewritten in place (a kill leaves a mix of old and new arrays).
    config = tiny_config()
    dataset = tmp_path / "ds"
    prepare_dataset(DATA, dataset, config.model, config.data, show_progress=False)
    before = _snapshot(dataset)
    audio = tmp_path / "audio"
    audio.mkdir()
    _write_48k_stereo(audio / "long.wav", ["violin", "flute", "cello"] * 6)  # about 2.5 minutes
    command = [sys.executable, "-m", "torchddsp", "prepare", str(audio), str(dataset), "--f0-method", "yin", "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            partial = [p for p in tmp_path.glob(f".ds{TEMPORARY_MARK}*/train/audio.npy") if p.stat().st_size > 10**6]
            if partial:
                break
            time.sleep(0.02)
        assert process.poll() is None, "prepare ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert _snapshot(dataset) == before
    assert len(FeatureDataset(dataset, "eval")) > 0


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "shorter than dataset.json"])
def test_a_damaged_array_is_an_error_naming_the_file(dataset_dir, tmp_path, damage):
    # Catches: np.load's bare FileNotFoundError / "mmap length is greater than file size" with no
    # hint, or a split whose arrays no longer match dataset.json silently training on garbage.
    copy = tmp_path / "ds"
    for path in dataset_dir.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(dataset_dir)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(dataset_dir)).write_bytes(path.read_bytes())
    target = copy / "train" / "f0_hz.npy"
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:-100])
    elif damage == "garbage":
        target.write_bytes(b"not an array at all")
    else:
        np.save(target, np.load(target)[:-1])
    with pytest.raises(ValueError, match=r"train/f0_hz\.npy"):
        FeatureDataset(copy, "train")
    assert len(FeatureDataset(copy, "eval")) > 0  # the other split is untouched


def test_a_truncated_wav_is_prepared_with_a_warning(tmp_path):
    # Catches: a file cut short (a broken copy) used without a word.
    audio = tmp_path / "audio"
    audio.mkdir()
    mono, _ = sf.read(DATA / "violin.flac", dtype="float32")
    sf.write(audio / "violin.wav", mono, 16000, subtype="PCM_16")
    data = (audio / "violin.wav").read_bytes()
    (audio / "violin.wav").write_bytes(data[: len(data) - 32000])  # one second of 16-bit mono gone
    config = tiny_config()
    with pytest.warns(TruncatedAudioWarning, match=r"violin\.wav is truncated.* 1\.000 s"):
        metadata = prepare_dataset(audio, tmp_path / "ds", config.model, config.data, show_progress=False)
    assert metadata["files"] == {"violin.wav": "train+eval"}


def test_a_folder_of_other_files_is_not_replaced(tmp_path, long_audio):
    # Catches: prepare swapping a whole folder in over one that is not a dataset (a typo'd
    # destination such as the home folder would be deleted), or over its own input.
    other = tmp_path / "documents"
    other.mkdir()
    (other / "letter.txt").write_text("keep me")
    config = tiny_config()
    with pytest.raises(ValueError, match="no dataset.json"):
        prepare_dataset(long_audio, other, config.model, config.data, show_progress=False)
    assert (other / "letter.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="holds the audio_dir"):
        prepare_dataset(long_audio, tmp_path, config.model, config.data, show_progress=False)
    with pytest.raises(ValueError, match="holds the audio_dir"):
        prepare_dataset(long_audio, long_audio, config.model, config.data, show_progress=False)


def test_a_file_that_fails_part_way_leaves_nothing_behind(tmp_path, monkeypatch):
    # Catches: the chunks of a file written before its damage was found (NaN 5 s in) left in
    # the arrays when it is skipped, shifting or polluting everything after it.
    monkeypatch.setattr(data_module, "CHUNK_SECONDS", CHUNK_SECONDS)
    config = tiny_config()
    clean, damaged = tmp_path / "clean", tmp_path / "damaged"
    for folder in (clean, damaged):
        folder.mkdir()
        (folder / "b_violin.flac").write_bytes((DATA / "violin.flac").read_bytes())
    _write_48k_stereo(damaged / "a_broken.wav", ["flute"])
    data, rate = sf.read(damaged / "a_broken.wav", dtype="float32")
    data[5 * rate :] = np.nan
    sf.write(damaged / "a_broken.wav", data, rate, subtype="FLOAT")
    expected = prepare_dataset(clean, tmp_path / "ds_clean", config.model, config.data, show_progress=False)
    got = prepare_dataset(damaged, tmp_path / "ds", config.model, config.data, skip_bad=True, show_progress=False)
    assert [entry["file"] for entry in got["skipped"]] == ["a_broken.wav"]
    assert "NaN" in got["skipped"][0]["reason"]
    assert got["files"] == expected["files"] and got["frames"] == expected["frames"]
    for path in sorted((tmp_path / "ds_clean").rglob("*.npy")):
        relative = path.relative_to(tmp_path / "ds_clean")
        assert (tmp_path / "ds" / relative).read_bytes() == path.read_bytes(), relative
