"""Audio effects as processors: ``(batch, n_samples)`` audio in (plus controls), audio of the
same length out; each fits in a :class:`~torchddsp.processors.ProcessorGroup`.

Modules:
- ``convolution``: ``Reverb`` (learned or given impulse response), ``ExpDecayReverb``,
  ``FilteredNoiseReverb``, ``FIRFilter`` (time-varying linear-phase FIR), ``ModDelay``.
"""

from .convolution import ExpDecayReverb, FilteredNoiseReverb, FIRFilter, ModDelay, Reverb

__all__ = [
    "Reverb",
    "ExpDecayReverb",
    "FilteredNoiseReverb",
    "FIRFilter",
    "ModDelay",
]
