"""A polyphonic piano in the spirit of DDSP-Piano (Renault, Mignot and Roebel, 2022-2023).

Each of a fixed number of voices (:func:`~torchddsp.piano.voices.allocate_voices`) plays one
note as ``n_strings`` detuned strings of inharmonic partials

    ``f_k = k f0 2^(cents / 1200) sqrt(1 + B k^2)``

with ``B`` a learned coefficient per key (88 keys, stored as ``log B``, initialised to
:func:`typical_inharmonicity`) and the detune in cents learned per key and string. The partials
are :func:`torchddsp.functional.harmonic_synthesis` with ``inharmonicity`` (one call for every
voice and string). A context network (a GRU over the piano roll) and a per-voice network (key
embedding, velocity, time since onset and offset, context) give each voice's amplitude and
harmonic distribution per frame, muted outside the voice's active span; a shared filtered
noise (from the context) and a learned convolution reverb complete the sound.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor
from torch import nn

from ..effects import Reverb
from ..functional import exp_sigmoid
from ..functional import harmonic_synthesis
from ..synths import FilteredNoise
from ..validation import InputError
from .voices import LOWEST_KEY
from .voices import N_KEYS
from .voices import VoiceFrames

__all__ = ["PianoConfig", "PianoModel", "typical_inharmonicity", "key_frequencies"]


@dataclass(frozen=True)
class PianoConfig:
    """Sizes of :class:`PianoModel`; ``frame_rate`` must divide ``sample_rate``."""

    sample_rate: int = 16000
    frame_rate: int = 100
    n_voices: int = 8
    n_strings: int = 2
    n_harmonics: int = 32
    context_size: int = 64
    hidden_size: int = 96
    embedding_size: int = 16
    noise_bands: int = 65
    reverb_length: int = 8000
    release_s: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def typical_inharmonicity(keys: Tensor) -> Tensor:
    """A typical grand piano's ``B`` per key (a two-line fit in ``log10 B`` to the measured
    curves of Fletcher, Blackham and Stratton 1962 and Rauhala 2007: about 3e-4 at A0, a minimum
    1e-4 near C3, 1e-2 at C8).

    Shape: ``keys`` MIDI numbers, any shape -> same shape, float.

    Example:
        >>> [f"{b:.1e}" for b in typical_inharmonicity(torch.tensor([21.0, 48.0, 108.0])).tolist()]
        ['3.5e-04', '1.0e-04', '1.0e-02']
    """
    keys = keys.to(torch.get_default_dtype()) if not keys.is_floating_point() else keys
    treble = -4.0 + (keys - 48.0) * (2.0 / 60.0)
    bass = -4.0 + (48.0 - keys) * 0.02
    return 10.0 ** torch.where(keys >= 48.0, treble, bass)


def key_frequencies(pitch: Tensor) -> Tensor:
    """Equal-tempered fundamental in Hz of MIDI ``pitch`` (A4 = 69 = 440 Hz); any shape."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


