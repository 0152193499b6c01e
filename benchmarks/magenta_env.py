"""Magenta DDSP's own virtual environment for the benchmarks (never torchddsp's): where it
lives, the recipe that installs it on Python 3.11, and a check that it imports."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

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


def magenta_env_python(env_dir: Path) -> Path:
    """The interpreter of a virtual environment (POSIX or Windows layout)."""
    posix = env_dir / "bin" / "python"
    return posix if posix.exists() or os.name != "nt" else env_dir / "Scripts" / "python.exe"


def magenta_works(python: Path) -> bool:
    """True when ``python`` can import TensorFlow and ddsp (with the ``crepe`` stub)."""
    probe = "import sys, types; sys.modules['crepe'] = types.ModuleType('crepe'); import ddsp.synths, ddsp.effects"
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_magenta_env(env_dir: Path, allow_install: bool) -> tuple[Path | None, str]:
    """Return (interpreter, note) for Magenta's environment, creating it if allowed.

    Recipe (ddsp's declared pins do not install on Python 3.11): a fresh venv, then
    ``pip install`` of ``MAGENTA_REQUIREMENTS`` and ``pip install --no-deps ddsp==3.7.0``.
    The interpreter is None when the environment is missing or broken and cannot be made.
    """
    python = magenta_env_python(env_dir)
    if python.exists() and magenta_works(python):
        return python, ""
    if not allow_install:
        return None, f"no working Magenta environment at {env_dir} (--no-peer-install given)"
    print(f"Creating Magenta's environment in {env_dir} (TensorFlow download, a few minutes)...",
          file=sys.stderr, flush=True)
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        subprocess.run(pip + MAGENTA_REQUIREMENTS, check=True)
        subprocess.run(pip + ["--no-deps", MAGENTA_PACKAGE], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not create Magenta's environment in {env_dir}: {error}"
    if not magenta_works(python):
        return None, f"Magenta's environment in {env_dir} was installed but cannot import ddsp"
    return python, ""
