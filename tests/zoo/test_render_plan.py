"""The zoo renderer's plan (scripts/render_zoo_data.py), without rendering: which files the
training run holds out, and that every performance fits its instrument."""

import itertools
from pathlib import Path

import pytest
from zoo_support import SCRIPTS
from zoo_support import load_script

from torchddsp.training import load_config
from torchddsp.training.data import _split

render = load_script("render_zoo_data")  # imports render_training_data; runs no fluidsynth
corpus = load_script("zoo_corpus")


def _plans(prefix, n):
    return [render.rtd.FilePlan(f"{prefix}{i}") for i in range(n)]


@pytest.mark.parametrize(("n_train", "n_eval"), [(16, 3), (31, 3), (16, 1), (9, 4)])
def test_eval_tune_files_are_exactly_the_files_prepare_holds_out(n_train, n_eval):
    # Catches eval-tune files at positions that torchddsp prepare trains on (the eval.csv
    # would then score tunes the model learned) and training files silently dropped.
    ordered = render.interleave(_plans("t", n_train), _plans("e", n_eval))
    files = [Path(f"f{i:03d}.wav") for i in range(len(ordered))]
    held_out = {
        f for f, split in _split(files, load_config(SCRIPTS / "zoo_train.yaml").data).items() if split == "eval"
    }
    ours = {f for f, (split, _) in zip(files, ordered) if split == "eval"}
    assert ours <= held_out  # every eval-tune file is held out by prepare
    assert sum(split == "train" for split, _ in ordered) == n_train  # no training file lost
    assert all(plan.name.startswith("e") == (split == "eval") for split, plan in ordered)
    # With enough training files, every eval file finds a held-out position.
    if n_train >= 9 * n_eval:
        assert len(ours) == n_eval


@pytest.mark.slow  # about 9 s on the loaded 2-core machine (360 performances)
def test_every_tune_fits_every_instrument_and_passes_repeat_only_after_all_tunes():
    # Catches a transposition that leaves notes outside an instrument's range (the soundfont
    # would play samples stretched far from their root) and passes that repeat a tune before
    # every tune was played once.
    tunes = corpus.load_corpus()
    by_name = {t.name: t for t in tunes}
    for inst in render.INSTRUMENTS.values():
        performances = list(itertools.islice(render.performances(tunes, inst, seed=0, target_s=1e9), len(tunes) + 1))
        first_pass = [p.melody.key for p in performances[: len(tunes)]]
        assert sorted(k.split("@")[0] for k in first_pass) == sorted(t.name for t in tunes)
        assert all(k.endswith("@0") for k in first_pass) and performances[-1].melody.key.endswith("@1")
        for perf in performances:
            midis = [n["midi"] for n in perf.notes]
            assert inst.low <= min(midis) and max(midis) <= inst.high, (inst.name, perf.melody.key)
            # Played whole: no cut at 24 s (the corpus is small; a cut loses half a tune).
            assert len(midis) == len(by_name[perf.melody.key.split("@")[0]].pitches)
