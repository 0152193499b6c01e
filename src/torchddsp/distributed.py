"""Data parallelism under ``torchrun``, in one place: which rank this process is, and the two
collective steps that ``prepare``, ``modular render`` and ``train`` coordinate with.

``torchrun --nproc_per_node N -m torchddsp COMMAND ...`` starts N processes with ``RANK`` and
``WORLD_SIZE`` in their environment. Outside torchrun a process is rank 0 of 1 and every
function here is a plain call: no process group, no communication, errors raised as they are.

The ranks coordinate through a process group (gloo: on the CPU, through torchrun's rendezvous)
rather than marker files in the output folder: a collective returns when every rank reaches
it, without polling a file system or guessing how long a sibling may take, and it carries
what the ranks must agree on (a shared temporary folder, each rank's part, the summary) and
their errors. An exception on one rank reaches every rank, which raises it (same type, same
message), so all stop with the same one-line message; a rank that dies without raising (a
kill) is seen by torchrun, which stops the others.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from typing import TypeVar

import torch.distributed as dist

from .validation import InputError

__all__ = ["gather", "portable_error", "process_group", "share", "start_process_group", "torchrun_rank"]

T = TypeVar("T")

# How long a rank waits in a collective for its siblings. Data preparation on unequal files
# can keep one rank busy for hours after the others are done; a sibling that died is caught
# by torchrun, not by this timeout, so it only bounds a genuine hang (gloo's limit is ~24 days).
DATA_TIMEOUT = timedelta(days=7)


def torchrun_rank() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; ``(0, 1)`` outside torchrun.

    Example:
        >>> torchrun_rank()  # a plain Python process
        (0, 1)
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0")) if world > 1 else 0
    except ValueError:
        raise InputError("WORLD_SIZE and RANK must be whole numbers (set by torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"RANK {rank} of WORLD_SIZE {world}: start the processes with torchrun")
    return rank, world


def start_process_group(backend: str = "gloo", timeout: timedelta = DATA_TIMEOUT) -> tuple[int, int]:
    """(rank, world size); under torchrun also joins the default process group (once).

    ``backend``: ``"gloo"`` (CPU; what the data commands use) or ``"nccl"`` (GPU training).
    """
    rank, world = torchrun_rank()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout)
    return rank, world


@contextlib.contextmanager
def process_group(backend: str = "gloo", timeout: timedelta = DATA_TIMEOUT) -> Iterator[tuple[int, int]]:
    """(rank, world size) for the block; under torchrun the process is in the default process
    group during it, and leaves it after if it joined here (a process that exits still in a
    gloo group can abort at exit: "terminate called without an active exception").

    Example:
        >>> with process_group() as (rank, world):  # a plain Python process: nothing to join
        ...     print(rank, world)
        0 1
    """
    joined = not dist.is_initialized()
    rank, world = start_process_group(backend, timeout)
    try:
        yield rank, world
    finally:
        if joined and dist.is_initialized():
            dist.destroy_process_group()


def portable_error(error: Exception) -> Exception:
    """``error`` if it survives pickling (type and message), else a RuntimeError that says it:
    what a rank sends its siblings."""
    try:
        copy = pickle.loads(pickle.dumps(error))
        if type(copy) is type(error) and str(copy) == str(error):
            return error
    except Exception:  # noqa: BLE001  (any failure to pickle: send the message instead)
        pass
    return RuntimeError(f"{type(error).__name__}: {error}")


def _attempt(action: Callable[[], T]) -> tuple[T | None, Exception | None]:
    try:
        return action(), None
    except Exception as error:  # a KeyboardInterrupt or a kill ends the process; torchrun stops the rest
        return None, error


def _raise(errors: list[Exception | None], own: Exception | None, rank: int, world: int) -> None:
    """Raise the first error in rank order: the original on the rank that raised it (with its
    traceback), a copy elsewhere (same type and message)."""
    for source, error in enumerate(errors):
        if error is None:
            continue
        if source == rank and own is not None:
            raise own
        error.add_note(f"(raised on rank {source} of {world})")
        raise error


def share(action: Callable[[], T]) -> T:
    """Rank 0 runs ``action``; every rank returns its result, or raises its error.

    The other ranks wait meanwhile: what rank 0 does here (checking and locking a folder,
    creating a temporary one, merging) happens before any rank goes on. Outside torchrun:
    ``action()``.
    """
    rank, world = torchrun_rank()
    if world == 1:
        return action()
    value, own = _attempt(action) if rank == 0 else (None, None)
    box: list = [(value, None if own is None else portable_error(own))]
    dist.broadcast_object_list(box, src=0)
    value, error = box[0]
    _raise([error], own, rank, world)
    return value


def gather(action: Callable[[], T]) -> list[T]:
    """Every rank runs ``action``; every rank returns all the results in rank order, or, if
    any rank raised, raises the error of the lowest such rank. Outside torchrun: ``[action()]``.
    """
    rank, world = torchrun_rank()
    if world == 1:
        return [action()]
    value, own = _attempt(action)
    boxes: list = [None] * world
    dist.all_gather_object(boxes, (value, None if own is None else portable_error(own)))
    _raise([error for _, error in boxes], own, rank, world)
    return [value for value, _ in boxes]
