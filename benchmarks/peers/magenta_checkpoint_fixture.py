"""TensorFlow-written checkpoints and Magenta-written dataset statistics: the fixtures under
``tests/data/magenta/`` for ``torchddsp.magenta.checkpoint`` and ``torchddsp.magenta.statistics``
(read there without TensorFlow).

Regenerate (from the repository root; about a minute once the environment exists)::

    .venv/bin/python benchmarks/peers/magenta_checkpoint_fixture.py
    # or directly inside Magenta's environment:
    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_checkpoint_fixture.py [--output DIR]

Run by an interpreter without ``ddsp`` (torchddsp's venv), the script creates Magenta's
environment if needed (``ensure_magenta_env``) and re-runs itself there.

What it writes (all small), under ``checkpoint/``:

- ``dtypes/``: a ``tf.train.Checkpoint`` saved by ``tf.train.CheckpointManager`` (Magenta's
  ``Trainer.save`` layout: ``checkpoint``, ``ckpt-N.index``, ``ckpt-N.data-00000-of-00001``)
  holding variables of every dtype the reader supports (float32/64, float16, bfloat16, int8..64,
  uint8/16, bool, complex64/128, strings), scalars, 0-size tensors, a Keras layer trained one
  Adam step (so ``.OPTIMIZER_SLOT`` keys exist) and the object graph;
- ``sharded/``: two data shards under one index (``.data-00000-of-00002``,
  ``.data-00001-of-00002``), as a multi-device save writes them: ``SaveV2`` per part, merged by
  ``MergeV2Checkpoints`` (TensorFlow 2.15 puts all of one task's devices in one shard, so a
  one-process ``tf.train.Checkpoint`` cannot make two);
- ``sliced/``: the same with a partitioned variable (two slices of one tensor), which the
  reader refuses;
- ``{dtypes,sharded,sliced}_values.npz``: every tensor as TensorFlow's own reader
  (``tf.train.load_checkpoint``) returns it: ``keys``, ``dtypes`` (TF names), and per key ``i``
  ``t{i}`` (numbers; bfloat16 widened to float32, exactly) or ``t{i}_bytes`` + ``t{i}_lengths``
  + ``t{i}_shape`` (strings: concatenated bytes, no pickle);

and under ``statistics/``:

- ``dataset_statistics.pkl``: Magenta's Colab path (``colab_utils.save_dataset_statistics``:
  ``postprocessing.compute_dataset_statistics(provider, 1)`` then ``pickle.dump``; the Colab's
  ``power_frame_size=256`` fails in ddsp 3.7.0, so the function's default 1024) on a
  small synthetic dataset (4 two-second examples at 50 frames a second: glides with quiet,
  unpitched gaps), its
  ``quantile_transform`` Magenta's own ``QuantileTransformer``;
- ``dataset_statistics_sklearn.pkl``: the same statistics with scikit-learn's
  ``QuantileTransformer`` (what older notebooks stored), fitted on the same note frames;
- ``dataset_statistics_expected.npz``: the statistics as plain ``pickle.load`` returns them
  (scalars, ``quantiles_``, ``references_``, ``n_quantiles``, both transforms');
- ``hostile.pkl``: a pickle that calls ``os.system('echo a pickle is code')`` when loaded by an
  unrestricted unpickler (harmless, but a restricted one must refuse it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pickle
import platform
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "data" / "magenta"
SAMPLE_RATE = 16000
FRAME_RATE = 50
SECONDS = 2
N_EXAMPLES = 4
HOSTILE_COMMAND = "echo a pickle is code"


def run_in_magenta_env(argv: list[str]) -> int:
    """From torchddsp's venv: create Magenta's environment if needed, re-run this script there."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from magenta_env import rerun_in_magenta_env  # noqa: PLC0415

    return rerun_in_magenta_env(__file__, argv)


