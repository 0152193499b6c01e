"""Neural models that drive the synthesizers: preprocessing, encoders, decoders, autoencoder.

- ``preprocessing``: ``F0LoudnessPreprocessor`` (f0 and loudness scaled to [0, 1] as DDSP).
- ``encoders``: ``MfccRnnEncoder`` (MFCC -> GRU -> z per frame).
- ``decoders``: ``RnnFcDecoder`` (DDSP's: MLP per input, GRU, MLP, output splits).
- ``autoencoder``: ``Autoencoder`` (preprocess -> encode -> decode -> Harmonic + FilteredNoise
  -> Reverb), built from an ``AutoencoderConfig``.
- ``gru``: ``gru_sequence`` and ``run_gru`` (``nn.GRU``'s values and gradients with a
  hand-written backward: faster CPU training; the decoder and the z encoder use it).
"""

from .autoencoder import Autoencoder
from .autoencoder import AutoencoderConfig
from .decoders import RnnFcDecoder
from .decoders import fc_stack
from .encoders import MfccRnnEncoder
from .preprocessing import F0LoudnessPreprocessor

__all__ = ["Autoencoder", "AutoencoderConfig", "RnnFcDecoder", "fc_stack", "MfccRnnEncoder", "F0LoudnessPreprocessor"]
