"""Bad input raises an error naming the argument and what was expected, never a silent wrong
answer: a wrong shape or value is an ``InputError`` (a ValueError, which the command line prints
as one line), a wrong type a ``TypeError``. One row per (call, expected message fragment)."""

from __future__ import annotations

import pytest
import torch

import torchddsp as td
import torchddsp.functional as F
from torchddsp.validation import InputError

nan = float("nan")
ok_frames = lambda c=1, n=10: torch.ones(2, n, c)  # noqa: E731
f0 = lambda n=10: torch.full((2, n, 1), 200.0)  # noqa: E731

ROWS = [
    # Wrong rank.
    (
        "harmonic f0 rank",
        lambda: F.harmonic_synthesis(torch.ones(2, 10), ok_frames(), ok_frames(8), 640, 16000),
        "f0_hz must have shape",
    ),
    (
        "harmonic distribution rank",
        lambda: F.harmonic_synthesis(f0(), ok_frames(), torch.ones(2, 10), 640, 16000),
        "harmonic_distribution must have shape",
    ),
    (
        "oscillator bank rank",
        lambda: F.oscillator_bank(torch.ones(10, 3), torch.ones(10, 3), 16000),
        "frequencies_hz must have shape",
    ),
    ("upsample rank", lambda: F.upsample(torch.ones(10, 3), 100), "x must have shape"),
    ("fft_convolve audio rank", lambda: F.fft_convolve(torch.tensor(1.0), torch.ones(1, 3)), "audio must have shape"),
    (
        "Harmonic module rank",
        lambda: td.Harmonic()(torch.ones(2, 10), ok_frames(4), f0(), n_samples=640),
        "amplitudes must have shape",
    ),
    ("Reverb audio rank", lambda: td.Reverb()(torch.tensor(1.0), torch.ones(1, 4)), "audio must have shape"),
    # Mismatched batch or frame counts.
    (
        "harmonic batch",
        lambda: F.harmonic_synthesis(torch.full((3, 10, 1), 200.0), ok_frames(), ok_frames(4), 640, 16000),
        "batch sizes must match",
    ),
    (
        "harmonic frames",
        lambda: F.harmonic_synthesis(f0(11), ok_frames(), ok_frames(4), 640, 16000),
        "frame counts must match",
    ),
    ("oscillator shapes", lambda: F.oscillator_bank(torch.ones(2, 10, 3), torch.ones(2, 10, 2), 16000), "same shape"),
    (
        "harmonic f0 channels",
        lambda: F.harmonic_synthesis(ok_frames(2), ok_frames(), ok_frames(4), 640, 16000),
        "f0_hz must have a last dimension of size 1",
    ),
    (
        "phase state shape",
        lambda: F.harmonic_synthesis(f0(), ok_frames(), ok_frames(4), 640, 16000, state=torch.zeros(3, 1)),
        "state must have shape",
    ),
    ("mix shapes", lambda: td.Add()(torch.ones(2, 10), torch.ones(3, 10)), "same shape"),
    # Non-positive or invalid sample rates and sizes.
    (
        "harmonic sample rate",
        lambda: F.harmonic_synthesis(f0(), ok_frames(), ok_frames(4), 640, 0),
        "sample_rate must be a positive",
    ),
    (
        "oscillator sample rate",
        lambda: F.oscillator_bank(torch.ones(1, 4, 1), torch.ones(1, 4, 1), -16000),
        "sample_rate",
    ),
    ("Harmonic constructor", lambda: td.Harmonic(sample_rate=0), "sample_rate"),
    ("resample rate", lambda: F.resample(torch.ones(1, 10), 16000, -1), "new_sample_rate"),
    ("sinc sample rate", lambda: F.sinc_impulse_response(100.0, 11, float("inf")), "sample_rate"),
    (
        "n_samples type",
        lambda: F.harmonic_synthesis(f0(), ok_frames(), ok_frames(4), 640.5, 16000),
        "n_samples must be an integer",
    ),
    ("n_samples negative", lambda: F.upsample(ok_frames(), -1), "n_samples must be an integer >= 0"),
    # n_samples the controls do not allow.
    (
        "harmonic n_samples",
        lambda: F.harmonic_synthesis(f0(), ok_frames(), ok_frames(4), 645, 16000),
        "n_samples must be a multiple of the 10 frame intervals",
    ),
    ("noise n_samples", lambda: td.FilteredNoise()(torch.zeros(1, 6, 9), n_samples=10, seed=0), "frames"),
    ("window upsample n_samples", lambda: F.upsample(ok_frames(), 101, "window"), "n_samples must be a multiple"),
    # NaN and infinity.
    (
        "nan f0",
        lambda: F.harmonic_synthesis(torch.full((2, 10, 1), nan), ok_frames(), ok_frames(4), 640, 16000),
        "f0_hz must be finite",
    ),
    (
        "inf amplitudes",
        lambda: F.oscillator_bank(torch.ones(1, 4, 1), torch.full((1, 4, 1), float("inf")), 16000),
        "amplitudes must be finite",
    ),
    ("nan audio", lambda: F.fft_convolve(torch.full((1, 10), nan), torch.ones(1, 3)), "audio must be finite"),
    ("nan magnitudes", lambda: F.frequency_impulse_response(torch.full((1, 5), nan)), "magnitudes must be finite"),
    ("nan allpole a", lambda: F.allpole_filter(torch.ones(1, 5), torch.full((1, 5, 2), nan)), "a must be finite"),
    ("allpole a length", lambda: F.allpole_filter(torch.ones(1, 5), torch.zeros(1, 4, 2)), "a must have 5 time steps"),
    (
        "allpole state shape",
        lambda: F.allpole_filter(torch.ones(2, 5), torch.zeros(1, 2), state=torch.zeros(2, 3)),
        r"state must have shape \(2, 2\)",
    ),
    ("waveshape rank", lambda: F.waveshape(torch.tensor(1.0), "tanh"), "x must have shape"),
    ("waveshape nan", lambda: F.waveshape(torch.full((1, 10), nan), "tanh"), "x must be finite"),
    ("waveshape curve", lambda: F.waveshape(torch.ones(1, 10), "fuzz"), "curve must be one of"),
    (
        "waveshape oversampling zero",
        lambda: F.waveshape(torch.ones(1, 10), "tanh", oversampling=0),
        "oversampling must be an integer >= 1",
    ),
    (
        "waveshape coefficients missing",
        lambda: F.waveshape(torch.ones(1, 10), "chebyshev"),
        "coefficients .* are required",
    ),
    (
        "waveshape coefficients unused",
        lambda: F.waveshape(torch.ones(1, 10), "tanh", coefficients=torch.ones(1, 3)),
        "only used by curve='chebyshev'",
    ),
    ("phaser rank", lambda: F.phaser(torch.tensor(1.0), 1000.0), "x must have shape"),
    ("phaser nan", lambda: F.phaser(torch.full((1, 10), nan), 1000.0), "x must be finite"),
    ("phaser feedback", lambda: F.phaser(torch.ones(1, 10), 1000.0, feedback=1.0), r"\|feedback\| < 1"),
    (
        "phaser sweep range",
        lambda: F.phaser(torch.ones(1, 10), 8000.0, sample_rate=16000),
        "sweep must lie strictly between",
    ),
    (
        "phaser state shape",
        lambda: F.phaser(torch.ones(2, 10), 1000.0, n_stages=4, state=torch.zeros(2, 4)),
        r"state must have shape \(2, 5\)",
    ),
    ("Phaser feedback", lambda: td.Phaser(feedback=1.0), r"\|feedback\| < 1"),
    ("Waveshaper curve", lambda: td.Waveshaper("fuzz"), "curve must be one of"),
    (
        "allpole backend",
        lambda: F.allpole_filter(torch.ones(1, 5), torch.zeros(1, 2), backend="cuda"),
        "backend must be",
    ),
    ("lfilter a0 zero", lambda: F.lfilter(torch.ones(1, 5), torch.ones(1, 2), torch.zeros(1, 2)), "must not be 0"),
    (
        "lfilter state shape",
        lambda: F.lfilter(torch.ones(1, 5), torch.ones(1, 2), torch.ones(1, 3), state=torch.zeros(1, 2)),
        r"state must have shape \(1, 3\)",
    ),
    (
        "lfilter b rank",
        lambda: F.lfilter(torch.ones(1, 5), torch.ones(1, 4, 2, 1), torch.ones(1, 2)),
        "b must have shape",
    ),
    (
        "lfilter time-varying nan",
        lambda: F.lfilter(torch.ones(1, 5), torch.full((1, 5, 2), nan), torch.ones(1, 2)),
        "b must be finite",
    ),
    ("sosfilt row size", lambda: F.sosfilt(torch.ones(1, 5), torch.ones(1, 2, 5)), "6 coefficients"),
    (
        "nan delay",
        lambda: F.fractional_delay(torch.ones(1, 5), torch.full((1, 5), nan)),
        "delay_samples must be finite",
    ),
    # Bad choices and types.
    ("method choice", lambda: F.upsample(ok_frames(), 100, "cubic"), "method must be one of"),
    (
        "padding choice",
        lambda: F.fft_convolve(torch.ones(1, 10), torch.ones(1, 3), padding="full"),
        "padding must be one of",
    ),
    (
        "seed and generator",
        lambda: F.uniform_noise(1, 4, seed=1, generator=torch.Generator()),
        "either seed or generator",
    ),
    ("reverb length", lambda: td.Reverb(trainable=True, reverb_length=1), "reverb_length"),
    ("infinite frequency", lambda: F.hz_to_midi(torch.tensor([float("inf")])), "frequencies_hz must be finite"),
    (
        "fractional delay compensation",
        lambda: F.fft_convolve(torch.ones(1, 10), torch.ones(1, 3), "same", 1.5),
        "delay_compensation must be an integer",
    ),
    (
        "decay shape",
        lambda: td.ExpDecayReverb(reverb_length=8)(torch.ones(1, 10), torch.ones(1, 1), torch.ones(1, 2)),
        "decay must have shape",
    ),
    (
        "mod delay channels",
        lambda: td.ModDelay()(torch.ones(1, 10), torch.ones(1, 2, 2), torch.ones(1, 2, 1)),
        "gain must have shape",
    ),
    (
        "fm state named",
        lambda: F.fm_synthesis(
            torch.ones(2, 10, 2),
            torch.ones(2, 10, 2),
            torch.zeros(2, 2),
            16000,
            state=(torch.zeros(2, 2), torch.zeros(2, 3)),
        ),
        r"state\[1\] \(last_output\) must have shape \(2, 2\)",
    ),
    (
        "zero frames",
        lambda: F.harmonic_synthesis(torch.ones(2, 0, 1), torch.ones(2, 0, 1), torch.ones(2, 0, 4), 640, 16000),
        "need at least 1 frame",
    ),
    (
        "reverb frames",
        lambda: td.FilteredNoiseReverb(reverb_length=10)(torch.ones(1, 20), torch.zeros(1, 6, 3)),
        "cannot cut reverb_length",
    ),
]


