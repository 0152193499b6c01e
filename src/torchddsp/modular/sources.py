"""Sound sources of the modular synthesizer (conventions in :mod:`~torchddsp.modular.modules`):
band-limited oscillators, an FM oscillator and seeded noise, rendered at audio rate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence

import torch
from torch import Tensor

from ..functional import bandlimited_oscillator
from ..functional import midi_to_hz
from ..validation import InputError
from .modules import RenderContext
from .modules import SynthModule
from .parameters import ParameterRange

__all__ = ["VCO", "SineVCO", "SquareSawVCO", "FmVCO", "Noise", "render_sources"]

PI = math.pi


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
        noise = noise_amplitude if out is None else None  # the first pass takes the noise
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
            noise_amplitude=noise.unsqueeze(-1) if noise is not None else None,
            noise_seeds=noise_seeds if noise is not None else None,
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
