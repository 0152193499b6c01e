"""Every public differentiable op, gradient-checked in float64 on tiny inputs.

``CASES`` is the table: (name, must be differentiable, function of the inputs, input
factory). A differentiable row is gradient-checked; a non-differentiable row (a decision such
as YIN's choice of lag) gets inputs that require grad and must return outputs detached from
them. Exports that are not operations on signals either get a closed-form check of what they
are (``CONSTANT_CHECKS``: filterbanks, tables, settings) or are listed with the reason
(``NOT_SIGNAL_OPS``: classes, integer settings, seeded random numbers with no float input).
A test checks that every name exported by ``torchddsp.functional`` and ``torchddsp.features``
is in one of these, so a new op cannot ship without its gradient check.
"""

from __future__ import annotations

import copy
import functools
import importlib
from unittest import mock

import numpy as np
import pytest
import torch

import torchddsp as td
import torchddsp.features as features
import torchddsp.functional as F

crepe_module = importlib.import_module("torchddsp.features.crepe")

SR = 16000.0


def t(*shape, low=-1.0, high=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed + 17 * len(shape) + sum(shape))
    return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)).requires_grad_()


CASES = [
    # Conversions.
    ("midi_to_hz", True, F.midi_to_hz, lambda: (t(5, low=20, high=100),)),
    ("hz_to_midi", True, F.hz_to_midi, lambda: (t(5, low=20, high=4000),)),
    ("amplitude_to_db", True, F.amplitude_to_db, lambda: (t(5, low=0.01, high=2),)),
    ("power_to_db", True, F.power_to_db, lambda: (t(5, low=0.01, high=2),)),
    ("db_to_amplitude", True, F.db_to_amplitude, lambda: (t(5, low=-60, high=6),)),
    ("exp_sigmoid", True, F.exp_sigmoid, lambda: (t(5, low=-5, high=5),)),
    ("frequencies_sigmoid", True, F.frequencies_sigmoid, lambda: (t(5, low=-3, high=3),)),
    ("smooth_limit", True, lambda x: F.smooth_limit(x, -1.0, 2.0, 0.3), lambda: (t(7, low=-3, high=4),)),
    # Resampling.
    ("upsample", True, lambda x: F.upsample(x, 12, "window"), lambda: (t(2, 3, 2),)),
    ("upsample_linear_fractional", True, lambda x: F.upsample(x, 7, "linear"), lambda: (t(1, 3, 2),)),
    ("resample", True, lambda x: F.resample(x, 3, 2, zero_crossings=4), lambda: (t(2, 12),)),
    # Phase and oscillators.
    (
        "cumulative_phase",
        True,
        lambda f, p: F.cumulative_phase(f, SR, state=p),
        lambda: (t(1, 6, 2, low=100, high=3000), t(1, 2)),
    ),
    (
        "oscillator_bank",
        True,
        lambda f, a, p: F.oscillator_bank(f, a, SR, state=p),
        lambda: (t(2, 6, 3, low=100, high=7000), t(2, 6, 3), t(2, 3)),
    ),
    (
        "oscillator_bank_state",
        True,
        lambda f, a, p: torch.cat(F.oscillator_bank(f, a, SR, state=p, return_state=True), 1),
        lambda: (t(1, 5, 2, low=100, high=7000), t(1, 5, 2), t(1, 2)),
    ),
    (
        "harmonic_synthesis",
        True,
        lambda f0, a, d, p: F.harmonic_synthesis(f0, a, d, 12, SR, state=p),
        lambda: (t(2, 3, 1, low=1000, high=3500), t(2, 3, 1), t(2, 3, 6), t(2, 1)),
    ),
    (
        "harmonic_synthesis_linear",
        True,
        lambda f0, a, d: F.harmonic_synthesis(f0, a, d, 8, SR, amplitude_upsampling="linear", add_endpoint=False),
        lambda: (t(1, 3, 1, low=500, high=2000), t(1, 3, 1), t(1, 3, 4)),
    ),
    (
        "harmonic_synthesis_state",
        True,
        lambda f0, a, d, p: torch.cat(F.harmonic_synthesis(f0, a, d, 8, SR, state=p, return_state=True), 1),
        lambda: (t(1, 2, 1, low=500, high=2000), t(1, 2, 1), t(1, 2, 3), t(1, 1)),
    ),
    ("harmonic_frequencies", True, lambda f0: F.harmonic_frequencies(f0, 4), lambda: (t(1, 3, 1, low=50, high=500),)),
    (
        "partial_frequencies",
        True,
        lambda f0, shifts, b: F.partial_frequencies(f0, 4, shifts, b),
        lambda: (t(1, 3, 1, low=50, high=500), t(1, 3, 4, low=-0.05, high=0.05), t(1, 1, low=0.0, high=1e-3)),
    ),
    (
        "modal_synthesis",
        True,
        lambda f, a, t60: F.modal_synthesis(f, a, 24, SR, t60_s=t60),
        lambda: (t(1, 3, 2, low=200, high=3000), t(1, 3, 2), t(1, 3, 2, low=0.005, high=0.02)),
    ),
    (
        "karplus_strong",
        True,
        lambda x, f0, d: F.karplus_strong(x, f0, SR, loop_gain=0.95, damping=d),
        lambda: (t(1, 30), t(1, 1, low=1700, high=2100), t(1, 1, low=0.1, high=0.4)),
    ),
    (
        "normalize_harmonics",
        True,
        lambda d, f0: F.normalize_harmonics(d, f0, SR),
        lambda: (t(1, 3, 5, low=0.1, high=1), t(1, 3, 1, low=100, high=3000)),
    ),
    (
        "wavetable_synthesis",
        True,
        lambda f0, a, w: F.wavetable_synthesis(f0, a, w, 8, SR),
        lambda: (t(1, 2, 1, low=500, high=3000), t(1, 2, 1), t(1, 2, 8)),
    ),
    (
        "wavetable_synthesis_state",
        True,
        lambda f0, a, w, p: torch.cat(F.wavetable_synthesis(f0, a, w, 8, SR, state=p, return_state=True), 1),
        lambda: (t(1, 2, 1, low=500, high=3000), t(1, 2, 1), t(1, 8), t(1, 1)),
    ),
    (
        "fm_synthesis",
        True,
        lambda f, a, m: F.fm_synthesis(f, a, torch.triu(m, 1), SR),
        lambda: (t(1, 6, 3, low=100, high=3000), t(1, 6, 3), t(3, 3)),
    ),
    (
        "fm_synthesis_feedback",
        True,
        lambda f, a, b, g, p: F.fm_synthesis(
            f, a, torch.tensor([[0.0, 1.3], [0.0, 0.0]], dtype=torch.float64), SR, b, g, state=(p, torch.zeros_like(p))
        ),
        lambda: (t(2, 5, 2, low=100, high=3000), t(2, 5, 2), t(2, 5, 2), t(2), t(2, 2)),
    ),
    (
        "fm_synthesis_state",
        True,
        lambda a, b, p, y0: (lambda out: torch.cat([out[0], *out[1]], 1))(
            F.fm_synthesis(
                torch.full((1, 5, 2), 900.0, dtype=torch.float64),
                a,
                torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64),
                SR,
                b,
                state=(p, y0),
                return_state=True,
            )
        ),
        lambda: (t(1, 5, 2), t(1, 5, 2), t(1, 2), t(1, 2)),
    ),
    # FIR.
    ("frequency_impulse_response", True, lambda m: F.frequency_impulse_response(m, 5), lambda: (t(2, 2, 5),)),
    (
        "sinc_impulse_response",
        True,
        lambda c: F.sinc_impulse_response(c, 9, SR),
        lambda: (t(2, 1, low=1000, high=7000),),
    ),
    ("fft_convolve", True, lambda x, h: F.fft_convolve(x, h, "valid"), lambda: (t(2, 10), t(2, 4))),
    ("fft_convolve_time_varying", True, lambda x, h: F.fft_convolve(x, h, "same"), lambda: (t(1, 9), t(1, 3, 4))),
    ("frequency_filter", True, F.frequency_filter, lambda: (t(1, 12), t(1, 3, 4))),
    (
        "lfilter_one_tap_gain",
        True,
        lambda x, b, a, zi: F.lfilter(x, b, a, state=zi),
        lambda: (
            t(2, 9),
            t(2, 9, 1),
            t(1, 9, 3, low=-0.3, high=0.3) + torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64),
            t(2, 2),
        ),
    ),
    (
        "partitioned_convolution",
        True,
        lambda x, h: F.partitioned_convolution(x, h, partition_size=4),
        lambda: (t(2, 13), t(2, 11)),
    ),
    ("sinc_filter", True, lambda x, c: F.sinc_filter(x, c, 5, SR), lambda: (t(2, 10), t(2, 1, low=1000, high=7000))),
    ("overlap_add", True, lambda x: F.overlap_add(x, 3), lambda: (t(2, 4, 7),)),
    # Delay.
    ("fractional_delay", True, F.fractional_delay, lambda: (t(2, 10), t(2, 10, low=0.1, high=3.9))),
    (
        "fractional_delay_cubic",
        True,
        lambda x, d, h: F.fractional_delay(x, d, "cubic", state=h),
        lambda: (t(1, 8), t(1, 8, low=1.1, high=3.9), t(1, 6)),
    ),
    (
        "fractional_delay_state",
        True,
        lambda x, d, h: torch.cat(F.fractional_delay(x, d, state=h, return_state=True), 1),
        lambda: (t(1, 8), t(1, 8, low=0.1, high=3.9), t(1, 5)),
    ),
    # Recursive filters and dynamics.
    (
        "allpole_filter",
        True,
        lambda x, a, zi: F.allpole_filter(x, a, state=zi),
        lambda: (t(2, 10), t(2, 10, 3, low=-0.3, high=0.3), t(2, 3)),
    ),
    (
        "lfilter",
        True,
        lambda x, b, a, zi: F.lfilter(x, b, a, state=zi),
        lambda: (
            t(2, 10),
            t(2, 10, 3),
            t(1, 3, low=0.2, high=0.4) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
            t(2, 4),
        ),
    ),
    (
        "biquad",
        True,
        lambda c, q, g: F.biquad("peak", c, q, SR, g),
        lambda: (t(3, low=200, high=4000), t(3, low=0.5, high=2), t(3, low=-6, high=6)),
    ),
    ("reflection_to_lpc", True, F.reflection_to_lpc, lambda: (t(2, 4, low=-0.9, high=0.9),)),
    ("resonator_coefficients", True, F.resonator_coefficients, lambda: (t(3, low=0.1, high=0.9), t(3, low=0, high=3))),
    (
        "sosfilt",
        True,
        lambda x, sos: F.sosfilt(x, sos),
        lambda: (t(2, 10), t(1, 2, 6, low=0.1, high=0.3) + torch.tensor([0, 0, 0, 1.0, 0, 0], dtype=torch.float64)),
    ),
    (
        "allpole_filter_torch",
        True,
        lambda x, a, zi: F.allpole_filter(x, a, state=zi, backend="torch"),
        lambda: (t(2, 10), t(1, 3, low=-0.3, high=0.3), t(2, 3)),
    ),
    (
        "allpole_filter_order2",
        True,
        lambda x, a, zi: F.allpole_filter(x, a, state=zi),  # the order-2 kernels
        lambda: (t(3, 9), t(3, 9, 2, low=-0.3, high=0.3), t(3, 2)),
    ),
    (
        "allpole_filter_unbatched",
        True,
        lambda x, a, zi: F.allpole_filter(x, a, state=zi),
        lambda: (t(2, 3, 7), t(2, low=-0.3, high=0.3), t(2, 3, 2)),
    ),
    (
        "lfilter_per_sample_a0",
        True,
        lambda x, a, zi: F.lfilter(x, torch.tensor([0.5, 0.2], dtype=x.dtype), a, state=zi),
        lambda: (t(2, 9), t(1, 9, 3, low=-0.3, high=0.3) + torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64), t(2, 3)),
    ),
    (
        "lfilter_frame_rate",
        True,
        lambda x, b, a: F.lfilter(x, F.Control.per_frame(b), F.Control.per_frame(a)),
        lambda: (
            t(2, 9),
            t(2, 3, 2),
            t(2, 3, 3, low=-0.3, high=0.3) + torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64),
        ),
    ),
    (
        "linear_recurrence",
        True,
        lambda u, A, s: F.linear_recurrence(u, A, state=s),
        lambda: (t(2, 6, 2), t(2, 6, 2, 2, low=-0.4, high=0.4), t(2, 2)),
    ),
    (
        "state_variable_filter",
        True,
        lambda x, c, q, zi: F.state_variable_filter(x, c, q, SR, "highpass", state=zi),
        lambda: (t(2, 8), t(2, 8, low=300, high=5000), t(2, 1, low=0.5, high=4), t(2, 2)),
    ),
    (
        "gain_computer",
        True,
        lambda level, t, r, k: F.gain_computer(level, t, r, k),
        lambda: (t(2, 9, low=-40, high=0), t(1, 1, low=-25, high=-15), t(1, 1, low=2, high=6), t(1, 1, low=4, high=8)),
    ),
    (
        "gain_computer_expander",
        True,
        lambda level, th, r: F.gain_computer(level, th, r, 6.0, "expander"),
        lambda: (t(2, 9, low=-60, high=-20), t(1, 1, low=-45, high=-35), t(1, 1, low=2, high=4)),
    ),
    (
        "smooth_gain",
        True,
        lambda g, a, r, zi: F.smooth_gain(g, a, r, SR, state=zi),
        lambda: (
            t(2, 12, low=-10, high=0),
            t(1, 1, low=1e-4, high=3e-4),
            t(1, 1, low=5e-4, high=9e-4),
            t(2, 1, low=-5, high=0),
        ),
    ),
    ("detect_level", True, lambda x: F.detect_level(x, SR, "rms", rms_time_s=1e-3), lambda: (t(2, 10),)),
    (
        "compress",
        True,
        lambda x, th, m: F.compress(x, SR, th, 3.0, 6.0, 2e-4, 1e-3, m),
        lambda: (t(2, 16), t(1, 1, low=-12, high=-6), t(1, 1, low=0, high=3)),
    ),
    ("orthogonal_matrix", True, F.orthogonal_matrix, lambda: (t(2, 3, 3),)),
    (
        "fdn_impulse_response",
        True,
        lambda m, b, c, r: F.fdn_impulse_response([2, 3, 5], m, b, c, r, 1000.0, 32, (250.0,), n_fft=128),
        lambda: (t(3, 3, low=-0.5, high=0.5), t(3), t(3), t(2, low=0.02, high=0.05)),
    ),
    (
        "waveshape",
        True,
        lambda x, d, b: F.waveshape(x, "tanh", d, b),
        lambda: (t(2, 8), t(2, 1, low=-6, high=12), t(2, 1, low=-0.3, high=0.3)),
    ),
    (
        "waveshape_oversampled",
        True,
        lambda x, d, b: F.waveshape(x, "soft_clip", d, b, oversampling=2),
        lambda: (t(1, 8), t(1, 2, 1, low=-8, high=-4), t(1, 1, low=-0.2, high=0.2)),
    ),
    (
        "waveshape_chebyshev",
        True,
        lambda x, b, c: F.waveshape(x, "chebyshev", 0.0, b, c),
        lambda: (t(2, 8), t(2, 1, low=-0.3, high=0.3), t(1, 4)),
    ),
    ("chebyshev_polynomials", True, lambda x: F.chebyshev_polynomials(x, 5), lambda: (t(2, 6, low=-1.5, high=1.5),)),
    ("allpass_coefficient", True, lambda f: F.allpass_coefficient(f, SR), lambda: (t(4, low=100, high=7000),)),
    (
        "allpass_cascade",
        True,
        lambda x, a, fb, zi: F.allpass_cascade(x, a, 3, fb, state=zi),
        lambda: (t(2, 8), t(2, 8, low=-0.8, high=0.8), t(2, 1, low=-0.6, high=0.6), t(2, 4)),
    ),
    (
        "phaser",
        True,
        lambda x, s, fb, m, zi: F.phaser(x, s, 3, fb, m, SR, state=zi),
        lambda: (t(2, 8), t(2, 8, low=300, high=5000), t(2, 1, low=-0.6, high=0.6), t(2, 1, low=0, high=1), t(2, 4)),
    ),
    (
        "bandlimited_oscillator",
        True,
        lambda f, a, m, p: torch.cat(
            F.bandlimited_oscillator(f, a, 12, SR, ("square", "saw"), m, state=p, return_state=True, backend="torch"), 1
        ),
        lambda: (t(1, 3, 1, low=100, high=2000), t(1, 3, 1), t(1, 1, 2), t(1, 1)),
    ),
    (
        "adsr",
        True,
        lambda a, d, s, r, n, c: F.adsr(a, d, s, r, n, 40, 100.0, c),
        lambda: (
            t(2, low=0.053, high=0.081),
            t(2, low=0.052, high=0.071),
            t(2, low=0.2, high=0.8),
            t(2, low=0.051, high=0.09),
            t(2, low=0.153, high=0.171),
            t(2, low=0.5, high=2.0),
        ),
    ),
    (
        "lfo",
        True,
        lambda f, w, p, m: F.lfo(
            f, w, 12, 50.0, torch.linspace(0, 1, 12, dtype=torch.float64).expand(2, -1), m, state=p
        ),
        lambda: (t(2, low=0.5, high=3.0), t(2, 5, low=0.1, high=0.9), t(2), t(2, low=-2, high=2)),
    ),
]


