"""A small Magenta DDSP TFRecord dataset, made by Magenta ddsp 3.7.0's own preparation code, and
TensorFlow's own parse of every record: the fixture ``tests/data/magenta/tfrecord/`` for
``torchddsp.magenta.tfrecord`` and ``torchddsp.magenta.dataset`` (read without TensorFlow).

Regenerate (from the repository root; about half a minute once the environment exists)::

    .venv/bin/python benchmarks/peers/magenta_tfrecord_fixture.py
    # or directly inside Magenta's environment:
    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_tfrecord_fixture.py [--output DIR]

Run by an interpreter without ``ddsp`` (torchddsp's venv), the script creates Magenta's
environment if needed (``ensure_magenta_env``) and re-runs itself there.

What runs, from ``ddsp/training/data_preparation/prepare_tfrecord_lib.py``: ``_chunk_audio``
(``tf.signal.frame``, end padded), ``_add_f0_estimate`` (``spectral_ops.compute_f0``: CREPE's
framing, 1024-sample windows every hop), ``_add_loudness`` (``spectral_ops.compute_loudness``,
``n_fft=512``), ``_split_example`` and ``_float_dict_to_tfexample``, with Magenta's keys
``audio``, ``audio_16k``, ``f0_hz``, ``f0_confidence``, ``loudness_db``. What does not:

- Apache Beam (not in the peer environment): the same functions are called in a plain loop
  (a stub ``apache_beam`` takes their metric counters), and ``tf.io.TFRecordWriter`` writes the
  records (Beam's ``WriteToTFRecord`` writes the same framing) in Beam's shard names
  ``<prefix>-SSSSS-of-NNNNN``, without Beam's reshuffle (order kept, so tests can index).
- pydub (``_load_audio``): the FLAC is read as 16-bit integers and divided by 32767, which is
  what ``_load_audio_as_array`` does with pydub's samples at the file's own rate (16 kHz).
- CREPE (its weights are not here): a stub ``crepe.predict`` returns, per 1024-sample frame,
  the lag of the highest normalised autocorrelation (``sample_rate / lag`` Hz, lags 8-400)
  and that correlation clipped to [0, 1] as confidence. It sees exactly the frames Magenta
  gives CREPE, so alignment is Magenta's; only the pitch estimator differs.
- The eval split: Magenta assigns whole chunks to eval by hashes of their audio; here the
  last chunk is the eval split (the same granularity, deterministic).

Audio: ``tests/data/pitch/flute.flac`` from 0.2 s (its first note) on, 16 kHz.

Files written (``--output``, default ``tests/data/magenta/tfrecord``):

- ``train.tfrecord-train-0000{0,1}-of-00002``: Magenta's defaults except the lengths
  (``center=False``, i.e. ``'same'`` padding; 250 frames/s): chunks of ``CHUNK_S``, examples
  of ``EXAMPLE_S`` every ``HOP_S``; the train chunks' examples dealt to the two shards in turn.
- ``train.tfrecord-eval-00000-of-00001.gz``: the eval chunk's examples, GZIP-compressed
  (``tf.io.TFRecordOptions(compression_type="GZIP")``).
- ``centered.tfrecord-00000-of-00001``: the first train chunk again with ``center=True``
  (features have one frame more, frame ``i`` centred on sample ``i * hop``).
- ``features.tfrecord``: ``tf.train.Example`` records of every list type (bytes, floats,
  int64 with negative and 64-bit values, empty lists, an empty ``Feature``), and hand-encoded
  records TensorFlow never writes but must read: unpacked floats and int64s, a key given twice.
- ``expected.npz``: TensorFlow's own results: for every record of every file (files in the
  order above, ``<file>/<record>/<key>``) the arrays of ``tf.io.parse_single_example``
  (Magenta's ``TFRecordProvider.features_dict`` for the dataset files, ``VarLenFeature`` of
  each key for ``features.tfrecord``; a string list as ``<key>/bytes``, its items end to end
  as uint8, and ``<key>/lengths``, so that no array needs pickle), the SHA-256 of each record's bytes as
  ``tf.data.TFRecordDataset`` reads them (``<file>/sha256``), and the settings and versions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import struct
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "data" / "magenta" / "tfrecord"
AUDIO = REPO / "tests" / "data" / "pitch" / "flute.flac"
START_S = 0.2  # the first note of the clip
SAMPLE_RATE = 16000
FRAME_RATE = 250
CHUNK_S = 0.4
EXAMPLE_S = 0.2
HOP_S = 0.2
N_CHUNKS = 3  # 2 train, 1 eval
DATASET_FILES = (
    "train.tfrecord-train-00000-of-00002",
    "train.tfrecord-train-00001-of-00002",
    "train.tfrecord-eval-00000-of-00001.gz",
    "centered.tfrecord-00000-of-00001",
)
FEATURE_FILE = "features.tfrecord"


def run_in_magenta_env(argv: list[str]) -> int:
    """From torchddsp's venv: create Magenta's environment if needed, re-run this script there."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from magenta_env import rerun_in_magenta_env  # noqa: PLC0415

    return rerun_in_magenta_env(__file__, argv)


