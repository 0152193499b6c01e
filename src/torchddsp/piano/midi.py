"""A Standard MIDI File reader: the notes of a format 0 or 1 file, in seconds.

Our own parser (no MIDI library): chunks, variable-length quantities, running status, meta and
system-exclusive events, the tempo map (set-tempo events of any track, as format 1 keeps them in
the first one) or SMPTE time division, note on/off (a note-on of velocity 0 is a note-off) and
the sustain pedal (controller 64: a note released while the pedal is down sounds on until the
pedal is lifted or the key is struck again). A MIDI file from a user is data: every length and
byte is bounds-checked, and a corrupt file raises :class:`~torchddsp.validation.InputError`
naming ``midi`` and the byte offset.

Example:
    >>> header = b"MThd" + bytes([0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xE0])
    >>> track = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
    >>> read_midi(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    [Note(onset_s=0.0, offset_s=0.5, pitch=60, velocity=100)]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..validation import InputError

__all__ = ["Note", "read_midi", "parse_midi"]

DEFAULT_TEMPO_US = 500_000  # 120 beats per minute, the SMF default before any set-tempo
SUSTAIN_CONTROLLER = 64
MAX_FILE_BYTES = 64 * 2**20
# Bytes of data after a status byte, by its high nibble (0xF0: system messages, handled apart).
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass(frozen=True)
class Note:
    """One played note: ``onset_s`` and ``offset_s`` in seconds (offset > onset), ``pitch`` the
    MIDI key 0-127 (60: middle C), ``velocity`` 1-127."""

    onset_s: float
    offset_s: float
    pitch: int
    velocity: int


# An event: (tick, order, kind, channel, a, b); kind "on", "off", "cc", "tempo" or "end".
Event = tuple[int, int, str, int, int, int]


class _Reader:
    """Bounds-checked reads from ``data[start:end]``; errors name ``midi`` and the byte offset."""

    def __init__(self, data: bytes, start: int, end: int):
        self.data, self.position, self.end = data, start, end

    def fail(self, message: str) -> InputError:
        return InputError(f"midi is not a valid Standard MIDI File: {message} (at byte {self.position})")

    def take(self, count: int) -> bytes:
        if count < 0 or self.position + count > self.end:
            raise self.fail(f"{count} more bytes expected, {self.end - self.position} left in the chunk")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def variable_length(self) -> int:
        value = 0
        for _ in range(4):
            current = self.byte()
            value = (value << 7) | (current & 0x7F)
            if not current & 0x80:
                return value
        raise self.fail("variable-length quantity longer than 4 bytes")


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of every chunk, each length checked against the file."""
    chunks, position = [], 0
    while position < len(data):
        if position + 8 > len(data):
            raise InputError(f"midi is not a valid Standard MIDI File: truncated chunk header at byte {position}")
        length = int.from_bytes(data[position + 4 : position + 8], "big")
        start = position + 8
        if start + length > len(data):
            raise InputError(
                f"midi is not a valid Standard MIDI File: chunk at byte {position} declares {length} bytes, "
                f"{len(data) - start} left in the file"
            )
        chunks.append((data[position : position + 4], start, start + length))
        position = start + length
    return chunks


def _header(data: bytes, chunks: list[tuple[bytes, int, int]]) -> tuple[int, int, int]:
    """``(format, n_tracks, division)`` from the MThd chunk."""
    if not chunks or chunks[0][0] != b"MThd":
        raise InputError("midi is not a Standard MIDI File: it does not start with an MThd chunk")
    _, start, end = chunks[0]
    if end - start < 6:
        raise InputError(f"midi is not a valid Standard MIDI File: MThd has {end - start} bytes, expected 6")
    fmt, n_tracks, division = (int.from_bytes(data[start + i : start + i + 2], "big") for i in (0, 2, 4))
    if fmt not in (0, 1):
        raise InputError(f"midi has format {fmt}; only formats 0 and 1 (simultaneous tracks) are read")
    if division == 0 or (division & 0x8000 and (division & 0xFF) == 0):
        raise InputError(f"midi is not a valid Standard MIDI File: time division {division:#06x}")
    return fmt, n_tracks, division


def _meta(reader: _Reader, tick: int, order: int, events: list[Event]) -> bool:
    """Read one meta event (after 0xFF); append a tempo or the end of track; True at the end."""
    kind = reader.byte()
    payload = reader.take(reader.variable_length())
    if kind == 0x51:
        if len(payload) != 3 or int.from_bytes(payload, "big") == 0:
            raise reader.fail(f"set-tempo event with payload {payload.hex()}, expected 3 bytes > 0")
        events.append((tick, order, "tempo", 0, int.from_bytes(payload, "big"), 0))
    if kind == 0x2F:  # end of track: the time at which notes still sounding end
        events.append((tick, order, "end", 0, 0, 0))
    return kind == 0x2F


def _channel_event(status: int, data: bytes, tick: int, order: int) -> Event | None:
    kind, channel = status & 0xF0, status & 0x0F
    if kind == 0x90 and data[1] > 0:
        return (tick, order, "on", channel, data[0], data[1])
    if kind in (0x80, 0x90):
        return (tick, order, "off", channel, data[0], 0)
    if kind == 0xB0:
        return (tick, order, "cc", channel, data[0], data[1])
    return None


