"""FDN: measured RT60 per band within 10 % of the request, lossless mixing, the transfer
function against a time-domain simulation of the same network, and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import fdn_delays
from torchddsp.functional import fdn_impulse_response
from torchddsp.functional import orthogonal_matrix


def measured_rt60(ir: np.ndarray, sample_rate: float, low_hz: float, high_hz: float) -> float:
    """Schroeder backward integration of the band-passed response, line fit from -5 to -35 dB
    (T30), extrapolated to 60 dB."""
    sos = scipy.signal.butter(4, [low_hz, high_hz], btype="band", fs=sample_rate, output="sos")
    band = scipy.signal.sosfiltfilt(sos, ir)
    energy = np.cumsum(band[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    start, stop = np.argmax(decay_db <= -5), np.argmax(decay_db <= -35)
    slope = np.polyfit(np.arange(start, stop) / sample_rate, decay_db[start:stop], 1)[0]
    return -60.0 / slope


def network(seed: int, n_lines: int = 8):
    generator = torch.Generator().manual_seed(seed)
    matrix = orthogonal_matrix(torch.randn(n_lines, n_lines, generator=generator, dtype=torch.float64))
    gains = torch.randn(2, n_lines, generator=generator, dtype=torch.float64) / n_lines**0.5
    return matrix, gains[0], gains[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_band_rt60_within_10_percent(seed):
    sample_rate = 16000
    matrix, b, c = network(seed)
    for rt60 in (0.4, 1.5):
        ir = fdn_impulse_response(
            fdn_delays(8, sample_rate),
            matrix,
            b,
            c,
            torch.tensor([rt60], dtype=torch.float64),
            sample_rate,
            int(2.5 * rt60 * sample_rate),
        )[0].numpy()
        for low, high in ((300, 1200), (1500, 3000), (4000, 7000)):
            assert measured_rt60(ir, sample_rate, low, high) == pytest.approx(rt60, rel=0.10)


@pytest.mark.parametrize(
    "sample_rate,edges,bands",
    [
        (16000, (1000.0, 3000.0), ((150, 500), (1500, 2200), (5000, 7500))),
        (48000, (1000.0, 4000.0), ((150, 500), (1700, 2500), (8000, 16000))),
    ],
)
def test_per_band_rt60_within_10_percent(sample_rate, edges, bands):
    rt60 = (2.0, 1.0, 0.5)
    matrix, b, c = network(0)
    ir = fdn_impulse_response(
        fdn_delays(8, sample_rate),
        matrix,
        b,
        c,
        torch.tensor(rt60, dtype=torch.float64),
        sample_rate,
        int(2.5 * max(rt60) * sample_rate),
        edges,
    )[0].numpy()
    for (low, high), expected in zip(bands, rt60):
        assert measured_rt60(ir, sample_rate, low, high) == pytest.approx(expected, rel=0.10)


def simulate(delays, matrix, b, c, gains, n_samples):
    """The network sample by sample: line i outputs its input from delays[i] samples ago times
    a broadband gain; the lines are fed A @ outputs + b x."""
    lines = [np.zeros(d) for d in delays]
    heads = [0] * len(delays)
    out = np.zeros(n_samples)
    for n in range(n_samples):
        x = 1.0 if n == 0 else 0.0
        outputs = np.array([gains[i] * lines[i][heads[i]] for i in range(len(delays))])
        out[n] = c @ outputs
        feed = matrix @ outputs + b * x
        for i in range(len(delays)):
            lines[i][heads[i]] = feed[i]
            heads[i] = (heads[i] + 1) % delays[i]
    return out


def test_transfer_function_equals_a_time_domain_simulation():
    delays = [7, 11, 13, 17]
    matrix, b, c = network(3, n_lines=4)
    sample_rate, rt60 = 1000.0, 0.3
    n_samples = 600
    ir = fdn_impulse_response(delays, matrix, b, c, torch.tensor([rt60], dtype=torch.float64), sample_rate, n_samples)[
        0
    ].numpy()
    gains = 10 ** (-3 * np.array(delays) / (rt60 * sample_rate))
    expected = simulate(delays, matrix.numpy(), b.numpy(), c.numpy(), gains, n_samples)
    np.testing.assert_allclose(ir, expected, atol=1e-9)


def test_orthogonal_matrix_is_orthogonal_and_lossless():
    q = orthogonal_matrix(torch.randn(3, 6, 6, dtype=torch.float64))
    np.testing.assert_allclose((q @ q.transpose(-1, -2)).numpy(), np.broadcast_to(np.eye(6), (3, 6, 6)), atol=1e-12)
    assert torch.equal(orthogonal_matrix(torch.zeros(4, 4)), torch.eye(4))


def test_delays_are_distinct_primes_in_range():
    delays = fdn_delays(8, 48000, min_delay_s=0.015, max_delay_s=0.045)
    assert len(set(delays)) == 8 and all(all(d % k for k in range(2, d)) for d in delays)
    assert 0.015 * 48000 <= min(delays) and max(delays) <= 0.046 * 48000


def test_gradients_reach_gains_matrix_and_decay():
    delays = [3, 5, 7]
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=generator, requires_grad=True)
    c = torch.randn(3, dtype=torch.float64, generator=generator, requires_grad=True)
    rt60 = torch.tensor([0.05, 0.02], dtype=torch.float64, requires_grad=True)

    def fn(mixing, b, c, rt60):
        return fdn_impulse_response(delays, orthogonal_matrix(mixing), b, c, rt60, 1000.0, 64, (200.0,), n_fft=256)

    assert torch.autograd.gradcheck(fn, (mixing, b, c, rt60))


def test_bad_input_is_an_error():
    matrix, b, c = network(0, n_lines=3)
    rt60 = torch.tensor([1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="feedback_matrix must be"):
        fdn_impulse_response([3, 5], matrix, b, c, rt60, 1000.0, 10)
    with pytest.raises(ValueError, match="rt60_s must be > 0"):
        fdn_impulse_response([3, 5, 7], matrix, b, c, -rt60, 1000.0, 10)
    with pytest.raises(ValueError, match="band_edges_hz must hold"):
        fdn_impulse_response([3, 5, 7], matrix, b, c, rt60, 1000.0, 10, (100.0,))
    with pytest.raises(ValueError, match="delays must be >= 1"):
        fdn_impulse_response([0, 5, 7], matrix, b, c, rt60, 1000.0, 10)
    with pytest.raises(ValueError, match="n_fft must be >= n_samples"):
        fdn_impulse_response([3, 5, 7], matrix, b, c, rt60, 1000.0, 100, n_fft=64)
