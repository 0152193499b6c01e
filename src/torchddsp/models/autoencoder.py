"""DDSP autoencoder: f0 and loudness (+ optional z from MFCCs) -> decoder -> the config's
synthesizers (harmonic plus filtered noise by default) -> optional EQ -> trainable reverb
(Engel et al., ICLR 2020)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn

from ..configs import AutoencoderConfig
from ..configs.graph import decoder_splits
from ..effects import FDNReverb
from ..effects import Reverb
from ..validation import InputError
from ..validation import check_rank
from .decoders import RnnFcDecoder
from .encoders import MfccRnnEncoder
from .graph import SYNTH_NODES
from .graph import build_eq
from .graph import build_reverb
from .graph import build_synthesizer
from .preprocessing import F0LoudnessPreprocessor

__all__ = ["AutoencoderConfig", "Autoencoder", "check_room", "check_default_graph"]


def check_room(reverb: bool, reverb_ir: Tensor | None) -> None:
    """One room at most: the learned one (``reverb``), another (``reverb_ir``) or none (the
    renderers' rule: :mod:`~torchddsp.models.chunked`, :mod:`torchddsp.transfer`)."""
    if not reverb and reverb_ir is not None:
        raise InputError("reverb_ir was given with reverb=False: ask for one room, the dry render or another")


def check_default_graph(config: AutoencoderConfig, what: str) -> None:
    """InputError unless the model's graph is the default one (harmonic plus filtered noise,
    no EQ, the learned reverb; :attr:`AutoencoderConfig.is_default_graph`), which ``what``
    (e.g. "stream") alone supports."""
    if not config.is_default_graph:
        raise InputError(
            f"this model's graph (model.synths {list(config.synths)}, model.reverb {config.reverb!r}, "
            f"model.eq {config.eq}, model.decoder_inputs {config.decoder_input_names}) cannot {what}: only the "
            "default graph can (synths [harmonic, filtered_noise], a learned reverb, no EQ); "
            "render it whole with model(f0_hz, loudness_db, audio)"
        )


class Autoencoder(nn.Module):
    """The DDSP autoencoder.

    ``forward(f0_hz, loudness_db, audio=None, ...)`` renders audio from frame-rate features:

    - preprocessing: ``f0_scaled = midi(f0) / 127``, ``loudness_scaled = loudness_db / 120 + 1``
      (``config.loudness_range_db``: 120 by default);
    - encoder (``z_dims > 0``): z per frame from the MFCCs of ``audio``;
    - decoder: :class:`RnnFcDecoder` on ``config.decoder_input_names`` -> the raw controls
      of the synths (:func:`~torchddsp.configs.graph.decoder_splits`: ``amplitudes``,
      ``harmonic_distribution``, ``noise_magnitudes`` by default);
    - synthesis (a :class:`~torchddsp.processors.ProcessorGroup`): the ``config.synths``
      summed (``Harmonic`` + ``FilteredNoise`` -> ``Add`` by default) -> the learned EQ
      (``config.eq``) -> the trainable reverb of kind ``config.reverb`` (``reverb_s > 0``).

    Shape: ``f0_hz``, ``loudness_db`` ``(batch, n_frames)``; ``audio`` ``(batch, n_samples)``
    with ``n_samples = n_frames * hop_size``. Returns a dict with ``audio`` (reverberant),
    ``audio_dry`` (before the reverb), each synth's signal (``harmonic``, ``noise``,
    ``sinusoidal``, ``wavetable``) and the controls (``controls/<synth>/<name>``).

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
        z_rnn_size = c.rnn_size if c.z_rnn_size is None else c.z_rnn_size
        self.encoder = MfccRnnEncoder(c.sample_rate, c.hop_size, c.z_dims, c.n_mfcc, z_rnn_size) if c.z_dims else None
        input_sizes = [c.z_dims if name == "z" else 1 for name in c.decoder_input_names]
        sizes = {name: getattr(c, name) for name in ("n_harmonics", "n_noise_bands", "n_sinusoids", "wavetable_size")}
        self.decoder = RnnFcDecoder(
            input_sizes,
            decoder_splits(c.synths, sizes),
            c.hidden_size,
            c.rnn_size,
            c.layers_per_stack,
            c.layer_norm_eps,
        )
        self.synthesizer = build_synthesizer(c)
        self.eq = build_eq(c)
        self.reverb = build_reverb(c)
        # Renders another room's impulse response (forward's reverb_ir); holds no weights.
        self.given_reverb = Reverb(trainable=False)

    def decode(self, f0_hz: Tensor, loudness_db: Tensor, audio: Tensor | None = None) -> dict[str, Tensor]:
        """Raw synthesizer controls ``(batch, n_frames, n)`` from the features."""
        check_rank("f0_hz", f0_hz, 2, "(batch, n_frames)")
        check_rank("loudness_db", loudness_db, 2, "(batch, n_frames)")
        f0_scaled, loudness_scaled = self.preprocessor(f0_hz, loudness_db)
        features = {"loudness": loudness_scaled, "f0": f0_scaled}
        if self.encoder is not None:
            if audio is None:
                raise InputError("audio is required: this model encodes z from it (z_dims > 0)")
            features["z"] = self.encoder(audio)[:, : f0_hz.shape[1]]
        return self.decoder(*(features[name] for name in self.config.decoder_input_names))

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
        # The noise options go to the graph's noise nodes; a graph without any draws none.
        options = {"n_samples": n_samples, "generator": generator, "seed": seed}
        values = self.synthesizer.run(
            {**controls, "f0_hz": f0_hz.unsqueeze(-1)},
            **{k: v for k, v in options.items() if k in self.synthesizer.render_options},
        )
        dry = values[self.synthesizer.output]
        if self.eq is not None:
            dry = self.eq(dry)
        wet = dry
        if reverb and (self.reverb is not None or reverb_ir is not None):
            if reverb_ir is not None:
                wet = self.given_reverb(dry, reverb_ir.reshape(1, -1).to(dry))
            else:
                wet = self.reverb(dry)  # type: ignore[misc]
        return {
            "audio": wet,
            "audio_dry": dry,
            **{node: values[node] for node in SYNTH_NODES.values() if node in values},
            **{f"controls/{k}": v for k, v in values.items() if "/" in k},
        }

    @property
    def impulse_response(self) -> Tensor | None:
        """The learned reverb's impulse response ``(reverb_length,)`` (first tap zero), or None."""
        if self.reverb is None:
            return None
        with torch.no_grad():
            if isinstance(self.reverb, Reverb):
                ir = self.reverb.learned_or_given("ir", None).detach().clone()  # the learned taps
            elif isinstance(self.reverb, FDNReverb):
                ir = self.reverb.impulse_response()[0].detach().clone()
            else:  # the parametric convolution reverbs build their response from their controls
                probe = next(self.reverb.buffers())
                ir = self.reverb.controls(probe.new_zeros(1, 1))["ir"][0].detach().clone()
        ir[0] = 0.0
        return ir
