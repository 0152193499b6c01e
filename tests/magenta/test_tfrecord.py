"""Magenta TFRecord datasets read without TensorFlow, against TensorFlow's own reading of the
files Magenta's preparation code wrote (tests/data/magenta/tfrecord, made by
benchmarks/peers/magenta_tfrecord_fixture.py), and converted into a prepared dataset that
``train`` and ``evaluate`` use."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from training_support import tiny_config

from torchddsp.cli import main
from torchddsp.magenta.dataset import convert_tfrecord_dataset
from torchddsp.magenta.tfrecord import parse_example
from torchddsp.magenta.tfrecord import read_records
from torchddsp.magenta.tfrecord import tfrecord_files
from torchddsp.training import FeatureDataset
from torchddsp.training import save_config
from torchddsp.validation import InputError

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "magenta" / "tfrecord"
EXPECTED = np.load(FIXTURE / "expected.npz", allow_pickle=False)
SETTINGS = json.loads(str(EXPECTED["settings"]))
FILES = SETTINGS["files"]
TRAIN = str(FIXTURE / "train.tfrecord-train-*")
EVAL = str(FIXTURE / "train.tfrecord-eval-*")
CENTERED = str(FIXTURE / "centered.tfrecord-00000-of-00001")
SHARD = FIXTURE / "train.tfrecord-train-00000-of-00002"
HOP = 64  # 16 kHz / 250 frames/s
# Magenta's 'same' frames: CREPE's 1024-sample window and the 512-point loudness FFT start at
# j * hop, so they are centred 8 and 4 frames after torchddsp's frame j.
F0_SHIFT, LOUDNESS_SHIFT = 8, 4


def expected_example(name: str, index: int) -> dict[str, np.ndarray]:
    """TensorFlow's parse of record ``index`` of ``name`` (strings as lists of bytes)."""
    prefix = f"{name}/{index}/"
    values: dict = {}
    for key in EXPECTED.files:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if rest.endswith("/bytes"):
            data = EXPECTED[key].tobytes()
            ends = np.cumsum(EXPECTED[prefix + rest[: -len("/bytes")] + "/lengths"])
            values[rest[: -len("/bytes")]] = [data[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends)]
        elif not rest.endswith("/lengths"):
            values[rest] = EXPECTED[key]
    return values


@pytest.mark.parametrize("name", FILES)
def test_records_are_tensorflows_records(name):
    # TFRecordDataset's bytes of every record (SHA-256), gzip shard included.
    digests = [hashlib.sha256(record).hexdigest() for record in read_records(FIXTURE / name)]
    assert digests == list(EXPECTED[f"{name}/sha256"])


@pytest.mark.parametrize("name", FILES)
def test_examples_equal_tensorflows_parse(name):
    # Bit for bit: packed floats (Magenta's records), unpacked floats and int64s, negative and
    # 64-bit int64s, byte strings with NULs, empty lists, a key given twice (the last wins).
    for index, record in enumerate(read_records(FIXTURE / name)):
        parsed, expected = parse_example(record), expected_example(name, index)
        assert set(parsed) <= set(expected)
        for key, want in expected.items():
            got = parsed.get(key)
            if isinstance(want, list):
                assert got is not None and got.dtype == object and list(got) == want, (name, index, key)
            elif got is None:  # a key the record lacks: TensorFlow's VarLenFeature gives no values
                assert want.size == 0, (name, index, key)
            else:
                assert got.dtype == want.dtype and got.shape == want.shape, (name, index, key)
                assert got.tobytes() == want.tobytes(), (name, index, key)


def test_a_key_given_twice_keeps_its_last_value_as_tensorflow():
    records = list(read_records(FIXTURE / "features.tfrecord"))
    assert list(parse_example(records[1])["bytes"]) == [b"second", b"x"]
    assert parse_example(records[1])["int64"].tolist() == [5, -300, 2**40]


def _record_offsets(data: bytes) -> list[int]:
    """Start of every record (the framing read with struct, independently of the reader)."""
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 12 + struct.unpack_from("<Q", data, pos)[0] + 4
    return offsets


def _damaged(tmp_path: Path, position: int, name: str = "damaged.tfrecord") -> Path:
    data = bytearray(SHARD.read_bytes())
    data[position] ^= 0x10
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("byte", [3, 9], ids=["length", "length-crc"])
def test_a_damaged_length_is_a_clear_error(tmp_path, byte):
    second = _record_offsets(SHARD.read_bytes())[1]
    path = _damaged(tmp_path, second + byte)
    with pytest.raises(InputError, match=r"corrupt TFRecord file: the length of record 1 .*checksum"):
        list(read_records(path))


