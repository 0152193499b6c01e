"""TF2 checkpoints read without TensorFlow (torchddsp.magenta.checkpoint, .sstable,
.object_graph), against TensorFlow's own reader: fixtures written by
benchmarks/peers/magenta_checkpoint_fixture.py (TensorFlow 2.15.1 saved the checkpoints and
``tf.train.load_checkpoint`` wrote every tensor's value).

Bugs caught: a wrong dtype code or byte order, a lost shape (scalars, 0-size, rank 3), string
tensors misparsed (lengths, checksum placement), bfloat16 widened wrongly, the shard file name or
shard id ignored, keys rebuilt wrongly from their shared prefixes, a checksum not verified
(tensor data, string lengths, index blocks), a truncated index or shard read as shorter data,
partitioned variables read as their first slice, the directory layout (``checkpoint`` file)
misread, and object-graph paths that do not rebuild the stored keys.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from torchddsp.magenta import sstable
from torchddsp.magenta.checkpoint import checkpoint_prefix
from torchddsp.magenta.checkpoint import list_checkpoint
from torchddsp.magenta.checkpoint import read_checkpoint
from torchddsp.magenta.checkpoint import read_object_graph
from torchddsp.magenta.crc32c import masked_crc32c
from torchddsp.magenta.object_graph import object_paths
from torchddsp.magenta.sstable import FOOTER_SIZE
from torchddsp.magenta.sstable import read_table
from torchddsp.validation import InputError

DATA = Path(__file__).resolve().parents[1] / "data" / "magenta" / "checkpoint"
FLOAT_KEY = "model/values/float32_matrix/.ATTRIBUTES/VARIABLE_VALUE"
STRING_KEY = "model/values/string_matrix/.ATTRIBUTES/VARIABLE_VALUE"


def tensorflow_values(name: str) -> dict[str, tuple[str, np.ndarray]]:
    """What ``tf.train.load_checkpoint`` returned for fixture ``name``: key -> (TF dtype, value)."""
    with np.load(DATA / f"{name}_values.npz") as data:
        out = {}
        for index, (key, dtype) in enumerate(zip(data["keys"], data["dtypes"])):
            if f"t{index}" in data:
                out[str(key)] = (str(dtype), data[f"t{index}"])
                continue
            blob, lengths = data[f"t{index}_bytes"].tobytes(), data[f"t{index}_lengths"]
            ends = np.cumsum(lengths)
            items = np.empty(len(lengths), dtype=object)
            items[:] = [blob[end - length : end] for end, length in zip(ends, lengths)]
            out[str(key)] = (str(dtype), items.reshape(tuple(data[f"t{index}_shape"])))
        return out


def copy_fixture(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(DATA / name, target)
    return target


@pytest.mark.parametrize("name", ["dtypes", "sharded"])
def test_every_tensor_equals_tensorflows_value_exactly(name):
    expected = tensorflow_values(name)
    values = read_checkpoint(DATA / name)
    assert sorted(values) == sorted(expected)
    for key, (dtype, reference) in expected.items():
        value = values[key]
        assert value.shape == reference.shape, key
        if dtype == "string":
            assert value.dtype == object and value.reshape(-1).tolist() == reference.reshape(-1).tolist(), key
        else:
            # bfloat16: TensorFlow's values were widened to float32 by numpy, exactly as here.
            assert value.dtype == reference.dtype, key
            assert value.tobytes() == reference.tobytes(), key


def test_listing_gives_tensorflows_dtypes_and_shapes_without_reading_data(tmp_path):
    folder = copy_fixture("dtypes", tmp_path)
    for data_file in folder.glob("*.data-*"):
        data_file.unlink()  # the listing must not need the data
    entries = list_checkpoint(folder)
    expected = tensorflow_values("dtypes")
    assert sorted(entries) == sorted(expected)
    for key, (dtype, reference) in expected.items():
        assert (entries[key].dtype, entries[key].shape) == (dtype, reference.shape), key
    with pytest.raises(InputError, match="data file .* does not exist"):
        read_checkpoint(folder, [FLOAT_KEY])


def test_cases_the_fixture_must_cover_are_there():
    # Guards the fixture itself: scalars, 0-size tensors, strings, both shards.
    entries = list_checkpoint(DATA / "dtypes")
    shapes = {entry.shape for entry in entries.values()}
    assert () in shapes and (0, 3) in shapes and (0, 2) in shapes and (2, 3, 4) in shapes
    assert {"string", "bfloat16", "float16", "bool", "int64", "complex128"} <= {e.dtype for e in entries.values()}
    assert {entry.shard for entry in list_checkpoint(DATA / "sharded").values()} == {0, 1}


@pytest.mark.parametrize("spelling", ["dir", "prefix", "index", "data"])
def test_the_checkpoint_is_found_from_a_directory_prefix_or_file(spelling):
    prefix = DATA / "dtypes" / "ckpt-7"
    path = {
        "dir": DATA / "dtypes",
        "prefix": prefix,
        "index": Path(f"{prefix}.index"),
        "data": Path(f"{prefix}.data-00000-of-00001"),
    }[spelling]
    assert checkpoint_prefix(path) == prefix


def test_a_directory_without_a_checkpoint_file_takes_the_highest_step(tmp_path):
    for step in (9, 10):  # 10 sorts before 9 as text: the step must be compared as a number
        for path in (DATA / "sharded").iterdir():
            shutil.copy(path, tmp_path / path.name.replace("ckpt-1", f"ckpt-{step}"))
    assert checkpoint_prefix(tmp_path) == tmp_path / "ckpt-10"
    with pytest.raises(InputError, match="no TensorFlow checkpoint"):
        checkpoint_prefix(tmp_path / "ckpt-3")


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("key", [FLOAT_KEY, STRING_KEY])
def test_a_flipped_data_byte_fails_the_tensors_checksum(tmp_path, key):
    folder = copy_fixture("dtypes", tmp_path)
    entry = list_checkpoint(folder)[key]
    # The last byte: in a string tensor, one of the string bytes (after the lengths' checksum).
    flip_byte(folder / "ckpt-7.data-00000-of-00001", entry.offset + entry.size - 1)
    with pytest.raises(InputError, match="CRC-32C"):
        read_checkpoint(folder, [key])
    other = "model/values/float64_vector/.ATTRIBUTES/VARIABLE_VALUE"
    assert read_checkpoint(folder, [other])[other].shape == (7,)  # only that tensor is corrupt


def test_string_lengths_and_their_checksum_are_checked(tmp_path):
    folder = copy_fixture("dtypes", tmp_path)
    entry = list_checkpoint(folder)[STRING_KEY]
    shard = folder / "ckpt-7.data-00000-of-00001"
    # Lengths 0, 1, 200, 5 as varints (00 01 c8 01 05: 5 bytes), then their masked CRC-32C.
    assert shard.read_bytes()[entry.offset : entry.offset + 5] == bytes([0, 1, 0xC8, 1, 5])
    flip_byte(shard, entry.offset + 5)
    with pytest.raises(InputError, match="string lengths fails its CRC-32C"):
        read_checkpoint(folder, [STRING_KEY])
    flip_byte(shard, entry.offset + 5)  # restored
    flip_byte(shard, entry.offset + 4)  # the last length: 5 -> 4
    with pytest.raises(InputError, match="string lengths"):
        read_checkpoint(folder, [STRING_KEY])


def test_a_flipped_index_byte_fails_the_blocks_checksum(tmp_path):
    folder = copy_fixture("dtypes", tmp_path)
    flip_byte(folder / "ckpt-7.index", 40)  # inside the first data block's keys
    with pytest.raises(InputError, match="data block 0 .* fails its CRC-32C"):
        list_checkpoint(folder)


@pytest.mark.parametrize("keep", [0, 30, 200, -FOOTER_SIZE, -1])
def test_a_truncated_index_is_a_clear_error(tmp_path, keep):
    folder = copy_fixture("dtypes", tmp_path)
    index = folder / "ckpt-7.index"
    data = index.read_bytes()
    index.write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])
    with pytest.raises(InputError, match="truncated table|not a table"):
        list_checkpoint(folder)


def test_a_truncated_shard_is_a_clear_error(tmp_path):
    folder = copy_fixture("dtypes", tmp_path)
    shard = folder / "ckpt-7.data-00000-of-00001"
    entry = list_checkpoint(folder)[FLOAT_KEY]
    shard.write_bytes(shard.read_bytes()[: entry.offset + entry.size - 1])
    with pytest.raises(InputError, match="truncated"):
        read_checkpoint(folder, [FLOAT_KEY])


def test_partitioned_variables_are_refused_and_whole_ones_read():
    assert list_checkpoint(DATA / "sliced")["w"].sliced
    with pytest.raises(InputError, match="'w' is a partitioned variable"):
        read_checkpoint(DATA / "sliced")
    assert read_checkpoint(DATA / "sliced", ["v"])["v"] == np.float32(1.5)


def test_the_slices_own_entries_are_not_listed():
    # TensorFlow stores each slice's data under a binary key starting with a 0 byte.
    raw = [key for key, _ in read_table(DATA / "sliced" / "ckpt-1.index")]
    assert sum(key.startswith(b"\x00") for key in raw) == 2
    assert sorted(list_checkpoint(DATA / "sliced")) == ["v", "w"]


def rewrite_header(index: Path, header: bytes) -> None:
    """Replace the bundle header (the first entry of the first data block, which starts the
    file) by one of the same length and recompute that block's checksum: only its meaning changes."""
    data = bytearray(index.read_bytes())
    assert data[:3] == bytes([0, 0, len(header)])  # shared 0, key length 0, value length
    data[3 : 3 + len(header)] = header
    offset, size = sstable._footer(bytes(data))
    first_handle = sstable._block_entries(bytes(data[offset : offset + size]), "index block")[0][1]
    (start, block_size), _ = sstable._handle(first_handle, 0)
    assert start == 0
    struct.pack_into("<I", data, block_size + 1, masked_crc32c(bytes(data[: block_size + 1])))
    index.write_bytes(bytes(data))


