"""Run folders: a new run never mixes with (or silently replaces) an earlier one, ``overwrite``
deletes only what a run wrote, bad options fail before anything is written, files get the
usual permissions, and the logs a later command reads are never left truncated."""

import csv
import errno
import json
import math
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
import torch
from training_support import LEARNING_STEPS
from training_support import checkpoint_model
from training_support import learning_config
from training_support import tiny_config

from torchddsp.training import hooks as hooks_module
from torchddsp.training import latest_checkpoint
from torchddsp.training import train
from torchddsp.training import trainer as trainer_module
from torchddsp.training.checkpoints import checkpoint_history
from torchddsp.training.checkpoints import read_state


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``folder`` with its modification time and content (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def three_steps():
    return tiny_config(steps=3, eval_every=3, checkpoint_every=3, samples_every=3)


@pytest.fixture
def old_run(trained_run, tmp_path) -> Path:
    """A copy of the 60-step run (trained_run itself is read-only for the tests)."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run


def test_a_new_run_in_a_run_folder_is_refused_before_anything_is_written(old_run, dataset_dir):
    # The reproduction: a run, then a new 3-step run into the same folder.
    before = snapshot(old_run)
    with pytest.raises(
        ValueError,
        match=rf"{old_run} already holds a training run \(step {LEARNING_STEPS}\); "
        r"use --resume to continue it or --overwrite to start again",
    ):
        train(three_steps(), dataset_dir, old_run, show_progress=False)
    assert snapshot(old_run) == before


def test_overwrite_replaces_the_run_and_latest_loads_the_new_weights(old_run, dataset_dir, tmp_path):
    (old_run / "notes.txt").write_text("mine")  # a user's file in the run folder: kept
    config = three_steps()
    train(config, dataset_dir, old_run, show_progress=False, overwrite=True)
    train(config, dataset_dir, tmp_path / "fresh", show_progress=False)  # the same run in a new folder
    checkpoint = latest_checkpoint(old_run)
    assert checkpoint.name == "step_00000003" and read_state(checkpoint)["step"] == 3
    assert [p.name for p in checkpoint_history(old_run)] == ["step_00000003"]
    assert sorted(p.name for p in (old_run / "checkpoints").glob("step_*")) == ["step_00000003"]
    assert [int(r["step"]) for r in csv.DictReader((old_run / "train.csv").open())] == [1, 2, 3]
    assert json.loads((old_run / "eval.json").read_text())["step"] == 3
    assert sorted(p.name for p in (old_run / "samples").iterdir()) == sorted(
        p.name for p in (tmp_path / "fresh" / "samples").iterdir()
    )
    assert (old_run / "notes.txt").read_text() == "mine"
    new = checkpoint_model(checkpoint, config).state_dict()
    fresh = checkpoint_model(latest_checkpoint(tmp_path / "fresh"), config).state_dict()
    for name in new:
        torch.testing.assert_close(new[name], fresh[name], rtol=0, atol=0, msg=name)


def test_a_folder_that_holds_no_run_is_refused_even_with_overwrite(dataset_dir, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    (folder / "data").mkdir()
    before = snapshot(folder)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"mine is not empty and holds no training run \(data, thesis\.tex\)"):
            train(three_steps(), dataset_dir, folder, show_progress=False, overwrite=overwrite)
    assert snapshot(folder) == before


def test_resume_and_overwrite_together_and_a_file_as_run_folder_are_refused(dataset_dir, tmp_path):
    with pytest.raises(ValueError, match="give one of them"):
        train(three_steps(), dataset_dir, tmp_path / "run", resume=True, overwrite=True, show_progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        train(three_steps(), dataset_dir, tmp_path / "file", show_progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("steps", [0, -1])
def test_steps_below_one_are_refused_before_the_folder_is_made(dataset_dir, tmp_path, steps):
    with pytest.raises(ValueError, match=rf"--steps must be a whole number of at least 1 \(got {steps}\)"):
        train(three_steps(), dataset_dir, tmp_path / "run", steps=steps, show_progress=False)
    assert not (tmp_path / "run").exists()


def test_resuming_to_a_step_already_reached_is_refused_before_anything_is_written(old_run, dataset_dir):
    before = snapshot(old_run)
    with pytest.raises(
        ValueError,
        match=rf"--steps {LEARNING_STEPS}: the run in .* is already at step "
        rf"{LEARNING_STEPS}; give --steps above {LEARNING_STEPS}",
    ):
        train(learning_config(), dataset_dir, old_run, resume=True, steps=LEARNING_STEPS, show_progress=False)
    with pytest.raises(ValueError, match=rf"its config's train.steps \({LEARNING_STEPS}\): the run"):
        train(learning_config(), dataset_dir, old_run, resume=True, show_progress=False)
    assert snapshot(old_run) == before


def test_tensorboard_without_its_package_is_refused_before_anything_is_written(dataset_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ValueError, match=r"--tensorboard needs the tensorboard package: pip install tensorboard"):
        train(three_steps(), dataset_dir, tmp_path / "run", tensorboard=True, show_progress=False)
    assert not (tmp_path / "run").exists()


def test_metrics_that_are_not_numbers_leave_valid_json(dataset_dir, tmp_path, monkeypatch):
    # f0 metrics are undefined when nothing is pitched: NaN must not reach eval.json or the summary.
    def nothing_pitched(*args, **kwargs):
        return {name: math.nan if name.startswith("f0") else 1.0 for name in hooks_module.METRIC_NAMES}

    monkeypatch.setattr(hooks_module, "evaluate_model", nothing_pitched)
    summary = train(tiny_config(steps=1), dataset_dir, tmp_path / "run", show_progress=False)

    def refuse(constant):
        raise AssertionError(f"{constant} in JSON")

    written = json.loads((tmp_path / "run" / "eval.json").read_text(), parse_constant=refuse)
    assert written["f0_l1_semitones"] is None and written["loudness_l1_db"] == 1.0
    assert json.loads(json.dumps(summary), parse_constant=refuse)["eval"] == written
    assert summary["step"] == 1 and math.isfinite(summary["loss"])


def test_run_files_get_the_usual_permissions(dataset_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()  # an existing empty folder is a fine place for a new run
    previous = os.umask(0o022)
    try:
        train(tiny_config(steps=2), dataset_dir, run, show_progress=False)
    finally:
        os.umask(previous)
    modes = {str(p.relative_to(run)): stat.S_IMODE(p.stat().st_mode) for p in sorted(run.rglob("*"))}
    assert {
        "config.yaml",
        "checkpoints/latest",
        "checkpoints/step_00000002/model.safetensors",
        "eval.json",
        "samples/step_00000002_output.wav",
        "train.csv",
    } <= set(modes)
    expected = {name: 0o755 if (run / name).is_dir() else 0o644 for name in modes}
    assert modes == expected


class DiskFull(OSError):
    def __init__(self):
        super().__init__(errno.ENOSPC, "No space left on device")


def test_a_failed_log_rewrite_on_resume_leaves_the_log_whole(old_run, monkeypatch):
    # Dropping the rows after the checkpoint rewrites train.csv: a full disk (or a kill) half-way
    # must leave the old file, not a truncated one that the resumed run appends to.
    log = old_run / "train.csv"
    before = log.read_bytes()
    real_writer = csv.writer

    class FailingWriter:
        def __init__(self, stream, *args, **kwargs):
            self.writer = real_writer(stream, *args, **kwargs)

        def writerows(self, rows):
            rows = list(rows)
            self.writer.writerows(rows[:3])
            raise DiskFull()

    monkeypatch.setattr(trainer_module.csv, "writer", FailingWriter)
    with pytest.raises(DiskFull):
        trainer_module._truncate_csv(log, 30)
    assert log.read_bytes() == before


def test_a_log_row_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
    log = tmp_path / "train.csv"
    log.write_text("step,loss,learning_rate\n1,0.5,0.001\n2,0.4,0.001\n3,0.3")  # killed inside row 3
    trainer_module._truncate_csv(log, 5)
    assert log.read_text().splitlines() == ["step,loss,learning_rate", "1,0.5,0.001", "2,0.4,0.001"]


def test_a_failed_config_write_on_resume_leaves_the_config_whole(old_run, dataset_dir, monkeypatch):
    # config.yaml is what `evaluate` and `transfer` read back: a full disk while a resumed run
    # rewrites it must leave the old one.
    before = (old_run / "config.yaml").read_bytes()

    def half_then_full(config, path):
        Path(path).write_bytes(before[: len(before) // 2])
        raise DiskFull()

    monkeypatch.setattr(trainer_module, "save_config", half_then_full)
    with pytest.raises(DiskFull):
        train(learning_config(), dataset_dir, old_run, resume=True, steps=LEARNING_STEPS + 1, show_progress=False)
    assert (old_run / "config.yaml").read_bytes() == before
    assert not [p.name for p in old_run.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_resume_with_another_config_is_refused_and_more_steps_are_allowed(old_run, dataset_dir):
    # Was: a different CONFIG with --resume was silently ignored (the run's own config won).
    other = learning_config(learning_rate=0.01)
    with pytest.raises(ValueError, match=r"CONFIG differs .* \(train.learning_rate\)"):
        train(other, dataset_dir, old_run, resume=True, steps=LEARNING_STEPS + 1, show_progress=False)
    # Raising train.steps in the config is how a run is continued further.
    summary = train(learning_config(steps=LEARNING_STEPS + 2), dataset_dir, old_run, resume=True, show_progress=False)
    assert summary["step"] == LEARNING_STEPS + 2


def test_a_run_inside_its_dataset_folder_is_refused(dataset_dir, tmp_path):
    # prepare replaces DATASET_DIR whole: a run inside it would be deleted by the next prepare.
    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    with pytest.raises(ValueError, match="RUN_DIR .* is inside DATASET_DIR"):
        train(three_steps(), data, data / "run", show_progress=False)
    assert not (data / "run").exists()


def test_a_run_stopped_before_its_first_checkpoint_says_what_to_do(dataset_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.csv").write_text("step,loss\n1,0.5\n")  # killed at step 1 of checkpoint_every 3
    with pytest.raises(ValueError, match="stopped before its first checkpoint.*use --overwrite"):
        train(three_steps(), dataset_dir, run, show_progress=False)
    with pytest.raises(ValueError, match="--resume: .* holds no checkpoint .* use --overwrite"):
        train(three_steps(), dataset_dir, run, resume=True, show_progress=False)


def test_overwrite_keeps_the_users_files_inside_the_runs_folders(old_run, dataset_dir):
    # Was: samples/ (and checkpoints/) deleted whole, with a recording the user kept there.
    (old_run / "samples" / "my_take.wav").write_bytes(b"mine")
    (old_run / "checkpoints" / "notes.txt").write_text("mine")
    train(three_steps(), dataset_dir, old_run, overwrite=True, show_progress=False)
    assert (old_run / "samples" / "my_take.wav").read_bytes() == b"mine"
    assert (old_run / "checkpoints" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (old_run / "samples").glob("step_*")) == [
        "step_00000003.png",
        "step_00000003_output.wav",
        "step_00000003_target.wav",
    ]


def test_a_full_disk_during_a_checkpoint_names_it_and_gives_the_space_back(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    written = []

    def full(self, data):
        written.append(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space left on device while writing checkpoint step_00000007") as caught:
        from torchddsp.training.checkpoints import save_checkpoint  # noqa: PLC0415

        save_checkpoint(tmp_path, 7, model, None, {"config": {}})
    assert caught.value.filename == str(tmp_path / "checkpoints")
    assert written and not written[0].parent.exists()  # the partial folder is gone
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == []


def test_a_state_without_config_is_a_one_line_error(old_run):
    from torchddsp.transfer import load_model  # noqa: PLC0415

    state = latest_checkpoint(old_run) / "state.json"
    state.write_text(json.dumps({"step": 12, "files": 5}))
    with pytest.raises(ValueError, match=r"state.json records no config: not a checkpoint of a training run"):
        load_model(old_run)
