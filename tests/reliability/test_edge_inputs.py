"""Edge inputs for every public op of ``torchddsp.functional`` (issue 12, item 9), as one table.

The library's conventions (``torchddsp.functional``'s docstring), checked op by op:

- zero-length audio (``n_samples == 0``) gives an empty output of the right shape and dtype,
  as ``scipy.signal.lfilter`` and torch ops do; a length that cannot hold the op's meaning
  (controls with no frames to interpolate) is a ``ValueError`` naming the argument;
- float16 and bfloat16 inputs compute in float32 and come back in the dtype they came in;
  integer tensors are a ``ValueError`` naming the argument;
- NaN anywhere in an input is a ``ValueError`` naming the argument (``check_finite``), never
  a silent NaN or a number clamped out of it.

Each case builds the op's arguments for a dtype and a length, optionally with a NaN in the
argument named ``nan_arg``. The bugs these catch: an op indexing ``x[:, 0]`` or dividing by
the length (IndexError/ZeroDivisionError on empty audio), a numba kernel compiled for float32
and float64 only (NotImplementedError on float16), a half input silently returned as float32,
a conversion that clamps NaN into a number or lets it through unnoticed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

import torchddsp.effects as E
import torchddsp.functional as F

SR = 16000.0
N = 64  # the ordinary length; every op accepts it
HOP = 16


#: Dtypes every value passes through before it takes its final dtype: the half-precision
#: reference runs the op in float32 on the very numbers the half call receives.
_ROUND_THROUGH: list[torch.dtype] = []


def _as(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    for storage in _ROUND_THROUGH:
        values = values.to(storage)
    return values.to(dtype)


def signal(
    shape: tuple[int, ...], dtype: torch.dtype, nan: bool = False, low: float = -0.9, high: float = 0.9, seed: int = 0
) -> torch.Tensor:
    """Deterministic values in [low, high) of ``dtype``; with ``nan``, the first one is NaN."""
    generator = torch.Generator().manual_seed(seed)
    values = low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)
    if nan and values.numel():
        values.view(-1)[0] = math.nan
    return _as(values, dtype)


def full(shape: tuple[int, ...], value: float, dtype: torch.dtype, nan: bool = False) -> torch.Tensor:
    values = torch.full(shape, value, dtype=torch.float64)
    if nan and values.numel():
        values.view(-1)[0] = math.nan
    return _as(values, dtype)


def const(data: list, dtype: torch.dtype) -> torch.Tensor:
    return _as(torch.tensor(data, dtype=torch.float64), dtype)


@dataclass(frozen=True)
class Case:
    """``call(dtype, n, nan_arg)`` runs the op on inputs of ``dtype`` and length ``n`` with a
    NaN in the argument named ``nan_arg`` (None: none)."""

    op: str
    call: Callable[[torch.dtype, int, str | None], Any]
    nan_arg: str | None  # the tensor argument a NaN is planted in
    axis: int | None = 1  # the output's length axis; None: the op has no length
    compare: bool = True  # half-precision values comparable with float32 ones (not for RNG draws)
    id: str = ""

    def __str__(self) -> str:
        return self.id or self.op


def offline_and_state(op: str, call: Callable[..., Any], nan_arg: str) -> list[Case]:
    """Two cases of a stateful op: ``call(dtype, n, nan_arg, **options)`` as one offline call
    and with ``return_state=True`` (the streaming form must meet the same conventions)."""
    return [
        Case(op, lambda d, n, nan: call(d, n, nan), nan_arg),
        Case(op, lambda d, n, nan: call(d, n, nan, return_state=True), nan_arg, id=f"{op}-state"),
    ]


def first(result: Any) -> torch.Tensor:
    return result[0] if isinstance(result, (tuple, list)) else result


def frames(n: int) -> int:
    return n // HOP


@contextlib.contextmanager
def rounded_through(dtype: torch.dtype):
    _ROUND_THROUGH.append(dtype)
    try:
        yield
    finally:
        _ROUND_THROUGH.pop()


CASES = [
    # conversions: elementwise, any shape
    Case("amplitude_to_db", lambda d, n, nan: F.amplitude_to_db(signal((2, n), d, nan == "amplitude")), "amplitude"),
    Case("power_to_db", lambda d, n, nan: F.power_to_db(signal((2, n), d, nan == "power", 0, 1)), "power"),
    Case("db_to_amplitude", lambda d, n, nan: F.db_to_amplitude(signal((2, n), d, nan == "db", -60, 0)), "db"),
    Case("midi_to_hz", lambda d, n, nan: F.midi_to_hz(signal((2, n), d, nan == "notes", 20, 100)), "notes"),
    Case(
        "hz_to_midi",
        lambda d, n, nan: F.hz_to_midi(signal((2, n), d, nan == "frequencies_hz", 0, 4000)),
        "frequencies_hz",
    ),
    Case("exp_sigmoid", lambda d, n, nan: F.exp_sigmoid(signal((2, n), d, nan == "x", -5, 5)), "x"),
    Case("frequencies_sigmoid", lambda d, n, nan: F.frequencies_sigmoid(signal((2, n), d, nan == "x", -5, 5)), "x"),
    Case("smooth_limit", lambda d, n, nan: F.smooth_limit(signal((2, n), d, nan == "x", -3, 3), -1.0, 1.0), "x"),
    # envelopes and noise
    Case(
        "adsr",
        lambda d, n, nan: F.adsr(
            full((2,), 0.05, d, nan == "attack_s"),
            full((2,), 0.1, d),
            full((2,), 0.5, d),
            full((2,), 0.1, d),
            full((2,), 0.3, d),
            n,
            100.0,
        ),
        "attack_s",
    ),
    Case(
        "lfo",
        lambda d, n, nan: F.lfo(full((2,), 2.0, d, nan == "rate_hz"), signal((2, 5), d, low=0, high=1), n, 100.0),
        "rate_hz",
    ),
    Case("counter_noise", lambda d, n, nan: F.counter_noise(torch.tensor([1, 2]), n, dtype=d), None),
    Case("uniform_noise", lambda d, n, nan: F.uniform_noise(2, n, seed=0, dtype=d), None, compare=False),
    # oscillators and synthesis
    Case(
        "cumulative_phase",
        lambda d, n, nan: F.cumulative_phase(full((2, n, 3), 440.0, d, nan == "frequencies_hz"), SR),
        "frequencies_hz",
    ),
    *offline_and_state(
        "oscillator_bank",
        lambda d, n, nan, **options: F.oscillator_bank(
            full((2, n, 3), 440.0, d), signal((2, n, 3), d, nan == "amplitudes", 0, 0.3), SR, **options
        ),
        "amplitudes",
    ),
    Case(
        "harmonic_frequencies",
        lambda d, n, nan: F.harmonic_frequencies(full((2, n, 1), 220.0, d, nan == "f0_hz"), 4),
        "f0_hz",
    ),
    Case(
        "partial_frequencies",
        lambda d, n, nan: F.partial_frequencies(full((2, n, 1), 220.0, d, nan == "f0_hz"), 4, inharmonicity=1e-4),
        "f0_hz",
    ),
    *offline_and_state(
        "modal_synthesis",
        lambda d, n, nan, **options: F.modal_synthesis(
            full((2, 1, 3), 440.0, d), signal((2, 1, 3), d, nan == "amplitudes", 0, 1), n, SR, t60_s=0.5, **options
        ),
        "amplitudes",
    ),
    *offline_and_state(
        "karplus_strong",
        lambda d, n, nan, **options: F.karplus_strong(signal((2, n), d, nan == "excitation"), 220.0, SR, **options),
        "excitation",
    ),
    Case(
        "normalize_harmonics",
        lambda d, n, nan: F.normalize_harmonics(signal((2, n, 4), d, nan == "harmonic_distribution", 0, 1)),
        "harmonic_distribution",
    ),
    *offline_and_state(
        "harmonic_synthesis",
        lambda d, n, nan, **options: F.harmonic_synthesis(
            full((2, frames(n), 1), 220.0, d),
            signal((2, frames(n), 1), d, nan == "amplitudes", 0, 1),
            signal((2, frames(n), 4), d, low=0, high=1),
            n,
            SR,
            **options,
        ),
        "amplitudes",
    ),
    *offline_and_state(
        "wavetable_synthesis",
        lambda d, n, nan, **options: F.wavetable_synthesis(
            full((2, frames(n), 1), 220.0, d),
            signal((2, frames(n), 1), d, low=0, high=1),
            signal((2, 32), d, nan == "wavetables"),
            n,
            SR,
            **options,
        ),
        "wavetables",
    ),
    Case(
        "bandlimited_oscillator",
        lambda d, n, nan: F.bandlimited_oscillator(
            full((2, frames(n), 1), 220.0, d, nan == "frequency_hz"), signal((2, frames(n), 1), d, low=0, high=1), n, SR
        ),
        "frequency_hz",
    ),
    *offline_and_state(
        "fm_synthesis",
        lambda d, n, nan, **options: F.fm_synthesis(
            full((2, n, 2), 220.0, d),
            signal((2, n, 2), d, nan == "amplitudes", 0, 1),
            const([[0.0, 1.0], [0.0, 0.0]], d),
            SR,
            **options,
        ),
        "amplitudes",
    ),
    Case("upsample", lambda d, n, nan: F.upsample(signal((2, 5, 1), d, nan == "x"), n), "x"),
    Case("resample", lambda d, n, nan: F.resample(signal((2, n), d, nan == "audio"), 2, 3), "audio"),
    Case(
        "overlap_add",
        lambda d, n, nan: F.overlap_add(signal((2, frames(n), 2 * HOP), d, nan == "frames"), HOP),
        "frames",
    ),
    # filters
    Case(
        "fft_convolve", lambda d, n, nan: F.fft_convolve(signal((2, n), d, nan == "audio"), signal((2, 9), d)), "audio"
    ),
    Case(
        "partitioned_convolution",
        lambda d, n, nan: F.partitioned_convolution(
            signal((2, n), d, nan == "audio"), signal((2, 40), d), partition_size=16
        ),
        "audio",
    ),
    Case(
        "frequency_filter",
        lambda d, n, nan: F.frequency_filter(signal((2, n), d, nan == "audio"), signal((2, 9), d, low=0, high=1)),
        "audio",
    ),
    Case(
        "frequency_impulse_response",
        lambda d, n, nan: F.frequency_impulse_response(signal((2, n, 9), d, nan == "magnitudes", 0, 1)),
        "magnitudes",
    ),
    Case("sinc_filter", lambda d, n, nan: F.sinc_filter(signal((2, n), d, nan == "audio"), 1000.0, 17), "audio"),
    Case(
        "sinc_impulse_response",
        lambda d, n, nan: F.sinc_impulse_response(full((2, n, 1), 1000.0, d, nan == "cutoff_hz"), 17),
        "cutoff_hz",
    ),
    Case(
        "lfilter",
        lambda d, n, nan: F.lfilter(
            signal((2, n), d, nan == "x"), const([[0.5, 0.2, 0.1]], d), const([[1.0, -0.5, 0.1]], d)
        ),
        "x",
    ),
    Case(
        "sosfilt",
        lambda d, n, nan: F.sosfilt(signal((2, n), d, nan == "x"), const([[[0.5, 0.2, 0.1, 1.0, -0.5, 0.1]]], d)),
        "x",
    ),
    Case(
        "allpole_filter",
        lambda d, n, nan: F.allpole_filter(signal((2, n), d, nan == "x"), const([[-0.5, 0.1]], d)),
        "x",
    ),
    Case(
        "linear_recurrence",
        lambda d, n, nan: F.linear_recurrence(signal((2, n, 2), d, nan == "u"), const([[[0.5, 0.1], [-0.1, 0.5]]], d)),
        "u",
    ),
    Case(
        "biquad",
        lambda d, n, nan: F.biquad(
            "peak", full((2, n), 1000.0, d, nan == "cutoff_hz"), full((2, n), 0.7, d), SR, full((2, n), 3.0, d)
        ),
        "cutoff_hz",
    ),
    Case(
        "state_variable_filter",
        lambda d, n, nan: F.state_variable_filter(
            signal((2, n), d, nan == "x"), full((2, 1), 1000.0, d), full((2, 1), 0.7, d), SR
        ),
        "x",
    ),
    Case(
        "allpass_coefficient",
        lambda d, n, nan: F.allpass_coefficient(full((2, n), 1000.0, d, nan == "break_hz"), SR),
        "break_hz",
    ),
    Case(
        "allpass_cascade", lambda d, n, nan: F.allpass_cascade(signal((2, n), d, nan == "x"), full((2, 1), 0.5, d)), "x"
    ),
    Case("phaser", lambda d, n, nan: F.phaser(signal((2, n), d, nan == "x"), full((2, 1), 1000.0, d)), "x"),
    Case(
        "resonator_coefficients",
        lambda d, n, nan: F.resonator_coefficients(
            signal((2, n), d, nan == "radius", 0, 0.9), signal((2, n), d, low=0, high=3)
        ),
        "radius",
    ),
    Case(
        "reflection_to_lpc",
        lambda d, n, nan: F.reflection_to_lpc(signal((2, n, 3), d, nan == "reflection")),
        "reflection",
    ),
    Case(
        "fractional_delay",
        lambda d, n, nan: F.fractional_delay(signal((2, n), d, nan == "audio"), full((2, 1), 2.5, d)),
        "audio",
    ),
    Case(
        "fractional_delay",
        lambda d, n, nan: F.fractional_delay(
            signal((2, n), d), full((2, n), 2.5, d, nan == "delay_samples"), "cubic", return_state=True
        )[0],
        "delay_samples",
        id="fractional_delay-per-sample-state",
    ),
    # dynamics
    Case("detect_level", lambda d, n, nan: F.detect_level(signal((2, n), d, nan == "audio"), SR, "rms"), "audio"),
    Case(
        "gain_computer",
        lambda d, n, nan: F.gain_computer(signal((2, n), d, nan == "level_db", -60, 0), -20.0, 4.0, 6.0),
        "level_db",
    ),
    Case(
        "smooth_gain",
        lambda d, n, nan: F.smooth_gain(signal((2, n), d, nan == "gain_db", -20, 0), 0.005, 0.1, SR),
        "gain_db",
    ),
    Case("compress", lambda d, n, nan: F.compress(signal((2, n), d, nan == "audio"), SR, -20.0), "audio"),
    Case(
        "compress",
        lambda d, n, nan: F.compress(signal((2, n), d, nan == "audio"), SR, -20.0, detector="rms", mode="expander"),
        "audio",
        id="compress-rms-expander",
    ),
    # waveshaping
    Case("waveshape", lambda d, n, nan: F.waveshape(signal((2, n), d, nan == "x"), "tanh", 6.0, 0.1), "x"),
    Case(
        "waveshape",
        lambda d, n, nan: F.waveshape(
            signal((2, n), d, nan == "x"), "chebyshev", coefficients=signal((1, 4), d), oversampling=2
        ),
        "x",
        id="waveshape-chebyshev-oversampled",
    ),
    Case(
        "waveshape",
        lambda d, n, nan: F.waveshape(
            signal((2, n), d, nan == "x"),
            "soft_clip",
            full((2, 3, 1), 6.0, d),
            signal((2, n), d, low=-0.2, high=0.2),
            oversampling=2,
        ),
        "x",
        id="waveshape-frame-rate-drive-per-sample-bias",
    ),
    Case("chebyshev_polynomials", lambda d, n, nan: F.chebyshev_polynomials(signal((2, n), d, nan == "x"), 4), "x"),
    # reverberation
    Case(
        "orthogonal_matrix",
        lambda d, n, nan: F.orthogonal_matrix(signal((2, 4, 4), d, nan == "parameters")),
        "parameters",
        axis=None,
    ),
    Case(
        "fdn_impulse_response",
        lambda d, n, nan: F.fdn_impulse_response(
            [3, 5, 7, 11],
            F.orthogonal_matrix(signal((4, 4), d)),
            full((4,), 0.5, d),
            full((4,), 0.5, d),
            full((1,), 0.05, d, nan == "rt60_s"),
            SR,
            n,
        ),
        "rt60_s",
    ),
]

#: Public names with no tensor input: nothing here applies to them.
NO_TENSOR_INPUT = {"noise_seed", "fdn_delays"}
LENGTH_CASES = [case for case in CASES if case.axis is not None]
NAN_CASES = [case for case in CASES if case.nan_arg is not None]


def test_every_public_op_has_a_case():
    # A new op added to __all__ without an entry here would escape every edge check.
    covered = {case.op for case in CASES} | NO_TENSOR_INPUT
    assert sorted(set(F.__all__) - covered) == []


@pytest.mark.parametrize("case", LENGTH_CASES, ids=str)
def test_zero_length_gives_an_empty_output_of_the_usual_shape_and_dtype(case):
    # Bugs: x[:, 0] as a default state (IndexError), max() of an empty delay (RuntimeError),
    # a length check >= 1 (ValueError), an FFT of nothing (MKL error), (0 - 1) * hop + size.
    usual = first(case.call(torch.float32, N, None))
    empty = first(case.call(torch.float32, 0, None))
    expected = list(usual.shape)
    expected[case.axis] = 0
    assert tuple(empty.shape) == tuple(expected)
    assert empty.dtype == usual.dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_half_precision_computes_in_float32_and_keeps_its_dtype(case, dtype):
    # Bugs: a numba kernel compiled for float32/float64 only (NotImplementedError: float16,
    # TypeError: unsupported ScalarType BFloat16); a half input returned as float32; a
    # computation done in half (matrix_exp, recursions) drifting or overflowing.
    half = first(case.call(dtype, N, None))
    with rounded_through(dtype):  # the same numbers, computed and returned in float32
        reference = first(case.call(torch.float32, N, None))
    assert half.dtype == (dtype if reference.dtype == torch.float32 else reference.dtype)
    assert half.shape == reference.shape
    if not case.compare:
        return
    # Only the final rounding to the half dtype may differ: half an ulp, relative to the
    # output's scale (a few ulps where one output sample is far larger than the others).
    ulp = torch.finfo(dtype).eps
    scale = float(reference.double().abs().max()) or 1.0
    error = float((half.double() - reference.double()).abs().max())
    assert error <= 2 * ulp * scale, f"{case}: error {error:.3g} for output scale {scale:.3g}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_integer_tensors_are_refused_naming_the_argument(case):
    # Bug: an integer tensor computed in integer arithmetic (biquad truncated q to 0 and
    # reported "q must be > 0"), or torch's NotImplementedError for the noise dtype.
    with pytest.raises(TypeError, match=r"must be a floating|floating torch dtype"):
        case.call(torch.int64, N, None)


@pytest.mark.parametrize("case", NAN_CASES, ids=str)
def test_nan_is_refused_naming_the_argument(case):
    # Bug: amplitude_to_db(NaN) returned NaN silently (a conversion without check_finite);
    # an op checking another argument than the one holding the NaN.
    with pytest.raises(ValueError, match=rf"\b{case.nan_arg} must be finite"):
        case.call(torch.float32, N, case.nan_arg)


def test_amplitude_to_db_refuses_infinity_and_keeps_silence_on_the_floor():
    # The check must not cost the documented floor: silence is -range_db, not an error.
    with pytest.raises(ValueError, match="amplitude must be finite"):
        F.amplitude_to_db(torch.tensor([1.0, math.inf]))
    assert F.amplitude_to_db(torch.zeros(3), range_db=60.0).tolist() == [-60.0] * 3


def test_empty_blocks_leave_streaming_states_unchanged():
    # Bug: an empty block returning a zero phase (or a fresh feedback memory) instead of the
    # one it was given, which makes a click when the stream goes on.
    phase = torch.tensor([[1.25, 2.5]], dtype=torch.float64)
    _, final = F.oscillator_bank(torch.zeros(1, 0, 2), torch.zeros(1, 0, 2), SR, state=phase, return_state=True)
    torch.testing.assert_close(final, phase)
    _, final = F.harmonic_synthesis(
        torch.zeros(1, 0, 1), torch.zeros(1, 0, 1), torch.zeros(1, 0, 3), 0, SR, state=phase[:, :1], return_state=True
    )
    torch.testing.assert_close(final, phase[:, :1])
    _, final = F.wavetable_synthesis(
        torch.zeros(1, 0, 1), torch.zeros(1, 0, 1), torch.zeros(1, 8), 0, SR, state=phase[:, :1], return_state=True
    )
    torch.testing.assert_close(final, phase[:, :1])
    _, final = F.bandlimited_oscillator(
        torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), 0, SR, state=phase, return_state=True
    )
    torch.testing.assert_close(final, phase)
    _, final = F.cumulative_phase(torch.zeros(1, 0, 2), SR, state=phase, return_state=True)
    torch.testing.assert_close(final, phase)
    previous = torch.tensor([[0.3, -0.2]])
    _, (final, memory) = F.fm_synthesis(
        torch.zeros(1, 0, 2),
        torch.zeros(1, 0, 2),
        torch.tensor([[0.0, 1.0], [0.0, 0.0]]),
        SR,
        state=(phase, previous),
        return_state=True,
    )
    torch.testing.assert_close(final, phase)
    torch.testing.assert_close(memory, previous)
    zi = torch.tensor([[-3.0], [-6.0]])
    y, state = F.smooth_gain(torch.zeros(2, 0), 0.01, 0.1, SR, state=zi, return_state=True)
    assert y.shape == (2, 0)
    torch.testing.assert_close(state, zi)
    history = torch.arange(8.0).reshape(2, 4)
    y, next_history = F.fractional_delay(torch.zeros(2, 0), torch.zeros(2, 0), state=history, return_state=True)
    assert y.shape == (2, 0)
    torch.testing.assert_close(next_history, history)


def test_an_empty_gain_block_without_a_state_cannot_return_one():
    # smooth_gain starts at the first target by default: an empty block has none to hand on.
    with pytest.raises(ValueError, match="state is required"):
        F.smooth_gain(torch.zeros(2, 0), 0.01, 0.1, SR, return_state=True)


NO_FRAMES = {
    "harmonic_synthesis": lambda none: F.harmonic_synthesis(none, none, torch.zeros(1, 0, 3), N, SR),
    "wavetable_synthesis": lambda none: F.wavetable_synthesis(none, none, torch.zeros(1, 8), N, SR),
    "bandlimited_oscillator": lambda none: F.bandlimited_oscillator(none, none, N, SR),
}


@pytest.mark.parametrize("op", sorted(NO_FRAMES))
def test_samples_from_no_frames_are_refused(op):
    # Zero frames cannot be interpolated onto 64 samples: an error, not an empty or silent
    # output (the zero-length rule is for n_samples == 0, not for missing controls).
    with pytest.raises(ValueError, match="frame"):
        NO_FRAMES[op](torch.zeros(1, 0, 1))


def test_zero_length_convolution_keeps_the_documented_lengths():
    # "same" gives n_samples (0); "valid" gives n_samples + ir_size - 1: the zero tail.
    ir = torch.ones(2, 5)
    assert F.fft_convolve(torch.zeros(2, 0), ir).shape == (2, 0)
    assert F.fft_convolve(torch.zeros(2, 0), ir, padding="valid").tolist() == [[0.0] * 4] * 2
    assert F.overlap_add(torch.zeros(2, 0, 8), 4).shape == (2, 0)


EFFECTS = {
    "Compressor": lambda: E.Compressor(),
    "Compressor-trainable": lambda: E.Compressor(trainable=True),
    "Compressor.limiter": lambda: E.Compressor.limiter(),
    "Compressor.expander": lambda: E.Compressor.expander(),
    "ParametricEQ": lambda: E.ParametricEQ(trainable=True),
    "FDNReverb": lambda: E.FDNReverb(rt60_s=0.05, n_lines=4, reverb_length=256),
    "Waveshaper": lambda: E.Waveshaper(oversampling=2, trainable=True),
    "Waveshaper-chebyshev": lambda: E.Waveshaper(curve="chebyshev", trainable=True),
    "Phaser": lambda: E.Phaser(),
    "Phaser-trainable": lambda: E.Phaser(trainable=True),
    "ExpDecayReverb-trainable": lambda: E.ExpDecayReverb(trainable=True, reverb_length=64),
    "FilteredNoiseReverb-trainable": lambda: E.FilteredNoiseReverb(trainable=True, reverb_length=64, n_frames=8),
    "Reverb-trainable": lambda: E.Reverb(trainable=True, reverb_length=64),
}


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_effects_follow_the_same_conventions(name):
    # Bugs: Compressor raising IndexError on empty audio, Phaser's LFO refusing 0 samples,
    # float32 parameters promoting half audio to float32, a NaN reported under the
    # functional op's argument name ("x") instead of the module's input ("audio").
    effect = EFFECTS[name]()
    with torch.no_grad():
        assert effect(torch.zeros(2, 0)).shape == (2, 0)
        audio = signal((2, N), torch.float32).half()
        reference, half = effect(audio.float()), effect(audio)
    assert half.dtype == torch.float16
    scale = max(float(reference.abs().max()), 1.0)
    assert float((half.float() - reference).abs().max()) <= 2 * torch.finfo(torch.float16).eps * scale
    with pytest.raises(ValueError, match="audio must be finite"):
        effect(signal((2, N), torch.float32, nan=True))


def test_minus_infinity_decibels_is_silence():
    # -inf dB is the level of silence (amplitude_to_db's floor aside), not a mistake.
    assert F.db_to_amplitude(torch.tensor([-math.inf, 0.0, -20.0])).tolist() == pytest.approx([0.0, 1.0, 0.1])
    with pytest.raises(ValueError, match="db must be finite \\(or -inf dB: silence\\), found NaN or \\+inf"):
        F.db_to_amplitude(torch.tensor([math.inf]))
