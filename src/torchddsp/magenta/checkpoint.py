"""TensorFlow 2 checkpoints (tensor bundles) read without TensorFlow: Magenta's ``ckpt-N.index``
plus ``ckpt-N.data-0000S-of-0000N``.

A checkpoint ``PREFIX`` is two kinds of files:

- ``PREFIX.index``: a sorted string table (:mod:`~torchddsp.magenta.sstable`) mapping each
  tensor's key to a ``BundleEntryProto`` (dtype, shape, shard, byte offset and size in that
  shard, masked CRC-32C of the bytes, slices); the empty key holds a ``BundleHeaderProto``
  (number of shards, endianness, format version);
- ``PREFIX.data-0000S-of-0000N``: the tensors' bytes, little-endian, row-major; a string tensor
  is its elements' lengths (varints), a masked CRC-32C of those lengths (each as uint32), then the
  elements' bytes.

Every tensor's checksum is verified. Big-endian bundles and partitioned (sliced) variables are
refused; TensorFlow's training checkpoints (Magenta's among them) are neither.

Keys are returned as stored: a TF2 object-based checkpoint names a variable by its path in the
saved object graph, e.g. ``model/decoder/dense_out/kernel/.ATTRIBUTES/VARIABLE_VALUE``; the
graph itself is the string tensor ``_CHECKPOINTABLE_OBJECT_GRAPH`` (:func:`read_object_graph`).

Example:
    >>> from pathlib import Path
    >>> DATA = Path(__file__).parents[3] / "tests" / "data" / "magenta" / "checkpoint"  # in a source checkout
    >>> entries = list_checkpoint(DATA / "dtypes")
    >>> entries["model/values/float32_matrix/.ATTRIBUTES/VARIABLE_VALUE"].shape
    (3, 5)
    >>> values = read_checkpoint(DATA / "dtypes")
    >>> values["model/values/int32_scalar/.ATTRIBUTES/VARIABLE_VALUE"]
    array(-123456, dtype=int32)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..validation import InputError
from .crc32c import crc32c
from .crc32c import unmask_crc32c
from .object_graph import OBJECT_GRAPH_KEY
from .object_graph import TrackableNode
from .object_graph import parse_object_graph
from .protobuf import parse_message
from .protobuf import read_varint
from .protobuf import signed_int64
from .sstable import read_table

__all__ = ["TensorEntry", "checkpoint_prefix", "list_checkpoint", "read_checkpoint", "read_object_graph", "DTYPES"]

# TensorFlow's DataType enum (tensorflow/core/framework/types.proto) -> name, numpy dtype
# (little-endian); bfloat16 has no numpy dtype and is widened to float32 on reading.
DTYPES: dict[int, tuple[str, str | None]] = {
    1: ("float32", "<f4"),
    2: ("float64", "<f8"),
    3: ("int32", "<i4"),
    4: ("uint8", "u1"),
    5: ("int16", "<i2"),
    6: ("int8", "i1"),
    7: ("string", None),
    8: ("complex64", "<c8"),
    9: ("int64", "<i8"),
    10: ("bool", "?"),
    14: ("bfloat16", "<u2"),
    17: ("uint16", "<u2"),
    18: ("complex128", "<c16"),
    19: ("float16", "<f2"),
    22: ("uint32", "<u4"),
    23: ("uint64", "<u8"),
}
_STRING = 7
_BIG_ENDIAN = 1
_FORMAT_VERSION = 1  # kTensorBundleVersion: readers refuse bundles whose min_consumer is above it
# Field numbers (tensorflow/core/protobuf/tensor_bundle.proto, framework/tensor_shape.proto).
_HEADER_SHARDS, _HEADER_ENDIANNESS, _HEADER_VERSION = 1, 2, 3
_VERSION_MIN_CONSUMER = 2
_ENTRY_DTYPE, _ENTRY_SHAPE, _ENTRY_SHARD, _ENTRY_OFFSET, _ENTRY_SIZE, _ENTRY_CRC, _ENTRY_SLICES = range(1, 8)
_SHAPE_DIM, _SHAPE_UNKNOWN_RANK, _DIM_SIZE = 2, 3, 1
_CHECKPOINT_STATE = re.compile(r'^model_checkpoint_path:\s*"(?P<path>(?:[^"\\]|\\.)*)"', re.MULTILINE)
_NUMBERED_INDEX = re.compile(r"^(?P<stem>.*)-(?P<step>\d+)\.index$")
_DATA_FILE = re.compile(r"\.data-\d{5}-of-\d{5}$")


@dataclass(frozen=True)
class TensorEntry:
    """Where and what one tensor of a checkpoint is (its ``BundleEntryProto``).

    Fields: ``key``; ``dtype``: TensorFlow's name (``"float32"``, ``"bfloat16"``,
    ``"string"`` ...; see :data:`DTYPES`); ``shape``: a tuple of ints (``()`` for a scalar);
    ``shard``: which data file; ``offset``, ``size``: its bytes in that file; ``crc32c``: the
    masked CRC-32C TensorFlow stored; ``sliced``: a partitioned variable (not readable here).
    """

    key: str
    dtype: str
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int
    sliced: bool


def _message_int(fields: dict, number: int, default: int = 0) -> int:
    """A varint field's value (a singular field set twice: the last value wins)."""
    value = fields.get(number, [default])[-1]
    if not isinstance(value, int):
        raise InputError(f"malformed checkpoint entry: field {number} is not a varint")
    return value


