"""The documentation site's tooling (mkdocs.yml, docs/tools/) and the site itself.

Bugs caught:
- a public module missing from the API reference (the page generator skipping nested
  packages such as ``functional.engine``, the top-level modules, or taking a public module
  for a private one), or a private module on it: checked against a walk of the source tree;
- an object documented twice (a package's re-exports rendered beside the module that defines
  them) or a module's own public function left out: ``defined_names`` on small sources;
- the docstring dialect misread: a grouped ``a, b:`` argument losing its continuation lines
  or one of its names, ``Example:`` left as prose, a Sphinx role left raw or linking a
  private object;
- a config or command that lets a broken link or anchor through (``strict`` off, a
  validation level lowered to ``info``, ``make docs`` calling mkdocs with ``--quiet``, which
  hides the warnings from ``--strict``'s count): a two-page site with each planted fault must
  fail to build with the Makefile's mkdocs arguments;
- a broken link, anchor or cross-reference anywhere in the real site, or a docstring mkdocs
  cannot read: the whole site is built with ``--strict`` (slow: about a minute), from
  unexecuted notebooks (``make docs`` executes them; ``tests/docs/test_tutorials.py`` runs
  them);
- a tutorial page without its figures or audio players: ``docs/tools/check_site.py`` on
  fabricated pages;
- a stale or missing executed notebook published as if current (the hooks' check dropped):
  the hook must refuse a notebook older than its tutorial, or none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("mkdocs", reason="the [docs] extra is not installed")
pytest.importorskip("griffe", reason="the [docs] extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "docs" / "tools"
PACKAGE_DIR = ROOT / "src" / "torchddsp"
sys.path.insert(0, str(TOOLS))

import api_pages  # noqa: E402
import check_site  # noqa: E402
import griffe_docstrings  # noqa: E402
import hooks  # noqa: E402


def walked_modules() -> set[str]:
    """Public modules by a walk of the tree written here, not by the generator's helpers."""
    found = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if "__pycache__" in parts or any(part.startswith("_") for part in parts):
            continue
        found.add(".".join(parts))
    return found


def documented_modules(pages) -> list[str]:
    return [line[4:].strip() for page in pages for line in page.content.splitlines() if line.startswith("::: ")]


def test_every_public_module_is_on_one_api_page():
    pages = api_pages.api_pages(PACKAGE_DIR)
    documented = documented_modules(pages)
    assert len(documented) == len(set(documented)), "a module is on two pages"
    expected = walked_modules()
    assert {"torchddsp", "torchddsp.functional.engine.harmonic", "torchddsp.synths"} <= expected
    assert set(documented) == expected, (
        f"missing: {sorted(expected - set(documented))}; extra: {sorted(set(documented) - expected)}"
    )
    assert not any("._" in name for name in documented)


def test_one_page_per_subpackage_and_one_for_the_top_level():
    pages = api_pages.api_pages(PACKAGE_DIR)
    subpackages = sorted(p.parent.name for p in PACKAGE_DIR.glob("*/__init__.py") if not p.parent.name.startswith("_"))
    assert [page.uri for page in pages] == ["api/torchddsp.md", *(f"api/{name}.md" for name in subpackages)]
    functional = next(page for page in pages if page.uri == "api/functional.md")
    assert "::: torchddsp.functional.engine.recurrence" in functional.content


def test_defined_names_are_the_module_own_public_names():
    source = (
        "from .a import Imported\n"
        "from .b import *\n"
        "__all__ = ['f', 'C', 'Imported', 'CONSTANT']\n"
        "CONSTANT = 1\n"
        "_private = 2\n"
        "def f(): pass\n"
        "def g(): pass\n"
        "class C: pass\n"
    )
    # g is public but not exported; Imported is exported but defined elsewhere.
    assert api_pages.defined_names(source) == ["CONSTANT", "f", "C"]
    assert api_pages.defined_names("def f(): pass\ndef _g(): pass\nX: int = 1\n") == ["f", "X"]
    assert api_pages.defined_names("from .a import *\n__all__ = ['x']\n") == []


