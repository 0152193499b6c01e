"""Magenta ddsp 3.7.0's ``SpectralLoss``, every term and loss type separately, on fixed
deterministic signals: the reference fixture ``tests/data/magenta_spectral_loss.npz`` for
torchddsp's ``MultiScaleSpectralLoss``.

Regenerate (from the repository root; about a minute once the environment exists)::

    .venv/bin/python benchmarks/peers/magenta_losses.py
    # or directly inside Magenta's environment:
    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_losses.py [--output PATH]

Run by an interpreter without ``ddsp`` (torchddsp's venv), the script creates Magenta's
environment if needed (``ensure_magenta_env``) and re-runs itself there with the same
arguments. ``--inputs audio.npz`` (arrays ``prediction`` and ``target``, ``(batch, n_samples)``)
instead prints one JSON line ``{"spectral_loss": value}``: Magenta's
``SpectralLoss(mag_weight=1, logmag_weight=1)`` of that audio. ``--compare`` (torchddsp's venv,
no TensorFlow) prints torchddsp's relative difference from every case of the fixture::

    .venv/bin/python benchmarks/peers/magenta_losses.py --compare

The signals are not stored, only their recipe (``SIGNALS``: one row per signal) from which
``synthesize`` rebuilds them; ``tests/test_magenta_spectral_loss.py`` repeats the formula. With
``n = 0 .. n_samples - 1``, ``t = n / sample_rate`` (float64)::

    x = linspace(start, end, n_samples) * sum_{k=1..6} sin(2 pi k f0_hz t) / k ** slope
        + noise * numpy.random.RandomState(seed).standard_normal(n_samples)

cast to float32 (Magenta computes in float32). Targets are signals 0 and 1, predictions 2 and 3
(a batch of two; higher, brighter, fading instead of rising, noisier: every term is far from 0,
the cosine ones included, whose float32 values lose digits as they approach 0).
The fixture stores each float32 signal's energy ``sum(x ** 2)`` (float64) so a test can check
that it rebuilt the same audio.

Cases (``CASES``): for each ``loss_type`` of ``L1``, ``L2``, ``COSINE``: each of the six terms
alone with weight 1 (``mag``, ``delta_time``, ``delta_freq``, ``cumsum_freq``, ``logmag``,
``loudness``), then all six together with unequal weights (``WEIGHTS_ALL``). Magenta's default
FFT sizes (2048 .. 64) throughout; called as Magenta does, ``loss(target, prediction)``.

``COSINE`` in ddsp 3.7.0 calls ``tf.losses.cosine_distance``, which TensorFlow 2 no longer has
(``tf.compat.v2.losses`` is Keras's module): the loss raises ``AttributeError`` (its message is
stored as ``cosine_error``). Its TensorFlow 1 meaning, ``tf.compat.v1.losses.cosine_distance``
(``1 - sum(labels * predictions, axis=-1)``, averaged), assumes unit-normalised inputs, which
spectrograms are not. The cosine values here are Magenta's ``SpectralLoss`` with that function
restored and fed what it assumes: ``tf.math.l2_normalize`` of both along the last axis (the
frequency bins; frames for the loudness term).

Fixture arrays: the recipe columns (``f0_hz``, ``slope``, ``start``, ``end``, ``noise``, ``seed``), ``sample_rate``,
``n_samples``, ``energy``; per case ``loss_type``, ``term`` and ``value`` (float64 of Magenta's
float32 result); ``weights_all`` (the six weights of the ``all`` cases, in ``TERMS`` order);
``cosine_error``; ``versions``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "data" / "magenta_spectral_loss.npz"
SAMPLE_RATE = 16000
N_SAMPLES = 4003  # not a multiple of any hop: the last frames reach past the end
COLUMNS = ("f0_hz", "slope", "start", "end", "noise", "seed")
# One row per signal, columns as in COLUMNS: targets 0 and 1, predictions 2 and 3.
SIGNALS = [
    (220.0, 1.0, 0.1, 1.0, 0.01, 1),
    (330.0, 1.0, 0.1, 1.0, 0.01, 2),
    (1210.0, 0.5, 1.0, 0.1, 0.03, 3),
    (1310.0, 0.5, 1.0, 0.1, 0.03, 4),
]
LOSS_TYPES = ("L1", "L2", "COSINE")
# Magenta's constructor argument of each term.
TERMS = ("mag", "delta_time", "delta_freq", "cumsum_freq", "logmag", "loudness")
WEIGHTS_ALL = (0.5, 0.25, 2.0, 0.01, 1.5, 0.1)
CASES = [(loss_type, term) for loss_type in LOSS_TYPES for term in (*TERMS, "all")]


def synthesize(f0_hz: float, slope: float, start: float, end: float, noise: float, seed: int) -> np.ndarray:
    """The recipe's signal (see the module docstring), float32 ``(N_SAMPLES,)``."""
    t = np.arange(N_SAMPLES, dtype=np.float64) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * k * f0_hz * t) / k**slope for k in range(1, 7))
    audio = np.linspace(start, end, N_SAMPLES) * tone + noise * np.random.RandomState(seed).standard_normal(N_SAMPLES)
    return audio.astype(np.float32)


