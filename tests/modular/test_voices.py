"""Voices: torchsynth's architecture and parameter names, reproducibility (sound k the same for
every batch size and position, kernel and PyTorch paths equal, CPU and GPU), the train/test
label, finite gradients over 1000 random patches and the corner cases, a user-defined voice,
the rich voice's filter, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchddsp as td
from torchddsp.modular import ADSR
from torchddsp.modular import DefaultVoice
from torchddsp.modular import Effect
from torchddsp.modular import Keyboard
from torchddsp.modular import RenderContext
from torchddsp.modular import RichVoice
from torchddsp.modular import SineVCO
from torchddsp.modular import Voice
from torchddsp.modular import make_voice
from torchddsp.modular import render_sources

SHORT = RenderContext(sample_rate=16000.0, duration_s=0.5, frame_rate=400.0)

# torchsynth 1.0.2's Voice.parameters() order (registration order), for one-to-one comparison.
TORCHSYNTH_ORDER = (
    ["keyboard.midi_f0", "keyboard.duration"]
    + [f"adsr_{i}.{p}" for i in (1, 2) for p in ("attack", "decay", "sustain", "release", "alpha")]
    + [
        f"lfo_{i}.{p}"
        for i in (1, 2)
        for p in ("frequency", "mod_depth", "initial_phase", "sin", "tri", "saw", "rsaw", "sqr")
    ]
    + [
        f"{n}.{p}"
        for n in ("lfo_1_amp_adsr", "lfo_2_amp_adsr", "lfo_1_rate_adsr", "lfo_2_rate_adsr")
        for p in ("attack", "decay", "sustain", "release", "alpha")
    ]
    + [
        f"mod_matrix.{s}->{t}"
        for s in ("adsr_1", "adsr_2", "lfo_1", "lfo_2")
        for t in ("vco_1_pitch", "vco_1_amp", "vco_2_pitch", "vco_2_amp", "noise_amp")
    ]
    + [
        "vco_1.tuning",
        "vco_1.mod_depth",
        "vco_1.initial_phase",
        "vco_2.tuning",
        "vco_2.mod_depth",
        "vco_2.initial_phase",
        "vco_2.shape",
        "mixer.vco_1",
        "mixer.vco_2",
        "mixer.noise",
    ]
)


PI = 3.141592653589793
ADSR_RANGES = {
    "attack": (0, 2, 0.5, False),
    "decay": (0, 2, 0.5, False),
    "sustain": (0, 1, 1, False),
    "release": (0, 5, 0.5, False),
    "alpha": (0.1, 6, 1, False),
}
LFO_RANGES = {
    "frequency": (0, 20, 0.25, False),
    "mod_depth": (-10, 20, 0.5, True),
    "initial_phase": (-PI, PI, 1, False),
    **{k: (0, 1, 1, False) for k in ("sin", "tri", "saw", "rsaw", "sqr")},
}
VCO_RANGES = {"tuning": (-24, 24, 1, False), "mod_depth": (-96, 96, 0.2, True), "initial_phase": (-PI, PI, 1, False)}
# torchsynth 1.0.2's ModuleParameterRange of every parameter of its default Voice:
# (minimum, maximum, curve, symmetric).
TORCHSYNTH_RANGES = {
    "keyboard.midi_f0": (0, 127, 1, False),
    "keyboard.duration": (0.01, 4, 0.5, False),
    **{
        f"{m}.{p}": r
        for m in ("adsr_1", "adsr_2", "lfo_1_amp_adsr", "lfo_2_amp_adsr", "lfo_1_rate_adsr", "lfo_2_rate_adsr")
        for p, r in ADSR_RANGES.items()
    },
    **{f"{m}.{p}": r for m in ("lfo_1", "lfo_2") for p, r in LFO_RANGES.items()},
    **{
        f"mod_matrix.{s}->{t}": (0, 1, 0.5, False)
        for s in ("adsr_1", "adsr_2", "lfo_1", "lfo_2")
        for t in ("vco_1_pitch", "vco_1_amp", "vco_2_pitch", "vco_2_amp", "noise_amp")
    },
    **{f"{m}.{p}": r for m in ("vco_1", "vco_2") for p, r in VCO_RANGES.items()},
    "vco_2.shape": (0, 1, 1, False),
    "mixer.vco_1": (0, 1, 1, False),
    "mixer.vco_2": (0, 1, 1, False),
    "mixer.noise": (0, 1, 0.025, False),
}


def test_default_voice_has_torchsynths_78_parameters_in_its_order_with_its_ranges():
    voice = DefaultVoice()
    assert voice.n_parameters == 78
    assert voice.parameter_names == TORCHSYNTH_ORDER
    assert set(TORCHSYNTH_RANGES) == set(voice.parameter_names)
    for name, parameter_range in voice.ranges.items():
        minimum, maximum, curve, symmetric = TORCHSYNTH_RANGES[name]
        assert (parameter_range.minimum, parameter_range.maximum, parameter_range.curve) == pytest.approx(
            (minimum, maximum, curve)
        ), name
        assert parameter_range.symmetric == symmetric, name
    assert voice.context.n_samples == 176400 and voice.context.n_frames == 1764


def test_sound_k_is_the_same_whatever_the_batch():
    voice = DefaultVoice(SHORT)
    big = voice.render_batch(0, 8, seed=5)
    small = voice.render_batch(3, 2, seed=5)  # sounds 6 and 7
    alone = voice.render_sounds(torch.tensor([6]), seed=5)
    # Equal to float rounding: PyTorch's vectorised CPU kernels may round the last bit of an
    # element differently depending on where it falls in a batch.
    np.testing.assert_allclose(small["audio"].numpy(), big["audio"][6:8].numpy(), atol=1e-6)
    np.testing.assert_allclose(alone["audio"][0].numpy(), big["audio"][6].numpy(), atol=1e-6)
    assert torch.equal(small["patch"], big["patch"][6:8])
    other_seed = voice.render_batch(0, 8, seed=6)
    assert not torch.allclose(other_seed["audio"], big["audio"])
    assert float(big["audio"].abs().max()) <= 1.0 + 1e-6 and torch.isfinite(big["audio"]).all()


def test_kernel_and_pytorch_paths_render_the_same_sounds():
    fused = DefaultVoice(SHORT).render_batch(0, 6, seed=1)["audio"]
    context = RenderContext(SHORT.sample_rate, SHORT.duration_s, SHORT.frame_rate, backend="torch")
    reference = DefaultVoice(context).render_batch(0, 6, seed=1)["audio"]
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), atol=2e-5)


def test_train_test_label_is_deterministic_and_about_ten_percent():
    labels = Voice.is_train(torch.arange(20000), seed=3)
    assert torch.equal(labels, Voice.is_train(torch.arange(20000), seed=3))
    assert 0.08 < 1 - labels.float().mean().item() < 0.12
    assert torch.equal(Voice.is_train(torch.arange(100, 200), seed=3), labels[100:200])


def corner_patches(voice: Voice) -> torch.Tensor:
    """Zero-length segments, notes shorter than the attack, extreme values in every column."""
    names = voice.parameter_names
    patches = [torch.zeros(voice.n_parameters), torch.ones(voice.n_parameters)]
    for attack_u, duration_u in ((1.0, 0.0), (0.0, 0.0), (0.7, 0.05)):
        patch = torch.rand(voice.n_parameters, generator=torch.Generator().manual_seed(len(patches)))
        for i, name in enumerate(names):
            if name.endswith(".attack"):
                patch[i] = attack_u
            if name.endswith((".decay", ".release")):
                patch[i] = 0.0
            if name == "keyboard.duration":
                patch[i] = duration_u
        patches.append(patch)
    return torch.stack(patches)


@pytest.mark.slow
def test_finite_gradients_over_1000_random_patches_at_full_length():
    # torchsynth's setting (4 s at 44.1 kHz), where notes of every duration reach their
    # release: 1000 random patches of the default voice, in batches of 125.
    voice = DefaultVoice()
    generator = torch.Generator().manual_seed(11)
    for start in range(0, 1000, 125):
        patch = voice.random_patch(125, generator).requires_grad_()
        audio = voice(patch, voice.noise_seeds(torch.arange(start, start + 125)))
        audio.pow(2).mean().backward()
        assert torch.isfinite(audio).all() and torch.isfinite(patch.grad).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "rich"])
def test_finite_gradients_over_1000_random_patches_and_the_corner_cases(name):
    voice = make_voice(name, RenderContext(16000.0, 0.25, 400.0))
    generator = torch.Generator().manual_seed(0)
    batches = [voice.random_patch(250, generator) for _ in range(4)] + [corner_patches(voice)]
    for patch in batches:
        patch = patch.clone().requires_grad_()
        audio = voice(patch, torch.arange(patch.shape[0]))
        assert torch.isfinite(audio).all()
        (audio.pow(2).mean() + audio.abs().mean()).backward()
        assert torch.isfinite(patch.grad).all(), [
            n for n, bad in zip(voice.parameter_names, (~torch.isfinite(patch.grad)).any(0)) if bad
        ]
    # Every parameter moves the sound somewhere (no dead column).
    patch = voice.random_patch(64, generator).requires_grad_()
    voice(patch, torch.arange(64)).pow(2).mean().backward()
    assert bool((patch.grad.abs().sum(0) > 0).all()), [
        n for n, g in zip(voice.parameter_names, patch.grad.abs().sum(0)) if g == 0
    ]


class TwoOscillatorVoice(Voice):
    """A user-defined voice: one envelope shapes two detuned sines."""

    name = "two_sines"

    def __init__(self, context=None, curves=None):
        super().__init__(context)
        self.add("keyboard", Keyboard())
        self.add("envelope", ADSR())
        self.add("low", SineVCO())
        self.add("high", SineVCO())
        self.set_curves(curves)

    def synthesize(self, p, seeds):
        ctx = self.context
        midi, duration = self.synth_modules["keyboard"](ctx, p["keyboard"])
        envelope = self.synth_modules["envelope"](ctx, p["envelope"], duration)
        oscillators = [self.synth_modules[n].controls(ctx, p[n], midi, None, 0.5 * envelope) for n in ("low", "high")]
        return render_sources(ctx, oscillators)


def test_a_user_defined_voice_renders_what_it_wires():
    voice = TwoOscillatorVoice(SHORT)
    assert voice.n_parameters == 2 + 5 + 3 + 3
    human = {
        "keyboard": {"midi_f0": 69.0, "duration": 0.3},
        "envelope": {"attack": 0.0, "decay": 0.0, "sustain": 1.0, "release": 0.0, "alpha": 1.0},
        "low": {"tuning": 0.0, "mod_depth": 0.0, "initial_phase": 0.0},
        "high": {"tuning": 12.0, "mod_depth": 0.0, "initial_phase": 0.0},
    }
    audio = voice(voice.normalize(human))[0].numpy()
    # Held until the control frame before note-off (0.3 s; frames every 40 samples), then
    # silent from note-off on (zero release). Sample n has phase 2 pi f (n + 1) / sr.
    n = np.arange(int(0.29 * 16000))
    expected = 0.5 * (np.sin(2 * np.pi * 440 * (n + 1) / 16000) + np.sin(2 * np.pi * 880 * (n + 1) / 16000))
    np.testing.assert_allclose(audio[: len(n)], expected, atol=1e-3)
    assert np.abs(audio[int(0.3 * 16000) :]).max() < 1e-6


class CompressedVoice(TwoOscillatorVoice):
    """The two sines through effects of torchddsp.effects (a limiter, then a reverb)."""

    def __init__(self, context=None, curves=None):
        super().__init__(context, curves)
        self.add(
            "limiter",
            Effect(td.Compressor.limiter(context.sample_rate, threshold_db=-12.0, knee_db=0.0, attack_s=5e-5)),
        )
        self.add("room", Effect(td.FDNReverb(context.sample_rate, rt60_s=0.2, reverb_length=2000, trainable=True)))

    def synthesize(self, p, seeds):
        dry = super().synthesize(p, seeds)
        return self.synth_modules["room"](self.context, self.synth_modules["limiter"](self.context, dry))


def test_effects_from_torchddsp_effects_are_modules_and_learn():
    voice = CompressedVoice(SHORT)
    assert voice.n_parameters == TwoOscillatorVoice(SHORT).n_parameters  # effects add no patch columns
    patch = torch.full((2, voice.n_parameters), 0.5, requires_grad=True)
    audio = voice(patch)
    assert torch.isfinite(audio).all()
    audio.pow(2).mean().backward()
    assert torch.isfinite(patch.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in voice.parameters())
    with pytest.raises(ValueError, match="Effect wraps a Processor"):
        Effect(td.Mix())


def test_rich_voice_filter_darkens_the_sound():
    voice = RichVoice(SHORT)
    patch = torch.full((2, voice.n_parameters), 0.5)
    cutoff = voice.parameter_names.index("vcf.cutoff")
    for column in (
        "vcf.mod_depth",
        "vcf.keyboard_tracking",
        "drive.mix",
        "mod_matrix.filter_adsr->cutoff",
        "mod_matrix.lfo->cutoff",
        "mod_matrix.amp_adsr->cutoff",
    ):
        patch[:, voice.parameter_names.index(column)] = 0.0 if column != "vcf.mod_depth" else 0.5
    patch[0, cutoff], patch[1, cutoff] = 0.1, 0.9
    audio = voice(patch, torch.arange(2))
    spectrum = torch.fft.rfft(audio).abs()
    freqs = torch.fft.rfftfreq(audio.shape[1], 1 / 16000)
    centroid = (spectrum * freqs).sum(1) / spectrum.sum(1)
    assert float(centroid[0]) < 0.5 * float(centroid[1])


def test_fm_vco_noise_and_vca_modules():
    from torchddsp.modular import VCA
    from torchddsp.modular import FmVCO
    from torchddsp.modular import Noise

    ctx = SHORT
    ones = torch.ones(2, ctx.n_frames, dtype=torch.float64)
    params = {
        "tuning": torch.zeros(2, dtype=torch.float64),
        "mod_depth": torch.zeros(2, dtype=torch.float64),
        "initial_phase": torch.zeros(2, dtype=torch.float64),
        "mod_index": torch.tensor([0.0, 2.0], dtype=torch.float64),
    }
    n = torch.arange(1, ctx.n_samples + 1, dtype=torch.float64)
    modulator = torch.sin(2 * np.pi * 110.0 * n / ctx.sample_rate).expand(2, -1)
    y = FmVCO()(ctx, params, torch.full((2,), 69.0, dtype=torch.float64), None, ones, modulator)
    expected = torch.sin(2 * np.pi * 440.0 * n / ctx.sample_rate + params["mod_index"][:, None] * modulator)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=1e-9)
    seeds = torch.tensor([3, 4])
    noise = Noise()(ctx, 0.5 * ones, seeds)
    from torchddsp.functional import counter_noise

    np.testing.assert_allclose(
        noise.numpy(), 0.5 * counter_noise(seeds, ctx.n_samples, dtype=torch.float64).numpy(), atol=1e-12
    )
    np.testing.assert_allclose(render_sources(ctx, [], 0.5 * ones, seeds).numpy(), noise.numpy(), atol=1e-12)
    ramp = torch.linspace(0, 1, ctx.n_frames, dtype=torch.float64).expand(2, -1)
    gated = VCA()(ctx, noise, ramp)
    np.testing.assert_allclose(gated.numpy(), (noise * ctx.to_audio_rate(ramp)).numpy(), atol=1e-12)
    np.testing.assert_allclose(VCA()(ctx, ramp, ramp).numpy(), (ramp * ramp).numpy())


def test_bad_patches_are_errors():
    voice = DefaultVoice(SHORT)
    with pytest.raises(ValueError, match="patch must have 78 columns"):
        voice(torch.zeros(1, 77))
    with pytest.raises(ValueError, match="patch values must lie in"):
        voice(torch.full((1, 78), 1.5))
    with pytest.raises(ValueError, match="seeds must be"):
        voice(torch.zeros(2, 78), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="voice must be one of"):
        make_voice("organ")
    with pytest.raises(ValueError, match="whole number"):
        RenderContext(44100.0, 4.0, 440.0)


def test_normalize_if_clipping_values_gradients_and_silent_sounds():
    from torchddsp.modular.processing import normalize_if_clipping

    x = torch.zeros(3, 9, dtype=torch.float64)
    x[1] = 3 * torch.randn(9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[2] = 0.2
    x.requires_grad_()
    expected = x.detach() / x.detach().abs().amax(1, keepdim=True).clamp(min=1)
    np.testing.assert_allclose(normalize_if_clipping(x).detach().numpy(), expected.numpy(), atol=1e-15)
    assert torch.autograd.gradcheck(normalize_if_clipping, (x,))
    normalize_if_clipping(x).pow(2).sum().backward()  # a silent sound beside a clipping one
    assert torch.isfinite(x.grad).all()
