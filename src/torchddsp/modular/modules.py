"""Modules of the modular synthesizer: keyboard, envelopes, LFOs, oscillators, noise,
amplifiers, mixers, filter and effects.

Each module declares its parameters once (``parameter_ranges``: name -> :class:`ParameterRange`)
and computes from human-unit values (``(batch,)`` tensors) and input signals; the DSP itself
is in :mod:`torchddsp.functional` (one implementation shared with the rest of the library).
Control-rate signals are ``(batch, n_frames)`` at ``context.frame_rate``; audio is
``(batch, n_samples)``; control signals reach audio rate by linear interpolation (frame ``i``
at sample ``i * hop_size``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..functional import (
    adsr,
    bandlimited_oscillator,
    hz_to_midi,
    lfo,
    midi_to_hz,
    smooth_limit,
    sosfilt,
    state_variable_filter,
    upsample,
    waveshape,
)
from ..functional.biquad import biquad
from ..validation import InputError, check_positive
from .parameters import ParameterRange

__all__ = [
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
]

PI = math.pi


@dataclass(frozen=True)
class RenderContext:
    """Rates and length of a render: ``n_samples = sample_rate * duration_s`` audio samples and
    ``n_frames = n_samples / hop_size`` control frames, ``hop_size = sample_rate / frame_rate``
    (both must be whole numbers). torchsynth's defaults: 44.1 kHz, 4 s, 441 frames per second."""

    sample_rate: float = 44100.0
    duration_s: float = 4.0
    frame_rate: float = 441.0
    #: Engine of the audio-rate sources: ``"auto"`` (numba kernel on CPU, PyTorch elsewhere),
    #: ``"numba"`` or ``"torch"`` (see :func:`~torchddsp.functional.bandlimited_oscillator`).
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "numba", "torch"):
            raise InputError(f"backend must be 'auto', 'numba' or 'torch', found {self.backend!r}")
        check_positive("sample_rate", self.sample_rate)
        check_positive("duration_s", self.duration_s)
        check_positive("frame_rate", self.frame_rate)
        if abs(self.hop_size - self.sample_rate / self.frame_rate) > 1e-9 or self.hop_size < 1:
            raise InputError(
                f"sample_rate / frame_rate must be a whole number, found {self.sample_rate} / {self.frame_rate}"
            )
        if abs(self.n_samples - self.sample_rate * self.duration_s) > 1e-6 or self.n_samples % self.hop_size:
            raise InputError(
                f"sample_rate * duration_s must be a whole number of hops ({self.hop_size} samples), "
                f"found {self.sample_rate * self.duration_s}"
            )

    @property
    def hop_size(self) -> int:
        return int(round(self.sample_rate / self.frame_rate))

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    @property
    def n_frames(self) -> int:
        return self.n_samples // self.hop_size

    def to_audio_rate(self, control: Tensor) -> Tensor:
        """``(batch, n_frames)`` -> ``(batch, n_samples)`` by linear interpolation."""
        return upsample(control.unsqueeze(-1), self.n_samples, "linear")[..., 0]


class SynthModule(nn.Module):
    """A module with declared parameters. Subclasses set ``parameter_ranges`` and implement
    ``forward(context, params, *inputs)`` with ``params`` in human units."""

    parameter_ranges: ClassVar[dict[str, ParameterRange]] = {}

    def __init__(self, ranges: Mapping[str, ParameterRange] | None = None):
        super().__init__()
        self.ranges: dict[str, ParameterRange] = dict(type(self).parameter_ranges if ranges is None else ranges)


