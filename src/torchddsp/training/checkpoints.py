"""Checkpoints: weights and optimizer state in safetensors, everything else in JSON, written
atomically and checked on load. Loading never unpickles anything.

A checkpoint is a folder ``RUN_DIR/checkpoints/step_00001234/`` holding ``model.safetensors``,
``optimizer.safetensors`` (optional) and ``state.json`` (step, config, dataset statistics,
optimizer hyper-parameters, and the SHA-256 of each tensor file). It is written under a
temporary name and renamed into place in one step (:func:`torchddsp.io.atomic_folder`). Two small files, each replaced atomically,
say which checkpoints a run wrote: ``RUN_DIR/checkpoints/history`` (the kept checkpoints, one
name a line, oldest write first) and ``RUN_DIR/checkpoints/latest`` (the newest). Killing the
process at any moment leaves the previous checkpoint intact and named by ``latest``.

Old checkpoints are pruned by the order in which this run folder received them, never by
their names: a run that restarts at a lower step keeps its new checkpoints, and ``latest``
always names one that exists.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from ..io import atomic_folder
from ..io import write_text_atomic
from ..validation import InputError

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "read_state",
    "stored_config",
    "checkpoint_dir",
    "checkpoint_history",
    "OptimizerStateMismatch",
    "copy_weights",
]

# The files of a checkpoint whose content state.json records a checksum of.
_TENSOR_FILES = ("model.safetensors", "optimizer.safetensors")


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


def _digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def checkpoint_history(run_dir: str | Path) -> list[Path]:
    """The complete checkpoints of a run, oldest write first.

    Folders the history file does not name (written by a torchddsp without one, or whose
    write was interrupted before the history was updated) count as older than every named
    one, in step order among themselves.
    """
    root = checkpoint_dir(run_dir)
    complete = {p.name: p for p in root.glob("step_*") if (p / "state.json").is_file()}
    history = root / "history"
    named = history.read_text().split() if history.is_file() else []
    recorded = [name for name in dict.fromkeys(named) if name in complete]
    unrecorded = sorted(set(complete) - set(recorded))
    return [complete[name] for name in unrecorded + recorded]


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` at it, keep the ``keep`` most
    recently written (by this run folder's history, not by step number).

    ``extra`` (JSON-serialisable: config, dataset statistics, ...) goes into ``state.json``,
    with the SHA-256 and size of each tensor file under ``"files"``. Files and folders get the
    usual permissions (0644 and 0755 under a 022 umask).
    """
    if int(keep) < 1:
        raise InputError(f"keep must be at least 1 (got {keep}): the newest checkpoint is always kept")
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blobs = {"model.safetensors": safetensors.torch.save(weights)}
    state: dict[str, Any] = {"step": step, **extra}
    if optimizer is not None:
        tensors, rest = _optimizer_tensors(optimizer)
        blobs["optimizer.safetensors"] = safetensors.torch.save(tensors)
        state["optimizer"] = rest
    state["files"] = {name: _digest(data) for name, data in blobs.items()}
    try:  # the same step written again replaces its folder whole (atomic_folder)
        with atomic_folder(final) as temporary:
            for name, data in blobs.items():
                (temporary / name).write_bytes(data)
            (temporary / "state.json").write_text(json.dumps(state, indent=1))
    except OSError as error:  # a full disk: the space is given back; name the checkpoint
        raise OSError(
            error.errno, f"{error.strerror or error} while writing checkpoint {final.name}", str(root)
        ) from error
    # The history first: a kill before `latest` changes leaves the previous checkpoint named.
    order = [p.name for p in checkpoint_history(run_dir) if p.name != final.name] + [final.name]
    kept, pruned = order[-keep:], order[:-keep]
    write_text_atomic(root / "history", "".join(f"{name}\n" for name in kept))
    write_text_atomic(root / "latest", final.name + "\n")
    for name in pruned:
        shutil.rmtree(root / name, ignore_errors=True)
    for stale in root.glob(".step_*"):  # leftovers of an interrupted write
        shutil.rmtree(stale, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (or a checkpoint folder given directly), or None.

    The one ``latest`` names; if that is missing, the last one written (see
    :func:`checkpoint_history`).
    """
    path = Path(run_dir)
    if (path / "model.safetensors").is_file() and (path / "state.json").is_file():
        return path
    root = checkpoint_dir(path)
    pointer = root / "latest"
    if pointer.is_file():
        named = root / pointer.read_text().strip()
        if named.name.startswith("step_") and (named / "state.json").is_file():
            return named
    complete = checkpoint_history(path)
    return complete[-1] if complete else None


def read_state(checkpoint: str | Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder (ValueError if missing or not a JSON object)."""
    path = Path(checkpoint) / "state.json"
    if not path.is_file():
        raise InputError(f"{checkpoint} is not a checkpoint (no state.json)")
    try:
        state = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is damaged (not valid JSON: {error})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path} is damaged (expected a JSON object, found {type(state).__name__})")
    if not isinstance(state.get("step"), int):
        raise InputError(f"{path} is damaged or not torchddsp's (no whole-number step)")
    return state


def stored_config(checkpoint: str | Path, state: dict[str, Any]) -> dict[str, Any]:
    """The experiment config a training checkpoint's ``state.json`` records (ValueError naming
    the file when there is none: a checkpoint written without one cannot rebuild its model)."""
    config = state.get("config")
    if not isinstance(config, dict) or not config:
        raise InputError(f"{Path(checkpoint) / 'state.json'} records no config: not a checkpoint of a training run")
    return config


