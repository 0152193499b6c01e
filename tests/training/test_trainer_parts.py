"""The trainer's parts (issue 13 item 6): a ``train_step`` that never brings a value to the
host, hooks called exactly at their intervals, a resumed run that refuses another config unless
asked, and an optimizer mismatch recognised by its type."""

from __future__ import annotations

import shutil

import pytest
import torch
from training_support import LEARNING_STEPS
from training_support import learning_config
from training_support import tiny_config

from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.models import Autoencoder
from torchddsp.training import FeatureDataset
from torchddsp.training import latest_checkpoint
from torchddsp.training import load_config
from torchddsp.training import save_checkpoint
from torchddsp.training import train
from torchddsp.training.checkpoints import OptimizerStateMismatch
from torchddsp.training.checkpoints import load_checkpoint
from torchddsp.training.checkpoints import read_state
from torchddsp.training.trainer import Hook
from torchddsp.training.trainer import build_run
from torchddsp.training.trainer import default_hooks
from torchddsp.training.trainer import run_loop
from torchddsp.training.trainer import train_step
from torchddsp.validation import data_checks

# The ways a step could read its loss or gradient norm (each a device sync on a GPU). Not
# .numpy() or int(): the CPU synthesis kernels hand their own CPU tensors to numba that way
# (no sync; on a GPU they do not run).
SYNCING = ("item", "__float__", "__bool__", "tolist")


def _batch(dataset_dir, n: int = 2) -> dict[str, torch.Tensor]:
    dataset = FeatureDataset(dataset_dir, "train")
    return {key: torch.stack([dataset[i][key] for i in range(n)]) for key in dataset[0]}


def test_train_step_never_reads_a_tensor_value(dataset_dir, monkeypatch):
    # Catches: a train_step that reads its loss or gradient norm (float(loss), loss.item(),
    # a finiteness test): a host sync every step, which stalls a GPU.
    config = tiny_config()
    model = Autoencoder(config.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = MultiScaleSpectralLoss.magenta()
    batch = _batch(dataset_dir)
    train_step(model, optimizer, batch, loss_fn, 3.0, torch.Generator().manual_seed(0))  # Adam's state exists now
    # Adam counts its steps in 0-d CPU tensors that it reads with .item(): no device sync, allowed.
    allowed = {id(state["step"]) for state in optimizer.state.values()}
    reads = []

    def refuse(name):
        original = getattr(torch.Tensor, name)

        def method(self, *args, **kwargs):
            if id(self) not in allowed:
                reads.append(f"{name} of a {tuple(self.shape)} tensor")
            return original(self, *args, **kwargs)

        return method

    for name in SYNCING:
        monkeypatch.setattr(torch.Tensor, name, refuse(name))
    with data_checks(False):  # as run_loop calls it: the batches come from a checked dataset
        result = train_step(model, optimizer, batch, loss_fn, 3.0, torch.Generator().manual_seed(1))
    monkeypatch.undo()
    assert reads == []
    assert result.loss.dim() == 0 and result.grad_norm.dim() == 0 and result.output.shape == batch["audio"].shape
    assert torch.isfinite(result.loss) and result.grad_norm > 0


def test_train_step_steps_the_optimizer_on_the_clipped_gradient(dataset_dir):
    # Catches: a step that skips optimizer.step, or clips after stepping (SGD makes the move
    # exactly -lr * clipped gradient: with grad_clip 1e-3 every move is tiny).
    torch.manual_seed(0)
    model = Autoencoder(tiny_config().model)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    result = train_step(
        model, optimizer, _batch(dataset_dir), MultiScaleSpectralLoss.magenta(), 1e-3, torch.Generator().manual_seed(0)
    )
    moves = torch.cat([(p.detach() - b).reshape(-1) for p, b in zip(model.parameters(), before)]).double()
    assert float(result.grad_norm) > 1e-3  # so clipping matters
    assert float(moves.norm()) == pytest.approx(1e-3, rel=1e-4)


def test_hooks_fire_at_their_intervals_and_at_the_end(dataset_dir, tmp_path):
    # Catches: hooks called before the step they report, off by one (step vs done), the end
    # step forgotten, or a hook that must not run at the end (samples) run there.
    run = build_run(tiny_config(steps=7), dataset_dir, tmp_path / "run")
    seen: dict[str, list[int]] = {"two": [], "three": [], "final": []}

    def record(name):
        def action(run, done, step, batch):
            assert torch.isfinite(step.loss)
            seen[name].append(done)

        return action

    hooks = [
        Hook("two", 2, record("two")),
        Hook("three", 3, record("three"), at_end=False),
        Hook("final", 100, record("final")),
    ]
    run_loop(run, hooks)
    assert seen == {"two": [2, 4, 6, 7], "three": [3, 6], "final": [7]}
    assert latest_checkpoint(tmp_path / "run") is None  # only the hooks given ran


def test_default_hooks_follow_the_config():
    # Catches: a hook wired to another interval (eval at log_every...) or samples at the end.
    train_config = tiny_config(log_every=3, samples_every=5, eval_every=7, checkpoint_every=11).train
    hooks = {hook.name: (hook.every, hook.at_end) for hook in default_hooks(train_config)}
    assert hooks == {"log": (3, True), "samples": (5, False), "eval": (7, True), "checkpoint": (11, True)}
    assert [hook.name for hook in default_hooks(train_config)] == ["log", "samples", "eval", "checkpoint"]


def test_the_loss_is_read_only_when_a_hook_is_due(dataset_dir, tmp_path, monkeypatch):
    # Catches: a loop that reads the loss every step (the progress bar, a NaN check).
    from torchddsp.training import hooks  # noqa: PLC0415

    run = build_run(tiny_config(steps=6), dataset_dir, tmp_path / "run")
    reads = []
    original = hooks._host_loss

    def counted(run, done, step):
        reads.append(done)
        return original(run, done, step)

    monkeypatch.setattr(hooks, "_host_loss", counted)
    floats = []
    real_float = torch.Tensor.__float__
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: floats.append(tuple(self.shape)) or real_float(self))
    run_loop(run, [Hook("log", 3, hooks._log)])
    assert reads == [3, 6]
    assert len(floats) == 4  # the loss and the gradient norm of the two rows, nothing per step


