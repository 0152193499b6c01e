import numpy as np
import pytest
import torch
from references import hann_overlap_add_upsample
from references import linear_upsample

from torchddsp.functional import harmonic_synthesis
from torchddsp.functional import wavetable_synthesis

SR = 16000


def test_sine_table_plays_a_sine(rng):
    table = torch.sin(2 * torch.pi * torch.arange(2048, dtype=torch.float64) / 2048)[None]
    f0 = torch.tensor(rng.uniform(100, 2000, (1, 20, 1)))
    amplitudes = torch.tensor(rng.uniform(0.2, 1, (1, 20, 1)))
    y = wavetable_synthesis(f0, amplitudes, table, 20 * 64, SR)
    expected = harmonic_synthesis(f0, amplitudes, torch.ones(1, 20, 1, dtype=torch.float64), 20 * 64, SR)
    # Linear interpolation of a 2048-sample sine: error <= (2 pi / 2048)^2 / 8.
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=2e-6)


def test_time_varying_tables_blend_like_amplitudes(rng):
    n_frames, hop, size = 8, 16, 64
    tables = rng.standard_normal((1, n_frames, size))
    f0 = np.full((1, n_frames, 1), 250.0)
    y = wavetable_synthesis(
        torch.tensor(f0), torch.ones(1, n_frames, 1, dtype=torch.float64), torch.tensor(tables), n_frames * hop, SR
    )
    # Reference: per-sample table = Hann-blend of frame tables; linear read at the phase.
    blended = hann_overlap_add_upsample(tables[0], n_frames * hop)  # (n_samples, size)
    phase = np.cumsum(linear_upsample(f0[0], n_frames * hop)[:, 0]) / SR % 1.0
    position = phase * size
    lower = np.floor(position).astype(int) % size
    fraction = position - np.floor(position)
    rows = np.arange(n_frames * hop)
    expected = blended[rows, lower] + fraction * (blended[rows, (lower + 1) % size] - blended[rows, lower])
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-12)


def test_equal_frames_give_the_static_table(rng):
    table = torch.tensor(rng.standard_normal((2, 128)))
    f0 = torch.tensor(rng.uniform(100, 900, (2, 10, 1)))
    amplitudes = torch.ones(2, 10, 1, dtype=torch.float64)
    static = wavetable_synthesis(f0, amplitudes, table, 320, SR)
    varying = wavetable_synthesis(f0, amplitudes, table[:, None].expand(2, 10, 128), 320, SR)
    np.testing.assert_allclose(static.numpy(), varying.numpy(), atol=1e-12)


def test_wavetable_stream_in_blocks_equals_one_call(rng):
    tables = torch.tensor(rng.standard_normal((1, 12, 64)))
    f0 = torch.tensor(rng.uniform(100, 900, (1, 12, 1)))
    amplitudes = torch.tensor(rng.uniform(0, 1, (1, 12, 1)))
    offline = wavetable_synthesis(f0, amplitudes, tables, 12 * 16, SR)
    phase, pieces = None, []
    for start in range(0, 12, 4):

        def take(x, start=start):
            return x[:, start : start + 5] if start + 4 < 12 else torch.cat([x[:, start:], x[:, -1:]], 1)

        piece, phase = wavetable_synthesis(
            take(f0), take(amplitudes), take(tables), 64, SR, state=phase, return_state=True, add_endpoint=False
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), offline.numpy(), atol=1e-10)


def test_wavetable_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="frame counts"):
        wavetable_synthesis(torch.ones(1, 10, 1), torch.ones(1, 9, 1), torch.ones(1, 64), 640, SR)
