"""Magenta ddsp 3.7.0's ``spectral_ops.compute_loudness`` on fixed, deterministic signals: the
reference fixture ``tests/data/magenta_loudness.npz`` for torchddsp's ``a_weighted_loudness``.

Regenerate (from the repository root; about a minute once the environment exists)::

    .venv/bin/python benchmarks/peers/magenta_loudness.py
    # or directly inside Magenta's environment:
    benchmarks/.peers/magenta/bin/python benchmarks/peers/magenta_loudness.py [--output PATH]

Run by an interpreter without ``ddsp`` (torchddsp's venv), the script creates Magenta's
environment if needed (``ensure_magenta_env``; the TensorFlow download takes a few minutes)
and re-runs itself there with the same arguments.

The signals are not stored, only their recipe (one row per case, see ``CASES``) from which
``synthesize`` rebuilds them; ``tests/features/test_loudness.py`` repeats the formula:

- ``n = 0 .. n_samples - 1``, ``t = n / sample_rate`` (float64), ``T = n_samples / sample_rate``;
- ``sine``: ``amplitude * sin(2 pi frequency t)``;
- ``chirp``: ``amplitude * sin(2 pi (frequency t + (frequency_end - frequency) t^2 / (2 T)))``
  (linear sweep from ``frequency`` to ``frequency_end`` Hz);
- ``noise``: ``amplitude * numpy.random.RandomState(seed).standard_normal(n_samples)`` (the
  legacy generator, whose stream numpy keeps fixed across versions);
- ``silence``: zeros;

then cast to float32, as Magenta does (``spectral_ops.pad`` casts its input to float32). The
fixture also stores each float32 signal's energy ``sum(x ** 2)`` (float64) so a test can check
that it rebuilt the same audio.

Magenta's settings, read from its source (``ddsp/spectral_ops.py``, ``ddsp/core.py``):
``compute_loudness(audio, sample_rate, frame_rate, n_fft, range_db, ref_db, use_tf=True,
padding='center')``; hop ``sample_rate // frame_rate`` (integer division, so every case here
has an integer hop); ``'center'`` zero-pads ``n_fft // 2`` samples on both ends and frames
with ``tf.signal.stft`` (periodic Hann, ``pad_end=False``): frame ``k`` is centred on sample
``k * hop`` and there are ``n_samples // hop + 1`` frames. Power is weighted by
``10 ** (librosa.A_weighting(f) / 10)`` (floored at -80 dB), averaged over the ``n_fft // 2 + 1``
bins, then ``core.power_to_db``: ``10 log10(max(power, 10 ** (-range_db / 10))) - ref_db``,
floored at ``-range_db``. TensorFlow computes in float32.

Fixture arrays: the recipe columns (``name``, ``kind``, ``sample_rate``, ``frame_rate``,
``n_fft``, ``n_samples``, ``frequency``, ``frequency_end``, ``amplitude``, ``seed``, ``ref_db``,
``range_db``), ``energy``; ``loudness`` (float32, all cases' curves concatenated) with
``offsets`` (case ``i`` is ``loudness[offsets[i]:offsets[i + 1]]``); ``a_weighting_hz`` and
``a_weighting_db`` (librosa's ``A_weighting(f, min_db=None)``, float64); ``versions``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "data" / "magenta_loudness.npz"

COLUMNS = (
    "name",
    "kind",
    "sample_rate",
    "frame_rate",
    "n_fft",
    "n_samples",
    "frequency",
    "frequency_end",
    "amplitude",
    "seed",
    "ref_db",
    "range_db",
)
# One row per case, columns as in COLUMNS. Lengths are not multiples of the hop, so the last frames
# reach past the end of the signal.
CASES = [
    *[
        (f"sine_{f}hz", "sine", 16000, 250, 512, 8037, f, 0.0, 1.0, 0, 0.0, 80.0)
        for f in (50, 100, 440, 1000, 3000, 7000)
    ],
    ("sine_1000hz_amp1e-3", "sine", 16000, 250, 512, 8037, 1000, 0.0, 1e-3, 0, 0.0, 80.0),
    ("sine_1000hz_amp3e-2", "sine", 16000, 250, 512, 8037, 1000, 0.0, 3e-2, 0, 0.0, 80.0),
    ("sine_100hz_amp1e-3", "sine", 16000, 250, 512, 8037, 100, 0.0, 1e-3, 0, 0.0, 80.0),
    ("sine_7000hz_amp1e-2", "sine", 16000, 250, 512, 8037, 7000, 0.0, 1e-2, 0, 0.0, 80.0),
    ("sine_1234.5hz_amp0.3", "sine", 16000, 250, 512, 8037, 1234.5, 0.0, 0.3, 0, 0.0, 80.0),
    ("noise_amp0.1", "noise", 16000, 250, 512, 8037, 0.0, 0.0, 0.1, 1, 0.0, 80.0),
    ("noise_amp1", "noise", 16000, 250, 512, 8037, 0.0, 0.0, 1.0, 2, 0.0, 80.0),
    ("chirp_50_7000hz", "chirp", 16000, 250, 512, 8037, 50, 7000, 0.5, 0, 0.0, 80.0),
    ("silence", "silence", 16000, 250, 512, 8037, 0.0, 0.0, 0.0, 0, 0.0, 80.0),
    # ref_db and range_db: both signs of ref_db, and floors that bind.
    ("sine_440hz_ref20.7", "sine", 16000, 250, 512, 8037, 440, 0.0, 0.5, 0, 20.7, 80.0),
    ("sine_440hz_ref-10", "sine", 16000, 250, 512, 8037, 440, 0.0, 0.5, 0, -10.0, 80.0),
    ("sine_1000hz_amp1e-3_range40", "sine", 16000, 250, 512, 8037, 1000, 0.0, 1e-3, 0, 0.0, 40.0),
    ("chirp_50_7000hz_ref20.7_range60", "chirp", 16000, 250, 512, 8037, 50, 7000, 0.01, 0, 20.7, 60.0),
    # Other frame rates, windows and sample rates (integer hops: 320, 441, 192).
    ("sine_440hz_fr50_nfft1024", "sine", 16000, 50, 1024, 8037, 440, 0.0, 0.5, 0, 0.0, 80.0),
    ("noise_fr50_nfft1024", "noise", 16000, 50, 1024, 8037, 0.0, 0.0, 0.3, 3, 0.0, 80.0),
    ("sine_1000hz_44k_fr100", "sine", 44100, 100, 2048, 22063, 1000, 0.0, 0.5, 0, 0.0, 80.0),
    ("chirp_44k_fr100", "chirp", 44100, 100, 2048, 22063, 50, 7000, 0.5, 0, 0.0, 80.0),
    ("sine_3000hz_48k_fr250", "sine", 48000, 250, 2048, 24011, 3000, 0.0, 0.5, 0, 0.0, 80.0),
    ("noise_48k_fr250", "noise", 48000, 250, 2048, 24011, 0.0, 0.0, 0.3, 4, 0.0, 80.0),
]
# Where librosa's A-weighting is sampled: every bin of the 512-point FFT at 16 kHz (DDSP's
# default analysis) and a log grid 5 Hz .. 24 kHz.
A_WEIGHTING_HZ = np.concatenate([np.fft.rfftfreq(512, 1 / 16000)[1:], np.geomspace(5.0, 24000.0, 97)])


def synthesize(
    kind: str, sample_rate: int, n_samples: int, frequency: float, frequency_end: float, amplitude: float, seed: int
) -> np.ndarray:
    """The recipe's signal (see the module docstring), float32 ``(n_samples,)``."""
    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    if kind == "sine":
        audio = amplitude * np.sin(2 * np.pi * frequency * t)
    elif kind == "chirp":
        duration = n_samples / sample_rate
        audio = amplitude * np.sin(2 * np.pi * (frequency * t + (frequency_end - frequency) * t**2 / (2 * duration)))
    elif kind == "noise":
        audio = amplitude * np.random.RandomState(seed).standard_normal(n_samples)
    elif kind == "silence":
        audio = np.zeros(n_samples)
    else:
        raise ValueError(f"kind must be sine, chirp, noise or silence, got {kind!r}")
    return audio.astype(np.float32)


