"""``torchrun --nproc_per_node 2 -m torchddsp modular render``: two ranks, each rendering its
share of the shards, write the very files one process writes (fresh and resumed), and a
folder that another render holds stops both ranks with one message."""

from __future__ import annotations

import fcntl
import json
import shutil

import pytest
import torch
from torchrun_support import assert_same_files
from torchrun_support import failure
from torchrun_support import torchrun

from torchddsp.modular import RenderContext
from torchddsp.modular.dataset import render_dataset

ARGS = ["--sample-rate", "16000", "--duration-s", "0.25", "--frame-rate", "400", "--quiet"]
# 11 sounds in shards of 2: six shards, the last one short.
SETTINGS = ["--voice", "default", "--seed", "3", "--shard-size", "2", "--batch-size", "2"]


def render_two(out, count):
    done = torchrun(
        "-m", "torchddsp", "modular", "render", *SETTINGS, "--count", str(count), "--output", str(out), *ARGS
    )
    assert done.returncode == 0, failure(done)
    assert done.stdout.count('"rendered"') == 1, done.stdout  # rank 0 reports, once
    return json.loads(done.stdout)


def render_one(out, count):
    """One process, one thread (as each rank)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        context = RenderContext(16000.0, 0.25, 400.0)
        return render_dataset(
            "default", count, 3, out, shard_size=2, batch_size=2, context=context, show_progress=False
        )
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_two_ranks_render_the_files_of_one_process(tmp_path):
    summary = render_two(tmp_path / "two", 11)
    assert summary == render_one(tmp_path / "one", 11) == {"rendered": 11, "kept": 0, "shards": 6, "count": 11}
    assert_same_files(tmp_path / "two", tmp_path / "one")


@pytest.mark.slow
def test_two_ranks_resume_an_interrupted_render_like_one_process(tmp_path):
    # Sounds 0-4 rendered (shard 2 short: [4] of [4, 5]), then shard 1 lost its .npz (a kill
    # before its last write) and a temporary was left behind: the ranks keep shard 0 only,
    # render shards 1-5 between them, and leave what one process leaves.
    out = tmp_path / "two"
    render_one(out, 5)
    (out / "shard_00001.npz").unlink()
    (out / ".shard_00003.partial-xyz").mkdir()
    summary = render_two(out, 11)
    assert summary == {"rendered": 9, "kept": 2, "shards": 6, "count": 11}
    render_one(tmp_path / "one", 11)
    assert_same_files(out, tmp_path / "one")


@pytest.mark.slow
def test_a_folder_held_by_another_render_stops_both_ranks(tmp_path):
    out = tmp_path / "busy"
    render_one(out, 2)
    reference = tmp_path / "reference"
    shutil.copytree(out, reference)
    with open(out / ".render.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a render in progress holds it
        done = torchrun("-m", "torchddsp", "modular", "render", *SETTINGS, "--count", "11", "--output", str(out), *ARGS)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("torchddsp modular: error:")]
    assert errors and all("another render is writing" in line for line in errors), failure(done)
    assert_same_files(out, reference)  # nothing written
