"""Overlap-add: frames placed every ``hop_size`` samples and summed (the adjoint of framing)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_tensor
from ..validation import half_in_float32
from .layout import restore_audio

__all__ = ["overlap_add", "overlap_add_unchecked"]


@half_in_float32
def overlap_add(frames: Tensor, hop_size: int) -> Tensor:
    """Sum of ``frames`` placed every ``hop_size`` samples.

    Each frame is cut into ``ceil(size / hop_size)`` hop-long segments; segment ``s`` of frame ``i``
    lands on output block ``i + s``, so the sum is a few shifted additions of whole tensors
    (much cheaper, forward and backward, than ``fold`` or ``unfold``'s backward).

    Shape:
        ``frames``: ``(..., n_frames, size)`` -> ``(..., (n_frames - 1) * hop_size + size)``
        (``(..., 0)`` for no frames; leading dimensions flattened and restored, as for audio).

    Args:
        frames: the frames. Differentiable.
        hop_size: samples between frame starts, >= 1.

    Example:
        >>> overlap_add(torch.ones(2, 3, 4), 2).tolist()[0]
        [1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0]
    """
    check_tensor("frames", frames)
    if frames.dim() < 2:
        raise InputError(f"frames must have shape (..., n_frames, size), found {tuple(frames.shape)}")
    hop_size = check_positive_int("hop_size", hop_size)
    check_finite("frames", frames)
    leading = frames.shape[:-2]
    flat = frames.reshape(math.prod(leading), *frames.shape[-2:])
    return restore_audio(overlap_add_unchecked(flat, hop_size), leading)


def overlap_add_unchecked(frames: Tensor, hop_size: int) -> Tensor:
    """:func:`overlap_add` without validation, for the library's own inner loops (backward
    passes, block convolution) whose frames are already checked or are gradients."""
    if frames.shape[1] == 0:  # nothing to add: an empty signal, not (0 - 1) * hop_size + size samples
        return frames.new_zeros(frames.shape[0], 0)
    return _OverlapAdd.apply(frames, hop_size)


class _OverlapAdd(torch.autograd.Function):
    """Overlap-add whose backward is one framing of the gradient (its adjoint, exact).

    Autograd through the in-place sums would replay every ``out[:, s : s + n_frames] +=``
    as a chain of whole-buffer copies (a ``CopySlices`` per segment: about 40 ops and a dozen
    signal-sized temporaries); the frames' gradient is just the output's gradient read every
    ``hop_size`` samples, ``size`` at a time.
    """

    @staticmethod
    def forward(ctx, frames: Tensor, hop_size: int) -> Tensor:
        ctx.size, ctx.hop_size = frames.shape[-1], hop_size
        return _overlap_add_sum(frames, hop_size)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:
        # Frame i is samples [i * hop_size, i * hop_size + size) of the output: an unfold
        # (a view) made contiguous once; differentiable, so double backward works too.
        return grad_output.unfold(-1, ctx.size, ctx.hop_size).contiguous(), None


def _overlap_add_sum(frames: Tensor, hop_size: int) -> Tensor:
    """The sum itself: each frame cut into hop-long segments, segment ``s`` of every frame
    added to output blocks ``s .. s + n_frames`` (a few whole-tensor additions)."""
    batch, n_frames, size = frames.shape
    n_segments = -(-size // hop_size)
    if n_segments * hop_size != size:
        frames = torch.nn.functional.pad(frames, (0, n_segments * hop_size - size))
    segments = frames.reshape(batch, n_frames, n_segments, hop_size).unbind(2)
    out = frames.new_zeros(batch, n_frames + n_segments - 1, hop_size)
    for s, segment in enumerate(segments):
        out[:, s : s + n_frames].add_(segment)  # in place on the view: no copy back
    return out.view(batch, -1)[:, : (n_frames - 1) * hop_size + size]
