"""Train a small Magenta ddsp 3.7.0 solo-instrument autoencoder, save it in the released layout
and record what it computes: the fixture ``tests/data/magenta/convert/`` for
``torchddsp.magenta.convert`` (``tests/magenta/test_convert.py``).

Regenerate (from the repository root; a few minutes once the environment exists)::

    .venv/bin/python benchmarks/peers/magenta_checkpoint.py

Two stages. In torchddsp's venv the script prepares the data: 0.5 s examples (one every
0.25 s) of ``tests/data/pitch/violin.flac`` (16 kHz, a sampled violin), with f0 and confidence
from torchddsp's YIN (Magenta's CREPE is stubbed in its environment) and loudness from
torchddsp's ``a_weighted_loudness`` (Magenta's ``compute_loudness``, checked by
``tests/data/magenta_loudness.npz``), all at 250 frames per second. It then re-runs itself in
Magenta's environment (``ensure_magenta_env``) with ``--prepared FILE``.

In Magenta's environment: gin parses ``optimization/base.gin`` and ``models/solo_instrument.gin``
(Magenta's own files) plus the bindings in ``BINDINGS``, which shrink the model so the
checkpoint stays small (``RnnFcDecoder.ch = 16``, ``rnn_channels = 24``, ``layers_per_stack =
2``, 20 harmonics, 17 noise bands, a 1600-tap reverb) and feed the prepared loudness instead of
recomputing it. ``models.get_model()`` and ``trainers.Trainer`` (what ``ddsp_run --mode=train``
uses; see :func:`train`) train it ``--steps`` steps on the examples; the save folder then
holds ``ckpt-N.index``, ``ckpt-N.data-00000-of-00001``, ``checkpoint`` and
``operative_config-0.gin``, which are copied to ``tests/data/magenta/convert/solo_small/``.
(Dataset statistics are not made here: ``compute_dataset_statistics`` needs longer examples;
``benchmarks/peers/magenta_checkpoint_fixture.py`` writes a ``dataset_statistics.pkl``.)

Then the model is restored from that checkpoint and run on fixed inputs (a glide 196 -> 1568 Hz
with a loudness ramp -70 -> -5 dB, 125 frames): the fixture ``reference.npz`` holds the inputs,
``f0_scaled`` and ``ld_scaled``, the decoder's raw outputs, the synthesizer controls after
``scale_fn`` (``amplitudes``, ``harmonic_distribution`` after normalisation, noise
``magnitudes``), the reverb impulse response (the trainable one with its first tap masked), and
audio: ``harmonic`` (Magenta's ``Harmonic`` with ``use_angular_cumsum=True``), ``noise``
(``core.frequency_filter`` of ``numpy.random.RandomState(NOISE_SEED).uniform(-1, 1, n)``, float32),
``dry`` (their sum) and ``audio`` (after the trainable ``Reverb``). ``variables.npz`` holds the model's
variables (``model/...``; not the optimizer's) as ``tf.train.load_checkpoint`` reads them (keys as
TensorFlow stores them), a reference for checkpoint readers and for the converter on its own.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "data" / "magenta" / "convert"
AUDIO = REPO / "tests" / "data" / "pitch" / "violin.flac"
SAMPLE_RATE, FRAME_RATE = 16000, 250
EXAMPLE_FRAMES, EXAMPLE_HOP_FRAMES = 125, 62
N_HARMONICS, N_NOISE_BANDS, REVERB_LENGTH = 20, 17, 1600
NOISE_SEED = 7
BINDINGS = [
    "RnnFcDecoder.ch = 16",
    "RnnFcDecoder.rnn_channels = 24",
    "RnnFcDecoder.layers_per_stack = 2",
    f"RnnFcDecoder.output_splits = (('amps', 1), ('harmonic_distribution', {N_HARMONICS}), "
    f"('noise_magnitudes', {N_NOISE_BANDS}))",
    f"Reverb.reverb_length = {REVERB_LENGTH}",
    f"F0LoudnessPreprocessor.time_steps = {EXAMPLE_FRAMES}",
    "F0LoudnessPreprocessor.compute_loudness = False",
    f"Harmonic.n_samples = {EXAMPLE_FRAMES * SAMPLE_RATE // FRAME_RATE}",
    f"FilteredNoise.n_samples = {EXAMPLE_FRAMES * SAMPLE_RATE // FRAME_RATE}",
    "Trainer.learning_rate = 0.003",
    "Trainer.checkpoints_to_keep = 1",
]


# Modules ddsp.training imports for features never used here (cloud training, TFDS datasets,
# MIDI metrics, plots, CREPE): empty stand-ins, so the environment needs none of them.
STUBBED = ("crepe", "hypertune", "google.cloud", "tensorflow_datasets", "note_seq", "mir_eval", "pydub", "matplotlib")


class _Stub(types.ModuleType):
    """A module whose every attribute is another stub (``from note_seq import sequences_lib``)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ``STUBBED`` packages (and their submodules) give :class:`_Stub` modules."""

    def find_spec(self, name, path=None, target=None):
        if any(name == root or name.startswith(root + ".") for root in STUBBED):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Stub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def prepare(path: Path) -> None:
    """torchddsp's venv: cut the clip into examples with f0, confidence and loudness -> ``path``."""
    import soundfile  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from torchddsp.features import a_weighted_loudness  # noqa: PLC0415
    from torchddsp.features import estimate_f0  # noqa: PLC0415

    audio, rate = soundfile.read(AUDIO, dtype="float32")
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"{AUDIO} is {rate} Hz, expected {SAMPLE_RATE}")
    hop = SAMPLE_RATE // FRAME_RATE
    signal = torch.from_numpy(audio).reshape(1, -1)
    n_frames = signal.shape[1] // hop
    f0_hz, confidence = estimate_f0(signal, SAMPLE_RATE, FRAME_RATE, method="yin", n_frames=n_frames)
    loudness_db = a_weighted_loudness(signal, SAMPLE_RATE, FRAME_RATE, n_frames=n_frames)
    starts = range(0, n_frames - EXAMPLE_FRAMES + 1, EXAMPLE_HOP_FRAMES)
    cut = lambda x, scale: np.stack([x[s * scale : (s + EXAMPLE_FRAMES) * scale] for s in starts])  # noqa: E731
    np.savez(
        path,
        audio=cut(audio, hop).astype(np.float32),
        f0_hz=cut(f0_hz[0].numpy(), 1).astype(np.float32),
        f0_confidence=cut(confidence[0].numpy(), 1).astype(np.float32),
        loudness_db=cut(loudness_db[0].numpy(), 1).astype(np.float32),
    )


