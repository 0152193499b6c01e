import numpy as np
import pytest
import scipy.signal
import torch
from references import to_numpy

from torchddsp.functional import fft_convolve
from torchddsp.functional import frequency_filter
from torchddsp.functional import frequency_impulse_response
from torchddsp.functional import sinc_filter
from torchddsp.functional import sinc_impulse_response


@pytest.mark.parametrize("ir_size", [1, 7, 64, 301])
def test_fft_convolve_valid_matches_scipy(rng, ir_size):
    audio = rng.standard_normal((2, 1000)).astype(np.float32)
    ir = rng.standard_normal((2, ir_size)).astype(np.float32)
    y = fft_convolve(torch.tensor(audio), torch.tensor(ir), padding="valid")
    assert y.shape == (2, 1000 + ir_size - 1)
    for b in range(2):
        expected = scipy.signal.fftconvolve(audio[b].astype(np.float64), ir[b].astype(np.float64))
        np.testing.assert_allclose(to_numpy(y[b]), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("delay", [-1, 0, 5])
def test_fft_convolve_same_is_a_window_of_the_full_convolution(rng, delay):
    audio = torch.tensor(rng.standard_normal((1, 500)))
    ir = torch.tensor(rng.standard_normal((1, 33)))
    full = fft_convolve(audio, ir, "valid")
    same = fft_convolve(audio, ir, "same", delay)
    start = 33 // 2 if delay < 0 else delay
    np.testing.assert_allclose(same.numpy(), full[:, start : start + 500].numpy(), atol=1e-12)


def test_time_varying_response_with_equal_frames_gives_the_time_invariant_result(rng):
    audio = torch.tensor(rng.standard_normal((2, 1000)))
    ir = torch.tensor(rng.standard_normal((2, 50)))
    invariant = fft_convolve(audio, ir, "valid")
    varying = fft_convolve(audio, ir[:, None].expand(2, 10, 50), "valid")
    np.testing.assert_allclose(varying.numpy(), invariant.numpy(), atol=1e-12)


def test_time_varying_response_convolves_each_block_with_its_frame(rng):
    audio = rng.standard_normal(90)
    irs = rng.standard_normal((3, 8))
    y = fft_convolve(torch.tensor(audio)[None], torch.tensor(irs)[None], "valid")[0].numpy()
    expected = np.zeros(90 + 7)
    for i in range(3):
        expected[i * 30 : i * 30 + 37] += np.convolve(audio[i * 30 : (i + 1) * 30], irs[i])
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_fft_convolve_broadcasts_a_single_response_and_checks_frames(rng):
    audio = torch.tensor(rng.standard_normal((3, 100)))
    ir = torch.tensor(rng.standard_normal((1, 9)))
    y = fft_convolve(audio, ir)
    for b in range(3):
        np.testing.assert_allclose(y[b].numpy(), fft_convolve(audio[b : b + 1], ir)[0].numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="impulse_response batch size"):
        fft_convolve(audio, torch.ones(2, 9, dtype=torch.float64))
    with pytest.raises(ValueError, match="frames"):
        fft_convolve(torch.ones(1, 10), torch.ones(1, 6, 3))
    with pytest.raises(ValueError, match="delay_compensation"):
        fft_convolve(audio, ir, "same", 9)


def test_frequency_impulse_response_is_linear_phase_and_realises_the_magnitudes(rng):
    n_bins = 65
    magnitudes = rng.uniform(0, 1, (2, n_bins))
    ir = frequency_impulse_response(torch.tensor(magnitudes)).numpy()
    assert ir.shape == (2, 128)
    np.testing.assert_allclose(ir[:, 1:], ir[:, :0:-1], atol=1e-15)  # symmetric about tap 64
    response = np.abs(np.fft.rfft(ir, axis=-1))
    # Full-length Hann window: each bin is the requested magnitude smoothed by [1/4, 1/2, 1/4].
    padded = np.concatenate([magnitudes[:, 1:2], magnitudes, magnitudes[:, -2:-1]], axis=1)
    expected = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    np.testing.assert_allclose(response, np.abs(expected), atol=1e-12)


def test_frequency_impulse_response_reproduces_smooth_magnitudes():
    frequencies = np.linspace(0, 1, 257)
    magnitudes = 0.2 + 0.8 * np.exp(-((frequencies - 0.3) ** 2) / 0.02)  # a smooth bump
    ir = frequency_impulse_response(torch.tensor(magnitudes)[None], window_size=256).numpy()[0]
    response = np.abs(np.fft.rfft(ir, n=512))
    np.testing.assert_allclose(response, magnitudes, rtol=0.01)


@pytest.mark.parametrize("window_size", [31, 64, 127])
def test_frequency_impulse_response_window_sizes_are_symmetric(rng, window_size):
    ir = frequency_impulse_response(torch.tensor(rng.uniform(0, 1, (1, 3, 65))), window_size).numpy()
    assert ir.shape == (1, 3, window_size)
    centre = window_size // 2
    lags = min(centre, window_size - 1 - centre)
    np.testing.assert_allclose(ir[..., centre - lags : centre], ir[..., centre + lags : centre : -1], atol=1e-15)
    with pytest.raises(ValueError, match="window_size must be at most"):
        frequency_impulse_response(torch.ones(1, 65), 129)


def test_flat_magnitudes_give_back_the_input(rng):
    audio = torch.tensor(rng.standard_normal((2, 800)))
    np.testing.assert_allclose(
        frequency_filter(audio, torch.ones(2, 65, dtype=torch.float64)).numpy(), audio.numpy(), atol=1e-12
    )
    per_frame = frequency_filter(audio, torch.ones(2, 10, 65, dtype=torch.float64))
    np.testing.assert_allclose(per_frame.numpy(), audio.numpy(), atol=1e-12)


def test_frequency_filter_low_pass_removes_high_frequencies(rng):
    n = 16000
    t = np.arange(n) / 16000
    audio = torch.tensor(np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 6000 * t))[None]
    magnitudes = torch.tensor((np.linspace(0, 8000, 129) < 2000).astype(np.float64))[None]
    y = frequency_filter(audio, magnitudes).numpy()[0, 1000:-1000]
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 500 * t[1000:-1000]), atol=0.02)