def run_in_magenta_env(argv: list[str]) -> int:
    """From torchddsp's venv: create Magenta's environment if needed, re-run this script there."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from magenta_env import rerun_in_magenta_env  # noqa: PLC0415

    return rerun_in_magenta_env(__file__, argv)


def import_ddsp():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.modules.setdefault("crepe", types.ModuleType("crepe"))  # ddsp imports it; unused here
    import ddsp  # noqa: PLC0415

    return ddsp


def magenta_value(ddsp, loss_type: str, term: str, target: np.ndarray, prediction: np.ndarray) -> float:
    """Magenta's ``SpectralLoss`` with only ``term`` weighted 1 (or all at ``WEIGHTS_ALL``)."""
    weights = dict(zip(TERMS, WEIGHTS_ALL)) if term == "all" else {name: float(name == term) for name in TERMS}
    loss = ddsp.losses.SpectralLoss(loss_type=loss_type, **{f"{name}_weight": w for name, w in weights.items()})
    with np.errstate(divide="ignore"):  # librosa's A-weighting takes log10(0) at the 0 Hz bin
        return float(np.float64(loss(target, prediction)))


def cosine_error(ddsp, target: np.ndarray, prediction: np.ndarray) -> str:
    """What ddsp 3.7.0's ``COSINE`` loss type does under TensorFlow 2 as installed."""
    try:
        ddsp.losses.SpectralLoss(loss_type="COSINE")(target, prediction)
    except AttributeError as error:
        return f"AttributeError: {error}"
    raise RuntimeError("ddsp's COSINE loss type ran: this script's premise is out of date")


def restore_cosine_distance() -> None:
    """Give ``tf.losses`` back the TensorFlow 1 ``cosine_distance`` ddsp calls, fed the
    unit-normalised inputs it assumes (see the module docstring)."""
    import tensorflow.compat.v2 as tf  # noqa: PLC0415

    def cosine_distance(labels, predictions, weights=1.0, axis=-1):
        unit = [tf.math.l2_normalize(x, axis=axis) for x in (labels, predictions)]
        return tf.compat.v1.losses.cosine_distance(*unit, weights=weights, axis=axis)

    tf.losses.cosine_distance = cosine_distance


def compute_fixture() -> dict:
    """Magenta's value of every case, the recipe and the versions."""
    ddsp = import_ddsp()
    import librosa  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    signals = [synthesize(*row) for row in SIGNALS]
    target, prediction = np.stack(signals[:2]), np.stack(signals[2:])
    error = cosine_error(ddsp, target, prediction)
    restore_cosine_distance()
    values = [magenta_value(ddsp, loss_type, term, target, prediction) for loss_type, term in CASES]
    versions = {
        "ddsp": ddsp.__version__,
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    columns = {name: np.asarray([row[i] for row in SIGNALS]) for i, name in enumerate(COLUMNS)}
    return {
        **columns,
        "sample_rate": np.asarray(SAMPLE_RATE),
        "n_samples": np.asarray(N_SAMPLES),
        "energy": np.asarray([np.sum(x.astype(np.float64) ** 2) for x in signals]),
        "loss_type": np.asarray([case[0] for case in CASES]),
        "term": np.asarray([case[1] for case in CASES]),
        "value": np.asarray(values, dtype=np.float64),
        "weights_all": np.asarray(WEIGHTS_ALL, dtype=np.float64),
        "cosine_error": np.asarray(error),
        "versions": np.asarray([f"{key}=={value}" for key, value in versions.items()]),
    }


def print_inputs_value(path: Path) -> None:
    """The ``--inputs`` mode: Magenta's ``SpectralLoss(mag_weight=1, logmag_weight=1)`` as JSON."""
    ddsp = import_ddsp()
    data = np.load(path)
    loss = ddsp.losses.SpectralLoss(mag_weight=1.0, logmag_weight=1.0)
    value = loss(data["target"].astype(np.float32), data["prediction"].astype(np.float32))
    print(json.dumps({"spectral_loss": float(value)}))


def compare(path: Path) -> None:
    """The ``--compare`` mode (torchddsp's venv): torchddsp's value of every case against the
    fixture's, relative difference per case in float64 and float32 (the README's figures)."""
    import torch  # noqa: PLC0415

    from torchddsp.losses import MultiScaleSpectralLoss  # noqa: PLC0415

    fixture = np.load(path)
    ours_names = ("magnitude", "delta_time", "delta_frequency", "cumsum_frequency", "log_magnitude", "loudness")
    signals = np.stack([synthesize(*row) for row in SIGNALS])
    print("| loss_type | term | Magenta | rel. diff float64 | rel. diff float32 |\n|---|---|---:|---:|---:|")
    for loss_type, term, value in zip(fixture["loss_type"], fixture["term"], fixture["value"]):
        weights = dict(zip(TERMS, WEIGHTS_ALL)) if term == "all" else {name: float(name == term) for name in TERMS}
        loss = MultiScaleSpectralLoss.magenta(
            loss_type=str(loss_type).lower(),
            **{f"{ours}_weight": weights[theirs] for theirs, ours in zip(TERMS, ours_names)},
        )
        differences = []
        for dtype in (torch.float64, torch.float32):
            audio = torch.from_numpy(signals).to(dtype)
            differences.append(abs(loss(audio[2:], audio[:2]).item() - value) / abs(value))
        print(f"| {loss_type} | {term} | {value:.7g} | {differences[0]:.1e} | {differences[1]:.1e} |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--inputs", type=Path, help="print Magenta's loss of this .npz's audio instead")
    parser.add_argument("--compare", action="store_true", help="print torchddsp's differences from the fixture")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.output)
        return 0
    if importlib.util.find_spec("ddsp") is None:
        return run_in_magenta_env(argv)
    if args.inputs is not None:
        print_inputs_value(args.inputs)
        return 0
    start = time.perf_counter()
    fixture = compute_fixture()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **fixture)
    print(
        f"wrote {args.output} ({args.output.stat().st_size} bytes, {len(CASES)} cases) in "
        f"{time.perf_counter() - start:.1f} s; {', '.join(fixture['versions'])}"
    )
    for (loss_type, term), value in zip(CASES, fixture["value"]):
        print(f"  {loss_type:6s} {term:12s} {value:.9g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
