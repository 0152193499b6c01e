"""A benchmark peer's own virtual environment (never torchddsp's): find its interpreter, check
that it imports, and create it from a recipe when allowed. Standard library only."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path


def env_python(env_dir: Path) -> Path:
    """The interpreter of a virtual environment (POSIX or Windows layout)."""
    posix = env_dir / "bin" / "python"
    return posix if posix.exists() or os.name != "nt" else env_dir / "Scripts" / "python.exe"


def imports_ok(python: Path, probe: str, extra_env: Mapping[str, str] | None = None) -> bool:
    """True when ``python -c probe`` succeeds (within 5 minutes)."""
    try:
        done = subprocess.run(
            [str(python), "-W", "ignore", "-c", probe],
            capture_output=True,
            timeout=300,
            env={**os.environ, **(extra_env or {})},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_env(
    env_dir: Path,
    name: str,
    install_steps: Sequence[Sequence[str]],
    probe: str,
    allow_install: bool,
    wait_hint: str,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[Path | None, str]:
    """Return (interpreter, note) for a peer's environment, creating it if allowed: a fresh
    venv, then one ``pip install`` per entry of ``install_steps`` (in order: torch first where
    it matters). The interpreter is None when the environment is missing or broken and cannot
    be made; the note says why."""
    python = env_python(env_dir)
    if python.exists() and imports_ok(python, probe, extra_env):
        return python, ""
    if not allow_install:
        return None, f"no working {name} environment at {env_dir} (--no-peer-install given)"
    print(f"Creating {name}'s environment in {env_dir} ({wait_hint})...", file=sys.stderr, flush=True)
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        for step in install_steps:
            subprocess.run(pip + list(step), check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not create {name}'s environment in {env_dir}: {error}"
    if not imports_ok(python, probe, extra_env):
        return None, f"{name}'s environment in {env_dir} was installed but its import check fails"
    return python, ""
