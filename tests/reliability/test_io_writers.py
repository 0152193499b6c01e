"""One place for files (issue 13 item 6): audio written by :mod:`torchddsp.io` atomically in
the format of its name, folders written whole with the usual permissions, figures drawn by one
module that needs matplotlib only when it draws, constants defined once."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from training_support import DATA
from training_support import tiny_config

from torchddsp.io import atomic_folder
from torchddsp.io import audio_format
from torchddsp.io import audio_writer
from torchddsp.io import write_audio
from torchddsp.training import prepare_dataset


def test_write_audio_takes_the_format_from_the_name(tmp_path):
    # Catches: every file written as WAV whatever its name, or samples scaled on the way.
    t = np.arange(1600) / 16000
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_audio(tmp_path / "a.flac", audio, 16000)
    info = sf.info(str(tmp_path / "a.flac"))
    assert (info.format, info.samplerate, info.frames, info.channels) == ("FLAC", 16000, 1600, 1)
    back, _ = sf.read(str(tmp_path / "a.flac"), dtype="float64")
    np.testing.assert_allclose(back, audio, rtol=0, atol=1.0 / 2**15)  # 16-bit steps


def test_a_failed_audio_write_leaves_the_old_file_and_no_temporary(tmp_path):
    # Catches: audio written in place (a full disk leaves a truncated file at the name).
    path = tmp_path / "out.wav"
    write_audio(path, np.zeros(100, np.float32), 16000)
    before = path.read_bytes()
    with pytest.raises(OSError, match="No space"):
        with audio_writer(path, 16000) as handle:
            handle.write(np.ones(50, np.float32) * 0.1)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_an_audio_name_soundfile_cannot_write_is_refused_naming_the_option(tmp_path):
    with pytest.raises(ValueError, match=r"--out .*take\.xyz: expected an audio file name"):
        audio_format(tmp_path / "take.xyz", "--out")
    assert audio_format(tmp_path / "take.ogg") == "OGG"


def test_folders_written_whole_get_the_usual_permissions(tmp_path):
    # Catches: atomic_folder's temporary folder (mkdtemp: 0700) renamed into place as it is, so
    # that a prepared dataset or a checkpoint is unreadable for the group and others.
    previous = os.umask(0o022)
    try:
        with atomic_folder(tmp_path / "made") as folder:
            (folder / "a.txt").write_text("a")
        config = tiny_config()
        prepare_dataset(DATA, tmp_path / "dataset", config.model, config.data, show_progress=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "dataset").stat().st_mode) == 0o755


def test_nothing_needs_matplotlib_until_it_draws(tmp_path):
    # Catches: matplotlib imported at module level by the figures' module, the trainer or
    # transfer: the plain install (no plot extra) could not train or transfer at all.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import torchddsp.plots, torchddsp.transfer, torchddsp.training.trainer, torchddsp.cli\n"
        "assert not torchddsp.plots.have_matplotlib()\n"
        "from torchddsp.transfer import check_transfer_outputs\n"
        f"wav, png, summary = check_transfer_outputs({str(tmp_path / 'out.wav')!r})\n"
        "assert png is None, png\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_constants_shared_by_several_modules_are_one_definition():
    # Catches: a second literal copy (0.85 in transfer, its own method list in the configs)
    # that a later change updates in one place only.
    from torchddsp.configs import DataConfig  # noqa: PLC0415
    from torchddsp.features import pitch  # noqa: PLC0415
    from torchddsp.features import recording  # noqa: PLC0415
    from torchddsp.training import data  # noqa: PLC0415
    from torchddsp.training import metrics  # noqa: PLC0415
    from torchddsp.transfer import adjust  # noqa: PLC0415
    from torchddsp.transfer import files  # noqa: PLC0415

    assert data.CONFIDENCE_THRESHOLD is pitch.CONFIDENCE_THRESHOLD
    assert metrics.CONFIDENCE_THRESHOLD is pitch.CONFIDENCE_THRESHOLD
    assert adjust.CONFIDENCE_THRESHOLD is pitch.CONFIDENCE_THRESHOLD
    assert data.CHUNK_SECONDS is recording.CHUNK_SECONDS
    assert files.transfer_file.__kwdefaults__["chunk_s"] is recording.CHUNK_SECONDS
    for method in pitch.F0_METHODS:
        DataConfig(f0_method=method).validate()
    with pytest.raises(ValueError, match="f0_method must be one of"):
        DataConfig(f0_method="pyin").validate()
