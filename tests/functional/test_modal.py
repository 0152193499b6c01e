"""modal_synthesis: damped sinusoids against their closed forms (float64 numpy)."""

import math

import numpy as np
import pytest
import torch
from references import to_numpy

from torchddsp.functional.controls import Control
from torchddsp.functional.modal import modal_synthesis
from torchddsp.validation import InputError

SR = 16000


def per_item(values):
    return Control.per_item(torch.tensor(values, dtype=torch.float64))


def test_one_mode_is_a_exp_minus_t_over_tau_sin_2_pi_f_t_plus_phi():
    # Bugs caught: the decay exponent's sign (a growing mode), tau taken as t60, the time axis
    # off by one sample (the first sample must be the strike, t = 0), the phase offset dropped.
    f, amplitude, tau, phi, n = 523.25, 0.7, 0.05, 0.3, 2000
    y = modal_synthesis(
        per_item([[f]]), per_item([[amplitude]]), n, SR, decay_rate=per_item([[1 / tau]]), phases=per_item([[phi]])
    )
    t = np.arange(n) / SR
    np.testing.assert_allclose(
        to_numpy(y[0]), amplitude * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + phi), atol=1e-12
    )


def test_t60_is_where_a_mode_has_fallen_by_60_db():
    # Bug caught: T60 converted with the wrong logarithm (ln 60, log10 1000) or as tau itself.
    t60, n = 0.25, 8000
    y = modal_synthesis(per_item([[1000.0]]), 1.0, n, SR, t60_s=per_item([[t60]]), phases=math.pi / 2)
    t = np.arange(n) / SR
    np.testing.assert_allclose(
        to_numpy(y[0]), np.exp(-t * math.log(1000) / t60) * np.cos(2 * np.pi * 1000 * t), atol=1e-12
    )
    at_t60 = int(t60 * SR)  # 1000 Hz at 16 kHz: sample 4000 is a crest of the cosine
    assert abs(20 * math.log10(abs(y[0, at_t60].item())) + 60.0) < 1e-9


def test_several_modes_sum_and_a_mode_above_nyquist_is_silent(rng):
    # Bug caught: amplitudes paired with the wrong mode, or no Nyquist mask (9 kHz aliases).
    f = [220.0, 1375.5, 9000.0]
    a = [1.0, 0.5, 3.0]
    rates = [3.0, 30.0, 1.0]
    y = modal_synthesis(per_item([f]), per_item([a]), 1000, SR, decay_rate=per_item([rates]))
    t = np.arange(1000) / SR
    expected = sum(a[i] * np.exp(-rates[i] * t) * np.sin(2 * np.pi * f[i] * t) for i in range(2))
    np.testing.assert_allclose(to_numpy(y[0]), expected, atol=1e-12)


@pytest.mark.parametrize("constant_decay", [False, True])
def test_frame_rate_controls_integrate_frequency_and_decay(rng, constant_decay):
    # Bug caught: a time-varying frequency used as f(t) * t (a chirp at twice the sweep rate)
    # instead of its running sum, the decay likewise, or either running sum one step ahead.
    n, n_frames = 1200, 7
    f = rng.uniform(200, 2000, (1, n_frames, 2))
    rates = rng.uniform(1, 40, (1, 1 if constant_decay else n_frames, 2))
    y = modal_synthesis(
        torch.tensor(f), torch.ones(1, 1, 2, dtype=torch.float64), n, SR, decay_rate=torch.tensor(rates)
    )
    position = np.arange(n) * n_frames / n
    f_n = np.stack([np.interp(position, np.arange(n_frames), f[0, :, i]) for i in range(2)], 1)
    r_n = np.stack([np.interp(position, np.arange(rates.shape[1]), rates[0, :, i]) for i in range(2)], 1)
    phase = 2 * np.pi * (np.cumsum(f_n, 0) - f_n) / SR
    envelope = np.exp(-(np.cumsum(r_n, 0) - r_n) / SR)
    np.testing.assert_allclose(to_numpy(y[0]), (envelope * np.sin(phase)).sum(-1), atol=1e-10)


