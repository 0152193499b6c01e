"""``state_variable_filter``: equal to the cookbook biquads (scipy) for fixed settings, a
contraction (hence stable) for every setting, bounded under random modulation where a swept
direct-form biquad blows up, time-varying against a per-sample loop, chunking, frame-rate
controls and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import biquad
from torchddsp.functional import sosfilt
from torchddsp.functional import state_variable_filter

SR = 16000.0
COOKBOOK_KIND = {
    "lowpass": "lowpass",
    "highpass": "highpass",
    "bandpass": "bandpass",
    "notch": "notch",
    "allpass": "allpass",
}


@pytest.mark.parametrize("mode", sorted(COOKBOOK_KIND))
@pytest.mark.parametrize("cutoff_hz,q", [(60.0, 0.5), (1000.0, 0.7071), (3000.0, 5.0), (7900.0, 30.0)])
def test_fixed_settings_equal_the_cookbook_biquad(mode, cutoff_hz, q):
    x = np.random.default_rng(7).standard_normal((2, 64000))
    sos = biquad(
        COOKBOOK_KIND[mode], torch.tensor(cutoff_hz, dtype=torch.float64), torch.tensor(q, dtype=torch.float64), SR
    ).numpy()
    expected = scipy.signal.sosfilt((sos / sos[3])[None], x, axis=-1)
    result = state_variable_filter(torch.from_numpy(x), cutoff_hz, q, SR, mode).numpy()
    assert np.abs(result - expected).max() <= 1e-10 * np.abs(expected).max()


def test_bandpass_q_peaks_at_q():
    impulse = torch.zeros(1, 8192, dtype=torch.float64)
    impulse[0, 0] = 1.0
    response = state_variable_filter(impulse, 2000.0, 8.0, SR, "bandpass_q")
    spectrum = np.abs(np.fft.rfft(response[0].numpy()))
    assert spectrum.max() == pytest.approx(8.0, rel=1e-3)
    assert np.argmax(spectrum) == round(2000 * 8192 / SR)


def test_transition_matrix_is_a_contraction_for_every_setting():
    # s[n] = A s[n-1] + ...: with ||A||_2 <= 1 for every cutoff and resonance, the state norm of
    # the unforced filter never grows, however the settings move from sample to sample.
    g = torch.logspace(-6, 6, 400, dtype=torch.float64)[:, None]
    k = torch.logspace(-5, 5, 400, dtype=torch.float64)[None, :]
    a1 = 1 / (1 + g * (g + k))
    a2, a3 = g * a1, g * g * a1
    A = torch.stack([torch.stack([2 * a1 - 1, -2 * a2], -1), torch.stack([2 * a2, 1 - 2 * a3], -1)], -2)
    assert float(torch.linalg.matrix_norm(A, ord=2).max()) <= 1 + 1e-12


def test_random_modulation_stays_bounded_where_a_swept_biquad_explodes():
    generator = torch.Generator().manual_seed(0)
    n = 50000
    cutoff = 20.0 * (7990.0 / 20.0) ** torch.rand(1, n, generator=generator, dtype=torch.float64)
    q = 0.3 * (20.0 / 0.3) ** torch.rand(1, n, generator=generator, dtype=torch.float64)
    x = torch.randn(1, n, generator=generator, dtype=torch.float64)
    for mode in ("lowpass", "highpass", "bandpass"):
        y = state_variable_filter(x, cutoff, q, SR, mode)
        # Bounded by the input's peak times the resonant gain (q <= 20) with a margin.
        assert float(y.abs().max()) < 20 * 20 * float(x.abs().max())
    # The same settings as per-sample direct-form biquad coefficients are not stable.
    sos = biquad("lowpass", cutoff, q, SR)
    swept = sosfilt(x, sos.unsqueeze(-2))
    assert not bool(torch.isfinite(swept).all()) or float(swept.abs().max()) > 1e6


def loop_reference(x, cutoff, q, sample_rate):
    """Simper's SVF, one sample at a time (float64): returns lowpass, bandpass_q, highpass."""
    s1 = s2 = 0.0
    outputs = np.zeros((3, x.shape[0]))
    for n in range(x.shape[0]):
        g = math.tan(math.pi * cutoff[n] / sample_rate)
        k = 1.0 / q[n]
        a1 = 1 / (1 + g * (g + k))
        a2, a3 = g * a1, g * g * a1
        v3 = x[n] - s2
        v1 = a1 * s1 + a2 * v3
        v2 = s2 + a2 * s1 + a3 * v3
        s1, s2 = 2 * v1 - s1, 2 * v2 - s2
        outputs[:, n] = (v2, v1, x[n] - k * v1 - v2)
    return outputs


