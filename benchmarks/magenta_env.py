"""Magenta DDSP's own virtual environment for the benchmarks (never torchddsp's): where it
lives, the recipe that installs it on Python 3.11, and a check that it imports."""

from __future__ import annotations

from pathlib import Path

from peer_env import ensure_env  # benchmarks/peer_env.py
from peer_env import env_python  # benchmarks/peer_env.py
from peer_env import imports_ok  # benchmarks/peer_env.py

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_MAGENTA_ENV = BENCH_DIR / ".peers" / "magenta"
# The recipe that works on Python 3.11 (ddsp's own pins do not install there).
MAGENTA_REQUIREMENTS = [
    "tensorflow-cpu==2.15.1",
    "tensorflow-probability==0.23.0",
    "gin-config",
    "numpy<2",
    "scipy",
    "librosa<0.11",
    "absl-py",
]
MAGENTA_PACKAGE = "ddsp==3.7.0"  # installed with --no-deps


MAGENTA_PROBE = "import sys, types; sys.modules['crepe'] = types.ModuleType('crepe'); import ddsp.synths, ddsp.effects"
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def magenta_env_python(env_dir: Path) -> Path:
    """The interpreter of Magenta's virtual environment."""
    return env_python(env_dir)


def magenta_works(python: Path) -> bool:
    """True when ``python`` can import TensorFlow and ddsp (with the ``crepe`` stub)."""
    return imports_ok(python, MAGENTA_PROBE, QUIET_TENSORFLOW)


def ensure_magenta_env(env_dir: Path, allow_install: bool) -> tuple[Path | None, str]:
    """Return (interpreter, note) for Magenta's environment, creating it if allowed.

    Recipe (ddsp's declared pins do not install on Python 3.11): a fresh venv, then
    ``pip install`` of ``MAGENTA_REQUIREMENTS`` and ``pip install --no-deps ddsp==3.7.0``.
    The interpreter is None when the environment is missing or broken and cannot be made.
    """
    return ensure_env(
        env_dir,
        "Magenta",
        [MAGENTA_REQUIREMENTS, ["--no-deps", MAGENTA_PACKAGE]],
        MAGENTA_PROBE,
        allow_install,
        "TensorFlow download, a few minutes",
        QUIET_TENSORFLOW,
    )


def rerun_in_magenta_env(script: str | Path, argv: list[str]) -> int:
    """From torchddsp's venv: create Magenta's environment if needed and run ``script`` there
    with ``argv`` (the peer scripts under benchmarks/peers/ re-run themselves this way)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    python, note = ensure_magenta_env(DEFAULT_MAGENTA_ENV, allow_install=True)
    if python is None:
        print(note, file=sys.stderr)
        return 1
    return subprocess.run([str(python), str(Path(script).resolve()), *argv], check=False).returncode