@pytest.mark.parametrize("varying", [False, True])
def test_blocks_with_state_equal_one_call(rng, varying):
    # Bug caught: a block restarting the strike (envelope back to 1, phase to 0) or the state
    # one sample late.
    n = 900
    if varying:
        f = Control.per_sample(torch.tensor(rng.uniform(300, 3000, (2, n, 3))))
        rates = Control.per_sample(torch.tensor(rng.uniform(1, 50, (2, n, 3))))
    else:
        f, rates = per_item(rng.uniform(300, 3000, (2, 3))), per_item(rng.uniform(1, 50, (2, 3)))
    a, phi = per_item(rng.uniform(0, 1, (2, 3))), per_item(rng.uniform(0, 6, (2, 3)))
    whole = modal_synthesis(f, a, n, SR, decay_rate=rates, phases=phi)
    pieces, state = [], None
    for first, last in ((0, 250), (250, 250), (250, 700), (700, n)):
        if varying:
            block_f = Control.per_sample(f.value[:, first:last])
            block_r = Control.per_sample(rates.value[:, first:last])
        else:
            block_f, block_r = f, rates
        piece, state = modal_synthesis(
            block_f, a, last - first, SR, decay_rate=block_r, phases=phi, state=state, return_state=True
        )
        pieces.append(piece)
    assert state.shape == (2, 3, 2)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), whole.numpy(), atol=1e-12)


def test_gradcheck_in_float64(rng):
    # Bug caught: a detached float64 cast cutting the gradient of a frequency, decay or phase.
    def leaf(shape, low, high):
        return torch.tensor(rng.uniform(low, high, shape), requires_grad=True)

    f, a, t60, phi = (
        leaf((1, 3, 2), 200, 3000),
        leaf((1, 3, 2), 0.5, 1),
        leaf((1, 3, 2), 0.005, 0.02),
        leaf((1, 1, 2), 0, 3),
    )

    def render(f, a, t60, phi):
        return modal_synthesis(f, a, 40, SR, t60_s=t60, phases=phi)

    assert torch.autograd.gradcheck(render, (f, a, t60, phi))


def test_gradcheck_of_a_strike_in_float64(rng):
    # Constant controls take the blocked matrix-product path: its gradients w.r.t. frequency,
    # amplitude, decay, phase and the state (through the complex powers) must be exact.
    f = torch.tensor(rng.uniform(200, 3000, (2, 3)), requires_grad=True)
    a, rate = (
        torch.tensor(rng.uniform(0.5, 1, (2, 3)), requires_grad=True),
        torch.tensor(rng.uniform(5, 90, (2, 3)), requires_grad=True),
    )
    phi, state = (
        torch.tensor(rng.uniform(0, 3, (2, 3)), requires_grad=True),
        torch.tensor(rng.uniform(-1, 0, (2, 3, 2)), requires_grad=True),
    )

    def render(f, a, rate, phi, state):
        controls = [Control.per_item(v) for v in (f, a, rate, phi)]
        y, after = modal_synthesis(
            controls[0], controls[1], 45, SR, decay_rate=controls[2], phases=controls[3], state=state, return_state=True
        )
        return y, after

    assert torch.autograd.gradcheck(render, (f, a, rate, phi, state))


def test_bad_decays_raise_naming_the_argument():
    f = per_item([[440.0]])
    with pytest.raises(InputError, match="t60_s"):
        modal_synthesis(f, 1.0, 10, SR, t60_s=0.0)
    with pytest.raises(InputError, match="decay_rate"):
        modal_synthesis(f, 1.0, 10, SR, decay_rate=-1.0)
    with pytest.raises(InputError, match="t60_s and decay_rate"):
        modal_synthesis(f, 1.0, 10, SR, t60_s=1.0, decay_rate=1.0)
    with pytest.raises(InputError, match="state"):
        modal_synthesis(f, 1.0, 10, SR, t60_s=1.0, state=torch.zeros(1, 2, 2))
