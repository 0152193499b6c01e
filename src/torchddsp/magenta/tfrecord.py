"""TFRecord files and ``tf.train.Example`` records, read without TensorFlow.

A TFRecord file is a sequence of records, each::

    uint64 length            little-endian
    uint32 masked_crc32c(length bytes)
    bytes  data[length]
    uint32 masked_crc32c(data)

(:mod:`~torchddsp.magenta.crc32c`); both checksums are verified, and a file that ends inside a
record is an error, not a shorter dataset. GZIP-compressed files (``.gz``, or
``compression="gzip"``) are read the same way through :mod:`gzip`.

Magenta's ``ddsp_prepare_tfrecord`` writes one ``tf.train.Example`` per record; sharded
outputs are named ``<prefix>-SSSSS-of-NNNNN`` (``train.tfrecord-00003-of-00010``), and
Magenta's readers take a glob pattern (``train.tfrecord*``): :func:`tfrecord_files` expands
one and checks that no shard is missing.

Example:
    >>> import io
    >>> import struct
    >>> from torchddsp.magenta.crc32c import masked_crc32c
    >>> data = bytes.fromhex("0a0c" "0a0a" "0a0178" "1205" "1a030a0109")  # {"x": Int64List [9]}
    >>> header = struct.pack("<Q", len(data))
    >>> record = header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))
    >>> list(iter_records(io.BytesIO(record)))[0] == data
    True
    >>> parse_example(data)["x"]
    array([9])
"""

from __future__ import annotations

import glob
import gzip
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from typing import cast

import numpy as np

from ..validation import InputError
from .crc32c import masked_crc32c
from .protobuf import iter_fields
from .protobuf import packed_floats
from .protobuf import packed_varints
from .protobuf import signed_int64

__all__ = ["iter_records", "read_records", "parse_example", "read_examples", "tfrecord_files", "COMPRESSIONS"]

#: ``compression`` values: ``"auto"`` (GZIP when the name ends in ``.gz``), ``"gzip"``, ``None``.
COMPRESSIONS = ("auto", "gzip", None)
_HEADER = struct.Struct("<QI")  # length, masked CRC of the length's 8 bytes
_CRC = struct.Struct("<I")
_SHARD = re.compile(r"^(?P<prefix>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})(?P<suffix>(\.[A-Za-z0-9]+)*)$")
# Field numbers of tf.train.Example (tensorflow/core/example/{example,feature}.proto).
_EXAMPLE_FEATURES = 1
_FEATURES_MAP = 1
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_BYTES_LIST, _FLOAT_LIST, _INT64_LIST = 1, 2, 3
_LIST_VALUE = 1
_VARINT, _FIXED32, _LENGTH_DELIMITED = 0, 5, 2


def _read_exactly(stream: BinaryIO, size: int, name: str, what: str, offset: int) -> bytes:
    """``size`` bytes, or an error saying the file ends inside a record (truncated)."""
    data = stream.read(size)
    if len(data) != size:
        raise InputError(
            f"{name}: truncated TFRecord file: it ends inside {what} at byte {offset} "
            f"({len(data)} of {size} bytes); the file was cut short (an interrupted copy or download?)"
        )
    return data


def iter_records(stream: BinaryIO, name: str = "<stream>") -> Iterator[bytes]:
    """The records of an open (decompressed) TFRecord stream, each checked against its CRCs.

    Args:
        stream: binary file-like object positioned at the first record.
        name: what error messages call it (the file's path).

    Raises:
        InputError: a length or data checksum does not match (corrupt file), or the stream
            ends inside a record (truncated file); the message gives the record and byte offset.
    """
    offset, index = 0, 0
    while True:
        first = stream.read(1)
        if not first:  # the end, between records
            return
        header = first + _read_exactly(stream, _HEADER.size - 1, name, f"the header of record {index}", offset + 1)
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            raise InputError(
                f"{name}: corrupt TFRecord file: the length of record {index} (byte {offset}) "
                "fails its checksum; the file is damaged or not a TFRecord file"
            )
        data = _read_exactly(stream, length, name, f"the data of record {index}", offset + _HEADER.size)
        crc_offset = offset + _HEADER.size + length
        (data_crc,) = _CRC.unpack(_read_exactly(stream, _CRC.size, name, f"the checksum of record {index}", crc_offset))
        if masked_crc32c(data) != data_crc:
            raise InputError(
                f"{name}: corrupt TFRecord file: the data of record {index} (bytes {offset + _HEADER.size}"
                f"..{crc_offset - 1}) fails its checksum; the file is damaged"
            )
        yield data
        offset, index = crc_offset + _CRC.size, index + 1


