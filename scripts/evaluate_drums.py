"""Evaluate the bundled drum model on the held-out hits and sweep its descriptor controls.

    .venv/bin/python scripts/evaluate_drums.py
    # -> benchmarks/results/drums.md, benchmarks/results/drums_sweep.png,
    #    src/torchddsp/pretrained/drums/evaluation.json

Descriptor error: mean |measured - requested| in per-class normalised units of the hits
generated for the held-out hits' own descriptors, against a baseline that ignores the request
(per class, the mean of the model's unit controls over the training hits). Spectral distance:
Magenta's multi-scale spectral loss between each generated hit and its held-out hit.
Random requests: the same errors for 200 descriptor vectors drawn uniformly over [0, 1]^3
(40 per class, seed 0), i.e. over each class's whole range rather than where its hits sit.
Sweep: each descriptor requested at 0, 0.1, ..., 1 (the others at 0.5) per class; Spearman
rank correlation of measured against requested, and the least-squares slope (1: the measured
value spans the range asked for; near 0: the request barely moves it).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from torchddsp.drums.descriptors import timbre_descriptors  # noqa: E402
from torchddsp.drums.model import BUNDLED  # noqa: E402
from torchddsp.drums.model import DESCRIPTORS  # noqa: E402
from torchddsp.drums.model import DRUMS  # noqa: E402
from torchddsp.drums.model import load_drum_model  # noqa: E402
from torchddsp.drums.training import spectral_loss  # noqa: E402

SWEEP = np.linspace(0.0, 1.0, 11)


def held_out_scores(model, data) -> dict:
    """Descriptor errors and spectral distances of model and baseline on the held-out hits."""
    test, train = data["held_out"], ~data["held_out"]
    drum = torch.tensor(data["drum"][test], dtype=torch.int64)
    audio = torch.tensor(data["audio"][test])
    targets = model.normalise(drum, timbre_descriptors(audio, model.synth.sample_rate))
    train_drum = torch.tensor(data["drum"][train], dtype=torch.int64)
    train_targets = model.normalise(train_drum, timbre_descriptors(torch.tensor(data["audio"][train]), 16000))
    with torch.no_grad():
        controls = model.controls(train_drum, train_targets)
        means = torch.stack([controls[train_drum == k].mean(0) for k in range(len(DRUMS))])
        outputs = {"model": model(drum, targets), "class-mean controls": model.synth(means[drum])}
    distance = spectral_loss(reduction="none")
    scores = {}
    for name, generated in outputs.items():
        error = (model.measure(drum, generated) - targets).abs()
        scores[name] = {
            **{d: error[:, i].mean().item() for i, d in enumerate(DESCRIPTORS)},
            "mean": error.mean().item(),
            "spectral": distance(generated, audio).mean().item(),
        }
    scores["n_held_out"] = int(test.sum())
    scores["random requests"] = request_scores(model, means)
    return scores


def request_scores(model, means: torch.Tensor, per_class: int = 40) -> dict:
    """Mean |measured - requested| per descriptor of model and class-mean baseline on uniform
    random requests (``per_class`` per class, seed 0)."""
    generator = torch.Generator().manual_seed(0)
    drum = torch.arange(len(DRUMS)).repeat_interleave(per_class)
    targets = torch.rand(drum.shape[0], 3, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        outputs = {"model": model(drum, targets), "class-mean controls": model.synth(means[drum])}
    scores = {}
    for name, generated in outputs.items():
        error = (model.measure(drum, generated) - targets).abs()
        scores[name] = {
            **{d: error[:, i].mean().item() for i, d in enumerate(DESCRIPTORS)},
            "mean": error.mean().item(),
        }
    return scores


def sweep(model) -> tuple[np.ndarray, dict]:
    """Measured normalised descriptors ``(drums, descriptors, steps)`` of the sweeps, and the
    Spearman correlation and least-squares slope of each."""
    measured = np.zeros((len(DRUMS), len(DESCRIPTORS), len(SWEEP)))
    for k in range(len(DRUMS)):
        for d in range(len(DESCRIPTORS)):
            targets = torch.full((len(SWEEP), 3), 0.5, dtype=torch.float64)
            targets[:, d] = torch.tensor(SWEEP)
            drum = torch.full((len(SWEEP),), k, dtype=torch.int64)
            with torch.no_grad():
                measured[k, d] = model.measure(drum, model(drum, targets))[:, d].numpy()
    rho = {
        f"{DRUMS[k]}/{DESCRIPTORS[d]}": float(spearmanr(SWEEP, measured[k, d]).statistic)
        for k in range(len(DRUMS))
        for d in range(len(DESCRIPTORS))
    }
    slope = {
        f"{DRUMS[k]}/{DESCRIPTORS[d]}": float(np.polyfit(SWEEP, measured[k, d], 1)[0])
        for k in range(len(DRUMS))
        for d in range(len(DESCRIPTORS))
    }
    return measured, {"spearman": rho, "slope": slope}


def figure(measured: np.ndarray, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for d, ax in enumerate(axes):
        for k, drum in enumerate(DRUMS):
            ax.plot(SWEEP, measured[k, d], marker="o", ms=3, label=drum)
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="requested")
        ax.set(title=DESCRIPTORS[d], xlabel="requested (normalised)", ylabel="measured (normalised)")
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=110)


def table(scores: dict, sweeps: dict) -> str:
    rows = [
        "| hits generated for | brightness err | depth err | warmth err | mean err | spectral distance |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("model", "class-mean controls"):
        s = scores[name]
        rows.append(
            f"| {name} | {s['brightness']:.3f} | {s['depth']:.3f} | {s['warmth']:.3f} | "
            f"{s['mean']:.3f} | {s['spectral']:.2f} |"
        )
    rows += [
        "",
        "| random requests (200) | brightness err | depth err | warmth err | mean err |",
        "|---|---|---|---|---|",
    ]
    for name in ("model", "class-mean controls"):
        s = scores["random requests"][name]
        rows.append(f"| {name} | {s['brightness']:.3f} | {s['depth']:.3f} | {s['warmth']:.3f} | {s['mean']:.3f} |")
    rho, slope = sweeps["spearman"], sweeps["slope"]
    rows += ["", "| sweep: Spearman rho (slope) | " + " | ".join(DESCRIPTORS) + " |", "|---|---|---|---|"]
    for drum in DRUMS:
        cells = [f"{rho[f'{drum}/{d}']:.2f} ({slope[f'{drum}/{d}']:.2f})" for d in DESCRIPTORS]
        rows.append(f"| {drum} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/drums/hits.npz"))
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_drum_model(args.model)
    data = np.load(args.data)
    scores = held_out_scores(model, data)
    measured, sweeps = sweep(model)
    figure(measured, args.results / "drums_sweep.png")
    text = table(scores, sweeps)
    header = (
        "# Drums: descriptor-controlled drum model (issue 19.3)\n\n"
        f"Held-out hits: {scores['n_held_out']} (a fifth of each class and soundfont). Errors in "
        "per-class normalised descriptor units; spectral distance: Magenta multi-scale L1.\n"
        "Regenerate: `.venv/bin/python scripts/evaluate_drums.py` (after scripts/drums_data.py). Model: "
        f"`{os.path.relpath(args.model)}` (its README: recipe, CPU time, earlier bundles' figures). Random requests: "
        "uniform over each class's range; sweep slope 1 = the measured value spans the range asked for.\n\n"
    )
    (args.results / "drums.md").write_text(header + text + "\n\n![sweep](drums_sweep.png)\n")
    (args.model / "evaluation.json").write_text(
        json.dumps({"held_out": scores, "sweep_spearman": sweeps["spearman"], "sweep_slope": sweeps["slope"]}, indent=1)
        + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
