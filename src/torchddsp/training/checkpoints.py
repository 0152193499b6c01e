"""Checkpoints: weights and optimizer state in safetensors, everything else in JSON, written
atomically. Loading never unpickles anything.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_00001234/`` holding ``model.safetensors``,
``optimizer.safetensors`` (optional) and ``state.json`` (step, config, dataset statistics,
optimizer hyper-parameters). It is written under a temporary name and renamed into place in
one step, and ``RUN_DIR/checkpoints/latest`` (a one-line file, itself replaced atomically)
names the newest: killing the process at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "read_state", "checkpoint_dir"]


def _safetensors():
    try:
        import safetensors.torch  # noqa: PLC0415
    except ImportError:
        raise ValueError("checkpoints need safetensors: pip install 'torchddsp[train]'") from None
    return safetensors.torch


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and the rest (for JSON)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` at it, keep the ``keep`` newest.

    ``extra`` (JSON-serialisable: config, dataset statistics, ...) goes into ``state.json``.
    """
    safetensors = _safetensors()
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    temporary = Path(tempfile.mkdtemp(dir=root, prefix=f".step_{step:08d}."))
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    safetensors.save_file(weights, str(temporary / "model.safetensors"))
    state: dict[str, Any] = {"step": step, **extra}
    if optimizer is not None:
        tensors, rest = _optimizer_tensors(optimizer)
        safetensors.save_file(tensors, str(temporary / "optimizer.safetensors"))
        state["optimizer"] = rest
    (temporary / "state.json").write_text(json.dumps(state, indent=1))
    for file in temporary.iterdir():
        with open(file, "rb") as stream:
            os.fsync(stream.fileno())
    if final.exists():  # the same step written again (e.g. after a resume): replace it
        shutil.rmtree(final)
    os.rename(temporary, final)
    _fsync_folder(root)
    _replace_text(root / "latest", final.name + "\n")
    finished = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in finished[: max(0, len(finished) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".step_*"):  # leftovers of an interrupted write
        if stale != temporary:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (or a checkpoint folder given directly), or None."""
    path = Path(run_dir)
    if (path / "model.safetensors").is_file() and (path / "state.json").is_file():
        return path
    root = checkpoint_dir(path)
    pointer = root / "latest"
    if pointer.is_file():
        named = root / pointer.read_text().strip()
        if (named / "state.json").is_file():
            return named
    complete = sorted(p for p in root.glob("step_*") if (p / "state.json").is_file())
    return complete[-1] if complete else None


def read_state(checkpoint: str | Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder."""
    path = Path(checkpoint) / "state.json"
    if not path.is_file():
        raise ValueError(f"{checkpoint} is not a checkpoint (no state.json)")
    return json.loads(path.read_text())


def load_checkpoint(
    checkpoint: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Load weights (and optimizer state) from a checkpoint folder; return its ``state.json``."""
    safetensors = _safetensors()
    checkpoint = Path(checkpoint)
    state = read_state(checkpoint)
    model.load_state_dict(safetensors.load_file(str(checkpoint / "model.safetensors")))
    if optimizer is not None:
        if "optimizer" not in state or not (checkpoint / "optimizer.safetensors").is_file():
            raise ValueError(f"{checkpoint} holds no optimizer state")
        tensors = safetensors.load_file(str(checkpoint / "optimizer.safetensors"))
        per_parameter: dict[int, dict[str, Any]] = {}
        for name, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
            index, key = name.split(".", 1)
            per_parameter.setdefault(int(index), {})[key] = value
        optimizer.load_state_dict({"state": per_parameter, "param_groups": state["optimizer"]["param_groups"]})
    return state