def _track_events(data: bytes, start: int, end: int, order_base: int) -> list[Event]:
    """Note, controller and tempo events of one MTrk chunk, at absolute ticks."""
    reader, tick, status = _Reader(data, start, end), 0, 0
    events: list[Event] = []
    while reader.position < end:
        tick += reader.variable_length()
        order = order_base + len(events)
        first = reader.byte()
        if first == 0xFF:
            if _meta(reader, tick, order, events):
                break
            continue
        if first in (0xF0, 0xF7):
            reader.take(reader.variable_length())  # system exclusive: skipped
            continue
        if first & 0x80:
            if first > 0xF0:
                raise reader.fail(f"system message {first:#04x} inside a track")
            status, payload = first, b""
        elif status:
            payload = bytes([first])  # running status: the byte is the first data byte
        else:
            raise reader.fail(f"data byte {first:#04x} with no status before it (running status)")
        payload += reader.take(_DATA_BYTES[status & 0xF0] - len(payload))
        if any(value & 0x80 for value in payload):
            raise reader.fail(f"data byte above 127 in a {status:#04x} message")
        event = _channel_event(status, payload, tick, order)
        if event is not None:
            events.append(event)
    return events


def parse_midi(data: bytes) -> tuple[int, int, list[Event]]:
    """``(format, division, events)`` of a Standard MIDI File's bytes; the events of every
    track merged in tick order (ties: track order, then file order)."""
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"midi has {len(data)} bytes, more than the {MAX_FILE_BYTES} read")
    chunks = _chunks(data)
    fmt, n_tracks, division = _header(data, chunks)
    tracks = [chunk for chunk in chunks[1:] if chunk[0] == b"MTrk"]
    if len(tracks) < n_tracks or (fmt == 0 and n_tracks != 1):
        raise InputError(f"midi (format {fmt}) declares {n_tracks} tracks, {len(tracks)} found")
    events: list[Event] = []
    for index, (_, start, end) in enumerate(tracks[:n_tracks]):
        events += _track_events(data, start, end, index << 32)
    return fmt, division, sorted(events, key=lambda event: (event[0], event[1]))


def _tick_seconds(events: list[Event], division: int) -> list[float]:
    """The time in seconds of each (tick-sorted) event through the tempo map."""
    if division & 0x8000:
        frames_per_second = 256 - (division >> 8)  # two's complement -24, -25, -29, -30
        rate = 29.97 if frames_per_second == 29 else float(frames_per_second)
        return [event[0] / (rate * (division & 0xFF)) for event in events]
    seconds, last_tick, tempo, times = 0.0, 0, DEFAULT_TEMPO_US, []
    for event in events:
        seconds += (event[0] - last_tick) * tempo / (1e6 * division)
        last_tick = event[0]
        times.append(seconds)
        if event[2] == "tempo":
            tempo = event[4]
    return times


def _notes(events: list[Event], times: list[float]) -> list[Note]:
    """Pair note-ons with their ends: the note-off, or with the pedal down its lifting; a key
    struck again ends its previous note (one string set per key)."""
    sounding: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) -> (onset, velocity)
    held: set[tuple[int, int]] = set()  # released keys that the pedal keeps sounding
    pedal, notes = [False] * 16, []

    def end(key: tuple[int, int], time: float) -> None:
        onset, velocity = sounding.pop(key)
        held.discard(key)
        if time > onset:
            notes.append(Note(onset, time, key[1], velocity))

    for (_, _, kind, channel, a, b), time in zip(events, times, strict=True):
        key = (channel, a)
        if kind == "on":
            if key in sounding:
                end(key, time)
            sounding[key] = (time, b)
        elif kind == "off" and key in sounding and key not in held:
            if pedal[channel]:
                held.add(key)
            else:
                end(key, time)
        elif kind == "cc" and a == SUSTAIN_CONTROLLER:
            pedal[channel] = b >= 64
            if not pedal[channel]:
                for other in [k for k in held if k[0] == channel]:
                    end(other, time)
    last = times[-1] if times else 0.0
    for key in list(sounding):
        end(key, last)
    return sorted(notes, key=lambda note: (note.onset_s, note.pitch))


def read_midi(midi: bytes | str | os.PathLike) -> list[Note]:
    """The notes of a Standard MIDI File (format 0 or 1), sorted by onset then pitch.

    Notes still sounding at the end of the file end at its last event (or end of track, the
    latest); zero-length notes are
    dropped. Every channel is read (a percussion channel too).

    Args:
        midi: the file's bytes, or its path.

    Example:
        >>> import struct
        >>> track = bytes([0, 0xB0, 64, 127, 0, 0x90, 60, 90, 0x60, 60, 0, 0x60, 0xB0, 64, 0])
        >>> header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96)
        >>> read_midi(header + b"MTrk" + struct.pack(">I", len(track)) + track)
        [Note(onset_s=0.0, offset_s=1.0, pitch=60, velocity=90)]
    """
    if isinstance(midi, (str, os.PathLike)):
        path = Path(midi)
        if not path.is_file():
            raise InputError(f"midi: no such file {str(path)!r}")
        data = path.read_bytes()
    elif isinstance(midi, (bytes, bytearray)):
        data = bytes(midi)
    else:
        raise TypeError(f"midi must be bytes or a path, found {type(midi).__name__}")
    _, division, events = parse_midi(data)
    return _notes(events, _tick_seconds(events, division))
