"""The kernel layer (functional/engine.py): every item exactly once, whoever runs it; the host's
thread count respected; errors and forks handled."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import numpy as np
import pytest
import torch

import torchddsp.functional.engine as kernel_engine


def _count_items(first, stop, out):
    for i in range(first, stop):
        out[i] += 1


def _recording_kernel():
    threads: list[int] = []

    def run(first, stop, out):
        threads.append(threading.get_ident())
        out[first:stop] += 1
        # A chunk takes time, as a compiled one does: without it a helper can take every chunk
        # of a Python stand-in before the calling thread gets the GIL back (seen on a loaded
        # machine); the sleep releases the GIL, as the compiled kernels do (nogil).
        time.sleep(0.005)

    return kernel_engine.Kernel(run), threads


@pytest.mark.parametrize("n_items", [1, 2, 7, 1000])
def test_every_item_is_handled_exactly_once(n_items):
    kernel = kernel_engine.compile_kernel(_count_items)
    for work in (0, 10**9):  # on the calling thread alone, and shared out in chunks
        out = np.zeros(n_items)
        kernel(work, n_items, out)
        np.testing.assert_array_equal(out, 1.0)


@pytest.fixture
def idle_machine(monkeypatch):
    """Two threads for PyTorch and one idle core, whatever else runs while the test does."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(kernel_engine, "idle_cores", lambda: 1)


def test_chunks_are_shared_with_helpers_only_when_worth_it(idle_machine):
    kernel, threads = _recording_kernel()
    out = np.zeros(64)
    kernel(10, 64, out)  # small: the calling thread alone, one call
    assert threads == [threading.get_ident()]
    threads.clear()
    kernel(10**9, 64, out)
    assert len(threads) == 2 * kernel_engine.CHUNKS_PER_THREAD and threading.get_ident() in threads
    np.testing.assert_array_equal(out, 2.0)


def test_no_helpers_while_no_core_is_idle(idle_machine, monkeypatch):
    # A busy machine: a helper would queue behind the busy threads and the caller wait for it.
    monkeypatch.setattr(kernel_engine, "idle_cores", lambda: 0)
    kernel, threads = _recording_kernel()
    kernel(10**9, 64, np.zeros(64))
    assert threads == [threading.get_ident()]


def test_idle_cores_reads_the_runnable_threads():
    idle = kernel_engine.idle_cores()
    if idle is not None:  # Linux: this test's own thread is running, so at most all but none
        assert idle <= (os.cpu_count() or 1)


def test_a_host_limited_to_one_thread_keeps_every_chunk(monkeypatch):
    kernel, threads = _recording_kernel()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    kernel(10**9, 64, np.zeros(64))
    assert threads == [threading.get_ident()]


def test_an_error_in_any_chunk_reaches_the_caller(idle_machine):
    def failing(first, stop, out):
        if first > 0:  # not the first chunk: may run on a helper
            raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        kernel_engine.Kernel(failing)(10**9, 64, np.zeros(64))


def _child(queue):
    out = np.zeros(100)
    kernel_engine.compile_kernel(_count_items)(10**9, 100, out)
    queue.put(float(out.sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_gets_its_own_helpers(idle_machine):
    # The parent's helper threads do not exist in a forked child (a data loader worker, say):
    # the child must not wait on them forever.
    kernel_engine.compile_kernel(_count_items)(10**9, 100, np.zeros(100))  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(60)
    if child.is_alive():  # hung on the parent's helpers
        child.kill()
        child.join()
    assert child.exitcode == 0 and queue.get(timeout=5) == 100.0
