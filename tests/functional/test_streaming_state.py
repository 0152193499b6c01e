"""The streaming-state convention (docs/design.md): every stateful op takes keyword-only
``state=None`` and ``return_state=False``; passing the returned state with the following samples
continues exactly as one call over the concatenated input. Checked here for every stateful
filter, delay, dynamics op, the LFO and the stateful effects, in float64 with random block
sizes (blocks of 0 and 1 samples included) and time-varying controls, against one offline call
from the same initial state. A second test keeps the old names (``zi``, ``history``, ``s0``,
``previous_output``, ``initial_phase``, ``*_stream``) out of the public API.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
import torch

import torchddsp as td
import torchddsp.functional as F
from torchddsp.processors import Processor

N = 160  # samples (frames for the LFO) of every case
SR = 16000.0


class Case(NamedTuple):
    """``signals``: full-length tensors, time on axis 1; ``state``: the initial state;
    ``call(signals, n, state)`` -> ``(output, state)`` for signals cut to ``n`` samples;
    ``axis``: the output's time axis."""

    signals: dict[str, torch.Tensor]
    state: object
    call: Callable
    axis: int = -1


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(shape, low, high, seed):
    return low + (high - low) * torch.rand(*shape, generator=_g(seed), dtype=torch.float64)


def _normal(shape, seed, scale=1.0):
    return scale * torch.randn(*shape, generator=_g(seed), dtype=torch.float64)


def _x(seed=0):
    return _normal((2, N), seed)


def _lfilter():
    a = torch.cat([_uniform((2, N, 1), 0.8, 1.2, 2), _uniform((2, N, 2), -0.3, 0.3, 3)], 2)
    return Case(
        {"x": _x(), "b": _normal((2, N, 3), 1), "a": a},
        _normal((2, 4), 4),
        lambda s, n, st: F.lfilter(s["x"], s["b"], s["a"], state=st, return_state=True),
    )


def _sosfilt():
    sos = torch.cat(
        [_normal((2, N, 2, 3), 5), torch.ones(2, N, 2, 1, dtype=torch.float64), _uniform((2, N, 2, 2), -0.3, 0.3, 6)], 3
    )
    return Case(
        {"x": _x(), "sos": sos},
        _normal((2, 2, 4), 7),
        lambda s, n, st: F.sosfilt(s["x"], s["sos"], state=st, return_state=True),
    )


def _allpole():
    return Case(
        {"x": _x(), "a": _uniform((2, N, 3), -0.3, 0.3, 8)},
        _normal((2, 3), 9),
        lambda s, n, st: F.allpole_filter(s["x"], s["a"], state=st, return_state=True),
    )


def _recurrence():
    return Case(
        {"u": _normal((2, N, 3), 10), "A": _uniform((2, N, 3, 3), -0.3, 0.3, 11)},
        _normal((2, 3), 12),
        lambda s, n, st: F.linear_recurrence(s["u"], s["A"], state=st, return_state=True),
        axis=1,
    )


def _svf():
    return Case(
        {"x": _x(), "cutoff": _uniform((2, N), 100, 6000, 13), "q": _uniform((2, N), 0.5, 8, 14)},
        _normal((2, 2), 15),
        lambda s, n, st: F.state_variable_filter(
            s["x"], s["cutoff"], s["q"], SR, "highpass", state=st, return_state=True
        ),
    )


def _cascade():
    return Case(
        {"x": _x(), "a": _uniform((2, N, 3), -0.9, 0.9, 16), "fb": _uniform((2, N), -0.7, 0.7, 17)},
        _normal((2, 4), 18),
        lambda s, n, st: F.allpass_cascade(
            s["x"], F.Control.per_sample(s["a"]), 3, s["fb"], state=st, return_state=True
        ),
    )


