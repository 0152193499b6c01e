"""Compare torchddsp's own benchmark figures between a commit and the working tree, in one run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/compare_commits.py --before 58fa7c7 --rounds 2 \\
        --bench "bench_iir.py" --bench "bench_synth.py --no-peer" [--out FILE]

Each benchmark script runs from its own tree (the commit, checked out as a temporary git
worktree, and the working tree), with that tree's ``src`` first on ``PYTHONPATH``, the two
alternating for ``--rounds`` rounds so that a change in the machine's load hits both. The
markdown tables the scripts print are parsed; for every row present in both trees, the
columns that time torchddsp (header naming torchddsp, ``s/step`` or ``idle median``) are
reported as the median over rounds, before and after, with their ratio. Peers are not
compared (they do not change between commits).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMED_COLUMN = re.compile(r"torchddsp|s/step|idle median", re.IGNORECASE)
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_tables(text: str) -> dict[tuple[str, ...], float]:
    """``{(table header, row key, column): value}`` for the timed columns of every table."""
    values: dict[tuple[str, ...], float] = {}
    lines = [line.strip() for line in text.splitlines()]
    for i in range(len(lines) - 1):
        if not (lines[i].startswith("|") and re.match(r"^\|[-:| ]+\|$", lines[i + 1])):
            continue
        header = [cell.strip() for cell in lines[i].strip("|").split("|")]
        for line in lines[i + 2 :]:
            if not line.startswith("|"):
                break
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            first_timed = next((j for j, h in enumerate(header) if TIMED_COLUMN.search(h)), len(header))
            key = " / ".join(cells[:first_timed])  # the row's name: the cells before its first timing
            for cell, column in zip(cells, header):
                first = cell.split(" ")[0]
                if TIMED_COLUMN.search(column) and NUMBER.match(first):
                    values[(header[0], key, column)] = float(first)
    return values


def run(tree: Path, command: str) -> dict[tuple[str, ...], float]:
    script, *args = shlex.split(command)
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    result = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script), *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"{command} failed in {tree}:\n{result.stderr[-2000:]}", file=sys.stderr)
        return {}
    return parse_tables(result.stdout)


def compare(before: Path, after: Path, command: str, rounds: int) -> list[str]:
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(rounds):
        runs["before"].append(run(before, command))
        runs["after"].append(run(after, command))
    rows = []
    for key in runs["after"][0] if runs["after"] else []:
        old = [r[key] for r in runs["before"] if key in r]
        new = [r[key] for r in runs["after"] if key in r]
        if not old or not new:
            continue
        b, a = statistics.median(old), statistics.median(new)
        ratio = a / b if b else float("nan")
        verdict = "yes" if ratio <= 1.10 else "NO"
        rows.append(f"| {command.split()[0]} | {key[1]} | {key[2]} | {b:g} | {a:g} | {ratio:.2f} | {verdict} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git commit to compare against")
    parser.add_argument("--bench", action="append", required=True, help="script under benchmarks/ and its arguments")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True, capture_output=True
        )
        try:
            lines = [
                "| benchmark | row | column | before | after | after / before | within 10 % |",
                "|---|---|---|---:|---:|---:|---|",
            ]
            for command in args.bench:
                lines += compare(before, ROOT, command, args.rounds)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    header = (
        f"<!-- .venv/bin/python benchmarks/compare_commits.py --before {args.before} --rounds {args.rounds} "
        + " ".join(f'--bench "{b}"' for b in args.bench)
        + " -->"
    )
    text = "\n".join([header, *lines]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