@functools.lru_cache(maxsize=1)
def _crepe_float64():
    return copy.deepcopy(features.load_crepe()).double()


def _crepe_activations_float64(x, embedding=False):
    """``crepe_activations`` through a float64 copy of the pretrained network, so that float64
    finite differences can check its gradient (the shared network stays float32)."""
    network = _crepe_float64()
    with mock.patch.object(crepe_module, "load_crepe", lambda model, device: network):
        return features.crepe_activations(x, SR, 31.25, embedding=embedding)  # one frame


FEATURE_CASES = [
    ("stft", True, lambda x: features.stft(x, 8, 2), lambda: (t(1, 16),)),
    ("magnitude", True, lambda x: features.magnitude(features.stft(x, 8, 4, pad_mode="constant")), lambda: (t(1, 16),)),
    (
        "magnitude_spectrogram",
        True,
        lambda x: features.magnitude_spectrogram(x, 8, 4, center=False),
        lambda: (t(1, 16),),
    ),
    ("power_spectrogram", True, lambda x: features.power_spectrogram(x, 8, 4), lambda: (t(1, 16),)),
    # The hand-written backward with odd FFT sizes, short windows, hops longer than frames.
    (
        "power_spectrogram_odd_sparse",
        True,
        lambda x: features.power_spectrogram(x, 9, 11, win_length=7, center=False, pad_end=True),
        lambda: (t(2, 40),),
    ),
    (
        "magnitude_spectrogram_odd",
        True,
        lambda x: features.magnitude_spectrogram(x, 7, 3, win_length=5),
        lambda: (t(1, 30),),
    ),
    (
        "mel_spectrogram",
        True,
        lambda x: features.mel_spectrogram(x, SR, n_fft=16, hop_size=8, n_mels=4),
        lambda: (t(1, 24),),
    ),
    (
        "log_mel_spectrogram",
        True,
        lambda x: features.log_mel_spectrogram(x, SR, n_fft=16, hop_size=8, n_mels=4),
        lambda: (t(1, 24),),
    ),
    ("mfcc", True, lambda x: features.mfcc(x, SR, n_mfcc=3, n_fft=16, hop_size=8, n_mels=4), lambda: (t(1, 24),)),
    (
        "MelSpectrogram",
        True,
        lambda x: features.MelSpectrogram(SR, n_fft=16, hop_size=8, n_mels=4).double()(x),
        lambda: (t(1, 24),),
    ),
    (
        "MFCC",
        True,
        lambda x: features.MFCC(SR, n_mfcc=3, n_fft=16, hop_size=8, n_mels=4).double()(x),
        lambda: (t(1, 24),),
    ),
    ("a_weighted_loudness", True, lambda x: features.a_weighted_loudness(x, SR, 2000, n_fft=16), lambda: (t(1, 32),)),
    ("rms_db", True, lambda x: features.rms_db(x, SR, 2000), lambda: (t(1, 32),)),
    ("centered_frames", True, lambda x: features.centered_frames(x, 5, SR, 2000), lambda: (t(1, 24),)),
    # The pretrained network, in float64 for the check (fast gradcheck: see GRADCHECK_OPTIONS).
    ("crepe_activations", True, _crepe_activations_float64, lambda: (t(1, 512),)),
    (
        "crepe_activations_embedding",
        True,
        lambda x: _crepe_activations_float64(x, embedding=True),
        lambda: (t(1, 512),),
    ),
    # Decisions (argmin, argmax): computed without gradient, outputs detached from the audio.
    ("yin", False, lambda x: features.yin(x, SR), lambda: (t(1, 800),)),
    ("estimate_f0", False, lambda x: features.estimate_f0(x, SR, method="yin"), lambda: (t(1, 800),)),
    ("estimate_f0_crepe", False, lambda x: features.estimate_f0(x, SR, method="crepe"), lambda: (t(1, 800),)),
]

