"""Spectral features, one import for both halves:

- :mod:`torchddsp.features.fourier`: ``stft``, power and magnitude spectrograms, their framing
  options (:class:`~torchddsp.features.fourier.StftOptions`) and windows (``WINDOWS``);
- :mod:`torchddsp.features.mel`: mel scales and filterbanks (Slaney, HTK), (log-)mel
  spectrograms, MFCCs, and the ``MelSpectrogram`` / ``MFCC`` modules.
"""

from . import fourier
from . import mel
from .fourier import *  # noqa: F403  (the façade re-exports both modules' public names)
from .mel import *  # noqa: F403

__all__ = [*fourier.__all__, *mel.__all__]