def run_in_magenta_env(argv: list[str]) -> int:
    """From torchddsp's venv: create Magenta's environment if needed, re-run this script there."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from magenta_env import rerun_in_magenta_env  # noqa: PLC0415

    return rerun_in_magenta_env(__file__, argv)


def compute_fixture() -> dict:
    """Magenta's loudness of every case, the recipe, librosa's A-weighting and the versions."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.modules.setdefault("crepe", types.ModuleType("crepe"))  # ddsp imports it; unused here
    import ddsp  # noqa: PLC0415
    import librosa  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415
    from ddsp import spectral_ops  # noqa: PLC0415

    columns = {name: [row[i] for row in CASES] for i, name in enumerate(COLUMNS)}
    curves, energies = [], []
    for row in CASES:
        case = dict(zip(COLUMNS, row))
        audio = synthesize(
            case["kind"],
            case["sample_rate"],
            case["n_samples"],
            case["frequency"],
            case["frequency_end"],
            case["amplitude"],
            case["seed"],
        )
        with np.errstate(divide="ignore"):  # librosa's A-weighting takes log10(0) at the 0 Hz bin
            loudness = spectral_ops.compute_loudness(
                audio,
                sample_rate=case["sample_rate"],
                frame_rate=case["frame_rate"],
                n_fft=case["n_fft"],
                range_db=case["range_db"],
                ref_db=case["ref_db"],
                use_tf=True,
                padding="center",
            )
        curve = np.asarray(loudness, dtype=np.float32)
        if curve.shape != (case["n_samples"] // (case["sample_rate"] // case["frame_rate"]) + 1,):
            raise RuntimeError(f"{case['name']}: unexpected Magenta frame count {curve.shape}")
        curves.append(curve)
        energies.append(float(np.sum(audio.astype(np.float64) ** 2)))
    versions = {
        "ddsp": ddsp.__version__,
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    return {
        **{name: np.asarray(values) for name, values in columns.items()},
        "energy": np.asarray(energies, dtype=np.float64),
        "loudness": np.concatenate(curves),
        "offsets": np.cumsum([0] + [len(curve) for curve in curves]).astype(np.int64),
        "a_weighting_hz": A_WEIGHTING_HZ,
        "a_weighting_db": np.asarray(librosa.A_weighting(A_WEIGHTING_HZ, min_db=None), dtype=np.float64),
        "versions": np.asarray([f"{key}=={value}" for key, value in versions.items()]),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("ddsp") is None:
        return run_in_magenta_env(argv)
    start = time.perf_counter()
    fixture = compute_fixture()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **fixture)
    print(
        f"wrote {args.output} ({args.output.stat().st_size} bytes, {len(CASES)} cases, "
        f"{fixture['loudness'].size} frames) in {time.perf_counter() - start:.1f} s; "
        f"{', '.join(fixture['versions'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