def test_a_non_finite_loss_stops_the_run_at_the_next_hook(dataset_dir, tmp_path, monkeypatch):
    # Catches: NaN weights checkpointed because the loss is no longer checked every step.
    from torchddsp.training import trainer  # noqa: PLC0415

    real_step = trainer.train_step

    def nan_from_step_2(model, optimizer, batch, *args, **kwargs):
        result = real_step(model, optimizer, batch, *args, **kwargs)
        return (
            result._replace(loss=result.loss * float("nan"))
            if optimizer.state_dict()["state"][0]["step"] >= 2
            else result
        )

    monkeypatch.setattr(trainer, "train_step", nan_from_step_2)
    with pytest.raises(FloatingPointError, match="the loss became nan at step 2"):
        # At step 2 only the checkpoint is due: it must read the loss before it writes.
        train(
            tiny_config(steps=4, log_every=10, checkpoint_every=2, samples_every=100, eval_every=100),
            dataset_dir,
            tmp_path / "run",
            show_progress=False,
        )
    assert latest_checkpoint(tmp_path / "run") is None


def test_resume_with_another_config_when_asked(trained_run, dataset_dir, tmp_path):
    # Catches: allow_config_change ignored (the stored config wins silently), or accepted for
    # a model change (weights of another architecture).
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    lower = learning_config(learning_rate=0.001, steps=LEARNING_STEPS + 2)
    with pytest.raises(ValueError, match=r"CONFIG differs .*train.learning_rate.*allow_config_change"):
        train(lower, dataset_dir, run, resume=True, show_progress=False)
    summary = train(lower, dataset_dir, run, resume=True, show_progress=False, allow_config_change=True)
    assert summary["step"] == LEARNING_STEPS + 2
    state = read_state(latest_checkpoint(run))
    assert state["config"]["train"]["learning_rate"] == 0.001
    assert load_config(run / "config.yaml").train.learning_rate == 0.001
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(
        lower.train.learning_rate_at(LEARNING_STEPS + 1)
    )
    other_model = learning_config(steps=LEARNING_STEPS + 4)
    other_model.model.hidden_size = 16
    with pytest.raises(ValueError, match=r"CONFIG changes the model \(model.hidden_size\)"):
        train(other_model, dataset_dir, run, resume=True, show_progress=False, allow_config_change=True)


def test_an_optimizer_state_of_other_groups_is_its_own_error_type(tmp_path):
    # Catches: the mismatch recognised by the text of torch's message (which torch may change).
    config = tiny_config()
    model = Autoencoder(config.model)
    save_checkpoint(tmp_path, 1, model, torch.optim.Adam(model.parameters()), {"config": config.to_dict()})
    two_groups = torch.optim.Adam(
        [{"params": list(model.parameters())[:-1]}, {"params": list(model.parameters())[-1:]}]
    )
    with pytest.raises(
        OptimizerStateMismatch, match=r"parameter groups of \[\d+\] parameters, the optimizer \[\d+, 1\]"
    ):
        load_checkpoint(latest_checkpoint(tmp_path), model, two_groups)
