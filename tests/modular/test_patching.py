"""Voices read as patches: every registered module is called and takes effect, so swapping one
(an envelope, an LFO, an oscillator, the mixer) changes the sound exactly as the swap says,
and the fused renderer (batched envelopes and LFOs, one audio pass per waveform set) equals
rendering module by module.

References: a swapped module that outputs silence must sound like the stock voice with that
module's routes (modulation weights or mixer level) set to 0 in the patch, a route the stock
code reads from the patch, independently of the swapped module's code path.
"""

from __future__ import annotations

import pytest
import torch

from torchddsp.modular import ADSR
from torchddsp.modular import LFO
from torchddsp.modular import AudioMixer
from torchddsp.modular import DefaultVoice
from torchddsp.modular import RenderContext
from torchddsp.modular import RichVoice
from torchddsp.modular import SquareSawVCO

SHORT = RenderContext(sample_rate=16000.0, duration_s=0.25, frame_rate=400.0)
TARGETS = ("vco_1_pitch", "vco_1_amp", "vco_2_pitch", "vco_2_amp", "noise_amp")


class SilentADSR(ADSR):
    def forward(self, context, params, duration):
        return torch.zeros(duration.shape[0], context.n_frames, dtype=duration.dtype)


class SilentLFO(LFO):
    def forward(self, context, params, rate_modulation=None):
        return torch.zeros(params["frequency"].shape[0], context.n_frames, dtype=params["frequency"].dtype)


class SilentVCO(SquareSawVCO):
    def forward(self, context, params, midi_f0, modulation, amplitude):
        return torch.zeros(amplitude.shape[0], context.n_samples, dtype=amplitude.dtype)


class MuteByForward(AudioMixer):
    """Mutes vco_2 in its own ``forward`` (the voice must call the mixer to hear it)."""

    def forward(self, context, params, signals):
        return super().forward(context, params, {**signals, "vco_2": torch.zeros_like(signals["vco_2"])})


class MuteByLevels(AudioMixer):
    """Mutes vco_2 through its ``levels`` (what the fused renderer reads)."""

    def levels(self, params):
        return {**super().levels(params), "vco_2": torch.zeros_like(params["vco_2"])}


def patch_with(voice, values: dict[str, float], batch: int = 3, seed: int = 0) -> torch.Tensor:
    patch = voice.random_patch(batch, torch.Generator().manual_seed(seed))
    for name, value in values.items():
        patch[:, voice.parameter_names.index(name)] = value
    return patch


def render(voice, patch):
    with torch.no_grad():
        return voice(patch, torch.arange(patch.shape[0], dtype=torch.int64))


def assert_swap(module_name, swapped_module, silenced_routes):
    """``module_name`` swapped for a silent module == the stock voice with its routes at 0,
    and != the stock voice with them fully open (so the swap did take effect)."""
    loud = {route: 1.0 for route in silenced_routes}
    stock = DefaultVoice(SHORT)
    swapped = DefaultVoice(SHORT)
    swapped.synth_modules[module_name] = swapped_module
    patch = patch_with(stock, loud)
    expected = render(stock, patch_with(stock, {route: 0.0 for route in silenced_routes}))
    got = render(swapped, patch)
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=0)
    assert float((render(stock, patch) - expected).abs().max()) > 1e-2


def test_a_swapped_adsr_2_is_called_and_heard():
    assert_swap("adsr_2", SilentADSR(), [f"mod_matrix.adsr_2->{t}" for t in TARGETS])


def test_a_swapped_lfo_2_is_called_and_heard():
    assert_swap("lfo_2", SilentLFO(), [f"mod_matrix.lfo_2->{t}" for t in TARGETS])


def test_a_swapped_vco_is_called_and_heard():
    assert_swap("vco_2", SilentVCO(), ["mixer.vco_2"])


@pytest.mark.parametrize("mixer", [MuteByForward, MuteByLevels], ids=["forward", "levels"])
def test_a_mixer_subclass_that_mutes_a_channel_mutes_it(mixer):
    assert_swap("mixer", mixer(("vco_1", "vco_2", "noise"), curves=(1.0, 1.0, 0.025)), ["mixer.vco_2"])


@pytest.mark.parametrize("voice_class", [DefaultVoice, RichVoice])
def test_fused_rendering_equals_module_by_module(voice_class):
    # Module by module: each envelope and LFO called on its own, each VCO renders its audio,
    # the Noise module its noise, and the mixer sums them.
    fused, unfused = voice_class(SHORT), voice_class(SHORT)
    unfused.fused = False
    patch = fused.random_patch(4, torch.Generator().manual_seed(3))
    a, b = render(fused, patch), render(unfused, patch)
    assert float(a.abs().max()) > 1e-2
    torch.testing.assert_close(a, b, atol=2e-5, rtol=0)


def test_every_module_of_the_default_voice_is_called_when_unfused():
    voice = DefaultVoice(SHORT)
    voice.fused = False
    called = []
    for name, module in voice.synth_modules.items():
        module.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    render(voice, voice.random_patch(2, torch.Generator().manual_seed(0)))
    assert sorted(called) == sorted(voice.synth_modules)
