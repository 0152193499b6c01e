import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_support import LEARNING_STEPS
from training_support import LOSS_FALL
from training_support import checkpoint_model
from training_support import learning_config
from training_support import loss_fall
from training_support import parameters_with_gradient
from training_support import tiny_config
from training_support import unmoved_parameters

from torchddsp.models import Autoencoder
from torchddsp.training import latest_checkpoint
from torchddsp.training import load_config
from torchddsp.training import train
from torchddsp.training.checkpoints import read_state
from torchddsp.training.checkpoints import save_checkpoint


@pytest.mark.parametrize("name", ["solo_instrument", "cpu_small"])
def test_every_shipped_config_trains_a_step(name, dataset_dir, tmp_path):
    config = load_config(name)
    # The shipped architecture and settings, with a small batch and short examples; the
    # evaluation at the end measures pitch like the dataset fixture (YIN, not CREPE: 5x faster).
    config.train.batch_size = 2
    config.data.f0_method = "yin"
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
    assert [int(r["step"]) for r in rows] == list(range(1, LEARNING_STEPS + 1))
    assert all(float(r["learning_rate"]) > 0 for r in rows)
    evaluation = json.loads((trained_run / "eval.json").read_text())
    assert evaluation["step"] == LEARNING_STEPS
    assert set(evaluation) >= {"loudness_l1_db", "f0_l1_semitones", "f0_outlier_ratio"}
    every = [LEARNING_STEPS // 2, LEARNING_STEPS]  # eval_every, samples_every and checkpoint_every: the half
    assert [int(r["step"]) for r in csv.DictReader((trained_run / "eval.csv").open())] == every
    for step in every:
        assert (trained_run / "samples" / f"step_{step:08d}_output.wav").is_file()
        assert (trained_run / "samples" / f"step_{step:08d}.png").is_file()
    assert (trained_run / "training_curves.png").is_file()
    checkpoint = latest_checkpoint(trained_run)
    assert checkpoint.name == f"step_{LEARNING_STEPS:08d}"
    assert {p.name for p in checkpoint.iterdir()} == {"model.safetensors", "optimizer.safetensors", "state.json"}


def assert_learned(run_dir, dataset_dir):
    """The run's training loss fell by LOSS_FALL, and every parameter that gets a gradient
    changed between its half-way checkpoint and its last (the optimizer stepped them)."""
    fall = loss_fall(run_dir)
    assert fall > LOSS_FALL, f"training loss fell only {fall:.3f}x in {LEARNING_STEPS} steps (expected > {LOSS_FALL})"
    config = learning_config()
    half = checkpoint_model(run_dir / "checkpoints" / f"step_{LEARNING_STEPS // 2:08d}", config)
    end = checkpoint_model(run_dir / "checkpoints" / f"step_{LEARNING_STEPS:08d}", config)
    with_gradient = parameters_with_gradient(end, dataset_dir, config.train.loss)
    assert len(with_gradient) > 10  # the decoder's layers, the harmonic and noise heads, the reverb
    assert unmoved_parameters(half, end, with_gradient) == []


def test_training_learns(trained_run, dataset_dir):
    # 60 steps on the 3 tiny clips: the loss falls 1.6-1.9x (seeds 0-4); a run whose optimizer
    # never steps (or steps with no gradient) stays within 2% of where it started.
    assert_learned(trained_run, dataset_dir)


@pytest.mark.slow  # over 2 s: make test runs it, make test-fast does not
def test_resume_continues_exactly(dataset_dir, trained_run, tmp_path):
    # The straight run is trained_run (learning_config). Equal weights prove something only if
    # the straight run learned after the resume point: a run that never steps equals any other.
    assert_learned(trained_run, dataset_dir)
    config, half = learning_config(), LEARNING_STEPS // 2
    train(config, dataset_dir, tmp_path / "resumed", steps=half, show_progress=False)
    summary = train(config, dataset_dir, tmp_path / "resumed", resume=True, show_progress=False)
    assert summary["step"] == LEARNING_STEPS
    straight = list(csv.DictReader((trained_run / "train.csv").open()))
    resumed = list(csv.DictReader((tmp_path / "resumed" / "train.csv").open()))
    assert [int(r["step"]) for r in resumed] == list(range(1, LEARNING_STEPS + 1))
    # The schedule goes on from the checkpoint's step (warm-up and decay change it every step).
    assert [r["learning_rate"] for r in resumed] == [r["learning_rate"] for r in straight]
    assert [float(r["loss"]) for r in resumed] == pytest.approx([float(r["loss"]) for r in straight], rel=1e-5)
    state = read_state(latest_checkpoint(tmp_path / "resumed"))
    assert state["step"] == LEARNING_STEPS
    # Both groups keep their rates: a reverb scale other than 1 (0.25) must survive the resume.
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == pytest.approx(
        [config.train.learning_rate_at(LEARNING_STEPS - 1) * scale for scale in (1.0, 0.25)]
    )
    straight_model = checkpoint_model(latest_checkpoint(trained_run), config)
    resumed_model = checkpoint_model(latest_checkpoint(tmp_path / "resumed"), config)
    for (name, a), (_, b) in zip(straight_model.state_dict().items(), resumed_model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_an_interrupted_checkpoint_never_replaces_the_last_good_one(tmp_path):
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
    command = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "torchddsp",
        "train",
        str(config_path),
        str(dataset_dir),
        str(tmp_path / "ddp"),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert latest_checkpoint(tmp_path / "ddp").name == "step_00000002"
    rows = list(csv.DictReader((tmp_path / "ddp" / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]  # written once, by rank 0
