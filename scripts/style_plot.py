"""Plot style-transfer training curves (exact gradients vs SPSA) from train_style.py runs.

Reads ``RUN/train.csv`` of each ``NAME=RUN``, writes one CSV with every run's rows (a ``run``
column first) and a PNG: held-out loss against step and against CPU seconds.

Usage::

    python scripts/style_plot.py exact=runs/style_exact spsa=runs/style_spsa \\
        --out src/torchddsp/pretrained/style/training_curves
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN")
    parser.add_argument("--out", type=Path, required=True, help="path without suffix (.csv and .png are written)")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, _, folder = item.partition("=")
        runs[name] = list(csv.DictReader((Path(folder) / "train.csv").open()))
    with open(args.out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        fields = list(next(iter(runs.values()))[0])
        writer.writerow(["run", *fields])
        for name, rows in runs.items():
            writer.writerows([name, *(row[f] for f in fields)] for row in rows)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for colour, (name, rows) in zip(("C0", "C3", "C2", "C1"), runs.items()):
        loss = [float(r["eval_loss"]) for r in rows]
        axes[0].plot([int(r["step"]) for r in rows], loss, marker="o", ms=3, color=colour, label=f"{name} (held-out)")
        axes[0].plot(
            [int(r["step"]) for r in rows],
            [float(r["train_loss"]) for r in rows],
            lw=0.6,
            alpha=0.5,
            color=colour,
            label=f"{name} (train batch)",
        )
        axes[1].plot([float(r["cpu_s"]) / 60 for r in rows], loss, marker="o", ms=3, color=colour, label=name)
    axes[0].set(xlabel="step", ylabel="multi-scale STFT loss", yscale="log")
    axes[1].set(xlabel="CPU minutes", ylabel="held-out loss")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.savefig(args.out.with_suffix(".png"), dpi=90)
    print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
