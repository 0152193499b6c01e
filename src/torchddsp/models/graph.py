"""The autoencoder's processors as its config declares them: the synthesizers summed in a
:class:`~torchddsp.processors.ProcessorGroup`, the optional learned EQ, the reverb.

Node and module names are fixed per kind (``harmonic``, ``noise``, ``sinusoidal``,
``wavetable``, ``add``...), so that the default graph keeps the bundled models' parameter
names and a config's graph always gives the same ``state_dict`` keys.
"""

from __future__ import annotations

from ..configs import AutoencoderConfig
from ..effects import ExpDecayReverb
from ..effects import FDNReverb
from ..effects import FilteredNoiseReverb
from ..effects import ParametricEQ
from ..effects import Reverb
from ..processors import Add
from ..processors import Processor
from ..processors import ProcessorGroup
from ..synths import FilteredNoise
from ..synths import Harmonic
from ..synths import Sinusoidal
from ..synths import Wavetable

__all__ = ["SYNTH_NODES", "build_synthesizer", "build_reverb", "build_eq", "reverb_frames"]

#: Each synth kind's node name in the group (the default graph's are today's).
SYNTH_NODES = {"harmonic": "harmonic", "filtered_noise": "noise", "sinusoidal": "sinusoidal", "wavetable": "wavetable"}

# Frames of the filtered-noise reverb's learned magnitudes, at most (Magenta's default).
_MAX_REVERB_FRAMES = 1000


def _synth_node(kind: str, c: AutoencoderConfig) -> tuple[str, Processor, list[str]]:
    """One synthesizer's node: its name, processor and sources (decoder outputs, f0_hz)."""
    if kind == "harmonic":
        return "harmonic", Harmonic(c.sample_rate), ["amplitudes", "harmonic_distribution", "f0_hz"]
    if kind == "filtered_noise":
        return "noise", FilteredNoise(initial_bias=c.noise_initial_bias), ["noise_magnitudes"]
    if kind == "sinusoidal":
        return "sinusoidal", Sinusoidal(c.sample_rate), ["sinusoidal_amplitudes", "sinusoidal_frequencies"]
    return "wavetable", Wavetable(c.sample_rate), ["wavetable_amplitudes", "wavetables", "f0_hz"]


def build_synthesizer(c: AutoencoderConfig) -> ProcessorGroup:
    """The synths of ``c.synths`` and the ``Add`` nodes that sum them, in order: ``add`` sums
    the first two, ``add_2`` that and the third, ...; the group's output is the last node
    (one synth: the synth itself)."""
    nodes = [_synth_node(kind, c) for kind in c.synths]
    mixed = nodes[0][0]
    for i, (name, _, _) in enumerate(nodes[1:]):
        add = "add" if i == 0 else f"add_{i + 1}"
        nodes.append((add, Add(), [mixed, name]))
        mixed = add
    return ProcessorGroup(nodes, output=mixed)


def reverb_frames(reverb_length: int, limit: int = _MAX_REVERB_FRAMES) -> int:
    """The most frames, at most ``limit``, that cut ``reverb_length`` taps into equal blocks of
    ``ceil(reverb_length / n_frames)`` (what :class:`FilteredNoiseReverb` asks)."""
    for n_frames in range(min(limit, reverb_length), 0, -1):
        block = -(-reverb_length // n_frames)
        if -(-reverb_length // block) == n_frames:
            return n_frames
    return 1  # pragma: no cover - n_frames = 1 always fits


def build_reverb(c: AutoencoderConfig) -> Processor | None:
    """The trainable reverb of kind ``c.reverb``, ``c.reverb_s`` long (None when 0): it takes
    the dry audio alone, ``reverb(audio)``."""
    if c.reverb_s <= 0:
        return None
    length = max(2, round(c.reverb_s * c.sample_rate))
    if c.reverb == "learned":
        return Reverb(trainable=True, reverb_length=length)
    if c.reverb == "exp_decay":
        return ExpDecayReverb(trainable=True, reverb_length=length)
    if c.reverb == "filtered_noise":
        return FilteredNoiseReverb(trainable=True, reverb_length=length, n_frames=reverb_frames(length))
    # FDN: a reverberation time whose tail is 90 dB down at the end of the response (FDNReverb's
    # default length is 1.5 x RT60).
    return FDNReverb(c.sample_rate, rt60_s=c.reverb_s / 1.5, reverb_length=length, trainable=True)


def build_eq(c: AutoencoderConfig) -> ParametricEQ | None:
    """The learned EQ (low shelf, ``c.eq_peaks`` peaks, high shelf; flat at the start), or None."""
    return ParametricEQ(c.sample_rate, n_peaks=c.eq_peaks, trainable=True) if c.eq else None
