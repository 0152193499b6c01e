"""The streaming-state convention (docs/design.md) for the oscillators: rendering in blocks,
each block given the state the previous one returned, equals one call, in float64 within
1e-10, output and final state, for random block splits that include empty blocks.

Sample-rate ops (``oscillator_bank``, ``cumulative_phase``, ``fm_synthesis``) are cut into
blocks of samples. Frame-rate ops follow the documented block convention: a block renders
intervals ``[s, e)`` from frames ``s..e`` (its frames plus the next block's first) with
``add_endpoint=False``; the one call holds the last frame (``add_endpoint=True``), which
equals a repeated last frame. An empty block is one frame and ``n_samples=0``. The
Processors (``Harmonic``, ``Sinusoidal``, ``Wavetable``, ``FM``) are checked the same way
through their declared render options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
import torch

import torchddsp as td
import torchddsp.functional as F
from torchddsp.functional import Control

SR = 16000.0
N = 240  # samples of the sample-rate cases
N_FRAMES, HOP = 20, 12  # frames (intervals) and hop of the frame-rate cases


def _uniform(shape, low, high, seed):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)


def _split(total: int, seed: int) -> list[int]:
    """Block sizes summing to ``total``: an empty block and a single step first, then random ones
    (zeros included)."""
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 0]
    while sum(sizes) < total:
        sizes.append(int(rng.choice([0, 1, 2, 3, 7, 19])))
    sizes[-1] -= sum(sizes) - total
    return sizes


def _close(ours, expected, what: str) -> None:
    ours, expected = (ours, expected) if isinstance(ours, tuple) else ((ours,), (expected,))
    assert len(ours) == len(expected), what
    for o, e in zip(ours, expected):
        assert o.shape == e.shape, f"{what}: shape {tuple(o.shape)} != {tuple(e.shape)}"
        difference = float((o - e).abs().max()) if o.numel() else 0.0
        assert difference < 1e-10, f"{what}: differs by {difference:.3g}"


def _phase_close(ours: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Phases in [0, 2 pi): compare on the circle (a phase just below 2 pi equals one just above 0)."""
    _close(torch.remainder(ours - expected + np.pi, 2 * np.pi) - np.pi, torch.zeros_like(expected), what)


# Sample-rate cases: signals (time on axis 1), call(signals, state) -> (output, state).
class SampleCase(NamedTuple):
    signals: dict[str, torch.Tensor]
    state: object
    call: Callable


def _bank():
    return SampleCase(
        {"f": _uniform((2, N, 3), 50, 7000, 1), "a": _uniform((2, N, 3), 0, 1, 2)},
        _uniform((2, 3), 0, 6, 3),
        lambda s, st: F.oscillator_bank(s["f"], s["a"], SR, state=st, return_state=True),
    )


def _cumulative():
    return SampleCase(
        {"f": _uniform((2, N, 2), -3000, 7000, 4)},
        _uniform((2, 2), 0, 6, 5),
        lambda s, st: F.cumulative_phase(s["f"], SR, state=st, return_state=True),
    )


def _fm(backend: str):
    routing = torch.tensor([[0, 1.0, 0.5], [0, 0, 1.2], [0, 0, 0]], dtype=torch.float64)
    gains = torch.tensor([1.0, 0.3, 0.1], dtype=torch.float64)
    state = (_uniform((2, 3), 0, 6, 6), _uniform((2, 3), -0.5, 0.5, 7))
    return SampleCase(
        {
            "f": _uniform((2, N, 3), 100, 3000, 8),
            "a": _uniform((2, N, 3), 0.1, 1, 9),
            "beta": _uniform((2, N, 3), -1, 1, 10),
        },
        state,
        lambda s, st: F.fm_synthesis(
            s["f"],
            Control.per_sample(s["a"]),
            routing,
            SR,
            Control.per_sample(s["beta"]),
            gains,
            state=st,
            return_state=True,
            backend=backend,
        ),
    )


