"""Seeded noise. Randomness comes from an explicit generator or seed, so a render is
reproducible and does not depend on what else ran; only when given neither does it draw
from PyTorch's global RNG (which it never reseeds)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_positive_int
from .engine.shared import GOLDEN as _GOLDEN
from .engine.shared import MIX_1 as _MIX_1
from .engine.shared import MIX_2 as _MIX_2

__all__ = ["uniform_noise", "make_generator", "counter_noise", "noise_seed", "seeded_noise"]

# SplitMix64 (engine.shared: its constants and compiled twin): sample n of a seed is a pure
# function of (seed, n), computed the same way by integer arithmetic on every device.
_MASK_64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _splitmix_int(z: int) -> int:
    z = (z + _GOLDEN) & _MASK_64
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK_64
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK_64
    return z ^ (z >> 31)


def noise_seed(*keys: int) -> int:
    """A 63-bit seed mixed from integers (e.g. a dataset seed and a sound index), so nearby
    keys give unrelated noise."""
    state = 0
    for key in keys:
        state = _splitmix_int(state ^ (int(key) & _MASK_64))
    return state >> 1


def _shift_right(z: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def counter_noise(
    seeds: Tensor, n_samples: int, offset: int | Tensor = 0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Uniform noise in [-1, 1) that is a pure function of (seed, sample index).

    Row ``b`` is ``u(seeds[b], offset + n)`` for ``n < n_samples``: the same numbers whatever
    the batch, the block boundaries (``offset`` continues a stream) and the device (exact
    int64 arithmetic, no device RNG). 53 random bits per sample. Compiled kernels draw the same
    numbers with ``engine.shared.splitmix_uniform``.

    Args:
        seeds: ``(batch,)`` int64 seeds (e.g. from :func:`noise_seed`).
        n_samples: samples per row (0: an empty block); ``offset``: index of the first (an int
            or a 0-d int64 tensor: a stream's count kept as data, e.g. in an exported graph).
        dtype: output floating dtype.

    Returns:
        ``(batch, n_samples)``. Not differentiable (random numbers).
    """
    if not isinstance(seeds, Tensor) or seeds.dtype != torch.int64 or seeds.dim() != 1:
        raise InputError(
            f"seeds must be a (batch,) int64 tensor, found {getattr(seeds, 'dtype', type(seeds))} "
            f"of shape {tuple(getattr(seeds, 'shape', ()))}"
        )
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    check_floating_dtype(dtype)
    index = torch.arange(1, n_samples + 1, dtype=torch.int64, device=seeds.device) + offset
    z = seeds[:, None] + index[None, :] * _signed(_GOLDEN)
    # In place on z (a fresh tensor): one signal-sized buffer instead of one per operation.
    z ^= _shift_right(z, 30)
    z *= _signed(_MIX_1)
    z ^= _shift_right(z, 27)
    z *= _signed(_MIX_2)
    z ^= _shift_right(z, 31)
    # 53 bits u in [0, 1): 2u - 1 = bits * 2^-52 - 1, exact in float64.
    return _shift_right(z, 11).to(torch.float64).mul_(2.0**-52).sub_(1.0).to(dtype)


def seeded_noise(
    seed: int,
    batch: int,
    n_samples: int,
    offset: int | Tensor = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """:func:`counter_noise` of one integer ``seed``: row ``b`` uses ``noise_seed(seed, b)``, so
    rows differ and each is the same whatever the batch; ``offset`` continues a stream.

    Shape: ``(batch, n_samples)``, uniform in [-1, 1).

    Example:
        >>> whole = seeded_noise(7, 2, 10)
        >>> torch.equal(torch.cat([seeded_noise(7, 2, 4), seeded_noise(7, 2, 6, offset=4)], 1), whole)
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, found {type(seed).__name__}")
    batch = check_positive_int("batch", batch, minimum=0)
    seeds = torch.tensor([noise_seed(seed, b) for b in range(batch)], dtype=torch.int64, device=device)
    return counter_noise(seeds, n_samples, offset, dtype)


def check_floating_dtype(dtype: object) -> None:
    """Raise unless ``dtype`` is a floating torch dtype (noise in [-1, 1) has no integer form)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch dtype (e.g. torch.float32), found {dtype!r}")


def make_generator(
    seed: int | None = None, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Generator | None:
    """Return ``generator``, or a new one seeded with ``seed``; None when both are None."""
    if generator is not None and seed is not None:
        raise InputError("pass either seed or generator, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, found {type(generator).__name__}")
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
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    check_floating_dtype(dtype)
    source = make_generator(seed, generator, device)
    noise = torch.rand(batch, n_samples, generator=source, dtype=dtype, device=device)
    return noise * 2.0 - 1.0