# CREPE: too costly for a full Jacobian (360 outputs of a network per input sample), so random
# projections (fast mode); their values are about 1e-3, so the tolerances are tightened to
# match (measured agreement: 5e-11; a gradient that skips the frame normalisation's
# denominator is off by 3e-6 to 8e-5 and must fail).
GRADCHECK_OPTIONS = {
    name: {"fast_mode": True, "atol": 1e-9, "rtol": 1e-6}
    for name in ("crepe_activations", "crepe_activations_embedding")
}


def _check_mel_filterbank():
    # Unnormalised triangles on shared edges sum to 1 between the first and last centres
    # (each bin there lies on one rising and one falling edge); peaks stay at most 1.
    weights = features.mel_filterbank(
        512, 10, SR, min_hz=100.0, max_hz=6000.0, scale="htk", norm=None, dtype=torch.float64
    )
    mels = np.linspace(2595 * np.log10(1 + 100 / 700), 2595 * np.log10(1 + 6000 / 700), 12)
    edges_hz = 700 * (10 ** (mels / 2595) - 1)  # HTK mel scale; filter m spans edges m .. m + 2
    bins_hz = np.arange(257) * SR / 512
    inner = (bins_hz >= edges_hz[1]) & (bins_hz <= edges_hz[-2])
    np.testing.assert_allclose(weights.sum(0).numpy()[inner], 1.0, atol=1e-12)
    assert float(weights.max()) <= 1.0 and float(weights.min()) >= 0.0
    outside = (bins_hz < 100.0) | (bins_hz > 6000.0)
    assert float(weights[:, outside].abs().max()) == 0.0
    # Slaney normalisation: each triangle scaled by 2 / its bandwidth (unit area per Hz).
    slaney = features.mel_filterbank(512, 10, SR, min_hz=100.0, max_hz=6000.0, scale="htk", dtype=torch.float64)
    np.testing.assert_allclose(
        slaney.numpy(), weights.numpy() * (2 / (edges_hz[2:] - edges_hz[:-2]))[:, None], rtol=1e-12, atol=1e-15
    )
    assert not weights.requires_grad and not slaney.requires_grad


