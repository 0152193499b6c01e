import numpy as np
import pytest
import scipy.fft
import torch

from torchddsp.features import MFCC
from torchddsp.features import MelSpectrogram
from torchddsp.features import dct_matrix
from torchddsp.features import log_mel_spectrogram
from torchddsp.features import magnitude
from torchddsp.features import mel_filterbank
from torchddsp.features import mfcc
from torchddsp.features import stft
from torchddsp.features.spectral import hz_to_mel
from torchddsp.features.spectral import mel_to_hz


def test_a_sine_puts_its_energy_in_the_right_bin():
    n_fft = 512  # at 16 kHz
    k = 37  # bin 37: 37 * 31.25 = 1156.25 Hz
    t = np.arange(8000)
    audio = torch.tensor(np.cos(2 * np.pi * k * t / n_fft))[None]
    spectrum = magnitude(stft(audio, n_fft, 128, window="rectangular", center=False))[0]
    np.testing.assert_allclose(spectrum[:, k].numpy(), n_fft / 2, rtol=1e-9)
    others = np.delete(spectrum.numpy(), k, axis=1)
    assert others.max() < 1e-8 * n_fft
    hann = magnitude(stft(audio, n_fft, 128))[0, 2:-2]  # periodic Hann: main lobe k-1, k, k+1 = 1/4, 1/2, 1/4
    np.testing.assert_allclose(
        hann[:, k - 1 : k + 2].numpy() / (n_fft / 2), [[0.25, 0.5, 0.25]] * hann.shape[0], atol=1e-9
    )


def test_stft_framing_conventions():
    audio = torch.randn(2, 1000, dtype=torch.float64)
    assert stft(audio, 256, 64).shape == (2, 1 + 1000 // 64, 129)  # centred
    assert stft(audio, 256, 64, center=False, pad_end=True).shape == (2, -(-1000 // 64), 129)  # TF pad_end
    assert stft(audio, 256, 64, center=False).shape == (2, 1 + (1000 - 256) // 64, 129)
    # Centred frame i is centred on sample i * hop: equals a manual windowed FFT there.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    padded = np.pad(audio.numpy(), ((0, 0), (128, 128)), mode="reflect")
    expected = np.fft.rfft(padded[:, 5 * 64 : 5 * 64 + 256] * window)
    np.testing.assert_allclose(stft(audio, 256, 64)[:, 5].numpy(), expected, atol=1e-10)
    with pytest.raises(ValueError, match="win_length"):
        stft(audio, 256, 64, win_length=300)


def test_magnitude_gradient_is_finite_at_zero():
    audio = torch.zeros(1, 512, requires_grad=True)
    magnitude(stft(audio, 128, 32)).sum().backward()
    assert torch.isfinite(audio.grad).all()


def _reference_mel(n_fft, n_mels, sr, f_min, f_max, htk, norm):
    """Float64 reference written from the definitions (triangles between mel-spaced edges)."""

    def to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        if htk:
            return 2595 * np.log10(1 + f / 700)
        return np.where(f < 1000, 3 * f / 200, 15 + 27 * np.log(np.maximum(f, 1e-9) / 1000) / np.log(6.4))

    def to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        if htk:
            return 700 * (10 ** (m / 2595) - 1)
        return np.where(m < 15, 200 * m / 3, 1000 * np.exp(np.log(6.4) * (m - 15) / 27))

    edges = to_hz(np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft  # bin k at k * sr / n, also for odd n
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for j, f in enumerate(freqs):
            if lo < f <= mid:
                bank[m, j] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[m, j] = (hi - f) / (hi - mid)
        if norm:
            bank[m] *= 2 / (hi - lo)
    return bank


@pytest.mark.parametrize("n_fft", [1024, 255])
@pytest.mark.parametrize("htk,norm", [(False, True), (True, False), (True, True)])
def test_mel_filterbank_matches_float64_reference(htk, norm, n_fft):
    args = (n_fft, 40, 16000, 30.0, 7600.0)
    ours = mel_filterbank(*args, scale="htk" if htk else "slaney", norm="slaney" if norm else None, dtype=torch.float64)
    np.testing.assert_allclose(ours.numpy(), _reference_mel(*args, htk, norm), atol=1e-12)


def test_mel_scale_round_trip_and_reference_points():
    f = np.array([0.0, 500.0, 1000.0, 4000.0, 8000.0])
    for scale in ("slaney", "htk"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-9)
    assert hz_to_mel(1000.0, "slaney") == pytest.approx(15.0)
    assert hz_to_mel(1000.0, "htk") == pytest.approx(999.99, abs=0.02)


def test_dct_is_scipy_orthonormal_dct():
    x = np.random.default_rng(0).standard_normal((3, 64))
    ours = torch.tensor(x) @ dct_matrix(64, 20, torch.float64).T
    np.testing.assert_allclose(ours.numpy(), scipy.fft.dct(x, type=2, norm="ortho")[:, :20], atol=1e-12)


def test_mfcc_and_modules_agree_with_functions():
    audio = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    module = MelSpectrogram(16000, n_fft=512, hop_size=128, n_mels=40)
    functional = log_mel_spectrogram(audio, 16000, n_fft=512, hop_size=128, n_mels=40)
    np.testing.assert_allclose(module(audio).numpy(), functional.numpy(), atol=1e-5)
    cepstra = MFCC(16000, n_mfcc=13, n_fft=512, hop_size=128, n_mels=40, min_hz=0.0)(audio)
    expected = mfcc(audio, 16000, n_mfcc=13, n_fft=512, hop_size=128, n_mels=40)
    np.testing.assert_allclose(cepstra.numpy(), expected.numpy(), atol=1e-4)
    assert cepstra.shape == (2, 1 + 8000 // 128, 13)
    assert "filterbank" in dict(module.named_buffers())


def test_modules_accept_half_precision():
    audio = torch.randn(1, 4000).half()
    assert MelSpectrogram(16000, n_fft=256, n_mels=16)(audio).dtype == torch.float32
    assert MFCC(16000, n_mfcc=5, n_fft=256, n_mels=16)(audio).shape[-1] == 5