def test_numpy_integers_are_accepted():
    import numpy as np

    y = F.harmonic_synthesis(f0(), ok_frames(), ok_frames(4), np.int64(640), 16000)
    assert y.shape == (2, 640)


# A wrong type: TypeError, not an InputError (the command line would print a library bug that
# passes a list or a tensor where a number belongs as if the user had typed it).
TYPE_ROWS = [
    ("not a tensor", lambda: F.midi_to_hz([60.0]), "notes must be a torch.Tensor"),
    ("integer tensor", lambda: F.midi_to_hz(torch.tensor([60])), "notes must be a floating-point tensor"),
    (
        "sample rate string",
        lambda: F.oscillator_bank(torch.ones(1, 4, 1), torch.ones(1, 4, 1), "16k"),
        "sample_rate must be a positive number, found str",
    ),
    (
        "sample rate tensor",
        lambda: F.oscillator_bank(torch.ones(1, 4, 1), torch.ones(1, 4, 1), torch.tensor(16000.0)),
        "sample_rate must be a positive number .* found a tensor",
    ),
    ("n_samples string", lambda: F.upsample(ok_frames(), "640"), "n_samples must be an integer >= 0, found str"),
    ("n_samples bool", lambda: F.upsample(ok_frames(), True), "n_samples must be an integer >= 0, found bool"),
    ("Harmonic sample rate None", lambda: td.Harmonic(sample_rate=None), "sample_rate must be a positive number"),
]


@pytest.mark.parametrize("name,call,message", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_raises_a_clear_value_error(name, call, message):
    with pytest.raises(InputError, match=message):
        call()


@pytest.mark.parametrize("name,call,message", TYPE_ROWS, ids=[r[0] for r in TYPE_ROWS])
def test_a_wrong_type_raises_a_type_error(name, call, message):
    with pytest.raises(TypeError, match=message) as error:
        call()
    assert not isinstance(error.value, ValueError)


def test_inputs_are_never_written_in_place():
    frames = torch.rand(2, 10, 4)
    controls = [f0(), torch.rand(2, 10, 1), frames]
    copies = [c.clone() for c in controls]
    F.harmonic_synthesis(*controls, 640, 16000)
    td.Harmonic()(controls[1], controls[2], controls[0], n_samples=640)
    audio = torch.rand(2, 640)
    saved = audio.clone()
    td.Reverb()(audio, torch.rand(2, 16))
    F.fractional_delay(audio, torch.rand(2, 640))
    assert all(torch.equal(c, k) for c, k in zip(controls, copies)) and torch.equal(audio, saved)
