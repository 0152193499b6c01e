"""From a note list to frame-rate controls: a fixed number of voices and a piano roll.

Each note takes one voice from its onset until ``release_s`` after its offset (the damper's
decay). A note takes the free voice that has been idle longest; with none free it steals the
voice whose note started first (its sound is cut at the new onset), as hardware pianos do.

Example:
    >>> from torchddsp.piano.midi import Note
    >>> frames = allocate_voices([Note(0.0, 0.05, 60, 127)], n_frames=10, frame_rate=100.0, n_voices=2,
    ...                          release_s=0.02)
    >>> frames.active[:, 0].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_range
from .midi import Note

__all__ = ["VoiceFrames", "allocate_voices", "piano_roll", "LOWEST_KEY", "N_KEYS"]

LOWEST_KEY = 21  # A0, the lowest of the 88 keys
N_KEYS = 88


class VoiceFrames(NamedTuple):
    """Per-voice frame controls, each ``(n_frames, n_voices)`` float32 (batched by the model:
    ``(batch, n_frames, n_voices)``): ``pitch`` MIDI key of the voice's note (held after it ends,
    so that the voice does not glide), ``velocity`` in (0, 1], ``onset_age_s`` seconds since the
    onset, ``release_age_s`` seconds since the offset (0 while the key is down), ``active`` 1
    from the onset to ``release_s`` after the offset, else 0."""

    pitch: Tensor
    velocity: Tensor
    onset_age_s: Tensor
    release_age_s: Tensor
    active: Tensor


def _frame(seconds: float, frame_rate: float) -> int:
    return int(math.floor(seconds * frame_rate + 0.5))


def _pick_voice(start: int, busy_until: list[int], started: list[int]) -> int:
    """The free voice idle longest at frame ``start``; else the one whose note started first."""
    free = [v for v in range(len(busy_until)) if busy_until[v] <= start]
    if free:
        return min(free, key=lambda v: (busy_until[v], v))
    return min(range(len(started)), key=lambda v: (started[v], v))


def allocate_voices(
    notes: Sequence[Note], n_frames: int, frame_rate: float, n_voices: int, release_s: float = 0.5
) -> VoiceFrames:
    """Assign ``notes`` to ``n_voices`` voices over ``n_frames`` frames (module docstring).

    Frame ``i`` is time ``i / frame_rate``; a note covers frames ``round(onset * frame_rate)``
    to ``round((offset + release_s) * frame_rate)`` (exclusive).

    Shape: -> :class:`VoiceFrames` of ``(n_frames, n_voices)`` tensors.
    """
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    frame_rate = check_positive("frame_rate", frame_rate)
    n_voices = check_positive_int("n_voices", n_voices)
    release_s = float(check_range("release_s", release_s, 0.0))
    fields = torch.zeros(5, n_frames, n_voices)
    busy_until, started = [-1] * n_voices, [-1] * n_voices
    for note in sorted(notes, key=lambda n: (n.onset_s, n.pitch)):
        start = _frame(note.onset_s, frame_rate)
        if start >= n_frames:
            continue
        voice = _pick_voice(start, busy_until, started)
        end = min(n_frames, max(start + 1, _frame(note.offset_s + release_s, frame_rate)))
        busy_until[voice], started[voice] = end, start
        times = torch.arange(start, n_frames, dtype=torch.float64) / frame_rate
        fields[0, start:, voice] = float(note.pitch)  # held to the next note: no glide
        fields[1, start:end, voice] = note.velocity / 127.0
        fields[2, start:end, voice] = (times[: end - start] - note.onset_s).clamp_min(0.0).float()
        fields[3, start:end, voice] = (times[: end - start] - note.offset_s).clamp_min(0.0).float()
        fields[4, start:end, voice] = 1.0
        fields[1:, end:, voice] = 0.0
    first = fields[0].clone()
    # Before a voice's first note, hold that note's pitch too (no glide into it).
    for voice in range(n_voices):
        playing = torch.nonzero(first[:, voice] > 0)
        if len(playing):
            fields[0, : int(playing[0]), voice] = first[int(playing[0]), voice]
    return VoiceFrames(*fields.unbind(0))


def piano_roll(notes: Sequence[Note], n_frames: int, frame_rate: float) -> Tensor:
    """Velocity / 127 of each of the 88 keys while it is down (onset to offset), else 0.

    Shape: -> ``(n_frames, 88)``, column ``key - 21``.

    Example:
        >>> piano_roll([Note(0.0, 0.02, 21, 127)], 3, 100.0)[:, 0].tolist()
        [1.0, 1.0, 0.0]
    """
    n_frames = check_positive_int("n_frames", n_frames, minimum=0)
    frame_rate = check_positive("frame_rate", frame_rate)
    roll = torch.zeros(n_frames, N_KEYS)
    for note in notes:
        if LOWEST_KEY <= note.pitch < LOWEST_KEY + N_KEYS:
            start = _frame(note.onset_s, frame_rate)
            end = max(start + 1, _frame(note.offset_s, frame_rate))
            roll[start:end, note.pitch - LOWEST_KEY] = note.velocity / 127.0
    return roll
