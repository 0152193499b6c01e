"""DDSP autoencoder: f0 and loudness (+ optional z from MFCCs) -> decoder -> harmonic plus
filtered noise -> trainable reverb (Engel et al., ICLR 2020)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn

from ..configs import AutoencoderConfig
from ..effects import Reverb
from ..processors import Add
from ..processors import ProcessorGroup
from ..synths import FilteredNoise
from ..synths import Harmonic
from ..validation import InputError
from ..validation import check_rank
from .decoders import RnnFcDecoder
from .encoders import MfccRnnEncoder
from .preprocessing import F0LoudnessPreprocessor

__all__ = ["AutoencoderConfig", "Autoencoder", "check_room"]


def check_room(reverb: bool, reverb_ir: Tensor | None) -> None:
    """One room at most: the learned one (``reverb``), another (``reverb_ir``) or none (the
    renderers' rule: :mod:`~torchddsp.models.chunked`, :mod:`torchddsp.transfer`)."""
    if not reverb and reverb_ir is not None:
        raise InputError("reverb_ir was given with reverb=False: ask for one room, the dry render or another")


class Autoencoder(nn.Module):
    """The DDSP autoencoder.

    ``forward(f0_hz, loudness_db, audio=None, ...)`` renders audio from frame-rate features:

    - preprocessing: ``f0_scaled = midi(f0) / 127``, ``loudness_scaled = loudness_db / 120 + 1``
      (``config.loudness_range_db``: 120 by default);
    - encoder (``z_dims > 0``): z per frame from the MFCCs of ``audio``;
    - decoder: :class:`RnnFcDecoder` -> raw ``amplitudes``, ``harmonic_distribution``,
      ``noise_magnitudes``;
    - synthesis (a :class:`~torchddsp.processors.ProcessorGroup`): ``Harmonic`` +
      ``FilteredNoise`` -> ``Add`` -> trainable ``Reverb`` (``reverb_s > 0``).

    Shape: ``f0_hz``, ``loudness_db`` ``(batch, n_frames)``; ``audio`` ``(batch, n_samples)``
    with ``n_samples = n_frames * hop_size``. Returns a dict with ``audio`` (reverberant),
    ``audio_dry`` (before the reverb), ``harmonic``, ``noise`` and the controls.

    Example:
        >>> model = Autoencoder(AutoencoderConfig(n_harmonics=8, n_noise_bands=9, reverb_s=0.01,
        ...                                       hidden_size=16, rnn_size=16, layers_per_stack=1))  # hop 64
        >>> out = model(torch.full((2, 10), 440.0), torch.full((2, 10), -30.0))
        >>> out["audio"].shape, out["audio_dry"].shape, out["controls/harmonic/harmonic_distribution"].shape
        (torch.Size([2, 640]), torch.Size([2, 640]), torch.Size([2, 10, 8]))
    """

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.config.validate()
        c = self.config
        self.preprocessor = F0LoudnessPreprocessor(c.loudness_range_db)
        self.encoder = MfccRnnEncoder(c.sample_rate, c.hop_size, c.z_dims, c.n_mfcc, c.rnn_size) if c.z_dims else None
        input_sizes = [1, 1] + ([c.z_dims] if c.z_dims else [])
        splits = (("amplitudes", 1), ("harmonic_distribution", c.n_harmonics), ("noise_magnitudes", c.n_noise_bands))
        self.decoder = RnnFcDecoder(
            input_sizes, splits, c.hidden_size, c.rnn_size, c.layers_per_stack, c.layer_norm_eps
        )
        nodes = [
            ("harmonic", Harmonic(c.sample_rate), ["amplitudes", "harmonic_distribution", "f0_hz"]),
            ("noise", FilteredNoise(initial_bias=c.noise_initial_bias), ["noise_magnitudes"]),
            ("add", Add(), ["harmonic", "noise"]),
        ]
        self.synthesizer = ProcessorGroup(nodes)
        self.reverb = (
            Reverb(trainable=True, reverb_length=max(2, round(c.reverb_s * c.sample_rate))) if c.reverb_s > 0 else None
        )
        # Renders another room's impulse response (forward's reverb_ir); holds no weights.
        self.given_reverb = Reverb(trainable=False)

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
        seed: int | None = None,
        reverb: bool = True,
        reverb_ir: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Render. ``reverb=False`` gives the dry signal only; ``reverb_ir`` ``(ir_size,)``
        replaces the learned impulse response (e.g. another model's room). The noise: seeded
        counter noise with ``seed`` (what the chunked and streaming renderers draw), from
        ``generator``, or from the global RNG."""
        controls = self.decode(f0_hz, loudness_db, audio)
        n_samples = f0_hz.shape[1] * self.config.hop_size
        values = self.synthesizer.run(
            {**controls, "f0_hz": f0_hz.unsqueeze(-1)}, n_samples=n_samples, generator=generator, seed=seed
        )
        dry = values["add"]
        wet = dry
        if reverb and (self.reverb is not None or reverb_ir is not None):
            if reverb_ir is not None:
                wet = self.given_reverb(dry, reverb_ir.reshape(1, -1).to(dry))
            else:
                wet = self.reverb(dry)  # type: ignore[misc]
        return {
            "audio": wet,
            "audio_dry": dry,
            "harmonic": values["harmonic"],
            "noise": values["noise"],
            **{f"controls/{k}": v for k, v in values.items() if "/" in k},
        }

    @property
    def impulse_response(self) -> Tensor | None:
        """The learned reverb's impulse response ``(reverb_length,)`` (first tap zero), or None."""
        if self.reverb is None:
            return None
        with torch.no_grad():
            ir = self.reverb.learned_or_given("ir", None).detach().clone()  # the learned taps
        ir[0] = 0.0
        return ir
