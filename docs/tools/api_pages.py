"""The API reference's pages, one per subpackage of ``src/torchddsp`` (its nested packages
included) plus one for the top-level modules, written as mkdocstrings ``:::`` blocks.

Every public module is on a page: any ``.py`` file under ``src/torchddsp`` none of whose path
parts starts with ``_`` (``__init__.py`` stands for its package). A page is generated from the
source tree on every build, so a new module or subpackage appears without an edit.

Each module lists the public names it defines itself (its ``__all__`` when it has one, less
the names it imports): a package that re-exports its modules' names shows its docstring only,
and every object is documented once, at the module that defines it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "torchddsp"
TOP_LEVEL_PAGE = "api/torchddsp.md"


@dataclass(frozen=True)
class ApiPage:
    """A reference page: ``uri`` (``api/<name>.md``), its nav ``title`` and its markdown."""

    uri: str
    title: str
    content: str


def is_public(path: Path, package_dir: Path) -> bool:
    """A module file none of whose parts is private (``__init__.py`` is its package)."""
    parts = path.relative_to(package_dir).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return not any(part.startswith("_") for part in parts)


def module_name(path: Path, package_dir: Path) -> str:
    """``src/torchddsp/a/b.py`` -> ``torchddsp.a.b``; ``a/__init__.py`` -> ``torchddsp.a``."""
    parts = path.relative_to(package_dir).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join((PACKAGE, *parts))


def public_modules(package_dir: Path) -> list[str]:
    """Every public module and package under ``package_dir``, sorted."""
    return sorted(module_name(p, package_dir) for p in package_dir.rglob("*.py") if is_public(p, package_dir))


def defined_names(source: str) -> list[str]:
    """The public names a module defines (functions, classes, assignments), in source order;
    restricted to its ``__all__`` when it has a literal one."""
    tree = ast.parse(source)
    defined: list[str] = []
    exported: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names == ["__all__"] and isinstance(node.value, ast.List | ast.Tuple):
                exported = [
                    e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
            defined.extend(names)
    public = [name for name in dict.fromkeys(defined) if not name.startswith("_")]
    return public if exported is None else [name for name in public if name in exported]


def module_block(name: str, source: str, *, root: bool) -> str:
    """The ``:::`` block of one module; ``root``: the page's own package (no heading)."""
    members = defined_names(source)
    options = ["    options:", f"      members: {members if members else 'false'}"]
    if root:
        options.append("      show_root_heading: false")
    return "\n".join([f"::: {name}", *options, ""])


def page_for(title: str, modules: list[tuple[str, Path]], root: str | None) -> str:
    """A page's markdown: its title, then each module's block (the ``root`` package first)."""
    blocks = [f"# `{title}`", ""]
    for name, path in modules:
        blocks.append(module_block(name, path.read_text(encoding="utf-8"), root=name == root))
    return "\n".join(blocks)


def api_pages(package_dir: Path) -> list[ApiPage]:
    """The top-level page (the package and its top-level modules), then one page per
    subpackage, each holding the subpackage, its modules and its nested packages' modules."""
    files = {module_name(p, package_dir): p for p in package_dir.rglob("*.py") if is_public(p, package_dir)}
    top = [name for name in files if name.count(".") == 1 and files[name].name != "__init__.py"]
    subpackages = sorted(name for name in files if name.count(".") == 1 and files[name].name == "__init__.py")
    pages = [
        ApiPage(
            TOP_LEVEL_PAGE,
            PACKAGE,
            page_for(PACKAGE, [(PACKAGE, files[PACKAGE]), *((n, files[n]) for n in sorted(top))], PACKAGE),
        )
    ]
    for package in subpackages:
        members = sorted(n for n in files if n == package or n.startswith(package + "."))
        short = package.split(".", 1)[1]
        pages.append(ApiPage(f"api/{short}.md", package, page_for(package, [(n, files[n]) for n in members], package)))
    return pages
