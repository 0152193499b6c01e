"""The training loop (``torchddsp train``): a few hundred lines with everything visible.

- Adam, the learning rate set every step from ``TrainConfig.learning_rate_at(step)`` (warm-up,
  exponential decay; the reverb's taps at ``reverb_learning_rate_scale`` times it), gradients
  clipped to ``grad_clip``;
- batches drawn by a generator seeded with ``(seed, step, rank)``: a resumed run sees the
  same examples and noise it would have seen without the interruption;
- every ``log_every`` steps a row in ``RUN_DIR/train.csv`` (step, loss, learning rate,
  gradient norm, seconds per step); every ``eval_every`` the metrics of
  :mod:`~torchddsp.training.metrics` on held-out examples (``eval.csv`` and ``eval.json``); every
  ``samples_every`` target/resynthesis audio and a spectrogram PNG in ``RUN_DIR/samples``;
  optional TensorBoard logs (``tensorboard=True``, needs the ``tensorboard`` package);
- checkpoints every ``checkpoint_every`` steps and at the end (atomic, see
  :mod:`~torchddsp.training.checkpoints`); ``resume=True`` continues from the newest one with
  its step and optimizer state, and drops log rows written after it;
- a new run starts only in an empty or new folder: one that holds a run is refused unless
  ``resume`` or ``overwrite`` (which deletes that run's files, and nothing else); a folder
  holding anything else is always refused. Every file is written under a temporary name and
  renamed, so a kill never leaves a truncated log, config or evaluation;
- data parallel over processes when started by ``torchrun`` (``WORLD_SIZE > 1``): gloo on CPU,
  nccl on GPU; every rank draws its own batch, gradients are averaged, rank 0 writes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
from torch import nn

from ..losses import MultiScaleSpectralLoss
from ..models.autoencoder import Autoencoder
from ..io import TEMPORARY_MARK, atomic_path, write_text_atomic
from .checkpoints import latest_checkpoint, load_checkpoint, read_state, save_checkpoint, stored_config
from .config import ExperimentConfig, load_config, save_config
from .data import FeatureDataset
from .metrics import METRIC_NAMES, evaluate_model
from .plots import have_matplotlib, save_spectrograms, save_training_curves
from ..progress import Progress
from ..validation import InputError

__all__ = ["train", "TRAIN_COLUMNS"]

TRAIN_COLUMNS = ("step", "loss", "learning_rate", "grad_norm", "seconds_per_step")

# What a run writes into its folder (and all that ``overwrite=True`` deletes).
RUN_FOLDERS = ("checkpoints", "samples", "tensorboard")
RUN_FILES = ("train.csv", "eval.csv", "eval.json", "config.yaml", "training_curves.png")


def _is_run_file(path: Path) -> bool:
    """True for the files and folders a training run (or ``evaluate`` on it) writes."""
    name = path.name
    return (name in RUN_FOLDERS or name in RUN_FILES or (name.startswith("evaluation_") and name.endswith(".json"))
            or (name.startswith(".") and TEMPORARY_MARK in name))


def _describe_step(run_dir: Path) -> str:
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return "no checkpoint yet"
    try:
        return f"step {int(read_state(checkpoint)['step'])}"
    except (ValueError, KeyError, TypeError):
        return checkpoint.name


def _check_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> list[Path]:
    """Refuse a new run where it would mix with (or delete) other files; return what
    ``overwrite`` is to delete. Reads only: called by every rank before anything is written."""
    if resume and overwrite:
        raise InputError("--resume continues the run in RUN_DIR, --overwrite deletes it: give one of them")
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"RUN_DIR {run_dir} is a file; expected a folder (new or empty, or a run to --resume)")
    if resume or not run_dir.exists():
        return []
    present = sorted(run_dir.iterdir())
    run_files = [p for p in present if _is_run_file(p)]
    others = [p.name for p in present if not _is_run_file(p)]
    if not run_files and others:
        listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise InputError(f"{run_dir} is not empty and holds no training run ({listed}); "
                         "give a new or empty folder as RUN_DIR (nothing in it is deleted, even with --overwrite)")
    if run_files and not overwrite:
        if latest_checkpoint(run_dir) is None:
            raise InputError(f"{run_dir} holds a training run that stopped before its first checkpoint, so it "
                             "cannot be resumed; use --overwrite to start again (or another RUN_DIR)")
        raise InputError(f"{run_dir} already holds a training run ({_describe_step(run_dir)}); "
                         "use --resume to continue it or --overwrite to start again")
    return run_files


def _check_apart(run_dir: Path, dataset_dir: Path) -> None:
    """A run inside its dataset's folder would be deleted by the next ``prepare`` there."""
    run, data = run_dir.resolve(), dataset_dir.resolve()
    if run == data or data in run.parents:
        raise InputError(f"RUN_DIR {run_dir} is inside DATASET_DIR {dataset_dir}: preparing the dataset again "
                         "would replace that folder; give a RUN_DIR outside it")


