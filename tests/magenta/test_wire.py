"""Protobuf wire decoding and CRC-32C against independent references: bytes written by
TensorFlow and by Google's protobuf encoder, and published check values."""

from __future__ import annotations

import os
import struct

import pytest

from torchddsp.magenta.crc32c import crc32c
from torchddsp.magenta.crc32c import crc32c_reference
from torchddsp.magenta.crc32c import masked_crc32c
from torchddsp.magenta.crc32c import unmask_crc32c
from torchddsp.magenta.protobuf import iter_fields
from torchddsp.magenta.protobuf import packed_doubles
from torchddsp.magenta.protobuf import packed_floats
from torchddsp.magenta.protobuf import packed_varints
from torchddsp.magenta.protobuf import parse_message
from torchddsp.magenta.protobuf import read_varint
from torchddsp.magenta.protobuf import signed_int64
from torchddsp.validation import InputError

# ``tf.io.TFRecordWriter`` (TensorFlow 2.15.1) writing the one record b"123456789": uint64
# length, masked CRC-32C of the length, the data, masked CRC-32C of the data.
TF_RECORD = bytes.fromhex("090000000000000037f97139313233343536373839e5b08ac7")

# ``tf.train.Example`` with features {"x": FloatList([1.5, -2.0])}, serialized by protobuf
# 4.25 (packed floats, as every proto3 encoder writes them).
EXAMPLE = bytes.fromhex("0a130a110a0178120c120a0a080000c03f000000c0")


def test_crc32c_check_values():
    # The CRC-32C catalogue's check value, and RFC 3720's 32 zero bytes / 32 0xFF bytes.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


def test_compiled_crc_equals_the_bitwise_definition():
    data = os.urandom(4099)
    for size in (0, 1, 7, 64, 4099):
        assert crc32c(data[:size]) == crc32c_reference(data[:size])


def test_masked_crcs_are_the_ones_tensorflow_writes():
    length = TF_RECORD[:8]
    (length_crc,) = struct.unpack("<I", TF_RECORD[8:12])
    (data_crc,) = struct.unpack("<I", TF_RECORD[-4:])
    assert masked_crc32c(length) == length_crc
    assert masked_crc32c(TF_RECORD[12:-4]) == data_crc
    assert unmask_crc32c(data_crc) == crc32c(b"123456789")


def test_varints():
    assert read_varint(bytes([0x00]), 0) == (0, 1)
    assert read_varint(bytes([0x7F]), 0) == (127, 1)
    assert read_varint(bytes([0x80, 0x01]), 0) == (128, 2)
    top = bytes([0xFF] * 9 + [0x01])
    assert read_varint(top, 0) == (2**64 - 1, 10)
    assert signed_int64(read_varint(top, 0)[0]) == -1
    assert packed_varints(bytes([0x01, 0x96, 0x01, 0x00])) == [1, 150, 0]


def test_nested_example_message_with_packed_floats():
    (features,) = parse_message(EXAMPLE)[1]
    (entry,) = parse_message(features)[1]  # map<string, Feature> entries: key=1, value=2
    fields = parse_message(entry)
    assert fields[1] == [b"x"]
    (float_list,) = parse_message(fields[2][0])[2]  # Feature.float_list = 2
    (packed,) = parse_message(float_list)[1]
    assert packed_floats(packed) == [1.5, -2.0]


def test_fixed_width_fields_and_doubles():
    message = bytes([0x09]) + struct.pack("<d", -0.25) + bytes([0x15]) + struct.pack("<f", 3.0)
    assert list(iter_fields(message)) == [(1, 1, struct.pack("<d", -0.25)), (2, 5, struct.pack("<f", 3.0))]
    assert packed_doubles(struct.pack("<2d", 1.0, -3.5)) == [1.0, -3.5]


@pytest.mark.parametrize(
    "data, match",
    [
        (bytes([0x08]), "runs past the end"),
        (bytes([0x08] + [0xFF] * 11), "longer than 10 bytes"),
        (bytes([0x12, 0x05, 0x61]), "field 2 runs past the end"),
        (bytes([0x0B]), "wire type 3"),
        (bytes([0x00, 0x01]), "field number 0"),
    ],
)
def test_malformed_messages_are_refused(data, match):
    with pytest.raises(InputError, match=match):
        parse_message(data)


def test_packed_fixed_width_of_wrong_length_is_refused():
    with pytest.raises(InputError, match="not a multiple of 4"):
        packed_floats(bytes(6))
