"""Execute one tutorial for the documentation site: ``docs/tutorials/NAME.py`` (jupytext percent
format) -> an executed notebook, outputs included (plots as PNG, audio players as HTML).

    python docs/tools/execute_tutorial.py docs/tutorials/01_differentiable_gain.py OUT.ipynb
    python docs/tools/execute_tutorial.py --no-execute SOURCE OUT.ipynb   (conversion only)

The kernel runs in a scratch folder (files a tutorial writes stay out of the tree), on one
compute thread (the tutorials' tensors are small; intra-op threads waiting at barriers on a
busy 2-core machine made seconds into minutes) and draws figures inline. A cell that raises
stops the build, naming the tutorial. How long a tutorial may take is the tests' business
(tests/docs/test_tutorials.py); here a cell only has a generous timeout against a hang.
The notebook is written under a temporary name and renamed, so an interrupted run leaves no
half-written notebook that would look up to date.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat

CELL_TIMEOUT_S = 600
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def execute(notebook: nbformat.NotebookNode, workdir: Path) -> None:
    """Run every cell of ``notebook`` in place, in a fresh ``python3`` kernel."""
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute(env={**os.environ, **KERNEL_ENV})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="docs/tutorials/NAME.py")
    parser.add_argument("output", type=Path, help="the executed notebook (.ipynb)")
    parser.add_argument("--no-execute", action="store_true", help="convert only (no outputs)")
    args = parser.parse_args(argv)
    notebook = jupytext.read(args.source)
    start = time.perf_counter()
    if not args.no_execute:
        with tempfile.TemporaryDirectory(prefix="tutorial-") as workdir:
            try:
                execute(notebook, Path(workdir))
            except nbclient.exceptions.CellExecutionError as error:
                print(f"{args.source}: a cell raised\n{error}", file=sys.stderr)
                return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(f".{args.output.name}.partial")
    nbformat.write(notebook, partial)
    partial.replace(args.output)
    print(f"{args.source.name}: {time.perf_counter() - start:.1f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
