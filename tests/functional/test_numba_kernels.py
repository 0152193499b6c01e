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


# ----------------------------------------------------------------------------- shared helpers

from pathlib import Path  # noqa: E402

import torchddsp.functional as F  # noqa: E402
from torchddsp.functional.engine import shared  # noqa: E402
from torchddsp.functional.noise import counter_noise  # noqa: E402
from torchddsp.functional.phase import cumulative_turns  # noqa: E402
from torchddsp.functional.phase import hop_turns  # noqa: E402
from torchddsp.validation import InputError  # noqa: E402
from torchddsp.validation import set_validation  # noqa: E402


def test_the_compiled_splitmix_draws_the_counter_noise():
    # One generator, two forms: the compiled one inside the oscillator kernel and the PyTorch
    # one; a constant or shift copied wrongly into either makes different noise per device.
    seeds = torch.tensor([0, 1, -7, 2**62 + 12345, -(2**63)], dtype=torch.int64)
    offset, n = 1000, 64
    expected = counter_noise(seeds, n, offset, torch.float64).numpy()
    compiled = np.array([[shared.splitmix_uniform(int(s), offset + i + 1) for i in range(n)] for s in seeds])
    np.testing.assert_array_equal(compiled, expected)


def test_hop_turns_is_the_running_sum_of_a_linear_frequency_and_the_kernel_advance_equals_it():
    rng = np.random.default_rng(3)
    hop, sr = 37, 16000.0
    f_a, f_b, start = rng.uniform(-900, 900, 5), rng.uniform(-900, 900, 5), rng.uniform(-3, 3, 5)
    step, change = f_a / sr, (f_b - f_a) / (sr * hop)
    # Reference: the per-sample frequency of the ramp summed one sample at a time (float64).
    per_sample = f_a[:, None] + (f_b - f_a)[:, None] * np.arange(1, hop + 1) / hop - (f_b - f_a)[:, None] / hop
    expected = start[:, None] + np.cumsum(per_sample / sr, axis=1)
    turns = hop_turns(*(torch.from_numpy(v) for v in (start, step, change)), hop)
    np.testing.assert_allclose(turns.numpy(), expected, rtol=0, atol=1e-12)
    library = cumulative_turns(torch.from_numpy(per_sample)[..., None], sr, torch.from_numpy(start)[:, None])[..., 0]
    # cumulative_turns is the running sum modulo whole cycles: compare on the circle.
    gap = np.remainder(turns.numpy() - library.numpy() + 0.5, 1.0) - 0.5
    np.testing.assert_allclose(gap, 0.0, rtol=0, atol=1e-12)
    for item in range(5):
        sample_turns = np.empty(hop)
        after = shared.advance_turns(sample_turns, start[item], step[item], change[item], hop)
        wrapped = expected[item] - np.floor(expected[item])
        np.testing.assert_allclose(sample_turns, wrapped, rtol=0, atol=1e-12)
        end = start[item] + hop * step[item] + 0.5 * hop * (hop - 1) * change[item]
        assert abs(after - (end - np.floor(end))) < 1e-12


def test_only_the_engine_package_imports_numba():
    source = Path(F.__file__).resolve().parents[1]
    importers = sorted(
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if any(line.strip().startswith(("import numba", "from numba")) for line in path.read_text().splitlines())
    )
    assert importers == ["functional/engine/__init__.py"]


# ----------------------------------------------------------------------------- backend dispatch


def _meta(*shape):
    return torch.ones(*shape, device="meta")


# Each op with its compiled path, on tensors that are not on the CPU ("meta": shapes only).
NON_CPU_CALLS = {
    "harmonic_synthesis": lambda backend: F.harmonic_synthesis(
        _meta(1, 4, 1) * 100, _meta(1, 4, 1), _meta(1, 4, 3), 64, 16000, backend=backend
    ),
    "bandlimited_oscillator": lambda backend: F.bandlimited_oscillator(
        _meta(1, 4, 1) * 100, _meta(1, 4, 1), 64, 16000, backend=backend
    ),
    "fm_synthesis": lambda backend: F.fm_synthesis(
        _meta(1, 16, 2) * 100,
        _meta(1, 16, 2),
        torch.zeros(2, 2, device="meta"),
        16000,
        feedback=_meta(1, 1, 2).requires_grad_(),
        backend=backend,
    ),
    "smooth_gain": lambda backend: F.smooth_gain(_meta(2, 16), 0.01, 0.1, 16000, backend=backend),
    "compress": lambda backend: F.compress(_meta(2, 16), 16000, backend=backend),
}


@pytest.fixture
def no_data_checks():
    """Data checks read values, which "meta" tensors do not have."""
    previous = set_validation(False)
    yield
    set_validation(previous)


@pytest.mark.parametrize("op", sorted(NON_CPU_CALLS))
def test_numba_on_a_tensor_off_the_cpu_is_an_error_not_a_copy(op, no_data_checks):
    with pytest.raises(InputError, match="runs on CPU tensors"):
        NON_CPU_CALLS[op]("numba")


@pytest.mark.parametrize("op", ["fm_synthesis", "smooth_gain", "compress"])
def test_auto_off_the_cpu_runs_the_pytorch_path_there(op, no_data_checks):
    # A copy to the CPU (the compressor's "auto" made one) fails on "meta" tensors.
    out = NON_CPU_CALLS[op]("auto")
    assert out.device.type == "meta"