def _phaser():
    return Case(
        {
            "x": _x(),
            "sweep": _uniform((2, N), 100, 6000, 19),
            "fb": _uniform((2, N), -0.7, 0.7, 20),
            "mix": _uniform((2, N), 0, 1, 21),
        },
        _normal((2, 5), 22),
        lambda s, n, st: F.phaser(s["x"], s["sweep"], 4, s["fb"], s["mix"], SR, state=st, return_state=True),
    )


def _smooth_gain():
    target = torch.cumsum(_normal((2, N), 23), 1)
    return Case(
        {"g": target, "attack": _uniform((2, N), 1e-4, 1e-3, 24)},
        _normal((2, 1), 25),
        lambda s, n, st: F.smooth_gain(s["g"], s["attack"], 2e-3, SR, state=st, return_state=True),
    )


def _detect_level():
    return Case(
        {"x": _x()},
        _uniform((2, 1), 0, 0.5, 26),
        lambda s, n, st: F.detect_level(s["x"], SR, "rms", 1e-3, state=st, return_state=True),
    )


def _compress(detector: str):
    state = torch.cat([_uniform((2, 1), 0, 0.5, 27), _uniform((2, 1), -6, 0, 28)], 1)
    return Case(
        {"x": _x(), "threshold": _uniform((2, N), -30, -10, 29)},
        state,
        lambda s, n, st: F.compress(
            s["x"], SR, s["threshold"], 4.0, 6.0, 2e-4, 2e-3, detector=detector, state=st, return_state=True
        ),
    )


def _delay(interpolation: str):
    # The state is the delay line: at least floor(max delay) + 2 samples for any block.
    return Case(
        {"x": _x(), "d": _uniform((2, N), 1.0, 20.0, 30)},
        _normal((2, 24), 31),
        lambda s, n, st: F.fractional_delay(s["x"], s["d"], interpolation, state=st, return_state=True),
    )


def _delay_from_rest():
    # From rest (state None) a constant delay needs no capacity given up front.
    return Case({"x": _x()}, None, lambda s, n, st: F.fractional_delay(s["x"], 7.25, state=st, return_state=True))


def _lfo():
    weights = _uniform((2, 5), 0, 1, 32)
    return Case(
        {"modulation": _uniform((2, N), 0, 1, 33)},
        _uniform((2, 1), 0, 6, 34),
        lambda s, n, st: F.lfo(
            torch.tensor([1.3, 4.1], dtype=torch.float64),
            weights,
            n,
            50.0,
            s["modulation"],
            2.0,
            state=st,
            return_state=True,
        ),
    )


def _equalizer():
    eq = td.ParametricEQ(SR, n_peaks=2)
    bands = (
        torch.tensor([[100.0, 800.0, 2500.0, 6000.0]], dtype=torch.float64),
        torch.tensor([[3.0, -6.0, 4.0, -2.0]], dtype=torch.float64),
        torch.tensor([[0.7, 2.0, 4.0, 0.7]], dtype=torch.float64),
    )
    return Case({"x": _x()}, _normal((2, 4, 4), 35), lambda s, n, st: eq(s["x"], *bands, state=st, return_state=True))


def _compressor():
    compressor = td.Compressor(SR, -20.0, 4.0, detector="rms")
    state = torch.cat([_uniform((2, 1), 0, 0.5, 36), _uniform((2, 1), -6, 0, 37)], 1)
    return Case({"x": _x()}, state, lambda s, n, st: compressor(s["x"], state=st, return_state=True))


def _phaser_effect():
    effect = td.Phaser(SR, n_stages=4, sweep="control", feedback=0.6)
    # One frame per sample: the per-block upsampling is then the identity, so blocks agree.
    return Case(
        {"x": _x(), "sweep": _uniform((2, N, 1), 200, 5000, 38)},
        _normal((2, 5), 39),
        lambda s, n, st: effect(s["x"], s["sweep"], state=st, return_state=True),
    )