def test_a_reexporting_package_shows_its_docstring_only():
    block = api_pages.module_block("torchddsp.effects", "from .a import X\n__all__ = ['X']\n", root=True)
    assert "members: false" in block and "show_root_heading: false" in block
    block = api_pages.module_block("torchddsp.io", "def read_audio(): pass\n", root=False)
    assert "members: ['read_audio']" in block and "show_root_heading" not in block


def test_grouped_arguments_become_one_item_per_name():
    text = (
        "Summary.\n\n"
        "Args:\n"
        "    min_hz, max_hz: the range in Hz,\n"
        "        both > 0.\n"
        "    gain: linear.\n\n"
        "Returns:\n"
        "    a, b: not an argument list, left alone.\n"
    )
    assert griffe_docstrings.rewrite(text) == (
        "Summary.\n\n"
        "Args:\n"
        "    min_hz: the range in Hz,\n"
        "        both > 0.\n"
        "    max_hz: the range in Hz,\n"
        "        both > 0.\n"
        "    gain: linear.\n\n"
        "Returns:\n"
        "    a, b: not an argument list, left alone.\n"
    )


def test_example_sections_become_examples():
    rewritten = griffe_docstrings.rewrite("Summary.\n\nExample:\n    >>> 1 + 1\n    2\n")
    assert rewritten == "Summary.\n\nExamples:\n    >>> 1 + 1\n    2\n"
    assert griffe_docstrings.rewrite("An example: x.\n") == "An example: x.\n"


def role(text: str) -> str:
    return griffe_docstrings.ROLE.sub(lambda m: griffe_docstrings.role_to_reference(m, None), text)


def test_sphinx_roles_become_cross_references():
    assert role(":func:`~torchddsp.functional.fir.fft_convolve`") == (
        "[`fft_convolve`][torchddsp.functional.fir.fft_convolve]"
    )
    assert role(":class:`torchddsp.synths.Harmonic`") == "[`torchddsp.synths.Harmonic`][torchddsp.synths.Harmonic]"
    # Private objects are not in the reference; other packages' sites are not linked.
    assert role(":func:`~torchddsp.features.crepe._convolve`") == "`_convolve`"
    assert role(":mod:`pickle`") == "`pickle`"


def test_relative_roles_are_looked_up_from_the_object():
    griffe = pytest.importorskip("griffe")
    package = griffe.load("torchddsp", search_paths=[str(PACKAGE_DIR.parent)], resolve_aliases=False)
    step = package["streaming.step.TransferStep"]
    # A module-level import, a method of the class, an inherited one (from a private base).
    assert griffe_docstrings.lookup(step, "TransferStream") == "torchddsp.streaming.transfer.TransferStream"
    assert griffe_docstrings.lookup(package["modular.voices.Voice"], "mix_sources") == (
        "torchddsp.modular.voices.Voice.mix_sources"
    )
    assert griffe_docstrings.lookup(step, "state_names") == "torchddsp.streaming.step._Step.state_names"
    assert griffe_docstrings.lookup(step, "no_such_name") is None

    def convert(text):
        return griffe_docstrings.ROLE.sub(lambda m: griffe_docstrings.role_to_reference(m, step), text)

    assert 'identifier="torchddsp.streaming.transfer.TransferStream"' in convert(":class:`TransferStream`")
    # The private base's method is not in the reference: code, not a link that cannot resolve.
    assert convert(":meth:`state_names`") == "`state_names`"
    assert convert(":meth:`no_such_name`") == "`no_such_name`"


def write_site(folder: Path, page: str, config: dict) -> Path:
    (folder / "docs").mkdir()
    (folder / "docs" / "index.md").write_text("# Home\n\n## Section\n\nSee [the other page](other.md).\n")
    (folder / "docs" / "other.md").write_text(page)
    config = {**config, "site_name": "t", "docs_dir": "docs", "site_dir": str(folder / "site")}
    config["nav"] = ["index.md", "other.md"]
    path = folder / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def makefile_mkdocs_arguments() -> list[str]:
    """The arguments ``make docs`` gives mkdocs (``build --strict``), read from the Makefile."""
    lines = [line for line in (ROOT / "Makefile").read_text().splitlines() if "-m mkdocs build" in line]
    assert len(lines) == 1, "the Makefile builds the site with one `-m mkdocs build` line"
    return lines[0].split("-m mkdocs", 1)[1].split()