def autocorrelation_pitch(frames: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The CREPE stand-in: per frame ``(n_frames, 1024)``, (f0 Hz, confidence) of the lag 8-400
    with the highest normalised autocorrelation (float64 numpy, deterministic)."""
    frames = frames - frames.mean(axis=1, keepdims=True)
    lags = np.arange(8, 401)
    size = frames.shape[1]
    energy = (frames**2).sum(axis=1) + 1e-12
    spectrum = np.fft.rfft(frames, 2 * size, axis=1)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, lags] / energy[:, None]
    best = correlation.argmax(axis=1)
    return sample_rate / lags[best], np.clip(correlation[np.arange(len(frames)), best], 0.0, 1.0)


def install_stubs() -> None:
    """Stand-ins for the modules Magenta imports that are not in its peer environment."""

    def predict(audio, sr, viterbi=False, step_size=10, center=True, verbose=1):  # noqa: ARG001
        hop = int(round(sr * step_size / 1000))
        if center:  # Magenta always passes center=False (it pads itself)
            raise RuntimeError("the stub expects Magenta's center=False")
        n_frames = 1 + (len(audio) - 1024) // hop
        frames = np.stack([np.asarray(audio[i * hop : i * hop + 1024], dtype=np.float64) for i in range(n_frames)])
        f0_hz, confidence = autocorrelation_pitch(frames, sr)
        return np.arange(n_frames) * step_size / 1000, f0_hz, confidence, None

    crepe = types.ModuleType("crepe")
    crepe.predict = predict
    counter = types.SimpleNamespace(inc=lambda *args: None)
    beam = types.ModuleType("apache_beam")
    beam.metrics = types.SimpleNamespace(Metrics=types.SimpleNamespace(counter=lambda *args: counter))
    for name, module in (("crepe", crepe), ("apache_beam", beam), ("pydub", types.ModuleType("pydub"))):
        sys.modules[name] = module


def load_audio() -> np.ndarray:
    """The clip as ``_load_audio_as_array`` gives it (int16 samples / 32767), float32."""
    import soundfile  # noqa: PLC0415

    samples, rate = soundfile.read(str(AUDIO), dtype="int16")
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise RuntimeError(f"{AUDIO}: expected 16 kHz mono")
    start = round(START_S * SAMPLE_RATE)
    audio = samples[start : start + round(N_CHUNKS * CHUNK_S * SAMPLE_RATE)].astype(np.float32)
    return audio / np.float32(np.iinfo(np.int16).max)


def load_prepare_tfrecord_lib() -> types.ModuleType:
    """Magenta's ``prepare_tfrecord_lib`` loaded from its file: importing it as
    ``ddsp.training...`` would run ``ddsp/training/__init__.py``, which needs cloud packages
    (``hypertune``) that have nothing to do with data preparation."""
    spec = importlib.util.find_spec("ddsp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ddsp is not importable")
    path = Path(spec.submodule_search_locations[0]) / "training" / "data_preparation" / "prepare_tfrecord_lib.py"
    module_spec = importlib.util.spec_from_file_location("magenta_prepare_tfrecord_lib", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def magenta_examples(audio: np.ndarray, center: bool) -> list[list[bytes]]:
    """Serialized ``tf.train.Example`` records, one list per chunk, through Magenta's functions."""
    lib = load_prepare_tfrecord_lib()
    loaded = {"audio": audio, "audio_16k": audio}  # _load_audio at 16 kHz: the same array twice
    chunks = []
    for chunk in lib._chunk_audio(loaded, SAMPLE_RATE, CHUNK_S):
        chunk = lib._add_f0_estimate(chunk, FRAME_RATE, center, viterbi=False)
        with np.errstate(divide="ignore"):  # librosa's A-weighting takes log10(0) at the 0 Hz bin
            chunk = lib._add_loudness(chunk, FRAME_RATE, n_fft=512, center=center)
        split = lib._split_example(chunk, SAMPLE_RATE, FRAME_RATE, EXAMPLE_S, HOP_S, center)
        chunks.append([lib._float_dict_to_tfexample(example).SerializeToString() for example in split])
    return chunks


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 as its two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    if wire_type == 2:
        payload = _varint(len(payload)) + payload
    return _varint(number << 3 | wire_type) + payload


def _hand_example(entries: list[tuple[str, bytes]]) -> bytes:
    """An ``Example`` of map entries (key, serialized ``Feature``) in the given order."""
    entry_bytes = b"".join(_field(1, 2, _field(1, 2, key.encode()) + _field(2, 2, feature)) for key, feature in entries)
    return _field(1, 2, entry_bytes)


def feature_records() -> tuple[list[bytes], dict[str, object]]:
    """Records of every list type and encoding, and the dtype TensorFlow parses each key as."""
    import tensorflow as tf  # noqa: PLC0415

    train = tf.train
    made = train.Example(
        features=train.Features(
            feature={
                "bytes": train.Feature(bytes_list=train.BytesList(value=[b"", b"abc", bytes(range(256))])),
                "floats": train.Feature(float_list=train.FloatList(value=[1.5, -0.0, 3.4e38, 1e-45, -2.25])),
                "int64": train.Feature(int64_list=train.Int64List(value=[0, 1, -1, 300, 2**63 - 1, -(2**63)])),
                "empty_floats": train.Feature(float_list=train.FloatList(value=[])),
                "empty_int64": train.Feature(int64_list=train.Int64List(value=[])),
            }
        )
    ).SerializeToString()
    floats = [0.25, -7.0, 1e10]
    ints = [5, -300, 2**40]
    unpacked_floats = b"".join(_field(1, 5, struct.pack("<f", v)) for v in floats)
    unpacked_ints = b"".join(_field(1, 0, _varint(v)) for v in ints)
    hand = _hand_example(
        [
            ("floats", _field(2, 2, unpacked_floats)),  # FloatList, one fixed32 field per value
            ("int64", _field(3, 2, unpacked_ints)),  # Int64List, one varint field per value
            ("bytes", _field(1, 2, _field(1, 2, b"first"))),
            ("bytes", _field(1, 2, _field(1, 2, b"second") + _field(1, 2, b"x"))),  # a map key again: last wins
        ]
    )
    types_ = {"bytes": tf.string, "floats": tf.float32, "int64": tf.int64}
    types_ |= {"empty_floats": tf.float32, "empty_int64": tf.int64}
    return [made, hand], types_


def tf_parsed(path: Path, features: dict, compression: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """TensorFlow's parse of every record of ``path`` and each record's SHA-256."""
    import tensorflow as tf  # noqa: PLC0415

    arrays, digests = {}, []
    for index, record in enumerate(tf.data.TFRecordDataset(str(path), compression_type=compression)):
        raw = record.numpy()
        digests.append(hashlib.sha256(raw).hexdigest())
        parsed = tf.io.parse_single_example(raw, features)
        for key, value in parsed.items():
            value = (value.values if isinstance(value, tf.SparseTensor) else value).numpy()
            name = f"{path.name}/{index}/{key}"
            if value.dtype == object:  # strings: their bytes end to end and lengths (no pickle)
                arrays[f"{name}/bytes"] = np.frombuffer(b"".join(value.tolist()), dtype=np.uint8)
                arrays[f"{name}/lengths"] = np.asarray([len(item) for item in value.tolist()], dtype=np.int64)
            else:
                arrays[name] = value
    return arrays, digests


def write_records(path: Path, records: list[bytes], compression: str = "") -> None:
    import tensorflow as tf  # noqa: PLC0415

    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type=compression)) as writer:
        for record in records:
            writer.write(record)


