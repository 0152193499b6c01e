"""Streaming convolution (issue 14): :func:`partitioned_convolution` and the streaming render of
``Reverb``, ``ExpDecayReverb``, ``FilteredNoiseReverb`` and ``FIRFilter``.

Blocks of any size (1 sample, primes, sizes below and above the partition, up to 4096),
changing from call to call, joined, must equal the whole signal's causal convolution computed
by scipy in float64: within 1e-5 of the peak in float32 and 1e-10 in float64. The responses
cover every partition layout: shorter than a partition, exactly one, a whole number of them,
and a ragged last one; a 16000-tap response (one second at 16 kHz) streamed past its end.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from references import to_numpy

import torchddsp as td
from torchddsp.functional import exp_sigmoid
from torchddsp.functional import frequency_impulse_response
from torchddsp.functional import partitioned_convolution
from torchddsp.functional import partitioned_convolution_state
from torchddsp.validation import InputError

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}

#: Fixed block sequences: single samples, primes, one short of / at / one past a partition
#: of 256, and 4096 (many partitions in one block), in orders that cross partition edges.
FIXED_BLOCKS = {
    "ones-then-primes": [1] * 300 + [2, 3, 5, 7, 11, 13, 255, 256, 257, 1, 509, 4096],
    "large-first": [4096, 1, 257, 3, 4093, 255, 256, 1024, 17],
}


def _random_blocks(seed: int, total: int) -> list[int]:
    """Sizes from 1 to 4096 summing to ``total``: small and large ones mixed."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(1, 4097)) if rng.random() < 0.5 else int(rng.integers(1, 300)))
    sizes[-1] -= sum(sizes) - total
    return sizes


