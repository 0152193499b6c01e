"""``torchrun --nproc_per_node 2 -m torchddsp prepare``: two ranks, each analysing every other
file, write the very dataset one process writes (the same bytes in every array and in
dataset.json), and a bad file on either rank stops both with the message one process gives."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torchrun_support import assert_same_files
from torchrun_support import failure
from torchrun_support import torchrun
from training_support import DATA
from training_support import tiny_config

from torchddsp.training import prepare_dataset
from torchddsp.training import save_config

# Pieces of the three melodies, of unequal lengths (so each file moves the later ones'
# offsets) and one at another rate (resampled): (clip, start s, stop s, file rate).
PIECES = [
    ("violin", 0.0, 2.9, 16000),
    ("violin", 2.9, 7.8, 16000),
    ("flute", 0.0, 1.7, 22050),
    ("flute", 1.7, 8.0, 16000),
    ("cello", 0.0, 3.3, 16000),
    ("cello", 3.3, 8.3, 16000),
]
BROKEN = b"RIFF....WAVEfmt this is not audio"


def write_pieces(folder, extra=()):
    """The pieces as 00_violin.wav ...; ``extra``: (name, bytes or samples) added as they are."""
    folder.mkdir()
    for i, (clip, start, stop, rate) in enumerate(PIECES):
        audio, clip_rate = sf.read(DATA / f"{clip}.flac", dtype="float32")
        piece = audio[int(start * clip_rate) : int(stop * clip_rate)]
        if rate != clip_rate:  # any other rate will do: the file is resampled back when read
            piece = np.interp(np.arange(0, len(piece), clip_rate / rate), np.arange(len(piece)), piece)
        sf.write(folder / f"{i:02d}_{clip}.wav", piece, rate)
    for name, content in extra:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            sf.write(folder / name, content, 16000)
    return folder


def prepare_both(tmp_path, audio_dir, config):
    """(two-rank dataset, one-process dataset) of ``audio_dir`` with --skip-bad."""
    save_config(config, tmp_path / "config.yaml")
    args = ["--config", str(tmp_path / "config.yaml"), "--skip-bad", "--quiet"]
    done = torchrun("-m", "torchddsp", "prepare", str(audio_dir), str(tmp_path / "two"), *args)
    assert done.returncode == 0, failure(done)
    assert done.stdout.count("wrote ") == 1, done.stdout  # rank 0 reports, once
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank computes
    try:
        prepare_dataset(audio_dir, tmp_path / "one", config.model, config.data, skip_bad=True, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    return tmp_path / "two", tmp_path / "one"


@pytest.mark.slow
def test_two_ranks_write_the_dataset_of_one_with_whole_files_held_out(tmp_path):
    # Nine files: whole files held out (every 4th), one silent, one too short, one unreadable,
    # on both ranks; every array and dataset.json must be the same bytes.
    config = tiny_config()
    config.data.min_files_for_file_split, config.data.eval_fraction = 4, 0.25
    extra = [("06_silent.wav", np.zeros(24000)), ("07_broken.wav", BROKEN), ("08_short.wav", np.full(4000, 0.1))]
    audio_dir = write_pieces(tmp_path / "audio", extra)
    two, one = prepare_both(tmp_path, audio_dir, config)
    assert_same_files(two, one)
    assert [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".")] == []  # no leftovers


@pytest.mark.slow
def test_two_ranks_write_the_dataset_of_one_with_each_file_split_inside(tmp_path):
    config = tiny_config()  # fewer files than min_files_for_file_split: each file's end is held out
    audio_dir = write_pieces(tmp_path / "audio", [("01_broken.wav", BROKEN)])
    two, one = prepare_both(tmp_path, audio_dir, config)
    assert_same_files(two, one)


@pytest.mark.slow
def test_a_bad_file_stops_both_ranks_with_the_first_bad_file_in_file_order(tmp_path):
    # Sorted, 01_broken is file 1 (rank 1's first), 01_later_broken file 2 (rank 0's second):
    # one process stops at 01_broken, and so must both ranks.
    broken = [("01_broken.wav", BROKEN), ("01_later_broken.wav", BROKEN)]
    audio_dir = write_pieces(tmp_path / "audio", broken)
    save_config(tiny_config(), tmp_path / "config.yaml")
    args = ["--config", str(tmp_path / "config.yaml"), "--quiet"]
    done = torchrun("-m", "torchddsp", "prepare", str(audio_dir), str(tmp_path / "two"), *args)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("torchddsp prepare: error:")]
    assert errors and all("01_broken.wav" in line for line in errors), failure(done)  # torchrun may stop one first
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["audio", "config.yaml"]  # nothing written
