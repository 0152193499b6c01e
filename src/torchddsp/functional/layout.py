"""Audio layout: ops take audio ``(..., n_samples)`` and work on ``(batch, n_samples)``.

Leading dimensions (none, a batch, batch and channels, ...) are flattened into one batch before
the work and restored after it, as torchaudio and julius do. A per-item control or state then
indexes the flattened batch (``batch = prod(leading)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError, check_tensor

__all__ = ["flatten_audio", "restore_audio"]


def flatten_audio(name: str, x: Tensor) -> tuple[Tensor, torch.Size]:
    """``x`` ``(..., n_samples)`` as ``(batch, n_samples)`` and its leading shape.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        InputError: ``x`` is 0-d.

    Example:
        >>> flat, leading = flatten_audio("x", torch.zeros(2, 3, 100))
        >>> tuple(flat.shape), tuple(leading)
        ((6, 100), (2, 3))
    """
    check_tensor(name, x)
    if x.dim() == 0:
        raise InputError(f"{name} must have shape (..., n_samples), found a 0-d tensor")
    leading = x.shape[:-1]
    return x.reshape(math.prod(leading), x.shape[-1]), leading


def restore_audio(y: Tensor, leading: torch.Size) -> Tensor:
    """``y`` ``(batch, ...)`` with its batch dimension unflattened to ``leading``.

    Example:
        >>> restore_audio(torch.zeros(6, 100), torch.Size([2, 3])).shape
        torch.Size([2, 3, 100])
    """
    return y.reshape(*leading, *y.shape[1:])
