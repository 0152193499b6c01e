"""Timbre transfer: turn any monophonic recording into the instrument a model learned.

``transfer(audio, sample_rate, model)`` measures f0 and loudness of the input, adjusts them to
the model's training data (see :func:`adjust_features`), renders them with the model, and
returns the audio with every intermediate curve. Models are loaded by name (bundled ones,
:func:`available_models`) or from a training run / checkpoint folder (:func:`load_model`).

The DDSP paper's other uses of the same model are options of :func:`transfer`:
``reverb=False`` renders dry (blind dereverberation of the model's room); ``reverb_ir`` gives
another room (e.g. ``other_model.impulse_response``: transfer of room acoustics); pitches
outside the training range render without breaking (extrapolation), since nothing clamps f0.

Modules:

- ``adjust``: :func:`adjust_features` (DDSP's auto-adjust), planned once
  (:func:`plan_adjustment`) and applied frame by frame (:func:`apply_adjustment`).
- ``in_memory``: loading (:func:`load_model`), :func:`transfer` and
  :func:`write_transfer` (the whole recording in memory).
- ``files``: :func:`transfer_file` (what ``torchddsp transfer`` runs): files of any length,
  features measured in chunks (:func:`torchddsp.features.recording.recording_features`),
  adjusted with the whole recording's statistics (frame-rate arrays are small) and rendered
  chunk by chunk (:mod:`torchddsp.models.chunked`), writing the WAV as it goes: memory does not
  grow with the recording, and the files equal what :func:`transfer` and
  :func:`write_transfer` give in memory.

Outputs never replace an input and never write through a symbolic link; each is written to a
temporary name and renamed (:mod:`torchddsp.io`).
"""

from . import adjust
from . import files
from . import in_memory
from .adjust import *  # noqa: F403  (the package re-exports its modules' public names)
from .files import *  # noqa: F403
from .in_memory import *  # noqa: F403

__all__ = [*adjust.__all__, *in_memory.__all__, *files.__all__]
