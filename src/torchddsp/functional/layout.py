"""Audio layout: ops take audio ``(..., n_samples)`` and work on ``(batch, n_samples)``.

Leading dimensions (none, a batch, batch and channels, ...) are flattened into one batch before
the work and restored after it, as torchaudio and julius do. A per-item control then indexes
the flattened batch (``batch = prod(leading)``); a state (a filter's memory, a delay line's
history) has the audio's leading dimensions followed by its own, ``(..., state_size)``, and
comes back in that layout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_tensor

__all__ = ["flatten_audio", "restore_audio", "flatten_state"]


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


def flatten_state(name: str, state: Tensor, leading: torch.Size, trailing: tuple[int | None, ...]) -> Tensor:
    """A state ``(*leading, *trailing)`` as ``(batch, *trailing)``, ``batch = prod(leading)``.

    Args:
        name: the argument's name, for error messages.
        state: the state given with audio of leading shape ``leading``.
        leading: from :func:`flatten_audio`.
        trailing: the state's own sizes; ``None`` takes any size (a history of any length).

    Raises:
        TypeError: ``state`` is not a floating-point tensor.
        InputError: its shape is not ``(*leading, *trailing)``.

    Example:
        >>> flatten_state("zi", torch.zeros(2, 3, 5), torch.Size([2, 3]), (5,)).shape
        torch.Size([6, 5])
    """
    check_tensor(name, state)
    found = tuple(state.shape)
    expected = (*leading, *trailing)
    if len(found) != len(expected) or any(e is not None and f != e for f, e in zip(found, expected)):
        layout = ", ".join("n" if e is None else str(e) for e in expected)
        raise InputError(
            f"{name} must have shape ({layout}) (the input's leading dimensions, then the state's), found {found}"
        )
    return state.reshape(math.prod(leading), *found[len(leading) :])