def magenta_features(n_frames: int) -> dict:
    """Magenta's ``TFRecordProvider.features_dict`` for these lengths."""
    import tensorflow as tf  # noqa: PLC0415

    n_samples = round(EXAMPLE_S * SAMPLE_RATE)
    lengths = {"audio": n_samples, "audio_16k": n_samples, "f0_hz": n_frames, "f0_confidence": n_frames}
    lengths["loudness_db"] = n_frames
    return {key: tf.io.FixedLenFeature([length], dtype=tf.float32) for key, length in lengths.items()}


def build(output: Path) -> dict:
    """Write the files; returns the expected arrays."""
    import tensorflow as tf  # noqa: PLC0415

    audio = load_audio()
    chunks = magenta_examples(audio, center=False)
    train = [record for chunk in chunks[:-1] for record in chunk]
    write_records(output / DATASET_FILES[0], train[0::2])
    write_records(output / DATASET_FILES[1], train[1::2])
    write_records(output / DATASET_FILES[2], chunks[-1], "GZIP")
    centered = magenta_examples(audio[: round(CHUNK_S * SAMPLE_RATE)], center=True)
    write_records(output / DATASET_FILES[3], centered[0])
    records, feature_types = feature_records()
    write_records(output / FEATURE_FILE, records)

    n_frames = round(EXAMPLE_S * FRAME_RATE)
    expected: dict = {}
    for name in DATASET_FILES + (FEATURE_FILE,):
        if name == FEATURE_FILE:
            features = {key: tf.io.VarLenFeature(dtype) for key, dtype in feature_types.items()}
        else:
            features = magenta_features(n_frames + (name.startswith("centered")))
        arrays, digests = tf_parsed(output / name, features, "GZIP" if name.endswith(".gz") else "")
        expected |= arrays
        expected[f"{name}/sha256"] = np.asarray(digests)
    settings = {
        "audio": str(AUDIO.relative_to(REPO)),
        "start_s": START_S,
        "sample_rate": SAMPLE_RATE,
        "frame_rate": FRAME_RATE,
        "chunk_s": CHUNK_S,
        "example_s": EXAMPLE_S,
        "hop_s": HOP_S,
        "files": list(DATASET_FILES + (FEATURE_FILE,)),
    }
    expected["settings"] = np.asarray(json.dumps(settings))
    import ddsp  # noqa: PLC0415

    versions = {"ddsp": ddsp.__version__, "tensorflow": tf.__version__, "python": platform.python_version()}
    expected["versions"] = np.asarray([f"{key}=={value}" for key, value in versions.items()])
    return expected


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("ddsp") is None:
        return run_in_magenta_env(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    install_stubs()
    start = time.perf_counter()
    args.output.mkdir(parents=True, exist_ok=True)
    expected = build(args.output)
    np.savez_compressed(args.output / "expected.npz", **expected)
    sizes = {p.name: p.stat().st_size for p in sorted(args.output.iterdir()) if p.is_file()}
    print(f"wrote {args.output} in {time.perf_counter() - start:.1f} s: {json.dumps(sizes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
