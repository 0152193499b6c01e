"""The code stays easy to change: small files, short functions (compiled kernels excepted).

Bugs caught: a module growing past one concept (over 500 lines), a function growing past what
a reader holds at once (over 80 lines) outside the numba kernels, whose loops are kept whole
so that the compiler sees them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "torchddsp"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
FILES = sorted(SOURCE.rglob("*.py"))


def compiled_kernels(tree: ast.Module) -> set[str]:
    """Names handed to ``compile_kernel(...)`` or decorated by a numba decorator in a module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "compile_kernel" and node.args:
            names.add(getattr(node.args[0], "id", ""))
        if isinstance(node, ast.FunctionDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any("njit" in d or d == "inline" for d in decorators):
                names.add(node.name)
    return names


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    kernels = compiled_kernels(tree) if "engine" in path.parts else set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in kernels:
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} ({length} lines)")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_source_files_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(SOURCE)} has {lines} lines (at most {MAX_FILE_LINES})"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_functions_stay_short_outside_compiled_kernels(path):
    assert long_functions(path) == [], f"{path.relative_to(SOURCE)}: functions over {MAX_FUNCTION_LINES} lines"


def test_the_kernel_exemption_covers_only_compiled_kernels():
    # The exemption must find the real kernels (or it would exempt nothing and the check
    # above would only pass because kernels got shorter) and must not cover plain functions.
    tree = ast.parse((SOURCE / "functional" / "engine" / "bandlimited.py").read_text())
    assert "_oscillator_backward" in compiled_kernels(tree)
    assert "fused_oscillator" not in compiled_kernels(tree)
