"""A griffe extension: torchddsp's docstring dialect read as Google style by mkdocstrings.

The docstrings are Google style with three habits of their own, rewritten here (in the text
griffe parses, never in the source) so that the API reference renders them and checks them:

- ``Example:`` sections hold doctests: renamed ``Examples:``, griffe's name, so they render as
  code (as written, griffe takes them for an admonition of prose);
- ``min_hz, max_hz: ...`` documents several parameters (or attributes) at once: one item per
  name, each with the shared description, so that griffe can still check every documented
  name against the signature;
- Sphinx roles (``:func:`~torchddsp.x.f```, ``:class:`Name```, ``:mod:``, ``:meth:``,
  ``:attr:``, ``:data:``, ``:exc:``) become cross-references. A full ``torchddsp.`` path is a
  link that must resolve (a reference to nothing fails the strict build). A relative name is
  looked up as Python would from the object (its members, inherited ones included, then each
  enclosing scope and the module's imports) and linked where the reference shows that object;
  a name that is private, of another package (``pickle``, ``torch``: the site links to no
  other site) or not found stays code.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import griffe

ITEM_SECTIONS = {"args", "arguments", "parameters", "attributes"}
SECTION = re.compile(r"^(?P<indent>\s*)(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
GROUPED = re.compile(r"^(?P<indent>\s+)(?P<names>\*{0,2}\w+(?:,\s*\*{0,2}\w+)+):(?P<rest>.*)$")
ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`")


def role_to_reference(match: re.Match[str], obj: griffe.Object | None) -> str:
    """``:func:`~a.b.c``` -> ``[`c`][a.b.c]``; without ``~`` the whole path is shown."""
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    if any(part.startswith("_") for part in target.split(".")) or is_other_package(target):
        return f"`{shown}`"
    if target.startswith("torchddsp."):
        return f"[`{shown}`][{target}]"
    path = None if obj is None else lookup(obj, target)
    if path is None or not path.startswith("torchddsp.") or any(p.startswith("_") for p in path.split(".")):
        return f"`{shown}`"
    # Optional: linked when the reference renders that object (not, e.g., an undocumented
    # instance attribute), plain code otherwise.
    return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'


def real(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    """The object an alias (an import) stands for; raises if it cannot be resolved."""
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def reference_in(obj: griffe.Object, match: re.Match[str]) -> str:
    """:func:`role_to_reference` with the object first (for ``functools.partial``)."""
    return role_to_reference(match, obj)


def member(scope: griffe.Object, name: str) -> griffe.Object | griffe.Alias | None:
    """``scope``'s member ``name``, an inherited one included."""
    try:
        members = scope.all_members if isinstance(scope, griffe.Class) else scope.members
        return members.get(name)
    except Exception:  # unresolvable bases or aliases: no link, never a failed build
        return None


def lookup(obj: griffe.Object, target: str) -> str | None:
    """The full path that ``target`` names, read from ``obj`` outwards; None if not found."""
    first, *rest = target.split(".")
    scope: griffe.Object | None = obj
    found: griffe.Object | griffe.Alias | None = None
    while scope is not None and found is None:
        found = member(scope, first)
        scope = scope.parent
    try:
        for name in rest:
            found = None if found is None else member(real(found), name)
        return None if found is None else real(found).path
    except Exception:  # an alias to something not loaded: no link
        return None


def is_other_package(target: str) -> bool:
    """``target`` starts with an importable top-level module other than torchddsp."""
    first = target.split(".", 1)[0]
    return first != "torchddsp" and importlib.util.find_spec(first) is not None


def continuation(lines: list[str], start: int, indent: int) -> int:
    """The index after the lines from ``start`` on that are indented deeper than ``indent``
    (blank lines inside included)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def split_grouped_items(text: str) -> str:
    """One item per name for every ``a, b: description`` item of an Args or Attributes section."""
    lines = text.split("\n")
    out: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = SECTION.match(line)
        if heading:
            section = heading["title"].lower()
        grouped = GROUPED.match(line) if section in ITEM_SECTIONS else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        end = continuation(lines, i + 1, len(grouped["indent"]))
        for name in re.split(r",\s*", grouped["names"]):
            out.append(f"{grouped['indent']}{name}:{grouped['rest']}")
            out.extend(lines[i + 1 : end])
        i = end
    return "\n".join(out)


def rewrite(text: str) -> str:
    """The docstring ``text``'s sections in griffe's Google style (roles are done later)."""
    text = re.sub(r"^(\s*)Example:\s*$", r"\1Examples:", text, flags=re.MULTILINE)
    return split_grouped_items(text)


def objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and every object defined inside it (aliases skipped)."""
    yield obj
    for child in obj.members.values():
        if isinstance(child, griffe.Object):
            yield from objects(child)


class TorchddspDocstrings(griffe.Extension):
    """Rewrites each object's docstring (see the module's docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # Roles once the whole package is loaded, so that relative names can be looked up.
        for obj in objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(partial(reference_in, obj), obj.docstring.value)