CASES = {
    "lfilter": _lfilter,
    "sosfilt": _sosfilt,
    "allpole_filter": _allpole,
    "linear_recurrence": _recurrence,
    "state_variable_filter": _svf,
    "allpass_cascade": _cascade,
    "phaser": _phaser,
    "smooth_gain": _smooth_gain,
    "detect_level": _detect_level,
    "compress-peak": lambda: _compress("peak"),
    "compress-rms": lambda: _compress("rms"),
    "fractional_delay-linear": lambda: _delay("linear"),
    "fractional_delay-cubic": lambda: _delay("cubic"),
    "fractional_delay-from-rest": _delay_from_rest,
    "lfo": _lfo,
    "ParametricEQ": _equalizer,
    "Compressor": _compressor,
    "Phaser": _phaser_effect,
}
NONEMPTY_BLOCKS = {"Phaser"}  # its sweep control of 0 frames has no samples to upsample


def _blocks(seed: int, allow_empty: bool) -> list[int]:
    """Block sizes summing to N: 0 and 1 first (an empty block and a single sample), then random."""
    rng = np.random.default_rng(seed)
    sizes = [0, 1, 0, 1] if allow_empty else [1, 1]
    while sum(sizes) < N:
        sizes.append(int(rng.choice([0, 1, 2, 5, 17, 40])) if allow_empty else int(rng.choice([1, 2, 5, 17, 40])))
    sizes[-1] -= sum(sizes) - N
    return sizes


def _close(ours, expected, what: str) -> None:
    ours, expected = (ours, expected) if isinstance(ours, tuple) else ((ours,), (expected,))
    for o, e in zip(ours, expected):
        assert o.shape == e.shape, f"{what}: shape {tuple(o.shape)} != {tuple(e.shape)}"
        difference = float((o - e).abs().max()) if o.numel() else 0.0
        assert difference < 1e-10, f"{what}: differs by {difference:.3g}"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(CASES))
def test_blocks_with_the_returned_state_equal_one_call(name, seed):
    case = CASES[name]()
    whole, whole_state = case.call(case.signals, N, case.state)
    state, pieces, start = case.state, [], 0
    for size in _blocks(seed, name not in NONEMPTY_BLOCKS):
        cut = {k: v[:, start : start + size] for k, v in case.signals.items()}
        piece, state = case.call(cut, size, state)
        assert piece.shape[case.axis] == size
        pieces.append(piece)
        start += size
    _close(torch.cat(pieces, case.axis), whole, f"{name} output")
    _close(state, whole_state, f"{name} final state")


OLD_NAMES = {"zi", "history", "s0", "previous_output", "initial_phase"}


def _processors() -> list[type]:
    return [
        value for name in td.__all__ if isinstance(value := getattr(td, name), type) and issubclass(value, Processor)
    ]


def test_no_public_op_keeps_an_old_state_name_or_a_stream_form():
    offenders = []
    for name in F.__all__:
        value = getattr(F, name)
        if name.endswith("_stream"):
            offenders.append(f"functional.{name}")
        if not callable(value) or isinstance(value, type):
            continue
        parameters = inspect.signature(value).parameters
        offenders += [f"functional.{name}({p})" for p in parameters if p in OLD_NAMES]
        for p in ("state", "return_state"):  # the convention's two keywords, keyword-only and together
            if (p in parameters) != ("state" in parameters) or (
                p in parameters and parameters[p].kind is not inspect.Parameter.KEYWORD_ONLY
            ):
                offenders.append(f"functional.{name}: {p} must be keyword-only, with state and return_state")
    for cls in _processors():
        offenders += [f"{cls.__name__}.{attribute}" for attribute in dir(cls) if attribute.endswith("_stream")]
        parameters = inspect.signature(cls.render).parameters
        offenders += [f"{cls.__name__}.render({p})" for p in parameters if p in OLD_NAMES]
        offenders += [f"{cls.__name__}.render_options({p})" for p in cls.render_options if p in OLD_NAMES]
        if "state" in parameters and not {"state", "return_state"} <= set(cls.render_options):
            offenders.append(f"{cls.__name__}: render takes state but does not declare state and return_state")
    assert not offenders, offenders
