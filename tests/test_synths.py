import numpy as np
import pytest
import torch

import torchddsp as td
from torchddsp.functional import exp_sigmoid
from torchddsp.functional import fm_synthesis
from torchddsp.functional import harmonic_synthesis
from torchddsp.functional import normalize_harmonics
from torchddsp.functional import oscillator_bank
from torchddsp.functional import upsample
from torchddsp.functional import wavetable_synthesis

SR = 16000


def test_harmonic_module_is_normalisation_then_functional(rng):
    amplitudes = torch.tensor(rng.standard_normal((2, 10, 1)))
    distribution = torch.tensor(rng.standard_normal((2, 10, 40)))
    f0 = torch.tensor(rng.uniform(100, 1000, (2, 10, 1)))
    harmonic = td.Harmonic(SR)
    y = harmonic(amplitudes, distribution, f0, n_samples=640)
    expected = harmonic_synthesis(
        f0, exp_sigmoid(amplitudes), normalize_harmonics(exp_sigmoid(distribution), f0, SR), 640, SR
    )
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)
    controls = harmonic.controls(amplitudes, distribution, f0)
    np.testing.assert_allclose(controls["harmonic_distribution"].sum(-1).numpy(), 1.0, rtol=1e-12)


def test_harmonic_module_without_scaling_takes_controls_as_given(rng):
    distribution = torch.tensor(rng.uniform(0, 1, (1, 10, 5)))
    f0 = torch.full((1, 10, 1), 200.0, dtype=torch.float64)
    amplitudes = torch.full((1, 10, 1), 0.5, dtype=torch.float64)
    y = td.Harmonic(SR, scale_fn=None, normalize_below_nyquist=False)(amplitudes, distribution, f0, n_samples=640)
    expected = harmonic_synthesis(f0, amplitudes, distribution / distribution.sum(-1, keepdim=True), 640, SR)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)


def test_harmonic_rejects_an_n_samples_the_controls_do_not_allow():
    with pytest.raises(ValueError, match="n_samples must be a multiple"):
        td.Harmonic(SR)(torch.zeros(1, 10, 1), torch.zeros(1, 10, 3), torch.ones(1, 10, 1) * 100, n_samples=645)


def test_filtered_noise_is_seeded_and_shaped(rng):
    magnitudes = torch.zeros(1, 50, 65)
    magnitudes[..., :8] = 1.0  # low-pass: 0 to about 1 kHz
    noise = td.FilteredNoise(scale_fn=None)
    a = noise(magnitudes, n_samples=16000, seed=1)
    b = noise(magnitudes, n_samples=16000, seed=1)
    c = noise(magnitudes, n_samples=16000, seed=2)
    d = noise(magnitudes, n_samples=16000, generator=torch.Generator().manual_seed(1))
    e = noise(magnitudes, n_samples=16000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(d, e)
    spectrum = np.abs(np.fft.rfft(a[0].numpy())) ** 2
    frequencies = np.fft.rfftfreq(16000, 1 / SR)
    assert spectrum[frequencies > 2000].sum() < 1e-3 * spectrum[frequencies < 800].sum()


def test_seeded_filtered_noise_continues_a_stream_with_noise_offset():
    # Catches a noise_offset that is ignored or off by one (a block would repeat the noise of
    # the stream's start, or shift it), and rows that share one seed. The reference is the
    # filtered noise of one call, each block filtered with its own frames' response.
    magnitudes = torch.rand(2, 6, 9, generator=torch.Generator().manual_seed(0))
    noise = td.FilteredNoise(scale_fn=None)
    whole = noise.render(magnitudes, n_samples=6 * 16, seed=5, noise_offset=0)
    raw = td.functional.noise.seeded_noise(5, 2, 6 * 16)
    assert torch.allclose(whole, td.functional.frequency_filter(raw, magnitudes, 0))
    later = noise.render(magnitudes[:, 2:], n_samples=4 * 16, seed=5, noise_offset=2 * 16)
    assert torch.allclose(later, td.functional.frequency_filter(raw[:, 32:], magnitudes[:, 2:], 0))
    assert not torch.allclose(whole[0], whole[1])
    with pytest.raises(ValueError, match="noise_offset"):
        noise.render(magnitudes, n_samples=96, noise_offset=3)


def test_filtered_noise_initial_bias_starts_quiet():
    y = td.FilteredNoise()(torch.zeros(1, 10, 65), n_samples=640, seed=0)
    assert y.abs().max().item() < 0.05


def test_sinusoidal_module_equals_oscillator_bank_of_upsampled_controls(rng):
    amplitudes = torch.tensor(rng.uniform(0, 1, (2, 10, 4)))
    frequencies = torch.tensor(rng.uniform(50, 3000, (2, 10, 4)))
    y = td.Sinusoidal(SR, amplitude_scale_fn=None, frequency_scale_fn=None)(amplitudes, frequencies, n_samples=320)
    expected = oscillator_bank(upsample(frequencies, 320, "linear"), upsample(amplitudes, 320, "window"), SR)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-10)


