"""torchddsp.matching: synthesizer parameter estimation (sound matching with a trained network).

Masuda & Saito (ISMIR 2021): a log-mel encoder predicts a subtractive voice's normalised
parameters from its sound; trained on rendered sounds with a parameter loss, then fine-tuned
with a spectral loss through the differentiable voice; its estimate can be refined by a few
steps of gradient descent through the voice.

- ``voice_setup``: :class:`MatchingSetup` (the voice, its free and given parameters),
  patches and human units.
- ``network``: :class:`ParameterEstimator`, saving and loading (bundled ``matching_rich``).
- ``search``: :func:`refine`, :func:`iterative_match` (``examples/sound_matching.py``'s
  method), :func:`random_search`.
- ``training``: rendered examples, parameter and spectral losses, :func:`train_steps`.
- ``metrics``: per-sound distances and bootstrap intervals.
- ``matcher``: :func:`match_audio` (what ``torchddsp match`` runs).
"""

from . import matcher
from . import metrics
from . import network
from . import search
from . import training
from . import voice_setup
from .matcher import *  # noqa: F403
from .metrics import *  # noqa: F403
from .network import *  # noqa: F403
from .search import *  # noqa: F403
from .training import *  # noqa: F403
from .voice_setup import *  # noqa: F403

__all__ = [
    *voice_setup.__all__,
    *network.__all__,
    *search.__all__,
    *training.__all__,
    *metrics.__all__,
    *matcher.__all__,
]
