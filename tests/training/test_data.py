import json

import numpy as np
import pytest
import soundfile as sf
import torch
from training_support import DATA
from training_support import tiny_config

from torchddsp.io import read_audio
from torchddsp.training import AudioFileError
from torchddsp.training import FeatureDataset
from torchddsp.training import prepare_dataset


def test_prepared_dataset_layout_and_statistics(dataset_dir):
    metadata = json.loads((dataset_dir / "dataset.json").read_text())
    assert metadata["examples"]["train"] > 0 and metadata["examples"]["eval"] > 0
    assert set(metadata["files"]) == {"violin.flac", "flute.flac", "cello.flac"}
    stats = metadata["statistics"]
    assert stats["pitched_frames"] > 1000
    # The clips span cello C3 to flute D6: the median pitch lies in between.
    assert 48 < stats["pitch_midi_quantiles"][50] < 86
    train = FeatureDataset(dataset_dir, "train")
    item = train[0]
    # tiny_config: half-second examples at 16 kHz, 250 frames/s.
    assert item["audio"].shape == (8000,) and item["f0_hz"].shape == (125,)
    assert item["loudness_db"].shape == item["confidence"].shape == (125,)
    for split in ("train", "eval"):
        audio = np.load(dataset_dir / split / "audio.npy")
        frames = np.load(dataset_dir / split / "f0_hz.npy")
        assert len(audio) == 64 * len(frames)  # features on the frame grid of the audio


def test_any_rate_and_channel_count_are_read_the_same(tmp_path):
    mono, rate = sf.read(DATA / "flute.flac", dtype="float32")
    t = torch.from_numpy(mono)
    stereo_44k = np.stack([mono, mono], axis=1)
    from torchddsp.functional import resample

    up = resample(t[None], 16000, 44100)[0].numpy()
    sf.write(tmp_path / "stereo.wav", np.stack([up, up], axis=1), 44100, subtype="FLOAT")
    again = read_audio(tmp_path / "stereo.wav", 16000)
    inner = slice(1000, len(mono) - 1000)
    # Equal up to the resampler's transition band (content within 5% of 8 kHz is removed).
    difference = again.numpy()[inner] - mono[inner]
    assert np.abs(difference).max() < 0.01 and np.sqrt(np.mean(difference**2)) < 1e-3
    assert stereo_44k.shape[1] == 2


def test_bad_files_are_errors_naming_them_or_skipped_and_listed(tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    for name in ("violin.flac", "flute.flac"):
        (audio_dir / name).write_bytes((DATA / name).read_bytes())
    (audio_dir / "broken.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    sf.write(audio_dir / "empty.wav", np.zeros((0, 1), dtype=np.float32), 16000)
    sf.write(audio_dir / "silence.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    config = tiny_config()
    with pytest.raises(AudioFileError, match="broken.wav"):
        prepare_dataset(audio_dir, tmp_path / "ds", config.model, config.data, show_progress=False)
    metadata = prepare_dataset(
        audio_dir, tmp_path / "ds", config.model, config.data, skip_bad=True, show_progress=False
    )
    skipped = {entry["file"] for entry in metadata["skipped"]}
    assert skipped == {"broken.wav", "empty.wav"}
    assert metadata["silent_files"] == ["silence.wav"]
    assert set(metadata["files"]) == {"violin.flac", "flute.flac"}


def test_only_silence_is_an_error(tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    sf.write(audio_dir / "silence.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    config = tiny_config()
    with pytest.raises(ValueError, match="no usable audio"):
        prepare_dataset(audio_dir, tmp_path / "ds", config.model, config.data, show_progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no audio files"):
        prepare_dataset(tmp_path / "empty", tmp_path / "ds", config.model, config.data, show_progress=False)
    with pytest.raises(ValueError, match="must be a folder"):
        prepare_dataset(tmp_path / "missing", tmp_path / "ds", config.model, config.data, show_progress=False)
