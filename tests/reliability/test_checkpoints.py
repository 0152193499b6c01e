"""Checkpoints that are never lost, never silently wrong, never unreadable with a traceback:
pruning by the order this run folder received them, checksums verified on load, damaged and
mismatched files named in one line, the usual file permissions, and kill -9 at every stage
of a write."""

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from torchddsp.training.checkpoints import checkpoint_history
from torchddsp.training.checkpoints import latest_checkpoint
from torchddsp.training.checkpoints import load_checkpoint
from torchddsp.training.checkpoints import read_state
from torchddsp.training.checkpoints import save_checkpoint
from torchddsp.transfer import PRETRAINED_DIR


def model_at(step: int, out_features: int = 4, bias: bool = True) -> nn.Linear:
    """A small model whose every weight equals ``step``: a loaded checkpoint says which it is."""
    model = nn.Linear(3, out_features, bias=bias)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float(step))
    return model


def save(run: Path, step: int, keep: int = 3) -> Path:
    return save_checkpoint(run, step, model_at(step), None, {"config": {}}, keep=keep)


def loaded_step(checkpoint: Path) -> float:
    model = model_at(-1)
    load_checkpoint(checkpoint, model)
    return float(model.weight.detach()[0, 0])


def kept(run: Path) -> list[str]:
    return [p.name for p in checkpoint_history(run)]


def test_a_new_run_at_lower_steps_keeps_its_checkpoints_and_latest_names_them(tmp_path):
    # The issue: a 40-step run, then 3 steps in the same folder. Pruning by name deleted each
    # new checkpoint as it was written and left `latest` naming a deleted folder.
    for step in (10, 20, 30, 40):
        save(tmp_path, step)
    assert kept(tmp_path) == ["step_00000020", "step_00000030", "step_00000040"]
    save(tmp_path, 3)
    assert kept(tmp_path) == ["step_00000030", "step_00000040", "step_00000003"]
    assert latest_checkpoint(tmp_path).name == "step_00000003" and loaded_step(latest_checkpoint(tmp_path)) == 3
    save(tmp_path, 6)
    assert kept(tmp_path) == ["step_00000040", "step_00000003", "step_00000006"]
    on_disk = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert on_disk == ["step_00000003", "step_00000006", "step_00000040"]
    assert loaded_step(latest_checkpoint(tmp_path)) == 6


