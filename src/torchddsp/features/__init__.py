"""Audio features: spectrograms, loudness and pitch.

Modules:
- ``fourier``: ``stft``, magnitude and power spectrograms (framing options ``StftOptions``).
- ``mel``: mel filterbanks (Slaney, HTK), (log-)mel spectrograms, MFCCs, and the
  ``MelSpectrogram`` / ``MFCC`` modules.
- ``spectral``: both of the above under one import.
- ``loudness``: ``a_weighted_loudness`` (DDSP's perceptual loudness), ``rms_db``.
- ``pitch``: ``estimate_f0`` (CREPE or YIN) with a confidence per frame.
- ``recording``: ``recording_features`` and ``analysis_chunks``: the same features of a
  recording file of any length, in chunks, in memory that does not grow with it.
- ``framing``: the one framing convention of frame-rate features: frame ``i`` is centred on
  time ``i / frame_rate``.
"""

from .crepe import CrepeNet
from .crepe import CrepeWeightsMissing
from .crepe import crepe_activations
from .crepe import load_crepe
from .framing import centered_frames
from .framing import default_n_frames
from .loudness import a_weighted_loudness
from .loudness import a_weighting_db
from .loudness import rms_db
from .pitch import estimate_f0
from .recording import analysis_chunks
from .recording import recording_features
from .spectral import MFCC
from .spectral import MelSpectrogram
from .spectral import dct_matrix
from .spectral import log_mel_spectrogram
from .spectral import magnitude
from .spectral import magnitude_spectrogram
from .spectral import mel_filterbank
from .spectral import mel_spectrogram
from .spectral import mfcc
from .spectral import power_spectrogram
from .spectral import stft
from .yin import yin

__all__ = [
    "CrepeNet",
    "CrepeWeightsMissing",
    "crepe_activations",
    "load_crepe",
    "centered_frames",
    "default_n_frames",
    "a_weighted_loudness",
    "a_weighting_db",
    "rms_db",
    "estimate_f0",
    "MFCC",
    "MelSpectrogram",
    "dct_matrix",
    "log_mel_spectrogram",
    "magnitude",
    "magnitude_spectrogram",
    "mel_filterbank",
    "mel_spectrogram",
    "mfcc",
    "power_spectrogram",
    "stft",
    "yin",
    "analysis_chunks",
    "recording_features",
]