def _resumed_config(given: ExperimentConfig | str | Path, stored: dict[str, Any], checkpoint: Path,
                    steps: int | None) -> ExperimentConfig:
    """The config of a resumed run: the stored one. ``given`` must equal it except for
    ``train.steps`` (which may be raised to train further); anything else that differs is an
    error rather than silently ignored."""
    try:
        config = ExperimentConfig.from_dict(stored)
    except ValueError as error:
        raise InputError(f"{checkpoint / 'state.json'}: {error}") from None
    given = given if isinstance(given, ExperimentConfig) else load_config(given)
    mine, theirs = given.to_dict(), config.to_dict()
    different = sorted(f"{section}.{key}" for section in ("model", "data", "train") for key in theirs[section]
                       if key != "steps" and mine[section].get(key) != theirs[section][key])
    if different:
        raise InputError(f"--resume: CONFIG differs from the config the run was started with ({', '.join(different)}); "
                         "a run continues with its own settings: give the same config, or start a new run")
    if steps is None:
        config.train.steps = given.train.steps
    return config


# Inside the run's folders, the names a run writes; anything else there is the user's and stays.
_WRITTEN_INSIDE = {
    "checkpoints": re.compile(r"step_\d{8}|latest|history|\..*" + re.escape(TEMPORARY_MARK) + ".*"),
    "samples": re.compile(r"step_\d{8}(_target|_output)?\.(wav|png)|\..*" + re.escape(TEMPORARY_MARK) + ".*"),
    "tensorboard": re.compile(r"events\.out\.tfevents\..*"),
}


def _remove(paths: list[Path]) -> None:
    """Delete what a run wrote: files, and inside its folders only the names it writes."""
    for path in paths:
        if path.is_dir() and not path.is_symlink() and path.name in _WRITTEN_INSIDE:
            pattern = _WRITTEN_INSIDE[path.name]
            for item in path.iterdir():
                if pattern.fullmatch(item.name):
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
            if not any(path.iterdir()):
                path.rmdir()
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (optional extra)
    except ImportError:
        raise InputError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (nested in dicts and lists) replaced by None, so
    that ``json.dumps`` writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend)
    return rank, world, device


def _batch(dataset: FeatureDataset, indices: list[int], device: torch.device) -> dict[str, torch.Tensor]:
    items = [dataset[i] for i in indices]
    return {key: torch.stack([item[key] for item in items]).to(device) for key in items[0]}


def _truncate_csv(path: Path, step: int) -> None:
    """Keep only the rows up to ``step`` (rows logged after the checkpoint a run resumes from)."""
    if not path.is_file():
        return
    with path.open() as stream:
        rows = list(csv.reader(stream))
    if not rows:
        return
    # A row cut short by a kill has fewer fields than the header: dropped too.
    kept = [rows[0]] + [row for row in rows[1:]
                        if len(row) == len(rows[0]) and row[0].isdigit() and int(row[0]) <= step]
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    write_text_atomic(path, text.getvalue())


def _append_csv(path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in columns})
        stream.flush()


