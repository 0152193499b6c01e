"""Dynamics: the static curve against its closed form, ballistics against a per-sample loop
and their time constants (within 5 %), the compressor, limiter and expander end to end, and
gradients (including on silence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torchddsp.functional.dynamics as dynamics
from torchddsp.functional.controls import Control
from torchddsp.functional.dynamics import compress
from torchddsp.functional.dynamics import detect_level
from torchddsp.functional.dynamics import gain_computer
from torchddsp.functional.dynamics import smooth_gain
from torchddsp.validation import set_validation

SR = 16000


def curve_reference(x, threshold, ratio, knee, mode):
    """Giannoulis et al. (2012), eq. 4 and its expander mirror, one level at a time."""
    out = []
    for level in x:
        d = level - threshold
        if mode == "compressor":
            if 2 * d < -knee:
                y = level
            elif 2 * abs(d) <= knee and knee > 0:
                y = level + (1 / ratio - 1) * (d + knee / 2) ** 2 / (2 * knee)
            else:
                y = threshold + d / ratio
        else:
            if 2 * d > knee:
                y = level
            elif 2 * abs(d) <= knee and knee > 0:
                y = level - (ratio - 1) * (d - knee / 2) ** 2 / (2 * knee)
            else:
                y = threshold + d * ratio
        out.append(y - level)
    return np.array(out)


@pytest.mark.parametrize("mode", ["compressor", "expander"])
@pytest.mark.parametrize("ratio,knee", [(4.0, 0.0), (4.0, 10.0), (1.5, 3.0), (20.0, 6.0)])
def test_static_curve_matches_its_closed_form(mode, ratio, knee):
    levels = np.linspace(-90, 10, 2001)
    expected = curve_reference(levels, -30.0, ratio, knee, mode)
    result = gain_computer(torch.from_numpy(levels)[None], -30.0, ratio, knee, mode)[0].numpy()
    np.testing.assert_allclose(result, expected, atol=1e-12)


def test_limiter_curve_holds_the_threshold_and_knee_is_smooth():
    levels = torch.linspace(-40, 20, 601, dtype=torch.float64)[None].requires_grad_()
    gain = gain_computer(levels, -6.0, float("inf"), 4.0)
    out = (levels + gain)[0]
    assert float(out.detach()[levels[0].detach() >= -4].max()) <= -6.0 + 1e-12  # above the knee nothing passes -6 dB
    (slope,) = torch.autograd.grad(out.sum(), levels)
    # Continuous slope from 1 (below) to 0 (above), no jump at the knee edges.
    assert float(np.abs(np.diff(slope[0].numpy())).max()) < 0.03


def ballistics_loop(target, attack_s, release_s, initial, rising):
    a, r = math.exp(-1 / (attack_s * SR)), math.exp(-1 / (release_s * SR))
    y, out = initial, []
    for g in target:
        use_attack = g > y if rising else g < y
        alpha = a if use_attack else r
        y = alpha * y + (1 - alpha) * g
        out.append(y)
    return np.array(out)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("attack_when", ["falling", "rising"])
def test_ballistics_match_a_per_sample_loop(backend, attack_when, rng):
    target = np.cumsum(rng.standard_normal(3000))
    result = smooth_gain(torch.from_numpy(target)[None], 0.002, 0.03, SR, attack_when=attack_when, backend=backend)
    expected = ballistics_loop(target, 0.002, 0.03, target[0], attack_when == "rising")
    np.testing.assert_allclose(result[0].numpy(), expected, atol=1e-10)


ONE_TIME_CONSTANT = 1 - math.exp(-1)


def time_to_fraction(curve, start, end, fraction=ONE_TIME_CONSTANT):
    """Samples until ``curve`` has covered ``fraction`` of the way from ``start`` to ``end``."""
    covered = (curve - start) / (end - start)
    return int(np.argmax(covered >= fraction)) + 1


@pytest.mark.parametrize("attack_s,release_s", [(0.005, 0.05), (0.02, 0.3)])
def test_compressor_step_response_settles_with_its_time_constants(attack_s, release_s):
    # A level step up (0.05 -> 0.8, i.e. -26 -> -2 dB) then down, through a hard-knee 4:1
    # compressor at -20 dB: the gain moves 13.5 dB in each direction.
    quiet, loud = 0.05, 0.8
    n = int(SR * 1.5)
    audio = torch.cat(
        [torch.full((1, SR // 4), quiet), torch.full((1, n), loud), torch.full((1, n), quiet)], 1
    ).double()
    _, gain = compress(audio, SR, -20.0, 4.0, 0.0, attack_s, release_s, return_gain=True)
    gain = gain[0].numpy()
    start = SR // 4
    settled = gain[start + n - 1]
    assert settled == pytest.approx(-(20 * math.log10(loud) + 20) * (1 - 1 / 4), abs=1e-6)
    attack_measured = time_to_fraction(gain[start:], 0.0, settled) / SR
    release_measured = time_to_fraction(gain[start + n :], settled, 0.0) / SR
    assert attack_measured == pytest.approx(attack_s, rel=0.05)
    assert release_measured == pytest.approx(release_s, rel=0.05)


def test_expander_attenuates_below_threshold_and_opens_with_its_attack():
    audio = torch.cat([torch.full((1, 8000), 0.001), torch.full((1, 8000), 0.5)], 1).double()
    out, gain = compress(audio, SR, -40.0, 3.0, 0.0, 0.004, 0.1, mode="expander", return_gain=True)
    # -60 dB input, 20 dB under the threshold, ratio 3: the output sits 40 dB lower.
    assert float(gain[0, 7999]) == pytest.approx(-40.0, abs=1e-6)
    opening = time_to_fraction(gain[0, 8000:].numpy(), -40.0, 0.0) / SR
    assert opening == pytest.approx(0.004, rel=0.05)
    assert float(gain[0, -1]) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(out.numpy(), (audio * 10 ** (gain / 20)).numpy(), rtol=1e-12)


def test_identity_settings_return_the_input(rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (2, 4000)))
    same = compress(audio, SR, threshold_db=0.0, ratio=1.0, knee_db=0.0)
    np.testing.assert_allclose(same.numpy(), audio.numpy(), atol=1e-12)


def test_rms_detector_reads_a_sine_at_minus_3_db():
    t = torch.arange(SR, dtype=torch.float64) / SR
    level = detect_level(torch.sin(2 * math.pi * 440 * t)[None], SR, "rms", rms_time_s=0.05)
    assert float(level[0, -4000:].mean()) == pytest.approx(-3.01, abs=0.05)


def test_batch_equals_per_item_and_inputs_are_untouched(rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (3, 2000)))
    threshold = torch.tensor([[-30.0], [-10.0], [-20.0]], dtype=torch.float64)
    before = audio.clone()
    batched = compress(audio, SR, threshold, 3.0)
    single = torch.cat([compress(audio[i : i + 1], SR, threshold[i : i + 1], 3.0) for i in range(3)])
    np.testing.assert_allclose(batched.numpy(), single.numpy(), atol=1e-13)
    assert torch.equal(audio, before)


def test_gradients_of_every_setting():
    generator = torch.Generator().manual_seed(0)
    audio = (0.5 * torch.randn(2, 40, dtype=torch.float64, generator=generator)).requires_grad_()
    settings = [
        torch.tensor([[v]], dtype=torch.float64, requires_grad=True) for v in (-12.0, 3.0, 6.0, 0.002, 0.01, 1.0)
    ]

    def fn(audio, threshold, ratio, knee, attack, release, makeup):
        return compress(audio, SR, threshold, ratio, knee, attack, release, makeup, detector="rms")

    assert torch.autograd.gradcheck(fn, (audio, *settings), eps=1e-7, atol=1e-6)


def test_finite_gradients_on_silence():
    silence = torch.zeros(1, 500, requires_grad=True)
    threshold = torch.tensor(-20.0, requires_grad=True)
    for detector in ("peak", "rms"):
        for mode in ("compressor", "expander"):
            out = compress(silence, SR, threshold, 4.0, 6.0, mode=mode, detector=detector)
            (g_audio, g_threshold) = torch.autograd.grad(out.pow(2).sum() + out.sum(), (silence, threshold))
            assert torch.isfinite(g_audio).all() and torch.isfinite(g_threshold).all()


def test_bad_settings_are_errors():
    audio = torch.zeros(1, 10)
    with pytest.raises(ValueError, match="ratio must be >= 1"):
        compress(audio, SR, ratio=0.5)
    with pytest.raises(ValueError, match="knee_db must be >= 0"):
        compress(audio, SR, knee_db=-1.0)
    with pytest.raises(ValueError, match="attack_s must be > 0"):
        compress(audio, SR, attack_s=0.0)
    with pytest.raises(ValueError, match="threshold_db must be finite"):
        compress(audio, SR, threshold_db=float("nan"))
    with pytest.raises(ValueError, match="ratio must be finite for an expander"):
        compress(audio, SR, ratio=float("inf"), mode="expander")
    with pytest.raises(ValueError, match="mode must be one of"):
        compress(audio, SR, mode="gate")


def test_compiled_decisions_equal_the_pytorch_loop_for_time_varying_settings(rng):
    # Per-sample attack, per-item release and a given state: the kernel's broadcasting of each
    # layout against the PyTorch loop's, in values and gradients.
    target = torch.tensor(np.cumsum(rng.standard_normal((3, 2000)), axis=1), requires_grad=True)
    attack = torch.tensor(rng.uniform(5e-4, 5e-3, (1, 2000)), requires_grad=True)
    release = torch.tensor([[0.01], [0.05], [0.2]], dtype=torch.float64, requires_grad=True)
    zi = torch.tensor([[0.0], [3.0], [-3.0]], dtype=torch.float64, requires_grad=True)
    weight = torch.tensor(rng.standard_normal((3, 2000)))
    results = {}
    for backend in ("numba", "torch"):
        y = smooth_gain(target, attack, release, SR, state=zi, attack_when="rising", backend=backend)
        results[backend] = (y.detach(), torch.autograd.grad((y * weight).sum(), (target, attack, release, zi)))
    np.testing.assert_allclose(results["numba"][0].numpy(), results["torch"][0].numpy(), rtol=0, atol=1e-12)
    for ours, reference in zip(results["numba"][1], results["torch"][1]):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-9, atol=1e-12)


def test_smooth_gain_hands_its_backend_to_the_smoothing(monkeypatch):
    seen = []
    original = dynamics.allpole_filter

    def spy(*args, **kwargs):
        seen.append(kwargs.get("backend", "auto"))
        return original(*args, **kwargs)

    monkeypatch.setattr(dynamics, "allpole_filter", spy)
    smooth_gain(torch.zeros(1, 50), 0.01, 0.1, SR, backend="torch")
    assert seen == ["torch"]


def test_leading_dimensions_are_flattened_and_restored(rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 800)))
    threshold = torch.tensor(rng.uniform(-30, -10, (6, 1)))  # per item of the flattened batch
    out, gain = compress(audio, SR, threshold, 3.0, return_gain=True)
    flat_out, flat_gain = compress(audio.reshape(6, 800), SR, threshold, 3.0, return_gain=True)
    assert out.shape == gain.shape == (2, 3, 800)
    np.testing.assert_array_equal(out.reshape(6, 800).numpy(), flat_out.numpy())
    np.testing.assert_array_equal(gain.reshape(6, 800).numpy(), flat_gain.numpy())
    mono = compress(audio[0, 0], SR, -20.0)
    np.testing.assert_array_equal(mono.numpy(), compress(audio[0, :1], SR, -20.0)[0].numpy())
    target = torch.from_numpy(rng.standard_normal((2, 3, 100)))
    y, state = smooth_gain(target, 0.01, 0.1, SR, state=torch.zeros(2, 3, 1, dtype=torch.float64), return_state=True)
    assert y.shape == (2, 3, 100) and state.shape == (2, 3, 1)
    np.testing.assert_array_equal(state.numpy(), y[..., -1:].numpy())


def test_a_ratio_at_frame_rate_is_upsampled_like_any_control():
    level = torch.linspace(-60.0, 0.0, 400, dtype=torch.float64)[None]
    frames = torch.tensor([[2.0, 8.0, 4.0, 1.5, 3.0]], dtype=torch.float64)
    per_sample = torch.from_numpy(np.interp(np.arange(400), np.arange(5) * 80, frames[0].numpy()))[None]
    for mode in ("compressor", "expander"):
        expected = gain_computer(level, -30.0, per_sample, 6.0, mode)
        np.testing.assert_allclose(
            gain_computer(level, -30.0, Control.per_frame(frames), 6.0, mode).numpy(),
            expected.numpy(),
            rtol=0,
            atol=1e-12,
        )


def test_value_checks_run_only_while_data_checks_are_on():
    audio = torch.zeros(1, 10)
    previous = set_validation(False)
    try:  # no host sync per check: the caller vouches for its settings
        compress(audio, SR, knee_db=-1.0)
        compress(audio, SR, ratio=0.5)
        compress(audio, SR, attack_s=-1.0)
    finally:
        set_validation(previous)
    with pytest.raises(ValueError, match="knee_db must be >= 0"):
        compress(audio, SR, knee_db=-1.0)