def _check_dct_matrix():
    # DCT-II, orthonormal: D[k, n] = sqrt(2 / N) cos(pi k (2n + 1) / 2N), row 0 scaled by 1 / sqrt(2).
    n = 7
    matrix = features.dct_matrix(n, n, dtype=torch.float64)
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    expected = np.sqrt(2 / n) * np.cos(np.pi * k * (2 * i + 1) / (2 * n))
    expected[0] /= np.sqrt(2)
    np.testing.assert_allclose(matrix.numpy(), expected, atol=1e-14)
    np.testing.assert_allclose((matrix @ matrix.T).numpy(), np.eye(n), atol=1e-14)
    assert not matrix.requires_grad


def _check_a_weighting_db():
    # IEC 61672-1's table (0.1 dB) at its exact frequencies 1 kHz * 10^(k / 10), nominally
    # 31.5 Hz, 63 Hz, 100 Hz, 250 Hz, 1 kHz, 2 kHz, 4 kHz and 8 kHz.
    table = {-15: -39.4, -12: -26.2, -10: -19.1, -6: -8.6, 0: 0.0, 3: 1.2, 6: 1.0, 9: -1.1}
    values = features.a_weighting_db(1000.0 * 10.0 ** (np.array(list(table)) / 10.0))
    np.testing.assert_allclose(values, list(table.values()), atol=0.051)
    assert features.a_weighting_db(np.array([0.0]))[0] == -80.0  # the floor, not -inf


