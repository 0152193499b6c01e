"""The torchddsp command line on tiny real data."""

import json

import pytest

from torchddsp.cli import main
from torchddsp.models import Autoencoder
from torchddsp.training.checkpoints import save_checkpoint
from torchddsp.training import save_config
from training_support import DATA, tiny_config


def test_prepare_train_evaluate_transfer(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    save_config(tiny_config(steps=2, eval_every=2, checkpoint_every=2), config)
    assert main(["prepare", str(DATA), str(tmp_path / "ds"), "--config", str(config), "--quiet"]) == 0
    assert "examples: train" in capsys.readouterr().out
    assert main(["train", str(config), str(tmp_path / "ds"), str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "ds")]) == 0
    table = capsys.readouterr().out
    assert "| loudness_l1_db |" in table and "| f0_l1_semitones |" in table
    assert "loudness_l1_db" in json.loads((tmp_path / "run" / "evaluation_eval.json").read_text())
    output = tmp_path / "out" / "flute.wav"
    assert main(["transfer", str(DATA / "flute.flac"), "--model", str(tmp_path / "run"), "-o", str(output),
                 "--pitch-shift", "-12", "--dry"]) == 0
    assert output.is_file() and output.with_suffix(".png").is_file()


def test_bad_input_gives_a_one_line_error(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "ds"), "--quiet"]) == 2
    assert "must be a folder" in capsys.readouterr().err
    assert main(["transfer", str(DATA / "flute.flac"), "--model", "nope", "-o", str(tmp_path / "x.wav")]) == 2
    assert "neither a bundled model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])  # argparse: missing arguments
    with pytest.raises(SystemExit):  # one room only: dry, or another model's
        main(["transfer", str(DATA / "flute.flac"), "--model", "violin", "-o", "x.wav", "--dry", "--reverb-from", "flute"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_reverb_from_a_model_without_reverb_is_an_error(tmp_path, capsys):
    config = tiny_config()
    config.model.reverb_seconds = 0.0
    save_checkpoint(tmp_path / "no_room", 1, Autoencoder(config.model), None, {"config": config.to_dict()})
    assert main(["transfer", str(DATA / "flute.flac"), "--model", "violin", "-o", str(tmp_path / "x.wav"),
                 "--reverb-from", str(tmp_path / "no_room")]) == 2
    assert "has no reverb" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
