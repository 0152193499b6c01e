import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training_support import tiny_config
from torchddsp.models import Autoencoder
from torchddsp.training import latest_checkpoint, load_checkpoint, load_config, train
from torchddsp.training.checkpoints import read_state, save_checkpoint


@pytest.mark.parametrize("name", ["solo_instrument", "cpu_small"])
def test_every_shipped_config_trains_a_step(name, dataset_dir, tmp_path):
    config = load_config(name)
    # The shipped architecture and settings, with a small batch and short examples.
    config.train.batch_size = 2
    summary = train(config, dataset_dir, tmp_path / "run", steps=1, show_progress=False)
    assert summary["step"] == 1 and torch.isfinite(torch.tensor(summary["loss"]))
    assert latest_checkpoint(tmp_path / "run") is not None


def test_reverb_taps_learn_at_their_scaled_rate(dataset_dir, tmp_path):
    config = tiny_config(reverb_learning_rate_scale=0.25, steps=1, eval_every=10)
    train(config, dataset_dir, tmp_path / "run", show_progress=False)
    groups = read_state(latest_checkpoint(tmp_path / "run"))["optimizer"]["param_groups"]
    model = Autoencoder(config.model)
    n_reverb = len(list(model.reverb.parameters()))
    assert [len(g["params"]) for g in groups] == [len(list(model.parameters())) - n_reverb, n_reverb]
    assert groups[1]["lr"] == pytest.approx(0.25 * groups[0]["lr"]) and groups[0]["lr"] > 0


def test_run_writes_logs_samples_metrics_and_checkpoints(trained_run):
    rows = list(csv.DictReader((trained_run / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(float(r["learning_rate"]) > 0 for r in rows)
    evaluation = json.loads((trained_run / "eval.json").read_text())
    assert evaluation["step"] == 4 and set(evaluation) >= {"loudness_l1_db", "f0_l1_semitones", "f0_outlier_ratio"}
    assert (trained_run / "samples" / "step_00000004_output.wav").is_file()
    assert (trained_run / "samples" / "step_00000004.png").is_file()
    assert (trained_run / "training_curves.png").is_file()
    checkpoint = latest_checkpoint(trained_run)
    assert checkpoint.name == "step_00000004"
    assert {p.name for p in checkpoint.iterdir()} == {"model.safetensors", "optimizer.safetensors", "state.json"}


def test_resume_continues_exactly(dataset_dir, tmp_path):
    # A reverb scale other than 1: resuming must keep the two groups' rates.
    config = tiny_config(steps=4, checkpoint_every=2, eval_every=100, reverb_learning_rate_scale=0.25)
    train(config, dataset_dir, tmp_path / "straight", show_progress=False)
    train(config, dataset_dir, tmp_path / "resumed", steps=2, show_progress=False)
    summary = train(config, dataset_dir, tmp_path / "resumed", resume=True, show_progress=False)
    assert summary["step"] == 4
    straight, resumed = Autoencoder(config.model), Autoencoder(config.model)
    load_checkpoint(latest_checkpoint(tmp_path / "straight"), straight)
    state = load_checkpoint(latest_checkpoint(tmp_path / "resumed"), resumed)
    assert state["step"] == 4
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "resumed" / "train.csv").open())]
    assert steps == [1, 2, 3, 4]


def test_an_interrupted_checkpoint_never_replaces_the_last_good_one(trained_run, tmp_path):
    model = Autoencoder(tiny_config().model)
    root = tmp_path / "run"
    save_checkpoint(root, 10, model, None, {"config": tiny_config().to_dict()})
    # A write killed half-way leaves a temporary folder and no pointer change.
    (root / "checkpoints" / ".step_00000020.dead").mkdir()
    (root / "checkpoints" / ".step_00000020.dead" / "model.safetensors").write_bytes(b"partial")
    assert latest_checkpoint(root).name == "step_00000010"
    save_checkpoint(root, 30, model, None, {"config": tiny_config().to_dict()})
    assert latest_checkpoint(root).name == "step_00000030"
    assert not (root / "checkpoints" / ".step_00000020.dead").exists()  # cleaned on the next write


def test_resume_without_checkpoint_is_an_error(dataset_dir, tmp_path):
    with pytest.raises(ValueError, match="holds no checkpoint"):
        train(tiny_config(), dataset_dir, tmp_path / "nothing", resume=True, show_progress=False)


def test_resuming_a_checkpoint_whose_optimizer_does_not_fit_is_a_clear_error(dataset_dir, tmp_path):
    config = tiny_config()
    model = Autoencoder(config.model)
    one_group = torch.optim.Adam(model.parameters())  # as written before the reverb had its own group
    save_checkpoint(tmp_path / "old", 2, model, one_group, {"config": config.to_dict()})
    with pytest.raises(ValueError, match="does not fit this model's 2 parameter group"):
        train(config, dataset_dir, tmp_path / "old", resume=True, show_progress=False)


@pytest.mark.slow
def test_data_parallel_training_with_two_processes(dataset_dir, tmp_path):
    config_path = tmp_path / "tiny.yaml"
    from torchddsp.training import save_config

    save_config(tiny_config(steps=2, eval_every=100, checkpoint_every=2), config_path)
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "torchddsp", "train", str(config_path),
               str(dataset_dir), str(tmp_path / "ddp"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert latest_checkpoint(tmp_path / "ddp").name == "step_00000002"
    rows = list(csv.DictReader((tmp_path / "ddp" / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]  # written once, by rank 0
