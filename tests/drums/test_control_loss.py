"""The controllability loss: request layout, closed forms of the L1 and ranking terms, and its
gradient reaching the network."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch import nn

from torchddsp.drums.model import DrumModel
from torchddsp.drums.training import control_loss
from torchddsp.drums.training import fit
from torchddsp.drums.training import random_requests


class Echo(nn.Module):
    """A stand-in model whose 'audio' is a function of the request and whose measure reads it
    back: ``measured = response(targets)``, so the loss has closed forms."""

    def __init__(self, response):
        super().__init__()
        self.response = response

    def forward(self, drum: Tensor, targets: Tensor) -> Tensor:
        return self.response(targets)

    def measure(self, drum: Tensor, audio: Tensor) -> Tensor:
        return audio


def test_requests_lay_out_random_rows_then_sweeps():
    # bugs caught: the swept column not a 0..1 ramp, the others varying within a sweep, a
    # sweep spanning two classes
    drum, targets, swept = random_requests(3, 4, 5, torch.Generator().manual_seed(0))
    assert drum.shape == (23,) and targets.shape == (23, 3) and swept.shape == (4,)
    assert bool(((targets >= 0) & (targets <= 1)).all()) and bool(((drum >= 0) & (drum < 5)).all())
    sweeps = targets[3:].reshape(4, 5, 3)
    for s in range(4):
        d = int(swept[s])
        assert sweeps[s, :, d].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
        others = [i for i in range(3) if i != d]
        assert torch.equal(sweeps[s, :, others], sweeps[s, :1, others].expand(5, 2))
        assert len(set(drum[3 + 5 * s : 8 + 5 * s].tolist())) == 1


def test_control_loss_closed_forms():
    # bugs caught: the ranking hinge rewarding a falling sweep (sign flipped), reading the
    # random rows instead of the sweep rows, a wrong margin
    drum, targets, swept = random_requests(3, 2, 5, torch.Generator().manual_seed(1))
    l1, ranking = control_loss(Echo(lambda t: t), drum, targets, swept, 5)
    assert l1.item() == pytest.approx(0.0) and ranking.item() == pytest.approx(0.0)
    # measured = 1 - requested: every sweep step falls by 0.25; hinge 0.125 + 0.25 per step
    l1, ranking = control_loss(Echo(lambda t: 1.0 - t), drum, targets, swept, 5)
    assert l1.item() == pytest.approx((1.0 - 2.0 * targets).abs().mean().item())
    assert ranking.item() == pytest.approx(0.375)
    # a measure that ignores the request: flat sweeps, hinge = the margin 0.125
    _, ranking = control_loss(Echo(lambda t: torch.full_like(t, 0.5)), drum, targets, swept, 5)
    assert ranking.item() == pytest.approx(0.125)


def test_control_loss_reaches_the_network():
    # bug caught: requests' hits generated without gradient, so the term trains nothing
    torch.manual_seed(0)
    model = DrumModel(hidden=8, n_samples=2048)
    asked = random_requests(2, 1, 3, torch.Generator().manual_seed(2))
    l1, ranking = control_loss(model, *asked, 3)
    (l1 + ranking).backward()
    assert model.net[0].weight.grad is not None and model.net[0].weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_fit_adds_the_control_terms_only_when_weighted():
    # bug caught: the control weight parsed but the term never added to the total
    # (slow only when it runs first: Adam's constructor imports torch._dynamo, ~2 CPU s)
    model = DrumModel(hidden=8, n_samples=1024)
    audio = torch.randn(2, 1024, generator=torch.Generator().manual_seed(0)) * 0.1
    args = (torch.tensor([0, 1]), torch.rand(2, 3, dtype=torch.float64), audio, 1)
    off = fit(model, *args, batch_size=2, learning_rate=0.0, requests=(2, 1, 3))[0]
    on = fit(model, *args, batch_size=2, learning_rate=0.0, control_weight=2.0, requests=(2, 1, 3))[0]
    assert off[3] == 0.0 and on[3] > 0
    assert on[0] == pytest.approx(on[1] + on[2] + 2.0 * on[3], rel=1e-6)