@pytest.mark.parametrize("where", ["data", "data-crc"])
def test_damaged_data_is_a_clear_error(tmp_path, where):
    data = SHARD.read_bytes()
    second = _record_offsets(data)[1]
    position = 12 + 1000 if where == "data" else second - 2
    with pytest.raises(InputError, match=r"corrupt TFRecord file: the data of record 0 .*checksum"):
        list(read_records(_damaged(tmp_path, position)))


@pytest.mark.parametrize("keep", [5, 12 + 100, "last-2"], ids=["in-header", "in-data", "in-crc"])
def test_a_truncated_file_is_a_clear_error(tmp_path, keep):
    data = SHARD.read_bytes()
    second = _record_offsets(data)[1]
    cut = len(data) - 2 if keep == "last-2" else second + int(keep)
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:cut])
    with pytest.raises(InputError, match=r"truncated TFRecord file: it ends inside .* of record 1"):
        list(read_records(path))


def test_an_empty_file_has_no_records(tmp_path):
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    assert list(read_records(tmp_path / "empty.tfrecord")) == []


def test_gzip_by_flag_and_a_cut_gzip_file(tmp_path):
    name = "train.tfrecord-eval-00000-of-00001.gz"
    plain_name = tmp_path / "eval.tfrecord"
    plain_name.write_bytes((FIXTURE / name).read_bytes())
    want = [hashlib.sha256(r).hexdigest() for r in read_records(plain_name, compression="gzip")]
    assert want == list(EXPECTED[f"{name}/sha256"])
    with pytest.raises(InputError, match="corrupt TFRecord"):  # GZIP bytes read as a plain file
        list(read_records(plain_name, compression=None))
    cut = tmp_path / "cut.gz"
    cut.write_bytes((FIXTURE / name).read_bytes()[:-100])
    with pytest.raises(InputError, match="broken GZIP data|truncated"):
        list(read_records(cut))
    assert gzip.decompress((FIXTURE / name).read_bytes())  # the fixture really is GZIP


def test_shard_patterns_and_a_missing_shard(tmp_path):
    files = tfrecord_files(TRAIN)
    assert [f.name for f in files] == ["train.tfrecord-train-00000-of-00002", "train.tfrecord-train-00001-of-00002"]
    shutil.copy(SHARD, tmp_path / SHARD.name)
    with pytest.raises(InputError, match=r"incomplete: missing 1 of 2 shards \(train.tfrecord-train-00001-of-00002\)"):
        tfrecord_files(str(tmp_path / "train.tfrecord*"))
    with pytest.raises(InputError, match="no TFRecord file matches"):
        tfrecord_files(str(tmp_path / "eval*"))


def _examples(dataset_dir: Path, split: str = "train") -> list[dict]:
    dataset = FeatureDataset(dataset_dir, split)
    return [{key: value.numpy() for key, value in dataset[i].items()} for i in range(len(dataset))]


def test_same_frames_are_realigned_onto_magentas_centred_frames(tmp_path):
    # The first chunk was prepared twice by Magenta: 'same' (the default) and center=True, whose
    # frame j is centred on sample j * hop like torchddsp's. Realigned 'same' features must be
    # the centred features of the same instants, and the audio must start at the same sample.
    same = convert_tfrecord_dataset(TRAIN, tmp_path / "same", show_progress=False)
    centred = convert_tfrecord_dataset(CENTERED, tmp_path / "centred", show_progress=False)
    assert (same["source"]["padding"], centred["source"]["padding"]) == ("same", "center")
    assert (same["example_frames"], centred["example_frames"]) == (50 - F0_SHIFT, 50)
    same_examples, centred_examples = _examples(tmp_path / "same"), _examples(tmp_path / "centred")
    # Shards deal the chunks' examples in turn: shard 0 holds (chunk 0, example 0), (chunk 1,
    # example 0); shard 1 (chunk 0, example 1), (chunk 1, example 1).
    for same_index, centred_index in ((0, 0), (2, 1)):
        a, b = same_examples[same_index], centred_examples[centred_index]
        np.testing.assert_array_equal(a["audio"], b["audio"][F0_SHIFT * HOP :])
        for key in ("f0_hz", "confidence"):  # the CREPE stand-in is a function of its window
            np.testing.assert_array_equal(a[key], b[key][F0_SHIFT:], err_msg=key)
        # TensorFlow's STFT of the same window differs by an ulp between the two framings.
        np.testing.assert_allclose(a["loudness_db"], b["loudness_db"][F0_SHIFT:], rtol=1e-6, atol=0)


