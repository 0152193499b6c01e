"""The naming table of docs/design.md, enforced on the public API.

One name per concept: a parameter, dataclass field, public attribute or command-line option
spelled the way the table forbids fails here, naming where it is and what to use instead. The
scan covers every public object of the package's modules (``__all__``): functions, the
constructors and public methods of classes (processors, modules, voices, losses), dataclass
fields (configs, ``RenderContext``) and the options of the ``torchddsp`` command.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect

import pytest

from torchddsp.cli import _parser

MODULES = (
    "torchddsp",
    "torchddsp.functional",
    "torchddsp.effects",
    "torchddsp.synths",
    "torchddsp.processors",
    "torchddsp.losses",
    "torchddsp.features",
    "torchddsp.modular",
    "torchddsp.models",
    "torchddsp.configs",
    "torchddsp.training",
    "torchddsp.transfer",
    "torchddsp.io",
)

# Forbidden name -> the table's name for its concept.
FORBIDDEN = {
    "hop": "hop_size",
    "hop_length": "hop_size",
    "control_rate": "frame_rate",
    "kind": "mode (which response) or method (how to compute it)",
    "sr": "sample_rate",
    "fs": "sample_rate",
    "duration": "duration_s (seconds)",
    "out": "output",
    "centre_hz": "center_hz",
    "cutoff_frequency": "cutoff_hz",
    "f_min": "min_hz",
    "f_max": "max_hz",
    "hz_min": "min_hz",
    "hz_max": "max_hz",
    "q_min": "min_q",
    "q_max": "max_q",
    # Streaming state (one convention: state= and return_state=).
    "zi": "state",
    "initial_phase": "state",
    "history": "state",
    "s0": "state",
    "previous_output": "state",
}
# Forbidden suffix -> the table's unit.
FORBIDDEN_SUFFIXES = {"_ms": "seconds, <what>_s", "_seconds": "<what>_s"}


def _verdict(name: str) -> str | None:
    if name in FORBIDDEN:
        return FORBIDDEN[name]
    for suffix, instead in FORBIDDEN_SUFFIXES.items():
        if name.endswith(suffix):
            return instead
    return None


def _parameters(function) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return []


def _class_names(cls: type) -> list[tuple[str, str]]:
    """(where, name) for the constructor's parameters, the public methods' parameters, the
    public attributes and properties defined by the class, and dataclass fields."""
    found = [(f"{cls.__name__}.__init__", p) for p in _parameters(cls.__init__)]
    for attribute, value in vars(cls).items():
        if attribute.startswith("_"):
            continue
        found.append((f"{cls.__name__} attribute", attribute))
        function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if inspect.isfunction(function):
            found.extend((f"{cls.__name__}.{attribute}", p) for p in _parameters(function))
    if dataclasses.is_dataclass(cls):
        found.extend((f"{cls.__name__} field", f.name) for f in dataclasses.fields(cls))
    return found


def public_names() -> list[tuple[str, str]]:
    """(where, name) for every name the public API exposes to a caller."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for export in getattr(module, "__all__", ()):
            value = getattr(module, export)
            if id(value) in seen:
                continue
            seen.add(id(value))
            if inspect.isclass(value):
                found.extend((f"{module_name}.{where}", name) for where, name in _class_names(value))
            elif callable(value):
                found.extend((f"{module_name}.{export}", p) for p in _parameters(value))
    return found


def cli_options(parser: argparse.ArgumentParser, command: str = "torchddsp") -> list[tuple[str, str]]:
    """(command, option as a Python name) for every option of every subcommand."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(cli_options(sub, f"{command} {name}"))
        else:
            names = [o.lstrip("-").replace("-", "_") for o in action.option_strings] or [action.dest]
            found.extend((command, name) for name in names)
    return found


def _offences(names: list[tuple[str, str]]) -> list[str]:
    return sorted({f"{where}: {name} (use {_verdict(name)})" for where, name in names if _verdict(name)})


def test_the_scan_sees_the_whole_public_api():
    # A scan that silently saw nothing would pass forever: it must reach each kind of name.
    names = set(public_names())
    assert ("torchddsp.functional.overlap_add", "hop_size") in names  # a function's parameter
    assert ("torchddsp.Compressor.__init__", "attack_s") in names  # a processor's constructor
    assert ("torchddsp.Compressor.limiter", "sample_rate") in names  # a classmethod
    assert ("torchddsp.modular.RenderContext field", "frame_rate") in names  # a dataclass field
    assert ("torchddsp.modular.RenderContext attribute", "hop_size") in names  # a property
    assert ("torchddsp.features.stft", "hop_size") in names
    assert ("torchddsp modular render", "frame_rate") in set(cli_options(_parser()))


@pytest.mark.parametrize(
    "name,expected",
    [
        ("hop_length", "hop_size"),
        ("attack_ms", "seconds, <what>_s"),
        ("kind", FORBIDDEN["kind"]),
        ("hop_size", None),
        ("attack_s", None),
        ("mode", None),
        ("items", None),
    ],
)
def test_the_verdict_of_a_name(name, expected):
    assert _verdict(name) == expected


def test_public_signatures_follow_the_naming_table():
    offences = _offences(public_names())
    assert not offences, "names the table of docs/design.md forbids:\n" + "\n".join(offences)


def test_command_line_options_follow_the_naming_table():
    offences = _offences(cli_options(_parser()))
    assert not offences, "options the table of docs/design.md forbids:\n" + "\n".join(offences)
