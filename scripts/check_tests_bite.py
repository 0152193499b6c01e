"""Do the tests catch real bugs? Plant each bug of a curated list in a copy of the project and
run the tests that exist to catch it.

Usage (from the repository root, after ``make install``)::

    .venv/bin/python scripts/check_tests_bite.py [--only NAME,...] [--keep] [--dry]

``--dry`` runs no test: it only checks that each bug's text occurs exactly once in the working
tree and that its test files exist (the first thing to fix after code moves).

The working tree's files (tracked, and untracked ones git does not ignore: a module split off
but not yet committed) are copied to a temporary folder once; for each bug in
``BUGS`` the copy gets that one edit (an exact text replacement that must match exactly
once), the named tests run against the copy (``PYTHONPATH`` puts the copy's ``src`` first),
and the edit is undone. A bug is **caught** when pytest reports failing tests (exit status
1); a collection or usage error (status 2-4) is reported as **error**, never as caught,
since a test that cannot even run proves nothing; exit status 0 is **missed**. Prints one
line per bug and a summary; exits with status 1 unless every bug is caught.

The bugs are records in ``scripts/planted_bugs/<area>.toml`` (``[[bug]]`` tables: name, path,
old, new, tests, why -- why the bug is plausible): the list is meant to grow with every test
written to catch a bug.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    name: str
    area: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest node ids or files
    why: str


RECORDS = ROOT / "scripts" / "planted_bugs"


def load_bugs(folder: Path = RECORDS) -> list[Bug]:
    """Every record of ``folder/*.toml`` (one file per area, named after it; each ``[[bug]]``
    table has name, path, old, new, tests, why)."""
    bugs = []
    for path in sorted(folder.glob("*.toml")):
        for record in tomllib.loads(path.read_text())["bug"]:
            fields = {key: record[key] for key in ("name", "path", "old", "new", "why")}
            bugs.append(Bug(area=path.stem, tests=tuple(record["tests"]), **fields))
    names = [bug.name for bug in bugs]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise SystemExit(f"planted bug names used twice: {', '.join(duplicated)}")
    return bugs


BUGS = load_bugs()


def copy_project(target: Path) -> None:
    """Copy the working tree's tracked and not-ignored untracked files (current contents)."""
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    environment = {**os.environ, "PYTHONPATH": str(copy / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    done = subprocess.run(command, cwd=copy, env=environment, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines[-1] if lines else " ".join(done.stderr.strip().splitlines()[-1:])


def dry_check(bug: Bug) -> str:
    """Why ``bug`` cannot be planted in the working tree ("" when it can)."""
    path = ROOT / bug.path
    if not path.is_file():
        return f"{bug.path} does not exist"
    count = path.read_text().count(bug.old)
    if count != 1:
        return f"the text to replace occurs {count} times in {bug.path}"
    missing = [t for t in bug.tests if not (ROOT / t.split("::")[0]).exists()]
    return f"no such test file: {' '.join(missing)}" if missing else ""


def check(copy: Path, bug: Bug) -> tuple[str, str]:
    path = copy / bug.path
    original = path.read_text()
    count = original.count(bug.old)
    if count != 1:
        return "error", f"the text to replace occurs {count} times in {bug.path}"
    path.write_text(original.replace(bug.old, bug.new))
    try:
        status, summary = run_tests(copy, bug.tests)
    finally:
        path.write_text(original)
    outcome = {0: "MISSED", 1: "caught"}.get(status, "error")
    return outcome, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated bug names")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--dry", action="store_true", help="only check that every bug can be planted")
    args = parser.parse_args(argv)
    bugs = [b for b in BUGS if not args.only or b.name in args.only.split(",")]
    if args.dry:
        problems = [(b.name, dry_check(b)) for b in bugs]
        for name, problem in problems:
            print(f"{'ok' if not problem else 'error':7s} {name}{': ' + problem if problem else ''}")
        return 1 if any(problem for _, problem in problems) else 0
    folder = Path(tempfile.mkdtemp(prefix="torchddsp-bite-"))
    started = time.time()
    results = []
    try:
        copy_project(folder)
        # The unmodified copy must pass the tests first: otherwise "caught" means nothing.
        for tests in dict.fromkeys(b.tests for b in bugs):
            status, summary = run_tests(folder, tests)
            if status != 0:
                print(f"the unmodified project fails {' '.join(tests)}: {summary}")
                return 2
        for bug in bugs:
            outcome, summary = check(folder, bug)
            results.append(outcome)
            print(f"{outcome:7s} {bug.area:10s} {bug.name}: {bug.why} -- {summary}", flush=True)
    finally:
        if args.keep:
            print(f"copy kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    caught = results.count("caught")
    print(f"\n{caught} of {len(results)} planted bugs caught ({time.time() - started:.0f} s)")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
