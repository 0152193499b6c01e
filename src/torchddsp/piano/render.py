"""Play a note list or MIDI file with a :class:`~torchddsp.piano.model.PianoModel`; save and load
model folders (``config.json`` + ``weights.safetensors``), the bundled one by the name ``piano``.

The weights are not called ``model.safetensors``: that name marks the timbre-transfer models
that ``torchddsp.transfer.available_models`` (and the app) list and load.

Example:
    >>> from torchddsp.piano.midi import Note
    >>> model = load_piano_model("piano")
    >>> render_notes(model, [Note(0.0, 0.2, 60, 90)], seed=0).shape
    torch.Size([1, 19200])
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save_file
from torch import Tensor

from ..validation import InputError
from .midi import Note
from .midi import read_midi
from .model import PianoConfig
from .model import PianoModel
from .voices import VoiceFrames
from .voices import allocate_voices
from .voices import piano_roll

__all__ = ["note_controls", "render_notes", "render_midi", "save_piano_model", "load_piano_model", "BUNDLED"]

BUNDLED = Path(__file__).resolve().parent.parent / "pretrained" / "piano"
MAX_SECONDS = 600.0
WEIGHTS = "weights.safetensors"


def note_controls(notes: Sequence[Note], n_frames: int, config: PianoConfig) -> tuple[VoiceFrames, Tensor]:
    """The model's inputs for ``notes`` over ``n_frames`` frames, batched: voices ``(1, n_frames,
    n_voices)`` each and roll ``(1, n_frames, 88)``."""
    voices = allocate_voices(notes, n_frames, config.frame_rate, config.n_voices, config.release_s)
    roll = piano_roll(notes, n_frames, config.frame_rate)
    return VoiceFrames(*(field[None] for field in voices)), roll[None]


def render_notes(model: PianoModel, notes: Sequence[Note], seed: int | None = 0, tail_s: float = 0.5) -> Tensor:
    """Audio ``(1, n_samples)`` of ``notes``, to the last offset plus the release and ``tail_s``.

    An empty note list gives ``tail_s`` of the model's output with no voice active.
    """
    config = model.config
    end_s = max((note.offset_s for note in notes), default=0.0) + config.release_s * bool(notes) + tail_s
    if end_s > MAX_SECONDS:
        raise InputError(f"midi lasts {end_s:.0f} s with its tail; at most {MAX_SECONDS:.0f} s are rendered")
    n_frames = max(1, math.ceil(end_s * config.frame_rate))
    voices, roll = note_controls(notes, n_frames, config)
    with torch.no_grad():
        return model(voices, roll, seed=seed)


def render_midi(model: PianoModel, midi: bytes | str | os.PathLike, seed: int | None = 0) -> Tensor:
    """Audio ``(1, n_samples)`` of a Standard MIDI File (bytes or path) played by ``model``."""
    return render_notes(model, read_midi(midi), seed=seed)


def save_piano_model(model: PianoModel, folder: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``weights.safetensors`` (float32) under ``folder``."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(model.config.to_dict(), indent=1) + "\n")
    save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, str(path / WEIGHTS))
    return path


def load_piano_model(model: str | os.PathLike = "piano") -> PianoModel:
    """A model folder, or ``"piano"`` for the bundled model; in eval mode."""
    path = BUNDLED if str(model) == "piano" else Path(model)
    if not (path / "config.json").is_file() or not (path / WEIGHTS).is_file():
        raise InputError(f"model: {str(path)!r} is not a piano model folder (config.json, {WEIGHTS})")
    config = PianoConfig(**json.loads((path / "config.json").read_text()))
    loaded = PianoModel(config)
    loaded.load_state_dict(load_file(str(path / WEIGHTS)))
    return loaded.eval()
