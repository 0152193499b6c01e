"""karplus_strong: tuning, decay and the first trip round the loop against closed forms."""

import math

import numpy as np
import pytest
import torch
from references import to_numpy

from torchddsp.functional import fractional_delay
from torchddsp.functional.controls import Control
from torchddsp.functional.string import karplus_strong
from torchddsp.validation import InputError

SR = 16000


def impulse(n, batch=1):
    x = torch.zeros(batch, n, dtype=torch.float64)
    x[:, 0] = 1.0
    return x


def linear_fraction(delay, omega):
    """Numpy bisection: the rho whose interpolator (1 - rho) + rho z^-1 delays omega by delay."""
    low, high = 0.0, 1.0
    for _ in range(80):
        rho = 0.5 * (low + high)
        phase_delay = math.atan2(rho * math.sin(omega), 1 - rho + rho * math.cos(omega)) / omega
        low, high = (rho, high) if phase_delay < delay else (low, rho)
    return rho


def loop_design(f0, s):
    """(whole, fraction) of the interpolated delay: the period less the loss filter's phase delay."""
    omega = 2 * math.pi * f0 / SR
    loss_delay = math.atan2(s * math.sin(omega), 1 - s + s * math.cos(omega)) / omega
    delay = SR / f0 - loss_delay
    return math.floor(delay), delay - math.floor(delay), omega


def peak_frequency(y, near):
    """Spectral peak near ``near`` Hz (Hann window, 8x zero padding, parabolic interpolation)."""
    n = y.shape[0]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(n), 8 * n))
    freqs = np.fft.rfftfreq(8 * n, 1 / SR)
    i = np.argmax(spectrum * ((freqs > near * 0.97) & (freqs < near * 1.03)))
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (8 * n)


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
@pytest.mark.parametrize("f0", [400.0, 441.3, 261.63])
def test_the_spectrum_peaks_at_f0_and_its_harmonics(interpolation, f0):
    # Bugs caught: the fractional delay off by one sample (30+ cents at 400 Hz), the loss
    # filter's delay left out of the tuning, a Lagrange tap order reversed.
    y = karplus_strong(impulse(1 << 16), f0, SR, loop_gain=0.99995, damping=0.3, interpolation=interpolation)
    cents = [1200 * math.log2(peak_frequency(to_numpy(y[0]), k * f0) / (k * f0)) for k in range(1, 6)]
    assert abs(cents[0]) < 0.1, cents
    assert max(map(abs, cents)) < 2.0, cents


@pytest.mark.parametrize("gain", [0.9, 0.5])
def test_a_whole_period_without_damping_decays_by_exactly_the_loop_gain(gain):
    # Bug caught: the gain applied twice per trip, or the loop one sample long or short.
    y = karplus_strong(impulse(200), 400.0, SR, loop_gain=gain, damping=0.0)[0]
    expected = np.zeros(200)
    expected[::40] = gain ** np.arange(5)
    np.testing.assert_allclose(to_numpy(y), expected, atol=1e-14)