def dtype_variables(tf) -> dict:
    """One variable per supported dtype and shape case (deterministic values)."""
    rng = np.random.RandomState(0)
    return {
        "float32_matrix": tf.Variable(rng.standard_normal((3, 5)).astype(np.float32)),
        "float64_vector": tf.Variable(rng.standard_normal(7)),
        "float16_vector": tf.Variable(rng.standard_normal(6).astype(np.float16)),
        "bfloat16_vector": tf.Variable(tf.constant([1.0, -2.5, 3.140625, 1e-3, 65280.0], dtype=tf.bfloat16)),
        "int8_vector": tf.Variable(np.array([-128, -1, 0, 1, 127], dtype=np.int8)),
        "int16_vector": tf.Variable(np.array([-32768, -1, 0, 32767], dtype=np.int16)),
        "int32_scalar": tf.Variable(np.int32(-123456)),
        "int64_matrix": tf.Variable(np.array([[-(2**62), 2**62 + 5], [0, -1]], dtype=np.int64)),
        "uint8_vector": tf.Variable(np.array([0, 1, 255], dtype=np.uint8)),
        "uint16_vector": tf.Variable(np.array([0, 1, 65535], dtype=np.uint16)),
        "bool_vector": tf.Variable(np.array([True, False, True, True])),
        "complex64_vector": tf.Variable(np.array([1 + 2j, -3.5j], dtype=np.complex64)),
        "complex128_scalar": tf.Variable(np.complex128(0.25 - 1e-300j)),
        "float32_empty": tf.Variable(tf.zeros((0, 3), dtype=tf.float32)),
        "float32_rank3": tf.Variable(rng.standard_normal((2, 3, 4)).astype(np.float32)),
        "string_scalar": tf.Variable(b"solo_violin \x00\xff"),
        "string_matrix": tf.Variable([[b"", b"a"], [b"bc" * 100, "\u00e9t\u00e9".encode()]]),
        "string_empty": tf.Variable(tf.zeros((0, 2), dtype=tf.string)),
    }


def save_dtypes(tf, directory: Path) -> str:
    """The dtype checkpoint in Magenta's CheckpointManager layout, after one Adam step."""
    layer = tf.keras.layers.Dense(4, name="dense")
    layer(tf.zeros((1, 3)))
    # The legacy optimizer stores its slots as .OPTIMIZER_SLOT keys, as in Magenta's released
    # checkpoints (TensorFlow 2.2 era); TensorFlow 2.11+'s Adam would name them optimizer/_variables/N.
    optimizer = tf.keras.optimizers.legacy.Adam(1e-3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.ones((2, 3))) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables))
    model = tf.Module(name="model")
    model.decoder = layer
    model.values = dtype_variables(tf)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, directory=str(directory), max_to_keep=1)
    return manager.save(checkpoint_number=7)


def save_parts(tf, directory: Path, parts: list[dict]) -> str:
    """TensorFlow's own multi-shard save: one ``SaveV2`` bundle per part (as a multi-device save
    writes one per device), merged by ``MergeV2Checkpoints`` into ``directory/ckpt-1`` with data
    shards ``ckpt-1.data-0000i-of-0000n``. A part maps key -> (value, shape_and_slice), the slice
    spec ``""`` for a whole tensor or e.g. ``"5 0,3"`` for elements 0..2 of a length-5 one."""
    prefixes = []
    for index, part in enumerate(parts):
        prefix = str(directory / f"part-{index}")
        names = list(part)
        tf.raw_ops.SaveV2(
            prefix=prefix,
            tensor_names=names,
            shape_and_slices=[part[name][1] for name in names],
            tensors=[tf.constant(part[name][0]) for name in names],
        )
        prefixes.append(prefix)
    merged = str(directory / "ckpt-1")
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=prefixes, destination_prefix=merged, delete_old_dirs=False)
    return merged


def save_sharded(tf, directory: Path) -> str:
    """Two data shards under one index (a multi-device save's layout)."""
    first = {"a/float32": (np.arange(5, dtype=np.float32) - 2.5, ""), "c/string": (np.asarray(b"shard zero"), "")}
    second = {"b/int64": (np.arange(6, dtype=np.int64).reshape(2, 3) - 3, ""), "d/string": (np.asarray(b"one"), "")}
    return save_parts(tf, directory, [first, second])


def save_sliced(tf, directory: Path) -> str:
    """A partitioned variable: ``w`` (length 5) saved as two slices, 0..2 and 3..4."""
    whole = np.arange(5, dtype=np.float32) * 0.5
    first = {"w": (whole[:3], "5 0,3"), "v": (np.float32(1.5), "")}
    second = {"w": (whole[3:], "5 3,2")}
    return save_parts(tf, directory, [first, second])


