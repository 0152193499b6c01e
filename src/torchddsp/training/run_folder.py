"""A training run's folder: what a run writes there, when a new run may start in it, and what
``overwrite`` deletes (only what a run wrote; a user's files stay).

- A new run starts only in an empty or new folder: one that holds a run is refused unless
  ``resume`` or ``overwrite``; a folder holding anything else is always refused.
- A run never lives inside its dataset's folder (the next ``prepare`` there replaces it).

These checks only read: every rank of a data-parallel run calls them before anything is written.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..io import TEMPORARY_MARK
from ..validation import InputError
from .checkpoints import latest_checkpoint
from .checkpoints import read_state

__all__ = ["RUN_FOLDERS", "RUN_FILES", "is_run_file", "check_run_folder", "check_apart", "remove_run_files"]

# What a run writes into its folder (and all that ``overwrite=True`` deletes).
RUN_FOLDERS = ("checkpoints", "samples", "tensorboard")
RUN_FILES = ("train.csv", "eval.csv", "eval.json", "config.yaml", "training_curves.png")


def is_run_file(path: Path) -> bool:
    """True for the files and folders a training run (or ``evaluate`` on it) writes."""
    name = path.name
    return (
        name in RUN_FOLDERS
        or name in RUN_FILES
        or (name.startswith("evaluation_") and name.endswith(".json"))
        or (name.startswith(".") and TEMPORARY_MARK in name)
    )


def describe_step(run_dir: Path) -> str:
    """ "step N" of the run's newest checkpoint (for messages)."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return "no checkpoint yet"
    try:
        return f"step {int(read_state(checkpoint)['step'])}"
    except (ValueError, KeyError, TypeError):
        return checkpoint.name


def check_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> list[Path]:
    """Refuse a new run where it would mix with (or delete) other files; return what
    ``overwrite`` is to delete. Reads only: called by every rank before anything is written."""
    if resume and overwrite:
        raise InputError("--resume continues the run in RUN_DIR, --overwrite deletes it: give one of them")
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"RUN_DIR {run_dir} is a file; expected a folder (new or empty, or a run to --resume)")
    if resume or not run_dir.exists():
        return []
    present = sorted(run_dir.iterdir())
    run_files = [p for p in present if is_run_file(p)]
    others = [p.name for p in present if not is_run_file(p)]
    if not run_files and others:
        listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise InputError(
            f"{run_dir} is not empty and holds no training run ({listed}); "
            "give a new or empty folder as RUN_DIR (nothing in it is deleted, even with --overwrite)"
        )
    if run_files and not overwrite:
        if latest_checkpoint(run_dir) is None:
            raise InputError(
                f"{run_dir} holds a training run that stopped before its first checkpoint, so it "
                "cannot be resumed; use --overwrite to start again (or another RUN_DIR)"
            )
        raise InputError(
            f"{run_dir} already holds a training run ({describe_step(run_dir)}); "
            "use --resume to continue it or --overwrite to start again"
        )
    return run_files


def check_apart(run_dir: Path, dataset_dir: Path) -> None:
    """A run inside its dataset's folder would be deleted by the next ``prepare`` there."""
    run, data = run_dir.resolve(), dataset_dir.resolve()
    if run == data or data in run.parents:
        raise InputError(
            f"RUN_DIR {run_dir} is inside DATASET_DIR {dataset_dir}: preparing the dataset again "
            "would replace that folder; give a RUN_DIR outside it"
        )


# Inside the run's folders, the names a run writes; anything else there is the user's and stays.
WRITTEN_INSIDE = {
    "checkpoints": re.compile(r"step_\d{8}|latest|history|\..*" + re.escape(TEMPORARY_MARK) + ".*"),
    "samples": re.compile(r"step_\d{8}(_target|_output)?\.(wav|png)|\..*" + re.escape(TEMPORARY_MARK) + ".*"),
    "tensorboard": re.compile(r"events\.out\.tfevents\..*"),
}


def remove_run_files(paths: list[Path]) -> None:
    """Delete what a run wrote: files, and inside its folders only the names it writes."""
    for path in paths:
        if path.is_dir() and not path.is_symlink() and path.name in WRITTEN_INSIDE:
            pattern = WRITTEN_INSIDE[path.name]
            for item in path.iterdir():
                if pattern.fullmatch(item.name):
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
            if not any(path.iterdir()):
                path.rmdir()
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
