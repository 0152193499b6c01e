"""ParametricEQ, Compressor and FDNReverb as processors: closed-form responses, identity
settings, learning through them, a ProcessorGroup, and finite gradients on silence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

import torchddsp as td
from torchddsp.functional import biquad
from torchddsp.functional import compress

SR = 16000


def magnitude_db(sections: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    total = np.zeros_like(frequencies)
    for row in sections:
        _, h = scipy.signal.freqz(row[:3], row[3:], worN=frequencies, fs=SR)
        total += 20 * np.log10(np.abs(h))
    return total


def test_eq_response_is_the_product_of_its_bands(rng):
    eq = td.ParametricEQ(SR, n_peaks=2, trainable=False)
    frequency = torch.tensor([[120.0, 800.0, 2500.0, 6000.0]], dtype=torch.float64)
    gain = torch.tensor([[6.0, -9.0, 4.0, -3.0]], dtype=torch.float64)
    q = torch.tensor([[0.7071, 2.0, 4.0, 0.7071]], dtype=torch.float64)
    impulse = torch.zeros(1, 1 << 15, dtype=torch.float64)
    impulse[0, 0] = 1.0
    response = eq(impulse, frequency, gain, q)[0].numpy()
    bins = np.arange(10, 16000) * SR / (1 << 15)
    measured = 20 * np.log10(np.abs(np.fft.rfft(response))[10:16000])
    modes = ("lowshelf", "peak", "peak", "highshelf")
    sections = np.stack([biquad(k, frequency[0, i], q[0, i], SR, gain[0, i]).numpy() for i, k in enumerate(modes)])
    np.testing.assert_allclose(measured, magnitude_db(sections, bins), atol=1e-8)
    # Gains at the band centres as designed (shelves reach half their gain at the corner).
    at = lambda hz: measured[int(round(hz * (1 << 15) / SR)) - 10]  # noqa: E731
    assert at(800.0) == pytest.approx(-9.0, abs=0.6)
    assert at(2500.0) == pytest.approx(4.0, abs=0.6)


def test_eq_at_zero_gain_is_the_identity(rng):
    audio = torch.from_numpy(rng.standard_normal((2, 3000)))
    eq = td.ParametricEQ(SR, n_peaks=3, trainable=True).double()
    np.testing.assert_allclose(eq(audio).detach().numpy(), audio.numpy(), atol=1e-12)


def test_eq_frame_rate_controls_and_raw_inputs(rng):
    audio = torch.from_numpy(rng.standard_normal((2, 1600)))
    eq = td.ParametricEQ(SR, n_peaks=1, trainable=False, raw_inputs=True)
    raw = [torch.from_numpy(rng.standard_normal((2, 10, 3))) * 3 for _ in range(3)]
    out = eq(audio, *raw)
    assert out.shape == audio.shape and torch.isfinite(out).all()
    controls = eq.controls(audio, *raw)
    assert float(controls["frequency_hz"].min()) >= 20 and float(controls["frequency_hz"].max()) <= 0.45 * SR
    assert float(controls["gain_db"].abs().max()) <= 24


def test_trainable_eq_learns_a_hidden_eq(rng):
    target_eq = td.ParametricEQ(SR, n_peaks=1, trainable=False)
    audio = torch.from_numpy(rng.standard_normal((1, 8000))).float()
    target = target_eq(
        audio,
        torch.tensor([[200.0, 1500.0, 5000.0]]),
        torch.tensor([[6.0, -8.0, 3.0]]),
        torch.tensor([[0.7071, 1.5, 0.7071]]),
    )
    eq = td.ParametricEQ(SR, n_peaks=1, trainable=True)
    optimizer = torch.optim.Adam(eq.parameters(), lr=0.05)
    loss_fn = td.losses.MultiScaleSpectralLoss(fft_sizes=(2048, 512))
    first = None
    for _ in range(150):
        loss = loss_fn(eq(audio), target)
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.2 * first
    gains = eq.controls(audio)["gain_db"][0].detach()
    assert float(gains[1]) == pytest.approx(-8.0, abs=2.0)


def test_compressor_module_equals_the_function_and_limits(rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (2, 4000)))
    module = td.Compressor(
        SR, threshold_db=-12.0, ratio=3.0, knee_db=4.0, attack_s=0.002, release_s=0.04, makeup_db=2.0
    )
    expected = compress(audio, SR, -12.0, 3.0, 4.0, 0.002, 0.04, 2.0)
    np.testing.assert_allclose(module(audio).numpy(), expected.numpy(), atol=1e-12)
    limiter = td.Compressor.limiter(SR, threshold_db=-6.0, knee_db=0.0, attack_s=1e-5)
    t = torch.arange(SR, dtype=torch.float64) / SR
    tone = torch.sin(2 * math.pi * 220 * t)[None]
    limited = limiter(tone)
    # After the attack has caught the level, peaks stay within 0.1 dB of the threshold.
    assert 20 * math.log10(float(limited[0, 800:].abs().max())) <= -6.0 + 0.1
    gate = td.Compressor.expander(SR, threshold_db=-30.0, ratio=10.0)
    quiet = 0.001 * tone
    assert float(gate(quiet)[0, 8000:].abs().max()) < 1e-6


def test_compressor_times_are_seconds_learned_or_fixed(rng):
    # attack_s and release_s reach compress() unconverted on both paths (a leftover / 1000
    # from the old milliseconds would make the learned one 1000 times faster).
    audio = torch.from_numpy(rng.uniform(-1, 1, (1, 2000)))
    expected = compress(audio, SR, -12.0, 3.0, 4.0, 0.002, 0.04, 0.0)
    for trainable in (False, True):
        module = td.Compressor(
            SR, threshold_db=-12.0, ratio=3.0, knee_db=4.0, attack_s=0.002, release_s=0.04, trainable=trainable
        ).double()
        controls = module.controls(audio)
        assert float(controls["attack_s"].detach()) == pytest.approx(0.002, rel=1e-6)  # float32 parameters
        assert float(controls["release_s"].detach()) == pytest.approx(0.04, rel=1e-6)
        np.testing.assert_allclose(module(audio).detach().numpy(), expected.numpy(), atol=1e-6)


def test_trainable_compressor_learns_its_threshold():
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / SR
    envelope = torch.cat([torch.full((2000,), 0.05), torch.full((4000,), 0.9), torch.full((2000,), 0.2)])
    audio = (envelope * torch.sin(2 * math.pi * 330 * t) + 0.01 * torch.randn(8000, generator=generator))[None]
    target = td.Compressor(SR, threshold_db=-24.0, ratio=4.0)(audio)
    module = td.Compressor(SR, threshold_db=-8.0, ratio=4.0, trainable=True)
    optimizer = torch.optim.Adam([module.threshold], lr=0.5)
    for _ in range(80):
        loss = (module(audio) - target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(module.threshold.detach()) == pytest.approx(-24.0, abs=1.5)


def _schroeder_t30(ir):
    """Reverberation time (s) from the -5 to -35 dB slope of the backward-integrated energy."""
    energy = np.cumsum(np.asarray(ir, dtype=np.float64)[::-1] ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    start, stop = np.argmax(decay_db <= -5), np.argmax(decay_db <= -35)
    return -60 / np.polyfit(np.arange(start, stop) / SR, decay_db[start:stop], 1)[0]


def test_fdn_reverb_module_rt60_and_learning():
    reverb = td.FDNReverb(SR, rt60_s=0.6, reverb_length=12000, add_dry=False, trainable=True)
    impulse = torch.zeros(1, 12000)
    impulse[0, 0] = 1.0
    ir = reverb(impulse)[0].detach().numpy().astype(np.float64)
    np.testing.assert_allclose(ir, reverb.impulse_response()[0].detach().numpy(), atol=1e-6)
    assert _schroeder_t30(ir) == pytest.approx(0.6, rel=0.1)
    matrix = reverb.feedback_matrix().detach()
    np.testing.assert_allclose((matrix @ matrix.T).numpy(), np.eye(8), atol=1e-5)
    # Learning the decay: a 0.3 s target response pulls the learned RT60 down.
    target = td.FDNReverb(SR, rt60_s=0.3, reverb_length=12000, add_dry=False, trainable=False)(impulse)
    optimizer = torch.optim.Adam([reverb.log_rt60], lr=0.05)
    loss_fn = td.losses.MultiScaleSpectralLoss(fft_sizes=(1024, 256))
    for _ in range(30):
        loss = loss_fn(reverb(impulse), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(torch.exp(reverb.log_rt60.detach())) < 0.45


def test_fdn_reverb_render_uses_the_reverberation_times_it_is_given():
    # Catches render ignoring its rt60_s (the module's own times whatever it is given).
    impulse = torch.zeros(2, 12000, dtype=torch.float64)
    impulse[:, 0] = 1.0
    reverb = td.FDNReverb(SR, rt60_s=0.6, reverb_length=12000, add_dry=False, trainable=False).double()
    assert set(reverb.controls(impulse)) == {"audio", "rt60_s"}
    # Same seed, so the same lines, matrix and gains: rendered at 0.3 s it is the 0.3 s reverb
    # (to 1e-9: the transfer function is sampled at 32768 frequencies for 0.6 s, 16384 for 0.3 s).
    shorter = td.FDNReverb(SR, rt60_s=0.3, reverb_length=12000, add_dry=False, trainable=False).double()
    torch.testing.assert_close(
        reverb.render(impulse, torch.tensor([0.3], dtype=torch.float64)), shorter(impulse), atol=1e-8, rtol=0
    )
    # One set of times per item: each item's response decays at its own rate.
    per_item = reverb.render(impulse, torch.tensor([[0.6], [0.2]], dtype=torch.float64))
    assert _schroeder_t30(per_item[0].numpy()) == pytest.approx(0.6, rel=0.1)
    assert _schroeder_t30(per_item[1].numpy()) == pytest.approx(0.2, rel=0.1)
    with pytest.raises(ValueError, match="rt60_s must hold one time per band"):
        reverb.render(impulse, torch.tensor([0.3, 0.2], dtype=torch.float64))


def test_effects_fit_in_a_processor_group(rng):
    audio = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, 4000))).float()
    group = td.ProcessorGroup(
        [
            ("eq", td.ParametricEQ(SR, n_peaks=2, trainable=True), ["audio"]),
            ("compressor", td.Compressor(SR, trainable=True), ["eq"]),
            (
                "reverb",
                td.FDNReverb(SR, rt60_s=(0.5, 0.2), band_edges_hz=(2000.0,), reverb_length=4000, trainable=True),
                ["compressor"],
            ),
        ]
    )
    out = group({"audio": audio})
    assert out.shape == audio.shape and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    for name, parameter in group.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


def test_effects_keep_finite_gradients_on_silence():
    silence = torch.zeros(1, 2000, requires_grad=True)
    modules = [
        td.ParametricEQ(SR, trainable=True),
        td.Compressor(SR, trainable=True),
        td.Compressor.limiter(SR),
        td.Compressor.expander(SR, trainable=True),
        td.FDNReverb(SR, rt60_s=0.2, reverb_length=1000, trainable=True),
    ]
    for module in modules:
        out = module(silence)
        out.pow(2).sum().backward(retain_graph=False)
        loss = (module(silence) + 1e-3).pow(2).sum()  # a non-zero gradient reaches every input
        loss.backward()
        assert torch.isfinite(silence.grad).all(), type(module).__name__
        for name, parameter in module.named_parameters():
            assert parameter.grad is None or torch.isfinite(parameter.grad).all(), (type(module).__name__, name)


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="ratio must be >= 1"):
        td.Compressor(ratio=0.5)
    with pytest.raises(ValueError, match="finite ratio"):
        td.Compressor(ratio=float("inf"), trainable=True)
    with pytest.raises(ValueError, match="at least one band"):
        td.ParametricEQ(n_peaks=0, low_shelf=False, high_shelf=False)
    with pytest.raises(ValueError, match="gain_db must have 5 bands"):
        td.ParametricEQ(trainable=False)(
            torch.zeros(1, 10), torch.ones(1, 5) * 100, torch.zeros(1, 4), torch.ones(1, 5)
        )
    with pytest.raises(ValueError, match="band_edges_hz must hold"):
        td.FDNReverb(rt60_s=(1.0, 0.5))
    with pytest.raises(ValueError, match="rt60_s must be"):
        td.FDNReverb(rt60_s=-1.0)


def test_a_trainable_phaser_cannot_be_trained_past_nyquist():
    phaser = td.Phaser(SR, center_hz=3000.0, depth_octaves=1.0, trainable=True)
    with torch.no_grad():
        phaser.log_center_hz.fill_(math.log(20000.0))  # what a large Adam step could do
        phaser.depth_octaves.fill_(3.0)
    sweep = phaser.lfo(4000).detach()
    assert float(sweep.max()) < 0.45 * SR + 1e-3 and float(sweep.min()) > 10.0 - 1e-6
    audio = torch.randn(1, 4000, generator=torch.Generator().manual_seed(0))
    phaser(audio).pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in phaser.parameters())


def test_fdn_reverb_streams_with_the_response_of_its_current_settings():
    # Catches the streaming render's reused response going stale: kept when the reverberation
    # times given change, or when a setting changes in place (a loaded checkpoint, an optimiser
    # step under no_grad). The first block of a stream from rest equals the offline render.
    reverb = td.FDNReverb(SR, rt60_s=0.2, reverb_length=3000, add_dry=False).double()
    block = torch.randn(2, 500, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for rt60 in (0.2, 0.1, 0.2):
        times = torch.tensor([rt60], dtype=torch.float64)
        streamed, tail = reverb.render(block, times, return_state=True)
        torch.testing.assert_close(streamed, reverb.render(block, times), atol=1e-12, rtol=0)
        assert tail.shape == (2, 2999)
    with torch.no_grad():
        reverb.output_gains.mul_(-1.0)
    times = torch.tensor([0.2], dtype=torch.float64)
    torch.testing.assert_close(reverb.render(block, times, return_state=True)[0], reverb.render(block, times))
    with pytest.raises(ValueError, match=r"state must have shape \(2, reverb_length - 1 = 2999\)"):
        reverb(block, state=torch.zeros(2, 10, dtype=torch.float64))