SAMPLE_CASES = {
    "oscillator_bank": _bank,
    "cumulative_phase": _cumulative,
    "fm_synthesis-numba": lambda: _fm("numba"),
    "fm_synthesis-torch": lambda: _fm("torch"),
}


def _check_sample_case(case: SampleCase, seed: int, name: str) -> None:
    whole, whole_state = case.call(case.signals, case.state)
    state, pieces, start = case.state, [], 0
    for size in _split(N, seed):
        piece, state = case.call({k: v[:, start : start + size] for k, v in case.signals.items()}, state)
        assert piece.shape[1] == size
        pieces.append(piece)
        start += size
    _close(torch.cat(pieces, 1), whole, f"{name} output")
    _close(state, whole_state, f"{name} final state")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(SAMPLE_CASES))
def test_sample_rate_ops_in_blocks_equal_one_call(name, seed):
    _check_sample_case(SAMPLE_CASES[name](), seed, name)


# Frame-rate cases: frames (time on axis 1, N_FRAMES + 1 with the last repeated),
# call(frames, n_samples, state, add_endpoint) -> (output, state).
class FrameCase(NamedTuple):
    frames: dict[str, torch.Tensor]
    state: object
    call: Callable


def _held(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x[:, -1:]], 1)


def _frames(**shapes) -> dict[str, torch.Tensor]:
    return {
        name: _held(_uniform((2, N_FRAMES, width), low, high, seed))
        for seed, (name, (width, low, high)) in enumerate(shapes.items(), start=20)
    }


def _harmonic(method: str, backend: str):
    # f0 up to 3 kHz with 8 harmonics: harmonics cross Nyquist inside blocks.
    frames = _frames(f0=(1, 100, 3000), a=(1, 0, 1), d=(8, 0, 1))
    return FrameCase(
        frames,
        _uniform((2, 1), 0, 6, 11),
        lambda s, n, st, end: F.harmonic_synthesis(
            s["f0"],
            s["a"],
            s["d"],
            n,
            SR,
            state=st,
            return_state=True,
            amplitude_upsampling=method,
            add_endpoint=end,
            backend=backend,
        ),
    )


def _wavetable():
    frames = _frames(f0=(1, 100, 2000), a=(1, 0, 1), tables=(64, -1, 1))
    return FrameCase(
        frames,
        _uniform((2, 1), 0, 6, 12),
        lambda s, n, st, end: F.wavetable_synthesis(
            s["f0"], s["a"], s["tables"], n, SR, state=st, return_state=True, add_endpoint=end
        ),
    )


def _bandlimited(backend: str):
    frames = _frames(f=(2, -500, 6000), a=(2, 0, 1), noise=(1, 0, 0.5))
    mix = _uniform((2, 2, 2), 0, 1, 13)
    seeds = torch.tensor([3, 11])

    def call(s, n, st, end):
        offset = call.samples_so_far
        call.samples_so_far += n
        return F.bandlimited_oscillator(
            s["f"],
            s["a"],
            n,
            SR,
            ("square", "saw"),
            mix,
            state=st,
            return_state=True,
            add_endpoint=end,
            noise_amplitude=s["noise"],
            noise_seeds=seeds,
            noise_offset=offset,
            backend=backend,
        )

    call.samples_so_far = 0
    return FrameCase(frames, _uniform((2, 2), 0, 6, 14), call)


def _processor(processor: td.Processor, frames: dict[str, torch.Tensor], state):
    return FrameCase(
        frames,
        state,
        lambda s, n, st, end: processor(*s.values(), n_samples=n, state=st, return_state=True, add_endpoint=end),
    )


