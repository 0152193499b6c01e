"""The zoo queue's bookkeeping (scripts/train_zoo.py): the steps-to-1-dB figure read from a
run's eval.csv, and resuming from the newest checkpoint."""

import json

from zoo_support import load_script

queue = load_script("train_zoo")


def test_steps_to_target_is_the_first_evaluation_at_or_below_it(tmp_path):
    # Catches the last crossing taken instead of the first (a curve that dips under 1 dB,
    # rises and comes back), a strict '<' that misses a row at exactly 1 dB, and rows read
    # in file order rather than by step.
    csv_path = tmp_path / "eval.csv"
    rows = [(300, 0.9), (100, 3.0), (200, 1.0), (400, 1.2), (500, 0.8)]
    csv_path.write_text("step,loudness_l1_db,f0_l1_semitones\n" + "".join(f"{s},{v},0.02\n" for s, v in rows))
    assert queue.steps_to_target(csv_path) == 200
    assert queue.steps_to_target(csv_path, target=0.5) is None
    assert queue.steps_to_target(csv_path, column="f0_l1_semitones", target=0.1) == 100


def test_newest_step_reads_the_checkpoints_and_none_for_a_new_run(tmp_path):
    # Catches a queue that restarts a run from scratch (or skips it) after a time-box stop.
    assert queue.newest_step(tmp_path / "run") is None
    for step in (100, 900, 300):
        folder = tmp_path / "run" / "checkpoints" / f"step_{step:08d}"
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"step": step}))
    assert queue.newest_step(tmp_path / "run") == 900
