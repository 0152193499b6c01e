"""Audio layout: ``flatten_audio``/``restore_audio``/``flatten_state``, and every op of the
functional layer that takes audio accepting ``(..., n_samples)``: a ``(2, 3, n)`` input gives
exactly the per-item results (controls and states indexing the flattened batch of 6), and a
1-D input gives the result of its one item.

Bugs these catch: leading dimensions reshaped in the wrong order (items swapped: a transposed
restore), a state restored with the audio's shape or not at all, an op still demanding
``(batch, n_samples)``, a 1-D input treated as a batch of single samples."""

from __future__ import annotations

import pytest
import torch

import torchddsp.functional as F
from torchddsp.functional.layout import flatten_audio
from torchddsp.functional.layout import flatten_state
from torchddsp.functional.layout import restore_audio
from torchddsp.validation import InputError

N = 48


def test_flatten_and_restore_round_trip():
    x = torch.arange(2 * 3 * 5, dtype=torch.float64).reshape(2, 3, 5)
    flat, leading = flatten_audio("x", x)
    assert flat.shape == (6, 5) and tuple(leading) == (2, 3)
    assert torch.equal(flat[4], x[1, 1])  # row-major: item (1, 1) is row 1 * 3 + 1
    assert torch.equal(restore_audio(flat, leading), x)
    one, leading = flatten_audio("x", x[0, 0])
    assert one.shape == (1, 5) and tuple(leading) == ()
    assert restore_audio(one * 2, leading).shape == (5,)
    empty, leading = flatten_audio("x", torch.zeros(0, 3, 5))
    assert empty.shape == (0, 5) and restore_audio(empty, leading).shape == (0, 3, 5)


def test_flatten_refuses_what_is_not_audio():
    with pytest.raises(InputError, match=r"x must have shape \(\.\.\., n_samples\), found a 0-d tensor"):
        flatten_audio("x", torch.tensor(1.0))
    with pytest.raises((TypeError, ValueError), match="x must be a floating-point tensor"):
        flatten_audio("x", torch.zeros(2, 5, dtype=torch.long))


def test_flatten_state_follows_the_leading_dimensions():
    zi = torch.arange(12.0).reshape(2, 3, 2)
    flat = flatten_state("zi", zi, torch.Size([2, 3]), (2,))
    assert flat.shape == (6, 2) and torch.equal(flat[5], zi[1, 2])
    assert flatten_state("history", torch.zeros(6, 7), torch.Size([6]), (None,)).shape == (6, 7)
    assert flatten_state("zi", torch.zeros(2), torch.Size([]), (2,)).shape == (1, 2)
    with pytest.raises(InputError, match=r"zi must have shape \(2, 3, 2\) .* found \(6, 2\)"):
        flatten_state("zi", torch.zeros(6, 2), torch.Size([2, 3]), (2,))
    with pytest.raises(InputError, match=r"zi must have shape \(2, 3, 2\) .* found \(2, 3, 3\)"):
        flatten_state("zi", torch.zeros(2, 3, 3), torch.Size([2, 3]), (2,))


def _items(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(2, 3, N, dtype=torch.float64, generator=generator)


def _per_item(batch: int, low: float, high: float, seed: int, *shape: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(batch, *shape, dtype=torch.float64, generator=generator)


# Each case: op(x, rows) for audio x of 2-D (batch, n) or more, with its per-item controls and
# states taken at `rows` of the flattened batch of 6 (so that one item's call sees its own).
CUTOFF, Q, ZI = _per_item(6, 300.0, 3000.0, 1, 1), _per_item(6, 0.5, 4.0, 2, 1), _per_item(6, -1.0, 1.0, 3, 2)
SWEEP, PHASER_ZI = _per_item(6, 200.0, 4000.0, 4, 1), _per_item(6, -1.0, 1.0, 5, 5)
DRIVE, DELAY = _per_item(6, 0.0, 12.0, 6, 1), _per_item(6, 1.0, 9.0, 7, 1)
HISTORY, IR = _per_item(6, -1.0, 1.0, 8, 12), _per_item(6, -1.0, 1.0, 9, 7)
MAGNITUDES, FRAMES = _per_item(6, 0.0, 1.0, 10, 4, 9), _per_item(6, -1.0, 1.0, 11, 4, 8)


def _lead(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-item state or frame tensor ``(batch, ...)`` shaped with ``x``'s leading dimensions."""
    return value.reshape(*x.shape[:-1], *value.shape[1:])


CASES = {
    "state_variable_filter": lambda x, r: F.state_variable_filter(
        x, CUTOFF[r], Q[r], 16000.0, ("lowpass", "highpass"), state=_lead(ZI[r], x), return_state=True
    ),
    "allpass_cascade": lambda x, r: F.allpass_cascade(
        x, torch.tanh(SWEEP[r] / 4000.0 - 0.5), 4, 0.3, state=_lead(PHASER_ZI[r], x), return_state=True
    ),
    "phaser": lambda x, r: F.phaser(x, SWEEP[r], 4, 0.5, 0.7, 16000.0, state=_lead(PHASER_ZI[r], x), return_state=True),
    "waveshape": lambda x, r: F.waveshape(x, "tanh", DRIVE[r], 0.1, oversampling=2),
    "waveshape-chebyshev": lambda x, r: F.waveshape(x, "chebyshev", 0.0, 0.2, DRIVE[r].repeat(1, 3) / 12.0),
    "fractional_delay": lambda x, r: F.fractional_delay(x, DELAY[r], "cubic", state=_lead(HISTORY[r], x)),
    "fractional_delay-state": lambda x, r: F.fractional_delay(
        x, DELAY[r], state=_lead(HISTORY[r], x), return_state=True
    ),
    "fft_convolve": lambda x, r: F.fft_convolve(x, IR[r], "valid"),
    "frequency_filter": lambda x, r: F.frequency_filter(x, MAGNITUDES[r], 9),
    "sinc_filter": lambda x, r: F.sinc_filter(x, 2000.0, 17),
    "resample": lambda x, r: F.resample(x, 16000, 22050),
    "resample_blocks": lambda x, r: torch.cat(list(F.resampling.resample_blocks(x.split(20, -1), 3, 2)), -1),
    "overlap_add": lambda x, r: F.overlap_add(_lead(FRAMES[r], x) + x[..., :1, None], 3),
}


def _tensors(result) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _flatten_nested(result) -> list[torch.Tensor]:
    out = []
    for item in _tensors(result):
        out.extend(_tensors(item))
    return out


@pytest.mark.parametrize("op", CASES)
def test_leading_dimensions_give_the_per_item_results(op):
    x = _items()
    call = CASES[op]
    whole = _flatten_nested(call(x, slice(None)))
    for k in range(6):
        i, j = divmod(k, 3)
        single = _flatten_nested(call(x[i, j][None], slice(k, k + 1)))
        vector = _flatten_nested(call(x[i, j], slice(k, k + 1)))  # 1-D audio: one item, no batch
        for a, b, c in zip(whole, single, vector):
            assert a.shape[:2] == (2, 3), f"{op}: result shape {tuple(a.shape)} lost the leading dimensions"
            torch.testing.assert_close(a[i, j], b[0], rtol=0, atol=1e-12)
            assert c.shape == b.shape[1:], f"{op}: 1-D input gave {tuple(c.shape)}, expected {tuple(b.shape[1:])}"
            torch.testing.assert_close(c, b[0], rtol=0, atol=1e-12)