def train(
    config: ExperimentConfig | str | Path,
    dataset_dir: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    steps: int | None = None,
    show_progress: bool = True,
    tensorboard: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train an autoencoder on a prepared dataset; returns a summary (final step, loss, metrics;
    None where a value is not finite, so that it is valid JSON).

    Args:
        config: an :class:`ExperimentConfig`, a YAML path, or a shipped config name.
        dataset_dir: made by :func:`~torchddsp.training.data.prepare_dataset`.
        run_dir: where checkpoints, logs and samples go: a new or empty folder, or (with
            ``resume`` or ``overwrite``) one that holds a run.
        resume: continue from the newest checkpoint in ``run_dir`` with the config it was
            started with: ``config`` must equal it, except ``train.steps``, which may be raised.
        steps: train up to this step instead of ``config.train.steps``.
        tensorboard: also log to ``run_dir/tensorboard`` (needs the ``tensorboard`` package).
        overwrite: delete the run that ``run_dir`` holds (its checkpoints, logs, samples,
            config and evaluations; nothing else) and start a new one.

    Raises ValueError, before anything is written, for a folder that holds a run (without
    ``resume`` or ``overwrite``) or other files, ``steps`` below 1 or not beyond the resumed
    step, and ``tensorboard`` without its package.
    """
    rank, world, device = _distributed()
    run_dir = Path(run_dir)
    to_remove = _check_run_folder(run_dir, resume, overwrite)
    summary_writer = _summary_writer_class() if tensorboard else None
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise InputError(f"--resume: {run_dir} holds no checkpoint (a run that stopped before its first one "
                         "cannot be resumed: use --overwrite to start again)")
    _check_apart(run_dir, Path(dataset_dir))
    if checkpoint is not None:  # a resumed run keeps the config it started with
        state = read_state(checkpoint)
        config = _resumed_config(config, stored_config(checkpoint, state), checkpoint, steps)
        resumed_step = int(state["step"])
    elif not isinstance(config, ExperimentConfig):
        config = load_config(config)
    final_step = config.train.steps if steps is None else steps
    if isinstance(final_step, bool) or not isinstance(final_step, int) or final_step < 1:
        raise InputError(f"--steps must be a whole number of at least 1 (got {final_step!r})")
    if checkpoint is not None and final_step <= resumed_step:
        asked = f"--steps {final_step}" if steps is not None else f"its config's train.steps ({final_step})"
        raise InputError(f"{asked}: the run in {run_dir} is already at step {resumed_step}; "
                         f"give --steps above {resumed_step} to continue it")
    dataset = FeatureDataset(dataset_dir, "train")
    metadata = dataset.metadata
    eval_dataset = FeatureDataset(dataset_dir, "eval") if (Path(dataset_dir) / "eval").is_dir() else None
    if eval_dataset is not None and len(eval_dataset) == 0:
        eval_dataset = None
    # Seeded initial weights, without touching the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model = Autoencoder(config.model)
    if (metadata["sample_rate"], metadata["frame_rate"]) != (config.model.sample_rate, config.model.frame_rate):
        raise InputError(
            f"the dataset was prepared at {metadata['sample_rate']} Hz and {metadata['frame_rate']} frames/s, "
            f"the model expects {config.model.sample_rate} Hz and {config.model.frame_rate} frames/s"
        )
    reverb_parameters = list(model.reverb.parameters()) if model.reverb is not None else []
    reverb_ids = {id(p) for p in reverb_parameters}
    groups = [{"params": [p for p in model.parameters() if id(p) not in reverb_ids], "lr_scale": 1.0}]
    if reverb_parameters:
        groups.append({"params": reverb_parameters, "lr_scale": config.train.reverb_learning_rate_scale})
    optimizer = torch.optim.Adam(groups, lr=config.train.learning_rate)
    start_step = 0
    if checkpoint is not None:
        try:
            start_step = int(load_checkpoint(checkpoint, model, optimizer)["step"])
        except ValueError as error:
            if "parameter group" not in str(error):
                raise
            raise InputError(f"{checkpoint}: its optimizer state does not fit this model's {len(groups)} parameter "
                             f"group(s) (a checkpoint from before reverb_learning_rate_scale, or another "
                             f"architecture); start a new run") from None
        # Loading replaces each group's settings with the saved ones: the scales come from the config.
        for group, settings in zip(optimizer.param_groups, groups):
            group["lr_scale"] = settings["lr_scale"]
    model.to(device)
    for values in optimizer.state.values():  # optimizer state follows the model's device
        for key, value in values.items():
            if isinstance(value, torch.Tensor) and key != "step":
                values[key] = value.to(device)
    trained = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    loss_fn = getattr(MultiScaleSpectralLoss, config.train.loss)()
    extra = {"config": config.to_dict(), "statistics": metadata.get("statistics", {}),
             "dataset": {k: metadata[k] for k in ("sample_rate", "frame_rate", "example_frames", "seconds")}}

    writer = None
    if world > 1:  # every rank has checked the folder before rank 0 changes it
        torch.distributed.barrier()
    if rank == 0:
        _remove(to_remove)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "samples").mkdir(exist_ok=True)
        with atomic_path(run_dir / "config.yaml") as temporary:
            save_config(config, temporary)
        for name in ("train.csv", "eval.csv"):
            _truncate_csv(run_dir / name, start_step) if resume else (run_dir / name).unlink(missing_ok=True)
        if summary_writer is not None:
            writer = summary_writer(str(run_dir / "tensorboard"))

    def checkpoint_now(step: int) -> None:
        if rank == 0:
            save_checkpoint(run_dir, step, model, optimizer, extra, keep=config.train.keep_checkpoints)

    def evaluate(step: int) -> dict[str, float] | None:
        if rank != 0 or eval_dataset is None:
            return None
        metrics = evaluate_model(model, eval_dataset, config.train.eval_examples, f0_method=config.data.f0_method)
        _append_csv(run_dir / "eval.csv", ("step",) + METRIC_NAMES, {"step": step, **metrics})
        write_text_atomic(run_dir / "eval.json", json.dumps(_finite({"step": step, **metrics}), indent=1))
        if writer is not None:
            for key in METRIC_NAMES:
                writer.add_scalar(f"eval/{key}", metrics[key], step)
        return metrics

    def write_samples(step: int, batch: dict[str, torch.Tensor], output: torch.Tensor) -> None:
        if rank != 0:
            return
        sample_rate = config.model.sample_rate
        folder = run_dir / "samples"
        for kind, audio in (("target", batch["audio"][0]), ("output", output[0].clamp(-1, 1))):
            with atomic_path(folder / f"step_{step:08d}_{kind}.wav") as temporary:
                sf.write(str(temporary), audio.detach().cpu().numpy(), sample_rate)
        if have_matplotlib():
            with atomic_path(folder / f"step_{step:08d}.png") as temporary:
                save_spectrograms(temporary, [("target", batch["audio"][0].cpu()),
                                              ("resynthesis", output[0].detach().cpu())], sample_rate)

    model.train()
    loss_value = math.nan
    started = time.perf_counter()
    last_log = (started, start_step)
    with Progress(final_step, "train", enabled=show_progress and rank == 0, initial=start_step) as bar:
        for step in range(start_step, final_step):
            for group in optimizer.param_groups:
                group["lr"] = config.train.learning_rate_at(step) * group["lr_scale"]
            generator = torch.Generator().manual_seed(config.train.seed * 1_000_003 + step * 7919 + rank)
            indices = torch.randint(len(dataset), (config.train.batch_size,), generator=generator).tolist()
            batch = _batch(dataset, indices, device)
            noise = torch.Generator(device=device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            output = trained(batch["f0_hz"], batch["loudness_db"], batch["audio"], generator=noise)["audio"]
            loss = loss_fn(output, batch["audio"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip))
            optimizer.step()
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"the loss became {loss_value} at step {step}; lower the learning rate")
            done = step + 1
            bar.update(1, loss=loss_value)
            if rank == 0 and (done % config.train.log_every == 0 or done == final_step):
                now = time.perf_counter()
                seconds = (now - last_log[0]) / max(done - last_log[1], 1)
                last_log = (now, done)
                row = {"step": done, "loss": loss_value, "learning_rate": optimizer.param_groups[0]["lr"],
                       "grad_norm": grad_norm, "seconds_per_step": seconds}
                _append_csv(run_dir / "train.csv", TRAIN_COLUMNS, row)
                if writer is not None:
                    writer.add_scalar("train/loss", loss_value, done)
            if done % config.train.samples_every == 0:
                write_samples(done, batch, output)
            if done % config.train.eval_every == 0 or done == final_step:
                evaluate(done)
            if done % config.train.checkpoint_every == 0 or done == final_step:
                checkpoint_now(done)
    if rank == 0 and have_matplotlib() and (run_dir / "train.csv").is_file():
        with atomic_path(run_dir / "training_curves.png") as temporary:
            save_training_curves(temporary, run_dir / "train.csv", run_dir / "eval.csv")
    if writer is not None:
        writer.close()
    if world > 1:
        torch.distributed.barrier()
    summary = {"step": max(final_step, start_step), "loss": loss_value, "seconds": time.perf_counter() - started}
    if rank == 0 and (run_dir / "eval.json").is_file():
        summary["eval"] = json.loads((run_dir / "eval.json").read_text())
    return _finite(summary)