def test_resume_of_a_run_without_history_prunes_the_old_folders_first(tmp_path):
    # Folders from before the history file count as older than any recorded one, in step
    # order: the checkpoint just written is never pruned.
    for step in (10, 20, 30):
        save(tmp_path, step)
    (tmp_path / "checkpoints" / "history").unlink()
    save(tmp_path, 40, keep=2)
    assert kept(tmp_path) == ["step_00000030", "step_00000040"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*")) == kept(tmp_path)
    save(tmp_path, 50, keep=2)  # and the run goes on in order
    assert kept(tmp_path) == ["step_00000040", "step_00000050"]


def test_a_checkpoint_killed_before_the_history_counts_as_the_oldest(tmp_path):
    # Killed after its rename, before the history and `latest` changed: the run resumes from
    # the previous checkpoint, so the orphan is not among the newest this run wrote.
    for step in (10, 20):
        save(tmp_path, step, keep=2)
    history = (tmp_path / "checkpoints" / "history").read_text()
    save(tmp_path, 30, keep=3)
    (tmp_path / "checkpoints" / "history").write_text(history)
    (tmp_path / "checkpoints" / "latest").write_text("step_00000020\n")
    assert latest_checkpoint(tmp_path).name == "step_00000020"
    save(tmp_path, 25, keep=2)  # the resumed run, checkpointing at another step
    assert kept(tmp_path) == ["step_00000020", "step_00000025"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*")) == kept(tmp_path)


def test_latest_falls_back_to_the_last_written_not_the_highest_named(tmp_path):
    for step in (40, 3):
        save(tmp_path, step)
    (tmp_path / "checkpoints" / "latest").write_text("step_00000099\n")  # names a deleted folder
    assert latest_checkpoint(tmp_path).name == "step_00000003"
    (tmp_path / "checkpoints" / "latest").unlink()
    assert latest_checkpoint(tmp_path).name == "step_00000003"


def test_keep_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="keep must be at least 1"):
        save(tmp_path, 1, keep=0)


def tensor_data_offset(path: Path) -> int:
    """Where the tensor bytes of a safetensors file start (8-byte header length + header)."""
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_flipped_bytes_in_the_weights_are_detected_and_the_file_named(tmp_path):
    checkpoint = save(tmp_path, 7)
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    start = tensor_data_offset(weights)
    for i in range(start, start + 8):  # one float's worth: safetensors itself cannot tell
        data[i] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors is damaged \(checksum mismatch\)") as error:
        loaded_step(checkpoint)
    assert str(weights) in str(error.value)


def strip_checksums(checkpoint: Path) -> None:
    """Make ``checkpoint`` look like one written before checksums were recorded."""
    state = read_state(checkpoint)
    del state["files"]
    (checkpoint / "state.json").write_text(json.dumps(state))


def test_a_checkpoint_without_checksums_still_loads(tmp_path):
    checkpoint = save(tmp_path, 5)
    strip_checksums(checkpoint)
    assert loaded_step(checkpoint) == 5


@pytest.mark.parametrize("damage", ["truncated", "bad header", "empty"])
@pytest.mark.parametrize("checksums", [True, False], ids=["with checksums", "old checkpoint"])
def test_unreadable_weights_are_a_one_line_error_naming_the_file(tmp_path, damage, checksums):
    checkpoint = save(tmp_path, 5)
    if not checksums:
        strip_checksums(checkpoint)
    weights = checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"truncated": data[:-9], "bad header": data[:8] + b"{garbage" + data[16:], "empty": b""}[damage]
    )
    expected = "checksum mismatch" if checksums else "not a readable safetensors file"
    with pytest.raises(ValueError, match=rf"model\.safetensors is damaged \({expected}") as error:
        loaded_step(checkpoint)
    assert str(weights) in str(error.value) and "\n" not in str(error.value)


def test_damaged_state_json_is_a_one_line_error_naming_it(tmp_path):
    checkpoint = save(tmp_path, 5)
    (checkpoint / "state.json").write_text('{"step": 5, "conf')
    with pytest.raises(ValueError, match=r"state\.json is damaged \(not valid JSON"):
        loaded_step(checkpoint)


def test_weights_of_another_architecture_name_the_file_and_the_difference(tmp_path):
    checkpoint = save(tmp_path, 5)
    with pytest.raises(
        ValueError,
        match=r"model\.safetensors does not fit this model.*weight is \(4, 3\), "
        r"the model expects \(5, 3\)",
    ):
        load_checkpoint(checkpoint, model_at(0, out_features=5))
    with pytest.raises(ValueError, match=r"model\.safetensors does not fit this model.*unexpected tensors \['bias'\]"):
        load_checkpoint(checkpoint, model_at(0, bias=False))
    save_checkpoint(tmp_path / "no_bias", 1, model_at(1, bias=False), None, {})
    with pytest.raises(ValueError, match=r"does not fit this model.*missing tensors \['bias'\]"):
        load_checkpoint(latest_checkpoint(tmp_path / "no_bias"), model_at(0))


def test_optimizer_moments_that_do_not_fit_their_parameters_are_refused(tmp_path):
    model = model_at(1)
    optimizer = torch.optim.Adam([model.weight, model.bias])
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    checkpoint = save_checkpoint(tmp_path, 1, model, optimizer, {})
    fresh = model_at(0)
    load_checkpoint(checkpoint, fresh, torch.optim.Adam([fresh.weight, fresh.bias]))  # the same order: fine
    swapped = model_at(0)
    with pytest.raises(
        ValueError,
        match=r"optimizer\.safetensors does not fit this model: its exp_avg(_sq)? is \(4, 3\), "
        r"the parameter is \(4,\)",
    ):
        load_checkpoint(checkpoint, swapped, torch.optim.Adam([swapped.bias, swapped.weight]))


