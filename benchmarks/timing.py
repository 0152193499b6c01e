"""Wall-clock timing shared by the benchmarks and the peer scripts (standard library only,
so the peers' own virtual environments can import it too)."""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable


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