def tf_values(tf, prefix: str) -> dict[str, np.ndarray]:
    """Every tensor of ``prefix`` as TensorFlow's reader returns it, in the npz layout."""
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    keys = sorted(dtypes)
    out: dict[str, np.ndarray] = {"keys": np.asarray(keys), "dtypes": np.asarray([dtypes[k].name for k in keys])}
    for index, key in enumerate(keys):
        value = reader.get_tensor(key)
        if dtypes[key] == tf.string:
            items = [bytes(item) for item in np.asarray(value, dtype=object).reshape(-1)]
            out[f"t{index}_bytes"] = np.frombuffer(b"".join(items), dtype=np.uint8)
            out[f"t{index}_lengths"] = np.asarray([len(item) for item in items], dtype=np.int64)
            out[f"t{index}_shape"] = np.asarray(np.shape(value), dtype=np.int64)
        elif dtypes[key] == tf.bfloat16:
            out[f"t{index}"] = np.asarray(value).astype(np.float32)
        else:
            out[f"t{index}"] = np.asarray(value)
    return out


def synthetic_examples() -> dict[str, np.ndarray]:
    """Four two-second examples: glides in pitch and loudness with quiet, unpitched gaps, the
    features at 50 frames a second (``compute_dataset_statistics`` masks its 50-frame-a-second
    power with the loudness' note mask, so the dataset's features must have that rate too)."""
    n_samples = SECONDS * SAMPLE_RATE
    frames = SECONDS * FRAME_RATE + 1  # Magenta's centred framing: n_samples // hop + 1
    t = np.arange(n_samples) / SAMPLE_RATE
    frame_t = np.arange(frames) / FRAME_RATE
    f0, confidence, audio = [], [], []
    for example in range(N_EXAMPLES):
        f0_frames = 220.0 * 2 ** ((example + np.linspace(0.0, 1.0, frames)) / 4)
        on = (np.arange(frames) // 15 + example) % 3 != 0
        gain = np.where(on, 0.05 + 0.3 * np.linspace(0.0, 1.0, frames) ** 2, 1e-4)
        hz = np.interp(t, frame_t, f0_frames)
        amplitude = np.interp(t, frame_t, gain)
        audio.append((amplitude * np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE)).astype(np.float32))
        f0.append(f0_frames.astype(np.float32))
        confidence.append(np.where(on, 0.95, 0.1).astype(np.float32))
    return {"audio": np.stack(audio), "f0_hz": np.stack(f0), "f0_confidence": np.stack(confidence)}


def import_postprocessing():
    """``ddsp.training.postprocessing`` without running ``ddsp/training/__init__.py`` (which imports
    Google Cloud, hypertune and TensorFlow Datasets, none needed here)."""
    import ddsp  # noqa: PLC0415

    package = types.ModuleType("ddsp.training")
    package.__path__ = [str(Path(ddsp.__file__).parent / "training")]
    sys.modules.setdefault("ddsp.training", package)
    from ddsp.training import postprocessing  # noqa: PLC0415

    return postprocessing


def magenta_statistics(tf) -> dict:
    """``compute_dataset_statistics`` as Magenta's Colab calls it, on the synthetic examples."""
    from ddsp import spectral_ops  # noqa: PLC0415

    postprocessing = import_postprocessing()
    examples = synthetic_examples()
    loudness = spectral_ops.compute_loudness(examples["audio"], SAMPLE_RATE, FRAME_RATE, use_tf=True)
    examples["loudness_db"] = np.asarray(loudness, dtype=np.float32)

    class Provider:
        """What ``compute_dataset_statistics`` reads of ``ddsp.training.data.DataProvider``:
        its ``get_batch`` (repeat, then batch dropping the remainder)."""

        def get_batch(self, batch_size, shuffle=True, repeats=-1, drop_remainder=True):
            dataset = tf.data.Dataset.from_tensor_slices(examples).repeat(repeats)
            return dataset.batch(batch_size, drop_remainder=drop_remainder)

    # As colab_utils.save_dataset_statistics(provider, path) calls it (batch_size=1), except that
    # its power_frame_size=256 fails in ddsp 3.7.0 (smaller than the 320-sample hop at 50 frames a
    # second): the function's own default, 1024, instead.
    return postprocessing.compute_dataset_statistics(Provider(), 1)