def build(config_path: Path) -> subprocess.CompletedProcess:
    # With the Makefile's own flags: --quiet, for one, hides the warnings --strict counts.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", *makefile_mkdocs_arguments(), "-f", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "page,fault",
    [
        ("# Other\n\n[home](index.md)\n", None),
        ("# Other\n\n[gone](missing.md)\n", "missing.md"),
        ("# Other\n\n[bad anchor](index.md#no-such-section)\n", "no-such-section"),
        ("# Other\n\n[bad anchor here](#nowhere)\n", "nowhere"),
    ],
    ids=["clean", "missing-page", "missing-anchor", "missing-local-anchor"],
)
def test_the_config_fails_on_broken_links(tmp_path, page, fault):
    project = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config = {"strict": project["strict"], "validation": project["validation"]}
    result = build(write_site(tmp_path, page, config))
    if fault is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, f"a broken link ({fault}) built without error:\n{result.stderr}"
        assert fault in result.stderr


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    # Unexecuted notebooks stand in for the executed ones: links, anchors, cross-references,
    # docstrings and the nav are what this checks.
    notebooks = tmp_path / "notebooks"
    for source in sorted((ROOT / "docs" / "tutorials").glob("*.py")):
        output = notebooks / "tutorials" / f"{source.stem}.ipynb"
        subprocess.run(
            [sys.executable, str(TOOLS / "execute_tutorial.py"), "--no-execute", str(source), str(output)], check=True
        )
    env = {**os.environ, "TORCHDDSP_DOCS_NOTEBOOKS": str(notebooks), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    problems = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0, "\n".join(problems) or result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "functional" / "index.html").is_file()
    assert (tmp_path / "site" / "tutorials" / "01_differentiable_gain" / "index.html").is_file()


def test_check_site_requires_figures_and_audio_on_every_tutorial_page(tmp_path):
    tutorials = [Path("01_a.py"), Path("02_b.py")]
    good = f"<img src='{check_site.FIGURE}AAAA'> <audio controls>"
    for name, html in [("01_a", good), ("02_b", "<img src='x.png'>")]:
        (tmp_path / "tutorials" / name).mkdir(parents=True)
        (tmp_path / "tutorials" / name / "index.html").write_text(html)
    found = check_site.problems(tmp_path, [*tutorials, Path("03_c.py")])
    assert found == [
        f"02_b.py: its page shows no figure ({tmp_path / 'tutorials' / '02_b' / 'index.html'})",
        f"02_b.py: its page has no audio player ({tmp_path / 'tutorials' / '02_b' / 'index.html'})",
        f"03_c.py: no page at {tmp_path / 'tutorials' / '03_c' / 'index.html'}",
    ]
    assert check_site.problems(tmp_path, tutorials[:1]) == []


def test_a_stale_or_missing_notebook_stops_the_build(tmp_path, monkeypatch):
    from mkdocs.exceptions import PluginError

    monkeypatch.setenv("TORCHDDSP_DOCS_NOTEBOOKS", str(tmp_path))
    sources = sorted(hooks.SOURCES.glob("*.py"))
    (tmp_path / "tutorials").mkdir()
    for source in sources:
        (tmp_path / "tutorials" / f"{source.stem}.ipynb").write_text("{}")
    assert hooks.executed_notebooks() == [f"tutorials/{source.stem}.ipynb" for source in sources]
    stale = tmp_path / "tutorials" / f"{sources[0].stem}.ipynb"
    before = sources[0].stat().st_mtime - 10
    os.utime(stale, (before, before))
    with pytest.raises(PluginError, match=f"{sources[0].stem}.ipynb is older than"):
        hooks.executed_notebooks()
    stale.unlink()
    with pytest.raises(PluginError, match=f"{sources[0].stem}.ipynb is missing"):
        hooks.executed_notebooks()
