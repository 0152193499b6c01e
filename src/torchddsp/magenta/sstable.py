"""LevelDB-style sorted string tables (SSTables), the format of a TensorFlow checkpoint's
``.index`` file, read without TensorFlow.

Layout (TensorFlow's ``tsl/lib/io`` table, a copy of LevelDB's ``table_format``)::

    [data block 0] ... [data block N-1] [metaindex block] [index block] [footer: 48 bytes]

- footer: the metaindex and index blocks' handles (each a varint offset and a varint size),
  zero padding to 40 bytes, then the magic number ``0xdb4775248b80fb57`` (little-endian
  fixed64);
- every block is followed by a 5-byte trailer: its compression type (0: none, 1: Snappy) and
  the masked CRC-32C of the block's bytes plus that type byte;
- a block holds entries ``varint shared, varint non_shared, varint value_size,
  key[shared:] (non_shared bytes), value``, each key stored as the bytes it does not share
  with the previous key, then ``uint32 restarts[n]`` (offsets of entries storing whole keys,
  for binary search, unused here) and ``uint32 n``;
- the index block's values are the handles of the data blocks, in key order.

TensorFlow writes checkpoint indexes uncompressed; a Snappy-compressed table is refused.
Every block's checksum is verified and keys must come in strictly increasing order.

Example:
    >>> table = _example_table([(b"a", b"1"), (b"ab", b"2")])
    >>> read_table_bytes(table)
    [(b'a', b'1'), (b'ab', b'2')]
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..validation import InputError
from .crc32c import masked_crc32c
from .crc32c import unmask_crc32c
from .protobuf import read_varint

__all__ = ["TABLE_MAGIC", "FOOTER_SIZE", "read_table", "read_table_bytes"]

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two handles of at most 20 bytes each, padded to 40, then the magic
_TRAILER_SIZE = 5  # compression type byte + masked CRC-32C
_COMPRESSION_NAMES = {0: "none", 1: "Snappy"}
_UINT32 = struct.Struct("<I")


def _handle(data: bytes, pos: int) -> tuple[tuple[int, int], int]:
    """A block handle ``(offset, size)`` at ``pos`` and the position after it."""
    offset, pos = read_varint(data, pos)
    size, pos = read_varint(data, pos)
    return (offset, size), pos


def _footer(data: bytes) -> tuple[int, int]:
    """The index block's handle, after checking the footer's size and magic number."""
    if len(data) < FOOTER_SIZE:
        raise InputError(
            f"truncated table: {len(data)} bytes, shorter than the {FOOTER_SIZE}-byte footer "
            "(the file was cut short, or it is not a checkpoint index)"
        )
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != TABLE_MAGIC:
        raise InputError(
            f"not a table: the footer's magic number is {magic:#018x}, not {TABLE_MAGIC:#018x} "
            "(the file was cut short, or it is not a checkpoint index)"
        )
    _, pos = _handle(footer, 0)  # the metaindex block: TensorFlow stores no meta blocks
    index_handle, _ = _handle(footer, pos)
    return index_handle


def _block(data: bytes, handle: tuple[int, int], what: str) -> bytes:
    """The checked, uncompressed contents of the block at ``handle``."""
    offset, size = handle
    end = offset + size + _TRAILER_SIZE
    if end > len(data) - FOOTER_SIZE:
        raise InputError(
            f"truncated table: the {what} (bytes {offset}..{end - 1}) runs past the table's data "
            f"({len(data) - FOOTER_SIZE} bytes before the footer)"
        )
    contents, kind = data[offset : offset + size], data[offset + size]
    (stored,) = _UINT32.unpack_from(data, offset + size + 1)
    if masked_crc32c(data[offset : offset + size + 1]) != stored:
        raise InputError(
            f"corrupt table: the {what} (bytes {offset}..{end - 1}) fails its CRC-32C check "
            f"(stored {unmask_crc32c(stored):#010x}); the file is damaged"
        )
    if kind != 0:
        name = _COMPRESSION_NAMES.get(kind, f"unknown type {kind}")
        raise InputError(
            f"the {what} is compressed ({name}); TensorFlow writes checkpoint indexes "
            "uncompressed and only uncompressed tables are read"
        )
    return contents


def _block_entries(block: bytes, what: str) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of one block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise InputError(f"corrupt table: the {what} has {len(block)} bytes, too few for its restart count")
    (n_restarts,) = _UINT32.unpack_from(block, len(block) - 4)
    end = len(block) - 4 * (n_restarts + 1)
    if end < 0:
        raise InputError(f"corrupt table: the {what} claims {n_restarts} restart points, more than fit")
    entries: list[tuple[bytes, bytes]] = []
    key, pos = b"", 0
    while pos < end:
        shared, pos = read_varint(block, pos)
        non_shared, pos = read_varint(block, pos)
        value_size, pos = read_varint(block, pos)
        if shared > len(key) or pos + non_shared + value_size > end:
            raise InputError(f"corrupt table: an entry of the {what} at byte {pos} runs out of its block")
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_size]))
        pos += value_size
    return entries


def read_table_bytes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of a table held in memory, in key order (see the module docstring).

    Raises:
        InputError: truncated or corrupt table (bad footer, checksum, entry bounds, unsorted
            keys) or a compressed block.
    """
    index = _block_entries(_block(data, _footer(data), "index block"), "index block")
    entries: list[tuple[bytes, bytes]] = []
    for number, (_, value) in enumerate(index):
        handle, _ = _handle(value, 0)
        what = f"data block {number}"
        entries.extend(_block_entries(_block(data, handle, what), what))
    for (before, _), (after, _) in zip(entries, entries[1:]):
        if not before < after:
            raise InputError(f"corrupt table: keys out of order ({before!r} then {after!r})")
    return entries


def read_table(path: str | Path) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of the table file at ``path`` (:func:`read_table_bytes`), errors
    prefixed with the path.

    Raises:
        InputError: missing file, or as :func:`read_table_bytes`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"table file {path} does not exist")
    try:
        return read_table_bytes(path.read_bytes())
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def _example_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A block of whole keys (no prefix sharing, one restart point), for the examples and tests."""
    body = b"".join(bytes([0, len(k), len(v)]) + k + v for k, v in entries)
    block = body + _UINT32.pack(0) + _UINT32.pack(1)
    return block + b"\x00" + _UINT32.pack(masked_crc32c(block + b"\x00"))


def _example_table(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A one-data-block table of short entries (each key and value under 128 bytes)."""
    data = _example_block(entries)
    handle = bytes([0, len(data) - _TRAILER_SIZE])
    meta = _example_block([])
    index = _example_block([(entries[-1][0], handle)])
    meta_handle = bytes([len(data), len(meta) - _TRAILER_SIZE])
    index_handle = bytes([len(data) + len(meta), len(index) - _TRAILER_SIZE])
    footer = (meta_handle + index_handle).ljust(FOOTER_SIZE - 8, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    return data + meta + index + footer