def _check_default_n_frames():
    # floor(n_samples * frame_rate / sample_rate), at least one, exact for integer rates.
    assert features.default_n_frames(16000, 16000, 250) == 250
    assert features.default_n_frames(16063, 16000, 250) == 250 and features.default_n_frames(16064, 16000, 250) == 251
    assert features.default_n_frames(10, 16000, 250) == 1
    assert features.default_n_frames(3 * 44100, 44100.0, 86.1328125) == 258  # 3 s at hop 512


def _check_load_crepe():
    # The shared pretrained network is frozen: a loss through it must not accumulate
    # gradients into it (or train it) on behalf of every other caller.
    network = features.load_crepe()
    assert not network.training
    assert not any(p.requires_grad for p in network.parameters())
    assert features.load_crepe() is network  # cached: loaded once


# Constants and settings: a closed-form property each (tables that must not require grad).
CONSTANT_CHECKS = {
    "mel_filterbank": _check_mel_filterbank,
    "dct_matrix": _check_dct_matrix,
    "a_weighting_db": _check_a_weighting_db,
    "default_n_frames": _check_default_n_frames,
    "load_crepe": _check_load_crepe,
}

# Exports that are not operations on float signals, with why they have no row.
NOT_SIGNAL_OPS = {
    "fdn_delays": "integer delay-line lengths in samples (a setting); tested in tests/functional/test_fdn.py",
    "counter_noise": "noise from integer seeds and sample indices: no float input to differentiate",
    "noise_seed": "an integer seed from integers: no float input",
    "uniform_noise": "seeded random numbers: no float input to differentiate",
    "CrepeNet": "the network class; its use, crepe_activations, is gradient-checked in FEATURE_CASES",
    "CrepeWeightsMissing": "an exception class",
    "recording_features": "reads a file (no tensor input); chunked == whole tested in tests/reliability/test_long_recordings.py",
    "analysis_chunks": "a generator over blocks of a file; chunked == whole tested in tests/reliability/test_long_recordings.py",
}