def test_sinc_impulse_response_properties():
    ir = sinc_impulse_response(torch.tensor([[2000.0], [4000.0]]), 255, 16000).numpy()
    assert ir.shape == (2, 255)
    np.testing.assert_allclose(ir.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(ir, ir[:, ::-1], atol=1e-7)
    response = np.abs(np.fft.rfft(ir[0], 4096))
    frequencies = np.fft.rfftfreq(4096, 1 / 16000)
    assert response[frequencies < 1500].min() > 0.99
    assert response[frequencies > 2500].max() < 1e-3
    with pytest.raises(ValueError, match="odd"):
        sinc_impulse_response(1000.0, 256, 16000)
    with pytest.raises(ValueError, match="cutoff_hz"):
        sinc_impulse_response(9000.0, 255, 16000)


def test_sinc_filter_keeps_the_passband(rng):
    t = np.arange(8000) / 16000
    audio = torch.tensor(np.sin(2 * np.pi * 300 * t))[None]
    y = sinc_filter(audio, 3000.0, 255, 16000).numpy()[0, 300:-300]
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 300 * t[300:-300]), atol=1e-3)


@pytest.mark.parametrize("n_frames", [1, 5, 100])
def test_frequency_filter_equals_convolution_with_its_impulse_response(rng, n_frames):
    # Both ways to build the filter spectrum (cached matrix for short blocks, FFT of the
    # response for long ones) against the definition.
    audio = torch.tensor(rng.standard_normal((2, 6400)))
    magnitudes = torch.tensor(rng.uniform(0, 1, (2, n_frames, 33)))
    expected = fft_convolve(audio, frequency_impulse_response(magnitudes, 48))
    np.testing.assert_allclose(frequency_filter(audio, magnitudes, 48).numpy(), expected.numpy(), atol=1e-12)


def test_half_precision_magnitudes_compute_in_float32(rng):
    # The library's rule (functional/__init__.py): half computes in float32, returns half.
    audio = torch.tensor(rng.standard_normal((1, 640)), dtype=torch.float16)
    y = frequency_filter(audio, torch.ones(1, 10, 17, dtype=torch.float16))
    assert y.dtype == torch.float16
    np.testing.assert_allclose(y.float().numpy(), audio.float().numpy(), atol=1e-3)


@pytest.mark.parametrize("size,hop", [(8, 2), (7, 3), (5, 5), (4, 6)])
def test_overlap_add_matches_a_loop(rng, size, hop):
    from torchddsp.functional import overlap_add

    frames = rng.standard_normal((2, 6, size))
    expected = np.zeros((2, 5 * hop + size))
    for i in range(6):
        expected[:, i * hop : i * hop + size] += frames[:, i]
    np.testing.assert_allclose(overlap_add(torch.tensor(frames), hop).numpy(), expected, atol=1e-14)
