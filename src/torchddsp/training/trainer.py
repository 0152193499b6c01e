"""The training loop (``torchddsp train``), in three parts with everything visible:

- :func:`build_run`: checks the run folder, the config (a resumed run keeps its own), the
  dataset, builds the model and the optimizer (restored on ``resume``) and prepares the folder;
- :func:`train_step`: one optimisation step, a pure function of the model, the optimizer and a
  batch that returns tensors and never waits for the device (no ``.item()``);
- interval hooks (:class:`~torchddsp.training.hooks.Hook`: log, samples, eval, checkpoint, in
  :mod:`~torchddsp.training.hooks`) that the short loop of
  :func:`run_loop` calls after the steps they are due at; only they bring values to the host
  (each reads the loss and stops the run if it is not finite). The steps run without the
  library's data checks (NaN, ranges: host syncs), on batches of a checked dataset.

What a run does:

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
  its step, optimizer state and config, and drops log rows written after it; ``init_from``
  starts a new run from another model's weights (fine-tuning: step 0, a fresh optimizer);
- the run folder is checked by :mod:`~torchddsp.training.run_folder` (a new run only in an
  empty or new folder, ``overwrite`` deletes only what a run wrote). Every file is written
  under a temporary name and renamed, so a kill never leaves a truncated config or evaluation;
- data parallel over processes when started by ``torchrun`` (``WORLD_SIZE > 1``): gloo on CPU,
  nccl on GPU; every rank draws its own batch, gradients are averaged, rank 0 writes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TypedDict

import torch
from torch import nn
from typing_extensions import Unpack

from ..configs import ExperimentConfig
from ..configs import TrainConfig
from ..configs import load_config
from ..configs import save_config
from ..io import atomic_path
from ..io import write_text_atomic
from ..models.autoencoder import Autoencoder
from ..progress import Progress
from ..validation import InputError
from ..validation import data_checks
from .checkpoints import OptimizerStateMismatch
from .checkpoints import copy_weights
from .checkpoints import latest_checkpoint
from .checkpoints import load_checkpoint
from .checkpoints import read_state
from .checkpoints import stored_config
from .data import FeatureDataset
from .hooks import TRAIN_COLUMNS
from .hooks import Hook
from .hooks import Run
from .hooks import StepOutput
from .hooks import default_hooks
from .hooks import json_safe
from .loss import build_loss
from .run_folder import check_apart
from .run_folder import check_run_folder
from .run_folder import remove_run_files

__all__ = [
    "train",
    "build_run",
    "train_step",
    "run_loop",
    "Run",
    "StepOutput",
    "Hook",
    "default_hooks",
    "set_learning_rate",
    "draw_batch",
    "TRAIN_COLUMNS",
    "RunOptions",
]


def _resumed_config(
    given: ExperimentConfig | str | Path,
    stored: dict[str, Any],
    checkpoint: Path,
    steps: int | None,
    allow_config_change: bool,
) -> ExperimentConfig:
    """The config of a resumed run: the stored one. ``given`` must equal it except for
    ``train.steps`` (which may be raised to train further); anything else that differs is an
    error rather than silently ignored, unless ``allow_config_change``: then ``given`` is used
    (its ``model`` section must still be the stored one: the weights are that model's)."""
    try:
        config = ExperimentConfig.from_dict(stored)
    except ValueError as error:
        raise InputError(f"{checkpoint / 'state.json'}: {error}") from None
    given = given if isinstance(given, ExperimentConfig) else load_config(given)
    mine, theirs = given.to_dict(), config.to_dict()
    different = sorted(
        f"{section}.{key}"
        for section in ("model", "data", "train")
        for key in theirs[section]
        if key != "steps" and mine[section].get(key) != theirs[section][key]
    )
    model_changes = [name for name in different if name.startswith("model.")]
    if allow_config_change and model_changes:
        raise InputError(
            f"--resume: CONFIG changes the model ({', '.join(model_changes)}); the checkpoint's "
            "weights are its own model's: start a new run"
        )
    if different and not allow_config_change:
        raise InputError(
            f"--resume: CONFIG differs from the config the run was started with ({', '.join(different)}); "
            "a run continues with its own settings: give the same config, start a new run, or allow "
            "the change (allow_config_change=True)"
        )
    if allow_config_change:
        return given
    if steps is None:
        config.train.steps = given.train.steps
    return config


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (optional extra)
    except ImportError:
        raise InputError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


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
    kept = [rows[0]] + [
        row for row in rows[1:] if len(row) == len(rows[0]) and row[0].isdigit() and int(row[0]) <= step
    ]
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    write_text_atomic(path, text.getvalue())


def _run_config(
    config: ExperimentConfig | str | Path,
    run_dir: Path,
    checkpoint: Path | None,
    steps: int | None,
    allow_config_change: bool,
) -> tuple[ExperimentConfig, int, int]:
    """(config, final step, resumed step or 0), checked before anything is written."""
    resumed_step = 0
    if checkpoint is not None:  # a resumed run keeps the config it started with
        state = read_state(checkpoint)
        config = _resumed_config(config, stored_config(checkpoint, state), checkpoint, steps, allow_config_change)
        resumed_step = int(state["step"])
    elif not isinstance(config, ExperimentConfig):
        config = load_config(config)
    final_step = config.train.steps if steps is None else steps
    if isinstance(final_step, bool) or not isinstance(final_step, int) or final_step < 1:
        raise InputError(f"--steps must be a whole number of at least 1 (got {final_step!r})")
    if checkpoint is not None and final_step <= resumed_step:
        asked = f"--steps {final_step}" if steps is not None else f"its config's train.steps ({final_step})"
        raise InputError(
            f"{asked}: the run in {run_dir} is already at step {resumed_step}; "
            f"give --steps above {resumed_step} to continue it"
        )
    return config, final_step, resumed_step


def _datasets(dataset_dir: Path, config: ExperimentConfig) -> tuple[FeatureDataset, FeatureDataset | None]:
    """The training split and the evaluation split (None when the dataset has none)."""
    dataset = FeatureDataset(dataset_dir, "train")
    metadata = dataset.metadata
    if (metadata["sample_rate"], metadata["frame_rate"]) != (config.model.sample_rate, config.model.frame_rate):
        raise InputError(
            f"the dataset was prepared at {metadata['sample_rate']} Hz and {metadata['frame_rate']} frames/s, "
            f"the model expects {config.model.sample_rate} Hz and {config.model.frame_rate} frames/s"
        )
    eval_dataset = FeatureDataset(dataset_dir, "eval") if (dataset_dir / "eval").is_dir() else None
    return dataset, (eval_dataset if eval_dataset is not None and len(eval_dataset) else None)


def _model_and_optimizer(
    config: ExperimentConfig, checkpoint: Path | None
) -> tuple[Autoencoder, torch.optim.Adam, int]:
    """The seeded model and Adam (the reverb's taps in their own group), restored from
    ``checkpoint`` when given; returns them with the step they continue from."""
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, the caller's RNG untouched
        torch.manual_seed(config.train.seed)
        model = Autoencoder(config.model)
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
        except OptimizerStateMismatch:
            raise InputError(
                f"{checkpoint}: its optimizer state does not fit this model's {len(groups)} parameter "
                f"group(s) (a checkpoint from before reverb_learning_rate_scale, or another "
                f"architecture); start a new run"
            ) from None
        # Loading replaces each group's settings with the saved ones: the scales come from the config.
        for group, settings in zip(optimizer.param_groups, groups):
            group["lr_scale"] = settings["lr_scale"]
    return model, optimizer, start_step


def _init_from(model: Autoencoder, init_from: str | Path, config: ExperimentConfig) -> dict[str, Any]:
    """Copy the weights of ``init_from`` (a bundled model's name, a run or a model folder, e.g.
    one ``convert-magenta`` wrote) into the new run's ``model``; return the record of the source
    that every checkpoint of the run keeps (``state.json["init_from"]``)."""
    from ..transfer.in_memory import model_checkpoint  # noqa: PLC0415  (transfer imports training)

    try:
        checkpoint = model_checkpoint(init_from)
    except InputError as error:
        raise InputError(f"--init-from: {error}") from None
    state = copy_weights(checkpoint, model)
    source = state.get("config", {}).get("model", {})
    rates = (source.get("sample_rate"), source.get("frame_rate"))
    if rates != (config.model.sample_rate, config.model.frame_rate) and rates != (None, None):
        raise InputError(
            f"--init-from {checkpoint}: the source runs at {rates[0]} Hz and {rates[1]} frames/s, "
            f"this config at {config.model.sample_rate} Hz and {config.model.frame_rate} frames/s"
        )
    digest = state.get("files", {}).get("model.safetensors", {}).get("sha256")
    return {"model": str(init_from), "checkpoint": str(checkpoint.resolve()), "step": state["step"], "sha256": digest}


def _to_device(model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    model.to(device)
    for values in optimizer.state.values():  # optimizer state follows the model's device
        for key, value in values.items():
            if isinstance(value, torch.Tensor) and key != "step":
                values[key] = value.to(device)


def _start_folder(run: Run, to_remove: list[Path], resume: bool, summary_writer: Any) -> None:
    """Rank 0 prepares the folder: what ``overwrite`` deletes, the config, the logs (cut back
    to the checkpoint on resume), the TensorBoard writer."""
    if run.world > 1:  # every rank has checked the folder before rank 0 changes it
        torch.distributed.barrier()
    if run.rank != 0:
        return
    remove_run_files(to_remove)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    (run.run_dir / "samples").mkdir(exist_ok=True)
    with atomic_path(run.run_dir / "config.yaml") as temporary:
        save_config(run.config, temporary)
    for name in ("train.csv", "eval.csv"):
        _truncate_csv(run.run_dir / name, run.start_step) if resume else (run.run_dir / name).unlink(missing_ok=True)
    if summary_writer is not None:
        run.writer = summary_writer(str(run.run_dir / "tensorboard"))


def build_run(
    config: ExperimentConfig | str | Path,
    dataset_dir: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    steps: int | None = None,
    tensorboard: bool = False,
    overwrite: bool = False,
    allow_config_change: bool = False,
    init_from: str | Path | None = None,
) -> Run:
    """Everything a run needs, checked before anything is written (arguments as :func:`train`):
    the config, the datasets, the model and optimizer (restored on ``resume``, on the device),
    and the run folder prepared (rank 0)."""
    if resume and init_from is not None:
        raise InputError("--resume continues the run in RUN_DIR, --init-from starts a new one: give one of them")
    rank, world, device = _distributed()
    run_dir, dataset_dir = Path(run_dir), Path(dataset_dir)
    to_remove = check_run_folder(run_dir, resume, overwrite)
    summary_writer = _summary_writer_class() if tensorboard else None
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise InputError(
            f"--resume: {run_dir} holds no checkpoint (a run that stopped before its first one "
            "cannot be resumed: use --overwrite to start again)"
        )
    check_apart(run_dir, dataset_dir)
    config, final_step, _ = _run_config(config, run_dir, checkpoint, steps, allow_config_change)
    dataset, eval_dataset = _datasets(dataset_dir, config)
    model, optimizer, start_step = _model_and_optimizer(config, checkpoint)
    source = _init_from(model, init_from, config) if init_from is not None else None
    _to_device(model, optimizer, device)
    metadata = dataset.metadata
    extra = {
        "config": config.to_dict(),
        "statistics": metadata.get("statistics", {}),
        "dataset": {k: metadata[k] for k in ("sample_rate", "frame_rate", "example_frames", "seconds")},
    }
    if source is None and checkpoint is not None:  # a resumed fine-tuning run keeps its record
        source = read_state(checkpoint).get("init_from")
    if source is not None:
        extra["init_from"] = source
    run = Run(
        config,
        run_dir,
        model,
        nn.parallel.DistributedDataParallel(model) if world > 1 else model,
        optimizer,
        build_loss(config).to(device),
        dataset,
        eval_dataset,
        start_step,
        final_step,
        extra,
        device,
        rank,
        world,
    )
    _start_folder(run, to_remove, resume, summary_writer)
    return run


def set_learning_rate(optimizer: torch.optim.Optimizer, train: TrainConfig, step: int) -> None:
    """The schedule's rate at ``step`` (0-based), times each group's ``lr_scale``."""
    for group in optimizer.param_groups:
        group["lr"] = train.learning_rate_at(step) * group["lr_scale"]


def draw_batch(run: Run, step: int) -> tuple[dict[str, torch.Tensor], torch.Generator]:
    """The examples and the noise generator of ``step`` on this rank: a function of
    ``(seed, step, rank)`` only, so that a resumed run draws what it would have drawn."""
    train = run.config.train
    generator = torch.Generator().manual_seed(train.seed * 1_000_003 + step * 7919 + run.rank)
    indices = torch.randint(len(run.dataset), (train.batch_size,), generator=generator).tolist()
    batch = _batch(run.dataset, indices, run.device)
    noise = torch.Generator(device=run.device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    return batch, noise


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    grad_clip: float,
    generator: torch.Generator | None = None,
    parameters: list[nn.Parameter] | None = None,
) -> StepOutput:
    """One step: render ``batch`` (``f0_hz``, ``loudness_db`` ``(batch, n_frames)``, ``audio``
    ``(batch, n_samples)``), the loss against its audio, backward, clip the gradients' norm to
    ``grad_clip``, step. Nothing is brought to the host: the returned tensors stay on the device
    (``parameters``: what is clipped, default ``model.parameters()``, e.g. the module a DDP
    wrapper holds)."""
    output = model(batch["f0_hz"], batch["loudness_db"], batch["audio"], generator=generator)["audio"]
    loss = loss_fn(output, batch["audio"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(model.parameters() if parameters is None else parameters, grad_clip)
    optimizer.step()
    return StepOutput(loss.detach(), grad_norm.detach(), output.detach())


def run_loop(run: Run, hooks: list[Hook], show_progress: bool = False) -> None:
    """Step from ``run.start_step`` to ``run.final_step``, calling each hook when it is due."""
    run.model.train()
    run.last_log = (time.perf_counter(), run.start_step)
    parameters = list(run.model.parameters())  # clipped: the model's own (not a DDP wrapper's)
    with Progress(run.final_step, "train", enabled=show_progress and run.rank == 0, initial=run.start_step) as bar:
        for step in range(run.start_step, run.final_step):
            set_learning_rate(run.optimizer, run.config.train, step)
            batch, noise = draw_batch(run, step)
            with data_checks(False):  # NaN and range checks read values: a loss gone bad stops at the next hook
                output = train_step(
                    run.trained, run.optimizer, batch, run.loss_fn, run.config.train.grad_clip, noise, parameters
                )
            done = step + 1
            for hook in hooks:
                if hook.due(done, run.final_step):
                    hook.action(run, done, output, batch)
            bar.update(1, loss=run.loss)


def _finish(run: Run) -> None:
    from ..plots import have_matplotlib  # noqa: PLC0415  (matplotlib stays optional)
    from ..plots import save_training_curves  # noqa: PLC0415  (matplotlib stays optional)

    if run.rank == 0 and have_matplotlib() and (run.run_dir / "train.csv").is_file():
        with atomic_path(run.run_dir / "training_curves.png") as temporary:
            save_training_curves(temporary, run.run_dir / "train.csv", run.run_dir / "eval.csv")
    if run.writer is not None:
        run.writer.close()
    if run.world > 1:
        torch.distributed.barrier()


class RunOptions(TypedDict, total=False):
    """The keyword arguments of :func:`build_run` (defaults there) that :func:`train` passes on."""

    resume: bool
    steps: int | None
    tensorboard: bool
    overwrite: bool
    allow_config_change: bool
    init_from: str | Path | None


def train(
    config: ExperimentConfig | str | Path,
    dataset_dir: str | Path,
    run_dir: str | Path,
    show_progress: bool = True,
    **options: Unpack[RunOptions],
) -> dict[str, Any]:
    """Train an autoencoder on a prepared dataset; returns a summary (final step, loss, metrics;
    None where a value is not finite, so that it is valid JSON).

    Args:
        config: an :class:`ExperimentConfig`, a YAML path, or a shipped config name.
        dataset_dir: made by :func:`~torchddsp.training.data.prepare_dataset`.
        run_dir: where checkpoints, logs and samples go: a new or empty folder, or (with
            ``resume`` or ``overwrite``) one that holds a run.
        show_progress: a progress bar (rank 0).
        options (:class:`RunOptions`, keywords only):
            resume: continue from the newest checkpoint in ``run_dir`` with the config it was
                started with: ``config`` must equal it, except ``train.steps``, which may be raised.
            steps: train up to this step instead of ``config.train.steps``.
            tensorboard: also log to ``run_dir/tensorboard`` (needs the ``tensorboard`` package).
            overwrite: delete the run that ``run_dir`` holds (its checkpoints, logs, samples,
                config and evaluations; nothing else) and start a new one.
            allow_config_change: with ``resume``, continue with ``config`` where it differs from
                the run's own (e.g. a lower learning rate); its ``model`` section must not differ.
            init_from: start a new run (step 0, a fresh optimizer) from the weights of a bundled
                model (``"violin"``) or a run or model folder (e.g. one ``convert-magenta``
                wrote), recorded in every checkpoint's ``state.json["init_from"]``; the config's
                model must have the same layers (names and shapes) and rates. Not with ``resume``.

    Raises ValueError, before anything is written, for a folder that holds a run (without
    ``resume`` or ``overwrite``) or other files, a resumed run given another config (without
    ``allow_config_change``), ``init_from`` with ``resume`` or of another architecture (naming
    the first parameter that differs), ``steps`` below 1 or not beyond the resumed step, and
    ``tensorboard`` without its package. FloatingPointError when the loss stops being finite.
    """
    run = build_run(config, dataset_dir, run_dir, **options)
    started = time.perf_counter()
    run_loop(run, default_hooks(run.config.train), show_progress)
    _finish(run)
    summary = {"step": max(run.final_step, run.start_step), "loss": run.loss, "seconds": time.perf_counter() - started}
    if run.rank == 0 and (run.run_dir / "eval.json").is_file():
        summary["eval"] = json.loads((run.run_dir / "eval.json").read_text())
    return json_safe(summary)
