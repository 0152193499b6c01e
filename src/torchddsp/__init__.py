"""torchddsp: Differentiable Digital Signal Processing for PyTorch.

Modules:
- ``torchddsp.functional``: pure differentiable DSP functions (conversions, resampling,
  oscillators, harmonic/wavetable/FM synthesis, FIR filtering, FFT convolution, delays, noise).
- ``torchddsp.processors``: ``Processor`` (controls -> render), ``ProcessorGroup`` (a DAG
  declared as data), ``Add``, ``Mix``.
- ``torchddsp.synths``: ``Harmonic``, ``FilteredNoise``, ``Sinusoidal``, ``Wavetable``, ``FM``.
- ``torchddsp.effects``: ``Reverb``, ``ExpDecayReverb``, ``FilteredNoiseReverb``,
  ``FIRFilter``, ``ModDelay``, ``ParametricEQ``, ``Compressor``, ``FDNReverb``, ``Waveshaper``,
  ``Phaser``.
- ``torchddsp.features``: STFT, mel and MFCC features, A-weighted loudness, f0 by CREPE or YIN.
- ``torchddsp.losses``: ``MultiScaleSpectralLoss`` (``.magenta()``, ``.auraloss()`` presets),
  ``MelSpectrogramLoss``, ``LoudnessLoss``, ``CREPEEmbeddingLoss``.
- ``torchddsp.validation``: the input checks. Bad shapes and values raise ``InputError`` (a
  ``ValueError``), wrong types ``TypeError``. Checks of tensor values (NaN, ranges: host syncs
  on a GPU) are skipped under ``torch.compile``, after ``set_validation(False)`` and inside
  ``with data_checks(False):``; checks of types and shapes always run.

Shapes: audio ``(batch, n_samples)``; frame-rate controls ``(batch, n_frames, channels)``.
"""

from . import effects
from . import features
from . import functional
from . import losses
from . import processors
from . import synths
from . import validation
from .effects import *  # noqa: F403  (every effect, re-exported by effects.__all__ below)
from .processors import Add
from .processors import Mix
from .processors import Node
from .processors import Processor
from .processors import ProcessorGroup
from .synths import FM
from .synths import FilteredNoise
from .synths import Harmonic
from .synths import KarplusStrong
from .synths import Modal
from .synths import Sinusoidal
from .synths import Wavetable
from .validation import InputError
from .validation import data_checks
from .validation import set_validation

__version__ = "0.1.0"

__all__ = [
    "functional",
    "processors",
    "synths",
    "effects",
    "features",
    "losses",
    "validation",
    "InputError",
    "set_validation",
    "data_checks",
    "Processor",
    "ProcessorGroup",
    "Node",
    "Add",
    "Mix",
    "Harmonic",
    "KarplusStrong",
    "Modal",
    "FilteredNoise",
    "Sinusoidal",
    "Wavetable",
    "FM",
    *effects.__all__,
]