class Keyboard(SynthModule):
    """Monophonic keyboard: one note per sound, ``midi_f0`` (fractional MIDI) held for
    ``duration`` seconds. Outputs ``(midi_f0, duration)``, each ``(batch,)``."""

    parameter_ranges = {
        "midi_f0": ParameterRange(0.0, 127.0, 1.0, unit="MIDI note", description="pitch of the note"),
        "duration": ParameterRange(0.01, 4.0, 0.5, unit="s", description="time until note-off"),
    }

    def forward(self, context: RenderContext, params: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        return params["midi_f0"], params["duration"]


class ADSR(SynthModule):
    """Attack-decay-sustain-release envelope with curvature ``alpha``
    (:func:`torchddsp.functional.adsr`); input the note duration, output ``(batch, n_frames)``."""

    parameter_ranges = {
        "attack": ParameterRange(0.0, 2.0, 0.5, unit="s"),
        "decay": ParameterRange(0.0, 2.0, 0.5, unit="s"),
        "sustain": ParameterRange(0.0, 1.0, 1.0),
        "release": ParameterRange(0.0, 5.0, 0.5, unit="s"),
        "alpha": ParameterRange(0.1, 6.0, 1.0, description="segment curvature (1 = linear)"),
    }

    def forward(self, context: RenderContext, params: Mapping[str, Tensor], note_duration_s: Tensor) -> Tensor:
        return adsr(
            params["attack"],
            params["decay"],
            params["sustain"],
            params["release"],
            note_duration_s,
            context.n_frames,
            context.frame_rate,
            params["alpha"],
        )


class LFO(SynthModule):
    """Low-frequency oscillator in [0, 1]: a mix of sine, triangle, saw, reverse saw and square
    (:func:`torchddsp.functional.lfo`), its rate modulated by an input (an envelope)."""

    parameter_ranges = {
        "frequency": ParameterRange(0.0, 20.0, 0.25, unit="Hz"),
        "mod_depth": ParameterRange(-10.0, 20.0, 0.5, symmetric=True, unit="Hz", description="rate modulation"),
        "initial_phase": ParameterRange(-PI, PI, 1.0, unit="rad"),
        "sin": ParameterRange(0.0, 1.0),
        "tri": ParameterRange(0.0, 1.0),
        "saw": ParameterRange(0.0, 1.0),
        "rsaw": ParameterRange(0.0, 1.0),
        "sqr": ParameterRange(0.0, 1.0),
    }

    def __init__(self, rate_modulated: bool = True, ranges: Mapping[str, ParameterRange] | None = None):
        if ranges is None and not rate_modulated:  # no rate input: no (dead) depth parameter
            ranges = {k: v for k, v in type(self).parameter_ranges.items() if k != "mod_depth"}
        super().__init__(ranges)
        self.rate_modulated = rate_modulated

    def forward(
        self, context: RenderContext, params: Mapping[str, Tensor], rate_modulation: Tensor | None = None
    ) -> Tensor:
        if rate_modulation is not None and not self.rate_modulated:
            raise InputError("this LFO was built with rate_modulated=False: it takes no rate modulation")
        weights = torch.stack([params[k] for k in ("sin", "tri", "saw", "rsaw", "sqr")], dim=1)
        return lfo(
            params["frequency"],
            weights,
            context.n_frames,
            context.frame_rate,
            rate_modulation,
            params["mod_depth"] if rate_modulation is not None else None,
            state=params["initial_phase"],
        )


class ModulationMixer(SynthModule):
    """Routes ``sources`` to ``targets``: ``target_j = sum_i w_ij source_i`` with one weight
    parameter ``"source->target"`` in [0, 1] (curve 0.5, so small weights are finely resolved)
    per pair. Control rate, ``(batch, n_frames)`` each."""

    def __init__(
        self, sources: Sequence[str], targets: Sequence[str], ranges: Mapping[str, ParameterRange] | None = None
    ):
        self.sources, self.targets = tuple(sources), tuple(targets)
        default = {f"{s}->{t}": ParameterRange(0.0, 1.0, 0.5) for s in self.sources for t in self.targets}
        super().__init__(default if ranges is None else ranges)

    def forward(
        self, context: RenderContext, params: Mapping[str, Tensor], inputs: Mapping[str, Tensor]
    ) -> dict[str, Tensor]:
        stacked = torch.stack([inputs[s] for s in self.sources], dim=1)  # (batch, sources, frames)
        weights = torch.stack(
            [torch.stack([params[f"{s}->{t}"] for s in self.sources], dim=1) for t in self.targets], dim=1
        )  # (batch, targets, sources)
        mixed = torch.bmm(weights, stacked)
        return {t: mixed[:, j] for j, t in enumerate(self.targets)}


class VCO(SynthModule):
    """Band-limited voltage-controlled oscillator (:func:`torchddsp.functional.bandlimited_oscillator`).

    Pitch ``midi_f0 + tuning + mod_depth * modulation`` (semitones, at control rate) -> Hz.
    ``waveforms`` are mixed by ``mix_weights(params)`` (one waveform: weight 1).
    ``controls()`` gives what the renderer needs, so a voice can render several oscillators
    and its noise in one fused pass (:func:`render_sources`).
    """

    parameter_ranges = {
        "tuning": ParameterRange(-24.0, 24.0, 1.0, unit="semitones"),
        "mod_depth": ParameterRange(-96.0, 96.0, 0.2, symmetric=True, unit="semitones"),
        "initial_phase": ParameterRange(-PI, PI, 1.0, unit="rad"),
    }
    waveforms: tuple[str, ...] = ("saw",)

    def __init__(self, waveforms: Sequence[str] | None = None, ranges: Mapping[str, ParameterRange] | None = None):
        super().__init__(ranges)
        if waveforms is not None:
            self.waveforms = tuple(waveforms)

    def mix_weights(self, params: Mapping[str, Tensor]) -> Tensor:
        """``(batch, len(waveforms))`` weights of the waveforms."""
        batch = params["tuning"].shape[0]
        return params["tuning"].new_ones(batch, len(self.waveforms))

    def frequency_hz(self, params: Mapping[str, Tensor], midi_f0: Tensor, modulation: Tensor | None) -> Tensor:
        pitch = (midi_f0 + params["tuning"])[:, None]
        if modulation is not None:
            pitch = pitch + params["mod_depth"][:, None] * modulation
        return midi_to_hz(pitch)

    def controls(
        self,
        context: RenderContext,
        params: Mapping[str, Tensor],
        midi_f0: Tensor,
        modulation: Tensor | None,
        amplitude: Tensor,
    ) -> dict:
        frequency = self.frequency_hz(params, midi_f0, modulation)
        frequency = frequency.expand(-1, context.n_frames) if frequency.shape[1] == 1 else frequency
        return {
            "waveforms": self.waveforms,
            "frequency_hz": frequency,
            "amplitude": amplitude,
            "mix": self.mix_weights(params),
            "initial_phase": params["initial_phase"],
        }

    def forward(
        self,
        context: RenderContext,
        params: Mapping[str, Tensor],
        midi_f0: Tensor,
        modulation: Tensor | None,
        amplitude: Tensor,
    ) -> Tensor:
        return render_sources(context, [self.controls(context, params, midi_f0, modulation, amplitude)])


class SineVCO(VCO):
    """Sine oscillator (torchsynth's ``SineVCO``)."""

    waveforms = ("sine",)


class SquareSawVCO(VCO):
    """Band-limited square morphing into a saw by ``shape`` (0 square, 1 saw): torchsynth's
    ``SquareSawVCO``, without its aliasing."""

    parameter_ranges = {**VCO.parameter_ranges, "shape": ParameterRange(0.0, 1.0)}
    waveforms = ("square", "saw")

    def mix_weights(self, params: Mapping[str, Tensor]) -> Tensor:
        return torch.stack([1 - params["shape"], params["shape"]], dim=1)


class FmVCO(VCO):
    """Sine carrier phase-modulated by an audio-rate signal: ``sin(phase(t) + index * m(t))``
    with ``index`` in radians (``mod_index`` parameter, up to 8)."""

    parameter_ranges = {**VCO.parameter_ranges, "mod_index": ParameterRange(0.0, 8.0, 0.5, unit="rad")}
    waveforms = ("sine",)

    def forward(
        self,
        context: RenderContext,
        params: Mapping[str, Tensor],
        midi_f0: Tensor,
        modulation: Tensor | None,
        amplitude: Tensor,
        modulator: Tensor | None = None,
    ) -> Tensor:
        frequency = self.frequency_hz(params, midi_f0, modulation).expand(-1, context.n_frames)
        per_sample = context.to_audio_rate(frequency.to(torch.float64))
        turns = torch.cumsum(per_sample / context.sample_rate, dim=1)
        phase = 2 * PI * (turns - torch.floor(turns.detach())).to(amplitude.dtype) + params["initial_phase"][:, None]
        if modulator is not None:
            phase = phase + params["mod_index"][:, None] * modulator
        return context.to_audio_rate(amplitude) * torch.sin(phase)


def render_sources(
    context: RenderContext,
    oscillators: Sequence[Mapping],
    noise_amplitude: Tensor | None = None,
    noise_seeds: Tensor | None = None,
) -> Tensor:
    """Render oscillators (``VCO.controls`` dicts) and noise ``(batch, n_frames)`` in as few
    fused passes as possible: one per distinct waveform set (the first also takes the noise),
    so two for the default voice (its square/saw VCO with the noise, then its sine VCO)."""
    groups: dict[tuple[str, ...], list[Mapping]] = {}
    for oscillator in oscillators:
        groups.setdefault(tuple(oscillator["waveforms"]), []).append(oscillator)
    out = None
    for waveforms, members in groups.items():
        take_noise = out is None and noise_amplitude is not None
        frequency = torch.stack([m["frequency_hz"] for m in members], dim=-1)
        amplitude = torch.stack([m["amplitude"] for m in members], dim=-1)
        mix = torch.stack([m["mix"] for m in members], dim=1)
        phase = torch.stack([m["initial_phase"] for m in members], dim=1)
        rendered = bandlimited_oscillator(
            frequency,
            amplitude,
            context.n_samples,
            context.sample_rate,
            waveforms,
            mix,
            state=phase,
            noise_amplitude=noise_amplitude.unsqueeze(-1) if take_noise else None,
            noise_seeds=noise_seeds if take_noise else None,
            backend=context.backend,
        )
        out = rendered if out is None else out + rendered
    if out is None:
        if noise_amplitude is None:
            raise InputError("render_sources needs at least one oscillator or a noise amplitude")
        return Noise()(context, noise_amplitude, noise_seeds)
    return out


class Noise(SynthModule):
    """White noise in [-1, 1) from per-sound seeds (:func:`~torchddsp.functional.counter_noise`),
    times a control-rate amplitude: the same numbers for a sound whatever its batch or device."""

    def forward(self, context: RenderContext, amplitude: Tensor, seeds: Tensor) -> Tensor:
        silent = torch.zeros_like(amplitude).unsqueeze(-1)
        return bandlimited_oscillator(
            silent,
            silent,
            context.n_samples,
            context.sample_rate,
            ("sine",),
            noise_amplitude=amplitude.unsqueeze(-1),
            noise_seeds=seeds,
            backend=context.backend,
        )


class VCA(SynthModule):
    """Voltage-controlled amplifier: ``signal * control`` (control upsampled to the signal's
    rate when the signal is audio)."""

    def forward(self, context: RenderContext, signal: Tensor, control: Tensor) -> Tensor:
        if signal.shape[-1] != control.shape[-1]:
            control = context.to_audio_rate(control)
        return signal * control


class AudioMixer(SynthModule):
    """Weighted sum of audio signals with one level parameter per input (in [0, 1], with the
    given curves); optionally rescales sounds whose peak exceeds 1 to a peak of 1 (torchsynth's
    behaviour; quieter sounds are left as they are)."""

    def __init__(
        self,
        names: Sequence[str],
        curves: Sequence[float] | None = None,
        normalize_if_clipping: bool = True,
        ranges: Mapping[str, ParameterRange] | None = None,
    ):
        self.names = tuple(names)
        curves = [1.0] * len(self.names) if curves is None else list(curves)
        super().__init__(
            {n: ParameterRange(0.0, 1.0, c) for n, c in zip(self.names, curves)} if ranges is None else ranges
        )
        self.normalize_if_clipping = normalize_if_clipping

    def levels(self, params: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The gain of each input, ``(batch,)`` by name (what a fused renderer folds into the
        sources' amplitudes)."""
        return {n: params[n] for n in self.names}

    def finish(self, total: Tensor) -> Tensor:
        """The mixed sum ``(batch, n_samples)`` -> the output (rescaled when clipping, if asked)."""
        return normalize_if_clipping(total) if self.normalize_if_clipping else total

    def forward(self, context: RenderContext, params: Mapping[str, Tensor], signals: Mapping[str, Tensor]) -> Tensor:
        levels = self.levels(params)
        return self.finish(sum(levels[n][:, None] * signals[n] for n in self.names))


class _NormalizeIfClipping(torch.autograd.Function):
    """``audio / max(peak, 1)`` per sound, with a backward that touches each sample once (the
    peak's gradient goes to the one sample that holds it)."""

    @staticmethod
    def forward(ctx, audio: Tensor) -> Tensor:
        peak = torch.linalg.vector_norm(audio, ord=float("inf"), dim=1, keepdim=True)
        scale = 1.0 / torch.clamp(peak, min=1.0)
        out = audio * scale
        ctx.save_for_backward(out, scale, peak)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable  # second derivatives raise, never silently wrong
    def backward(ctx, grad: Tensor):
        out, scale, peak = ctx.saved_tensors
        grad_audio = grad * scale
        if bool((peak > 1).any()):
            # The peak sits where |out| is largest (the scale is positive): found only now.
            where = torch.linalg.vector_norm(out.unsqueeze(-1), ord=1, dim=-1).argmax(dim=1, keepdim=True)
            clipping = (peak > 1).to(grad.dtype)
            # d out_n / d peak = -out_n / peak, and d peak / d audio_m = sign(audio_m) at the peak.
            dot = torch.bmm(grad.unsqueeze(1), out.unsqueeze(2))[:, :, 0]
            sign = torch.sign(torch.gather(out, 1, where))
            # (peak >= 1 in the denominator: silent sounds, peak 0, are not clipping and get 0.)
            grad_audio.scatter_add_(1, where, -clipping * dot / torch.clamp(peak, min=1.0) * sign)
        return grad_audio


def normalize_if_clipping(audio: Tensor) -> Tensor:
    """Divide each sound ``(batch, n_samples)`` by its peak when that exceeds 1 (torchsynth's
    ``normalize_if_clipping``); differentiable."""
    return _NormalizeIfClipping.apply(audio)


class VCF(SynthModule):
    """Voltage-controlled state-variable filter (:func:`torchddsp.functional.state_variable_filter`):
    stable for every setting, cutoff and resonance time-varying.

    Cutoff (semitones) ``= cutoff + keyboard_tracking * (midi_f0 - 60) + mod_depth * modulation``,
    kept between 10 Hz and 0.45 x the sample rate by soft (smooth, differentiable) limits, then
    converted to Hz per control frame and interpolated per sample; ``resonance`` is the Q.
    """

    parameter_ranges = {
        "cutoff": ParameterRange(24.0, 132.0, 1.0, unit="MIDI note", description="cutoff as a note (33 Hz to 13 kHz)"),
        "resonance": ParameterRange(0.5, 20.0, 0.5, unit="Q"),
        "mod_depth": ParameterRange(-60.0, 60.0, 0.5, symmetric=True, unit="semitones"),
        "keyboard_tracking": ParameterRange(0.0, 1.0),
    }

    def __init__(self, mode: str = "lowpass", ranges: Mapping[str, ParameterRange] | None = None):
        super().__init__(ranges)
        self.mode = mode

    def forward(
        self,
        context: RenderContext,
        params: Mapping[str, Tensor],
        audio: Tensor,
        midi_f0: Tensor,
        modulation: Tensor | None = None,
    ) -> Tensor:
        pitch = (params["cutoff"] + params["keyboard_tracking"] * (midi_f0 - 60.0))[:, None]
        if modulation is not None:
            pitch = pitch + params["mod_depth"][:, None] * modulation
        pitch = pitch.expand(-1, context.n_frames)
        low = float(hz_to_midi(torch.tensor(10.0)))
        high = float(hz_to_midi(torch.tensor(0.45 * context.sample_rate)))
        cutoff_hz = midi_to_hz(smooth_limit(pitch, low, high))
        return state_variable_filter(
            audio, cutoff_hz.unsqueeze(-1).to(audio.dtype), params["resonance"][:, None], context.sample_rate, self.mode
        )


class Drive(SynthModule):
    """Saturation (:func:`torchddsp.functional.waveshape`, tanh) with ``drive`` in dB and a
    dry/wet ``mix``: ``(1 - mix) * x + mix * tanh(10^(drive / 20) * x)``. The wet signal is not
    scaled back by the drive: quiet inputs come out up to ``drive`` dB louder, and tanh bounds
    the wet signal to [-1, 1]. Shape: ``audio`` ``(batch, n_samples)``; ``drive``, ``mix``
    ``(batch,)``."""

    parameter_ranges = {"drive": ParameterRange(0.0, 36.0, 1.0, unit="dB"), "mix": ParameterRange(0.0, 1.0)}

    def __init__(self, oversampling: int = 1, ranges: Mapping[str, ParameterRange] | None = None):
        super().__init__(ranges)
        self.oversampling = oversampling

    def forward(self, context: RenderContext, params: Mapping[str, Tensor], audio: Tensor) -> Tensor:
        drive = params["drive"][:, None]
        wet = waveshape(audio, "tanh", drive, oversampling=self.oversampling)
        mix = params["mix"][:, None]
        return (1 - mix) * audio + mix * wet


class Effect(SynthModule):
    """Any audio effect of :mod:`torchddsp.effects` (or another one-input
    :class:`~torchddsp.processors.Processor`) as a module: ``effect(audio)``. Its settings are
    the processor's own (learned ``nn.Parameter``s when it is trainable), not per-sound patch
    parameters."""

    def __init__(self, processor: nn.Module):
        super().__init__({})
        from ..processors import Processor  # noqa: PLC0415  (processors sit beside modular)

        if not isinstance(processor, Processor) or tuple(getattr(processor, "input_names", ())) != ("audio",):
            raise InputError(
                "Effect wraps a Processor whose only input is the audio (e.g. torchddsp.effects.Compressor())"
            )
        self.processor = processor

    def forward(self, context: RenderContext, audio: Tensor) -> Tensor:
        return self.processor(audio)


class ToneEQ(SynthModule):
    """Two-shelf tone control: a low shelf at 200 Hz and a high shelf at 4 kHz (cookbook
    biquads through :func:`torchddsp.functional.sosfilt`), gains in dB."""

    parameter_ranges = {
        "low_gain": ParameterRange(-12.0, 12.0, 1.0, symmetric=True, unit="dB"),
        "high_gain": ParameterRange(-12.0, 12.0, 1.0, symmetric=True, unit="dB"),
    }

    def forward(self, context: RenderContext, params: Mapping[str, Tensor], audio: Tensor) -> Tensor:
        q = torch.full_like(params["low_gain"], 1 / math.sqrt(2))
        sections = torch.stack(
            [
                biquad("lowshelf", torch.full_like(q, 200.0), q, context.sample_rate, params["low_gain"]),
                biquad(
                    "highshelf",
                    torch.full_like(q, min(4000.0, 0.4 * context.sample_rate)),
                    q,
                    context.sample_rate,
                    params["high_gain"],
                ),
            ],
            dim=1,
        )
        return sosfilt(audio, sections.to(audio.dtype))
