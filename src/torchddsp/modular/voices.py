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
  compresses the attack into the note), control frame ``i`` sits at sample ``i * hop_size``
  (torchsynth stretches by 0.06 %), the noise is seeded per sound (torchsynth's is one
  fixed buffer for every batch), a decay of exactly 0 drops straight to the sustain level
  (torchsynth then holds 1 until the note ends), and an attack starts from exactly 0
  (torchsynth's ramps start at ``(1e-6 (1 + 1 / (attack * frame_rate))) ** alpha``, 0.25 for
  alpha 0.1). ``tests/modular/test_torchsynth_wiring.py`` checks every control signal against
  torchsynth's own for fixed patches.
- :class:`RichVoice` (``"rich"``): the same sources through a resonant filter with its own
  envelope and LFO, a saturating drive and a tone EQ.
- Your own: subclass :class:`Voice`, register modules in ``__init__`` with ``self.add(name,
  module)``, apply curves with ``self.set_curves(curves)``, and implement
  ``synthesize(self, p, seeds)``, calling each module (``run_stacked`` and ``mix_sources``
  batch and fuse stock modules, and call any other module as it is).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import ItemsView
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TypeAlias
from typing import TypeGuard
from typing import TypeVar

import torch
from torch import Tensor
from torch import nn

from ..functional.noise import noise_seed
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from .modulation import ADSR
from .modulation import LFO
from .modulation import Keyboard
from .modulation import ModulationMixer
from .modules import RenderContext
from .modules import SynthModule
from .parameters import ParameterRange
from .parameters import load_curves
from .parameters import save_curves
from .processing import VCF
from .processing import AudioMixer
from .processing import Drive
from .processing import ToneEQ
from .processing import normalize_if_clipping
from .sources import VCO
from .sources import Noise
from .sources import SineVCO
from .sources import SquareSawVCO
from .sources import render_sources

__all__ = ["Voice", "DefaultVoice", "RichVoice", "VOICES", "make_voice", "TEST_FRACTION"]

#: Share of sounds labelled test by :meth:`Voice.is_train`.
TEST_FRACTION = 0.1
_PATCH, _NOISE, _SPLIT = 0, 1, 2  # streams of noise_seed(seed, sound, stream)
#: Stock modules whose sounds never interact: several of one class may run as one batched call.
_STACKABLE = (ADSR, LFO)
#: Curves a voice is built with: by ``"module.parameter"``, or the path of a JSON curve set.
Curves: TypeAlias = Mapping[str, ParameterRange] | str | os.PathLike | None
ModuleT = TypeVar("ModuleT", bound=SynthModule)


def _stock(module: SynthModule, kind: type[ModuleT]) -> TypeGuard[ModuleT]:
    """``module`` is a ``kind`` whose ``forward`` is ``kind``'s: what a fused render assumes."""
    return isinstance(module, kind) and type(module).forward is kind.forward


class SynthModules(nn.ModuleDict):
    """A voice's modules by name (a ``ModuleDict`` holding only :class:`SynthModule`)."""

    def __getitem__(self, key: str) -> SynthModule:
        module = super().__getitem__(key)
        assert isinstance(module, SynthModule)  # Voice.add admits nothing else
        return module

    def items(self) -> ItemsView[str, SynthModule]:
        return {name: self[name] for name in self.keys()}.items()


