"""Band-limited oscillators: the fused kernel against the PyTorch path (values and gradients),
gradcheck, no aliasing (spectra against the harmonic series, tables against Nyquist), the
waveforms' shapes and phase convention, seeded noise, batch independence and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.functional import counter_noise
from torchddsp.functional.bandlimited import BANDLIMITED_WAVEFORMS
from torchddsp.functional.bandlimited import _tables_numpy
from torchddsp.functional.bandlimited import bandlimited_oscillator

SR = 44100.0


def controls(batch=3, frames=12, channels=2, seed=0, low=50.0, high=3000.0):
    g = torch.Generator().manual_seed(seed)
    f = low + (high - low) * torch.rand(batch, frames, channels, generator=g, dtype=torch.float64)
    a = torch.rand(batch, frames, channels, generator=g, dtype=torch.float64)
    return f, a, g


@pytest.mark.parametrize("waveforms", [("sine",), ("square", "saw"), ("triangle",), BANDLIMITED_WAVEFORMS])
def test_kernel_equals_the_pytorch_path_in_values_and_gradients(waveforms):
    f, a, g = controls()
    mix = torch.rand(3, 2, len(waveforms), generator=g, dtype=torch.float64)
    phase = 6 * torch.rand(3, 2, generator=g, dtype=torch.float64) - 3
    noise = torch.rand(3, 12, 1, generator=g, dtype=torch.float64)
    seeds = torch.tensor([5, -7, 123456789012], dtype=torch.int64)
    inputs = [t.clone().requires_grad_() for t in (f, a, mix, phase, noise)]
    weight = torch.linspace(-1, 1, 12 * 10, dtype=torch.float64)
    results = {}
    for backend in ("numba", "torch"):
        y = bandlimited_oscillator(
            inputs[0],
            inputs[1],
            120,
            16000.0,
            waveforms,
            inputs[2],
            state=inputs[3],
            noise_amplitude=inputs[4],
            noise_seeds=seeds,
            backend=backend,
        )
        results[backend] = (y.detach(), torch.autograd.grad((y * weight).sum(), inputs))
    np.testing.assert_allclose(results["numba"][0].numpy(), results["torch"][0].numpy(), atol=1e-12)
    for ours, reference in zip(results["numba"][1], results["torch"][1]):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-10 * max(1.0, float(reference.abs().max())))


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck(backend, seed):
    # Linear table interpolation has kinks at the table points; a small step keeps the finite
    # differences off them.
    f, a, g = controls(batch=2, frames=4, channels=1, seed=seed)
    mix = torch.rand(2, 1, 2, generator=g, dtype=torch.float64)
    phase = torch.rand(2, 1, generator=g, dtype=torch.float64)
    noise = torch.rand(2, 4, 1, generator=g, dtype=torch.float64)
    seeds = torch.tensor([1, 2])

    def fn(f, a, mix, phase, noise):
        return bandlimited_oscillator(
            f,
            a,
            20,
            16000.0,
            ("square", "saw"),
            mix,
            state=phase,
            noise_amplitude=noise,
            noise_seeds=seeds,
            backend=backend,
        )

    inputs = tuple(t.clone().requires_grad_() for t in (f, a, mix, phase, noise))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-8, atol=1e-5, rtol=1e-4)


def harmonic_mask(freqs, f0, nyquist, width=4.0):
    mask = freqs <= width
    for k in range(1, int(nyquist / f0) + 1):
        mask |= np.abs(freqs - k * f0) <= width
    return mask


@pytest.mark.parametrize("waveform", ["saw", "square", "triangle"])
@pytest.mark.parametrize("f0", [110.0, 1234.0, 5000.0, 9000.0])
def test_no_aliasing_energy_off_the_harmonic_series(waveform, f0):
    n = int(SR)
    y = bandlimited_oscillator(
        torch.full((1, 441, 1), f0, dtype=torch.float64), torch.ones(1, 441, 1, dtype=torch.float64), n, SR, (waveform,)
    )[0].numpy()
    spectrum = np.abs(np.fft.rfft(y * np.blackman(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SR)
    off = spectrum[~harmonic_mask(freqs, f0, SR / 2)].sum() / spectrum.sum()
    assert 10 * np.log10(off) < -75
    # A naive (non-band-limited) waveform of the same pitch aliases far above that.
    turns = np.cumsum(np.full(n, f0 / SR)) % 1.0
    naive = 2 * turns - 1
    naive_spectrum = np.abs(np.fft.rfft(naive * np.blackman(n))) ** 2
    naive_off = naive_spectrum[~harmonic_mask(freqs, f0, SR / 2)].sum() / naive_spectrum.sum()
    assert 10 * np.log10(naive_off) > -60


def test_no_table_holds_a_partial_at_or_above_nyquist_anywhere_in_its_band():
    sample_rate, size, per_octave, min_hz = 16000.0, 1024, 6, 8.0
    tables = _tables_numpy(("saw",), sample_rate, size, per_octave, min_hz)[0]
    for j in range(tables.shape[0] - 1):
        spectrum = np.abs(np.fft.rfft(tables[j, :size]))
        present = np.nonzero(spectrum > 1e-9 * max(spectrum.max(), 1e-300))[0]
        if present.size:
            # Band j serves hops whose highest frequency is below the top of band j + 1's start;
            # its table is also read (crossfaded) for band j - 1. Its partials stay below Nyquist.
            top = min_hz * 2 ** ((j + 1) / per_octave)
            assert present.max() * top < sample_rate / 2


def test_silent_at_and_above_nyquist_and_at_zero_frequency():
    for frequency in (SR / 2, 30000.0, -25000.0):
        y = bandlimited_oscillator(torch.full((1, 4, 1), frequency), torch.ones(1, 4, 1), 400, SR, ("saw", "square"))
        assert float(y.abs().max()) == 0.0
    dc = bandlimited_oscillator(torch.zeros(1, 4, 1), torch.ones(1, 4, 1), 400, SR, ("sine",))
    assert float(dc.abs().max()) < 1e-6


def test_sine_follows_the_library_phase_convention(rng):
    frames = torch.from_numpy(rng.uniform(100, 2000, (2, 20, 1)))
    phase = torch.from_numpy(rng.uniform(-3, 3, (2, 1)))
    y = bandlimited_oscillator(frames, torch.ones(2, 20, 1, dtype=torch.float64), 2000, SR, ("sine",), state=phase)
    from torchddsp.functional import upsample

    f = upsample(frames, 2000, "linear")[..., 0].numpy()
    expected = np.sin(phase.numpy() + 2 * np.pi * np.cumsum(f, axis=1) / SR)
    np.testing.assert_allclose(y.numpy(), expected, atol=2e-6)


@pytest.mark.parametrize(
    "waveform,ideal",
    [
        ("saw", lambda t: 2 * ((t + 0.5) % 1.0) - 1),
        ("square", lambda t: np.where(t % 1.0 < 0.5, 1.0, -1.0)),
        ("triangle", lambda t: 2 * np.abs(2 * ((t - 0.25) % 1.0) - 1) - 1),
    ],
)
def test_low_notes_approach_the_ideal_waveform(waveform, ideal):
    n = 44100
    y = bandlimited_oscillator(
        torch.full((1, 441, 1), 50.0, dtype=torch.float64),
        torch.ones(1, 441, 1, dtype=torch.float64),
        n,
        SR,
        (waveform,),
    )[0].numpy()
    t = np.arange(1, n + 1) * 50.0 / SR
    # Away from the discontinuities (Gibbs ripples), the band-limited wave is the ideal one.
    distance_to_edge = np.minimum(np.abs(t % 0.5), 0.5 - np.abs(t % 0.5))
    keep = distance_to_edge > 0.02
    assert np.abs(y[keep] - ideal(t)[keep]).max() < 0.05
    assert np.sqrt(np.mean((y - ideal(t)) ** 2)) < 0.1


def test_noise_is_the_counter_noise_and_batch_composition_does_not_matter():
    seeds = torch.tensor([11, 22, 33])
    level = torch.ones(3, 5, 1)
    silent = torch.zeros(3, 5, 1)
    y = bandlimited_oscillator(
        torch.full((3, 5, 1), 440.0), silent, 500, SR, ("sine",), noise_amplitude=level, noise_seeds=seeds
    )
    np.testing.assert_allclose(y.numpy(), counter_noise(seeds, 500).numpy(), atol=1e-7)
    f, a, _ = controls(batch=3, frames=5, channels=2)
    both = bandlimited_oscillator(f, a, 500, SR, ("saw",), noise_amplitude=level.double(), noise_seeds=seeds)
    alone = bandlimited_oscillator(
        f[1:2], a[1:2], 500, SR, ("saw",), noise_amplitude=level[1:2].double(), noise_seeds=seeds[1:2]
    )
    np.testing.assert_allclose(both[1:2].numpy(), alone.numpy(), atol=1e-13)


def test_bad_input_is_an_error():
    f, a = torch.ones(1, 4, 1), torch.ones(1, 4, 1)
    with pytest.raises(ValueError, match="waveforms must be one of"):
        bandlimited_oscillator(f, a, 40, SR, ("pulse",))
    with pytest.raises(ValueError, match="same shape"):
        bandlimited_oscillator(f, torch.ones(1, 5, 1), 40, SR)
    with pytest.raises(ValueError, match="n_samples must be a multiple"):
        bandlimited_oscillator(f, a, 41, SR)
    with pytest.raises(ValueError, match="mix must have shape"):
        bandlimited_oscillator(f, a, 40, SR, ("saw",), torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="noise_seeds must be"):
        bandlimited_oscillator(f, a, 40, SR, noise_amplitude=torch.ones(1, 4, 1))
    with pytest.raises(ValueError, match="frequency_hz must be finite"):
        bandlimited_oscillator(torch.full((1, 4, 1), math.nan), a, 40, SR)
