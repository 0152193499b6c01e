"""The Standard MIDI File reader against files of known timing: written by the scripts' own
writer (scripts/midi_render.py) and hand-built byte strings; corrupt files raise InputError."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from torchddsp.piano.midi import Note
from torchddsp.piano.midi import read_midi
from torchddsp.validation import InputError

ROOT = Path(__file__).resolve().parents[2]


def _writer():
    spec = importlib.util.spec_from_file_location("midi_render", ROOT / "scripts" / "midi_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def header(fmt: int = 0, n_tracks: int = 1, division: int = 480) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, fmt, n_tracks, division)


def track(*events: bytes) -> bytes:
    body = b"".join(events)
    return b"MTrk" + struct.pack(">I", len(body)) + body


END = b"\x00\xff\x2f\x00"


def test_writer_file_note_times_and_velocities():
    # Bug: ticks taken as seconds, a wrong tick/tempo factor, note-ons paired with the wrong off.
    midi_render = _writer()
    events = [(0, midi_render.tempo_event(400_000)), (0, b"\x90\x3c\x64"), (240, b"\x90\x40\x50")]
    events += [(480, b"\x80\x3c\x00"), (960, b"\x80\x40\x00"), (960, b"\xff\x2f\x00")]
    notes = read_midi(midi_render.smf_bytes(events))
    # 400 000 us per beat of 480 ticks: 240 ticks = 0.2 s.
    assert notes == [Note(0.0, pytest.approx(0.4), 60, 100), Note(pytest.approx(0.2), pytest.approx(0.8), 64, 80)]


def test_tempo_map_changes_mid_file():
    # Bug: the tempo applied from tick 0 instead of from its own tick (or not at all).
    events = [b"\x00\x90\x3c\x40", b"\x83\x60\xff\x51\x03\x0f\x42\x40", b"\x83\x60\x80\x3c\x00", END]
    # 480 ticks at 120 bpm (0.5 s), then 480 ticks at 1 000 000 us per beat (1.0 s).
    assert read_midi(header() + track(*events)) == [Note(0.0, 1.5, 60, 64)]


def test_format_1_tempo_track_applies_to_note_track():
    # Bug: only the first track read, or a track's tempo kept to that track.
    tempo_track = track(b"\x00\xff\x51\x03\x07\xa1\x20", END)  # 500 000 -> written as 0x07A120
    slow = track(b"\x00\xff\x51\x03\x0f\x42\x40", END)  # 1 s per beat
    notes = track(b"\x00\x91\x45\x30", b"\x83\x60\x81\x45\x00", END)
    assert read_midi(header(1, 2) + slow + notes) == [Note(0.0, 1.0, 69, 48)]
    assert read_midi(header(1, 2) + tempo_track + notes) == [Note(0.0, 0.5, 69, 48)]


def test_running_status_and_velocity_zero_note_off():
    # Bug: running status not kept (the byte read as a status), or velocity 0 taken as an onset.
    # (the end of track a beat later: a velocity-0 "onset" would then last to 1.0 s)
    events = [b"\x00\x90\x3c\x64", b"\x00\x40\x50", b"\x83\x60\x3c\x00", b"\x00\x40\x00", b"\x83\x60\xff\x2f\x00"]
    assert read_midi(header() + track(*events)) == [Note(0.0, 0.5, 60, 100), Note(0.0, 0.5, 64, 80)]


def test_sustain_pedal_holds_released_notes_until_lifted():
    # Bug: the pedal ignored (note ends at its note-off) or a held note never ended.
    events = [b"\x00\xb0\x40\x7f", b"\x00\x90\x3c\x64", b"\x83\x60\x80\x3c\x00", b"\x83\x60\xb0\x40\x00", END]
    assert read_midi(header() + track(*events)) == [Note(0.0, 1.0, 60, 100)]


def test_restruck_key_under_pedal_ends_previous_note():
    # Bug: the re-struck note replaced without ending the first (lost) or both left open.
    events = [b"\x00\xb0\x40\x7f", b"\x00\x90\x3c\x64", b"\x83\x60\x80\x3c\x00", b"\x00\x90\x3c\x20"]
    events += [b"\x83\x60\x80\x3c\x00", b"\x00\xb0\x40\x00", END]
    assert read_midi(header() + track(*events)) == [Note(0.0, 0.5, 60, 100), Note(0.5, 1.0, 60, 32)]


def test_pedal_is_per_channel_and_notes_open_at_end_close_there():
    # Bug: the pedal of channel 1 holding channel 0's notes; open notes dropped at the end.
    events = [
        b"\x00\xb1\x40\x7f",
        b"\x00\x90\x3c\x64",
        b"\x83\x60\x80\x3c\x00",
        b"\x00\x91\x3e\x64",
        b"\x83\x60\xff\x2f\x00",
    ]
    assert read_midi(header() + track(*events)) == [Note(0.0, 0.5, 60, 100), Note(0.5, 1.0, 62, 100)]


def test_smpte_division_and_skipped_events():
    # Bug: SMPTE division read as ticks per beat; sysex, program change and pitch bend misparsed.
    division = (256 - 25) << 8 | 40  # 25 frames per second, 40 ticks per frame: 1000 ticks/s
    events = [b"\x00\xf0\x03\x7e\x7f\xf7", b"\x00\xc0\x05", b"\x00\xe0\x00\x40", b"\x00\xff\x03\x02ab"]
    events += [b"\x00\x90\x3c\x64", b"\x87\x68\x80\x3c\x00", END]  # 1000 ticks later
    assert read_midi(header(division=division) + track(*events)) == [Note(0.0, 1.0, 60, 100)]


def test_reads_a_path(tmp_path):
    path = tmp_path / "a.mid"
    path.write_bytes(header() + track(b"\x00\x90\x3c\x64", b"\x83\x60\x80\x3c\x00", END))
    assert read_midi(path) == [Note(0.0, 0.5, 60, 100)]


GOOD_TRACK = track(b"\x00\x90\x3c\x64", b"\x83\x60\x80\x3c\x00", END)
CORRUPT = {
    "not midi": (b"RIFF\x00\x00\x00\x04WAVE", "does not start with an MThd"),
    "short header": (b"MThd\x00\x00\x00\x04\x00\x00\x00\x01", "MThd has 4 bytes"),
    "chunk past end": (header() + b"MTrk\x00\x00\x10\x00" + b"\x00" * 8, "declares 4096 bytes"),
    "format 2": (header(2) + GOOD_TRACK, "format 2"),
    "missing track": (header(1, 2) + GOOD_TRACK, "declares 2 tracks, 1 found"),
    "zero division": (header(division=0) + GOOD_TRACK, "time division"),
    "long quantity": (header() + track(b"\x81\x81\x81\x81\x01\x90\x3c\x64"), "longer than 4 bytes"),
    "no running status": (header() + track(b"\x00\x3c\x64"), "no status before it"),
    "truncated event": (header() + track(b"\x00\x90\x3c"), "more bytes expected"),
    "data byte above 127": (header() + track(b"\x00\x90\x3c\xe4"), "data byte above 127"),
    "bad tempo": (header() + track(b"\x00\xff\x51\x02\x07\xa1", END), "set-tempo"),
    "truncated meta": (header() + track(b"\x00\xff\x01\x09ab"), "more bytes expected"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_files_raise_input_error_naming_midi(name):
    # Bug: an IndexError / struct.error / silent garbage instead of a clear error on bad bytes.
    data, message = CORRUPT[name]
    with pytest.raises(InputError, match="midi") as raised:
        read_midi(data)
    assert message in str(raised.value)


def test_every_truncation_of_a_good_file_is_an_input_error_or_a_prefix():
    # Bug: an out-of-range read somewhere the named cases miss (each prefix either fails cleanly
    # or parses to notes, never another exception).
    data = header() + track(b"\x00\xb0\x40\x7f", b"\x00\x90\x3c\x64", b"\x83\x60\x80\x3c\x00", b"\x00\xb0\x40\x00", END)
    for cut in range(len(data)):
        try:
            read_midi(data[:cut])
        except InputError:
            pass


def test_bad_argument_types_and_missing_file(tmp_path):
    with pytest.raises(TypeError, match="midi"):
        read_midi(3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no such file"):
        read_midi(tmp_path / "missing.mid")
