"""Check the built site's tutorial pages: each tutorial has a page, and the page shows what it
taught (at least one figure and one audio player, as the executed notebook drew them).

    python docs/tools/check_site.py build/docs/site docs/tutorials/*.py

mkdocs renders a notebook's outputs as they are; a tutorial executed with a non-inline
matplotlib backend, or a renderer that dropped HTML outputs, would build without warnings and
show neither. Exits 1 naming each page that lacks something.
"""

from __future__ import annotations

import sys
from pathlib import Path

FIGURE = "data:image/png;base64,"
AUDIO = "<audio"


def problems(site: Path, tutorials: list[Path]) -> list[str]:
    """What each tutorial's page lacks, one line per missing item."""
    found = []
    for tutorial in tutorials:
        page = site / "tutorials" / tutorial.stem / "index.html"
        if not page.is_file():
            found.append(f"{tutorial.name}: no page at {page}")
            continue
        html = page.read_text(encoding="utf-8")
        if FIGURE not in html:
            found.append(f"{tutorial.name}: its page shows no figure ({page})")
        if AUDIO not in html:
            found.append(f"{tutorial.name}: its page has no audio player ({page})")
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    site, tutorials = Path(argv[0]), [Path(a) for a in argv[1:]]
    missing = problems(site, tutorials)
    for line in missing:
        print(line, file=sys.stderr)
    if not missing:
        print(f"site checked: {len(tutorials)} tutorial pages, each with figures and audio players")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
