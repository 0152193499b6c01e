import math

import numpy as np
import pytest
import torch

from torchddsp.functional import amplitude_to_db
from torchddsp.functional import db_to_amplitude
from torchddsp.functional import exp_sigmoid
from torchddsp.functional import frequencies_sigmoid
from torchddsp.functional import hz_to_midi
from torchddsp.functional import midi_to_hz
from torchddsp.functional import power_to_db


def test_midi_hz_round_trip_and_reference_points():
    notes = torch.tensor([21.0, 57.0, 60.0, 69.0, 81.5, 108.0], dtype=torch.float64)
    hz = midi_to_hz(notes)
    expected = 440.0 * 2 ** ((notes.numpy() - 69) / 12)
    np.testing.assert_allclose(hz.numpy(), expected, rtol=1e-12)
    assert hz[3].item() == pytest.approx(440.0)
    assert hz[1].item() == pytest.approx(220.0)
    np.testing.assert_allclose(hz_to_midi(hz).numpy(), notes.numpy(), atol=1e-10)


def test_hz_to_midi_zero_is_zero_with_finite_gradient():
    f = torch.tensor([0.0, 440.0], requires_grad=True)
    notes = hz_to_midi(f)
    notes.sum().backward()
    assert notes[0].item() == 0.0
    assert torch.isfinite(f.grad).all() and f.grad[0].item() == 0.0


def test_hz_to_midi_rejects_negative_frequencies():
    with pytest.raises(ValueError, match="frequencies_hz"):
        hz_to_midi(torch.tensor([-1.0]))


def test_db_conversions_closed_form_and_floor():
    amplitude = torch.tensor([1.0, 0.1, 0.01, 0.0], dtype=torch.float64, requires_grad=True)
    db = amplitude_to_db(amplitude)
    np.testing.assert_allclose(db.detach().numpy(), [0.0, -20.0, -40.0, -80.0], atol=1e-9)
    db.sum().backward()
    assert torch.isfinite(amplitude.grad).all()
    assert amplitude.grad[3].item() == 0.0  # floor: no gradient, never NaN
    np.testing.assert_allclose(
        db_to_amplitude(torch.tensor([0.0, -20.0, 6.0])).numpy(), [1.0, 0.1, 10 ** (6 / 20)], rtol=1e-6
    )
    assert power_to_db(torch.tensor([0.01]), range_db=120.0).item() == pytest.approx(-20.0)
    assert amplitude_to_db(torch.tensor([1e-9]), range_db=60.0).item() == pytest.approx(-60.0)


def test_exp_sigmoid_matches_ddsp_formula():
    x = torch.linspace(-20, 20, 41, dtype=torch.float64)
    expected = 2.0 / (1 + np.exp(-x.numpy())) ** math.log(10.0) + 1e-7
    np.testing.assert_allclose(exp_sigmoid(x).numpy(), expected, rtol=1e-12)
    y = exp_sigmoid(x, exponent=4.0, max_value=1.0, threshold=0.0)
    np.testing.assert_allclose(y.numpy(), 1.0 / (1 + np.exp(-x.numpy())) ** math.log(4.0), rtol=1e-12)


def test_exp_sigmoid_gradient_finite_for_extreme_inputs():
    x = torch.tensor([-1e4, -100.0, 0.0, 100.0, 1e4], requires_grad=True)
    exp_sigmoid(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_frequencies_sigmoid_range_and_pitch_uniformity():
    x = torch.tensor([-50.0, 0.0, 50.0], dtype=torch.float64)
    hz = frequencies_sigmoid(x, min_hz=110.0, max_hz=440.0)
    np.testing.assert_allclose(hz.numpy(), [110.0, 220.0, 440.0], rtol=1e-9)


@pytest.mark.parametrize("kwargs", [dict(exponent=1.0), dict(max_value=0.0), dict(threshold=-1.0)])
def test_exp_sigmoid_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        exp_sigmoid(torch.zeros(2), **kwargs)