def _causal(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """scipy's float64 full convolution, item by item (``ir`` shared when it has one row),
    cut to the input's length."""
    rows = [ir[0 if ir.shape[0] == 1 else b] for b in range(audio.shape[0])]
    return np.stack([scipy.signal.fftconvolve(a, h)[: audio.shape[-1]] for a, h in zip(audio, rows)])


def _stream(call, audio: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """``call(block, state) -> (output, state)`` over consecutive blocks of ``sizes``, joined."""
    state, pieces, start = None, [], 0
    for size in sizes:
        piece, state = call(audio[..., start : start + size], state)
        assert piece.shape[-1] == size
        pieces.append(piece)
        start += size
    assert start == audio.shape[-1]
    return torch.cat(pieces, -1)


def _assert_close(ours: torch.Tensor, expected: np.ndarray, dtype: torch.dtype, what: str) -> None:
    peak = np.abs(expected).max()
    error = np.abs(to_numpy(ours) - expected).max() / peak
    assert error < TOLERANCE[dtype], f"{what}: error {error:.3g} of the peak"


def _signals(batch: int, n_samples: int, ir_batch: int, ir_size: int, dtype: torch.dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((batch, n_samples))
    # A decaying response, as a reverb's: the late partitions small but not negligible.
    ir = rng.standard_normal((ir_batch, ir_size)) * np.exp(-np.arange(ir_size) / (ir_size / 3 + 1))
    audio, ir = audio.astype(np.float32).astype(np.float64), ir.astype(np.float32).astype(np.float64)
    return audio, ir, torch.tensor(audio, dtype=dtype), torch.tensor(ir, dtype=dtype)


def _blocks(kind: str, total: int) -> list[int]:
    """A fixed sequence (then large blocks, up to ``total``) or a random one (``"random<seed>"``)."""
    if kind not in FIXED_BLOCKS:
        return _random_blocks(int(kind.removeprefix("random")), total)
    sizes = list(FIXED_BLOCKS[kind])
    while sum(sizes) < total:
        sizes.append(4093 if len(sizes) % 2 else 97)
    sizes[-1] -= sum(sizes) - total
    return sizes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("blocks", [*FIXED_BLOCKS, "random0", "random1"])
def test_blocks_of_a_one_second_response_equal_scipy(blocks, dtype):
    # Bugs: an off-by-one partition delay, the head partition missing, the delay line or the
    # tail output not moved on at a partition edge, a fill count lost across calls: each
    # shifts or drops part of the response, far above the tolerance. 20000 samples take the
    # stream past the response's 16000 taps (every partition has reached the output).
    audio_np, ir_np, audio, ir = _signals(2, 20000, 1, 16000, dtype)

    def call(block, state):
        return partitioned_convolution(block, ir, partition_size=256, state=state, return_state=True)

    _assert_close(_stream(call, audio, _blocks(blocks, 20000)), _causal(audio_np, ir_np), dtype, blocks)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(
    ("ir_size", "partition_size"),
    [(100, 256), (256, 256), (1024, 256), (1000, 256), (257, 256), (37, 1), (9, 4), (1, 8)],
    ids=["shorter", "equal", "multiple", "ragged", "one-past", "partition-1", "small", "one-tap"],
)
def test_every_partition_layout_equals_scipy_with_per_item_responses(ir_size, partition_size, dtype):
    # Bugs: a response shorter than a partition given tail partitions (an FFT of nothing, a
    # negative pad), the last ragged partition dropped or not zero-padded, the per-item
    # responses of a batch mixed up (conv1d groups, spectra broadcast over the batch).
    audio_np, ir_np, audio, ir = _signals(3, 3000, 3, ir_size, dtype, seed=ir_size)

    def call(block, state):
        return partitioned_convolution(block, ir, partition_size=partition_size, state=state, return_state=True)

    expected = _causal(audio_np, ir_np)
    _assert_close(_stream(call, audio, _random_blocks(ir_size, 3000)), expected, dtype, "streamed")
    _assert_close(partitioned_convolution(audio, ir, partition_size=partition_size), expected, dtype, "one call")


def test_a_state_reused_twice_gives_the_same_output_and_is_never_written():
    # Bug: the input buffer, delay line or tail written in place: the second use of a state
    # (a host re-rendering a block, a branch of a search) then starts from the wrong history.
    _, _, audio, ir = _signals(2, 1500, 1, 700, torch.float64)
    _, state = partitioned_convolution(audio[:, :333], ir, partition_size=64, return_state=True)
    kept = [tensor.clone() for tensor in state]
    first, _ = partitioned_convolution(audio[:, 333:], ir, partition_size=64, state=state, return_state=True)
    for before, after in zip(kept, state):
        assert torch.equal(before, after)
    second = partitioned_convolution(audio[:, 333:], ir, partition_size=64, state=state)
    assert torch.equal(first, second)
    audio_copy = audio.clone()
    partitioned_convolution(audio, ir, partition_size=64, state=state, return_state=True)
    assert torch.equal(audio, audio_copy)


def test_a_precomputed_state_reads_only_the_head_of_the_response():
    # The stream must not re-FFT the whole response per call: with a precomputed state, a
    # response whose taps past the head are garbage gives the same output (bug: the spectra
    # rebuilt from the argument, which costs a long FFT per block).
    audio_np, ir_np, audio, ir = _signals(1, 900, 1, 600, torch.float64)
    state = partitioned_convolution_state(ir, (1,), partition_size=128, dtype=torch.float64)
    garbage = torch.cat([ir[:, :128], torch.full((1, 472), 1e9, dtype=torch.float64)], 1)
    out = partitioned_convolution(audio, garbage, partition_size=128, state=state)
    _assert_close(out, _causal(audio_np, ir_np), torch.float64, "precomputed")


def test_layouts_and_empty_blocks():
    # Bugs: the audio's leading dimensions lost in the state, an empty block returning a fresh
    # state (a click when the stream goes on), a state of another partition size accepted.
    audio_np, ir_np, audio, ir = _signals(1, 500, 1, 300, torch.float64)
    out, state = partitioned_convolution(audio[0, :200], ir[0], partition_size=64, return_state=True)
    assert out.shape == (200,) and state.inputs.shape == (128,) and state.tail.shape == (64,)
    empty, same = partitioned_convolution(audio[0, :0], ir[0], partition_size=64, state=state, return_state=True)
    assert empty.shape == (0,) and all(torch.equal(a, b) for a, b in zip(same, state))
    rest = partitioned_convolution(audio[0, 200:], ir[0], partition_size=64, state=same)
    _assert_close(torch.cat([out, rest]), _causal(audio_np, ir_np)[0], torch.float64, "1-d")
    with pytest.raises(InputError, match="partition_size"):
        partitioned_convolution(audio[0, 200:], ir[0], partition_size=32, state=state)
    with pytest.raises(InputError, match="state.inputs"):
        partitioned_convolution(audio[:, 200:], ir[0], partition_size=64, state=state)
    with pytest.raises(TypeError, match="state must be a PartitionedConvolutionState"):
        partitioned_convolution(audio, ir, partition_size=64, state=tuple(state))
    with pytest.raises(InputError, match="impulse_response batch"):
        partitioned_convolution(torch.zeros(3, 10), torch.zeros(2, 5))


def test_gradients_through_a_stream_match_finite_differences():
    # Bugs: a detach (or an in-place write) in the head, the spectra or the carried state,
    # which would leave the audio or the response without (or with wrong) gradients.
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn(2, 13, dtype=torch.float64, generator=generator, requires_grad=True)
    ir = torch.randn(2, 11, dtype=torch.float64, generator=generator, requires_grad=True)

    def streamed(x, h):
        first, state = partitioned_convolution(x[:, :5], h, partition_size=4, return_state=True)
        second, state = partitioned_convolution(x[:, 5:6], h, partition_size=4, state=state, return_state=True)
        return torch.cat([first, second, partitioned_convolution(x[:, 6:], h, partition_size=4, state=state)], 1)

    assert torch.autograd.gradcheck(streamed, (audio, ir))
    shared = ir[:1].detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, h: partitioned_convolution(x, h, partition_size=3), (audio, shared))


# Processors: each streamed with its own render options, against scipy on the response the
# processor builds (its controls), first tap zeroed and the dry signal added.


def _reverbs(dtype: torch.dtype) -> dict[str, tuple[td.Processor, tuple]]:
    generator = torch.Generator().manual_seed(3)
    given_ir = torch.randn(2, 16000, generator=generator, dtype=dtype) * torch.exp(-torch.arange(16000) / 4000)
    magnitudes = torch.rand(1, 100, 8, generator=generator, dtype=dtype)
    return {
        "Reverb-given": (td.Reverb(), (given_ir,)),
        "Reverb-trainable": (td.Reverb(trainable=True, reverb_length=16000, seed=1).to(dtype), ()),
        "Reverb-wet": (td.Reverb(add_dry=False, partition_size=512), (given_ir[:1],)),
        "ExpDecayReverb": (td.ExpDecayReverb(trainable=True, reverb_length=16000).to(dtype), ()),
        "FilteredNoiseReverb": (
            td.FilteredNoiseReverb(reverb_length=16000, n_frames=100, n_filter_banks=8).to(dtype),
            (magnitudes,),
        ),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", list(_reverbs(torch.float64)))
def test_streamed_reverbs_equal_scipy_and_their_offline_output(name, dtype):
    # Bugs: the dry tap left in the streamed response (the dry signal twice), the dry signal
    # not added, a learned float32 response not following float64 audio, render options not
    # declared (forward would hand them to controls).
    reverb, controls = _reverbs(dtype)[name]
    audio = torch.randn(2, 6000, generator=torch.Generator().manual_seed(4), dtype=dtype)
    ir = reverb.controls(audio, *controls)["ir"].detach()
    wet_ir = to_numpy(ir).copy()
    wet_ir[:, 0] = 0.0
    expected = _causal(to_numpy(audio), wet_ir) + (to_numpy(audio) if reverb.add_dry else 0.0)

    def call(block, state):
        return reverb(block, *controls, state=state, return_state=True)

    with torch.no_grad():
        streamed = _stream(call, audio, _random_blocks(7, 6000))
        offline = reverb(audio, *controls)
    _assert_close(streamed, expected, dtype, f"{name} streamed")
    _assert_close(offline, expected, dtype, f"{name} offline")


def test_streaming_reverb_render_takes_a_response_computed_once():
    # The documented fast path: controls once, then render per block with the state.
    reverb = td.ExpDecayReverb(reverb_length=3000).double()
    audio = torch.randn(1, 2000, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    gain, decay = torch.full((1, 1), 2.0, dtype=torch.float64), torch.full((1, 1), 3.0, dtype=torch.float64)
    ir = reverb.controls(audio, gain, decay)["ir"]
    streamed = _stream(lambda b, s: reverb.render(b, ir, state=s, return_state=True), audio, [1, 700, 1299])
    torch.testing.assert_close(streamed, reverb(audio, gain, decay), atol=1e-10, rtol=0)


def _fir_reference(audio: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Block-wise causal FIR filtering in float64: block ``i`` of ``ceil(n / n_frames)`` samples
    convolved (scipy) with response ``i``, overlap-added; ``(batch, n_samples + taps - 1)``."""
    n_frames, taps = responses.shape[1], responses.shape[2]
    hop = -(-audio.shape[1] // n_frames)
    out = np.zeros((audio.shape[0], audio.shape[1] + taps - 1))
    for b in range(audio.shape[0]):
        for i in range(n_frames):
            block = audio[b, i * hop : (i + 1) * hop]
            out[b, i * hop : i * hop + len(block) + taps - 1] += scipy.signal.fftconvolve(block, responses[b, i])
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("frames", ["one-response", "per-frame"])
def test_streamed_fir_filter_is_the_offline_output_delayed_by_half_the_window(frames, dtype):
    # Bugs: the overlap of earlier blocks not carried (a click at every block edge), the
    # carried overlap not shifted when a block is shorter than the window, the latency not
    # half the window (the offline output's delay compensation).
    generator = torch.Generator().manual_seed(6)
    n_samples, hop, n_bins = 4800, 48, 33  # window 64 taps: latency 32 samples
    audio = torch.randn(2, n_samples, generator=generator, dtype=dtype)
    n_frames = n_samples // hop if frames == "per-frame" else 1
    raw = torch.randn(2, n_frames, n_bins, generator=generator, dtype=dtype)
    fir = td.FIRFilter()
    magnitudes = exp_sigmoid(raw if frames == "per-frame" else raw[:, 0])
    responses = to_numpy(frequency_impulse_response(magnitudes.reshape(2, n_frames, n_bins)))
    full = _fir_reference(to_numpy(audio), responses)
    if frames == "per-frame":  # whole frames per block, each block given its frames
        sizes = [hop * k for k in (1, 3, 2, 7, 1, 30, 5, 50, 1)]
    else:  # one response: any block size
        sizes = [1, 2, 31, 32, 33, 63, 64, 65, 1, 4096, 405, 7]
    assert sum(sizes) == n_samples
    state, pieces, start = None, [], 0
    for size in sizes:
        control = raw[:, start // hop : (start + size) // hop] if frames == "per-frame" else raw[:, 0]
        piece, state = fir(audio[:, start : start + size], control, state=state, return_state=True)
        pieces.append(piece)
        start += size
    offline = fir(audio, raw if frames == "per-frame" else raw[:, 0])
    _assert_close(torch.cat(pieces, 1), full[:, :n_samples], dtype, "streamed")
    _assert_close(offline, full[:, 32 : 32 + n_samples], dtype, "offline")


def test_streamed_fir_filter_checks_its_state_and_keeps_it_over_an_empty_block():
    fir = td.FIRFilter()
    audio, magnitudes = torch.randn(2, 100), torch.zeros(2, 33)
    _, state = fir(audio, magnitudes, return_state=True)
    empty, same = fir(audio[:, :0], magnitudes, state=state, return_state=True)
    assert empty.shape == (2, 0) and torch.equal(same, state)
    with pytest.raises(InputError, match="state must have shape"):
        fir(audio, magnitudes, state=torch.zeros(2, 10))