def test_converted_values_are_magentas_values_sliced(tmp_path):
    convert_tfrecord_dataset(TRAIN, tmp_path / "auto", EVAL, show_progress=False)
    convert_tfrecord_dataset(TRAIN, tmp_path / "stored", EVAL, alignment="stored", show_progress=False)
    for split, name in (("train", "train.tfrecord-train-00000-of-00002"), ("eval", FILES[2])):
        auto, stored = _examples(tmp_path / "auto", split)[0], _examples(tmp_path / "stored", split)[0]
        want = expected_example(name, 0)
        np.testing.assert_array_equal(auto["audio"], want["audio"][F0_SHIFT * HOP :])
        np.testing.assert_array_equal(auto["f0_hz"], want["f0_hz"][: 50 - F0_SHIFT])
        np.testing.assert_array_equal(auto["confidence"], want["f0_confidence"][: 50 - F0_SHIFT])
        np.testing.assert_array_equal(
            auto["loudness_db"], want["loudness_db"][F0_SHIFT - LOUDNESS_SHIFT : 50 - LOUDNESS_SHIFT]
        )
        np.testing.assert_array_equal(stored["audio"], want["audio"])
        np.testing.assert_array_equal(stored["loudness_db"], want["loudness_db"])
    centred = convert_tfrecord_dataset(CENTERED, tmp_path / "c", alignment="stored", show_progress=False)
    assert centred["example_frames"] == 50  # 51 centred frames: the one on the sample after the end dropped
    np.testing.assert_array_equal(_examples(tmp_path / "c")[0]["f0_hz"], expected_example(FILES[3], 0)["f0_hz"][:50])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"frame_rate": 200}, "do not fit frame_rate 200"),
        ({"sample_rate": 32000}, "sample_rate 32000 does not fit"),
        ({"eval_pattern": CENTERED}, "every example must have one length"),
        ({"alignment": "late"}, "alignment must be one of"),
    ],
)
def test_datasets_that_do_not_fit_are_clear_errors(tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        convert_tfrecord_dataset(TRAIN, tmp_path / "ds", show_progress=False, **options)
    assert not (tmp_path / "ds").exists()


def test_records_that_are_not_magentas_and_a_destination_holding_the_records(tmp_path):
    with pytest.raises(InputError, match="not a Magenta DDSP example: missing audio"):
        convert_tfrecord_dataset(FIXTURE / "features.tfrecord", tmp_path / "ds", show_progress=False)
    shutil.copytree(FIXTURE, tmp_path / "records", ignore=shutil.ignore_patterns("*.npz"))
    with pytest.raises(InputError, match="holds the audio_dir"):
        convert_tfrecord_dataset(str(tmp_path / "records" / "train.tfrecord-train-*"), tmp_path, show_progress=False)
    assert len(list((tmp_path / "records").iterdir())) == 5


def test_convert_train_and_evaluate_from_magenta_tfrecords(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    save_config(tiny_config(steps=2, eval_every=2, checkpoint_every=2, samples_every=2), config)
    dataset, run = tmp_path / "ds", tmp_path / "run"
    assert main(["convert-tfrecord", TRAIN, str(dataset), "--eval", EVAL, "--quiet"]) == 0
    assert "examples: {'train': 4, 'eval': 2} of 42 frames" in capsys.readouterr().out
    assert main(["train", str(config), str(dataset), str(run), "--quiet"]) == 0
    assert main(["evaluate", str(run), str(dataset)]) == 0
    result = json.loads((run / "evaluation_eval.json").read_text())
    assert result["examples"] == 2 and result["pitched_frames"] > 0
    assert all(np.isfinite(result[k]) for k in ("loudness_l1_db", "f0_l1_semitones", "spectral_loss"))
    assert main(["convert-tfrecord", str(FIXTURE / "nothing*"), str(tmp_path / "x")]) == 2
    assert "no TFRecord file matches" in capsys.readouterr().err
