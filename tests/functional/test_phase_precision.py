"""The exact running phase (``functional.phase.cumulative_turns(..., exact=True)``, under FM,
whose modulation amplifies phase error): a few float64 roundings of one cycle however long the
signal, so a stream of blocks, each started from the phase the previous one ended on, equals
one call."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from torchddsp.functional.phase import cumulative_turns

SR = 16000.0


def _circular_gap(turns: torch.Tensor, exact: list[Fraction]) -> float:
    """Largest distance on the circle (in cycles) between ``turns`` and the exact phases."""
    reference = torch.tensor([float(x - math.floor(x)) for x in exact], dtype=torch.float64)
    gap = torch.remainder(turns - reference + 0.5, 1.0) - 0.5
    return float(gap.abs().max())


def test_a_long_tone_keeps_its_phase_to_a_few_roundings_of_one_cycle():
    # Bug caught: the phase summed as a plain float64 cumsum, whose rounding grows with the
    # running sum (1.6e-8 cycles after 200000 samples of 440 Hz, 5e-10 for a random track):
    # an FM operator's modulation index amplifies that past 1e-10 of its output, and blocks,
    # which restart near 0 cycles, then differ from one call.
    n = 200_000
    steady = cumulative_turns(
        torch.full((1, n), 440.0, dtype=torch.float64), SR, torch.zeros(1, dtype=torch.float64), exact=True
    )
    step = Fraction(440.0 / SR)  # the float64 step, exactly
    picks = list(range(0, n, 997)) + [n - 1]
    assert _circular_gap(steady[0, picks], [step * (k + 1) for k in picks]) < 1e-15
    generator = torch.Generator().manual_seed(0)
    track = 100.0 + 7000.0 * torch.rand(1, 50_000, generator=generator, dtype=torch.float64)
    turns = cumulative_turns(track, SR, torch.zeros(1, dtype=torch.float64), exact=True)
    exact, total = [], Fraction(0)
    for f in track[0].tolist():
        total += Fraction(f / SR)
        exact.append(total)
    assert _circular_gap(turns[0], exact) < 1e-15


def test_the_phase_in_random_blocks_equals_one_call_to_a_few_roundings():
    # Bug caught: as above, seen as a stream: one call's phase drifts from the blocks' by up
    # to 1e-10 cycles over 20000 samples, where a few roundings of 2 pi (1e-14 rad) are due.
    generator = torch.Generator().manual_seed(1)
    n = 20_000
    f = 50.0 + 7900.0 * torch.rand(2, n, 3, generator=generator, dtype=torch.float64)
    zero = torch.zeros(2, 3, dtype=torch.float64)
    offline = 2 * math.pi * cumulative_turns(f, SR, zero, exact=True)
    sizes = np.random.default_rng(2).integers(1, 4096, 40)
    pieces, state, start = [], zero, 0
    for size in sizes:
        piece = cumulative_turns(f[:, start : start + size], SR, state, exact=True)
        pieces.append(2 * math.pi * piece)
        state = torch.frac(piece[:, -1])  # the phase the block ended on, wrapped, as a stream keeps it
        start += int(size)
        if start >= n:
            break
    streamed = torch.cat(pieces, 1)[:, :n]
    gap = torch.remainder(streamed - offline + math.pi, 2 * math.pi) - math.pi
    assert float(gap.abs().max()) < 1e-14


def test_the_phase_gradient_is_that_of_the_running_sum():
    # Bug caught: the exact part of the sum (whole units of 2^-32 cycle, summed as integers)
    # carrying no gradient and the remainder detached too, or a gradient scaled by the units.
    n = 6
    f = torch.tensor([[100.0, -3000.0, 7000.0, 1e9, 0.0, 440.0]], dtype=torch.float64, requires_grad=True)
    start = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    cumulative_turns(f, SR, start, exact=True).sum().backward()
    expected = torch.arange(n, 0, -1, dtype=torch.float64) / SR  # sample m feeds the n - m from m on
    torch.testing.assert_close(f.grad[0], expected, rtol=1e-15, atol=0)
    assert float(start.grad) == n
