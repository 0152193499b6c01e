"""The ``torchddsp match`` subcommand (placeholder until the package lands)."""

from __future__ import annotations

from typing import Any

__all__ = ["add_matching_commands"]


def add_matching_commands(commands: Any) -> None:
    """Add the package's subcommands to the subcommands ``commands``."""
    del commands