MODULE_CASES = [
    (
        "Harmonic",
        lambda a, d, f0: td.Harmonic(SR)(a, d, f0, n_samples=8),
        lambda: (t(1, 2, 1), t(1, 2, 5), t(1, 2, 1, low=500, high=2000)),
    ),
    # Noise is drawn with a fixed seed: the gradient w.r.t. the filter magnitudes is checked.
    ("FilteredNoise", lambda m: td.FilteredNoise()(m, n_samples=12, seed=0), lambda: (t(1, 3, 5),)),
    ("Sinusoidal", lambda a, f: td.Sinusoidal(SR)(a, f, n_samples=8), lambda: (t(1, 2, 3), t(1, 2, 3))),
    (
        "Wavetable",
        lambda a, w, f0: td.Wavetable(SR)(a, w, f0, n_samples=8),
        lambda: (t(1, 2, 1), t(1, 2, 8), t(1, 2, 1, low=500, high=2000)),
    ),
    (
        "FM",
        lambda f0, levels: td.FM(SR, ratios=(1.0, 2.0), feedback=(0.0, 0.3)).double()(f0, levels, n_samples=8),
        lambda: (t(1, 2, 1, low=500, high=2000), t(1, 2, 2)),
    ),
    ("Reverb", lambda x, h: td.Reverb()(x, h), lambda: (t(2, 10), t(2, 4))),
    (
        "ExpDecayReverb",
        lambda x, g, d: td.ExpDecayReverb(reverb_length=6).double()(x, g, d),
        lambda: (t(1, 10), t(1, 1), t(1, 1)),
    ),
    (
        "FilteredNoiseReverb",
        lambda x, m: td.FilteredNoiseReverb(reverb_length=8).double()(x, m),
        lambda: (t(1, 10), t(1, 2, 3)),
    ),
    ("FIRFilter", lambda x, m: td.FIRFilter()(x, m), lambda: (t(1, 12), t(1, 3, 4))),
    (
        "ModDelay",
        lambda x, g, p: td.ModDelay(center_s=2e-4, depth_s=1e-4, sample_rate=SR)(x, g, p),
        lambda: (t(1, 10), t(1, 2, 1), t(1, 2, 1)),
    ),
    (
        "ParametricEQ",
        lambda x, f, g, q: td.ParametricEQ(SR, n_peaks=1, trainable=False)(x, f, g, q),
        lambda: (t(1, 12), t(1, 3, low=200, high=5000), t(1, 3, low=-6, high=6), t(1, 3, low=0.5, high=2)),
    ),
    (
        "ParametricEQ_frames",
        lambda x, f: td.ParametricEQ(SR, n_peaks=1, trainable=False)(
            x, f, torch.full((1, 2, 3), 3.0, dtype=torch.float64), torch.ones(1, 2, 3, dtype=torch.float64)
        ),
        lambda: (t(1, 12), t(1, 2, 3, low=200, high=5000)),
    ),
    (
        "Compressor",
        lambda x: td.Compressor(SR, threshold_db=-10.0, attack_s=2e-4, release_s=1e-3)(x),
        lambda: (t(1, 16),),
    ),
    (
        "FDNReverb",
        lambda x: td.FDNReverb(1000.0, rt60_s=0.05, delays=[2, 3, 5], reverb_length=16).double()(x),
        lambda: (t(1, 20),),
    ),
    (
        "Waveshaper",
        lambda x, d, b: td.Waveshaper("tanh", oversampling=2, output_gain_db=3.0, mix=0.8).double()(x, d, b),
        lambda: (t(1, 8), t(1, 2, 1, low=-3, high=3), t(1, 1, low=-0.2, high=0.2)),
    ),
    (
        "Phaser",
        lambda x, s: td.Phaser(SR, sweep="control", n_stages=2, feedback=0.3).double()(x, s),
        lambda: (t(1, 8), t(1, 2, 1, low=300, high=4000)),
    ),
    ("Mix", lambda a, b, m: td.Mix()(a, b, m), lambda: (t(1, 8), t(1, 8), t(1, 2, 1))),
    ("Add", lambda a, b: td.Add()(a, b), lambda: (t(1, 8), t(1, 8))),
]


