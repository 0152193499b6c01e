"""DDSP autoencoder: f0 and loudness (+ optional z from MFCCs) -> decoder -> harmonic plus
filtered noise -> trainable reverb (Engel et al., ICLR 2020)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..effects import Reverb
from ..validation import check_rank
from ..processors import Add, ProcessorGroup
from ..synths import FilteredNoise, Harmonic
from .decoders import RnnFcDecoder
from .encoders import MfccRnnEncoder
from .preprocessing import F0LoudnessPreprocessor
from ..validation import InputError

__all__ = ["AutoencoderConfig", "Autoencoder"]


@dataclass
class AutoencoderConfig:
    """Settings of :class:`Autoencoder` (the ``model:`` section of a training config).

    ``sample_rate`` and ``frame_rate`` must give a whole number of samples per frame.
    ``z_dims=0`` means no z encoder (f0 and loudness only, Magenta's solo-instrument model).
    """

    sample_rate: int = 16000
    frame_rate: int = 250
    n_harmonics: int = 60
    n_noise_bands: int = 65
    reverb_seconds: float = 3.0
    hidden_size: int = 512
    rnn_size: int = 512
    layers_per_stack: int = 3
    z_dims: int = 0
    n_mfcc: int = 30
    noise_initial_bias: float = -5.0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "AutoencoderConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown model settings {unknown}; known: {sorted(known)}")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.sample_rate <= 0 or self.frame_rate <= 0 or self.sample_rate % self.frame_rate:
            raise InputError(f"sample_rate ({self.sample_rate}) must be a positive multiple of frame_rate ({self.frame_rate})")
        for name in ("n_harmonics", "n_noise_bands", "hidden_size", "rnn_size", "layers_per_stack"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, found {getattr(self, name)}")
        if self.n_noise_bands < 2:
            raise InputError(f"n_noise_bands must be >= 2, found {self.n_noise_bands}")
        if self.reverb_seconds < 0 or self.z_dims < 0:
            raise InputError("reverb_seconds and z_dims must be >= 0")

    @property
    def hop_size(self) -> int:
        return self.sample_rate // self.frame_rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Autoencoder(nn.Module):
    """The DDSP autoencoder.

    ``forward(f0_hz, loudness_db, audio=None, ...)`` renders audio from frame-rate features:

    - preprocessing: ``f0_scaled = midi(f0) / 127``, ``loudness_scaled = loudness_db / 120 + 1``;
    - encoder (``z_dims > 0``): z per frame from the MFCCs of ``audio``;
    - decoder: :class:`RnnFcDecoder` -> raw ``amplitudes``, ``harmonic_distribution``,
      ``noise_magnitudes``;
    - synthesis (a :class:`~torchddsp.processors.ProcessorGroup`): ``Harmonic`` +
      ``FilteredNoise`` -> ``Add`` -> trainable ``Reverb`` (``reverb_seconds > 0``).

    Shape: ``f0_hz``, ``loudness_db`` ``(batch, n_frames)``; ``audio`` ``(batch, n_samples)``
    with ``n_samples = n_frames * hop_size``. Returns a dict with ``audio`` (reverberant),
    ``audio_dry`` (before the reverb), ``harmonic``, ``noise`` and the controls.
    """

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.config.validate()
        c = self.config
        self.preprocessor = F0LoudnessPreprocessor()
        self.encoder = MfccRnnEncoder(c.sample_rate, c.hop_size, c.z_dims, c.n_mfcc, c.rnn_size) if c.z_dims else None
        input_sizes = [1, 1] + ([c.z_dims] if c.z_dims else [])
        splits = (("amplitudes", 1), ("harmonic_distribution", c.n_harmonics), ("noise_magnitudes", c.n_noise_bands))
        self.decoder = RnnFcDecoder(input_sizes, splits, c.hidden_size, c.rnn_size, c.layers_per_stack)
        nodes = [
            ("harmonic", Harmonic(c.sample_rate), ["amplitudes", "harmonic_distribution", "f0_hz"]),
            ("noise", FilteredNoise(initial_bias=c.noise_initial_bias), ["noise_magnitudes"]),
            ("add", Add(), ["harmonic", "noise"]),
        ]
        self.synthesizer = ProcessorGroup(nodes)
        self.reverb = Reverb(trainable=True, reverb_length=max(2, round(c.reverb_seconds * c.sample_rate))) \
            if c.reverb_seconds > 0 else None

    def decode(self, f0_hz: Tensor, loudness_db: Tensor, audio: Tensor | None = None) -> dict[str, Tensor]:
        """Raw synthesizer controls ``(batch, n_frames, n)`` from the features."""
        check_rank("f0_hz", f0_hz, 2, "(batch, n_frames)")
        check_rank("loudness_db", loudness_db, 2, "(batch, n_frames)")
        f0_scaled, loudness_scaled = self.preprocessor(f0_hz, loudness_db)
        inputs = [loudness_scaled, f0_scaled]
        if self.encoder is not None:
            if audio is None:
                raise InputError("audio is required: this model encodes z from it (z_dims > 0)")
            inputs.append(self.encoder(audio)[:, : f0_hz.shape[1]])
        return self.decoder(*inputs)

    def forward(
        self,
        f0_hz: Tensor,
        loudness_db: Tensor,
        audio: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        reverb: bool = True,
        reverb_ir: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Render. ``reverb=False`` gives the dry signal only; ``reverb_ir`` ``(ir_size,)``
        replaces the learned impulse response (e.g. another model's room)."""
        controls = self.decode(f0_hz, loudness_db, audio)
        n_samples = f0_hz.shape[1] * self.config.hop_size
        values = self.synthesizer.run({**controls, "f0_hz": f0_hz.unsqueeze(-1)}, n_samples=n_samples,
                                      generator=generator)
        dry = values["add"]
        wet = dry
        if reverb and (self.reverb is not None or reverb_ir is not None):
            if reverb_ir is not None:
                wet = Reverb(trainable=False)(dry, reverb_ir.reshape(1, -1).to(dry))
            else:
                wet = self.reverb(dry)  # type: ignore[misc]
        return {"audio": wet, "audio_dry": dry, "harmonic": values["harmonic"], "noise": values["noise"],
                **{f"controls/{k}": v for k, v in values.items() if "/" in k}}

    @property
    def impulse_response(self) -> Tensor | None:
        """The learned reverb's impulse response ``(reverb_length,)`` (first tap zero), or None."""
        if self.reverb is None:
            return None
        with torch.no_grad():
            ir = self.reverb.ir.detach().clone()
        ir[0] = 0.0
        return ir
