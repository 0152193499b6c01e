"""Voices: modules wired into a synthesizer, rendered from a normalised patch.

A :class:`Voice` owns its modules (each declaring its parameters) and a ``synthesize`` method
that wires them. A *patch* is a ``(batch, n_parameters)`` tensor in [0, 1], one column per
``"module.parameter"`` in ``parameter_names`` order; the voice maps it to human units and
renders ``(batch, n_samples)`` audio, differentiably (sound matching optimises the patch).

Reproducibility: sound ``k`` of a dataset with seed ``s`` has its patch drawn by a generator
seeded from ``(s, k)`` and its noise from a counter-based generator seeded from ``(s, k)``
(:func:`~torchddsp.functional.counter_noise`), so it is the same whatever the batch size or
position and on every device; its train/test label is a hash of ``(s, k)`` (10 % test).

- :class:`DefaultVoice` (``"default"``): torchsynth's default ``Voice``, the same modules
  wired the same way with the same 78 parameters, ranges and curves (keyboard; 2 VCOs, sine
  and square/saw; noise; 2 LFOs and 6 ADSRs through a modulation mixer; audio mixer). Where
  the modules' insides differ, on purpose: the VCOs are band-limited (torchsynth's square/saw
  is a tanh distortion of a sine and aliases; here ``shape`` crossfades a band-limited square
  into a band-limited saw), the sine VCO uses ``sin`` (the library's phase convention; a
  quarter period from torchsynth's ``cos``, its initial phase is random anyway), VCO pitch is
  not clamped to MIDI 0-127 (pitches at or above Nyquist are silent rather than clamped to
  12.5 kHz), the LFO rate is not clamped at 0 (a negative rate runs the LFO backwards), a
  note released during its attack or decay releases from the level reached (torchsynth
  compresses the attack into the note), control frame ``i`` sits at sample ``i * hop``
  (torchsynth stretches by 0.06 %), the noise is seeded per sound (torchsynth's is one
  fixed buffer for every batch), a decay of exactly 0 drops straight to the sustain level
  (torchsynth then holds 1 until the note ends), and an attack starts from exactly 0
  (torchsynth's ramps start at ``(1e-6 (1 + 1 / (attack * control_rate))) ** alpha``, 0.25 for
  alpha 0.1). ``tests/modular/test_torchsynth_wiring.py`` checks every control signal against
  torchsynth's own for fixed patches.
- :class:`RichVoice` (``"rich"``): the same sources through a resonant filter with its own
  envelope and LFO, a saturating drive and a tone EQ.
- Your own: subclass :class:`Voice`, register modules in ``__init__`` with ``self.add(name,
  module)``, and implement ``synthesize(self, p, seeds)``.
"""

from __future__ import annotations

import os
from typing import Mapping

import torch
from torch import Tensor, nn

from ..validation import check_finite, check_rank
from ..functional.noise import noise_seed
from .modules import (
    ADSR,
    LFO,
    AudioMixer,
    Drive,
    Keyboard,
    ModulationMixer,
    RenderContext,
    SineVCO,
    SquareSawVCO,
    SynthModule,
    ToneEQ,
    VCF,
    normalize_if_clipping,
    render_sources,
)
from .parameters import ParameterRange, load_curves, save_curves
from ..validation import InputError

__all__ = ["Voice", "DefaultVoice", "RichVoice", "VOICES", "make_voice", "TEST_FRACTION"]

#: Share of sounds labelled test by :meth:`Voice.is_train`.
TEST_FRACTION = 0.1
_PATCH, _NOISE, _SPLIT = 0, 1, 2  # streams of noise_seed(seed, sound, stream)


