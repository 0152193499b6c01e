"""The contract of the modular synthesizer's modules: :class:`RenderContext` (rates and length
of a render) and :class:`SynthModule` (the base class). The modules themselves are by concept:
:mod:`~torchddsp.modular.modulation` (keyboard, envelopes, LFOs, modulation mixer),
:mod:`~torchddsp.modular.sources` (oscillators and noise) and
:mod:`~torchddsp.modular.processing` (amplifier, audio mixer, filter, drive, EQ, effects).

Each module declares its parameters once (``parameter_ranges``: name -> :class:`ParameterRange`)
and computes from human-unit values (``(batch,)`` tensors) and input signals; the DSP itself
is in :mod:`torchddsp.functional` (one implementation shared with the rest of the library).
Control-rate signals are ``(batch, n_frames)`` at ``context.frame_rate``; audio is
``(batch, n_samples)``; control signals reach audio rate by linear interpolation (frame ``i``
at sample ``i * hop_size``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor
from torch import nn

from ..functional import upsample
from ..validation import InputError
from ..validation import check_positive
from .parameters import ParameterRange

__all__ = ["RenderContext", "SynthModule"]


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
