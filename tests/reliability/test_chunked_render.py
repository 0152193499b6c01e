"""Chunked rendering (torchddsp.models.chunked) equals one whole call of the model, whatever the
chunk lengths: the GRU state, the harmonic look-ahead frame and phase, the noise generator and
the noise filter's and reverb's overlap-add tails all carry across chunk edges.

The reference is the model's own whole call ``model(f0, loudness, seed=...)`` (the offline
path: ProcessorGroup, frequency_filter's "same" convolution, Reverb), another code path than the
chunked one. Tolerance: 1e-5 of each signal's peak (issue 12's target); the chunked path
measures about 2e-6 (float32 GRU and FFT rounding over other lengths)."""

from __future__ import annotations

import math

import pytest
import torch

from torchddsp.models import Autoencoder
from torchddsp.models import AutoencoderConfig
from torchddsp.models.chunked import finish_render
from torchddsp.models.chunked import render_chunk
from torchddsp.models.chunked import render_chunked
from torchddsp.models.chunked import start_render
from torchddsp.synths import FilteredNoise

N_FRAMES = 97
SEED = 5


def _model(sample_rate: int, z_dims: int = 0) -> Autoencoder:
    """A small random model whose every part is audible: noise biased loud, a strong reverb."""
    torch.manual_seed(0)
    config = AutoencoderConfig(
        sample_rate=sample_rate,
        frame_rate=250,
        n_harmonics=24,
        hidden_size=16,
        rnn_size=16,
        layers_per_stack=1,
        reverb_s=0.02,
        noise_initial_bias=0.0,
        z_dims=z_dims,
    )
    model = Autoencoder(config).eval()
    with torch.no_grad():
        model.reverb.ir.normal_(0.0, 0.05)  # type: ignore[union-attr]
    return model


def _features(n_frames: int = N_FRAMES) -> tuple[torch.Tensor, torch.Tensor]:
    """A glide with vibrato and a swelling loudness (the GRU state and the phase matter)."""
    t = torch.arange(n_frames, dtype=torch.float64) / 250
    f0 = 220.0 * 2 ** (t / 0.4 / 12) * (1 + 0.02 * torch.sin(2 * math.pi * 6 * t))
    loudness = -50.0 + 40.0 * torch.sin(math.pi * t / t[-1]) ** 2
    return f0.float()[None], loudness.float()[None]


@pytest.fixture(scope="module")
def models() -> dict[int, Autoencoder]:
    # 16 kHz: hop 64 = the noise filter's delay (128 taps / 2); 8 kHz: hop 32, so the noise
    # output lags two frames behind (the delay spans a chunk of one frame).
    return {rate: _model(rate) for rate in (16000, 8000)}


@pytest.fixture(scope="module")
def whole(models) -> dict[int, dict[str, torch.Tensor]]:
    f0, loudness = _features()
    with torch.no_grad():
        return {rate: model(f0, loudness, seed=SEED) for rate, model in models.items()}


def _relative_error(chunked: torch.Tensor, reference: torch.Tensor) -> float:
    assert chunked.shape == reference.shape
    return float((chunked - reference).abs().max() / reference.abs().max())


# One frame, a few frames, lengths that divide nothing, one frame short of all, all, more than all.
@pytest.mark.parametrize("chunk_frames", [1, 2, 3, 7, 31, N_FRAMES - 1, N_FRAMES, N_FRAMES + 5])
@pytest.mark.parametrize("sample_rate", [16000, 8000])
def test_chunked_equals_whole(models, whole, sample_rate, chunk_frames):
    f0, loudness = _features()
    chunked = render_chunked(models[sample_rate], f0, loudness, chunk_frames, seed=SEED)
    reference = whole[sample_rate]
    for key in ("harmonic", "noise", "audio_dry", "audio"):
        assert _relative_error(chunked[key], reference[key]) < 1e-5, key


def test_uneven_chunks_and_other_reverb(models):
    """Chunks of varying lengths; another room (reverb_ir) and the dry render."""
    model = models[16000]
    f0, loudness = _features()
    ir = torch.randn(300, generator=torch.Generator().manual_seed(1)) * 0.1
    for reverb, reverb_ir, key in ((True, ir, "audio"), (False, None, "audio_dry")):
        with torch.no_grad():
            reference = model(f0, loudness, seed=SEED, reverb=reverb, reverb_ir=reverb_ir)["audio"]
        state = start_render(model, seed=SEED, reverb=reverb, reverb_ir=reverb_ir)
        pieces, start = [], 0
        for size in (5, 1, 13, 2, 40, 1, 1, 34):
            out, state = render_chunk(model, state, f0[:, start : start + size], loudness[:, start : start + size])
            pieces.append(out["audio"])
            start += size
        assert start == N_FRAMES
        out, state = finish_render(model, state)
        pieces.append(out["audio"])
        assert state.samples == N_FRAMES * model.config.hop_size
        assert _relative_error(torch.cat(pieces, dim=1), reference) < 1e-5, key


def test_state_is_a_value(models):
    """A state can be kept and rendered from twice (nothing mutated in place, the noise
    noise position travels in it)."""
    model = models[16000]
    f0, loudness = _features()
    state = start_render(model, seed=SEED)
    _, state = render_chunk(model, state, f0[:, :10], loudness[:, :10])
    first, _ = render_chunk(model, state, f0[:, 10:30], loudness[:, 10:30])
    second, _ = render_chunk(model, state, f0[:, 10:30], loudness[:, 10:30])
    assert torch.equal(first["audio"], second["audio"])


def test_z_model_refused():
    model = _model(16000, z_dims=4)
    with pytest.raises(ValueError, match="z_dims > 0"):
        start_render(model)


def test_bad_chunks_refused(models):
    model = models[16000]
    f0, loudness = _features()
    state = start_render(model)
    with pytest.raises(ValueError, match="f0_hz must have shape \\(1, n_frames"):
        render_chunk(model, state, f0.expand(2, -1), loudness.expand(2, -1))
    with pytest.raises(ValueError, match="f0_hz must have shape"):
        render_chunk(model, state, f0[:, :0], loudness[:, :0])
    with pytest.raises(ValueError, match="loudness_db must have the shape"):
        render_chunk(model, state, f0[:, :3], loudness[:, :4])
    with pytest.raises(ValueError, match="state has no frames"):
        finish_render(model, state)
    _, state = render_chunk(model, state, f0[:, :3], loudness[:, :3])
    _, state = finish_render(model, state)
    with pytest.raises(ValueError, match="state is finished"):
        render_chunk(model, state, f0[:, :3], loudness[:, :3])


def test_filtered_noise_zero_frames():
    """Issue 12 item 9: 0 frames is an empty result (the library's convention for empty input),
    not a ZeroDivisionError; 0 frames asked to cover samples is a ValueError naming magnitudes."""
    noise = FilteredNoise()
    assert noise(torch.zeros(2, 0, 65), n_samples=0).shape == (2, 0)
    with pytest.raises(ValueError, match="magnitudes has 0 frames"):
        noise(torch.zeros(1, 0, 65), n_samples=64)
