"""``phaser`` and ``allpass_cascade``: a numpy per-sample loop (feedback, time-varying and
per-stage coefficients, initial state), the closed-form transfer function (scipy), unit
magnitude and the expected phase of the cascade, notches where its phase is an odd multiple
of pi, chunking with carried state, batches, frame-rate sweeps, backends, boundedness under
sweeps, gradients to second order and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import upsample
from torchddsp.functional.phaser import allpass_cascade
from torchddsp.functional.phaser import allpass_coefficient
from torchddsp.functional.phaser import phaser

SR = 16000.0


def loop_reference(x, a, feedback, mix, zi=None):
    """The definition, one sample and one stage at a time (transposed direct form II stages).

    ``x`` (batch, n); ``a`` (batch, n, n_stages); ``feedback``, ``mix`` (batch, n); ``zi``
    (batch, n_stages + 1): stage memories then the last cascade output.
    """
    batch, n = x.shape
    n_stages = a.shape[-1]
    out = np.zeros_like(x)
    final = np.zeros((batch, n_stages + 1))
    for b in range(batch):
        memory = np.zeros(n_stages) if zi is None else zi[b, :n_stages].copy()
        last = 0.0 if zi is None else zi[b, n_stages]
        for i in range(n):
            v = x[b, i] + feedback[b, i] * last
            for k in range(n_stages):
                y = a[b, i, k] * v + memory[k]
                memory[k] = v - a[b, i, k] * y
                v = y
            last = v
            out[b, i] = (1 - mix[b, i]) * x[b, i] + mix[b, i] * last
        final[b] = np.concatenate([memory, [last]])
    return out, final


def numpy_coefficient(f):
    t = np.tan(np.pi * f / SR)
    return (t - 1) / (t + 1)


def test_matches_a_per_sample_loop_with_feedback_and_time_varying_coefficients(rng):
    batch, n, n_stages = 3, 700, 4
    x = rng.standard_normal((batch, n))
    sweep = 100 * 2 ** (6 * rng.random((batch, n)))  # 100 Hz .. 6.4 kHz, jumping every sample
    feedback = rng.uniform(-0.9, 0.9, (batch, n))
    mix = rng.uniform(0, 1, (batch, n))
    zi = rng.standard_normal((batch, n_stages + 1))
    y, state = phaser(
        torch.tensor(x),
        torch.tensor(sweep),
        n_stages,
        torch.tensor(feedback),
        torch.tensor(mix),
        SR,
        state=torch.tensor(zi),
        return_state=True,
    )
    a = np.repeat(numpy_coefficient(sweep)[..., None], n_stages, -1)
    expected, final = loop_reference(x, a, feedback, mix, zi)
    assert np.abs(y.numpy() - expected).max() < 1e-10
    assert np.abs(state.numpy() - final).max() < 1e-10


def test_per_stage_frame_rate_coefficients_match_the_loop(rng):
    n, n_stages = 400, 3
    x = rng.standard_normal((2, n))
    frames = rng.uniform(-0.9, 0.9, (2, 5, n_stages))
    y = phaser(torch.tensor(x), torch.tensor(frames), n_stages, 0.6, 0.7, sweep_unit="coefficient")
    a = upsample(torch.tensor(frames), n, "linear").numpy()
    expected, _ = loop_reference(x, a, np.full((2, n), 0.6), np.full((2, n), 0.7))
    assert np.abs(y.numpy() - expected).max() < 1e-10


@pytest.mark.parametrize("n_stages", [1, 2, 4, 7])
def test_cascade_is_all_pass_with_the_expected_phase(n_stages):
    n = 4096
    impulse = torch.zeros(1, n, dtype=torch.float64)
    impulse[0, 0] = 1.0
    break_hz = 2000.0  # bin 512
    a = float(allpass_coefficient(torch.tensor(break_hz, dtype=torch.float64), SR))
    assert a == pytest.approx(numpy_coefficient(break_hz), abs=1e-15)
    response = np.fft.rfft(allpass_cascade(impulse, a, n_stages)[0].numpy())
    w = 2 * np.pi * np.arange(n // 2 + 1) / n
    phase = n_stages * (-w + 2 * np.arctan2(a * np.sin(w), 1 + a * np.cos(w)))
    assert np.abs(np.abs(response) - 1).max() < 1e-10  # unit magnitude at every frequency
    assert np.abs(response - np.exp(1j * phase)).max() < 1e-10  # and this phase
    assert np.angle(response[512] * np.exp(1j * n_stages * np.pi / 2)) == pytest.approx(0.0, abs=1e-10)  # -K pi/2


@pytest.mark.parametrize("feedback,mix", [(0.0, 0.5), (0.7, 0.5), (-0.85, 0.3), (0.5, 1.0)])
def test_fixed_settings_equal_the_closed_form_transfer_function(feedback, mix, rng):
    n_stages, a = 4, numpy_coefficient(900.0)
    x = rng.standard_normal((2, 3000))
    numerator = np.polynomial.polynomial.polypow([a, 1.0], n_stages)  # (a + z^-1)^K
    denominator = np.polynomial.polynomial.polypow([1.0, a], n_stages)  # (1 + a z^-1)^K
    loop = denominator - feedback * np.concatenate([[0.0], numerator])[: n_stages + 1]  # D - fb z^-1 N
    loop = np.concatenate([loop, [-feedback * numerator[-1]]])
    b = (1 - mix) * loop + mix * np.concatenate([numerator, [0.0]])
    expected = scipy.signal.lfilter(b, loop, x, axis=-1)
    y = phaser(torch.tensor(x), 900.0, n_stages, feedback, mix, SR)
    assert np.abs(y.numpy() - expected).max() < 1e-10


def test_notches_sit_where_the_cascade_phase_is_an_odd_multiple_of_pi():
    # Each stage's phase is -2 atan(tan(w/2) / tan(w_b/2)); four stages reach -pi and -3 pi
    # where one reaches -pi/4 and -3pi/4. With mix 0.5 and no feedback, (1 + H^4) / 2 is 0 there.
    break_hz, n_stages, n = 1500.0, 4, 4000
    impulse = torch.zeros(1, n, dtype=torch.float64)
    impulse[0, 0] = 1.0
    h = phaser(impulse, break_hz, n_stages, 0.0, 0.5, SR)[0].numpy()
    t = math.tan(math.pi * break_hz / SR)

    def gain(f):
        return abs(np.sum(h * np.exp(-2j * np.pi * f / SR * np.arange(n))))

    notches = [SR / math.pi * math.atan(t * math.tan(p)) for p in (math.pi / 8, 3 * math.pi / 8)]
    assert notches[0] < break_hz < notches[1]
    for f in notches:
        assert gain(f) < 1e-10
        assert gain(f * 1.05) > 1e-2
    assert gain(break_hz) == pytest.approx(1.0, abs=1e-10)  # phase -2 pi: full gain between the notches
    # Feedback moves energy but keeps the structure: the notch deepens to a zero only without it.
    with_feedback = phaser(impulse, break_hz, n_stages, 0.6, 0.5, SR)[0].numpy()
    assert np.abs(with_feedback - h).max() > 1e-2


def test_chunked_with_carried_state_equals_one_call(rng):
    n, n_stages = 900, 6
    x = torch.tensor(rng.standard_normal((2, n)))
    sweep = torch.tensor(300 * 2 ** (3 * np.sin(np.linspace(0, 7, n)))[None].repeat(2, 0))
    feedback = torch.tensor(rng.uniform(-0.8, 0.8, (2, n)))
    mix = torch.tensor(rng.uniform(0.2, 0.8, (2, n)))
    whole, final = phaser(x, sweep, n_stages, feedback, mix, SR, return_state=True)
    state, pieces = None, []
    for start, stop in ((0, 1), (1, 250), (250, 251), (251, 900)):
        piece, state = phaser(
            x[:, start:stop],
            sweep[:, start:stop],
            n_stages,
            feedback[:, start:stop],
            mix[:, start:stop],
            SR,
            state=state,
            return_state=True,
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), whole.numpy(), atol=1e-12)
    np.testing.assert_allclose(state.numpy(), final.numpy(), atol=1e-12)


def test_batch_equals_per_item(rng):
    x = torch.tensor(rng.standard_normal((3, 320)))
    sweep = torch.tensor(rng.uniform(200, 5000, (3, 5, 1)))
    feedback = torch.tensor(rng.uniform(-0.9, 0.9, (3, 1)))
    mix = torch.tensor(rng.uniform(0, 1, (3, 5, 1)))
    batched = phaser(x, sweep, 4, feedback, mix, SR)
    for i in range(3):
        item = phaser(x[i : i + 1], sweep[i : i + 1], 4, feedback[i : i + 1], mix[i : i + 1], SR)
        np.testing.assert_allclose(batched[i : i + 1].numpy(), item.numpy(), atol=1e-12)


def test_frame_rate_sweep_equals_its_upsampled_form_and_units_agree(rng):
    x = torch.tensor(rng.standard_normal((2, 300)))
    frames = torch.tensor(rng.uniform(200, 5000, (2, 6, 1)))
    per_sample = upsample(frames, 300, "linear")[..., 0]
    by_frames = phaser(x, frames, 4, 0.5, 0.5, SR)
    np.testing.assert_allclose(by_frames.numpy(), phaser(x, per_sample, 4, 0.5, 0.5, SR).numpy(), atol=1e-13)
    coefficient = allpass_coefficient(per_sample, SR)
    np.testing.assert_allclose(
        phaser(x, coefficient, 4, 0.5, 0.5, sweep_unit="coefficient").numpy(), by_frames.numpy(), atol=1e-13
    )
    wet = allpass_cascade(x, coefficient, 4, 0.5)
    np.testing.assert_allclose(phaser(x, per_sample, 4, 0.5, 1.0, SR).numpy(), wet.numpy(), atol=1e-13)
    np.testing.assert_allclose(phaser(x, per_sample, 4, 0.5, 0.0, SR).numpy(), x.numpy(), atol=0)  # dry


@pytest.mark.parametrize("backend", ["auto", "numba", "torch"])
def test_backends_agree(backend, rng):
    x = torch.tensor(rng.standard_normal((2, 200)))
    sweep = torch.tensor(rng.uniform(200, 5000, (2, 200)))
    reference = phaser(x, sweep, 3, 0.7, 0.5, SR, backend="numba")
    np.testing.assert_allclose(
        phaser(x, sweep, 3, 0.7, 0.5, SR, backend=backend).numpy(), reference.numpy(), atol=1e-11
    )


def test_stays_bounded_under_fast_wide_sweeps_with_strong_feedback():
    generator = torch.Generator().manual_seed(0)
    n = 64000
    x = torch.randn(1, n, generator=generator, dtype=torch.float64)
    time = torch.arange(n, dtype=torch.float64) / SR
    for rate_hz in (0.5, 50.0):
        sweep = (50 * 2 ** (7 * (0.5 + 0.5 * torch.sin(2 * math.pi * rate_hz * time))))[None]  # 50 Hz .. 6.4 kHz
        for feedback in (0.9, -0.9):
            y = phaser(x, sweep, 8, feedback, 1.0, SR)
            # Fixed settings would give at most 1 / (1 - |feedback|) = 10 times the input's level.
            assert y.abs().max() < 10 * x.abs().max()
            assert y[:, -n // 4 :].abs().max() < 2 * y[:, : n // 4].abs().max()  # no slow growth


def _tiny(*shape, low=-1.0, high=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)).requires_grad_()


def test_gradcheck_and_gradgradcheck_every_argument():
    n_stages = 3
    inputs = (
        _tiny(2, 8, seed=1),
        _tiny(2, 8, low=300, high=5000, seed=2),
        _tiny(2, 1, low=-0.6, high=0.6, seed=3),
        _tiny(2, 1, low=0, high=1, seed=4),
        _tiny(2, n_stages + 1, seed=5),
    )

    def fn(x, sweep, feedback, mix, zi):
        y, state = phaser(x, sweep, n_stages, feedback, mix, SR, state=zi, return_state=True)
        return y, state

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_per_sample_feedback_and_per_stage_coefficients():
    inputs = (
        _tiny(1, 7, seed=6),
        _tiny(1, 3, 2, low=-0.8, high=0.8, seed=7),
        _tiny(1, 7, low=-0.7, high=0.7, seed=8),
        _tiny(1, 2, 1, low=0, high=1, seed=9),
    )
    fn = lambda x, a, fb, m: phaser(x, a, 2, fb, m, sweep_unit="coefficient")  # noqa: E731
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)
    fixed = lambda x, a, fb: allpass_cascade(x, a, 3, fb)  # noqa: E731
    inputs = (_tiny(2, 6, seed=10), _tiny(1, 1, low=-0.5, high=0.5, seed=11), _tiny(1, 1, low=-0.5, high=0.5, seed=12))
    assert torch.autograd.gradgradcheck(fixed, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_finite_gradients_on_silence():
    x = torch.zeros(2, 256, dtype=torch.float64, requires_grad=True)
    sweep = torch.full((2, 4, 1), 1000.0, dtype=torch.float64, requires_grad=True)
    feedback = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    mix = torch.full((2, 1), 0.5, dtype=torch.float64, requires_grad=True)
    y = phaser(x, sweep, 4, feedback, mix, SR)
    assert torch.equal(y, torch.zeros_like(y))
    (y.pow(2).sum() + y.sum()).backward()
    for tensor in (x, sweep, feedback, mix):
        assert torch.isfinite(tensor.grad).all()
    assert x.grad.abs().sum() > 0


def test_inputs_are_not_written_in_place(rng):
    tensors = [
        torch.tensor(rng.standard_normal((2, 40))),
        torch.tensor(rng.uniform(200, 4000, (2, 40))),
        torch.full((2, 1), 0.3, dtype=torch.float64),
        torch.full((2, 40), 0.5, dtype=torch.float64),
        torch.tensor(rng.standard_normal((2, 5))),
    ]
    copies = [t.clone() for t in tensors]
    x, sweep, feedback, mix, zi = tensors
    phaser(x, sweep, 4, feedback, mix, SR, state=zi)
    assert all(torch.equal(a, b) for a, b in zip(tensors, copies))


x10 = lambda: torch.ones(2, 10)  # noqa: E731


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: phaser(torch.tensor(1.0), 1000.0), r"x must have shape \(\.\.\., n_samples\)"),
        (lambda: phaser(torch.full((2, 10), float("nan")), 1000.0), "x must be finite"),
        (lambda: phaser(x10(), 1000.0, feedback=1.0), r"\|feedback\| < 1"),
        (lambda: phaser(x10(), 1000.0, feedback=torch.tensor([[0.5], [-1.2]])), r"\|feedback\| < 1"),
        (lambda: allpass_cascade(x10(), 0.3, feedback=-1.0), r"\|feedback\| < 1"),
        (lambda: phaser(x10(), 8000.0, sample_rate=16000), "sweep must lie strictly between 0 and Nyquist"),
        (lambda: phaser(x10(), torch.zeros(2, 10)), "sweep must lie strictly between 0 and Nyquist"),
        (lambda: phaser(x10(), 1.0, sweep_unit="coefficient"), "coefficient must lie strictly between -1 and 1"),
        (lambda: phaser(x10(), 1000.0, sweep_unit="octaves"), "sweep_unit must be one of"),
        (lambda: phaser(x10(), torch.full((2, 10), float("nan"))), "sweep must be finite"),
        (lambda: phaser(x10(), torch.ones(2, 7) * 1000), "sweep per sample must hold 10 samples"),
        (
            lambda: phaser(x10(), torch.ones(2, 3, 2) * 1000, n_stages=4),
            r"sweep must have batch 1 or 2 .* 1 or 4 channels, found shape \(2, 3, 2\)",
        ),
        (lambda: phaser(x10(), torch.ones(2, 3, 1, 1) * 1000), "sweep must be a number"),
        (lambda: phaser(x10(), 1000.0, mix=torch.ones(3, 1)), r"mix must have batch 1 or 2 \(that of the input\)"),
        (lambda: phaser(x10(), 1000.0, n_stages=0), "n_stages must be an integer >= 1"),
        (lambda: phaser(x10(), 1000.0, n_stages=4, state=torch.zeros(2, 4)), r"state must have shape \(2, 5\)"),
        (lambda: phaser(x10(), 1000.0, sample_rate=0), "sample_rate must be a positive"),
        (lambda: allpass_coefficient(torch.tensor([0.0]), 16000), "break_hz must lie strictly between"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
