"""The torchddsp command line on tiny real data."""

import json

import pytest
import torch
from training_support import DATA
from training_support import LOSS_FALL
from training_support import tiny_config

from torchddsp.cli import main
from torchddsp.models import Autoencoder
from torchddsp.training import ExperimentConfig
from torchddsp.training import latest_checkpoint
from torchddsp.training import save_config
from torchddsp.training.checkpoints import read_state
from torchddsp.training.checkpoints import save_checkpoint


# YIN runs the whole chain in under 2 s; CREPE (the configs' default pitch tracker, run on 24 s
# of clips to prepare and on 8 s to transfer) takes 4-8 s.
@pytest.mark.parametrize("f0_method", ["yin", pytest.param("crepe", marks=pytest.mark.slow)])
def test_prepare_train_evaluate_transfer(f0_method, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    settings = tiny_config(steps=2, eval_every=2, checkpoint_every=2)
    settings.data.f0_method = f0_method
    save_config(settings, config)
    assert main(["prepare", str(DATA), str(tmp_path / "ds"), "--config", str(config), "--quiet"]) == 0
    assert "examples: train" in capsys.readouterr().out
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["data"]["f0_method"] == f0_method
    assert main(["train", str(config), str(tmp_path / "ds"), str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "ds")]) == 0
    table = capsys.readouterr().out
    assert "| loudness_l1_db |" in table and "| f0_l1_semitones |" in table
    assert "loudness_l1_db" in json.loads((tmp_path / "run" / "evaluation_eval.json").read_text())
    output = tmp_path / "out" / "flute.wav"
    assert (
        main(
            [
                "transfer",
                str(DATA / "flute.flac"),
                "--model",
                str(tmp_path / "run"),
                "-o",
                str(output),
                "--pitch-shift",
                "-12",
                "--dry",
                "--f0-method",
                f0_method,
            ]
        )
        == 0
    )
    assert output.is_file() and output.with_suffix(".png").is_file()


def test_evaluate_tells_a_trained_run_from_its_initial_weights(trained_run, dataset_dir, tmp_path, capsys):
    # The held-out spectral loss of the shared run (learning_config, 60 steps) is 1.65-1.92x
    # below that of its initial weights (seeds 0-4); equal when the run never learned or when
    # evaluate scores a model whose weights were never loaded.
    state = read_state(latest_checkpoint(trained_run))
    config = ExperimentConfig.from_dict(state["config"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)  # the trainer's initial weights
        initial = Autoencoder(config.model)
    save_checkpoint(tmp_path / "initial", 0, initial, None, {k: state[k] for k in ("config", "statistics")})
    losses = {}
    for name, model in (("trained", trained_run), ("initial", tmp_path / "initial")):
        output = tmp_path / f"{name}.json"
        assert main(["evaluate", str(model), str(dataset_dir), "--output", str(output)]) == 0
        losses[name] = json.loads(output.read_text())["spectral_loss"]
    assert "| spectral_loss |" in capsys.readouterr().out
    assert losses["initial"] > LOSS_FALL * losses["trained"], losses


def test_bad_input_gives_a_one_line_error(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "ds"), "--quiet"]) == 2
    assert "must be a folder" in capsys.readouterr().err
    assert main(["transfer", str(DATA / "flute.flac"), "--model", "nope", "-o", str(tmp_path / "x.wav")]) == 2
    assert "neither a bundled model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])  # argparse: missing arguments
    with pytest.raises(SystemExit):  # one room only: dry, or another model's
        main(
            [
                "transfer",
                str(DATA / "flute.flac"),
                "--model",
                "violin",
                "-o",
                "x.wav",
                "--dry",
                "--reverb-from",
                "flute",
            ]
        )
    assert "not allowed with argument" in capsys.readouterr().err


def test_reverb_from_a_model_without_reverb_is_an_error(tmp_path, capsys):
    config = tiny_config()
    config.model.reverb_s = 0.0
    save_checkpoint(tmp_path / "no_room", 1, Autoencoder(config.model), None, {"config": config.to_dict()})
    assert (
        main(
            [
                "transfer",
                str(DATA / "flute.flac"),
                "--model",
                "violin",
                "-o",
                str(tmp_path / "x.wav"),
                "--reverb-from",
                str(tmp_path / "no_room"),
            ]
        )
        == 2
    )
    assert "has no reverb" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
