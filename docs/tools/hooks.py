"""MkDocs hooks: the executed tutorials and the generated API reference join the site.

The tutorials' sources are ``docs/tutorials/*.py`` (jupytext percent format); ``make docs``
executes each into ``build/docs/notebooks/tutorials/<name>.ipynb`` (docs/tools/execute_tutorial.py)
before ``mkdocs build``. These hooks add those notebooks to the site's files (mkdocs-jupyter then
renders them, outputs included, without running them again) and list them in the nav's
"Tutorials" section in file-name order, so a new tutorial needs no edit here or in mkdocs.yml.

A tutorial without its executed notebook, or with a notebook older than its source, stops the
build: the site never shows a stale or missing tutorial. ``TORCHDDSP_DOCS_NOTEBOOKS`` points at
another notebook folder (the tests build the site from unexecuted notebooks).

The API reference's pages are generated from the source tree (docs/tools/api_pages.py: one page
per subpackage, every public module on one) and listed in the nav's "API reference" section.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.files import Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_pages import api_pages  # noqa: E402  (a sibling file; mkdocs loads hooks by path)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "docs" / "tutorials"
PACKAGE_DIR = ROOT / "src" / "torchddsp"
NAV_SECTION = "Tutorials"
API_SECTION = "API reference"


def notebooks_root() -> Path:
    """The folder holding ``tutorials/<name>.ipynb``."""
    return Path(os.environ.get("TORCHDDSP_DOCS_NOTEBOOKS", ROOT / "build" / "docs" / "notebooks")).resolve()


def executed_notebooks() -> list[str]:
    """``tutorials/<name>.ipynb`` of every tutorial source, each checked to exist and be current."""
    sources = sorted(SOURCES.glob("*.py"))
    if not sources:
        raise PluginError(f"no tutorials found in {SOURCES}")
    problems = []
    for source in sources:
        notebook = notebooks_root() / "tutorials" / f"{source.stem}.ipynb"
        if not notebook.is_file():
            problems.append(f"{notebook} is missing")
        elif notebook.stat().st_mtime < source.stat().st_mtime:
            problems.append(f"{notebook} is older than {source.name}")
    if problems:
        raise PluginError("tutorials not executed (run `make docs`): " + "; ".join(problems))
    return [f"tutorials/{source.stem}.ipynb" for source in sources]


def extend_section(nav: list, section: str, entries: list) -> None:
    """Append ``entries`` to the nav's top-level ``section``."""
    for item in nav:
        if isinstance(item, dict) and section in item:
            item[section] = [*item[section], *entries]
            return
    raise PluginError(f"mkdocs.yml's nav has no {section!r} section")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Append the executed tutorials and the API pages to their nav sections."""
    extend_section(config.nav or [], NAV_SECTION, executed_notebooks())
    extend_section(config.nav or [], API_SECTION, [{page.title: page.uri} for page in api_pages(PACKAGE_DIR)])
    return config


# Before mkdocs-jupyter's own on_files (priority 0), which claims the notebooks it renders.
@event_priority(100)
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the executed notebooks (read from the notebook folder) and the API pages."""
    for uri in executed_notebooks():
        files.append(File(uri, str(notebooks_root()), config.site_dir, config.use_directory_urls))
    for page in api_pages(PACKAGE_DIR):
        files.append(File.generated(config, page.uri, content=page.content))
    return files
