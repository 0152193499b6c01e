"""Magenta ddsp 3.7.0's solo-instrument training step, compiled as Magenta runs it, timed on
request: the peer half of ``benchmarks/bench_training_vs_magenta.py`` (which starts it).

Run in Magenta's environment (``benchmarks/.peers/magenta``) as a long-lived worker::

    python benchmarks/peers/magenta_training_step.py --data BATCHES.npz [--compute-loudness] [--threads N]

``BATCHES.npz`` holds ``audio`` ``(n_examples, 64000)``, ``f0_hz`` and ``loudness_db``
``(n_examples, 1000)`` float32 and ``batches`` ``(n_batches, 16)`` int (example indices per
batch). gin parses Magenta's own ``optimization/base.gin`` and ``models/solo_instrument.gin``
unchanged (GRU 512, 3 layers per stack, 60 harmonics, 65 noise bands, 48000-tap trainable
reverb, 4 s at 16 kHz, 1000 frames, ``SpectralLoss`` L1 magnitude + log magnitude, Adam 3e-4
decaying 0.98 per 10k steps, clip 3); the one binding added is
``F0LoudnessPreprocessor.compute_loudness = False`` (the loudness is given, as torchddsp's step
takes it) unless ``--compute-loudness`` keeps Magenta's default (A-weighted loudness recomputed
from the audio inside every step).

The step is ``Trainer.train_step`` itself, the ``@tf.function`` that ``train_util.train`` calls
(a distributed ``step_fn``, also a ``tf.function``: forward, loss, ``GradientTape`` gradients,
``clip_by_global_norm``, Adam), given a batch of tensors already in memory. On Python 3.11 with
typing_extensions >= 4.6 its tracing fails ("this __dict__ descriptor does not support
'_DictWrapper' objects": ``inspect.getattr_static`` on TensorFlow's wrapt-proxied attribute
dicts raises TypeError where it expects AttributeError); :func:`patch_getattr_static` makes
that lookup answer "no instance attribute", which touches only how Python values are
classified while tracing, not the graph that runs.

Protocol (one JSON object per stdout line): after the build and the first (traced) step it
prints ``{"ready": ...}`` with versions, thread settings and the trace time; then each stdin
line ``steps N`` runs N steps, cycling over the batches, and prints ``{"times": [s per step],
"cpu_s": CPU seconds this process used, "loss": last total loss}``; ``quit`` (or end of input)
exits.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from magenta_checkpoint import _StubFinder  # noqa: E402  (benchmarks/peers/magenta_checkpoint.py)


def patch_getattr_static() -> None:
    """``inspect.getattr_static`` treats an object whose ``__dict__`` raises TypeError (wrapt
    proxies, TensorFlow's ``_DictWrapper``) as one without instance attributes."""
    original = inspect._check_instance

    def check_instance(obj, attr):
        try:
            return original(obj, attr)
        except TypeError:
            return inspect._sentinel

    inspect._check_instance = check_instance


def build_trainer(tf, compute_loudness: bool):
    """Magenta's model and Trainer from its own gin files (the solo-instrument config)."""
    import ddsp.training  # noqa: PLC0415
    import gin  # noqa: PLC0415
    from ddsp.training import models  # noqa: PLC0415
    from ddsp.training import train_util  # noqa: PLC0415
    from ddsp.training import trainers  # noqa: PLC0415

    gin.add_config_file_search_path(str(Path(ddsp.training.__file__).parent / "gin"))
    bindings = [] if compute_loudness else ["F0LoudnessPreprocessor.compute_loudness = False"]
    gin.parse_config_files_and_bindings(["optimization/base.gin", "models/solo_instrument.gin"], bindings)
    strategy = train_util.get_strategy()
    with strategy.scope():
        model = models.get_model()
        trainer = trainers.Trainer(model, strategy)
    return trainer


def load_batches(tf, path: Path) -> list[dict]:
    """The batches as dicts of float32 tensors: ``audio`` ``(16, 64000)``, ``f0_hz`` and
    ``loudness_db`` ``(16, 1000)``."""
    data = np.load(path)
    return [
        {key: tf.constant(data[key][indices]) for key in ("audio", "f0_hz", "loudness_db")}
        for indices in data["batches"]
    ]


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def run_steps(trainer, batches: list[dict], count: int, start: int) -> dict:
    """``count`` compiled steps; each timed until its loss is on the host."""
    times, loss, cpu_0 = [], float("nan"), cpu_seconds()
    for i in range(count):
        batch = batches[(start + i) % len(batches)]
        begin = time.perf_counter()
        loss = float(trainer.train_step(batch)["total_loss"].numpy())
        times.append(time.perf_counter() - begin)
    return {"times": times, "cpu_s": cpu_seconds() - cpu_0, "loss": loss}


def say(message: dict) -> None:
    print(json.dumps(message), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the batches (.npz, see the module docstring)")
    parser.add_argument("--compute-loudness", action="store_true", help="Magenta's default: loudness in the step")
    parser.add_argument("--threads", type=int, help="TensorFlow's intra- and inter-op threads (default: its own)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.meta_path.insert(0, _StubFinder())
    patch_getattr_static()
    import ddsp  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    if args.threads is not None:  # before any op runs, or TensorFlow ignores it
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.random.set_seed(0)
    batches = load_batches(tf, args.data)
    trainer = build_trainer(tf, args.compute_loudness)
    trainer.build(batches[0])
    begin = time.perf_counter()
    first = run_steps(trainer, batches, 1, 0)
    say(
        {
            "ready": True,
            "first_step_s": time.perf_counter() - begin,
            "first_loss": first["loss"],
            "traces": int(trainer.train_step.experimental_get_tracing_count()),
            "versions": f"ddsp {ddsp.__version__}, tensorflow {tf.__version__}",
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "cpus": len(os.sched_getaffinity(0)),
            "parameters": int(sum(np.prod(v.shape) for v in trainer.model.trainable_variables)),
        }
    )
    done = 1
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        count = int(words[1])
        result = run_steps(trainer, batches, count, done)
        done += count
        result["traces"] = int(trainer.train_step.experimental_get_tracing_count())
        say(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