def _read_tensors(checkpoint: Path, name: str, state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of ``checkpoint/name``, after checking its recorded checksum (if any)."""
    path = checkpoint / name
    if not path.is_file():
        raise InputError(f"{checkpoint} has no {name}")
    data = path.read_bytes()
    files = state.get("files")
    recorded = files.get(name) if isinstance(files, dict) else None
    if isinstance(recorded, dict) and "sha256" in recorded:
        if hashlib.sha256(data).hexdigest() != recorded["sha256"]:
            raise InputError(f"{path} is damaged (checksum mismatch); use another checkpoint or train again")
    try:
        return safetensors.torch.load(data)
    except safetensors.SafetensorError as error:
        raise InputError(f"{path} is damaged (not a readable safetensors file: {error})") from None


def _check_fits(path: Path, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """ValueError naming ``path`` when its tensors' names or shapes differ from ``expected``."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [
        f"{key} is {tuple(tensors[key].shape)}, the model expects {tuple(expected[key].shape)}"
        for key in expected
        if key in tensors and tensors[key].shape != expected[key].shape
    ]
    problems = [
        f"{label} tensors {names[:5]}{' ...' if len(names) > 5 else ''}"
        for label, names in (("missing", missing), ("unexpected", unexpected))
        if names
    ] + shapes[:3]
    if problems:
        raise InputError(f"{path} does not fit this model (another architecture or config?): " + "; ".join(problems))


class OptimizerStateMismatch(InputError):
    """A checkpoint's optimizer state has other parameter groups than the optimizer it is
    loaded into (another architecture, or a run from before a group was added)."""


def _check_groups(checkpoint: Path, saved: list[dict[str, Any]], optimizer: torch.optim.Optimizer) -> None:
    """:class:`OptimizerStateMismatch` unless ``saved`` has the optimizer's groups and sizes."""
    theirs = [len(group["params"]) for group in saved]
    mine = [len(group["params"]) for group in optimizer.param_groups]
    if theirs != mine:
        raise OptimizerStateMismatch(
            f"{checkpoint / 'state.json'}: its optimizer state has parameter groups of "
            f"{theirs} parameters, the optimizer {mine}"
        )


def _load_optimizer(checkpoint: Path, state: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    if "optimizer" not in state or not (checkpoint / "optimizer.safetensors").is_file():
        raise InputError(f"{checkpoint} holds no optimizer state")
    _check_groups(checkpoint, state["optimizer"]["param_groups"], optimizer)
    tensors = _read_tensors(checkpoint, "optimizer.safetensors", state)
    per_parameter: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(state["optimizer"]["scalars"].items()):
        index, key = name.split(".", 1)
        per_parameter.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": per_parameter, "param_groups": state["optimizer"]["param_groups"]})
    # Moments of the wrong shape would only fail at the next step, far from the cause.
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != parameter.shape:
                    raise InputError(
                        f"{checkpoint / 'optimizer.safetensors'} does not fit this model: its {key} "
                        f"is {tuple(value.shape)}, the parameter is {tuple(parameter.shape)}"
                    )


def load_checkpoint(
    checkpoint: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Load weights (and optimizer state) from a checkpoint folder; return its ``state.json``.

    Each tensor file is checked against the SHA-256 that ``state.json`` records for it;
    a mismatch, a truncated or unreadable file, and tensors whose names or shapes do not fit
    ``model`` raise a ValueError naming the file; optimizer state of other parameter groups
    than ``optimizer``'s raises :class:`OptimizerStateMismatch` (a ValueError). Checkpoints written before checksums were
    recorded (no ``"files"`` in ``state.json``) still load, without the checksum check.
    """
    checkpoint = Path(checkpoint)
    state = read_state(checkpoint)
    weights = _read_tensors(checkpoint, "model.safetensors", state)
    _check_fits(checkpoint / "model.safetensors", weights, model.state_dict())
    model.load_state_dict(weights)
    if optimizer is not None:
        _load_optimizer(checkpoint, state, optimizer)
    return state


def _first_misfit(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str | None:
    """The first tensor (in the model's order, then the source's) whose name or shape differs."""
    for name, tensor in expected.items():
        if name not in tensors:
            return f"the model's {name} {tuple(tensor.shape)} is not in it"
        if tensors[name].shape != tensor.shape:
            return f"its {name} is {tuple(tensors[name].shape)}, the model's {tuple(tensor.shape)}"
    extra = [name for name in tensors if name not in expected]
    return f"its {extra[0]} {tuple(tensors[extra[0]].shape)} is not in the model" if extra else None


def copy_weights(checkpoint: str | Path, model: nn.Module) -> dict[str, Any]:
    """Copy a checkpoint's weights into ``model`` (fine-tuning: ``train --init-from``) and return
    its ``state.json``; nothing else (optimizer state, step) is read.

    All or nothing: every tensor of ``model`` must be in the checkpoint with the same shape and
    the checkpoint must hold no other (the same architecture), else a ValueError naming the
    first parameter that differs, before ``model`` is changed. Checksums are checked as by
    :func:`load_checkpoint`.
    """
    checkpoint = Path(checkpoint)
    state = read_state(checkpoint)
    weights = _read_tensors(checkpoint, "model.safetensors", state)
    misfit = _first_misfit(weights, model.state_dict())
    if misfit is not None:
        raise InputError(
            f"--init-from {checkpoint}: another architecture ({misfit}); fine-tuning needs a config "
            "whose model section builds the same layers as the source's"
        )
    model.load_state_dict(weights)
    return state