def sklearn_statistics(statistics: dict) -> dict:
    """The same statistics with scikit-learn's transform fitted on Magenta's note frames."""
    from sklearn.preprocessing import QuantileTransformer  # noqa: PLC0415

    magenta = statistics["quantile_transform"]
    # Magenta's transform keeps every note frame when there are fewer than 1000 of them: its
    # quantiles at its references are the frames' own sorted values, so refit on those.
    frames = np.asarray(magenta.quantiles_, dtype=np.float64)
    transform = QuantileTransformer(n_quantiles=magenta.n_quantiles)
    with warnings.catch_warnings():  # "n_quantiles is set to n_samples", as in Magenta's
        warnings.simplefilter("ignore", UserWarning)
        transform.fit(frames)
    return {**statistics, "quantile_transform": transform}


class _Hostile:
    def __reduce__(self):
        return os.system, (HOSTILE_COMMAND,)


def expected_statistics(statistics: dict, sklearn: dict) -> dict[str, np.ndarray]:
    """The pickles' contents as plain arrays (written without pickle)."""
    out = {}
    for key, value in statistics.items():
        if key != "quantile_transform":
            out[f"stat_{key}"] = np.asarray(value)
    for name, stats in (("magenta", statistics), ("sklearn", sklearn)):
        transform = stats["quantile_transform"]
        out[f"{name}_quantiles_"] = np.asarray(transform.quantiles_)
        out[f"{name}_references_"] = np.asarray(transform.references_)
        out[f"{name}_n_quantiles"] = np.asarray(transform.n_quantiles)
        out[f"{name}_n_quantiles_"] = np.asarray(transform.n_quantiles_)
        out[f"{name}_output_distribution"] = np.asarray(transform.output_distribution)
        probe = np.linspace(-90.0, 10.0, 41)[:, None]
        out[f"{name}_probe"] = probe
        out[f"{name}_transform"] = np.asarray(transform.transform(probe.copy()))
        out[f"{name}_inverse"] = np.asarray(transform.inverse_transform(np.linspace(0.0, 1.0, 41)[:, None]))
    return out


def write_fixtures(output: Path) -> list[str]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.modules.setdefault("crepe", types.ModuleType("crepe"))  # ddsp imports it; unused here
    import ddsp  # noqa: PLC0415
    import sklearn  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    checkpoints = output / "checkpoint"
    for name, save in (("dtypes", save_dtypes), ("sharded", save_sharded), ("sliced", save_sliced)):
        directory = checkpoints / name
        for old in directory.glob("*") if directory.exists() else []:
            old.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        prefix = save(tf, directory)
        np.savez_compressed(checkpoints / f"{name}_values.npz", **tf_values(tf, prefix))
    output = output / "statistics"
    output.mkdir(parents=True, exist_ok=True)
    statistics = magenta_statistics(tf)
    sklearn_stats = sklearn_statistics(statistics)
    with open(output / "dataset_statistics.pkl", "wb") as file:
        pickle.dump(statistics, file)  # as colab_utils.save_dataset_statistics writes it
    with open(output / "dataset_statistics_sklearn.pkl", "wb") as file:
        pickle.dump(sklearn_stats, file)
    np.savez_compressed(output / "dataset_statistics_expected.npz", **expected_statistics(statistics, sklearn_stats))
    with open(output / "hostile.pkl", "wb") as file:
        pickle.dump({"quantile_transform": _Hostile()}, file)
    return [
        f"ddsp=={ddsp.__version__}",
        f"tensorflow=={tf.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"python=={platform.python_version()}",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("ddsp") is None:
        return run_in_magenta_env(argv)
    start = time.perf_counter()
    versions = write_fixtures(args.output)
    files = [args.output / name / "VERSIONS.txt" for name in ("checkpoint", "statistics")]
    for path in files:
        path.write_text("\n".join(versions) + "\n")
    size = sum(path.stat().st_size for name in ("checkpoint", "statistics") for path in (args.output / name).rglob("*"))
    print(f"wrote {args.output} ({size} bytes) in {time.perf_counter() - start:.1f} s; {', '.join(versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