def test_every_functional_export_has_a_row():
    covered = {name.split("_linear")[0] for name, *_ in CASES}
    covered |= {name for name, *_ in CASES} | set(CONSTANT_CHECKS) | set(NOT_SIGNAL_OPS)
    missing = sorted(set(F.__all__) - covered)
    assert not missing, f"add these ops to the autograd table: {missing}"
    covered_features = {name for name, *_ in FEATURE_CASES} | set(CONSTANT_CHECKS) | set(NOT_SIGNAL_OPS)
    missing_features = sorted(set(features.__all__) - covered_features)
    assert not missing_features, f"add these features to the autograd table: {missing_features}"
    exported = set(F.__all__) | set(features.__all__)
    assert set(CONSTANT_CHECKS) | set(NOT_SIGNAL_OPS) <= exported, "stale names in the lists"
    rows = {name for name, *_ in CASES + FEATURE_CASES}
    assert not rows & (set(CONSTANT_CHECKS) | set(NOT_SIGNAL_OPS)), "a name is both a row and exempt"


def test_every_row_can_fail():
    # A row without a function or inputs would test nothing: every row is run below.
    for name, _differentiable, fn, make_inputs in CASES + FEATURE_CASES:
        assert callable(fn) and callable(make_inputs), name
        assert make_inputs(), f"{name}: no inputs to check the gradient (or its absence) against"


