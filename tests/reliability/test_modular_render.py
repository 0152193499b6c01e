"""``modular render`` under mistakes and accidents: a huge count corrected by a rerun, a kill
during the NPZ write, two renders into one folder, a count that cannot fit on the disk."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest

from torchddsp.modular import RenderContext
from torchddsp.modular import dataset as modular_dataset
from torchddsp.modular.dataset import render_dataset

CONTEXT = RenderContext(16000.0, 0.25, 400.0)


def render(out, count, **options):
    return render_dataset(
        "default", count, 1, out, shard_size=2, batch_size=2, context=CONTEXT, show_progress=False, **options
    )


def test_a_mistaken_huge_count_is_corrected_by_rerunning_with_the_right_one(tmp_path, monkeypatch):
    # The issue: --count 100000000 stopped after 5 shards left the folder refusing every
    # smaller count ("already holds 100000000 sounds"). Here: count 10 stopped in shard 2.
    out = tmp_path / "sounds"
    real = modular_dataset._render_shard

    def interrupted(voice, seed, out_dir, shard, *args):
        if shard == 2:
            (out_dir / "shard_00002").mkdir()
            (out_dir / "shard_00002" / "sound_00000004.flac").write_bytes(b"half")
            raise KeyboardInterrupt
        return real(voice, seed, out_dir, shard, *args)

    monkeypatch.setattr(modular_dataset, "_render_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render(out, 10)
    monkeypatch.setattr(modular_dataset, "_render_shard", real)
    assert render(out, 4) == {"rendered": 0, "kept": 4, "shards": 2, "count": 4}
    assert not (out / "shard_00002").exists()  # the partial shard past the new count is gone
    assert json.loads((out / "dataset.json").read_text())["count"] == 4
    # A count that would drop complete shards is still refused, naming what is kept.
    with pytest.raises(ValueError, match="count must be at least 4 \\(found 3\\)"):
        render(out, 3)


def test_a_kill_during_the_npz_write_leaves_no_temporary_behind(tmp_path):
    out = tmp_path / "sounds"
    # The render is killed (SIGKILL, no cleanup) while the first shard's NPZ is half written.
    script = f"""
import os, numpy as np
from torchddsp.modular import RenderContext
from torchddsp.modular.dataset import render_dataset
def dying_savez(stream, **arrays):
    stream.write(b"PK partial"); stream.flush(); os.kill(os.getpid(), 9)
np.savez = dying_savez
render_dataset("default", 2, 1, {str(out)!r}, shard_size=2, batch_size=2,
               context=RenderContext(16000.0, 0.25, 400.0), show_progress=False)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".shard")]
    assert leftovers, "the kill should have left the temporary NPZ (else this test tests nothing)"
    assert render(out, 2) == {"rendered": 2, "kept": 0, "shards": 1, "count": 2}
    assert [p.name for p in out.iterdir() if p.name.startswith(".shard")] == []
    with np.load(out / "shard_00000.npz") as stored:
        assert stored["indices"].tolist() == [0, 1]


def test_two_renders_into_one_folder_are_refused(tmp_path):
    out = tmp_path / "sounds"
    out.mkdir()
    with open(out / ".render.lock", "a") as lock:  # another process rendering there
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another render is writing"):
            render(out, 2)
    assert render(out, 2)["rendered"] == 2  # the lock is gone with its holder


def test_a_count_that_cannot_fit_on_the_disk_is_refused_before_any_work(tmp_path, monkeypatch):
    out = tmp_path / "sounds"
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(modular_dataset.shutil, "disk_usage", lambda path: usage(10**9, 0, 10**6))
    # 100 sounds of 4000 samples need >= 0.4 MB; 1000 need >= 4 MB, more than the 1 MB free.
    with pytest.raises(ValueError, match="1000 more sounds need at least 4.0 MB; .* 1.0 MB free: lower --count"):
        render(out, 1000)
    assert not list(out.glob("shard_*")) and not (out / "dataset.json").exists()
    assert render(out, 100)["rendered"] == 100


def test_the_cli_reports_the_lock_in_one_line(tmp_path, capsys):
    from torchddsp.cli import main  # noqa: PLC0415

    out = tmp_path / "sounds"
    out.mkdir()
    with open(out / ".render.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        code = main(
            [
                "modular",
                "render",
                "--count",
                "2",
                "--output",
                str(out),
                "--quiet",
                "--sample-rate",
                "16000",
                "--duration-s",
                "0.25",
                "--frame-rate",
                "400",
            ]
        )
    assert code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert os.listdir(out) == [".render.lock"]


def test_a_render_never_mixes_into_a_folder_it_does_not_own(tmp_path, dataset_dir):
    # Was: --out FOLDER_OF_RECORDINGS wrote shards beside them (a later prepare trained on the
    # synth sounds); --out DATASET gave a misleading "other settings" and left a lock there.
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "take1.wav").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="not empty and holds no modular render \\(take1.wav\\)"):
        render(recordings, 2)
    assert sorted(p.name for p in recordings.iterdir()) == ["take1.wav"]
    with pytest.raises(ValueError, match="not a modular render \\(a prepared training dataset\\?\\)"):
        render(dataset_dir, 2)
    assert not (dataset_dir / ".render.lock").exists()


def test_sound_files_appear_only_with_their_whole_shard(tmp_path, monkeypatch):
    # Catches: FLAC files written straight into shard_00001/ (a kill leaves a half shard that
    # looks like data until its NPZ is checked).
    out = tmp_path / "sounds"
    written = []
    real_write = modular_dataset.sf.write

    def dies_in_shard_1(path, *args, **kwargs):
        written.append(path)
        if len(written) == 3:  # the first sound of the second shard
            raise KeyboardInterrupt
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(modular_dataset.sf, "write", dies_in_shard_1)
    with pytest.raises(KeyboardInterrupt):
        render(out, 4)
    assert sorted(p.name for p in out.glob("shard_*")) == ["shard_00000", "shard_00000.npz"]
    monkeypatch.setattr(modular_dataset.sf, "write", real_write)
    assert render(out, 4) == {"rendered": 2, "kept": 2, "shards": 2, "count": 4}
    assert [p.name for p in out.iterdir() if p.name.startswith(".shard")] == []
