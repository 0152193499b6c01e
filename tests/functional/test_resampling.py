import numpy as np
import pytest
import scipy.signal
import torch
from references import hann_overlap_add_upsample
from references import linear_upsample
from references import to_numpy

from torchddsp.functional import resample
from torchddsp.functional import upsample


@pytest.mark.parametrize("method", ["linear", "window"])
@pytest.mark.parametrize("add_endpoint", [True, False])
def test_upsample_keeps_a_constant_constant(method, add_endpoint):
    x = torch.full((2, 9, 3), 0.37, dtype=torch.float64)
    intervals = 9 if add_endpoint else 8
    y = upsample(x, intervals * 16, method, add_endpoint)
    assert y.shape == (2, intervals * 16, 3)
    np.testing.assert_allclose(y.numpy(), 0.37, atol=1e-15)


def test_window_upsample_matches_overlap_add_reference(rng):
    frames = rng.standard_normal((12, 4))
    y = upsample(torch.tensor(frames)[None], 12 * 32, "window")
    np.testing.assert_allclose(y[0].numpy(), hann_overlap_add_upsample(frames, 12 * 32), atol=1e-12)


@pytest.mark.parametrize("n_samples", [80, 83, 17])  # integer hop, fractional hops
def test_linear_upsample_matches_interp_reference(rng, n_samples):
    frames = rng.standard_normal((10, 2))
    y = upsample(torch.tensor(frames)[None], n_samples, "linear")
    np.testing.assert_allclose(y[0].numpy(), linear_upsample(frames, n_samples), atol=1e-12)


@pytest.mark.parametrize("method", ["linear", "window"])
def test_upsample_blocks_with_endpoint_equal_one_call(rng, method):
    frames = torch.tensor(rng.standard_normal((1, 12, 2)))
    hop = 8
    offline = upsample(frames, 12 * hop, method)
    blocks = []
    for start in range(0, 12, 4):
        stop = start + 4
        chunk = frames[:, start : stop + 1] if stop < 12 else torch.cat([frames[:, start:], frames[:, -1:]], 1)
        blocks.append(upsample(chunk, 4 * hop, method, add_endpoint=False))
    np.testing.assert_allclose(torch.cat(blocks, 1).numpy(), offline.numpy(), atol=1e-14)


def test_window_upsample_rejects_fractional_hop():
    with pytest.raises(ValueError, match="n_samples must be a multiple"):
        upsample(torch.zeros(1, 10, 1), 105, "window")


@pytest.mark.parametrize("orig,new", [(44100, 16000), (16000, 44100), (48000, 16000), (16000, 22050), (22050, 16000)])
def test_resample_sine_is_exact_in_the_passband(orig, new):
    t = np.arange(orig) / orig
    x = np.sin(2 * np.pi * 1234.5 * t) * 0.8
    y = resample(torch.tensor(x)[None], orig, new)
    assert y.shape == (1, -(-orig * new // orig))
    expected = 0.8 * np.sin(2 * np.pi * 1234.5 * np.arange(y.shape[1]) / new)
    edge = 200  # zero-padded edges are not part of the signal
    np.testing.assert_allclose(y[0, edge:-edge].numpy(), expected[edge:-edge], atol=1e-5)


@pytest.mark.parametrize("orig,new", [(44100, 16000), (48000, 16000)])
def test_resample_removes_content_above_the_new_nyquist(orig, new):
    t = np.arange(orig) / orig
    x = torch.tensor(np.sin(2 * np.pi * 0.56 * new * t))[None]
    y = to_numpy(resample(x, orig, new))[0, 200:-200]
    assert 20 * np.log10(np.abs(y).max()) < -70


def test_resample_agrees_with_scipy_resample_poly(rng):
    x = rng.standard_normal(4000)
    # Band-limit the test signal so both filters' transition bands do not matter.
    x = scipy.signal.sosfiltfilt(scipy.signal.butter(8, 0.3, output="sos"), x).copy()
    ours = resample(torch.tensor(x)[None], 16000, 24000)[0].numpy()
    theirs = scipy.signal.resample_poly(x, 3, 2, window=("kaiser", 14.0))
    np.testing.assert_allclose(ours[100:-100], theirs[100:-100], atol=2e-3 * np.abs(x).max())


@pytest.mark.parametrize("orig,new", [(8000, 8001), (44100, 16001), (16001, 44100)])
def test_resample_nearly_coprime_rates(orig, new):
    t = np.arange(orig) / orig
    x = 0.5 * np.sin(2 * np.pi * 777.7 * t)
    y = resample(torch.tensor(x)[None], orig, new)
    expected = 0.5 * np.sin(2 * np.pi * 777.7 * np.arange(y.shape[1]) / new)
    np.testing.assert_allclose(y[0, 200:-200].numpy(), expected[200:-200], atol=1e-5)


@pytest.mark.parametrize("orig,new", [(44100, 16000), (16000, 22050), (3, 2)])
def test_resample_paths_agree(rng, orig, new, monkeypatch):
    import torchddsp.functional.resampling as resampling

    x = torch.tensor(rng.standard_normal((2, 3000)))
    by_convolution = resample(x, orig, new)
    monkeypatch.setattr(resampling, "_CONVOLUTION_LIMIT", 0)  # force the per-sample gather
    by_gather = resample(x, orig, new)
    np.testing.assert_allclose(by_convolution.numpy(), by_gather.numpy(), atol=1e-12)


def test_resample_identity_batch_and_errors(rng):
    x = torch.tensor(rng.standard_normal((3, 500)))
    assert resample(x, 16000, 16000) is x
    batched = resample(x, 16000, 12000)
    single = torch.cat([resample(x[i : i + 1], 16000, 12000) for i in range(3)])
    np.testing.assert_allclose(batched.numpy(), single.numpy(), atol=1e-14)
    with pytest.raises(ValueError, match="orig_sample_rate"):
        resample(x, 0, 16000)
    with pytest.raises(ValueError, match="new_sample_rate"):
        resample(x, 16000, 22050.5)
    with pytest.raises(ValueError, match=r"audio must have shape \(\.\.\., n_samples\)"):
        resample(x[0, 0], 16000, 8000)
