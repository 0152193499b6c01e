"""Compiled helpers that kernels share: the library's one SplitMix64 noise and its one phase
advance, each the compiled twin of a PyTorch function tested equal to it.

- :func:`splitmix_uniform` is sample ``index`` of :func:`torchddsp.functional.noise.counter_noise`
  for ``seed`` (the constants below are the only copy; ``noise`` imports them);
- :func:`advance_turns` is :func:`torchddsp.functional.phase.hop_turns` wrapped to ``[0, 1)``
  (the phase convention of ``phase``: the running sum of a linearly moving frequency);
- :func:`flushed` snaps a recursive filter's subnormal state to an exact 0 (below).

Subnormal numbers (magnitudes below the dtype's smallest normal number, ``1.2e-38`` in float32,
``2.2e-308`` in float64) cost tens of cycles per operation on x86 instead of one: the state of
a stable recursive filter after an impulse decays into them and stays there (rounding leaves a
subnormal limit cycle, never an exact 0), so silence after a sound ran 2-2.5x slower than noise
(``benchmarks/bench_load.py``). The recurrence kernels therefore set state below the smallest
normal to 0 every :data:`FLUSH_EVERY` samples (a zero state then stays exactly 0), inside the
kernels: a process-wide flush-to-zero flag would change every other computation of the host.
Each flush moves a state by less than the smallest normal number, so for a stable filter the
output moves by at most about that times the filter's gain sum (``K max|a_k| sum|h[n]|``: about
``1e4`` of it for poles at 0.98, ``1e-34`` in float32), far below any tolerance the results are
held to; NaN and infinities pass unchanged. Flushing once per block rather than per sample
keeps the check off the recurrence's dependency chain (per sample it cost order 2 50% and order
1 40% on noise), and leaves no dead band: a state flushed per sample can settle in a limit cycle
just above the smallest normal, where one flushed periodically decays well below it in between.

Both are inlined into the kernels that call them; called from Python they run compiled too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import compile_function

__all__ = ["inline", "splitmix_uniform", "advance_turns", "flushed", "FLUSH_EVERY", "GOLDEN", "MIX_1", "MIX_2"]

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


#: Samples between a recurrence kernel's flushes of subnormal state (module docstring); a power
#: of two, so that ``n & (FLUSH_EVERY - 1)`` picks the flush steps.
FLUSH_EVERY = 64


@inline
def flushed(value, tiny):  # pragma: no cover - compiled
    """``value``, or an exact 0 of its type where ``|value| < tiny`` (the dtype's smallest
    normal number: ``value`` is subnormal); NaN compares false and passes unchanged."""
    return value - value if abs(value) < tiny else value