class Voice(nn.Module):
    """Base class of voices (module docstring).

    Args:
        context: sample rate, duration and control rate (torchsynth's defaults).
        curves: parameter ranges replacing the modules' defaults, by ``"module.parameter"``:
            a mapping or the path of a JSON file written by :meth:`save_curves`.
    """

    name = "voice"

    def __init__(self, context: RenderContext | None = None, curves: Mapping[str, ParameterRange] | str | os.PathLike | None = None):
        super().__init__()
        self.context = context or RenderContext()
        self.synth_modules = nn.ModuleDict()
        self._pending_curves = curves

    def add(self, name: str, module: SynthModule) -> SynthModule:
        """Register ``module`` under ``name`` (its parameters become ``name.parameter``)."""
        if not isinstance(module, SynthModule):
            raise InputError(f"module {name!r} must be a SynthModule, found {type(module).__name__}")
        if name in self.synth_modules or not name or "." in name:
            raise InputError(f"module names must be unique, non-empty and without '.', found {name!r}")
        self.synth_modules[name] = module
        return module

    def _apply_pending_curves(self) -> None:
        if self._pending_curves is not None:
            curves = self._pending_curves
            self._pending_curves = None
            self.set_curves(load_curves(curves) if isinstance(curves, (str, os.PathLike)) else curves)

    # Parameters -----------------------------------------------------------------------------

    @property
    def parameter_names(self) -> list[str]:
        """``"module.parameter"`` for every column of a patch, in order."""
        self._apply_pending_curves()
        return [f"{m}.{p}" for m, module in self.synth_modules.items() for p in module.ranges]

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def ranges(self) -> dict[str, ParameterRange]:
        """The range of every parameter, by ``"module.parameter"``."""
        self._apply_pending_curves()
        return {f"{m}.{p}": r for m, module in self.synth_modules.items() for p, r in module.ranges.items()}

    def set_curves(self, curves: Mapping[str, ParameterRange]) -> None:
        """Replace the ranges of the named parameters; an unknown name is an error."""
        known = {f"{m}.{p}" for m, module in self.synth_modules.items() for p in module.ranges}
        unknown = sorted(set(curves) - known)
        if unknown:
            raise InputError(f"unknown parameters {unknown}; this voice has {sorted(known)}")
        for key, value in curves.items():
            module, parameter = key.split(".", 1)
            self.synth_modules[module].ranges[parameter] = value

    def save_curves(self, path: str | os.PathLike) -> None:
        """Write this voice's parameter curves as JSON (load them with ``curves=path``)."""
        save_curves(self.ranges, path, self.name)

    def check_patch(self, patch: Tensor) -> Tensor:
        check_rank("patch", patch, 2, f"(batch, {self.n_parameters})")
        check_finite("patch", patch)
        if patch.shape[1] != self.n_parameters:
            raise InputError(f"patch must have {self.n_parameters} columns (one per parameter of {self.name!r}), "
                             f"found {patch.shape[1]}")
        if bool(((patch < 0) | (patch > 1)).any()):
            raise InputError("patch values must lie in [0, 1] (normalised parameters)")
        return patch

    def human(self, patch: Tensor) -> dict[str, dict[str, Tensor]]:
        """Patch -> ``{module: {parameter: (batch,) tensor in human units}}``."""
        self.check_patch(patch)
        out: dict[str, dict[str, Tensor]] = {}
        column = 0
        for name, module in self.synth_modules.items():
            values = {}
            for parameter, parameter_range in module.ranges.items():
                values[parameter] = parameter_range.to_human(patch[:, column])
                column += 1
            out[name] = values
        return out

    def normalize(self, human: Mapping[str, Mapping[str, Tensor | float]], batch: int = 1) -> Tensor:
        """Human units ``{module: {parameter: value}}`` (every parameter) -> a patch."""
        columns = []
        for name, module in self.synth_modules.items():
            for parameter, parameter_range in module.ranges.items():
                try:
                    value = human[name][parameter]
                except KeyError:
                    raise InputError(f"missing parameter {name}.{parameter}") from None
                value = torch.as_tensor(value, dtype=torch.float32).reshape(-1).expand(batch)
                columns.append(parameter_range.to_normalized(value))
        return torch.stack(columns, dim=1)

    # Randomness and datasets ---------------------------------------------------------------

    def random_patch(self, batch_size: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                     device: torch.device | str = "cpu") -> Tensor:
        """Uniform patch ``(batch_size, n_parameters)`` drawn from ``generator`` (or the global RNG)."""
        patch = torch.rand(batch_size, self.n_parameters, generator=generator, dtype=torch.float64)
        return patch.to(dtype=dtype, device=device)

    def sound_patch(self, indices: Tensor, seed: int = 0, dtype: torch.dtype = torch.float32,
                    device: torch.device | str = "cpu") -> Tensor:
        """The patch of each sound index of dataset ``seed``: row ``i`` depends on ``(seed,
        indices[i])`` only (drawn on CPU, then moved)."""
        rows = [torch.rand(self.n_parameters, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(noise_seed(seed, int(k), _PATCH)))
                for k in indices.tolist()]
        return torch.stack(rows).to(dtype=dtype, device=device)

    @staticmethod
    def noise_seeds(indices: Tensor, seed: int = 0, device: torch.device | str = "cpu") -> Tensor:
        """``(batch,)`` int64 noise seeds of the sounds."""
        return torch.tensor([noise_seed(seed, int(k), _NOISE) for k in indices.tolist()], dtype=torch.int64, device=device)

    @staticmethod
    def is_train(indices: Tensor, seed: int = 0) -> Tensor:
        """``(batch,)`` bool: False for the ``TEST_FRACTION`` of sounds labelled test."""
        scale = 1 << 63
        return torch.tensor([noise_seed(seed, int(k), _SPLIT) / scale >= TEST_FRACTION for k in indices.tolist()])

    def render_batch(self, batch_index: int, batch_size: int, seed: int = 0, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        """Sounds ``batch_index * batch_size`` to ``(batch_index + 1) * batch_size - 1`` of dataset
        ``seed``: ``{"audio", "patch", "indices", "is_train"}``. Sound ``k`` is the same for any
        ``batch_size``."""
        indices = torch.arange(batch_index * batch_size, (batch_index + 1) * batch_size)
        return self.render_sounds(indices, seed, device, dtype)

    def render_sounds(self, indices: Tensor, seed: int = 0, device: torch.device | str = "cpu",
                      dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        """Render the sounds of the given indices of dataset ``seed`` (see :meth:`render_batch`)."""
        patch = self.sound_patch(indices, seed, dtype, device)
        with torch.no_grad():
            audio = self(patch, self.noise_seeds(indices, seed, device))
        return {"audio": audio, "patch": patch, "indices": indices, "is_train": self.is_train(indices, seed)}

    # Rendering -----------------------------------------------------------------------------

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, patch: Tensor, seeds: Tensor | None = None) -> Tensor:
        """Render ``patch`` ``(batch, n_parameters)`` in [0, 1] with noise seeds ``(batch,)``
        (int64; zeros by default) -> ``(batch, n_samples)``. Differentiable in the patch."""
        self.check_patch(patch)
        if seeds is None:
            seeds = torch.zeros(patch.shape[0], dtype=torch.int64, device=patch.device)
        if not isinstance(seeds, Tensor) or seeds.dtype != torch.int64 or seeds.shape != (patch.shape[0],):
            raise InputError(f"seeds must be a ({patch.shape[0]},) int64 tensor")
        return self.synthesize(self.human(patch), seeds)


class DefaultVoice(Voice):
    """torchsynth's default voice: its modules, wiring and 78 parameters (module docstring lists where
    the modules' insides differ).

    Six ADSRs (two for the modulation mixer, one each for the LFOs' amplitudes and rates) and
    two LFOs feed a 4 x 5 modulation mixer driving the two VCOs' pitch and amplitude and the
    noise amplitude; the audio mixer sums them and rescales sounds that would clip.
    """

    name = "default"
    ENVELOPES = ("adsr_1", "adsr_2", "lfo_1_amp_adsr", "lfo_2_amp_adsr", "lfo_1_rate_adsr", "lfo_2_rate_adsr")
    TARGETS = ("vco_1_pitch", "vco_1_amp", "vco_2_pitch", "vco_2_amp", "noise_amp")

    def __init__(self, context: RenderContext | None = None, curves=None):
        super().__init__(context, curves)
        self.add("keyboard", Keyboard())
        self.add("adsr_1", ADSR())
        self.add("adsr_2", ADSR())
        self.add("lfo_1", LFO())
        self.add("lfo_2", LFO())
        for name in self.ENVELOPES[2:]:
            self.add(name, ADSR())
        self.add("mod_matrix", ModulationMixer(("adsr_1", "adsr_2", "lfo_1", "lfo_2"), self.TARGETS))
        self.add("vco_1", SineVCO())
        self.add("vco_2", SquareSawVCO())
        self.add("mixer", AudioMixer(("vco_1", "vco_2", "noise"), curves=(1.0, 1.0, 0.025)))

    def modulation(self, p: dict[str, dict[str, Tensor]]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """The control-rate half: ``(midi_f0, duration, modulation signals by target)``."""
        ctx = self.context
        midi_f0, duration = self.synth_modules["keyboard"](ctx, p["keyboard"])
        # The six envelopes in one batched call.
        names = self.ENVELOPES
        stacked = {k: torch.cat([p[n][k] for n in names]) for k in ADSR.parameter_ranges}
        envelopes = self.synth_modules["adsr_1"](ctx, stacked, duration.repeat(len(names))).chunk(len(names))
        env = dict(zip(names, envelopes))
        lfo_params = {k: torch.cat([p["lfo_1"][k], p["lfo_2"][k]]) for k in LFO.parameter_ranges}
        rates = torch.cat([env["lfo_1_rate_adsr"], env["lfo_2_rate_adsr"]])
        lfo_1, lfo_2 = self.synth_modules["lfo_1"](ctx, lfo_params, rates).chunk(2)
        sources = {"adsr_1": env["adsr_1"], "adsr_2": env["adsr_2"],
                   "lfo_1": lfo_1 * env["lfo_1_amp_adsr"], "lfo_2": lfo_2 * env["lfo_2_amp_adsr"]}
        return midi_f0, duration, self.synth_modules["mod_matrix"](ctx, p["mod_matrix"], sources)

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:
        ctx = self.context
        midi_f0, _, mods = self.modulation(p)
        levels = p["mixer"]
        vco_1 = self.synth_modules["vco_1"].controls(ctx, p["vco_1"], midi_f0, mods["vco_1_pitch"],
                                                     mods["vco_1_amp"] * levels["vco_1"][:, None])
        vco_2 = self.synth_modules["vco_2"].controls(ctx, p["vco_2"], midi_f0, mods["vco_2_pitch"],
                                                     mods["vco_2_amp"] * levels["vco_2"][:, None])
        # Mixer levels are folded into the control-rate amplitudes, so VCAs, mixer and noise are
        # all inside one fused audio-rate pass per waveform set.
        audio = render_sources(ctx, [vco_2, vco_1], mods["noise_amp"] * levels["noise"][:, None], seeds)
        return normalize_if_clipping(audio)


class RichVoice(Voice):
    """A subtractive voice: the default voice's sources (2 VCOs and noise, one amplitude ADSR,
    one pitch LFO) through a resonant state-variable low-pass with its own envelope and LFO
    (keyboard-tracked cutoff), then a tanh drive and a two-shelf tone EQ."""

    name = "rich"

    def __init__(self, context: RenderContext | None = None, curves=None, filter_mode: str = "lowpass"):
        super().__init__(context, curves)
        self.add("keyboard", Keyboard())
        self.add("amp_adsr", ADSR())
        self.add("filter_adsr", ADSR())
        self.add("lfo", LFO(rate_modulated=False))
        self.add("mod_matrix", ModulationMixer(("amp_adsr", "filter_adsr", "lfo"), ("pitch", "cutoff")))
        self.add("vco_1", SquareSawVCO())
        self.add("vco_2", SineVCO())
        self.add("mixer", AudioMixer(("vco_1", "vco_2", "noise"), curves=(1.0, 1.0, 0.25), normalize_if_clipping=False))
        self.add("vcf", VCF(filter_mode))
        self.add("drive", Drive())
        self.add("tone", ToneEQ())

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:
        ctx = self.context
        m = self.synth_modules
        midi_f0, duration = m["keyboard"](ctx, p["keyboard"])
        stacked = {k: torch.cat([p["amp_adsr"][k], p["filter_adsr"][k]]) for k in ADSR.parameter_ranges}
        amp_env, filter_env = m["amp_adsr"](ctx, stacked, duration.repeat(2)).chunk(2)
        wobble = m["lfo"](ctx, p["lfo"])
        mods = m["mod_matrix"](ctx, p["mod_matrix"], {"amp_adsr": amp_env, "filter_adsr": filter_env, "lfo": wobble})
        levels = p["mixer"]
        vco_1 = m["vco_1"].controls(ctx, p["vco_1"], midi_f0, mods["pitch"], amp_env * levels["vco_1"][:, None])
        vco_2 = m["vco_2"].controls(ctx, p["vco_2"], midi_f0, mods["pitch"], amp_env * levels["vco_2"][:, None])
        sources = render_sources(ctx, [vco_1, vco_2], amp_env * levels["noise"][:, None], seeds)
        filtered = m["vcf"](ctx, p["vcf"], sources, midi_f0, mods["cutoff"])
        driven = m["drive"](ctx, p["drive"], filtered)
        return normalize_if_clipping(m["tone"](ctx, p["tone"], driven))


VOICES: dict[str, type[Voice]] = {"default": DefaultVoice, "rich": RichVoice}


def make_voice(name: str, context: RenderContext | None = None, curves=None) -> Voice:
    """A registered voice by name (``VOICES``)."""
    if name not in VOICES:
        raise InputError(f"voice must be one of {sorted(VOICES)}, found {name!r}")
    return VOICES[name](context, curves)