def run_in_magenta_env(argv: list[str]) -> int:
    """From torchddsp's venv: prepare the data, then re-run this script in Magenta's environment."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from magenta_env import rerun_in_magenta_env  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.npz"
        prepare(prepared)
        return rerun_in_magenta_env(__file__, [*argv, "--prepared", str(prepared)])


def fixed_inputs() -> dict[str, np.ndarray]:
    """The inputs every library is compared on: ``(1, EXAMPLE_FRAMES)`` float32 each."""
    t = np.linspace(0.0, 1.0, EXAMPLE_FRAMES)
    f0_hz = 196.0 * 2.0 ** (3.0 * t)  # G3 -> G6, past Nyquist for the upper harmonics
    loudness_db = -70.0 + 65.0 * t
    return {"f0_hz": f0_hz[None].astype(np.float32), "loudness_db": loudness_db[None].astype(np.float32)}


def train(tf, gin, prepared: dict[str, np.ndarray], save_dir: Path, steps: int):
    """Magenta's training on the prepared examples, saved as ``train_util.train`` saves.

    ``train_util.train`` itself fails here (TensorFlow 2.15 on Python 3.11.7 cannot trace
    ``Trainer.train_step``: "this __dict__ descriptor does not support '_DictWrapper'
    objects"), so its steps are repeated with the same calls run eagerly: ``Trainer.build``,
    ``write_gin_config`` at step 0 (``operative_config-0.gin``), ``Trainer.step_fn``'s body
    (loss, clipped gradients, Adam) ``steps`` times, then ``Trainer.save``.
    """
    from ddsp.training import data  # noqa: PLC0415
    from ddsp.training import models  # noqa: PLC0415
    from ddsp.training import train_util  # noqa: PLC0415
    from ddsp.training import trainers  # noqa: PLC0415

    class Prepared(data.DataProvider):
        def get_dataset(self, shuffle=True):
            dataset = tf.data.Dataset.from_tensor_slices(dict(prepared))
            return dataset.shuffle(len(prepared["audio"]), seed=0) if shuffle else dataset

    provider = Prepared(SAMPLE_RATE, FRAME_RATE)
    strategy = train_util.get_strategy()
    with strategy.scope():
        model = models.get_model()
        trainer = trainers.Trainer(model, strategy)
    batches = iter(provider.get_batch(4, shuffle=True, repeats=-1))
    trainer.build(next(batches))
    train_util.write_gin_config(tf.summary.create_noop_writer(), str(save_dir), int(trainer.step.numpy()))
    for _ in range(steps):
        losses = trainers.Trainer.step_fn.python_function(trainer, next(batches))
    print(f"trained {int(trainer.step.numpy())} steps, last loss {float(losses['total_loss']):.3f}", file=sys.stderr)
    trainer.save(str(save_dir))


def record(tf, ddsp, gin, save_dir: Path) -> dict[str, np.ndarray]:
    """Restore the saved model and run it on :func:`fixed_inputs`."""
    from ddsp.training import models  # noqa: PLC0415
    from ddsp.training import train_util  # noqa: PLC0415

    inputs = fixed_inputs()
    n_samples = EXAMPLE_FRAMES * SAMPLE_RATE // FRAME_RATE
    model = models.get_model()
    features = {k: tf.constant(v) for k, v in inputs.items()}
    features["audio"] = tf.zeros([1, n_samples])
    model(dict(features), training=False)  # builds the variables
    tf.train.Checkpoint(model=model).restore(train_util.get_latest_checkpoint(str(save_dir))).expect_partial()
    outputs = model(dict(features), training=False)
    scaled = model.preprocessor(dict(features), training=False)
    raw = model.decoder({**features, **scaled}, training=False)
    harmonic = ddsp.synths.Harmonic(n_samples=n_samples, sample_rate=SAMPLE_RATE, use_angular_cumsum=True)
    controls = outputs["harmonic"]["controls"]
    magnitudes = outputs["filtered_noise"]["controls"]["magnitudes"]
    white = np.random.RandomState(NOISE_SEED).uniform(-1.0, 1.0, (1, n_samples)).astype(np.float32)
    noise = ddsp.core.frequency_filter(white, magnitudes, window_size=0)
    tonal = harmonic.get_signal(controls["amplitudes"], controls["harmonic_distribution"], controls["f0_hz"])
    dry = tonal + noise
    reverb = dict(zip(model.processor_group.processor_names, model.processor_group.processors))["reverb"]
    ir = reverb.get_controls(dry)["ir"]
    wet = reverb(dry)
    arrays = {
        **inputs,
        "f0_scaled": scaled["f0_scaled"],
        "ld_scaled": scaled["ld_scaled"],
        **{f"raw_{name}": value for name, value in raw.items()},
        "amplitudes": controls["amplitudes"],
        "harmonic_distribution": controls["harmonic_distribution"],
        "noise_magnitudes": magnitudes,
        "ir": reverb._mask_dry_ir(ir)[0],
        "harmonic": tonal,
        "noise": noise,
        "dry": dry,
        "audio": wet,
        "model_audio_dry_harmonic": outputs["harmonic"]["signal"],
    }
    return {name: np.asarray(value, dtype=np.float32) for name, value in arrays.items()}


def run(args) -> None:
    """Magenta's environment: train, save, copy the released layout, record."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.meta_path.insert(0, _StubFinder())
    import ddsp  # noqa: PLC0415
    import ddsp.training  # noqa: PLC0415
    import gin  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    tf.random.set_seed(0)
    gin.add_config_file_search_path(str(Path(ddsp.training.__file__).parent / "gin"))
    gin.parse_config_files_and_bindings(["optimization/base.gin", "models/solo_instrument.gin"], BINDINGS)
    prepared = dict(np.load(args.prepared))
    folder = args.output / "solo_small"
    with tempfile.TemporaryDirectory() as scratch:
        save_dir = Path(scratch)
        train(tf, gin, prepared, save_dir, args.steps)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for path in save_dir.iterdir():
            if path.is_file() and (path.name.startswith(("ckpt-", "operative_config-")) or path.name == "checkpoint"):
                shutil.copy2(path, folder / path.name)
        reference = record(tf, ddsp, gin, save_dir)
    prefix = tf.train.latest_checkpoint(str(folder))
    reader = tf.train.load_checkpoint(prefix)
    names = [key for key in reader.get_variable_to_shape_map() if key.startswith("model/")]  # no optimizer slots
    variables = {key: np.asarray(reader.get_tensor(key)) for key in names}
    np.savez_compressed(args.output / "variables.npz", **variables)
    versions = f"ddsp=={ddsp.__version__} tensorflow=={tf.__version__} python=={platform.python_version()}"
    np.savez_compressed(args.output / "reference.npz", **reference, versions=np.asarray(versions), steps=args.steps)
    print(f"wrote {folder} and {args.output}/reference.npz, variables.npz ({len(variables)} variables); {versions}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    parser.add_argument("--prepared", type=Path, help="the prepared examples (set by the first stage)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("ddsp") is None:
        return run_in_magenta_env(argv)
    if args.prepared is None:
        parser.error("--prepared is required inside Magenta's environment (run the script from torchddsp's venv)")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
