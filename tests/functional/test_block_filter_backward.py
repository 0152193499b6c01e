"""The backward passes of overlap-add and the block convolution: exact and lean.

Overlap-add's gradient is the output's gradient framed again (its adjoint); the block
convolution behind ``frequency_filter`` (``FilteredNoise``) must not fall back to autograd
through in-place slice additions, which replays them as dozens of signal-sized copies (the
fwd+bwd cost of issue 13's leftover).
"""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from torchddsp.functional import fft_convolve
from torchddsp.functional import frequency_filter
from torchddsp.functional import overlap_add


@pytest.mark.parametrize("n_frames,size,hop", [(6, 8, 2), (6, 7, 3), (5, 4, 6), (1, 9, 4), (7, 12, 12)])
def test_overlap_add_gradient_is_the_output_gradient_framed(rng, n_frames, size, hop):
    # Closed form: frame i covers output samples [i * hop, i * hop + size), so its gradient
    # is that stretch of the output's gradient (a gather: exact, no rounding).
    frames = torch.tensor(rng.standard_normal((2, n_frames, size)), requires_grad=True)
    out = overlap_add(frames, hop)
    grad_out = rng.standard_normal(tuple(out.shape))
    (grad,) = torch.autograd.grad(out, frames, torch.tensor(grad_out))
    expected = np.stack([grad_out[:, i * hop : i * hop + size] for i in range(n_frames)], axis=1)
    np.testing.assert_array_equal(grad.numpy(), expected)


def test_overlap_add_second_derivative(rng):
    # Training a loss on gradients (double backward) goes through the backward's own graph.
    frames = torch.tensor(rng.standard_normal((2, 4, 7)), requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: overlap_add(x, 3), (frames,))


class _LargeOutputs(TorchDispatchMode):
    """Counts the ops that make a new tensor (not a view of an input) of at least
    ``threshold`` elements."""

    def __init__(self, threshold: int):
        super().__init__()
        self.threshold, self.count = threshold, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if isinstance(first, torch.Tensor) and first.numel() >= self.threshold:
            inputs = {a.untyped_storage().data_ptr() for a in args if isinstance(a, torch.Tensor)}
            self.count += first.untyped_storage().data_ptr() not in inputs
        return out


def test_frequency_filter_backward_makes_few_signal_sized_tensors(rng):
    # Per-frame filtering as FilteredNoise does it (64-sample blocks, 128 taps). The lean
    # backward makes 9 new signal-sized tensors (3 of them the loss's; then the slice's
    # gradient, the framed gradient, its FFT, the spectrum products, the matrix product);
    # autograd through overlap-add's in-place slice sums made 40.
    audio = torch.tensor(rng.uniform(-1, 1, (2, 40 * 64)), dtype=torch.float32)
    magnitudes = torch.tensor(rng.uniform(0, 1, (2, 40, 65)), dtype=torch.float32, requires_grad=True)
    loss = frequency_filter(audio, magnitudes).square().sum()
    with _LargeOutputs(threshold=audio.numel()) as large:
        loss.backward()
    assert large.count <= 12, f"{large.count} signal-sized tensors in the backward pass"


@pytest.mark.parametrize("n_samples", [999, 1000])
def test_time_varying_convolution_with_a_short_last_block(rng, n_samples):
    # 10 frames cut 999 samples into blocks of 100 and a last one of 99 (padded with a zero
    # sample, which must add nothing): each block convolved with its own filter, overlap-added.
    audio = rng.standard_normal((2, n_samples))
    ir = rng.standard_normal((2, 10, 31))
    y = fft_convolve(torch.tensor(audio), torch.tensor(ir), padding="valid")
    expected = np.zeros((2, n_samples + 30))
    for b in range(2):
        for i in range(10):
            block = audio[b, i * 100 : (i + 1) * 100]
            expected[b, i * 100 : i * 100 + len(block) + 30] += np.convolve(block, ir[b, i])
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)