def test_time_varying_matches_a_per_sample_loop(rng):
    n = 3000
    x = rng.standard_normal(n)
    cutoff = 200 + 3000 * (1 + np.sin(2 * np.pi * np.arange(n) / 700)) / 2
    q = 0.5 + 10 * rng.uniform(size=n)
    expected = loop_reference(x, cutoff, q, SR)
    result = state_variable_filter(
        torch.from_numpy(x)[None],
        torch.from_numpy(cutoff)[None],
        torch.from_numpy(q)[None],
        SR,
        ("lowpass", "bandpass_q", "highpass"),
    )
    for out, ref in zip(result, expected):
        np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("backend", ["auto", "numba", "torch"])
def test_chunked_with_carried_state_equals_one_call(backend, rng):
    x = torch.from_numpy(rng.standard_normal((2, 400)))
    cutoff = torch.from_numpy(rng.uniform(100, 6000, (2, 400)))
    whole = state_variable_filter(x, cutoff, 3.0, SR, "highpass", backend=backend)
    state, pieces = None, []
    for start, stop in ((0, 1), (1, 250), (250, 400)):
        piece, state = state_variable_filter(
            x[:, start:stop],
            cutoff[:, start:stop],
            3.0,
            SR,
            "highpass",
            state=state,
            return_state=True,
            backend=backend,
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), whole.numpy(), atol=1e-12)


def test_frame_rate_controls_are_upsampled_linearly(rng):
    from torchddsp.functional import upsample

    x = torch.from_numpy(rng.standard_normal((2, 640)))
    frames = torch.from_numpy(rng.uniform(200, 4000, (2, 10, 1)))
    per_sample = upsample(frames, 640, "linear")[..., 0]
    np.testing.assert_allclose(
        state_variable_filter(x, frames, 2.0, SR).numpy(),
        state_variable_filter(x, per_sample, 2.0, SR).numpy(),
        atol=1e-14,
    )


def test_batch_equals_per_item(rng):
    x = torch.from_numpy(rng.standard_normal((3, 500)))
    cutoff = torch.from_numpy(rng.uniform(100, 6000, (3, 500)))
    q = torch.from_numpy(rng.uniform(0.5, 8, (3, 1)))
    batched = state_variable_filter(x, cutoff, q, SR, "bandpass")
    single = torch.cat(
        [state_variable_filter(x[i : i + 1], cutoff[i : i + 1], q[i : i + 1], SR, "bandpass") for i in range(3)]
    )
    np.testing.assert_allclose(batched.numpy(), single.numpy(), atol=1e-14)


@pytest.mark.parametrize("mode", ["lowpass", "highpass", "bandpass", "notch", "allpass"])
def test_gradients_in_input_cutoff_resonance_and_state(mode):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 9, dtype=torch.float64, generator=generator, requires_grad=True)
    cutoff = (500 + 3000 * torch.rand(2, 9, dtype=torch.float64, generator=generator)).requires_grad_()
    q = (0.5 + 3 * torch.rand(2, 1, dtype=torch.float64, generator=generator)).requires_grad_()
    zi = torch.randn(2, 2, dtype=torch.float64, generator=generator, requires_grad=True)

    def fn(x, cutoff, q, zi):
        return state_variable_filter(x, cutoff, q, SR, mode, state=zi)

    assert torch.autograd.gradcheck(fn, (x, cutoff, q, zi))
    assert torch.autograd.gradgradcheck(fn, (x, cutoff, q, zi))


def test_bad_settings_are_errors():
    x = torch.zeros(1, 10)
    with pytest.raises(ValueError, match="cutoff_hz must lie strictly between 0 and Nyquist"):
        state_variable_filter(x, 8000.0, 1.0, SR)
    with pytest.raises(ValueError, match="q must be > 0"):
        state_variable_filter(x, 100.0, torch.zeros(1, 10), SR)
    with pytest.raises(ValueError, match="mode must be one of"):
        state_variable_filter(x, 100.0, 1.0, SR, "peak")
    with pytest.raises(ValueError, match="cutoff_hz per sample must hold 10 samples"):
        state_variable_filter(x, torch.full((1, 9), 100.0), 1.0, SR)
    with pytest.raises(ValueError, match="state must have shape"):
        state_variable_filter(x, 100.0, 1.0, SR, state=torch.zeros(1, 3))
