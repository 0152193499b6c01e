"""Time Magenta ddsp's (TensorFlow) synths on the inputs of ``benchmarks/bench_synth.py``.

Runs inside Magenta's own virtual environment (never torchddsp's), for example::

    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_synth.py --inputs inputs.npz

``--inputs`` is an ``.npz`` written by ``bench_synth.py`` (``amplitudes``,
``harmonic_distribution``, ``f0_hz``, ``magnitudes``, ``audio``, ``sample_rate``, ``seed``), so
both libraries render the very same controls. Prints one JSON object to stdout: versions and,
per case and pass (``forward``, ``forward_backward``), the timings in milliseconds in eager
mode and inside ``tf.function`` (graph mode, how Magenta trains). Progress goes to stderr.

Timing: ``--warmup`` runs excluded (they include ``tf.function`` tracing), then the median of
up to ``--repeats`` runs measured with ``time.perf_counter`` (fewer when one run is slow,
see ``--budget``). Forward+backward computes the loss ``mean(output ** 2)`` under a
``tf.GradientTape`` and the gradients with respect to every input control (and the reverb's
impulse response).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import measure  # noqa: E402  (benchmarks/timing.py: standard library only)


def import_ddsp():
    """Import TensorFlow and ddsp quietly; ddsp imports ``crepe``, which we never use, so a
    stub module takes its place (the real one does not install on Python 3.11)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.modules.setdefault("crepe", types.ModuleType("crepe"))
    import ddsp  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    tf.get_logger().setLevel("ERROR")
    return tf, ddsp


def gradient_step(tf, render, watched, variables=()):
    """A callable that renders under a tape and returns the gradients of mean(out ** 2)."""

    def step(*inputs):
        with tf.GradientTape() as tape:
            for tensor in inputs:
                tape.watch(tensor)
            output = render(*inputs)
            loss = tf.reduce_mean(tf.square(output))
        return tape.gradient(loss, list(inputs[:watched]) + list(variables))

    return step


def build_cases(tf, ddsp, data) -> dict:
    """Case name -> (forward function, forward+backward function, input tensors)."""
    n_samples = int(data["audio"].shape[-1])
    sample_rate = int(data["sample_rate"])
    constant = lambda name: tf.constant(data[name], dtype=tf.float32)  # noqa: E731

    harmonic = ddsp.synths.Harmonic(n_samples=n_samples, sample_rate=sample_rate)
    noise = ddsp.synths.FilteredNoise(n_samples=n_samples)
    reverb = ddsp.effects.Reverb(trainable=True, reverb_length=int(data["reverb_length"]))
    audio = constant("audio")
    reverb(audio)  # builds the impulse-response variable

    harmonic_inputs = (constant("amplitudes"), constant("harmonic_distribution"), constant("f0_hz"))
    return {
        "harmonic": (
            lambda a, d, f: harmonic(a, d, f),
            gradient_step(tf, lambda a, d, f: harmonic(a, d, f), watched=3),
            harmonic_inputs,
        ),
        "filtered_noise": (
            lambda m: noise(m),
            gradient_step(tf, lambda m: noise(m), watched=1),
            (constant("magnitudes"),),
        ),
        "reverb": (
            lambda x: reverb(x),
            gradient_step(tf, lambda x: reverb(x), watched=1, variables=reverb.trainable_variables),
            (audio,),
        ),
    }


def main() -> None:
    """Parse arguments, time every requested case in both modes, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", required=True, help=".npz of controls written by bench_synth.py")
    parser.add_argument("--cases", default="harmonic,filtered_noise,reverb")
    parser.add_argument("--passes", default="forward,forward_backward")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per measurement, at most")
    args = parser.parse_args()

    import numpy as np  # noqa: PLC0415

    tf, ddsp = import_ddsp()
    with np.load(args.inputs) as archive:
        data = {name: archive[name] for name in archive.files}
    tf.random.set_seed(int(data["seed"]))
    cases = build_cases(tf, ddsp, data)

    results = {}
    for name in args.cases.split(","):
        forward, gradient, inputs = cases[name]
        results[name] = {}
        for pass_name, fn in (("forward", forward), ("forward_backward", gradient)):
            if pass_name not in args.passes.split(","):
                continue
            results[name][pass_name] = {}
            for mode, runner in (("eager", fn), ("graph", tf.function(fn))):
                print(f"magenta: {name} {pass_name} ({mode})", file=sys.stderr, flush=True)
                results[name][pass_name][mode] = measure(
                    lambda runner=runner, inputs=inputs: runner(*inputs), args.repeats, args.warmup, args.budget
                )

    json.dump(
        {
            "tensorflow": tf.__version__,
            "ddsp": getattr(ddsp, "__version__", "unknown"),
            "numpy": np.__version__,
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "results": results,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
