"""torchddsp.style: settings maps, the chain, SPSA and the metrics, against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from torchddsp.style.chain import apply_chain
from torchddsp.style.metrics import crest_factor_db
from torchddsp.style.metrics import loudness_db
from torchddsp.style.metrics import matching_eq
from torchddsp.style.metrics import spectral_centroid_hz
from torchddsp.style.settings import N_SETTINGS
from torchddsp.style.settings import SETTINGS
from torchddsp.style.settings import denormalize
from torchddsp.style.settings import identity_settings
from torchddsp.style.settings import normalize
from torchddsp.style.spsa import spsa_chain
from torchddsp.style.spsa import spsa_gradient
from torchddsp.validation import InputError

RATE = 16000


def settings_with(**human: float) -> torch.Tensor:
    """Identity settings ``(1, N_SETTINGS)`` float64 with some settings replaced (human units)."""
    values = {name: column.clone() for name, column in denormalize(identity_settings(1, torch.float64)).items()}
    for name, value in human.items():
        values[name] = torch.tensor([value], dtype=torch.float64)
    return normalize(values)


def test_settings_map_ends_and_midpoints_to_closed_forms():
    # Catches a swapped low/high, a linear map where a log one is meant (or the reverse).
    for value, expect in ((0.0, lambda s: s.low), (1.0, lambda s: s.high)):
        human = denormalize(torch.full((1, N_SETTINGS), value, dtype=torch.float64))
        for s in SETTINGS:
            assert float(human[s.name]) == pytest.approx(expect(s), rel=1e-12, abs=1e-12), s.name
    middle = denormalize(torch.full((1, N_SETTINGS), 0.5, dtype=torch.float64))
    for s in SETTINGS:
        expect = math.sqrt(s.low * s.high) if s.log else (s.low + s.high) / 2
        assert float(middle[s.name]) == pytest.approx(expect, rel=1e-12, abs=1e-12), s.name
    assert {s.name for s in SETTINGS if s.log} >= {"ratio", "attack_s", "release_s", "peak3_frequency_hz", "peak3_q"}


def test_settings_round_trip_and_bad_values():
    x = torch.rand(5, N_SETTINGS, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(normalize(denormalize(x)), x, rtol=0, atol=1e-12)
    with pytest.raises(InputError, match="normalized"):
        denormalize(torch.full((1, N_SETTINGS), 1.5))
    with pytest.raises(InputError, match="normalized"):
        denormalize(torch.zeros(1, N_SETTINGS - 1))
    human = denormalize(x)
    with pytest.raises(InputError, match="ratio"):
        normalize({**human, "ratio": torch.full((5,), 0.5, dtype=torch.float64)})
    del human["gain_db"]
    with pytest.raises(InputError, match="gain_db"):
        normalize(human)


def test_identity_settings_leave_audio_unchanged():
    # Catches an identity that is not one (ratio above 1, a gain map off centre, a shelf at 0 dB
    # that still colours).
    audio = torch.randn(3, 4000, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.3
    out = apply_chain(audio, identity_settings(3, torch.float64), RATE)
    torch.testing.assert_close(out, audio, rtol=0, atol=1e-10)


def test_output_gain_and_peak_band_have_their_closed_forms():
    # Catches bands wired to the wrong controls (gain and Q swapped, bands out of order) and a
    # gain in the wrong unit: +6 dB output gain doubles the amplitude (10 ** (6/20)); a peak of
    # +9 dB at f0 raises a steady sine at f0 by exactly 9 dB (Audio EQ Cookbook).
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    sine = 0.1 * torch.sin(2 * math.pi * 1000.0 * t)[None]
    out = apply_chain(sine, settings_with(gain_db=6.0), RATE)
    torch.testing.assert_close(out, sine * 10 ** (6 / 20), rtol=1e-9, atol=1e-12)
    out = apply_chain(sine, settings_with(peak3_frequency_hz=1000.0, peak3_gain_db=9.0, peak3_q=2.0), RATE)
    steady = slice(RATE // 2, None)
    rms_ratio_db = 10 * math.log10(float(out[0, steady].square().mean() / sine[0, steady].square().mean()))
    assert rms_ratio_db == pytest.approx(9.0, abs=0.02)


def test_compressor_settings_reach_the_compressor():
    # Catches threshold/ratio swapped or mis-mapped: a constant 0.5 (-6.02 dB peak level), 24 dB
    # above a -30 dB threshold (beyond the 6 dB knee), at ratio 4 gets gain (1/4 - 1) * 23.98 dB.
    audio = torch.full((1, 2000), 0.5, dtype=torch.float64)
    out = apply_chain(audio, settings_with(threshold_db=-30.0, ratio=4.0), RATE)
    level = 20 * math.log10(0.5)
    expect = 0.5 * 10 ** ((1 / 4 - 1) * (level + 30.0) / 20)
    torch.testing.assert_close(out, torch.full_like(out, expect), rtol=1e-9, atol=0)


def test_chain_bad_input_names_the_argument():
    with pytest.raises(InputError, match="sample_rate"):
        apply_chain(torch.zeros(1, 100), identity_settings(), 8000)
    with pytest.raises(InputError, match="audio"):
        apply_chain(torch.zeros(100), identity_settings(), RATE)
    with pytest.raises(InputError, match="normalized"):
        apply_chain(torch.zeros(2, 100), identity_settings(1), RATE)


def test_spsa_is_unbiased_on_a_quadratic():
    # f(x) = x^T A x / 2 + b^T x, gradient A x + b. Each estimate is delta delta^T g (central
    # differences are exact for a quadratic): never pointing against g, and unbiased.
    generator = torch.Generator().manual_seed(3)
    matrix = torch.randn(6, 6, dtype=torch.float64, generator=generator)
    matrix = matrix @ matrix.T + torch.eye(6, dtype=torch.float64)
    b, x = (
        torch.randn(6, dtype=torch.float64, generator=generator),
        torch.randn(6, dtype=torch.float64, generator=generator),
    )
    true = matrix @ x + b

    def f(v):
        return 0.5 * v @ matrix @ v + b @ v

    for _ in range(20):
        assert float(spsa_gradient(f, x, epsilon=1e-2, generator=generator) @ true) >= 0
    estimate = spsa_gradient(f, x, epsilon=1e-2, n_samples=6000, generator=generator)
    assert float(torch.linalg.vector_norm(estimate - true) / torch.linalg.vector_norm(true)) < 0.1


def test_spsa_chain_gradient_agrees_with_autodiff():
    # Catches a wrong sign or scale in the chain's SPSA backward: averaged over many directions
    # it must approach the exact gradient of the same loss. One direction per item, so a batch
    # of copies of one item gives that many independent estimates in one call.
    generator = torch.Generator().manual_seed(4)
    copies = 600
    audio = (torch.randn(1, 600, dtype=torch.float64, generator=generator) * 0.2).expand(copies, -1)
    target = (torch.randn(1, 600, dtype=torch.float64, generator=generator) * 0.2).expand(copies, -1)
    settings = (torch.rand(1, N_SETTINGS, dtype=torch.float64, generator=generator) * 0.8 + 0.1).expand(copies, -1)
    exact = settings[:1].clone().requires_grad_()
    (apply_chain(audio[:1], exact, RATE) - target[:1]).square().sum().backward()
    guess = settings.clone().requires_grad_()
    (spsa_chain(audio, guess, RATE, 1e-4, generator) - target).square().sum().backward()
    mean = guess.grad.mean(0)
    cosine = float((mean * exact.grad[0]).sum() / (mean.norm() * exact.grad.norm()))
    assert cosine > 0.95
    assert float(mean.norm() / exact.grad.norm()) == pytest.approx(1.0, abs=0.15)


def test_descriptors_closed_forms():
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    sine = 0.25 * torch.sin(2 * math.pi * 1000.0 * t)[None]
    assert float(crest_factor_db(sine)) == pytest.approx(10 * math.log10(2), abs=1e-3)
    assert float(spectral_centroid_hz(sine, RATE)) == pytest.approx(1000.0, abs=5.0)
    assert float(loudness_db(2 * sine, RATE) - loudness_db(sine, RATE)) == pytest.approx(20 * math.log10(2), abs=1e-6)


def test_matching_eq_recovers_a_broadband_gain():
    # A reference that is the input at +20 dB asks for a flat curve, limited to +12 dB: the FIR
    # is then a scaled delta and loudness normalisation adds the last 8 dB, so the output is
    # exactly ten times the input (a mis-centred FIR delays it; a wrong sign in the loudness
    # step or the spectrum ratio scales it wrongly).
    audio = torch.randn(1, 8000, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 0.1
    out = matching_eq(audio, 10 * audio, RATE, max_gain_db=12.0)
    torch.testing.assert_close(out, 10 * audio, rtol=0, atol=1e-5)


def test_matching_eq_copies_a_spectral_tilt():
    # White noise against a reference through 1 + 0.5 z^-1 (|H|^2 = 1.25 + cos w: +3.5 dB at
    # DC, -6 dB at Nyquist): the output's low/high band power ratio must follow the reference's
    # (an inverted spectrum ratio tilts the other way).
    audio = torch.randn(1, 32000, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) * 0.1
    reference = audio.clone()
    reference[:, 1:] += 0.5 * audio[:, :-1]

    def tilt_db(x):
        power = torch.fft.rfft(x[0]).abs().square()
        n = power.shape[0]
        return float(10 * torch.log10(power[n // 40 : n // 8].mean() / power[-n // 4 : -n // 40].mean()))

    assert abs(tilt_db(audio)) < 0.5
    assert tilt_db(matching_eq(audio, reference, RATE)) == pytest.approx(tilt_db(reference), abs=1.0)