def _check_row(name, differentiable, fn, make_inputs):
    inputs = make_inputs()
    if not differentiable:
        # The decision must not leak a graph back to the audio: inputs that require grad,
        # outputs that do not (and carry no grad_fn a caller could backpropagate into).
        assert all(x.requires_grad for x in inputs)
        outputs = fn(*inputs)
        for output in outputs if isinstance(outputs, tuple) else (outputs,):
            assert not output.requires_grad and output.grad_fn is None, name
        return
    with torch.random.fork_rng():  # fast mode draws random projections: the same every run
        torch.manual_seed(0)
        options = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-4, **GRADCHECK_OPTIONS.get(name, {})}
        assert torch.autograd.gradcheck(fn, inputs, **options)


@pytest.mark.parametrize("name,differentiable,fn,make_inputs", FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES])
def test_feature_gradients(name, differentiable, fn, make_inputs):
    _check_row(name, differentiable, fn, make_inputs)


@pytest.mark.parametrize("name,differentiable,fn,make_inputs", CASES, ids=[c[0] for c in CASES])
def test_functional_gradients(name, differentiable, fn, make_inputs):
    _check_row(name, differentiable, fn, make_inputs)


@pytest.mark.parametrize("name", sorted(CONSTANT_CHECKS))
def test_constants_and_settings(name):
    CONSTANT_CHECKS[name]()


@pytest.mark.parametrize("name,fn,make_inputs", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_gradients(name, fn, make_inputs):
    assert torch.autograd.gradcheck(fn, make_inputs(), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_trainable_parameters_receive_finite_gradients():
    modules = [
        (td.Reverb(trainable=True, reverb_length=32), ()),
        (td.ExpDecayReverb(trainable=True, reverb_length=32), ()),
        (td.FilteredNoiseReverb(trainable=True, reverb_length=32, n_frames=2, n_filter_banks=3), ()),
        (td.ParametricEQ(SR, n_peaks=2, trainable=True), ()),
        (td.Waveshaper("chebyshev", trainable=True, oversampling=2), ()),
        (td.Phaser(trainable=True), ()),
        (td.Compressor(SR, threshold_db=-30.0, trainable=True), ()),
        (td.FDNReverb(SR, rt60_s=(0.05, 0.02), band_edges_hz=(3000.0,), reverb_length=64, trainable=True), ()),
    ]
    audio = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    for module, extra in modules:
        module(audio, *extra).pow(2).sum().backward()
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), (type(module).__name__, name)


def test_no_nan_gradients_at_zero():
    zeros = lambda *s: torch.zeros(*s, dtype=torch.float64, requires_grad=True)  # noqa: E731
    a, d, f0 = zeros(1, 2, 1), zeros(1, 2, 4), zeros(1, 2, 1)
    y = F.harmonic_synthesis(f0, a, d, 8, SR) + F.normalize_harmonics(d, f0, SR).sum()
    amplitude, frequency = zeros(3), zeros(3)
    total = y.sum() + F.amplitude_to_db(amplitude).sum() + F.hz_to_midi(frequency).sum()
    total.backward()
    for tensor in (a, d, f0, amplitude, frequency):
        assert torch.isfinite(tensor.grad).all()
    harmonic = td.Harmonic(SR)
    raw = [zeros(1, 2, 1), zeros(1, 2, 4)]
    harmonic(raw[0], raw[1], torch.full((1, 2, 1), 200.0, dtype=torch.float64), n_samples=8).sum().backward()
    assert all(torch.isfinite(r.grad).all() for r in raw)
