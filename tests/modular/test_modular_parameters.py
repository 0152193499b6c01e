"""Parameter ranges: torchsynth's maps, round trips, finite gradients at the ends, JSON curve
sets, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from torchddsp.modular import DefaultVoice
from torchddsp.modular import ParameterRange
from torchddsp.modular import load_curves
from torchddsp.modular import save_curves


def test_maps_match_torchsynths_formulas():
    u = torch.linspace(0, 1, 101, dtype=torch.float64)
    plain = ParameterRange(0.01, 4.0, 0.5)
    np.testing.assert_allclose(plain.to_human(u).numpy(), (0.01 + 3.99 * u**2).numpy(), atol=1e-12)
    symmetric = ParameterRange(-96.0, 96.0, 0.2, symmetric=True)
    d = 2 * u - 1
    np.testing.assert_allclose(symmetric.to_human(u).numpy(), (96 * torch.sign(d) * d.abs() ** 5).numpy(), atol=1e-9)
    off_centre = ParameterRange(-10.0, 20.0, 0.5, symmetric=True)
    np.testing.assert_allclose(off_centre.to_human(u).numpy(), (5 + 15 * torch.sign(d) * d**2).numpy(), atol=1e-12)
    linear = ParameterRange(0.0, 127.0)
    np.testing.assert_allclose(linear.to_human(u).numpy(), (127 * u).numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "parameter_range",
    [
        ParameterRange(0, 2, 0.5),
        ParameterRange(-96, 96, 0.2, True),
        ParameterRange(0.1, 6.0),
        ParameterRange(0, 1, 3.0),
        ParameterRange(-1, 1, 4.0, True),
    ],
)
def test_round_trip_and_finite_gradients_at_the_ends(parameter_range):
    u = torch.cat([torch.tensor([0.0, 1.0, 0.5]), torch.rand(50, generator=torch.Generator().manual_seed(0))]).double()
    u.requires_grad_()
    human = parameter_range.to_human(u)
    values = human.detach()
    assert (
        float(values.min()) >= parameter_range.minimum - 1e-12
        and float(values.max()) <= parameter_range.maximum + 1e-12
    )
    (grad,) = torch.autograd.grad(human.sum(), u)
    assert torch.isfinite(grad).all()
    np.testing.assert_allclose(parameter_range.to_normalized(human.detach()).numpy(), u.detach().numpy(), atol=1e-9)


def test_curve_sets_round_trip_through_json(tmp_path):
    voice = DefaultVoice()
    path = tmp_path / "curves.json"
    voice.save_curves(path)
    loaded = load_curves(path)
    assert loaded == voice.ranges and json.loads(path.read_text())["name"] == "default"
    # Editing a curve changes what a normalised value means.
    edited = dict(loaded)
    edited["adsr_1.attack"] = ParameterRange(0.0, 0.5, 1.0, unit="s")
    save_curves(edited, path)
    other = DefaultVoice(curves=path)
    patch = torch.full((1, other.n_parameters), 0.5)
    assert float(other.human(patch)["adsr_1"]["attack"]) == pytest.approx(0.25)
    assert float(voice.human(patch)["adsr_1"]["attack"]) == pytest.approx(0.5)


def test_bad_ranges_and_files_are_errors(tmp_path):
    with pytest.raises(ValueError, match="minimum must be below maximum"):
        ParameterRange(1.0, 1.0)
    with pytest.raises(ValueError, match="curve must be > 0"):
        ParameterRange(0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="values must lie in"):
        ParameterRange(0.0, 1.0).to_normalized(torch.tensor([1.5]))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read parameter curves"):
        load_curves(broken)
    with pytest.raises(ValueError, match="unknown parameters"):
        _ = DefaultVoice(curves={"adsr_9.attack": ParameterRange(0, 1)}).parameter_names
