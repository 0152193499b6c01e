"""torchsynth's own virtual environment for the benchmarks (never torchddsp's): where it
lives, the recipe that installs torchsynth 1.0.2 on Python 3.11, and a check that it imports."""

from __future__ import annotations

from pathlib import Path

from peer_env import ensure_env  # benchmarks/peer_env.py
from peer_env import env_python  # benchmarks/peer_env.py
from peer_env import imports_ok  # benchmarks/peer_env.py

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_TORCHSYNTH_ENV = BENCH_DIR / ".peers" / "torchsynth"
# torch first, on its own, so that pip takes the CPU wheel and never resolves a CUDA build.
TORCHSYNTH_TORCH = "torch==2.13.0"
# torchsynth 1.0.2 imports ``pkg_resources`` (gone from setuptools 81) and
# ``pytorch_lightning.core.lightning`` (gone from pytorch-lightning 1.9).
TORCHSYNTH_REQUIREMENTS = ["torchsynth==1.0.2", "setuptools<81", "pytorch-lightning<1.9"]
TORCHSYNTH_PROBE = "from torchsynth.synth import Voice; from torchsynth.config import SynthConfig"


def torchsynth_env_python(env_dir: Path) -> Path:
    """The interpreter of torchsynth's virtual environment."""
    return env_python(env_dir)


def torchsynth_works(python: Path) -> bool:
    """True when ``python`` can import torchsynth's ``Voice`` and ``SynthConfig``."""
    return imports_ok(python, TORCHSYNTH_PROBE)


def ensure_torchsynth_env(env_dir: Path, allow_install: bool) -> tuple[Path | None, str]:
    """Return (interpreter, note) for torchsynth's environment, creating it if allowed.

    Recipe: a fresh venv, then ``pip install torch==2.13.0`` and ``pip install
    torchsynth==1.0.2 "setuptools<81" "pytorch-lightning<1.9"``. The interpreter is None
    when the environment is missing or broken and cannot be made.
    """
    return ensure_env(
        env_dir,
        "torchsynth",
        [[TORCHSYNTH_TORCH], TORCHSYNTH_REQUIREMENTS],
        TORCHSYNTH_PROBE,
        allow_install,
        "about a minute or two",
    )
