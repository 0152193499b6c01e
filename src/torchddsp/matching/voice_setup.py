"""What is matched: a modular voice, the parameters a matcher estimates (free) and those it is
given, and the patch <-> human-unit conversions.

The default setup is the rich voice (``torchddsp.modular.RichVoice``: a square/saw and a sine
VCO and noise through a resonant low-pass, drive and tone EQ) at 16 kHz for 1 s, with the nine
timbre parameters of ``examples/sound_matching.py`` free (oscillator shape, three mixer
levels, filter cutoff and resonance, amplitude attack, decay and sustain) and the pitch given
(as a MIDI note: from the MIDI file, a pitch tracker or the user). Every other parameter is
fixed (a held note, no pitch or filter modulation, 9 dB of drive, a flat tone EQ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

import torch
from torch import Tensor

from ..modular import RenderContext
from ..modular import Voice
from ..modular import make_voice
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank

__all__ = ["FREE", "GIVEN", "MatchingSetup", "assemble_patch", "sample_free", "to_human", "from_human"]

#: The timbre parameters a matcher estimates, in output order.
FREE = (
    "vco_1.shape",
    "mixer.vco_1",
    "mixer.vco_2",
    "mixer.noise",
    "vcf.cutoff",
    "vcf.resonance",
    "amp_adsr.attack",
    "amp_adsr.decay",
    "amp_adsr.sustain",
)

#: Fixed parameters, normalised: a note held past the end, no pitch or filter modulation
#: (those not named are 0: no modulation routing, LFO off).
GIVEN = {
    "keyboard.duration": 0.55,  # ~1.2 s: held past the end of a 1 s render
    "amp_adsr.release": 0.3,
    "amp_adsr.alpha": 0.15,
    "vco_1.tuning": 0.5,
    "vco_2.tuning": 0.75,  # the sine an octave up
    "vco_1.mod_depth": 0.5,
    "vco_2.mod_depth": 0.5,
    "vco_1.initial_phase": 0.5,
    "vco_2.initial_phase": 0.5,
    "vcf.mod_depth": 0.5,
    "vcf.keyboard_tracking": 0.0,
    "drive.drive": 0.25,
    "drive.mix": 1.0,
    "tone.low_gain": 0.5,
    "tone.high_gain": 0.5,
}

PITCH = "keyboard.midi_f0"


@dataclass(frozen=True)
class MatchingSetup:
    """A voice and its free/given split.

    Args:
        voice: a name of ``torchddsp.modular.VOICES``.
        sample_rate, duration_s, frame_rate: the render (Hz, s, control frames per second).
        free: estimated parameters (``"module.parameter"``), in output order.
        given: fixed parameters, normalised in [0, 1]; the others (bar the pitch) are 0.
        free_low, free_high: the normalised range training patches are drawn from (clear of
            the extremes, where a parameter can be inaudible).
        midi_low, midi_high: the pitch range of the training notes (MIDI notes).
    """

    voice: str = "rich"
    sample_rate: float = 16000.0
    duration_s: float = 1.0
    frame_rate: float = 250.0
    free: tuple[str, ...] = FREE
    given: Mapping[str, float] = field(default_factory=lambda: dict(GIVEN))
    free_low: float = 0.15
    free_high: float = 0.85
    midi_low: float = 45.0
    midi_high: float = 75.0

    @property
    def n_free(self) -> int:
        return len(self.free)

    @property
    def n_samples(self) -> int:
        return round(self.sample_rate * self.duration_s)

    def make_voice(self) -> Voice:
        """The voice, built for this render."""
        context = RenderContext(sample_rate=self.sample_rate, duration_s=self.duration_s, frame_rate=self.frame_rate)
        voice = make_voice(self.voice, context)
        unknown = sorted(n for n in (*self.free, *self.given, PITCH) if n not in voice.parameter_names)
        if unknown:
            raise InputError(f"free/given name parameters the voice {self.voice!r} lacks: {unknown}")
        return voice

    def to_dict(self) -> dict:
        fields = ("voice", "sample_rate", "duration_s", "frame_rate", "free_low", "free_high", "midi_low", "midi_high")
        return {**{k: getattr(self, k) for k in fields}, "free": list(self.free), "given": dict(self.given)}

    @classmethod
    def from_dict(cls, data: Mapping) -> MatchingSetup:
        return cls(**{**data, "free": tuple(data["free"]), "given": dict(data["given"])})


def _check_free(setup: MatchingSetup, free: Tensor) -> None:
    check_rank("free", free, 2, f"(batch, {setup.n_free})")
    if free.shape[1] != setup.n_free:
        raise InputError(f"free must have {setup.n_free} columns (one per free parameter), found {free.shape[1]}")


def assemble_patch(voice: Voice, setup: MatchingSetup, free: Tensor, midi_note: Tensor) -> Tensor:
    """The full patch: the free values ``(batch, n_free)`` in [0, 1], the pitch ``(batch,)`` in
    MIDI notes, the given values, zeros elsewhere -> ``(batch, n_parameters)``; differentiable
    in ``free``.

    Example:
        >>> setup = MatchingSetup()
        >>> voice = setup.make_voice()
        >>> assemble_patch(voice, setup, torch.full((2, 9), 0.5), torch.tensor([57.0, 60.0])).shape
        torch.Size([2, 43])
    """
    _check_free(setup, free)
    check_finite("midi_note", midi_note)
    names = voice.parameter_names
    pitch_range = voice.ranges[PITCH]
    template = torch.zeros(voice.n_parameters, dtype=free.dtype, device=free.device)
    for name, value in setup.given.items():
        template[names.index(name)] = value
    patch = template.expand(free.shape[0], -1).clone()
    patch[:, names.index(PITCH)] = pitch_range.to_normalized(midi_note.to(free.dtype))
    patch[:, [names.index(n) for n in setup.free]] = free
    return patch


def sample_free(setup: MatchingSetup, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
    """Free values ``(batch_size, n_free)`` uniform in ``[free_low, free_high]``."""
    span = setup.free_high - setup.free_low
    return (
        setup.free_low + span * torch.rand(batch_size, setup.n_free, generator=generator, dtype=torch.float64).float()
    )


def to_human(voice: Voice, setup: MatchingSetup, free: Tensor, midi_note: float) -> dict[str, float]:
    """One sound's free values ``(n_free,)`` -> ``{"module.parameter": value in human units}``,
    with the pitch under ``"keyboard.midi_f0"`` (MIDI note).

    Example:
        >>> setup = MatchingSetup()
        >>> to_human(setup.make_voice(), setup, torch.full((9,), 0.5), 57.0)["vcf.cutoff"]
        78.0
    """
    check_rank("free", free, 1, f"({setup.n_free},)")
    ranges = voice.ranges
    values = {name: float(ranges[name].to_human(free[i].detach().double())) for i, name in enumerate(setup.free)}
    return {PITCH: float(midi_note), **values}


def from_human(voice: Voice, setup: MatchingSetup, human: Mapping[str, float]) -> tuple[Tensor, float]:
    """The inverse of :func:`to_human`: ``(free (n_free,), midi_note)``; a missing name is an error."""
    missing = [n for n in (PITCH, *setup.free) if n not in human]
    if missing:
        raise InputError(f"human is missing parameters {missing}")
    ranges = voice.ranges
    free = torch.stack(
        [ranges[n].to_normalized(torch.tensor(float(human[n]), dtype=torch.float64)) for n in setup.free]
    )
    return free.float(), float(human[PITCH])
