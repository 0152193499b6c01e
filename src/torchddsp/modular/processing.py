"""Audio processing modules of the modular synthesizer (conventions in
:mod:`~torchddsp.modular.modules`): amplifier, audio mixer, state-variable filter, drive, tone EQ
and any ``torchddsp.effects`` processor."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping
from collections.abc import Sequence

import torch
from torch import Tensor
from torch import nn

from ..functional import hz_to_midi
from ..functional import midi_to_hz
from ..functional import smooth_limit
from ..functional import sosfilt
from ..functional import state_variable_filter
from ..functional import waveshape
from ..functional.biquad import biquad
from ..processors import Processor
from ..validation import InputError
from .modules import RenderContext
from .modules import SynthModule
from .parameters import ParameterRange

__all__ = ["VCA", "AudioMixer", "VCF", "Drive", "Effect", "ToneEQ"]


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
        return self.finish(functools.reduce(operator.add, (levels[n][:, None] * signals[n] for n in self.names)))


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
    ``(batch,)``.

    Example:
        >>> context = RenderContext(16000, 0.1, 100)
        >>> params = {"drive": torch.full((2,), 6.0), "mix": torch.ones(2)}
        >>> Drive()(context, params, torch.zeros(2, context.n_samples)).shape
        torch.Size([2, 1600])
    """

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