def _fixed32(fields: dict, number: int) -> int:
    value = fields.get(number, [bytes(4)])[-1]
    if not isinstance(value, bytes) or len(value) != 4:
        raise InputError(f"malformed checkpoint entry: field {number} is not a fixed32")
    return int.from_bytes(value, "little")


def _submessage(value: int | bytes) -> dict:
    if not isinstance(value, bytes):
        raise InputError("malformed checkpoint entry: a message field holds a varint")
    return parse_message(value)


def _parse_shape(data: int | bytes, key: str) -> tuple[int, ...]:
    fields = _submessage(data)
    if _message_int(fields, _SHAPE_UNKNOWN_RANK):
        raise InputError(f"checkpoint tensor {key!r} has an unknown rank")
    shape = tuple(signed_int64(_message_int(_submessage(dim), _DIM_SIZE)) for dim in fields.get(_SHAPE_DIM, []))
    if any(size < 0 for size in shape):
        raise InputError(f"checkpoint tensor {key!r} has an invalid shape {shape}")
    return shape


def _parse_entry(key: str, data: bytes) -> TensorEntry:
    fields = parse_message(data)
    code = _message_int(fields, _ENTRY_DTYPE)
    if code not in DTYPES:
        raise InputError(
            f"checkpoint tensor {key!r} has TensorFlow dtype {code}, which is not read here "
            f"(supported: {', '.join(name for name, _ in DTYPES.values())})"
        )
    shape_bytes = fields.get(_ENTRY_SHAPE, [b""])[-1]
    return TensorEntry(
        key=key,
        dtype=DTYPES[code][0],
        shape=_parse_shape(shape_bytes, key),
        shard=_message_int(fields, _ENTRY_SHARD),
        offset=_message_int(fields, _ENTRY_OFFSET),
        size=_message_int(fields, _ENTRY_SIZE),
        crc32c=_fixed32(fields, _ENTRY_CRC),
        sliced=bool(fields.get(_ENTRY_SLICES)),
    )


def checkpoint_prefix(path: str | Path) -> Path:
    """The checkpoint prefix ``path`` names: a prefix (``run/ckpt-40000``), its ``.index`` or a
    ``.data-*`` file, or a directory (the checkpoint its ``checkpoint`` file names, else its
    only ``.index`` file, else the highest-numbered ``*-N.index``).

    Raises:
        InputError: no checkpoint there, or a directory with several unnumbered ones.
    """
    path = Path(path)
    if path.is_dir():
        return _prefix_in_directory(path)
    for candidate in (path, path.with_name(_DATA_FILE.sub("", path.name))):
        stem = candidate.with_suffix("") if candidate.suffix == ".index" else candidate
        if Path(f"{stem}.index").is_file():
            return stem
    raise InputError(f"checkpoint: no TensorFlow checkpoint at {path} (expected PREFIX.index beside PREFIX.data-*)")


