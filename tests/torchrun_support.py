"""Running a command under ``torchrun`` in the tests, and comparing what two runs wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TORCHRUN = Path(sys.executable).with_name("torchrun")


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N ARGS...`` with one thread per process (the
    ranks of a 2-core machine would otherwise fight for the cores)."""
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", str(processes), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def failure(done: subprocess.CompletedProcess) -> str:
    """What to show when a torchrun command failed: the ranks' own lines, then the end."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("torchddsp") or "Error" in line]
    return "\n".join(lines[:20]) + "\n...\n" + done.stderr[-2000:]


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included), by relative path."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_same_files(folder: Path, reference: Path) -> None:
    """The same files with the same bytes."""
    found, expected = files_of(folder), files_of(reference)
    assert sorted(found) == sorted(expected), f"files differ: {sorted(set(found) ^ set(expected))}"
    different = [name for name in expected if found[name] != expected[name]]
    assert not different, f"bytes differ in {different}"
