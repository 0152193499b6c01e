"""Modulation modules of the modular synthesizer (conventions in :mod:`~torchddsp.modular.modules`):
the keyboard, ADSR envelopes, LFOs and the modulation mixer, all at control rate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence

import torch
from torch import Tensor

from ..functional import adsr
from ..functional import lfo
from ..validation import InputError
from .modules import RenderContext
from .modules import SynthModule
from .parameters import ParameterRange

__all__ = ["Keyboard", "ADSR", "LFO", "ModulationMixer"]

PI = math.pi


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
