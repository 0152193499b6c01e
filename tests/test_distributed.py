"""torchddsp.distributed: outside torchrun every step is a plain call; under torchrun results
come back in rank order and an error on one rank is raised on every rank."""

from __future__ import annotations

import json

import pytest
from torchrun_support import failure
from torchrun_support import torchrun

from torchddsp.distributed import gather
from torchddsp.distributed import process_group
from torchddsp.distributed import share
from torchddsp.distributed import torchrun_rank
from torchddsp.validation import InputError

# Run by two ranks; each writes what it saw to FOLDER/rank_R.json (their prints would interleave).
SCRIPT = """
import json
import sys
from pathlib import Path
from torchddsp.distributed import gather, process_group, share
from torchddsp.validation import InputError

class Unpicklable(Exception):
    def __init__(self, code, why):  # pickling rebuilds it with one argument: fails
        super().__init__(f"{code}: {why}")

def outcome(action):
    try:
        return action()
    except Exception as error:
        return [type(error).__name__, str(error)]

def fail_on(rank, where, error):
    def action():
        if rank == where:
            raise error
        return rank
    return action

with process_group() as (rank, world):
    seen = {
        "gathered": outcome(lambda: gather(lambda: rank * 10)),
        "shared": outcome(lambda: share(lambda: f"from {rank}")),
        "gather_error": outcome(lambda: gather(fail_on(rank, 1, InputError("rank one failed")))),
        "share_error": outcome(lambda: share(fail_on(rank, 0, InputError("rank zero failed")))),
        "unpicklable": outcome(lambda: gather(fail_on(rank, 1, Unpicklable(7, "odd")))),
        "first_rank": outcome(lambda: gather(lambda: (_ for _ in ()).throw(ValueError(f"bad {rank}")))),
    }
    Path(sys.argv[1], f"rank_{rank}.json").write_text(json.dumps({"rank": rank, "world": world, **seen}))
"""


def test_outside_torchrun_every_step_is_a_plain_call(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with process_group() as (rank, world):
        assert (rank, world) == (0, 1)
        assert gather(lambda: 5) == [5] and share(lambda: 6) == 6
        with pytest.raises(InputError, match="as it is"):  # the error itself, not a copy
            share(lambda: (_ for _ in ()).throw(InputError("as it is")))


def test_an_inconsistent_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(InputError, match="RANK 2 of WORLD_SIZE 2"):
        torchrun_rank()


@pytest.mark.slow
def test_two_ranks_see_every_result_and_every_error(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    done = torchrun(str(tmp_path / "script.py"), str(tmp_path))
    assert done.returncode == 0, failure(done)
    seen = [json.loads((tmp_path / f"rank_{rank}.json").read_text()) for rank in (0, 1)]
    assert [s["rank"] for s in seen] == [0, 1] and {s["world"] for s in seen} == {2}
    for s in seen:
        assert s["gathered"] == [0, 10]  # rank order
        assert s["shared"] == "from 0"  # rank 0's, on every rank
        assert s["gather_error"] == ["InputError", "rank one failed"]  # rank 1's error reaches rank 0
        assert s["share_error"] == ["InputError", "rank zero failed"]
        # Its own rank raises the original; the other a RuntimeError that says it (and no hang).
        own = s["rank"] == 1
        assert s["unpicklable"] == (["Unpicklable", "7: odd"] if own else ["RuntimeError", "Unpicklable: 7: odd"])
        assert s["first_rank"] == ["ValueError", "bad 0"]  # both failed: the lowest rank's error