def _prefix_in_directory(directory: Path) -> Path:
    state = directory / "checkpoint"
    if state.is_file():
        match = _CHECKPOINT_STATE.search(state.read_text(errors="replace"))
        if match:  # often an absolute path from the machine that trained: look beside the file
            name = re.sub(r"\\(.)", r"\1", match["path"]).replace("\\", "/").rsplit("/", 1)[-1]
            if (directory / f"{name}.index").is_file():
                return directory / name
    indexes = sorted(directory.glob("*.index"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    numbered = [(int(m["step"]), m["stem"]) for p in indexes if (m := _NUMBERED_INDEX.match(p.name))]
    if indexes and len(numbered) == len(indexes):
        step, stem = max(numbered)
        return directory / f"{stem}-{step}"
    found = ", ".join(p.name for p in indexes) or "none"
    raise InputError(f"checkpoint: cannot tell which checkpoint of {directory} to read (.index files: {found})")


def _check_header(data: bytes, index: Path) -> int:
    """The number of data shards, after refusing big-endian or too-new bundles."""
    fields = parse_message(data)
    if _message_int(fields, _HEADER_ENDIANNESS) == _BIG_ENDIAN:
        raise InputError(f"{index}: a big-endian checkpoint; only little-endian bundles are read")
    version = _submessage(fields.get(_HEADER_VERSION, [b""])[-1])
    if _message_int(version, _VERSION_MIN_CONSUMER) > _FORMAT_VERSION:
        raise InputError(f"{index}: the checkpoint needs a newer bundle reader (format version > {_FORMAT_VERSION})")
    shards = _message_int(fields, _HEADER_SHARDS)
    if shards < 1:
        raise InputError(f"{index}: the checkpoint header gives {shards} data shards")
    return shards


def _read_index(prefix: Path) -> tuple[int, dict[str, TensorEntry]]:
    index = Path(f"{prefix}.index")
    table = read_table(index)
    if not table or table[0][0] != b"":
        raise InputError(f"{index}: no bundle header (the table's first key is not empty)")
    shards = _check_header(table[0][1], index)
    entries = {}
    for raw_key, value in table[1:]:
        if raw_key.startswith(b"\x00"):  # the data of one slice of a partitioned variable
            continue
        try:
            key = raw_key.decode("utf-8")
            entries[key] = _parse_entry(key, value)
        except (UnicodeDecodeError, InputError) as error:
            raise InputError(f"{index}: entry {raw_key!r}: {error}") from None
        if entries[key].shard >= shards and not entries[key].sliced:
            raise InputError(f"{index}: tensor {key!r} is in shard {entries[key].shard} of {shards}")
    return shards, entries


def list_checkpoint(path: str | Path) -> dict[str, TensorEntry]:
    """Every tensor of a checkpoint, key -> :class:`TensorEntry`, read from its ``.index`` only
    (no tensor data is read). ``path``: see :func:`checkpoint_prefix`.

    Raises:
        InputError: missing, truncated or corrupt index; big-endian or unknown-version bundle.

    Example:
        >>> DATA = Path(__file__).parents[3] / "tests" / "data" / "magenta" / "checkpoint"
        >>> entries = list_checkpoint(DATA / "dtypes" / "ckpt-7")
        >>> entry = entries["model/values/string_matrix/.ATTRIBUTES/VARIABLE_VALUE"]
        >>> entry.dtype, entry.shape
        ('string', (2, 2))
    """
    return _read_index(checkpoint_prefix(path))[1]


def _read_bytes(prefix: Path, shards: int, entry: TensorEntry) -> bytearray:
    data_file = Path(f"{prefix}.data-{entry.shard:05d}-of-{shards:05d}")
    if not data_file.is_file():
        raise InputError(f"checkpoint tensor {entry.key!r}: its data file {data_file} does not exist")
    with data_file.open("rb") as file:
        file.seek(entry.offset)
        raw = bytearray(entry.size)
        got = file.readinto(raw)
    if got != entry.size:
        raise InputError(
            f"checkpoint tensor {entry.key!r}: {data_file} is truncated (bytes {entry.offset}.."
            f"{entry.offset + entry.size - 1} wanted, the file ends after {entry.offset + got})"
        )
    return raw


def _checksum_error(entry: TensorEntry, what: str, computed: int) -> InputError:
    return InputError(
        f"checkpoint tensor {entry.key!r}: {what} fails its CRC-32C check (stored "
        f"{unmask_crc32c(entry.crc32c):#010x}, computed {computed:#010x}); the data file is corrupt"
    )


def _decode_strings(data: bytearray, entry: TensorEntry) -> np.ndarray:
    """A string tensor's elements: varint lengths, a masked CRC of them, then the bytes."""
    raw = bytes(data)
    count = int(np.prod(entry.shape, dtype=np.int64))
    lengths, pos = [], 0
    for _ in range(count):
        length, pos = read_varint(raw, pos)
        lengths.append(length)
    # The checksums cover each length as a little-endian uint32 (uint64 above 4 GiB), not a varint.
    length_bytes = b"".join(n.to_bytes(4 if n < 1 << 32 else 8, "little") for n in lengths)
    stored = raw[pos : pos + 4]
    if pos + 4 + sum(lengths) != len(raw):
        raise InputError(f"checkpoint tensor {entry.key!r}: its string lengths do not add up to its {len(raw)} bytes")
    if unmask_crc32c(int.from_bytes(stored, "little")) != crc32c(length_bytes):
        raise _checksum_error(entry, "its string lengths", crc32c(length_bytes))
    computed = crc32c(length_bytes + stored + raw[pos + 4 :])
    if computed != unmask_crc32c(entry.crc32c):
        raise _checksum_error(entry, "its data", computed)
    values, pos = np.empty(count, dtype=object), pos + 4
    for element, length in enumerate(lengths):
        values[element] = bytes(raw[pos : pos + length])
        pos += length
    return values.reshape(entry.shape)


def _decode(raw: bytearray, entry: TensorEntry) -> np.ndarray:
    if entry.dtype == "string":
        if entry.size == 0:  # TensorFlow writes nothing for an empty string tensor
            return np.empty(entry.shape, dtype=object)
        return _decode_strings(raw, entry)
    computed = crc32c(raw)
    if computed != unmask_crc32c(entry.crc32c):
        raise _checksum_error(entry, "its data", computed)
    dtype = np.dtype(dict(DTYPES.values())[entry.dtype])
    count = int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != count * dtype.itemsize:
        raise InputError(f"checkpoint tensor {entry.key!r}: {entry.size} bytes for {count} {entry.dtype} values")
    values = np.frombuffer(raw, dtype=dtype).reshape(entry.shape)
    if entry.dtype == "bfloat16":  # the upper half of a float32: widening is exact
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values


def read_checkpoint(path: str | Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors of a TF checkpoint, key (as stored) -> numpy array, each checked against its
    CRC-32C. ``path``: see :func:`checkpoint_prefix`; ``keys``: only these (default: all).

    Shape: each array has its stored shape (``()`` for scalars) and dtype, little-endian; strings
    are object arrays of ``bytes``; bfloat16 is widened to float32 (exactly).

    Raises:
        InputError: a missing key, file or shard; truncated or corrupt files (checksums);
            big-endian bundles; partitioned (sliced) variables; unsupported dtypes.

    Example:
        >>> DATA = Path(__file__).parents[3] / "tests" / "data" / "magenta" / "checkpoint"
        >>> values = read_checkpoint(DATA / "dtypes", ["model/decoder/bias/.ATTRIBUTES/VARIABLE_VALUE"])
        >>> values["model/decoder/bias/.ATTRIBUTES/VARIABLE_VALUE"].shape
        (4,)
    """
    prefix = checkpoint_prefix(path)
    shards, entries = _read_index(prefix)
    wanted = list(entries) if keys is None else list(keys)
    values = {}
    for key in wanted:
        if key not in entries:
            raise InputError(f"keys: {key!r} is not in the checkpoint {prefix}")
        entry = entries[key]
        if entry.sliced:
            raise InputError(
                f"checkpoint tensor {key!r} is a partitioned variable (saved as slices); "
                "only whole tensors are read (TensorFlow's training checkpoints store them whole)"
            )
        values[key] = _decode(_read_bytes(prefix, shards, entry), entry)
    return values


def read_object_graph(path: str | Path) -> list[TrackableNode]:
    """The saved object graph of a TF2 checkpoint (its ``_CHECKPOINTABLE_OBJECT_GRAPH``), node 0
    the root; see :mod:`~torchddsp.magenta.object_graph`.

    Raises:
        InputError: as :func:`read_checkpoint`, or a TF1 checkpoint without an object graph.

    Example:
        >>> DATA = Path(__file__).parents[3] / "tests" / "data" / "magenta" / "checkpoint"
        >>> graph = read_object_graph(DATA / "dtypes")
        >>> [name for name, _ in graph[0].children][:2]
        ['model', 'optimizer']
    """
    prefix = checkpoint_prefix(path)
    if OBJECT_GRAPH_KEY not in list_checkpoint(prefix):
        raise InputError(f"checkpoint {prefix} has no {OBJECT_GRAPH_KEY} (a TF1 name-based checkpoint?)")
    data = read_checkpoint(prefix, [OBJECT_GRAPH_KEY])[OBJECT_GRAPH_KEY]
    return parse_object_graph(bytes(data.reshape(())[()]))
