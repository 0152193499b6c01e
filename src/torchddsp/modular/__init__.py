"""Modular synthesizer: seeded, batched, differentiable voices for dataset generation and
sound matching.

- ``parameters``: :class:`ParameterRange` (range, curve, symmetry; normalised <-> human
  units), curve sets saved and loaded as JSON.
- ``modules``: :class:`RenderContext` (rates and length) and :class:`SynthModule` (the base
  class of modules); the stock modules, by concept: ``modulation`` (keyboard, envelopes, LFOs,
  modulation mixer), ``sources`` (band-limited VCOs, FM VCO, noise, ``render_sources``) and
  ``processing`` (VCA, audio mixer, filter, drive, tone EQ, any ``torchddsp.effects`` processor).
- ``voices``: :class:`Voice` (base class for your own), :class:`DefaultVoice` (torchsynth's
  architecture), :class:`RichVoice` (filter and effects), ``make_voice(name)``.
- ``dataset``: ``render_dataset`` (FLAC + parameters in shards, resumable), behind
  ``torchddsp modular render``.

Every public name of these modules is importable from ``torchddsp.modular``.
"""

from . import modulation
from . import modules
from . import parameters
from . import processing
from . import sources
from . import voices
from .modulation import *  # noqa: F403  (each module's __all__, gathered below)
from .modules import *  # noqa: F403
from .parameters import *  # noqa: F403
from .processing import *  # noqa: F403
from .sources import *  # noqa: F403
from .voices import *  # noqa: F403

__all__ = [
    *parameters.__all__,
    *modules.__all__,
    *modulation.__all__,
    *sources.__all__,
    *processing.__all__,
    *voices.__all__,
]
