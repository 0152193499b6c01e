"""Protobuf wire-format decoding, enough to read TensorFlow's messages without protobuf or
TensorFlow installed (``tf.train.Example``, ``BundleEntryProto``, ``TensorShapeProto`` ...).

A message is a sequence of fields, each a varint key ``(field_number << 3) | wire_type``
followed by its value: a varint (type 0), 8 little-endian bytes (type 1), a varint length and
that many bytes (type 2: strings, bytes, nested messages, packed repeated scalars) or 4 bytes
(type 5). Callers know their schema and interpret the raw values; nothing here needs the
``.proto`` files. Groups (wire types 3 and 4), deprecated since proto2, are refused.

Example:
    >>> parse_message(bytes([0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69]))
    {1: [150], 2: [b'hi']}
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from ..validation import InputError

__all__ = [
    "read_varint",
    "iter_fields",
    "parse_message",
    "packed_varints",
    "packed_floats",
    "packed_doubles",
    "signed_int64",
]

# A varint carries 7 bits per byte; 64-bit values need at most 10 bytes.
_MAX_VARINT_BYTES = 10
_FIXED_SIZES = {1: 8, 5: 4}


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint starting at byte ``pos`` of ``data`` and the position after it.

    Raises:
        InputError: the varint runs past the end of ``data`` or over 10 bytes.

    Example:
        >>> read_varint(bytes([0xAC, 0x02]), 0)
        (300, 2)
    """
    value = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise InputError(f"malformed protobuf: varint at byte {pos} runs past the end")
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, pos + index + 1
    raise InputError(f"malformed protobuf: varint at byte {pos} is longer than 10 bytes")


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """The fields of one serialized message in order: ``(field_number, wire_type, value)``,
    ``value`` an int for varints and the raw bytes for the other wire types.

    Raises:
        InputError: a field is truncated, has field number 0 or a group/unknown wire type.

    Example:
        >>> list(iter_fields(bytes([0x0D, 0, 0, 0x80, 0x3F])))
        [(1, 5, b'\\x00\\x00\\x80?')]
    """
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise InputError(f"malformed protobuf: field number 0 at byte {pos}")
        if wire_type == 0:
            value, pos = read_varint(data, pos)
            yield number, wire_type, value
            continue
        if wire_type == 2:
            size, pos = read_varint(data, pos)
        elif wire_type in _FIXED_SIZES:
            size = _FIXED_SIZES[wire_type]
        else:
            raise InputError(f"malformed protobuf: unsupported wire type {wire_type} (field {number})")
        if pos + size > len(data):
            raise InputError(f"malformed protobuf: field {number} runs past the end of the message")
        yield number, wire_type, data[pos : pos + size]
        pos += size


def parse_message(data: bytes) -> dict[int, list[int | bytes]]:
    """Every field of a message: field number -> its values in the order they appear (a
    repeated field has several; a singular one set twice keeps both, the last wins in protobuf).

    Example:
        >>> parse_message(bytes([0x08, 0x01, 0x08, 0x02]))
        {1: [1, 2]}
    """
    fields: dict[int, list[int | bytes]] = {}
    for number, _, value in iter_fields(data):
        fields.setdefault(number, []).append(value)
    return fields


def packed_varints(data: bytes) -> list[int]:
    """A packed repeated varint field's values (unsigned; see :func:`signed_int64`).

    Example:
        >>> packed_varints(bytes([0x03, 0x8E, 0x02]))
        [3, 270]
    """
    values = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        values.append(value)
    return values


def _packed_fixed(data: bytes, code: str, size: int) -> list[float]:
    if len(data) % size:
        raise InputError(f"malformed protobuf: packed field of {len(data)} bytes is not a multiple of {size}")
    return list(struct.unpack(f"<{len(data) // size}{code}", data))


def packed_floats(data: bytes) -> list[float]:
    """A packed repeated ``float`` field's values (little-endian float32).

    Example:
        >>> packed_floats(bytes([0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]))
        [1.0, -2.0]
    """
    return _packed_fixed(data, "f", 4)


def packed_doubles(data: bytes) -> list[float]:
    """A packed repeated ``double`` field's values (little-endian float64).

    Example:
        >>> packed_doubles(bytes(6) + bytes([0xF0, 0x3F]))
        [1.0]
    """
    return _packed_fixed(data, "d", 8)


def signed_int64(value: int) -> int:
    """An ``int64`` field's value: varints carry negative numbers as their 64-bit two's
    complement (``int32``/``int64``, not the zigzag ``sint`` types).

    Example:
        >>> signed_int64(2**64 - 1)
        -1
    """
    return value - (1 << 64) if value >= 1 << 63 else value
