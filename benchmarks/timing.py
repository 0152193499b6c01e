"""Timing and reporting helpers shared by the benchmarks and the peer scripts (standard
library only at import, so the peers' own virtual environments can import it too)."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable


def measure(fn: Callable[[], object], repeats: int, warmup: int, budget_s: float) -> dict:
    """Median wall time of ``fn()`` in ms after ``warmup`` excluded runs.

    Runs fewer than ``repeats`` times (at least 3) when that would exceed ``budget_s``.
    Returns ``{"median_ms", "min_ms", "repeats"}``.
    """
    start = time.perf_counter()
    for _ in range(max(warmup, 1)):
        fn()
    per_run = (time.perf_counter() - start) / max(warmup, 1)
    count = max(3, min(repeats, math.floor(budget_s / max(per_run, 1e-9))))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times), "repeats": count}


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    import resource  # noqa: PLC0415  (POSIX only; imported where it is used)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (the Magenta peer)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class LoadMonitor:
    """Share of the machine's CPU capacity used by *other* processes between start and stop.

    Timings on 2 cores are only meaningful when nothing else runs; the report prints this.
    """

    def __init__(self) -> None:
        self.start = (time.perf_counter(), machine_busy_seconds(), own_cpu_seconds())

    def fraction(self) -> float | None:
        """Other processes' CPU time / (wall time * CPU count) so far, or None off Linux."""
        wall_0, busy_0, own_0 = self.start
        busy = machine_busy_seconds()
        if busy is None or busy_0 is None:
            return None
        capacity = (time.perf_counter() - wall_0) * (os.cpu_count() or 1)
        return max(0.0, (busy - busy_0) - (own_cpu_seconds() - own_0)) / capacity


def machine_description() -> dict[str, object]:
    """CPU model and count, thread count and versions (imports torch and torchddsp)."""
    import torch  # noqa: PLC0415  (not at import time: the peers' environments lack it)

    import torchddsp  # noqa: PLC0415

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchddsp": torchddsp.__version__,
        "python": platform.python_version(),
    }


def fmt_ms(value: float | None) -> str:
    """Milliseconds with sensible precision, or a dash."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_ratio(numerator: float | None, denominator: float | None) -> str:
    """``numerator / denominator`` as ``12.3x``, or a dash."""
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.1f}x" if numerator / denominator < 100 else f"{numerator / denominator:.0f}x"
