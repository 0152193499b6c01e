"""The tutorials (``docs/tutorials/*.py``, jupytext percent format) run as notebooks and teach
the public API only.

Bugs caught:
- a tutorial cell that raises (an API renamed under it, a shape that no longer fits): the
  notebook is executed cell by cell in a fresh ``python3`` kernel of this environment and any
  error fails the test, naming the cell;
- a tutorial that grew too slow for CI (over ``TIME_LIMIT_S`` for the whole run, kernel start
  included; a hung cell stops at the same limit);
- a tutorial reaching into internals (``from torchddsp.functional._harmonic_sum import ...``,
  ``from torchddsp.x import _name``, ``torchddsp.x._y.z``): a static check of the source;
- a tutorial that lost its title cell, its plots or its audio players.

The execution tests are ``slow`` (``make test``, not ``make test-fast``), one per file so that
pytest-xdist spreads them; the static checks are fast. Any new ``docs/tutorials/*.py`` is
picked up without editing this file.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

# Imported outright, not importorskip: an environment without the [tutorials] extra (part of
# [dev]) must fail here rather than skip every tutorial silently.
import jupytext
import nbclient
import nbformat
import pytest

TUTORIALS_DIR = Path(__file__).resolve().parents[2] / "docs" / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("*.py"))
TIME_LIMIT_S = 60.0
PACKAGE = "torchddsp"

# Appended to every executed notebook: draws each figure still open (the Agg backend's
# plt.show() draws nothing, so a plot that fails only when drawn would otherwise pass) and
# counts them.
FIGURE_CHECK = """\
import io as _io
import matplotlib.pyplot as _plt
for _number in _plt.get_fignums():
    _plt.figure(_number).savefig(_io.BytesIO(), format="png")
print("figures drawn:", len(_plt.get_fignums()))
"""


def is_private(name: str) -> bool:
    """A ``_name`` (dunder names such as ``__version__`` are public)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything but names and attributes."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def private_uses(source: str) -> list[str]:
    """Every private name of the package that ``source`` imports or reaches by attribute."""
    tree = ast.parse(source)
    aliases = {PACKAGE}  # names bound to the package or its modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    aliases.add(alias.asname or PACKAGE)
                    if any(is_private(part) for part in alias.name.split(".")):
                        found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            module = node.module or ""
            for alias in node.names:
                if any(is_private(part) for part in [*module.split("."), alias.name]):
                    found.append(f"line {node.lineno}: from {module} import {alias.name}")
                aliases.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        parts = dotted(node) if isinstance(node, ast.Attribute) else None
        if parts and parts[0] in aliases and any(is_private(part) for part in parts[1:]):
            found.append(f"line {node.lineno}: {'.'.join(parts)}")
    return sorted(set(found))


def outputs(notebook) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def test_the_tutorials_folder_is_found():
    # A moved folder would make every parametrized test below vanish, not fail.
    assert len(TUTORIALS) >= 10, f"expected the tutorials in {TUTORIALS_DIR}"


@pytest.mark.parametrize(
    "source,private",
    [
        ("from torchddsp.functional import harmonic_synthesis", False),
        ("import torchddsp.functional as F\nF.upsample", False),
        ("import torchddsp\ntorchddsp.__version__", False),
        ("import numpy as np\nnp._core", False),  # other packages' internals are not ours to police
        ("from torchddsp.functional._harmonic_sum import harmonic_sum", True),
        ("from torchddsp.functional import _per_frame", True),
        ("import torchddsp.functional._harmonic_sum", True),
        ("import torchddsp as ddsp\nddsp.functional._harmonic_sum.x", True),
        ("from torchddsp import functional\nfunctional.iir._per_frame", True),
    ],
)
def test_private_import_check(source, private):
    assert bool(private_uses(source)) == private, private_uses(source)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_is_a_titled_public_api_notebook(path):
    source = path.read_text()
    notebook = jupytext.reads(source, fmt="py:percent")
    assert notebook.cells and notebook.cells[0].cell_type == "markdown", "the first cell must be markdown"
    first = notebook.cells[0].source
    assert first.lstrip().startswith("# "), "the first cell must open with a '# Title'"
    assert "prerequisite" in first.lower(), "the first cell must state the prerequisites"
    assert sum(cell.cell_type == "code" for cell in notebook.cells) >= 2
    assert private_uses(source) == [], "tutorials use the public API only"


def execute(path: Path, workdir: Path):
    notebook = jupytext.read(path)
    notebook.cells.append(nbformat.v4.new_code_cell(FIGURE_CHECK))
    client = nbclient.NotebookClient(
        notebook, timeout=int(TIME_LIMIT_S), kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_executes(path, tmp_path, monkeypatch):
    # The kernel inherits this environment: headless plots, and one compute thread (the
    # tutorials' tensors are small; on 2 shared cores, intra-op threads that wait for each other
    # at barriers made a 2 s cell take over a minute).
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        notebook, elapsed = execute(path, tmp_path)
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell raised\n{error}")
    except nbclient.exceptions.CellTimeoutError as error:
        pytest.fail(f"{path.name}: a cell ran past {TIME_LIMIT_S} s\n{error}")
    assert elapsed <= TIME_LIMIT_S, f"{path.name} took {elapsed:.1f} s (at most {TIME_LIMIT_S} s)"
    shown = outputs(notebook)
    html = "".join(str(output.get("data", {}).get("text/html", "")) for output in shown)
    assert "<audio" in html, "a tutorial plays what it teaches: display at least one Audio player"
    drawn = [line for output in shown for line in str(output.get("text", "")).splitlines() if "figures drawn:" in line]
    assert drawn and int(drawn[-1].split(":")[1]) >= 1, "a tutorial draws at least one matplotlib figure"
