import numpy as np
import pytest
import torch

import torchddsp as td
from torchddsp.functional import fractional_delay
from torchddsp.functional import frequency_filter


def test_reverb_with_given_ir_adds_delayed_copies(rng):
    audio = torch.tensor(rng.standard_normal((2, 500)))
    ir = torch.zeros(2, 64, dtype=torch.float64)
    ir[:, 0] = 5.0  # the dry tap is always masked
    ir[:, 10] = 0.5
    y = td.Reverb()(audio, ir)
    expected = audio.clone()
    expected[:, 10:] += 0.5 * audio[:, :-10]
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)
    wet = td.Reverb(add_dry=False)(audio, ir)
    np.testing.assert_allclose(wet.numpy(), (expected - audio).numpy(), atol=1e-12)


def test_trainable_reverb_learns_through_its_ir(rng):
    reverb = td.Reverb(trainable=True, reverb_length=128)
    audio = torch.tensor(rng.standard_normal((2, 300)), dtype=torch.float32, requires_grad=True)
    reverb(audio).pow(2).sum().backward()
    assert reverb.ir.grad.abs().sum() > 0 and reverb.ir.grad[0] == 0
    with pytest.raises(ValueError, match="must not be given"):
        reverb(audio, torch.zeros(1, 128))
    with pytest.raises(ValueError, match="ir is required"):
        td.Reverb()(audio)


def test_exp_decay_reverb_is_deterministic_and_decays():
    reverb = td.ExpDecayReverb(reverb_length=4000, seed=3)
    gain, decay = torch.zeros(1, 1), torch.zeros(1, 1)
    ir = reverb.controls(torch.zeros(1, 10), gain, decay)["ir"]
    again = td.ExpDecayReverb(reverb_length=4000, seed=3).controls(torch.zeros(1, 10), gain, decay)["ir"]
    assert torch.equal(ir, again)
    energy = ir[0].pow(2).numpy()
    assert energy[:400].sum() > 10 * energy[-400:].sum()


def test_filtered_noise_reverb_trains_its_magnitudes(rng):
    reverb = td.FilteredNoiseReverb(trainable=True, reverb_length=2000, n_frames=20, n_filter_banks=9)
    audio = torch.tensor(rng.standard_normal((1, 1000)), dtype=torch.float32)
    reverb(audio).pow(2).sum().backward()
    assert torch.isfinite(reverb.magnitudes.grad).all() and reverb.magnitudes.grad.abs().sum() > 0


def test_fir_filter_module(rng):
    audio = torch.tensor(rng.standard_normal((1, 640)))
    magnitudes = torch.tensor(rng.uniform(0, 1, (1, 10, 33)))
    y = td.FIRFilter(scale_fn=None)(audio, magnitudes)
    np.testing.assert_allclose(y.numpy(), frequency_filter(audio, magnitudes).numpy(), atol=1e-12)
    identity = td.FIRFilter(scale_fn=None)(audio, torch.ones(1, 10, 33, dtype=torch.float64))
    np.testing.assert_allclose(identity.numpy(), audio.numpy(), atol=1e-12)


def test_mod_delay_matches_a_fractional_delay(rng):
    audio = torch.tensor(rng.standard_normal((1, 800)))
    gain = torch.full((1, 4, 1), 0.7, dtype=torch.float64)
    phase = torch.full((1, 4, 1), 0.25, dtype=torch.float64)
    y = td.ModDelay(center_s=0.002, depth_s=0.004, sample_rate=16000, gain_scale_fn=None, phase_scale_fn=None)(
        audio, gain, phase
    )
    delay = torch.full((1, 800), 48.0, dtype=torch.float64)  # (2 ms + 4 ms * 0.25) at 16 kHz
    np.testing.assert_allclose(y.numpy(), (audio + 0.7 * fractional_delay(audio, delay)).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="phase must lie"):
        td.ModDelay(phase_scale_fn=None)(audio, gain, phase + 1)


def test_effects_have_finite_gradients_on_silence():
    silence = torch.zeros(1, 640, requires_grad=True)
    outputs = [
        td.Reverb(trainable=True, reverb_length=64)(silence),
        td.ExpDecayReverb(trainable=True, reverb_length=64)(silence),
        td.FilteredNoiseReverb(trainable=True, reverb_length=64, n_frames=4, n_filter_banks=5)(silence),
        td.FIRFilter()(silence, torch.zeros(1, 10, 17)),
        td.ModDelay()(silence, torch.zeros(1, 10, 1), torch.zeros(1, 10, 1)),
    ]
    sum(o.pow(2).sum() + o.sum() for o in outputs).backward()
    assert torch.isfinite(silence.grad).all()
