"""Voice allocation and the piano roll against hand-worked frame indices."""

from __future__ import annotations

import pytest
import torch

from torchddsp.piano.midi import Note
from torchddsp.piano.voices import allocate_voices
from torchddsp.piano.voices import piano_roll
from torchddsp.validation import InputError

RATE = 100.0


def test_spans_and_ages_of_one_note():
    # Bug: the release tail left out, ages measured from the wrong time, off-by-one frames.
    frames = allocate_voices([Note(0.1, 0.3, 60, 127)], 60, RATE, 1, release_s=0.2)
    active = torch.zeros(60)
    active[10:50] = 1.0
    assert torch.equal(frames.active[:, 0], active)
    times = torch.arange(60) / RATE
    expected_onset = torch.where(active > 0, times - 0.1, torch.zeros(60))
    expected_release = torch.where(active > 0, (times - 0.3).clamp_min(0.0), torch.zeros(60))
    assert torch.allclose(frames.onset_age_s[:, 0], expected_onset.float(), atol=1e-6)
    assert torch.allclose(frames.release_age_s[:, 0], expected_release.float(), atol=1e-6)
    assert frames.velocity[10, 0] == 1.0 and frames.velocity[50, 0] == 0.0
    # The pitch is held before and after the note (no glide into or out of it).
    assert torch.all(frames.pitch[:, 0] == 60.0)


def test_a_free_voice_idle_longest_is_taken():
    # Bug: always the first free voice (or a busy one) instead of the one idle longest.
    notes = [Note(0.0, 0.3, 60, 90), Note(0.05, 0.1, 64, 90), Note(0.4, 0.6, 67, 90)]
    frames = allocate_voices(notes, 80, RATE, 2, release_s=0.0)
    assert frames.pitch[45, 1] == 67.0 and frames.active[45, 1] == 1.0
    assert frames.pitch[45, 0] == 60.0 and frames.active[45, 0] == 0.0


def test_with_every_voice_busy_the_oldest_note_is_stolen():
    # Bug: the newest note dropped, or the most recent voice stolen, or the stolen note's tail
    # left running under the new one.
    notes = [Note(0.0, 1.0, 48, 90), Note(0.1, 1.0, 52, 90), Note(0.2, 0.5, 55, 90)]
    frames = allocate_voices(notes, 160, RATE, 2, release_s=0.5)
    assert frames.pitch[19, 0] == 48.0 and frames.pitch[20, 0] == 55.0
    assert frames.onset_age_s[20, 0] == 0.0 and frames.active[20:100, 0].all()
    assert frames.active[100:, 0].sum() == 0 and frames.velocity[100:, 0].sum() == 0
    assert frames.pitch[20, 1] == 52.0 and frames.active[10:150, 1].all() and frames.active[150:, 1].sum() == 0


def test_notes_after_the_last_frame_are_ignored_and_no_notes_is_silence():
    frames = allocate_voices([Note(2.0, 3.0, 60, 90)], 50, RATE, 4)
    assert frames.active.sum() == 0 and frames.active.shape == (50, 4)


def test_piano_roll_marks_keys_while_down():
    # Bug: column not key - 21, velocity not scaled, the offset frame included.
    roll = piano_roll([Note(0.0, 0.03, 21, 127), Note(0.01, 0.02, 108, 64)], 5, RATE)
    assert roll[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert roll[:, 87].tolist() == [0.0, pytest.approx(64 / 127), 0.0, 0.0, 0.0]
    assert roll[:, 1:87].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"n_voices": 0}, "n_voices"), ({"frame_rate": 0.0}, "frame_rate"), ({"release_s": -1.0}, "release_s")],
)
def test_bad_arguments_name_themselves(kwargs, name):
    arguments = {"n_frames": 10, "frame_rate": RATE, "n_voices": 2} | kwargs
    with pytest.raises(InputError, match=name):
        allocate_voices([Note(0.0, 0.1, 60, 90)], **arguments)