class Voice(nn.Module):
    """Base class of voices (module docstring).

    A subclass registers its modules in ``__init__`` (``self.add(name, module)``), then applies
    the curves it was given (``self.set_curves(curves)``), and wires the modules in
    ``synthesize``. Stock modules may be batched or fused there (:meth:`run_stacked`,
    :meth:`mix_sources`); ``fused = False`` renders module by module (same sound, slower).

    Args:
        context: sample rate, duration and control rate (torchsynth's defaults).
    """

    name = "voice"

    def __init__(self, context: RenderContext | None = None):
        super().__init__()
        self.context = context or RenderContext()
        self.synth_modules = SynthModules()
        #: Batch stock envelopes and LFOs and fuse stock sources (an optimisation; False calls
        #: every module on its own).
        self.fused = True

    def add(self, name: str, module: SynthModule) -> SynthModule:
        """Register ``module`` under ``name`` (its parameters become ``name.parameter``)."""
        if not isinstance(module, SynthModule):
            raise InputError(f"module {name!r} must be a SynthModule, found {type(module).__name__}")
        if name in self.synth_modules or not name or "." in name:
            raise InputError(f"module names must be unique, non-empty and without '.', found {name!r}")
        self.synth_modules[name] = module
        return module

    # Parameters -----------------------------------------------------------------------------

    @property
    def parameter_names(self) -> list[str]:
        """``"module.parameter"`` for every column of a patch, in order."""
        return [f"{m}.{p}" for m, module in self.synth_modules.items() for p in module.ranges]

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def ranges(self) -> dict[str, ParameterRange]:
        """The range of every parameter, by ``"module.parameter"``."""
        return {f"{m}.{p}": r for m, module in self.synth_modules.items() for p, r in module.ranges.items()}

    def set_curves(self, curves: Curves) -> None:
        """Replace the ranges of the named parameters (by ``"module.parameter"``: a mapping, or
        the path of a JSON file written by :meth:`save_curves`; None changes nothing); an
        unknown name is an error."""
        if curves is None:
            return
        if isinstance(curves, (str, os.PathLike)):
            curves = load_curves(curves)
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
            raise InputError(
                f"patch must have {self.n_parameters} columns (one per parameter of {self.name!r}), "
                f"found {patch.shape[1]}"
            )
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

    def random_patch(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """Uniform patch ``(batch_size, n_parameters)`` drawn from ``generator`` (or the global RNG)."""
        patch = torch.rand(batch_size, self.n_parameters, generator=generator, dtype=torch.float64)
        return patch.to(dtype=dtype, device=device)

    def sound_patch(
        self, indices: Tensor, seed: int = 0, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> Tensor:
        """The patch of each sound index of dataset ``seed``: row ``i`` depends on ``(seed,
        indices[i])`` only (drawn on CPU, then moved)."""
        rows = [
            torch.rand(
                self.n_parameters,
                dtype=torch.float64,
                generator=torch.Generator().manual_seed(noise_seed(seed, int(k), _PATCH)),
            )
            for k in indices.tolist()
        ]
        return torch.stack(rows).to(dtype=dtype, device=device)

    @staticmethod
    def noise_seeds(indices: Tensor, seed: int = 0, device: torch.device | str = "cpu") -> Tensor:
        """``(batch,)`` int64 noise seeds of the sounds."""
        return torch.tensor(
            [noise_seed(seed, int(k), _NOISE) for k in indices.tolist()], dtype=torch.int64, device=device
        )

    @staticmethod
    def is_train(indices: Tensor, seed: int = 0) -> Tensor:
        """``(batch,)`` bool: False for the ``TEST_FRACTION`` of sounds labelled test."""
        scale = 1 << 63
        return torch.tensor([noise_seed(seed, int(k), _SPLIT) / scale >= TEST_FRACTION for k in indices.tolist()])

    def render_batch(
        self,
        batch_index: int,
        batch_size: int,
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> dict[str, Tensor]:
        """Sounds ``batch_index * batch_size`` to ``(batch_index + 1) * batch_size - 1`` of dataset
        ``seed``: ``{"audio", "patch", "indices", "is_train"}``. Sound ``k`` is the same for any
        ``batch_size``."""
        indices = torch.arange(batch_index * batch_size, (batch_index + 1) * batch_size)
        return self.render_sounds(indices, seed, device, dtype)

    def render_sounds(
        self, indices: Tensor, seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> dict[str, Tensor]:
        """Render the sounds of the given indices of dataset ``seed`` (see :meth:`render_batch`)."""
        patch = self.sound_patch(indices, seed, dtype, device)
        with torch.no_grad():
            audio = self(patch, self.noise_seeds(indices, seed, device))
        return {"audio": audio, "patch": patch, "indices": indices, "is_train": self.is_train(indices, seed)}

    # Rendering -----------------------------------------------------------------------------

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_stacked(
        self, names: Sequence[str], p: Mapping[str, Mapping[str, Tensor]], inputs: Sequence[tuple[Tensor, ...]]
    ) -> dict[str, Tensor]:
        """Call each module of ``names`` with its parameters and its ``inputs`` -> outputs by name.

        When ``fused`` and they are all stock modules of one class (:class:`ADSR`, or
        :class:`LFO` alike in rate modulation), whose sounds never interact, they run as one
        batched call of the first (the same outputs, one call instead of ``len(names)``); any
        other module is called on its own.
        """
        modules = [self.synth_modules[n] for n in names]
        first = modules[0]
        stackable = (
            self.fused
            and type(first) in _STACKABLE
            and all(
                type(m) is type(first) and getattr(m, "rate_modulated", None) == getattr(first, "rate_modulated", None)
                for m in modules
            )
        )
        if not stackable:
            return {n: m(self.context, p[n], *args) for n, m, args in zip(names, modules, inputs)}
        params = {k: torch.cat([p[n][k] for n in names]) for k in first.ranges}
        stacked = [torch.cat(column) for column in zip(*inputs)]
        return dict(zip(names, first(self.context, params, *stacked).chunk(len(names))))

    def mix_sources(
        self,
        p: Mapping[str, Mapping[str, Tensor]],
        seeds: Tensor,
        midi_f0: Tensor,
        oscillators: Mapping[str, tuple[Tensor | None, Tensor]],
        noise_amplitude: Tensor,
        noise: str = "noise",
        mixer: str = "mixer",
    ) -> Tensor:
        """The audio half: each oscillator module (name -> ``(pitch modulation, amplitude)``, at
        control rate) and the ``noise`` module, mixed by the ``mixer`` module.

        When ``fused`` and the oscillators, noise and mixer are stock (their ``forward`` is
        :class:`VCO`'s, :class:`Noise`'s, :class:`AudioMixer`'s), the mixer's ``levels`` are
        folded into the amplitudes and :func:`render_sources` renders everything in one pass per
        waveform set, then the mixer's ``finish``; otherwise every module is called on its own.
        """
        ctx, m = self.context, self.synth_modules
        mixing, vcos = m[mixer], {n: v for n, v in ((n, m[n]) for n in oscillators) if _stock(v, VCO)}
        if self.fused and _stock(mixing, AudioMixer) and _stock(m[noise], Noise) and len(vcos) == len(oscillators):
            levels = mixing.levels(p[mixer])
            controls = [
                vcos[n].controls(ctx, p[n], midi_f0, modulation, amplitude * levels[n][:, None])
                for n, (modulation, amplitude) in oscillators.items()
            ]
            return mixing.finish(render_sources(ctx, controls, noise_amplitude * levels[noise][:, None], seeds))
        signals = {
            n: m[n](ctx, p[n], midi_f0, modulation, amplitude) for n, (modulation, amplitude) in oscillators.items()
        }
        signals[noise] = m[noise](ctx, noise_amplitude, seeds)
        return mixing(ctx, p[mixer], signals)

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

    def __init__(self, context: RenderContext | None = None, curves: Curves = None):
        super().__init__(context)
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
        self.add("noise", Noise())
        self.add("mixer", AudioMixer(("vco_1", "vco_2", "noise"), curves=(1.0, 1.0, 0.025)))
        self.set_curves(curves)

    def modulation(self, p: dict[str, dict[str, Tensor]]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """The control-rate half: ``(midi_f0, duration, modulation signals by target)``."""
        ctx = self.context
        midi_f0, duration = self.synth_modules["keyboard"](ctx, p["keyboard"])
        env = self.run_stacked(self.ENVELOPES, p, [(duration,)] * len(self.ENVELOPES))
        lfos = self.run_stacked(("lfo_1", "lfo_2"), p, [(env["lfo_1_rate_adsr"],), (env["lfo_2_rate_adsr"],)])
        sources = {
            "adsr_1": env["adsr_1"],
            "adsr_2": env["adsr_2"],
            "lfo_1": lfos["lfo_1"] * env["lfo_1_amp_adsr"],
            "lfo_2": lfos["lfo_2"] * env["lfo_2_amp_adsr"],
        }
        return midi_f0, duration, self.synth_modules["mod_matrix"](ctx, p["mod_matrix"], sources)

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:
        midi_f0, _, mods = self.modulation(p)
        # vco_2 first: with the noise, its square/saw pass is the one fused pass that draws it.
        oscillators = {
            "vco_2": (mods["vco_2_pitch"], mods["vco_2_amp"]),
            "vco_1": (mods["vco_1_pitch"], mods["vco_1_amp"]),
        }
        return self.mix_sources(p, seeds, midi_f0, oscillators, mods["noise_amp"])


class RichVoice(Voice):
    """A subtractive voice: the default voice's sources (2 VCOs and noise, one amplitude ADSR,
    one pitch LFO) through a resonant state-variable low-pass with its own envelope and LFO
    (keyboard-tracked cutoff), then a tanh drive and a two-shelf tone EQ."""

    name = "rich"

    def __init__(self, context: RenderContext | None = None, curves: Curves = None, filter_mode: str = "lowpass"):
        super().__init__(context)
        self.add("keyboard", Keyboard())
        self.add("amp_adsr", ADSR())
        self.add("filter_adsr", ADSR())
        self.add("lfo", LFO(rate_modulated=False))
        self.add("mod_matrix", ModulationMixer(("amp_adsr", "filter_adsr", "lfo"), ("pitch", "cutoff")))
        self.add("vco_1", SquareSawVCO())
        self.add("vco_2", SineVCO())
        self.add("noise", Noise())
        self.add("mixer", AudioMixer(("vco_1", "vco_2", "noise"), curves=(1.0, 1.0, 0.25), normalize_if_clipping=False))
        self.add("vcf", VCF(filter_mode))
        self.add("drive", Drive())
        self.add("tone", ToneEQ())
        self.set_curves(curves)

    def synthesize(self, p: dict[str, dict[str, Tensor]], seeds: Tensor) -> Tensor:
        ctx = self.context
        m = self.synth_modules
        midi_f0, duration = m["keyboard"](ctx, p["keyboard"])
        env = self.run_stacked(("amp_adsr", "filter_adsr"), p, [(duration,), (duration,)])
        wobble = m["lfo"](ctx, p["lfo"])
        mods = m["mod_matrix"](ctx, p["mod_matrix"], {**env, "lfo": wobble})
        amp_env = env["amp_adsr"]
        oscillators = {"vco_1": (mods["pitch"], amp_env), "vco_2": (mods["pitch"], amp_env)}
        sources = self.mix_sources(p, seeds, midi_f0, oscillators, amp_env)
        filtered = m["vcf"](ctx, p["vcf"], sources, midi_f0, mods["cutoff"])
        driven = m["drive"](ctx, p["drive"], filtered)
        return normalize_if_clipping(m["tone"](ctx, p["tone"], driven))


VOICES: dict[str, Callable[[RenderContext | None, Curves], Voice]] = {"default": DefaultVoice, "rich": RichVoice}


def make_voice(name: str, context: RenderContext | None = None, curves: Curves = None) -> Voice:
    """A registered voice by name (``VOICES``)."""
    if name not in VOICES:
        raise InputError(f"voice must be one of {sorted(VOICES)}, found {name!r}")
    return VOICES[name](context, curves)