def test_wavetable_module(rng):
    tables = torch.tensor(rng.standard_normal((1, 10, 64)))
    amplitudes = torch.tensor(rng.standard_normal((1, 10, 1)))
    f0 = torch.tensor(rng.uniform(100, 500, (1, 10, 1)))
    y = td.Wavetable(SR)(amplitudes, tables, f0, n_samples=320)
    np.testing.assert_allclose(
        y.numpy(), wavetable_synthesis(f0, exp_sigmoid(amplitudes), tables, 320, SR).numpy(), atol=1e-12
    )


def test_fm_module_stack_and_carriers(rng):
    fm = td.FM(SR, ratios=(1.0, 3.0, 0.5), scale_fn=None)
    assert fm.output_gains.tolist() == [1.0, 0.0, 0.0]
    f0 = torch.full((1, 5, 1), 220.0, dtype=torch.float64)
    levels = torch.tensor(rng.uniform(0, 1, (1, 5, 3)))
    y = fm(f0, levels, n_samples=320)
    expected = fm_synthesis(
        upsample(f0 * torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64), 320, "linear"),
        upsample(levels, 320, "window"),
        fm.routing.double() * 2 * np.pi,
        SR,
        output_gains=torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
    )
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)
    parallel = td.FM(SR, ratios=(1.0, 2.0), routing=torch.zeros(2, 2))
    assert parallel.output_gains.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="strictly upper triangular"):
        td.FM(SR, routing=torch.tensor([[0.0, 0.0], [1.0, 0.0]]))


def test_fm_module_trainable_feedback_gets_a_gradient():
    fm = td.FM(SR, ratios=(1.0, 1.0), feedback=(0.0, 0.5), trainable_feedback=True)
    fm(torch.full((1, 4, 1), 300.0), torch.zeros(1, 4, 2), n_samples=64).pow(2).sum().backward()
    assert torch.isfinite(fm.feedback.grad).all() and bool((fm.feedback.grad != 0).all())
    starts_at_zero = td.FM(SR, trainable_feedback=True)  # feedback starts at 0 and must still learn
    starts_at_zero(torch.full((1, 4, 1), 300.0), torch.zeros(1, 4, 2), n_samples=64).pow(2).sum().backward()
    assert starts_at_zero.feedback.grad is not None and starts_at_zero.feedback.grad.abs().sum() > 0


def test_synth_outputs_follow_the_amplitude_dtype():
    controls = (torch.randn(1, 4, 3), torch.randn(1, 4, 3))
    assert td.Sinusoidal(SR)(*controls, n_samples=64).dtype == torch.float32
    assert td.FM(SR)(torch.full((1, 4, 1), 200.0), torch.randn(1, 4, 2), n_samples=64).dtype == torch.float32


