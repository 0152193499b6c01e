"""Peak memory and speed of the CLI on long recordings (issue 12: at most 1 GB for an hour).

Generates a synthetic melody (notes of a few harmonics with vibrato and envelopes, phrases
separated by silences; 48 kHz stereo, 16-bit WAV, written in blocks) and runs the real
commands in a child process each, measuring the child's peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a fresh wrapper process per command)
and its wall time, reported in seconds per minute of audio.

Rows (``--only`` reruns some and keeps the others in the results file):

- ``prepare-yin``: ``python -m torchddsp prepare`` of the long file (default one hour), YIN.
- ``prepare-crepe``: the same with CREPE tiny on a shorter file (``--crepe-minutes``, default 3);
  ``--crepe-hour`` runs it on the long file instead (slow on a 2-core CPU: about an hour).
- ``transfer-yin``: ``python -m torchddsp transfer LONG.wav --model violin -o OUT.wav --f0-method yin``.
- ``transfer-crepe``: the same with CREPE tiny (the command's default pitch tracker), on the long
  file (slow on a 2-core CPU: about 11 s per minute of audio).
- ``evaluate``: ``python -m torchddsp evaluate violin DATASET`` on the dataset of ``prepare-yin``
  (its held-out split, the last tenth of the file: the minutes reported are those).

Usage::

    python benchmarks/bench_long_recordings.py                      # all rows, one hour
    python benchmarks/bench_long_recordings.py --only prepare-yin --minutes 10

The results go to ``benchmarks/results/long_recordings.md`` (first line: the command).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "long_recordings.md"
ROWS = ("prepare-yin", "prepare-crepe", "transfer-yin", "transfer-crepe", "evaluate")
RATE = 48000
HEADER = (
    "| case | audio (min) | peak memory (MB) | wall (s) | wall s per minute of audio | CPU s per minute | exit "
    "| command |\n|---|---:|---:|---:|---:|---:|---:|---|"
)


def melody(path: Path, minutes: float, seed: int = 0, block_seconds: float = 30.0) -> None:
    """Write ``minutes`` of a stereo 48 kHz melody to ``path`` in blocks (memory: one block).

    Phrases of 4 to 12 notes (MIDI 48-84, 0.15-1.2 s each, harmonics falling as 1/k, 5 Hz
    vibrato, attack and release ramps) separated by 0.3-2 s of silence; the right channel is
    the left one at 0.8 with a little noise, so that the downmix matters.
    """
    rng = np.random.default_rng(seed)
    total = int(round(minutes * 60 * RATE))
    written = 0
    pending = np.zeros(0, np.float32)
    with sf.SoundFile(str(path), "w", RATE, 2, subtype="PCM_16") as handle:
        while written < total:
            while len(pending) < block_seconds * RATE:
                pending = np.concatenate([pending, _phrase(rng)])
            block = pending[: min(int(block_seconds * RATE), total - written)]
            pending = pending[len(block) :]
            right = 0.8 * block + 1e-3 * rng.standard_normal(len(block)).astype(np.float32)
            handle.write(np.stack([block, right], axis=1))
            written += len(block)


def _phrase(rng: np.random.Generator) -> np.ndarray:
    notes = []
    for _ in range(rng.integers(4, 13)):
        seconds = rng.uniform(0.15, 1.2)
        midi = rng.integers(48, 85)
        t = np.arange(int(seconds * RATE)) / RATE
        f0 = 440.0 * 2 ** ((midi - 69) / 12) * (1 + 0.004 * np.sin(2 * np.pi * 5.0 * t))
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        harmonics = sum(np.sin(k * phase) / k for k in range(1, 9) if k * f0.max() < 0.45 * RATE)
        envelope = np.minimum(1.0, np.minimum(t / 0.03, (seconds - t) / 0.08)).clip(0.0)
        notes.append((0.25 * rng.uniform(0.3, 1.0) * envelope * harmonics).astype(np.float32))
    notes.append(np.zeros(int(rng.uniform(0.3, 2.0) * RATE), np.float32))
    return np.concatenate(notes)


def measure(command: list[str], max_mb: float, timeout_s: float) -> dict:
    """Run ``command`` in a fresh wrapper process: its peak RSS (MB) and wall time (s).

    The wrapper kills the command when its resident memory passes ``max_mb`` (so that a
    command whose memory grows with the recording cannot take the shared machine down) or
    when it runs past ``timeout_s``; ``code`` then says which.
    """
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "limit_kb, timeout = float(sys.argv[1]) * 1024, float(sys.argv[2])\n"
        "start = time.perf_counter()\n"
        "child = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "import threading\n"
        "tail = []\n"
        "threading.Thread(target=lambda: tail.append(child.stderr.read()), daemon=True).start()\n"
        "code = None\n"
        "while child.poll() is None:\n"
        "    try:\n"
        "        rss = int(next(l for l in open(f'/proc/{child.pid}/status') if l.startswith('VmRSS')).split()[1])\n"
        "    except (OSError, StopIteration):\n"
        "        rss = 0\n"
        "    if rss > limit_kb or time.perf_counter() - start > timeout:\n"
        "        code = 'killed: memory' if rss > limit_kb else 'killed: time'\n"
        "        child.kill()\n"
        "    time.sleep(0.1)\n"
        "child.wait()\n"
        "seconds = time.perf_counter() - start\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime\n"
        "time.sleep(0.2)\n"
        "err = (tail[0] if tail else b'').decode(errors='replace')[-2000:]\n"
        "print(json.dumps({'code': code or child.returncode, 'seconds': seconds, 'cpu_seconds': cpu, 'peak_mb': peak,\n"
        "                  'stderr': err}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, str(max_mb), str(timeout_s), *command], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "torchddsp", *map(str, args)]


def _audio(workdir: Path, name: str, minutes: float) -> Path:
    """A folder holding one melody file of ``minutes`` (generated once, reused)."""
    folder = workdir / f"{name}_{minutes:g}min"
    path = folder / "melody.wav"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        melody(path.with_suffix(".partial.wav"), minutes)
        path.with_suffix(".partial.wav").rename(path)
    return path


def run_rows(rows: list[str], args: argparse.Namespace) -> dict[str, str]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    long_file = _audio(workdir, "long", args.minutes)
    dataset = workdir / f"dataset_yin_{args.minutes:g}min"
    results = {}
    for row in rows:
        minutes = args.minutes
        if row == "prepare-yin":
            command = _cli("prepare", long_file.parent, dataset, "--f0-method", "yin", "--quiet")
        elif row == "prepare-crepe":
            minutes = args.minutes if args.crepe_hour else args.crepe_minutes
            audio = long_file if args.crepe_hour else _audio(workdir, "short", minutes)
            command = _cli(
                "prepare", audio.parent, workdir / f"dataset_crepe_{minutes:g}min", "--f0-method", "crepe", "--quiet"
            )
        elif row in ("transfer-yin", "transfer-crepe"):
            method = row.split("-")[1]
            command = _cli(
                "transfer",
                long_file,
                "--model",
                "violin",
                "-o",
                workdir / f"transfer_{method}.wav",
                "--f0-method",
                method,
                "--quiet",
            )
        else:
            if not (dataset / "dataset.json").is_file():
                measure(
                    _cli("prepare", long_file.parent, dataset, "--f0-method", "yin", "--quiet"),
                    args.max_mb,
                    args.timeout,
                )
            command = _cli("evaluate", "violin", dataset, "--output", workdir / "evaluation.json")
            # evaluate reads the held-out split only: its length is the audio it processes.
            minutes = json.loads((dataset / "dataset.json").read_text())["seconds"]["eval"] / 60
        print(f"{row}: {shlex.join(command)}", flush=True)
        figures = measure(command, args.max_mb, args.timeout)
        print(
            f"  {figures['peak_mb']:.0f} MB, {figures['seconds']:.1f} s ({figures['cpu_seconds']:.1f} s CPU), "
            f"exit {figures['code']}",
            flush=True,
        )
        if figures["code"]:
            print(figures["stderr"], flush=True)
        exit_text = (
            figures["code"]
            if not str(figures["code"]).startswith("killed")
            else f"{figures['code']} (limits {args.max_mb:g} MB, {args.timeout:g} s)"
        )
        shown = shlex.join(
            ["python", "-m", "torchddsp"]
            + [os.path.relpath(c, workdir) if os.path.isabs(c) else c for c in command[3:]]
        )
        results[row] = (
            f"| {row} | {minutes:.3g} | {figures['peak_mb']:.0f} | {figures['seconds']:.1f} | "
            f"{figures['seconds'] / minutes:.2f} | {figures['cpu_seconds'] / minutes:.2f} | {exit_text} | `{shown}` |"
        )
    return results


def write_results(results: dict[str, str], command: str) -> None:
    """Replace the rows just measured, keep the others (each with the command that measured it)."""
    rows, sources = {}, {}
    if RESULTS.is_file():
        for line in RESULTS.read_text().splitlines():
            if line.startswith("| ") and line.split("|")[1].strip() in ROWS:
                rows[line.split("|")[1].strip()] = line
            elif line.startswith("- `") and line[3:].split("`")[0] in ROWS:
                sources[line[3:].split("`")[0]] = line
    rows.update(results)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sources.update({row: f"- `{row}`: `{command}` ({stamp})" for row in results})
    lines = (
        [
            command,
            "",
            f"CPU: {os.cpu_count()} cores, shared; peak memory = ru_maxrss of the command's process.",
            "",
            HEADER,
        ]
        + [rows[row] for row in ROWS if row in rows]
        + ["", "Rows measured by:", ""]
        + [sources[row] for row in ROWS if row in sources]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the long file")
    parser.add_argument("--crepe-minutes", type=float, default=3.0, help="length of the CREPE file")
    parser.add_argument("--crepe-hour", action="store_true", help="prepare-crepe on the long file (slow)")
    parser.add_argument("--max-mb", type=float, default=8000.0, help="kill a command above this resident memory")
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill a command after this many seconds")
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "torchddsp_long_recordings"),
        help="where the generated audio and outputs go (large: 700 MB per hour)",
    )
    args = parser.parse_args()
    started = time.time()
    results = run_rows(args.only, args)
    write_results(results, shlex.join(["python", "benchmarks/bench_long_recordings.py", *sys.argv[1:]]))
    print(f"wrote {RESULTS} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
