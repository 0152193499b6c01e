"""The models shipped in the package: loadable by name, small, documented, and good.

These run the real bundled weights on real clips no model trained on (the pitch-test
melodies in ``tests/data/pitch``, rendered from the same soundfont as the training data but
from other tunes): resynthesis quality on the model's own instrument, and melody preservation
when a flute melody is played by the violin.
"""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.features import estimate_f0
from torchddsp.functional import hz_to_midi
from torchddsp.training.config import DataConfig
from torchddsp.training.data import FeatureDataset, prepare_dataset
from torchddsp.training.metrics import evaluate_model
from torchddsp.transfer import PRETRAINED_DIR, available_models, load_model, transfer
from training_support import DATA

BUNDLED = ("violin", "flute")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_loads_by_name_and_ships_its_records(name):
    assert name in available_models()
    folder = PRETRAINED_DIR / name
    assert sum(p.stat().st_size for p in folder.iterdir()) < 25e6
    for record in ("config.yaml", "train.csv", "eval.csv", "training_curves.png", "evaluation.json", "README.md"):
        assert (folder / record).is_file(), record
    evaluation = json.loads((folder / "evaluation.json").read_text())
    heldout = next(v for k, v in evaluation.items() if k.startswith("heldout:"))
    assert heldout["examples"] >= 50  # about two minutes of held-out melodies
    loaded = load_model(name)
    assert loaded.sample_rate == 16000 and loaded.statistics["pitched_frames"] > 0
    assert not loaded.model.training


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_resynthesises_a_melody_it_never_heard(name, tmp_path):
    # The held-out clip of the same instrument, prepared like training data (2 s examples).
    (tmp_path / "audio").mkdir()
    shutil.copy(DATA / f"{name}.flac", tmp_path / "audio" / f"{name}.flac")
    loaded = load_model(name)
    data = DataConfig(example_seconds=2.0, hop_seconds=2.0, eval_fraction=0.0)
    prepare_dataset(tmp_path / "audio", tmp_path / "ds", loaded.config.model, data, show_progress=False)
    metrics = evaluate_model(loaded.model, FeatureDataset(tmp_path / "ds", "train"))
    # The targets: loudness L1 <= 1 dB, f0 L1 <= 0.1 semitone, outliers < 1 % (measured with
    # the bundled weights: violin 0.45 dB / 0.023 / 0 %, flute 0.82 dB / 0.019 / 0 %).
    assert metrics["loudness_l1_db"] <= 1.0, metrics
    assert metrics["f0_l1_semitones"] <= 0.1, metrics
    assert metrics["f0_outlier_ratio"] < 0.01, metrics


def test_flute_melody_played_by_the_violin_keeps_the_melody():
    audio, rate = sf.read(DATA / "flute.flac", dtype="float32")
    result = transfer(torch.from_numpy(audio), rate, "violin")
    output_f0, _ = estimate_f0(result["audio"][None], result["sample_rate"], result["frame_rate"],
                               n_frames=result["model_f0_hz"].shape[0])
    # Voiced frames: confidently pitched input, and not the fade-outs between notes.
    voiced = (result["confidence"] >= 0.85) & (result["input_loudness_db"] > result["input_loudness_db"].max() - 30)
    cents = 100 * (hz_to_midi(output_f0[0]) - hz_to_midi(result["model_f0_hz"]))[voiced].abs()
    assert int(voiced.sum()) > 1000
    assert float(cents.median()) < 30.0, float(cents.median())  # measured: 1.4 cents
    assert float(np.mean(cents.numpy() < 50.0)) > 0.9