def _is_gzip(path: Path, compression: str | None) -> bool:
    if compression not in COMPRESSIONS:
        raise InputError(f"compression must be one of {COMPRESSIONS}, found {compression!r}")
    return compression == "gzip" or (compression == "auto" and path.suffix.lower() == ".gz")


def read_records(path: str | Path, compression: str | None = "auto") -> Iterator[bytes]:
    """The records of one TFRecord file, checked (see :func:`iter_records`).

    Args:
        path: the file.
        compression: ``"auto"`` (GZIP when the name ends in ``.gz``), ``"gzip"`` or ``None``.

    Raises:
        InputError: missing file, corrupt or truncated records, or broken GZIP data.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TFRecord file {path} does not exist")
    gzipped = _is_gzip(path, compression)
    with path.open("rb") as raw:
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
        try:
            yield from iter_records(stream, str(path))
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:  # GZIP data cut short or damaged
            raise InputError(f"{path}: broken GZIP data ({error}); the file is damaged or cut short") from None


def _merged(data: bytes, expected: dict[int, int], what: str) -> dict[int, bytes]:
    """The length-delimited fields ``expected`` (number -> wire type) of a message, each
    occurrence of one field appended to the previous (protobuf merges a sub-message given
    twice); other fields are ignored (unknown fields are allowed)."""
    parts: dict[int, list[bytes]] = {}
    for number, wire_type, value in iter_fields(data):
        if number in expected:
            if wire_type != expected[number]:
                raise InputError(f"malformed tf.train.Example: field {number} of {what} has wire type {wire_type}")
            parts.setdefault(number, []).append(cast(bytes, value))  # wire type 2: bytes
    return {number: b"".join(values) for number, values in parts.items()}


def _decode_list(kind: int, data: bytes) -> np.ndarray:
    """The values of a BytesList, FloatList or Int64List message (packed or not)."""
    if kind == _BYTES_LIST:
        items = [value for number, _, value in iter_fields(data) if number == _LIST_VALUE]
        if any(not isinstance(item, bytes) for item in items):
            raise InputError("malformed tf.train.Example: a BytesList value is not length-delimited")
        array = np.empty(len(items), dtype=object)
        array[:] = items
        return array
    floats: list[float] = []
    ints: list[int] = []
    for number, wire_type, value in iter_fields(data):
        if number != _LIST_VALUE:
            continue
        if kind == _FLOAT_LIST and wire_type in (_FIXED32, _LENGTH_DELIMITED):  # unpacked, packed
            floats.extend(packed_floats(cast(bytes, value)))
        elif kind == _INT64_LIST and wire_type == _VARINT:  # unpacked
            ints.append(signed_int64(cast(int, value)))
        elif kind == _INT64_LIST and wire_type == _LENGTH_DELIMITED:  # packed
            ints.extend(signed_int64(v) for v in packed_varints(cast(bytes, value)))
        else:
            raise InputError(f"malformed tf.train.Example: list value with wire type {wire_type}")
    if kind == _FLOAT_LIST:
        return np.asarray(floats, dtype=np.float32)
    return np.asarray(ints, dtype=np.int64)


def _decode_feature(data: bytes) -> np.ndarray:
    """A ``Feature``: its ``oneof`` list (the last kind given wins, as in protobuf; a kind given
    twice in a row is merged). A Feature with no list set is an empty float32 array."""
    kind: int | None = None
    parts: list[bytes] = []
    for number, wire_type, value in iter_fields(data):
        if number not in (_BYTES_LIST, _FLOAT_LIST, _INT64_LIST):
            continue
        if wire_type != _LENGTH_DELIMITED:
            raise InputError(f"malformed tf.train.Example: Feature field {number} has wire type {wire_type}")
        if number != kind:
            kind, parts = number, []
        parts.append(cast(bytes, value))
    if kind is None:
        return np.zeros(0, dtype=np.float32)
    return _decode_list(kind, b"".join(parts))


def parse_example(data: bytes) -> dict[str, np.ndarray]:
    """A serialized ``tf.train.Example`` as ``{key: values}``, what ``tf.io.parse_single_example``
    gives for each key's own type.

    Shape:
        every value is 1-D: float32 (FloatList), int64 (Int64List) or an object array of
        ``bytes`` (BytesList); a ``Feature`` with no list set gives an empty float32 array.
        A key given twice keeps its last value (protobuf's map rule).

    Raises:
        InputError: the bytes are not a well-formed ``Example``.

    Example:
        >>> parse_example(bytes([0x0A, 0x0F, 0x0A, 0x0D, 0x0A, 0x01, 0x66, 0x12, 0x08, 0x12, 0x06, 0x0A, 0x04, 0, 0, 0xC0, 0x3F]))
        {'f': array([1.5], dtype=float32)}
    """
    features = _merged(data, {_EXAMPLE_FEATURES: _LENGTH_DELIMITED}, "Example").get(_EXAMPLE_FEATURES, b"")
    parsed: dict[str, np.ndarray] = {}
    for number, wire_type, entry in iter_fields(features):
        if number != _FEATURES_MAP:
            continue
        if wire_type != _LENGTH_DELIMITED:
            raise InputError(f"malformed tf.train.Example: a Features entry has wire type {wire_type}")
        # A map entry is a message {key = 1, value = 2}; a missing key is "", a missing value empty.
        fields = _merged(
            cast(bytes, entry), {_ENTRY_KEY: _LENGTH_DELIMITED, _ENTRY_VALUE: _LENGTH_DELIMITED}, "an entry"
        )
        try:
            key = fields.get(_ENTRY_KEY, b"").decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("malformed tf.train.Example: a feature key is not UTF-8") from None
        parsed[key] = _decode_feature(fields.get(_ENTRY_VALUE, b""))
    return parsed


def tfrecord_files(pattern: str | Path) -> list[Path]:
    """The files a path or glob pattern names, sorted, with no shard of a sharded set missing.

    Args:
        pattern: a file (``train.tfrecord-00000-of-00002``), a glob pattern as Magenta's
            ``file_pattern`` (``data/train.tfrecord*``) or a folder (every file in it).

    Raises:
        InputError: nothing matches, or files ``<prefix>-SSSSS-of-NNNNN`` are matched but not
            all ``NNNNN`` of a prefix (a partial download would train on part of the data).

    Example:
        >>> tfrecord_files("no/such/train.tfrecord*")
        Traceback (most recent call last):
        ...
        torchddsp.validation.InputError: no TFRecord file matches no/such/train.tfrecord*
    """
    text = str(pattern)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    elif glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    else:
        files = [path] if path.is_file() else []
    if not files:
        raise InputError(f"no TFRecord file matches {text}")
    _check_shards(files, text)
    return files


def _check_shards(files: list[Path], pattern: str) -> None:
    """Every shard of each sharded set among ``files`` is there (one of them names the set)."""
    sets: dict[tuple[str, int, str], set[int]] = {}
    for file in files:
        match = _SHARD.match(str(file))
        if match:
            key = (match["prefix"], int(match["count"]), match["suffix"])
            sets.setdefault(key, set()).add(int(match["index"]))
    for (prefix, count, suffix), found in sets.items():
        missing = sorted(set(range(count)) - found)
        names = [f"{Path(prefix).name}-{i:05d}-of-{count:05d}{suffix}" for i in missing]
        if missing:
            raise InputError(
                f"{pattern}: the sharded set {prefix}-*-of-{count:05d}{suffix} is incomplete: missing "
                f"{len(missing)} of {count} shards ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            )
        if max(found) >= count:
            raise InputError(f"{pattern}: {prefix}-{max(found):05d}-of-{count:05d}{suffix} is past its set's count")


def read_examples(
    pattern: str | Path, compression: str | None = "auto"
) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    """Every ``tf.train.Example`` of the files :func:`tfrecord_files` finds, in file order:
    ``(file, {key: values})`` (see :func:`parse_example`)."""
    for path in tfrecord_files(pattern):
        for record in read_records(path, compression):
            yield path, parse_example(record)
