"""Modular synthesizer: seeded, batched, differentiable voices for dataset generation and
sound matching.

- ``parameters``: :class:`ParameterRange` (range, curve, symmetry; normalised <-> human
  units), curve sets saved and loaded as JSON.
- ``modules``: :class:`Keyboard`, :class:`ADSR`, :class:`LFO`, :class:`ModulationMixer`,
  band-limited :class:`VCO` (:class:`SineVCO`, :class:`SquareSawVCO`), :class:`FmVCO`,
  :class:`Noise`, :class:`VCA`, :class:`AudioMixer`, :class:`VCF` (state-variable filter),
  :class:`Drive`, :class:`ToneEQ`, :class:`Effect` (any ``torchddsp.effects`` processor);
  :class:`RenderContext` (rates and length).
- ``voices``: :class:`Voice` (base class for your own), :class:`DefaultVoice` (torchsynth's
  architecture), :class:`RichVoice` (filter and effects), ``make_voice(name)``.
- ``dataset``: ``render_dataset`` (FLAC + parameters in shards, resumable), behind
  ``torchddsp modular render``.
"""

from .modules import (
    ADSR,
    LFO,
    VCA,
    VCF,
    VCO,
    AudioMixer,
    Drive,
    Effect,
    FmVCO,
    Keyboard,
    ModulationMixer,
    Noise,
    RenderContext,
    SineVCO,
    SquareSawVCO,
    SynthModule,
    ToneEQ,
    render_sources,
)
from .parameters import ParameterRange, load_curves, save_curves
from .voices import TEST_FRACTION, VOICES, DefaultVoice, RichVoice, Voice, make_voice

__all__ = [
    "ParameterRange",
    "save_curves",
    "load_curves",
    "RenderContext",
    "SynthModule",
    "Keyboard",
    "ADSR",
    "LFO",
    "ModulationMixer",
    "VCO",
    "SineVCO",
    "SquareSawVCO",
    "FmVCO",
    "Noise",
    "VCA",
    "AudioMixer",
    "VCF",
    "Drive",
    "Effect",
    "ToneEQ",
    "render_sources",
    "Voice",
    "DefaultVoice",
    "RichVoice",
    "VOICES",
    "make_voice",
    "TEST_FRACTION",
]
