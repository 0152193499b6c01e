"""Audio losses: multi-scale spectral (every term of Magenta's ``SpectralLoss``, with Magenta's
and auraloss's settings as presets), mel-spectrogram, loudness, and a perceptual loss on CREPE
activations.

Conventions shared by every loss here:
- called as ``loss(prediction, target)`` with audio ``(batch, n_samples)``;
- ``reduction``: ``"mean"`` (default) or ``"sum"`` over the batch of per-item losses, or
  ``"none"`` for the per-item losses ``(batch,)``;
- finite values and gradients when either signal is all zeros (no NaN from ``|0|``, ``log 0``
  or a zero denominator);
- windows and filterbanks are built once per setting (buffers or cached), never per call.

Modules: ``spectral`` (:class:`MultiScaleSpectralLoss`), ``spectral_terms`` (its terms and loss
types), ``spectral_distances`` (the hand-written backward of its L1 terms), ``mel``,
``loudness``, ``crepe``, ``reduction``.
"""

from .crepe import CREPEEmbeddingLoss
from .loudness import LoudnessLoss
from .mel import MelSpectrogramLoss
from .reduction import REDUCTIONS
from .spectral import MultiScaleSpectralLoss
from .spectral_terms import LOSS_TYPES

__all__ = [
    "MultiScaleSpectralLoss",
    "MelSpectrogramLoss",
    "LoudnessLoss",
    "CREPEEmbeddingLoss",
    "REDUCTIONS",
    "LOSS_TYPES",
]
