"""Building blocks of the ``torchddsp`` command line: argparse value types that refuse bad
numbers naming the option, and the helpers that declare subcommands and on/off flags.

Example:
    >>> positive_int("4")
    4
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "finite_float",
    "non_negative_float",
    "positive_float",
    "positive_int",
    "non_negative_int",
    "add_command",
    "add_flags",
    "add_quiet",
]


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused, naming the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, found {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text!r}")
    return value


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, found {text!r}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def add_command(
    commands: Any, name: str, helptext: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A subcommand that runs ``run(args)``."""
    command = commands.add_parser(name, help=helptext)
    command.set_defaults(run=run)
    return command


def add_flags(command: argparse.ArgumentParser | Any, **helptexts: str) -> None:
    """On/off options (``store_true``): ``skip_bad="..."`` adds ``--skip-bad``."""
    for name, helptext in helptexts.items():
        command.add_argument("--" + name.replace("_", "-"), action="store_true", help=helptext)


def add_quiet(command: argparse.ArgumentParser) -> None:
    add_flags(command, quiet="no progress bar")