@pytest.mark.parametrize("f0, damping, gain", [(441.3, 0.3, 0.995), (261.63, 0.5, 0.999), (400.0, 0.1, 0.99)])
def test_the_fundamental_decays_at_the_loop_gain_closed_form(f0, damping, gain):
    # The fundamental's amplitude falls by g |H_loss(w0)| |H_interp(w0)| per period (the loop's
    # pole radius), so by f0 ln(that) nepers per second. Bug caught: damping applied to the gain
    # (g (1 - s)) rather than as a filter, or a loss filter that is not unity at 0 Hz.
    n = 16000
    y = to_numpy(karplus_strong(impulse(n), f0, SR, loop_gain=gain, damping=damping)[0])
    _, fraction, omega = loop_design(f0, damping)
    rho = linear_fraction(fraction, omega)
    loss = abs((1 - damping) + damping * np.exp(-1j * omega))
    interpolator = abs((1 - rho) + rho * np.exp(-1j * omega))
    expected = f0 * math.log(gain * loss * interpolator)
    window = int(round(10 * SR / f0))
    baseband = y * np.exp(-2j * np.pi * f0 * np.arange(n) / SR)
    early, late = (abs(baseband[i : i + window].mean()) for i in (2000, 10000))
    measured = math.log(late / early) / (8000 / SR)
    assert measured == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_the_first_trip_round_the_loop_is_the_fractional_delay(interpolation, rng):
    # Independent check against functional.fractional_delay: before the second trip the
    # string's output is x + g * delay(x). Bug caught: the interpolator reading one sample off.
    f0, gain = 293.0, 0.8
    whole, fraction, omega = loop_design(f0, 0.0)
    delay = whole + (linear_fraction(fraction, omega) if interpolation == "linear" else fraction)
    x = torch.zeros(1, 200, dtype=torch.float64)
    x[0, :8] = torch.tensor(rng.uniform(-1, 1, 8))
    y = karplus_strong(x, f0, SR, loop_gain=gain, damping=0.0, interpolation=interpolation)
    expected = x + gain * fractional_delay(x, delay, interpolation)
    first_trip = 2 * (whole - 1)
    np.testing.assert_allclose(y[0, :first_trip].numpy(), expected[0, :first_trip].numpy(), atol=1e-13)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_blocks_with_state_equal_one_call(rng, backend):
    # Bug caught: a state shorter than the loop (the next block reads zeros) or misaligned.
    x = torch.tensor(rng.uniform(-1, 1, (2, 3, 1000)))
    gain = Control.per_sample(torch.tensor(rng.uniform(0.95, 1.0, (6, 1000))))
    f0, damping = torch.tensor([[200.0], [310.5], [999.0], [150.0], [420.0], [88.8]], dtype=torch.float64), 0.4
    whole = karplus_strong(x, f0, SR, loop_gain=gain, damping=damping, interpolation="cubic", backend=backend)
    pieces, state = [], None
    for first, last in ((0, 90), (90, 90), (90, 555), (555, 1000)):
        block_gain = Control.per_sample(gain.value[:, first:last])
        piece, state = karplus_strong(
            x[..., first:last], f0, SR, loop_gain=block_gain, damping=damping, interpolation="cubic",
            state=state, return_state=True, backend=backend,
        )  # fmt: skip
        pieces.append(piece)
    assert state.shape[:2] == (2, 3)
    np.testing.assert_allclose(torch.cat(pieces, -1).numpy(), whole.numpy(), atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_gradcheck_in_float64(rng, interpolation, backend):
    # Bug caught: a wrong adjoint (the backward recursion reading the wrong taps or blocks), the
    # gradient of the state, of the gain or of the damping (through taps and tuning) lost.
    x = torch.tensor(rng.uniform(-1, 1, (2, 40)), requires_grad=True)
    gain = torch.tensor(rng.uniform(0.8, 0.99, (2, 40)), requires_grad=True)
    damping = torch.tensor([[0.2], [0.45]], dtype=torch.float64, requires_grad=True)
    f0 = torch.tensor([[2100.3], [1733.0]], dtype=torch.float64, requires_grad=True)
    state = torch.tensor(rng.uniform(-1, 1, (2, 12)), requires_grad=True)

    def render(x, gain, damping, f0, state):
        loop_gain = Control.per_sample(gain)
        return karplus_strong(
            x, f0, SR, loop_gain=loop_gain, damping=damping, interpolation=interpolation, state=state, backend=backend
        )

    assert torch.autograd.gradcheck(render, (x, gain, damping, f0, state))


def test_bad_arguments_raise_naming_them():
    x = torch.zeros(1, 100)
    with pytest.raises(InputError, match="loop_gain"):
        karplus_strong(x, 200.0, SR, loop_gain=1.01)
    with pytest.raises(InputError, match="damping"):
        karplus_strong(x, 200.0, SR, damping=0.6)
    with pytest.raises(InputError, match="f0_hz"):
        karplus_strong(x, 8000.0, SR)
    with pytest.raises(InputError, match="f0_hz"):
        karplus_strong(x, 7900.0, SR, interpolation="cubic")
    with pytest.raises(InputError, match="f0_hz"):
        karplus_strong(x, torch.full((1, 5, 1), 200.0), SR)
    with pytest.raises(InputError, match="state"):
        karplus_strong(x, 200.0, SR, state=torch.zeros(1, 10))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_loop_equals_the_block_loop_in_values_and_gradients(rng, dtype):
    # Bugs caught in the numba kernel: a tap read one sample off, the adjoint pushed to the
    # wrong sample or before it is final, the state's gradient or the gain's lost. Items with
    # very different loop lengths make the PyTorch path's blocks shorter than most periods.
    leaves = [
        torch.tensor(rng.uniform(-1, 1, (3, 700)), dtype=dtype),
        torch.tensor(rng.uniform(0.9, 1.0, (3, 700)), dtype=dtype),
        torch.tensor([[0.1], [0.3], [0.5]], dtype=dtype),
        torch.tensor(rng.uniform(-1, 1, (3, 300)), dtype=dtype),
    ]
    f0 = torch.tensor([[61.0], [997.3], [3000.0]], dtype=torch.float64)
    weights = torch.tensor(rng.standard_normal((3, 700)), dtype=dtype)
    results = {}
    for backend in ("numba", "torch"):
        x, gain, damping, state = (leaf.clone().requires_grad_(True) for leaf in leaves)
        y, after = karplus_strong(
            x, f0, SR, loop_gain=Control.per_sample(gain), damping=damping, interpolation="cubic", state=state,
            return_state=True, backend=backend,
        )  # fmt: skip
        ((y * weights).sum() + after.sum()).backward()
        results[backend] = [y.detach(), after.detach(), x.grad, gain.grad, damping.grad, state.grad]
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    for got, want in zip(results["numba"], results["torch"]):
        scale = want.abs().max().item() or 1.0
        np.testing.assert_allclose(got.double().numpy() / scale, want.double().numpy() / scale, atol=tolerance)