def test_sinusoidal_frame_frequencies_do_not_depend_on_their_place_in_the_tensor():
    # Bug caught: frequency_scale_fn applied in float32, where torch.pow rounds a frame one
    # step differently in its vector loop and in its scalar tail: a block's first frames then
    # get other frequencies (6e-8 apart) than the same frames inside one call, and the phase
    # sums that over the whole stream (2.6e-4 of the peak after 20000 samples).
    generator = torch.Generator().manual_seed(5)
    raw = 6 * torch.rand(2, 101, 3, generator=generator) - 3
    sinusoidal = td.Sinusoidal(SR)
    whole = sinusoidal.controls(raw, raw)["frequencies_hz"]
    for start in range(0, 98, 7):
        part = sinusoidal.controls(raw[:, start : start + 3], raw[:, start : start + 3])["frequencies_hz"]
        torch.testing.assert_close(part, whole[:, start : start + 3], rtol=1e-12, atol=0)


def test_harmonic_with_inharmonicity_mutes_the_partials_stretched_past_nyquist():
    # Bug caught: normalising over k f0 < Nyquist when B moves partial 7 (7 kHz) to 8.5 kHz: its
    # share of the amplitude would go to a silent partial and the audible ones come out quieter.
    f0 = torch.full((1, 4, 1), 1000.0, dtype=torch.float64)
    distribution = torch.ones(1, 4, 8, dtype=torch.float64)
    stiffness = torch.full((1, 1), 0.01, dtype=torch.float64)
    harmonic = td.Harmonic(SR, scale_fn=None, inharmonicity=True)
    assert harmonic.input_names == ("amplitudes", "harmonic_distribution", "f0_hz", "inharmonicity")
    controls = harmonic.controls(torch.ones_like(f0), distribution, f0, stiffness)
    k = np.arange(1, 9)
    audible = k * 1000 * np.sqrt(1 + 0.01 * k**2) < SR / 2  # partials 1..6
    np.testing.assert_allclose(controls["harmonic_distribution"][0, 0].numpy(), audible / audible.sum(), rtol=1e-12)
    y = harmonic(torch.ones_like(f0), distribution, f0, stiffness, n_samples=256)
    expected = harmonic_synthesis(
        f0, torch.ones_like(f0), controls["harmonic_distribution"], 256, SR, inharmonicity=stiffness
    )
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)


def test_harmonic_shifts_port_only_when_built_with_it():
    f0, distribution = torch.full((1, 2, 1), 200.0), torch.zeros(1, 2, 4)
    shifted = td.Harmonic(SR, harmonic_shifts=True)
    y, state = shifted(torch.zeros(1, 2, 1), distribution, f0, torch.zeros(1, 2, 4), n_samples=128, return_state=True)
    assert y.shape == (1, 128) and state.shape == (1, 4)  # every partial's phase
    with pytest.raises(ValueError, match="harmonic_shifts"):
        td.Harmonic(SR).controls(torch.zeros(1, 2, 1), distribution, f0, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="harmonic_shifts"):
        shifted.controls(torch.zeros(1, 2, 1), distribution, f0)


def test_modal_module_scales_then_renders_modal_synthesis(rng):
    from torchddsp.functional.modal import modal_synthesis
    from torchddsp.synths import Modal

    raw = [torch.tensor(rng.standard_normal((2, 1, 5))) for _ in range(3)]
    modal = Modal(SR)
    controls = modal.controls(*raw)
    assert float(controls["t60_s"].min()) > 0.01 and float(controls["t60_s"].max()) < 10.0
    expected = modal_synthesis(controls["frequencies_hz"], controls["amplitudes"], 500, SR, t60_s=controls["t60_s"])
    np.testing.assert_allclose(modal(*raw, n_samples=500).numpy(), expected.numpy(), atol=1e-12)


def test_karplus_strong_module_takes_frame_rate_gain(rng):
    from torchddsp.functional.controls import Control
    from torchddsp.functional.string import karplus_strong
    from torchddsp.synths import KarplusStrong

    excitation = torch.tensor(rng.uniform(-1, 1, (2, 640)))
    f0, damping = torch.tensor([[220.0], [330.0]], dtype=torch.float64), torch.full((2, 1), 0.25, dtype=torch.float64)
    gain = torch.tensor(rng.uniform(0.9, 1.0, (2, 10, 1)))
    y = KarplusStrong(SR, scale_fn=None)(excitation, f0, gain, damping)
    expected = karplus_strong(excitation, f0, SR, loop_gain=Control.per_frame(gain), damping=damping)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-12)
