"""The drum synthesizer: closed forms of its parts, shapes, gradients, silence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.drums.synth import CONTROL_NAMES
from torchddsp.drums.synth import N_CONTROLS
from torchddsp.drums.synth import DrumSynth
from torchddsp.drums.synth import drum_synthesis
from torchddsp.drums.synth import unit_to_controls

SR = 16000


def unit(**values: float) -> torch.Tensor:
    """Unit controls, 0 everywhere but ``values`` (by name)."""
    u = torch.zeros(1, N_CONTROLS, dtype=torch.float64)
    for name, value in values.items():
        u[0, CONTROL_NAMES.index(name)] = value
    return u


def test_control_ranges_map_ends_and_middles():
    # bugs caught: log ranges interpolated linearly, amplitudes not squared, ratios off by one
    c = unit_to_controls(torch.cat([unit(), torch.ones(1, N_CONTROLS, dtype=torch.float64), unit(body_f0_hz=0.5)]))
    assert c["body_f0_hz"].tolist() == pytest.approx([30.0, 1200.0, math.sqrt(30.0 * 1200.0)])
    assert c["noise_amplitude"].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert unit_to_controls(unit(noise_amplitude=0.5))["noise_amplitude"].item() == pytest.approx(0.25)
    assert c["body_ratio_1"].tolist() == pytest.approx([1.0, 6.0, 1.0])
    assert c["body_t60_s"].tolist() == pytest.approx([0.02, 2.0, 0.02])


def test_body_alone_is_a_damped_sine_at_f0():
    # closed form: amplitude 1 (unit 1), f0 = 30 * 40^u, t60 = 0.02 * 100^u, strike at sample 0
    u = unit(body_amplitude_0=1.0, body_f0_hz=0.5, body_t60_s=0.5)
    hit = drum_synthesis(unit_to_controls(u), 4000, SR)[0].numpy()
    f0, t60 = math.sqrt(30.0 * 1200.0), math.sqrt(0.02 * 2.0)
    t = np.arange(4000) / SR
    expected = np.exp(-math.log(1000.0) * t / t60) * np.sin(2 * np.pi * f0 * t)
    np.testing.assert_allclose(hit, expected, atol=1e-9)


def test_second_mode_sits_at_its_ratio():
    # bug caught: ratios applied to the wrong mode, or mode 0 not at ratio 1
    u = unit(body_amplitude_1=1.0, body_f0_hz=0.5, body_ratio_1=0.5, body_t60_s=1.0)
    hit = drum_synthesis(unit_to_controls(u), SR, SR)[0].numpy()
    peak_hz = np.argmax(np.abs(np.fft.rfft(hit))) * 1.0
    assert peak_hz == pytest.approx(math.sqrt(30.0 * 1200.0) * 3.5, abs=1.0)


def test_noise_envelope_and_band():
    # noise decays by 60 dB per t60 and sits in its band: compare RMS over time and frequency
    u = unit(noise_amplitude=1.0, noise_t60_s=0.5, noise_low_hz=0.5, noise_high_hz=0.6)
    hit = drum_synthesis(unit_to_controls(u), SR, SR)[0].numpy()
    t60 = math.sqrt(0.01 * 2.0)
    early, late = hit[:1600], hit[1600:3200]
    expected_db = -60.0 * (0.1 / t60)  # the windows' centres are 0.1 s apart
    measured_db = 20 * math.log10(np.sqrt(np.mean(late**2)) / np.sqrt(np.mean(early**2)))
    assert measured_db == pytest.approx(expected_db, abs=2.0)
    low, high = 20.0 * 350.0**0.5, 200.0 * (7900.0 / 200.0) ** 0.6
    power = np.abs(np.fft.rfft(hit)) ** 2
    f = np.fft.rfftfreq(SR, 1 / SR)
    band = (f > low / 2) & (f < high * 2)
    shape = 1 / (1 + (f / high) ** 4) * (f / low) ** 4 / (1 + (f / low) ** 4)  # |H|^2, 2nd-order sections
    assert power[band].sum() / power.sum() == pytest.approx(shape[band].sum() / shape.sum(), abs=0.03)


def test_zero_amplitudes_are_silent():
    u = torch.rand(3, N_CONTROLS, dtype=torch.float64)
    for name in CONTROL_NAMES:
        if "amplitude" in name:
            u[:, CONTROL_NAMES.index(name)] = 0.0
    assert torch.equal(DrumSynth(SR, 500)(u), torch.zeros(3, 500, dtype=torch.float64))


def test_shapes_and_batch_independence():
    u = torch.rand(4, N_CONTROLS, generator=torch.Generator().manual_seed(0))
    out = DrumSynth(SR, 1000)(u)
    assert out.shape == (4, 1000) and out.dtype == torch.float32
    torch.testing.assert_close(DrumSynth(SR, 1000)(u[2:3]), out[2:3], rtol=1e-5, atol=1e-6)


def test_gradcheck_tiny():
    u = (0.1 + 0.8 * torch.rand(1, N_CONTROLS, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: drum_synthesis(unit_to_controls(x), 32, SR), (u,), fast_mode=True)


def test_every_control_gets_a_gradient():
    # bug caught: a control that is computed but never reaches the audio
    u = torch.full((1, N_CONTROLS), 0.6, dtype=torch.float64, requires_grad=True)
    DrumSynth(SR, 2000)(u).square().sum().backward()
    assert (u.grad.abs() > 0).all(), [n for n, g in zip(CONTROL_NAMES, u.grad[0]) if g == 0]


def test_bad_controls_name_the_argument():
    with pytest.raises(ValueError, match="unit"):
        unit_to_controls(torch.zeros(1, N_CONTROLS - 1))
    with pytest.raises(ValueError, match="unit"):
        unit_to_controls(torch.full((1, N_CONTROLS), 1.5))
    with pytest.raises(ValueError, match="n_samples"):
        DrumSynth(SR, 0)