FRAME_CASES = {
    "harmonic_synthesis-window-numba": lambda: _harmonic("window", "numba"),
    "harmonic_synthesis-window-torch": lambda: _harmonic("window", "torch"),
    "harmonic_synthesis-linear-torch": lambda: _harmonic("linear", "torch"),
    "wavetable_synthesis": _wavetable,
    "bandlimited_oscillator-numba": lambda: _bandlimited("numba"),
    "bandlimited_oscillator-torch": lambda: _bandlimited("torch"),
    "Harmonic": lambda: _processor(
        td.Harmonic(SR), _frames(a=(1, -3, 3), d=(10, -3, 3), f0=(1, 100, 2000)), _uniform((2, 1), 0, 6, 15)
    ),
    "Sinusoidal": lambda: _processor(
        td.Sinusoidal(SR), _frames(a=(3, -3, 3), f=(3, -3, 3)), _uniform((2, 3), 0, 6, 16)
    ),
    "Wavetable": lambda: _processor(
        td.Wavetable(SR), _frames(a=(1, -3, 3), tables=(32, -1, 1), f0=(1, 100, 2000)), _uniform((2, 1), 0, 6, 17)
    ),
    "FM": lambda: _processor(
        td.FM(SR, ratios=(1.0, 2.0, 3.5), feedback=(0.0, 0.4, 0.8)),
        _frames(f0=(1, 100, 1500), levels=(3, -3, 3)),
        (_uniform((2, 3), 0, 6, 18), _uniform((2, 3), -0.5, 0.5, 19)),
    ),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(FRAME_CASES))
def test_frame_rate_ops_in_blocks_equal_one_call(name, seed):
    # Bugs caught: a block restarting the phase (state ignored), the returned phase taken one
    # sample early or late, an empty block resetting the state, the feedback memory not carried,
    # a block's last hop interpolated towards a held frame instead of the next block's first.
    case = FRAME_CASES[name]()
    whole_frames = {k: v[:, :N_FRAMES] for k, v in case.frames.items()}
    whole, whole_state = case.call(whole_frames, N_FRAMES * HOP, case.state, True)
    if hasattr(case.call, "samples_so_far"):
        case.call.samples_so_far = 0
    state, pieces, start = case.state, [], 0
    for size in _split(N_FRAMES, seed):
        block = {k: v[:, start : start + size + 1] for k, v in case.frames.items()}
        piece, state = case.call(block, size * HOP, state, False)
        assert piece.shape[-1] == size * HOP
        pieces.append(piece)
        start += size
    _close(torch.cat(pieces, -1), whole, f"{name} output")
    phases = (state, whole_state) if isinstance(state, torch.Tensor) else (state[0], whole_state[0])
    _phase_close(*phases, f"{name} final phase")
    if not isinstance(state, torch.Tensor):
        _close(state[1], whole_state[1], f"{name} final feedback memory")


def test_the_returned_phase_is_the_phase_of_the_last_sample():
    # A closed form, not the code under test: a constant 441 Hz from phase 0.5 over 640 samples.
    f0, f = torch.full((1, 10, 1), 441.0, dtype=torch.float64), torch.full((1, 640, 1), 441.0, dtype=torch.float64)
    expected = (0.5 + 2 * np.pi * 441.0 * 640 / SR) % (2 * np.pi)
    ones = torch.ones_like(f0)
    start = torch.tensor([[0.5]], dtype=torch.float64)
    results = {
        "harmonic_synthesis": F.harmonic_synthesis(f0, ones, ones, 640, SR, state=start, return_state=True)[1],
        "wavetable_synthesis": F.wavetable_synthesis(
            f0, ones, torch.ones(1, 8, dtype=torch.float64), 640, SR, state=start, return_state=True
        )[1],
        "bandlimited_oscillator": F.bandlimited_oscillator(f0, ones, 640, SR, state=start, return_state=True)[1],
        "oscillator_bank": F.oscillator_bank(f, torch.ones_like(f), SR, state=start, return_state=True)[1],
        "fm_synthesis": F.fm_synthesis(
            f, torch.ones_like(f), torch.zeros(1, 1), SR, state=(start, torch.zeros(1, 1)), return_state=True
        )[1][0],
        "cumulative_phase": F.cumulative_phase(f, SR, state=start, return_state=True)[1],
    }
    for name, phase in results.items():
        assert phase.dtype == torch.float64 and phase.shape == (1, 1), name
        assert abs(phase.item() - expected) < 1e-9, f"{name}: {phase.item()} != {expected}"
