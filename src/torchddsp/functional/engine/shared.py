"""Compiled helpers that kernels share: the library's one SplitMix64 noise and its one phase
advance, each the compiled twin of a PyTorch function tested equal to it.

- :func:`splitmix_uniform` is sample ``index`` of :func:`torchddsp.functional.noise.counter_noise`
  for ``seed`` (the constants below are the only copy; ``noise`` imports them);
- :func:`advance_turns` is :func:`torchddsp.functional.phase.hop_turns` wrapped to ``[0, 1)``
  (the phase convention of ``phase``: the running sum of a linearly moving frequency).

Both are inlined into the kernels that call them; called from Python they run compiled too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import compile_function

__all__ = ["inline", "splitmix_uniform", "advance_turns", "GOLDEN", "MIX_1", "MIX_2"]

# SplitMix64 (Steele, Lea and Flood, 2014): a counter-based generator, so sample n of a seed is
# a pure function of (seed, n), computed the same way by integer arithmetic on every device.
GOLDEN = 0x9E3779B97F4A7C15
MIX_1 = 0xBF58476D1CE4E5B9
MIX_2 = 0x94D049BB133111EB


def inline(function: Callable) -> Callable:
    """``function`` compiled to be inlined into the kernels that call it (unchanged without
    numba: the kernels that would call it are not compiled then)."""
    return compile_function(function, inline="always")


@inline
def splitmix_uniform(seed, index):  # pragma: no cover - compiled
    """Uniform in [-1, 1) from (int64 ``seed``, sample ``index``): 53 random bits."""
    z = np.uint64(seed) + np.uint64(index) * np.uint64(GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX_2)
    z = z ^ (z >> np.uint64(31))
    return 2.0 * (float(z >> np.uint64(11)) * 1.1102230246251565e-16) - 1.0


@inline
def advance_turns(sample_turns, turns, step_turns, step_change, hop):  # pragma: no cover - compiled
    """Fill ``sample_turns[j]`` (float64 cycles wrapped to [0, 1)) for the ``hop`` samples after
    phase ``turns``, whose step starts at ``step_turns`` and moves by ``step_change`` per
    sample; return the phase after the hop, wrapped. Closed form per sample (``turns + (j+1)
    step + j (j+1) / 2 change``): no loop-carried dependency, so the loop vectorises."""
    for j in range(hop):
        t = turns + (j + 1) * step_turns + (0.5 * j * (j + 1)) * step_change
        sample_turns[j] = t - math.floor(t)
    end = turns + hop * step_turns + (0.5 * hop * (hop - 1)) * step_change
    return end - math.floor(end)