def test_a_big_endian_bundle_is_refused(tmp_path):
    folder = copy_fixture("sharded", tmp_path)
    index = folder / "ckpt-1.index"
    # TensorFlow's header: num_shards 2 (08 02), version {producer 1} (1a 02 08 01).
    rewrite_header(index, bytes([0x08, 0x02, 0x1A, 0x02, 0x08, 0x01]))
    assert sorted(list_checkpoint(folder)) == sorted(tensorflow_values("sharded"))  # the helper alone
    # The same length with endianness BIG (10 01) and an empty version (1a 00).
    rewrite_header(index, bytes([0x08, 0x02, 0x10, 0x01, 0x1A, 0x00]))
    with pytest.raises(InputError, match="big-endian"):
        list_checkpoint(folder)


def test_object_graph_paths_rebuild_every_stored_key():
    graph = read_object_graph(DATA / "dtypes")
    paths = object_paths(graph)
    rebuilt = {
        f"{paths[node_id]}/.ATTRIBUTES/{name}": key
        for node_id, node in enumerate(graph)
        for name, _, key in node.attributes
    }
    assert all(rebuilt_key == key for rebuilt_key, key in rebuilt.items())
    stored = set(list_checkpoint(DATA / "dtypes")) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert set(rebuilt.values()) == stored
    assert any(".OPTIMIZER_SLOT/optimizer/m/" in key for key in stored)  # slots covered
    full_names = {key: full for node in graph for _, full, key in node.attributes}
    assert full_names["model/decoder/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == "dense/kernel"
