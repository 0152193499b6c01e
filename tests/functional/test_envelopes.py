"""ADSR and LFO: closed-form values, truncated notes, zero-length segments, curvature, the
LFO shapes and mix, and finite gradients everywhere (gradcheck on tiny float64 inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.functional import adsr
from torchddsp.functional import lfo

RATE = 100.0


def env(attack, decay, sustain, release, duration, n=400, curve=1.0):
    values = [torch.tensor([v], dtype=torch.float64) for v in (attack, decay, sustain, release, duration)]
    return adsr(*values, n, RATE, curve)[0].numpy()


def test_linear_adsr_matches_its_closed_form():
    y = env(0.5, 1.0, 0.4, 1.5, 2.5)
    t = np.arange(400) / RATE
    expected = np.where(t < 0.5, t / 0.5, np.where(t < 1.5, 1 - 0.6 * (t - 0.5), 0.4))
    expected = np.where(t < 2.5, expected, 0.4 * np.clip(1 - (t - 2.5) / 1.5, 0, 1))
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_note_shorter_than_the_attack_releases_from_the_level_reached():
    y = env(1.0, 0.5, 0.5, 0.5, 0.3)
    t = np.arange(400) / RATE
    assert y[30] == pytest.approx(0.3, abs=1e-12)  # note-off at 0.3 s during a 1 s attack
    np.testing.assert_allclose(y[t >= 0.3], 0.3 * np.clip(1 - (t[t >= 0.3] - 0.3) / 0.5, 0, 1), atol=1e-12)
    assert y.max() <= 0.3 + 1e-12


def test_zero_length_segments_are_steps():
    y = env(0.0, 0.0, 0.6, 0.0, 1.0)
    assert y[0] == pytest.approx(0.6) and y[99] == pytest.approx(0.6) and np.all(y[100:] == 0)
    attack_only = env(0.0, 0.5, 0.2, 0.5, 3.0)
    assert attack_only[0] == 1.0


def test_curvature_shapes_each_segment():
    for curve in (0.3, 3.0):
        y = env(1.0, 1.0, 0.0, 1.0, 2.0, curve=curve)
        assert y[50] == pytest.approx(0.5**curve, abs=1e-12)  # half way up the attack
        assert y[150] == pytest.approx(0.5**curve, abs=1e-12)  # half way down the decay to 0


@pytest.mark.parametrize(
    "case",
    [
        (0.0, 0.3, 0.5, 0.2, 1.0, 1.0),  # zero attack
        (0.4, 0.0, 0.5, 0.0, 1.0, 0.5),  # zero decay and release
        (1.5, 0.5, 0.5, 0.5, 0.212, 2.0),  # note much shorter than the attack (times off the frame grid)
        (0.213, 0.3, 0.0, 0.4, 0.362, 0.1),  # released during the decay, strong curvature
    ],
)
def test_gradients_are_finite_and_exact(case):
    inputs = tuple(torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in case)

    def fn(a, d, s, r, dur, curve):
        return adsr(a, d, s, r, dur, 60, 40.0, curve)

    y = fn(*inputs)
    grads = torch.autograd.grad(y.sum(), inputs)
    assert all(torch.isfinite(g).all() for g in grads)
    if min(case[:4]) > 0:
        # Inside the domain (a zero length cannot be perturbed below 0), and away from the kinks
        # at segment boundaries, the gradient is the derivative.
        assert torch.autograd.gradcheck(fn, inputs, eps=1e-7, atol=1e-4)


def test_lfo_shapes_against_their_definitions():
    n, rate = 200, 100.0
    frequency = torch.tensor([2.01], dtype=torch.float64)
    turns = (np.arange(1, n + 1) * 2.01 / rate) % 1.0
    definitions = [
        (1 - np.cos(2 * np.pi * turns)) / 2,
        1 - np.abs(2 * turns - 1),
        turns,
        1 - turns,
        ((turns > 0.25) & (turns < 0.75)).astype(float),
    ]
    for k, expected in enumerate(definitions):
        weights = torch.zeros(1, 5, dtype=torch.float64)
        weights[0, k] = 1.0
        y = lfo(frequency, weights, n, rate)[0].numpy()
        np.testing.assert_allclose(y, expected, atol=1e-9)


def test_lfo_mix_rate_modulation_and_phase():
    n, rate = 300, 100.0
    weights = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    y = lfo(torch.tensor([1.03], dtype=torch.float64), weights, n, rate)[0].numpy()
    turns = (np.arange(1, n + 1) * 1.03 / rate) % 1.0  # never exactly on a wrap
    np.testing.assert_allclose(y, 0.5 * (1 - np.cos(2 * np.pi * turns)) / 2 + 0.5 * turns, atol=1e-9)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)[None]
    modulated = lfo(
        torch.tensor([1.0], dtype=torch.float64),
        weights[:, :1].repeat(1, 5) * torch.tensor([[1.0, 0, 0, 0, 0]], dtype=torch.float64),
        n,
        rate,
        ramp,
        torch.tensor([3.0], dtype=torch.float64),
        state=torch.tensor([math.pi / 2], dtype=torch.float64),
    )[0].numpy()
    phase = np.pi / 2 + 2 * np.pi * np.cumsum(1.0 + 3.0 * ramp[0].numpy()) / rate
    np.testing.assert_allclose(modulated, (1 - np.cos(phase)) / 2, atol=1e-9)
    even = lfo(torch.tensor([1.0]), torch.zeros(1, 5), 10, rate)
    assert torch.isfinite(even).all()


def test_lfo_gradients():
    inputs = (
        torch.tensor([1.5], dtype=torch.float64, requires_grad=True),
        torch.tensor([[0.3, 0.6, 0.2, 0.8, 0.5]], dtype=torch.float64, requires_grad=True),
        torch.tensor([0.4], dtype=torch.float64, requires_grad=True),
        torch.tensor([2.0], dtype=torch.float64, requires_grad=True),
    )
    ramp = torch.linspace(0, 1, 30, dtype=torch.float64)[None]

    def fn(f, w, phase, depth):
        return lfo(f, w, 30, 50.0, ramp, depth, state=phase)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-7, atol=1e-4)
    zero_weights = torch.zeros(1, 5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(lfo(inputs[0], zero_weights, 30, 50.0).sum(), zero_weights)
    assert torch.isfinite(g).all()


def test_bad_input_is_an_error():
    one = torch.ones(1)
    with pytest.raises(ValueError, match="sustain must lie in"):
        adsr(one, one, 2 * one, one, one, 10, RATE)
    with pytest.raises(ValueError, match="attack_s must be >= 0"):
        adsr(-one, one, one, one, one, 10, RATE)
    with pytest.raises(ValueError, match="curve must be > 0"):
        adsr(one, one, one, one, one, 10, RATE, 0.0)
    with pytest.raises(ValueError, match="shape_weights must lie in"):
        lfo(one, torch.full((1, 5), 2.0), 10, RATE)
    with pytest.raises(ValueError, match="modulation_depth_hz is required"):
        lfo(one, torch.ones(1, 5), 10, RATE, rate_modulation=torch.ones(1, 10))


def test_per_note_arguments_take_numbers_and_per_item_controls():
    # Bugs: a number (fixed control) not broadcast against per-item tensors, the batch taken
    # from the first argument only, a time-varying control silently accepted as per note.
    from torchddsp.functional import Control

    duration = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    full = [torch.full((3,), v, dtype=torch.float64) for v in (0.1, 0.2, 0.5, 0.3)]
    expected = adsr(*full, duration, 300, RATE)
    mixed = adsr(
        0.1,
        Control.fixed(0.2),
        torch.full((3, 1), 0.5, dtype=torch.float64),
        Control.per_item(full[3]),
        duration,
        300,
        RATE,
    )
    assert mixed.shape == (3, 300)
    torch.testing.assert_close(mixed, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="attack_s must be a number, .* found a frame-rate control"):
        adsr(torch.zeros(3, 4, 1), *full[1:], duration, 300, RATE)
    with pytest.raises(ValueError, match="decay_s must have batch 1 or 3"):
        adsr(full[0], torch.zeros(2), *full[2:], duration, 300, RATE)
