"""torchsynth's own virtual environment for the benchmarks (never torchddsp's): where it
lives, the recipe that installs torchsynth 1.0.2 on Python 3.11, and a check that it imports."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_TORCHSYNTH_ENV = BENCH_DIR / ".peers" / "torchsynth"
# torch first, on its own, so that pip takes the CPU wheel and never resolves a CUDA build.
TORCHSYNTH_TORCH = "torch==2.13.0"
# torchsynth 1.0.2 imports ``pkg_resources`` (gone from setuptools 81) and
# ``pytorch_lightning.core.lightning`` (gone from pytorch-lightning 1.9).
TORCHSYNTH_REQUIREMENTS = [
    "torchsynth==1.0.2",
    "setuptools<81",
    "pytorch-lightning<1.9",
]
TORCHSYNTH_PROBE = "from torchsynth.synth import Voice; from torchsynth.config import SynthConfig"


def torchsynth_env_python(env_dir: Path) -> Path:
    """The interpreter of a virtual environment (POSIX or Windows layout)."""
    posix = env_dir / "bin" / "python"
    return posix if posix.exists() or os.name != "nt" else env_dir / "Scripts" / "python.exe"


def torchsynth_works(python: Path) -> bool:
    """True when ``python`` can import torchsynth's ``Voice`` and ``SynthConfig``."""
    try:
        done = subprocess.run([str(python), "-W", "ignore", "-c", TORCHSYNTH_PROBE],
                              capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_torchsynth_env(env_dir: Path, allow_install: bool) -> tuple[Path | None, str]:
    """Return (interpreter, note) for torchsynth's environment, creating it if allowed.

    Recipe: a fresh venv, then ``pip install torch==2.13.0`` and ``pip install
    torchsynth==1.0.2 "setuptools<81" "pytorch-lightning<1.9"``. The interpreter is None
    when the environment is missing or broken and cannot be made.
    """
    python = torchsynth_env_python(env_dir)
    if python.exists() and torchsynth_works(python):
        return python, ""
    if not allow_install:
        return None, f"no working torchsynth environment at {env_dir} (--no-peer-install given)"
    print(f"Creating torchsynth's environment in {env_dir} (about a minute or two)...",
          file=sys.stderr, flush=True)
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        subprocess.run(pip + [TORCHSYNTH_TORCH], check=True)
        subprocess.run(pip + TORCHSYNTH_REQUIREMENTS, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not create torchsynth's environment in {env_dir}: {error}"
    if not torchsynth_works(python):
        return None, f"torchsynth's environment in {env_dir} was installed but cannot import torchsynth"
    return python, ""
