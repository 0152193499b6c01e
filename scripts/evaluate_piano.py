"""Evaluate a piano model on the held-out pieces of ``scripts/piano_data.py`` and compare its
learned inharmonicity with the soundfont's own.

1. Each held-out piece rendered whole from its MIDI file against the fluidsynth render:
   multi-scale spectral distance (the training loss's ``MultiScaleSpectralLoss``, FFT 2048-64,
   linear + log magnitude; lower is better) and A-weighted loudness L1 in dB. Rows: the trained
   model; each ``--extra LABEL=FOLDER`` (e.g. a plain-harmonic model trained with ``B = 0``
   fixed, ``train_piano.py --plain-harmonic``, or an earlier model); the trained model with
   ``B = 0`` on every key (not retrained); the model at initialisation.
2. ``B`` measured from the soundfont's single notes (``notes/KEY.wav``): spectral peaks of
   partials 1..K found one by one near ``k f0 sqrt(1 + B k^2)`` with the running fit, then
   ``(f_k / k)^2 = f0^2 + f0^2 B k^2`` fitted by least squares (``f0`` free: the soundfont's
   tuning). Table and figure: measured, initial and learned ``B`` per key.

    python scripts/evaluate_piano.py --model /tmp/piano/run --data data/piano \
        --out benchmarks/results/piano.md --figure benchmarks/results/piano_inharmonicity.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from torchddsp.losses import LoudnessLoss
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.piano.midi import read_midi
from torchddsp.piano.model import PianoModel
from torchddsp.piano.model import typical_inharmonicity
from torchddsp.piano.render import load_piano_model
from torchddsp.piano.render import note_controls

SAMPLE_RATE = 16000


def measure_b(audio: np.ndarray, key: int, max_partials: int = 30) -> tuple[float, float, int]:
    """``(B, f0_hz, partials used)`` of one rendered note (module docstring, 2)."""
    segment = audio[int(0.05 * SAMPLE_RATE) : int(1.05 * SAMPLE_RATE)]
    n_fft = 8 * len(segment)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n_fft))
    log = np.log(spectrum + 1e-12)
    bin_hz = SAMPLE_RATE / n_fft
    f0, b, found = 440.0 * 2 ** ((key - 69) / 12), 0.0, []
    floor = log.max() - math.log(10**2)  # 40 dB below the strongest peak: weaker ones are noise
    for k in range(1, max_partials + 1):
        predicted = k * f0 * math.sqrt(1 + b * k * k)
        if predicted > 0.45 * SAMPLE_RATE:
            break
        low, high = int((predicted - 0.2 * f0) / bin_hz), int((predicted + 0.2 * f0) / bin_hz)
        i = low + int(np.argmax(log[low:high]))
        if log[i] < floor or i in (low, high - 1):
            continue
        a, c = log[i - 1], log[i + 1]
        found.append((k, (i + 0.5 * (a - c) / (a - 2 * log[i] + c)) * bin_hz))
        if len(found) >= 3:
            ks = np.array([p[0] for p in found], dtype=float)
            ys = (np.array([p[1] for p in found]) / ks) ** 2
            slope, intercept = np.polyfit(ks**2, ys, 1)
            f0, b = math.sqrt(max(intercept, 1e-9)), max(slope / intercept, 0.0)
    return (b, f0, len(found)) if len(found) >= 4 else (float("nan"), f0, len(found))


def piece_scores(model: PianoModel, data: Path) -> dict[str, list[float]]:
    """``name -> [spectral distance, loudness L1 dB]`` of every held-out piece."""
    spectral = MultiScaleSpectralLoss(fft_sizes=(2048, 1024, 512, 256, 128, 64))
    loudness = LoudnessLoss(SAMPLE_RATE)
    scores = {}
    hop = SAMPLE_RATE // model.config.frame_rate
    for wav in sorted((data / "heldout").glob("*.wav")):
        target, _ = sf.read(wav, dtype="float32")
        n_frames = len(target) // hop
        voices, roll = note_controls(read_midi(wav.with_suffix(".mid")), n_frames, model.config)
        target_t = torch.from_numpy(target[: n_frames * hop])[None]
        with torch.no_grad():
            prediction = model(voices, roll, seed=0)
            scores[wav.stem] = [float(spectral(prediction, target_t)), float(loudness(prediction, target_t))]
    return scores


def without_inharmonicity(model: PianoModel) -> PianoModel:
    copy = PianoModel(model.config)
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        copy.log_inharmonicity.fill_(-60.0)  # B = e^-60: no stretch at float precision
    return copy.eval()


def score_table(rows: dict[str, dict[str, list[float]]]) -> list[str]:
    names = sorted(next(iter(rows.values())))
    lines = [
        "| model | "
        + " | ".join(f"{n} spectral | {n} loudness dB" for n in names)
        + " | mean spectral | mean loudness dB |"
    ]
    lines.append("|---" * (2 * len(names) + 3) + "|")
    for label, scores in rows.items():
        cells = [f"{scores[n][0]:.3f} | {scores[n][1]:.2f}" for n in names]
        means = np.mean([scores[n] for n in names], axis=0)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {means[0]:.3f} | {means[1]:.2f} |")
    return lines


def b_rows(model: PianoModel, data: Path) -> list[tuple[int, float, float, float, int]]:
    """``(key, measured B, initial B, learned B, partials)`` for every rendered single note."""
    learned = model.inharmonicity().detach().double()
    rows = []
    for wav in sorted((data / "notes").glob("*.wav"), key=lambda p: int(p.stem)):
        key = int(wav.stem)
        audio, _ = sf.read(wav, dtype="float64")
        measured, _, partials = measure_b(audio, key)
        initial = float(typical_inharmonicity(torch.tensor(float(key), dtype=torch.float64)))
        rows.append((key, measured, initial, float(learned[key - 21]), partials))
    return rows


def figure(rows, path: Path, extras: dict | None = None) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    keys = np.array([r[0] for r in rows])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.semilogy(keys, [r[1] for r in rows], "o", label="measured (FluidR3_GM notes)")
    ax.semilogy(keys, [r[2] for r in rows], "--", label="initial (typical curve)")
    for label, extra_rows in (extras or {}).items():
        ax.semilogy(keys, [r[3] for r in extra_rows], ":", label=f"learned, {label}")
    ax.semilogy(keys, [r[3] for r in rows], "-", label="learned")
    ax.set_xlabel("MIDI key")
    ax.set_ylabel("inharmonicity B")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def log_error(rows, column: int) -> float:
    """Median ``|log10(B / B_measured)|`` over keys where B was measured."""
    errors = [abs(math.log10(r[column] / r[1])) for r in rows if math.isfinite(r[1]) and r[1] > 0]
    return float(np.median(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="piano", help="model folder or 'piano'")
    parser.add_argument("--data", type=Path, default=Path("data/piano"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/piano.md"))
    parser.add_argument("--figure", type=Path, default=Path("benchmarks/results/piano_inharmonicity.png"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--extra", action="append", default=[], help="LABEL=FOLDER: another model's row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_piano_model(args.model)
    torch.manual_seed(0)
    initial = PianoModel(model.config).eval()
    scores = {"trained": piece_scores(model, args.data)}
    extras = {label: load_piano_model(folder) for label, folder in (e.rsplit("=", 1) for e in args.extra)}
    scores |= {label: piece_scores(extra, args.data) for label, extra in extras.items()}
    scores["trained, B zeroed after training"] = piece_scores(without_inharmonicity(model), args.data)
    scores["at initialisation"] = piece_scores(initial, args.data)
    rows = b_rows(model, args.data)
    extra_rows = {
        label: b_rows(extra, args.data) for label, extra in extras.items() if extra.log_inharmonicity.min() > -50
    }
    previous = "".join(f", {label} {log_error(r, 3):.3f}" for label, r in extra_rows.items())
    lines = ["# Piano model (issue 19): held-out pieces and inharmonicity", "",
             f"Regenerate: `{' '.join(['python', *sys.argv])}`", "", *score_table(scores), "",
             f"Median |log10(B / B_measured)| over measured keys: initial curve {log_error(rows, 2):.3f}, "
             f"learned {log_error(rows, 3):.3f}{previous}.", "",
             "| key | measured B | partials | initial B | learned B |" + "".join(f" {label} |" for label in extra_rows),
             "|---|---|---|---|---|" + "---|" * len(extra_rows)]  # fmt: skip
    for n, (k, m, i, lb, p) in enumerate(rows):
        others = "".join(f" {r[n][3]:.2e} |" for r in extra_rows.values())
        lines.append(f"| {k} | {m:.2e} | {p} | {i:.2e} | {lb:.2e} |{others}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    figure(rows, args.figure, extra_rows)
    if args.json:
        args.json.write_text(json.dumps({"scores": scores, "b_rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
