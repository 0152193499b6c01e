"""The one place that imports numba and runs the library's compiled CPU kernels.

Why kernels do not use numba's ``prange``. PyTorch and numba each keep an OpenMP pool of
worker threads, and an OpenMP parallel region ends at a barrier where the finished threads
*spin* for milliseconds before they sleep. On an idle machine that costs microseconds. On a
busy one (a DAW, a data loader, a second training process) a worker is often descheduled:
the barrier waits for the scheduler to give it a core back (up to a scheduler tick, 4 ms
here, per region), and the spinning threads of one pool take the cores that the other pool,
or the calling thread, needs next. Code made of hundreds of small parallel regions per call
stalled for whole seconds (measured by ``benchmarks/bench_load.py``).

The fix at that root, without touching any setting of the host process (thread counts,
wait policies, threading layers): the hot loops are fused into single compiled passes over
independent items (frame intervals, batch items), compiled with ``nogil``, and a
:class:`Kernel` call splits the items into chunks that the calling thread and a small pool
of *sleeping* helper threads take from a shared counter. Nothing spins, the caller never
waits for a helper to start (a helper that starts late finds no chunk left), and a helper
the scheduler delays holds up at most the one chunk it has started.
Calls too small to gain from a second thread run on the calling thread alone, and so does
every call while the machine has no idle core: a helper would only queue behind the busy
threads, and the caller would wait for it. Idle cores are read per call from
Linux's count of runnable threads (``/proc/loadavg``, a few microseconds); elsewhere helpers
are used whenever the work is large enough. The number of threads follows
``torch.get_num_threads()``, so a host that limits PyTorch limits these too.

A kernel is a plain Python function whose first two arguments are the range of items it
handles (``first``, ``stop``); :func:`compile_kernel` compiles it.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import torch

from ...validation import InputError


def _import_numba() -> ModuleType | None:
    # numba is a core dependency; the guard keeps the PyTorch paths usable on exotic installs.
    try:
        import numba
    except ImportError:  # pragma: no cover - exercised only where numba cannot be installed
        return None
    return numba


numba = _import_numba()

__all__ = [
    "numba",
    "available",
    "compile_kernel",
    "compile_function",
    "Kernel",
    "resolve_backend",
    "BACKENDS",
    "PARALLEL_MIN_WORK",
    "CHUNKS_PER_THREAD",
]

#: Inner-loop updates (0.2-1 ns each) below which a kernel runs on the calling thread alone:
#: waking a helper and waiting for its chunk costs tens of microseconds on an idle machine,
#: about a tenth of a call this size.
PARALLEL_MIN_WORK = 250_000
#: Chunks per thread: a delayed helper holds up at most one of them.
CHUNKS_PER_THREAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_owner = 0  # the process that made the pool: a forked child needs its own
_pool_lock = threading.Lock()


def available() -> bool:
    """Whether numba is importable (the compiled CPU kernels exist)."""
    return numba is not None


#: The values of every op's ``backend`` argument: ``"numba"`` runs the compiled CPU kernel,
#: ``"torch"`` the readable PyTorch reference path (on any device; ops choose among their
#: PyTorch strategies, e.g. a loop on CPU or a parallel scan on a GPU, by device), ``"auto"``
#: the compiled kernel for CPU tensors when numba is installed and the PyTorch path otherwise.
BACKENDS = ("auto", "numba", "torch")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The engine that runs an op on ``device``: ``"numba"`` or ``"torch"`` (see :data:`BACKENDS`).

    Raises:
        InputError: ``backend`` is not one of :data:`BACKENDS`, or ``"numba"`` was asked for
            without numba or for a tensor that is not on the CPU (it is never copied there).

    Example:
        >>> resolve_backend("torch", torch.device("cpu"))
        'torch'
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {list(BACKENDS)}, found {backend!r}")
    on_cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        return "numba" if on_cpu and numba is not None else "torch"
    if backend == "numba" and numba is None:
        raise InputError("backend='numba' needs numba (pip install numba)")
    if backend == "numba" and not on_cpu:
        raise InputError(f"backend='numba' runs on CPU tensors, found device {device}")
    return backend


def idle_cores() -> int | None:
    """CPUs with nothing to run right now: the CPU count minus the runnable threads other than
    the caller (Linux's instantaneous count, the 4th field of ``/proc/loadavg``); None where
    that count is not available."""
    try:
        with open("/proc/loadavg") as loadavg:
            running = int(loadavg.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return (os.cpu_count() or 1) - (running - 1)


def _helpers() -> ThreadPoolExecutor:
    global _pool, _pool_owner
    with _pool_lock:
        if _pool is None or _pool_owner != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="torchddsp-kernel"
            )
            _pool_owner = os.getpid()
        return _pool


class Kernel:
    """A compiled kernel over independent items: ``kernel(work, n_items, *args)`` runs
    ``function(first, stop, *args)`` over ``[0, n_items)`` in chunks (module docstring).
    ``work`` (inner-loop updates in the call) decides whether helpers are worth waking."""

    def __init__(self, compiled: Callable):
        self.compiled = compiled

    def __call__(self, work: int, n_items: int, *args) -> None:
        threads = min(torch.get_num_threads(), n_items)
        if threads >= 2 and work >= PARALLEL_MIN_WORK:
            idle = idle_cores()
            threads = threads if idle is None else min(threads, 1 + max(idle, 0))
        if threads < 2 or work < PARALLEL_MIN_WORK:
            self.compiled(0, n_items, *args)
            return
        n_chunks = min(n_items, threads * CHUNKS_PER_THREAD)
        bounds = [n_items * i // n_chunks for i in range(n_chunks + 1)]
        counter = itertools.count()  # next() is atomic under the GIL
        finished = threading.Condition()
        done: list[int] = []
        errors: list[BaseException] = []

        def take_chunks() -> None:
            # A helper the scheduler starts late finds no chunk left and returns: the caller
            # never waits for a thread to start, only for chunks already started.
            while (i := next(counter)) < n_chunks:
                try:
                    self.compiled(bounds[i], bounds[i + 1], *args)
                except BaseException as error:  # noqa: BLE001 - handed to the caller below
                    errors.append(error)
                with finished:
                    done.append(i)
                    finished.notify_all()

        pool = _helpers()
        for _ in range(threads - 1):
            pool.submit(take_chunks)
        take_chunks()
        with finished:
            finished.wait_for(lambda: len(done) == n_chunks)
        if errors:
            raise errors[0]


def compile_function(function: Callable, **options) -> Callable:
    """``function`` compiled by numba (cached, with ``options``); unchanged without numba, where
    no compiled path calls it."""
    if numba is None:  # pragma: no cover - exercised only where numba cannot be installed
        return function
    return numba.njit(cache=True, **options)(function)


def compile_kernel(function: Callable, **options) -> Kernel:
    """Compile ``function(first, stop, *args)`` (numba, ``nogil``, with ``options``). Without
    numba the kernel runs ``function`` as plain Python: :func:`resolve_backend` never picks a
    kernel then, so that path exists only to keep every kernel callable (and typed)."""
    if numba is None:  # pragma: no cover - exercised only where numba cannot be installed
        return Kernel(function)
    return Kernel(numba.njit(cache=True, nogil=True, **options)(function))
