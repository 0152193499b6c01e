"""Seeded noise. Randomness comes from an explicit generator or seed, so a render is
reproducible and does not depend on what else ran; only when given neither does it draw
from PyTorch's global RNG (which it never reseeds)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_positive_int

__all__ = ["uniform_noise", "make_generator"]


def make_generator(seed: int | None = None, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Generator | None:
    """Return ``generator``, or a new one seeded with ``seed``; None when both are None."""
    if generator is not None and seed is not None:
        raise ValueError("pass either seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, found {type(generator).__name__}")
        return generator
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


def uniform_noise(
    batch: int,
    n_samples: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """White noise uniform in [-1, 1), shape ``(batch, n_samples)``.

    Args:
        batch, n_samples: output shape.
        seed: seeds a fresh generator (reproducible). Mutually exclusive with ``generator``.
        generator: draws from this generator (advances it). With neither, the global RNG is
            used (and never reseeded).
        dtype, device: of the output. The generator must live on ``device``.
    """
    batch = check_positive_int("batch", batch)
    n_samples = check_positive_int("n_samples", n_samples)
    source = make_generator(seed, generator, device)
    noise = torch.rand(batch, n_samples, generator=source, dtype=dtype, device=device)
    return noise * 2.0 - 1.0
