"""The planted-bug records of ``scripts/check_tests_bite.py`` stay plantable.

Bug caught: code moves or is rewritten and a record's text no longer occurs exactly once (or
its test file is renamed), so ``check_tests_bite.py`` reports an error instead of proving the
tests still bite -- found only when someone runs the 13-minute full check.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_tests_bite", ROOT / "scripts" / "check_tests_bite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_tests_bite", module)
    spec.loader.exec_module(module)
    return module


def test_every_planted_bug_can_be_planted() -> None:
    checker = _checker()
    assert len(checker.BUGS) >= 64
    problems = {bug.name: checker.dry_check(bug) for bug in checker.BUGS}
    assert not {name: problem for name, problem in problems.items() if problem}


def test_every_record_names_an_existing_area_file_and_tests() -> None:
    checker = _checker()
    for bug in checker.BUGS:
        assert (ROOT / "scripts" / "planted_bugs" / f"{bug.area}.toml").is_file()
        assert bug.tests and bug.why and bug.old != bug.new, bug.name