@pytest.mark.parametrize("name", ["violin", "flute"])
def test_bundled_models_record_the_checksum_of_their_weights(name):
    folder = PRETRAINED_DIR / name
    recorded = read_state(folder)["files"]["model.safetensors"]
    data = (folder / "model.safetensors").read_bytes()
    assert recorded == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_checkpoints_get_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        model = model_at(1)
        optimizer = torch.optim.Adam(model.parameters())
        for step in (1, 2):
            save_checkpoint(tmp_path, step, model, optimizer, {}, keep=1)
    finally:
        os.umask(previous)
    paths = [tmp_path / "checkpoints", *sorted((tmp_path / "checkpoints").rglob("*"))]
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert set(modes) == {
        "checkpoints",
        "checkpoints/latest",
        "checkpoints/history",
        "checkpoints/step_00000002",
        *(f"checkpoints/step_00000002/{f}" for f in ("model.safetensors", "optimizer.safetensors", "state.json")),
    }
    expected = {name: 0o755 if (tmp_path / name).is_dir() else 0o644 for name in modes}
    assert modes == expected


# A child process saves step 10, then step 20 with SIGKILL at one stage of the write.
KILLED_WRITE = textwrap.dedent("""
    import os, shutil, signal, sys
    from pathlib import Path
    import torch
    from torch import nn
    from torchddsp.training import checkpoints

    run, stage = Path(sys.argv[1]), sys.argv[2]

    def model_at(step):
        model = nn.Linear(3, 4)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(step))
        return model

    for step in (5, 10):
        checkpoints.save_checkpoint(run, step, model_at(step), None, {}, keep=2)

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def die_on(call, original):
        calls = []
        def wrapper(*args, **kwargs):
            calls.append(1)
            if len(calls) == call:
                die()
            return original(*args, **kwargs)
        return wrapper

    if stage == "half-written weights":
        original = Path.write_bytes
        def write_half(self, data):
            original(self, data[: len(data) // 2])
            die()
        Path.write_bytes = write_half
    elif stage == "before the rename":
        os.rename = die_on(1, os.rename)  # the new checkpoint folder, complete, renamed into place
    elif stage == "before the history":
        checkpoints.write_text_atomic = die_on(1, checkpoints.write_text_atomic)
    elif stage == "before latest":
        checkpoints.write_text_atomic = die_on(2, checkpoints.write_text_atomic)
    elif stage == "while pruning":
        shutil.rmtree = die_on(1, shutil.rmtree)
    checkpoints.save_checkpoint(run, 20, model_at(20), None, {}, keep=2)
    print("not killed")
""")


@pytest.mark.slow  # a Python process with torch per stage: about 2 s each on 2 cores
@pytest.mark.parametrize(
    "stage, newest",
    [
        ("half-written weights", 10),
        ("before the rename", 10),
        ("before the history", 10),
        ("before latest", 10),
        ("while pruning", 20),
    ],
)
def test_kill_9_during_a_checkpoint_write_leaves_a_loadable_checkpoint(tmp_path, stage, newest):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(run), stage], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr[-2000:]
    checkpoint = latest_checkpoint(run)
    assert checkpoint.name == f"step_{newest:08d}" and loaded_step(checkpoint) == newest  # checksums verified
    # The run goes on: the next write cleans up, keeps the two most recent, and loads.
    save(run, 20, keep=2)
    assert kept(run) == ["step_00000010", "step_00000020"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["history", "latest", *kept(run)]
    assert loaded_step(latest_checkpoint(run)) == 20
