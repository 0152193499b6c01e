"""Evaluate style-transfer models on held-out pairs (speech and music) against baselines.

Pairs: ``--pairs`` per kind from the held-out recordings of scripts/style_data.py, made as in
training (``torchddsp.style.training.make_examples``: two ``--seconds`` segments of one
recording, both coloured by one random setting, then a random style makes the reference and
the target) with a fixed seed, so every method sees the same pairs. Methods: the input
unchanged; the rule-based matching EQ plus loudness normalisation
(``torchddsp.style.metrics.matching_eq``); each ``--model NAME=FOLDER``.

Metrics (``torchddsp.style.metrics.style_metrics``, against the target): multi-scale STFT and
log-mel distances, loudness, spectral-centroid and crest-factor errors; mean and a 95 %
confidence interval (1.96 standard errors over pairs).

Usage::

    python scripts/evaluate_style.py --model exact=src/torchddsp/pretrained/style \\
        --model spsa=runs/style_spsa --out benchmarks/results/style.md
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from torchddsp.io import read_audio
from torchddsp.style.metrics import METRICS
from torchddsp.style.metrics import match_loudness
from torchddsp.style.metrics import matching_eq
from torchddsp.style.metrics import style_metrics
from torchddsp.style.model import load_style_model
from torchddsp.style.training import make_examples
from torchddsp.style.training import segment_pairs

UNITS = {"stft": "", "mel": "", "loudness_db": " (dB)", "centroid_hz": " (Hz)", "crest_db": " (dB)"}


def held_out(data: Path, kind: str) -> list[torch.Tensor]:
    manifest = json.loads((data / "manifest.json").read_text())
    rows = [r for r in manifest["recordings"] if r["file"].startswith("eval/") and r["kind"] == kind]
    return [read_audio(data / r["file"], manifest["sample_rate"]) for r in rows]


def evaluate_kind(
    recordings: list[torch.Tensor], models: dict, pairs: int, seconds: float, seed: int, loudness: bool
) -> dict:
    """``{method: {metric: tensor (pairs,)}}`` on ``pairs`` seeded pairs, in batches of 10."""
    generator = torch.Generator().manual_seed(seed)
    results: dict[str, dict[str, list[torch.Tensor]]] = {}
    for _ in range(math.ceil(pairs / 10)):
        example = make_examples(*segment_pairs(recordings, 10, round(seconds * 16000), generator), 16000, generator)
        outputs = {
            "input unchanged": example.input,
            "matching EQ + loudness": matching_eq(example.input, example.reference, 16000),
        }
        with torch.no_grad():
            for name, model in models.items():
                outputs[name] = model(example.input, example.reference)[0]
                if loudness:
                    outputs[name + " + loudness"] = match_loudness(outputs[name], example.reference, 16000)
        for name, output in outputs.items():
            for metric, values in style_metrics(output, example.target, 16000).items():
                results.setdefault(name, {}).setdefault(metric, []).append(values)
    return {name: {m: torch.cat(v)[:pairs] for m, v in metrics.items()} for name, metrics in results.items()}


def table(kind: str, results: dict) -> str:
    lines = [f"### {kind}", "", "| method | " + " | ".join(m + UNITS[m] for m in METRICS) + " |"]
    lines.append("|---" * (len(METRICS) + 1) + "|")
    for name, metrics in results.items():
        cells = []
        for metric in METRICS:
            values = metrics[metric].double()
            half = 1.96 * float(values.std()) / math.sqrt(len(values))
            digits = 0 if metric == "centroid_hz" else 2 if metric.endswith("_db") else 3
            cells.append(f"{float(values.mean()):.{digits}f} ± {half:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/style"))
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FOLDER")
    parser.add_argument("--pairs", type=int, default=100, help="held-out pairs per kind")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, help="write the Markdown tables here")
    parser.add_argument("--loudness", action="store_true", help="also each model followed by loudness normalisation")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = {}
    for item in args.model:
        name, _, folder = item.partition("=")
        models[f"model ({name})"] = load_style_model(folder)
    text = [
        f"Held-out pairs: {args.pairs} per kind, {args.seconds:g} s, seed {args.seed}; mean ± 95 % CI; lower is better.\n",
        "Command: `python scripts/evaluate_style.py "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:])
        + "`\n",
    ]
    summary = {}
    for kind in ("speech", "music"):
        results = evaluate_kind(held_out(args.data, kind), models, args.pairs, args.seconds, args.seed, args.loudness)
        text.append(table(kind, results))
        summary[kind] = {n: {m: float(v.mean()) for m, v in ms.items()} for n, ms in results.items()}
    print("\n".join(text))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Style transfer: held-out evaluation\n\n" + "\n".join(text))
        args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