class PianoModel(nn.Module):
    """Voices, piano roll -> audio (module docstring).

    Shape:
        ``voices``: :class:`VoiceFrames` of ``(batch, n_frames, n_voices)``; ``roll``
        ``(batch, n_frames, 88)`` -> ``(batch, n_frames * sample_rate / frame_rate)``.

    Example:
        >>> from torchddsp.piano.midi import Note
        >>> from torchddsp.piano.voices import allocate_voices, piano_roll
        >>> model = PianoModel(PianoConfig(n_voices=2, reverb_length=100))
        >>> notes = [Note(0.0, 0.1, 60, 100)]
        >>> voices = VoiceFrames(*(f[None] for f in allocate_voices(notes, 20, 100.0, 2)))
        >>> model(voices, piano_roll(notes, 20, 100.0)[None], seed=0).shape
        torch.Size([1, 3200])
    """

    def __init__(self, config: PianoConfig | None = None):
        super().__init__()
        self.config = config = config or PianoConfig()
        if config.sample_rate % config.frame_rate:
            raise InputError(f"frame_rate {config.frame_rate} must divide sample_rate {config.sample_rate}")
        keys = torch.arange(LOWEST_KEY, LOWEST_KEY + N_KEYS, dtype=torch.float32)
        self.log_inharmonicity = nn.Parameter(torch.log(typical_inharmonicity(keys)))
        spread = torch.linspace(-1.0, 1.0, config.n_strings) if config.n_strings > 1 else torch.zeros(1)
        self.detune_cents = nn.Parameter(spread.repeat(N_KEYS, 1).clone())
        self.roll_in = nn.Linear(N_KEYS, config.context_size)
        self.context = nn.GRU(config.context_size, config.context_size, batch_first=True)
        self.key_embedding = nn.Embedding(N_KEYS, config.embedding_size)
        voice_inputs = config.embedding_size + 5 + config.context_size
        self.voice_net = nn.Sequential(
            nn.Linear(voice_inputs, config.hidden_size),
            nn.LayerNorm(config.hidden_size),
            nn.LeakyReLU(),
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.LeakyReLU(),
            nn.Linear(config.hidden_size, config.n_harmonics + 1),
        )
        self.noise_out = nn.Linear(config.context_size, config.noise_bands)
        self.noise = FilteredNoise()
        self.reverb = Reverb(trainable=True, reverb_length=config.reverb_length)

    def inharmonicity(self) -> Tensor:
        """``B`` of the 88 keys ``(88,)``, A0 first."""
        return torch.exp(self.log_inharmonicity)

    def _voice_controls(self, voices: VoiceFrames, context: Tensor) -> tuple[Tensor, Tensor]:
        """Amplitude ``(batch, n_frames, n_voices, 1)`` and distribution ``(..., n_harmonics)``."""
        keys = (voices.pitch.round().long() - LOWEST_KEY).clamp(0, N_KEYS - 1)
        onset, release = voices.onset_age_s, voices.release_age_s
        timing = [voices.velocity, onset, torch.log1p(onset / 0.02) / 5.0, (release > 0).float(), release]
        n_voices = voices.pitch.shape[-1]
        inputs = torch.cat(
            [self.key_embedding(keys), torch.stack(timing, dim=-1), context.unsqueeze(2).expand(-1, -1, n_voices, -1)],
            dim=-1,
        )
        raw = self.voice_net(inputs)
        amplitude = exp_sigmoid(raw[..., :1] - 3.0) * voices.active.unsqueeze(-1)
        distribution = exp_sigmoid(raw[..., 1:])
        return amplitude, distribution / distribution.sum(dim=-1, keepdim=True)

    def _partials(self, voices: VoiceFrames, amplitude: Tensor, distribution: Tensor, n_samples: int) -> Tensor:
        """Every voice's strings through one ``harmonic_synthesis`` call, summed: ``(batch, n_samples)``."""
        config = self.config
        batch, n_frames, n_voices = voices.pitch.shape
        keys = (voices.pitch.round().long() - LOWEST_KEY).clamp(0, N_KEYS - 1)
        detune = self.detune_cents[keys]  # (batch, n_frames, n_voices, n_strings)
        f0 = key_frequencies(voices.pitch).unsqueeze(-1) * 2.0 ** (detune / 1200.0)
        stiffness = self.inharmonicity()[keys].unsqueeze(-1).expand_as(f0)

        def items(value: Tensor) -> Tensor:  # (batch, n_frames, n_voices, n_strings) -> (items, n_frames, 1)
            return value.permute(0, 2, 3, 1).reshape(-1, n_frames, 1)

        shared = (batch, n_frames, n_voices, config.n_strings, config.n_harmonics)
        harmonics = distribution.unsqueeze(3).expand(shared).permute(0, 2, 3, 1, 4)
        strings = amplitude.expand(batch, n_frames, n_voices, config.n_strings) / config.n_strings  # (.., 1) in
        audio = harmonic_synthesis(
            items(f0),
            items(strings),
            harmonics.reshape(-1, n_frames, config.n_harmonics),
            n_samples,
            config.sample_rate,
            amplitude_upsampling="linear",
            inharmonicity=items(stiffness),
        )
        audio = cast(Tensor, audio)  # no state was asked for: the op returns a tensor
        return audio.view(batch, n_voices * config.n_strings, n_samples).sum(dim=1)

    def forward(self, voices: VoiceFrames, roll: Tensor, seed: int | None = None) -> Tensor:
        config = self.config
        n_frames = voices.pitch.shape[1]
        if roll.shape[:2] != voices.pitch.shape[:2] or roll.shape[-1] != N_KEYS:
            raise InputError(
                f"roll must have shape {tuple(voices.pitch.shape[:2]) + (N_KEYS,)}, found {tuple(roll.shape)}"
            )
        n_samples = n_frames * (config.sample_rate // config.frame_rate)
        context, _ = self.context(torch.tanh(self.roll_in(roll)))
        amplitude, distribution = self._voice_controls(voices, context)
        audio = self._partials(voices, amplitude, distribution, n_samples)
        # The shared noise sounds only while some voice does: silence stays silent.
        sounding = voices.active.amax(dim=-1, keepdim=True)
        noise = self.noise.render(
            self.noise.controls(self.noise_out(context))["magnitudes"] * sounding, n_samples=n_samples, seed=seed
        )
        return self.reverb(audio + noise)


def describe(model: PianoModel) -> dict[str, object]:
    """The config and parameter count of ``model``, for JSON."""
    return {"config": model.config.to_dict(), "parameters": sum(p.numel() for p in model.parameters())}
