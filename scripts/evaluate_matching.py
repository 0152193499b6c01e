"""Evaluate sound-matching methods on held-out rendered sounds (in-domain) and soundfont notes
(out-of-domain), with 95 % bootstrap intervals.

Methods: random search (best of ``--steps + 1`` random patches), the iterative matcher
(``examples/sound_matching.py``'s method: ``--steps`` Adam steps from the neutral patch), and
each trained model alone and followed by ``--steps`` refinement steps: every search method has
the same render budget (``--steps + 1`` renders). Predictions render with noise seed 0 (the
target's noise is unknown), so even the true patch has a non-zero distance in-domain ("true
patch" row). Metrics: ``torchddsp.matching.metrics``. ::

    OMP_NUM_THREADS=1 python scripts/evaluate_matching.py \\
        --model parameter=data/matching/runs/parameter --model spectral=data/matching/runs/spectral \\
        --model both=data/matching/runs/both --soundfont data/matching/soundfont.pt \\
        --out data/matching/eval.json --table benchmarks/results/matching.md

Per-sound values go to ``--out`` (JSON, rewritten after every method), the table to ``--table``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from torchddsp.matching import Examples
from torchddsp.matching import MatchingSetup
from torchddsp.matching import bootstrap_ci
from torchddsp.matching import iterative_match
from torchddsp.matching import load_estimator
from torchddsp.matching import log_spectral_distance
from torchddsp.matching import mfcc_distance
from torchddsp.matching import parameter_error
from torchddsp.matching import random_search
from torchddsp.matching import refine
from torchddsp.matching import render_examples
from torchddsp.matching import render_free
from torchddsp.matching import spectral_distance

EVAL_SEED = 2  # training uses seed 1
METRICS = ("parameter_error", "spectral", "lsd_db", "mfcc")


def scores(voice, setup, data: Examples, free: torch.Tensor) -> dict[str, list[float]]:
    seeds = torch.zeros(len(data), dtype=torch.int64)
    with torch.no_grad():
        rendered = render_free(voice, setup, free, data.midi_note, seeds)
    out = {
        "spectral": spectral_distance(rendered, data.audio),
        "lsd_db": log_spectral_distance(rendered, data.audio),
        "mfcc": mfcc_distance(rendered, data.audio, setup.sample_rate),
    }
    if data.free is not None:
        out["parameter_error"] = parameter_error(free, data.free)
    return {k: v.tolist() for k, v in out.items()}


def run_method(method: str, models: dict, voice, setup, data: Examples, steps: int, batch_size: int) -> torch.Tensor:
    """Free values ``(n, n_free)`` found by ``method`` for every sound of ``data``."""
    found = []
    for start in range(0, len(data), batch_size):
        part = data.take(torch.arange(start, min(start + batch_size, len(data))))
        seeds = torch.zeros(len(part), dtype=torch.int64)
        if method == "true patch":
            found.append(part.free)
        elif method == "random search":
            generator = torch.Generator().manual_seed(start)
            found.append(random_search(voice, setup, part.audio, part.midi_note, seeds, steps + 1, generator)[0])
        elif method == "iterative matcher":
            found.append(iterative_match(voice, setup, part.audio, part.midi_note, seeds, steps)[0])
        else:
            name, refined, _ = method.partition(" + refine")
            with torch.no_grad():
                guess = models[name](part.audio, part.midi_note)
            if refined:
                guess = refine(voice, setup, guess, part.audio, part.midi_note, seeds, steps)[0]
            found.append(guess)
    return torch.cat(found)


def table(results: dict, domain: str) -> list[str]:
    present = [m for m in METRICS if any(m in r for r in results[domain].values())]
    lines = ["| method | " + " | ".join(present) + " |", "|---|" + "---:|" * len(present)]
    for method, values in results[domain].items():
        cells = []
        for metric in present:
            if metric in values:
                mean, low, high = bootstrap_ci(np.array(values[metric]))
                cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
            else:
                cells.append("")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def paired(results: dict, domain: str, a: str, b: str) -> list[str]:
    """Mean of ``a - b`` per metric, with its paired bootstrap interval."""
    lines = []
    if a in results[domain] and b in results[domain]:
        for metric in METRICS:
            if metric in results[domain][a]:
                diff = np.array(results[domain][a][metric]) - np.array(results[domain][b][metric])
                mean, low, high = bootstrap_ci(diff)
                lines.append(f"- {domain}, {metric}: {a} minus {b} = {mean:.3f} [{low:.3f}, {high:.3f}]")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=FOLDER (repeatable)")
    parser.add_argument("--soundfont", help="notes from scripts/matching_soundfont.py (eval split used)")
    parser.add_argument("--n-in-domain", type=int, default=500)
    parser.add_argument("--n-ood", type=int, default=0, help="at most this many soundfont notes (0: all)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--methods", help="comma-separated subset of the methods to run")
    parser.add_argument("--out", default="data/matching/eval.json")
    parser.add_argument("--table", default="benchmarks/results/matching.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = {k: load_estimator(v) for k, v in (item.split("=", 1) for item in args.model)}
    setup = MatchingSetup()
    voice = setup.make_voice()
    domains = {}  # out-of-domain first: the paper's finding is about it
    if args.soundfont:
        notes = torch.load(args.soundfont)
        keep = torch.tensor([s == "eval" for s in notes["split"]]).nonzero()[:, 0]
        keep = keep[: args.n_ood] if args.n_ood else keep
        domains["out-of-domain"] = Examples(notes["audio"][keep], notes["midi_note"][keep])
    domains["in-domain"] = render_examples(voice, setup, args.n_in_domain, EVAL_SEED)
    methods = ["true patch", "random search", "iterative matcher"]
    methods += [m for name in models for m in (name, f"{name} + refine")]
    if args.methods:
        methods = [m for m in methods if m in args.methods.split(",")]
    out = Path(args.out)
    results: dict = json.loads(out.read_text()) if out.exists() else {}
    for domain, data in domains.items():
        results.setdefault(domain, {})
        for method in methods:
            if method == "true patch" and data.free is None:
                continue
            began = time.process_time()
            found = run_method(method, models, voice, setup, data, args.steps, args.batch_size)
            results[domain][method] = scores(voice, setup, data, found)
            results[domain][method]["cpu_s"] = time.process_time() - began
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results))
            print(f"{domain} {method}: {time.process_time() - began:.0f} CPU s", flush=True)
    write_table(results, args, Path(args.table))


def write_table(results: dict, args: argparse.Namespace, path: Path) -> None:
    lines = ["# Sound matching (torchddsp.matching)", "", "Regenerate with:", "", "    " + " ".join(sys.argv), ""]
    lines += [f"Refinement / iterative steps: {args.steps}; random search: {args.steps + 1} renders.", ""]
    for domain in results:
        n = len(next(iter(results[domain].values()))["spectral"])
        lines += [f"## {domain} ({n} sounds): mean [95 % bootstrap interval]", "", *table(results, domain), ""]
        cpu = ", ".join(f"{m} {v['cpu_s']:.0f} s" for m, v in results[domain].items())
        lines += [f"CPU time per method: {cpu}", ""]
    lines += ["## Paired differences (negative: the first is better)", ""]
    for domain in results:
        for a, b in (("both", "parameter"), ("both_in_domain", "parameter"), ("both + refine", "parameter + refine")):
            lines += paired(results, domain, a, b)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
