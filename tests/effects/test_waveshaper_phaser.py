"""``Waveshaper`` and ``Phaser`` processors: equal to the functional ops they wrap, trainable
parameters that learn, the LFO, controls, a ProcessorGroup chain, gradients and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.effects.phaser import Phaser
from torchddsp.effects.waveshaper import Waveshaper
from torchddsp.functional import frequencies_sigmoid
from torchddsp.functional.phaser import phaser
from torchddsp.functional.waveshaping import waveshape
from torchddsp.processors import Node
from torchddsp.processors import ProcessorGroup

SR = 16000


def test_waveshaper_with_controls_equals_the_functional_op_with_gain_and_mix(rng):
    audio = torch.tensor(rng.uniform(-1, 1, (2, 400)))
    drive = torch.tensor(rng.uniform(0, 12, (2, 4, 1)))
    bias = torch.tensor(rng.uniform(-0.2, 0.2, (2, 1)))
    shaper = Waveshaper("soft_clip", oversampling=2, output_gain_db=-6.0, mix=0.75)
    assert shaper.input_names == ("audio", "drive_db", "bias")
    y = shaper(audio, drive, bias)
    shaped = waveshape(audio, "soft_clip", drive, bias, oversampling=2)
    expected = 0.75 * 10 ** (-6 / 20) * shaped + 0.25 * audio
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-7)  # gain and mix buffers are float32
    controls = shaper.controls(audio, drive, bias)
    assert set(controls) == {"audio", "drive_db", "bias", "output_gain_db", "mix"}


def test_chebyshev_waveshaper_takes_coefficients_and_scale_fns(rng):
    audio = torch.tensor(rng.uniform(-1, 1, (2, 100)))
    raw = torch.tensor(rng.standard_normal((2, 5)))
    shaper = Waveshaper("chebyshev", coefficients_scale_fn=torch.tanh, drive_scale_fn=lambda d: 6.0 * d)
    assert shaper.input_names == ("audio", "drive_db", "bias", "coefficients")
    drive, bias = torch.full((2, 1), 0.5, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
    y = shaper(audio, drive, bias, raw)
    expected = waveshape(audio, "chebyshev", 3.0, 0.0, torch.tanh(raw))
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="coefficients is required"):
        shaper(audio, drive, bias)
    with pytest.raises(ValueError, match="only used by curve='chebyshev'"):
        Waveshaper("tanh")(audio, drive, bias, raw)


def test_trainable_chebyshev_waveshaper_starts_as_the_identity_and_learns(rng):
    shaper = Waveshaper("chebyshev", trainable=True, n_terms=5)
    assert shaper.input_names == ("audio",)
    audio = torch.tensor(rng.uniform(-1, 1, (2, 300)), dtype=torch.float32)
    np.testing.assert_allclose(shaper(audio).detach().numpy(), audio.numpy(), atol=1e-6)  # T_1 alone, 0 dB, mix 1
    # Learn a second harmonic: target T_2-shaped audio (DC removed as waveshape does).
    target = waveshape(audio, "chebyshev", coefficients=torch.tensor([[0.0, 1.0, 0.5, 0.0, 0.0]]))
    optimiser = torch.optim.Adam(shaper.parameters(), lr=0.02)
    first = None
    for _ in range(150):
        optimiser.zero_grad()
        loss = (shaper(audio) - target).pow(2).mean()
        loss.backward()
        first = loss.item() if first is None else first
        optimiser.step()
    assert loss.item() < 0.05 * first
    names = {name for name, _ in shaper.named_parameters()}
    assert names == {"drive_db", "bias", "output_gain_db", "mix", "coefficients"}
    with pytest.raises(ValueError, match="must not be given to a trainable Waveshaper"):
        shaper(audio, torch.zeros(2, 1), torch.zeros(2, 1))


@pytest.mark.parametrize("curve", ["tanh", "soft_clip", "hard_clip", "chebyshev"])
def test_trainable_waveshaper_gets_finite_gradients_on_silence(curve):
    shaper = Waveshaper(curve, oversampling=2, trainable=True, bias=0.3)
    silence = torch.zeros(1, 128, requires_grad=True)
    y = shaper(silence)
    assert torch.equal(y, torch.zeros_like(y))
    (y.pow(2).sum() + y.sum()).backward()
    assert torch.isfinite(silence.grad).all()
    for name, parameter in shaper.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_phaser_lfo_follows_its_formula_and_renders_through_the_functional_op(rng):
    module = Phaser(
        SR, n_stages=6, rate_hz=2.0, depth_octaves=1.5, center_hz=700.0, lfo_phase=0.3, feedback=0.4, mix=0.6
    )
    assert module.input_names == ("audio",)
    audio = torch.tensor(rng.standard_normal((2, 1600)))
    controls = module.controls(audio)
    time = np.arange(1600) / SR
    expected_sweep = 700.0 * 2 ** (1.5 * np.sin(2 * np.pi * 2.0 * time + 0.3))
    np.testing.assert_allclose(controls["sweep_hz"][0].numpy(), expected_sweep, rtol=1e-6)
    assert float(controls["feedback"]) == pytest.approx(0.4, abs=1e-6)
    y = module(audio)
    reference = phaser(audio, torch.tensor(expected_sweep)[None], 6, 0.4, 0.6, SR)
    np.testing.assert_allclose(y.numpy(), reference.numpy(), atol=1e-5)


def test_phaser_with_a_frame_rate_sweep_control(rng):
    module = Phaser(SR, sweep="control", n_stages=4, feedback=-0.3, mix=0.5)
    assert module.input_names == ("audio", "sweep_hz")
    audio = torch.tensor(rng.standard_normal((2, 640)))
    sweep = torch.tensor(rng.uniform(200, 4000, (2, 10, 1)))
    np.testing.assert_allclose(module(audio, sweep).numpy(), phaser(audio, sweep, 4, -0.3, 0.5, SR).numpy(), atol=1e-7)
    scaled = Phaser(SR, sweep="control", sweep_scale_fn=frequencies_sigmoid, feedback=0.0)
    raw = torch.tensor(rng.standard_normal((2, 10, 1)))
    np.testing.assert_allclose(
        scaled(audio, raw).numpy(), phaser(audio, frequencies_sigmoid(raw), 4, 0.0, 0.5, SR).numpy(), atol=1e-7
    )
    with pytest.raises(ValueError, match="sweep_hz .* is required"):
        module(audio)
    with pytest.raises(ValueError, match="must not be given to a Phaser with sweep='lfo'"):
        Phaser(SR)(audio, sweep)


def test_trainable_phaser_learns_feedback_and_gets_gradients_everywhere(rng):
    module = Phaser(
        SR, n_stages=4, rate_hz=3.0, center_hz=600.0, depth_octaves=1.0, feedback=0.1, mix=0.5, trainable=True
    )
    names = {name for name, _ in module.named_parameters()}
    assert names == {"raw_feedback", "mix", "rate_hz", "depth_octaves", "log_center_hz"}
    audio = torch.tensor(rng.standard_normal((1, 2000)), dtype=torch.float32)
    module(audio).pow(2).mean().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all() and parameter.grad.abs() > 0, name
    # Fit the feedback of a target phaser (other settings shared): the loss falls.
    target = Phaser(SR, n_stages=4, rate_hz=3.0, center_hz=600.0, depth_octaves=1.0, feedback=0.6, mix=0.5)(audio)
    optimiser = torch.optim.Adam([module.raw_feedback], lr=0.05)
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = (module(audio) - target).pow(2).mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert float(module.feedback.detach()) == pytest.approx(0.6, abs=0.1)


def test_waveshaper_then_phaser_in_a_processor_group(rng):
    shaper = Waveshaper("tanh", oversampling=2)
    phase = Phaser(SR, sweep="control", feedback=0.5)
    group = ProcessorGroup(
        [Node("drive", shaper, ["audio", "drive_db", "bias"]), Node("phaser", phase, ["drive", "sweep_hz"])]
    )
    assert group.input_names == ("audio", "drive_db", "bias", "sweep_hz")
    inputs = {
        "audio": torch.tensor(rng.uniform(-1, 1, (2, 320))),
        "drive_db": torch.full((2, 1), 6.0, dtype=torch.float64),
        "bias": torch.zeros(2, 1, dtype=torch.float64),
        "sweep_hz": torch.tensor(rng.uniform(300, 3000, (2, 5, 1))),
    }
    values = group.run(inputs)
    by_hand = phase(shaper(inputs["audio"], inputs["drive_db"], inputs["bias"]), inputs["sweep_hz"])
    np.testing.assert_allclose(values["phaser"].numpy(), by_hand.numpy(), atol=1e-12)
    assert "phaser/sweep_hz" in values and "drive/drive_db" in values


def _tiny(*shape, low=-1.0, high=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)).requires_grad_()


def test_module_gradcheck():
    shaper = Waveshaper("tanh", oversampling=2, output_gain_db=3.0, mix=0.8).double()
    assert torch.autograd.gradcheck(
        lambda x, d, b: shaper(x, d, b),
        (_tiny(1, 8, seed=1), _tiny(1, 2, 1, low=-3, high=3, seed=2), _tiny(1, 1, low=-0.2, high=0.2, seed=3)),
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
    )
    module = Phaser(SR, sweep="control", n_stages=2, feedback=0.3).double()
    assert torch.autograd.gradcheck(
        lambda x, s: module(x, s),
        (_tiny(1, 8, seed=4), _tiny(1, 2, 1, low=300, high=4000, seed=5)),
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
    )


def test_phaser_gets_finite_gradients_on_silence():
    silence = torch.zeros(1, 256, requires_grad=True)
    module = Phaser(SR, trainable=True)
    y = module(silence)
    (y.pow(2).sum() + y.sum()).backward()
    assert torch.isfinite(silence.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: Waveshaper("fuzz"), "curve must be one of"),
        (lambda: Waveshaper(oversampling=0), "oversampling must be an integer >= 1"),
        (lambda: Waveshaper("chebyshev", trainable=True, n_terms=1), "n_terms must be an integer >= 2"),
        (lambda: Waveshaper(mix=math.nan), "mix must be a finite number"),
        (lambda: Waveshaper()(torch.ones(1, 10)), "drive_db is required"),
        (lambda: Waveshaper()(torch.ones(10), torch.zeros(1, 1), torch.zeros(1, 1)), "audio must have shape"),
        (lambda: Waveshaper()(torch.ones(1, 10), torch.zeros(1), torch.zeros(1, 1)), "drive_db must have shape"),
        (lambda: Phaser(feedback=1.0), r"\|feedback\| < 1"),
        (lambda: Phaser(sweep="random"), "sweep must be one of"),
        (lambda: Phaser(16000, center_hz=3000.0, depth_octaves=2.0), "must stay below Nyquist"),
        (lambda: Phaser(rate_hz=-1.0), "rate_hz and depth_octaves must be finite and >= 0"),
        (lambda: Phaser(n_stages=0), "n_stages must be an integer >= 1"),
        (lambda: Phaser(sweep="control")(torch.ones(1, 10), torch.ones(1, 10) * 500), "sweep_hz must have shape"),
        (lambda: Phaser(sweep="control").lfo(10), "has no LFO"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_streaming_phaser_carries_its_lfo_phase_in_float64():
    # Catches the LFO restarting at lfo_phase in every block, a phase carried in the audio's
    # dtype (float32 drifts over long streams), and a state of the wrong form accepted.
    module = Phaser(SR, rate_hz=3.0, lfo_phase=0.4)
    audio = torch.randn(2, 1000, generator=torch.Generator().manual_seed(0))
    _, (cascade, lfo_phase) = module(audio, return_state=True)
    assert cascade.shape == (2, 5) and lfo_phase.dtype == torch.float64
    expected = (0.4 + 2 * np.pi * 3.0 * 1000 / SR) % (2 * np.pi)  # closed form
    np.testing.assert_allclose(lfo_phase.numpy(), np.full((2, 1), expected), atol=1e-12)
    first, state = module(audio[:, :300], return_state=True)
    second = module(audio[:, 300:], state=state)
    np.testing.assert_allclose(torch.cat([first, second], 1).numpy(), module(audio).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="must be the pair"):
        module(audio, state=cascade)
    with pytest.raises(ValueError, match=r"lfo_phase must have shape \(2, 1\)"):
        module(audio, state=(cascade, torch.zeros(1, 1, dtype=torch.float64)))
