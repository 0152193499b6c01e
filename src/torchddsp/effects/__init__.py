"""Audio effects as processors: ``(batch, n_samples)`` audio in (plus controls), audio of the
same length out; each fits in a :class:`~torchddsp.processors.ProcessorGroup`.

Modules:
- ``convolution``: ``Reverb`` (learned or given impulse response), ``ExpDecayReverb``,
  ``FilteredNoiseReverb``, ``FIRFilter`` (time-varying linear-phase FIR), ``ModDelay``.
- ``equalizer``: ``ParametricEQ`` (shelves and peaks, learned or driven per frame).
- ``dynamics``: ``Compressor`` (also ``Compressor.limiter`` and ``Compressor.expander``).
- ``fdn``: ``FDNReverb`` (feedback delay network with per-band RT60).
- ``waveshaper``: ``Waveshaper`` (tanh, soft/hard clip, Chebyshev; drive, bias, oversampling, gain, mix).
- ``phaser``: ``Phaser`` (all-pass cascade swept by an internal LFO or a frame-rate control; feedback, mix).
"""

from .convolution import ExpDecayReverb
from .convolution import FilteredNoiseReverb
from .convolution import FIRFilter
from .convolution import ModDelay
from .convolution import Reverb
from .dynamics import Compressor
from .equalizer import ParametricEQ
from .fdn import FDNReverb
from .phaser import Phaser
from .waveshaper import Waveshaper

__all__ = [
    "Reverb",
    "ExpDecayReverb",
    "FilteredNoiseReverb",
    "FIRFilter",
    "ModDelay",
    "ParametricEQ",
    "Compressor",
    "FDNReverb",
    "Waveshaper",
    "Phaser",
]
