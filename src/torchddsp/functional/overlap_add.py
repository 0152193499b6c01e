"""Overlap-add: frames placed every ``hop`` samples and summed (the adjoint of framing)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import check_finite, check_positive_int, check_rank, half_in_float32

__all__ = ["overlap_add", "overlap_add_unchecked"]


@half_in_float32
def overlap_add(frames: Tensor, hop: int) -> Tensor:
    """Sum of ``frames`` placed every ``hop`` samples.

    Each frame is cut into ``ceil(size / hop)`` hop-long segments; segment ``s`` of frame ``i``
    lands on output block ``i + s``, so the sum is a few shifted additions of whole tensors
    (much cheaper, forward and backward, than ``fold`` or ``unfold``'s backward).

    Shape:
        ``frames``: ``(batch, n_frames, size)`` -> ``(batch, (n_frames - 1) * hop + size)``
        (``(batch, 0)`` for no frames).

    Args:
        frames: the frames. Differentiable.
        hop: samples between frame starts, >= 1.
    """
    check_rank("frames", frames, 3, "(batch, n_frames, size)")
    hop = check_positive_int("hop", hop)
    check_finite("frames", frames)
    return overlap_add_unchecked(frames, hop)


def overlap_add_unchecked(frames: Tensor, hop: int) -> Tensor:
    """:func:`overlap_add` without validation, for the library's own inner loops (backward
    passes, block convolution) whose frames are already checked or are gradients."""
    batch, n_frames, size = frames.shape
    if n_frames == 0:  # nothing to add: an empty signal, not (0 - 1) * hop + size samples
        return frames.new_zeros(batch, 0)
    n_segments = -(-size // hop)
    if n_segments * hop != size:
        frames = torch.nn.functional.pad(frames, (0, n_segments * hop - size))
    # unbind (not indexing): its backward is one stack, not a zero-filled copy per segment.
    segments = frames.reshape(batch, n_frames, n_segments, hop).unbind(2)
    out = frames.new_zeros(batch, n_frames + n_segments - 1, hop)
    for s, segment in enumerate(segments):
        out[:, s : s + n_frames] += segment
    return out.view(batch, -1)[:, : (n_frames - 1) * hop + size]
