"""A dependency-free progress bar on stderr: count, rate, and a live postfix (e.g. the loss)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["progress", "Progress"]

T = TypeVar("T")


class Progress:
    """``with Progress(total, desc) as bar: ... bar.update(1, loss=0.3)``; redraws at most 5
    times a second, only when enabled (and only on a terminal unless ``force``)."""

    def __init__(self, total: int | None, desc: str = "", enabled: bool = True, initial: int = 0):
        self.total, self.desc, self.count = total, desc, initial
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()
        self.start_count = initial
        self.postfix: dict[str, float] = {}
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return (self.count - self.start_count) / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1, **postfix: float) -> None:
        self.count += n
        self.postfix.update(postfix)
        now = time.perf_counter()
        if self.enabled and (now - self._drawn > 0.2 or self.count == self.total):
            self._drawn = now
            total = f"/{self.total}" if self.total else ""
            extra = " ".join(f"{k} {v:.4g}" for k, v in self.postfix.items())
            sys.stderr.write(f"\r{self.desc} {self.count}{total} [{self.rate():.2f}/s] {extra}\033[K")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def progress(items: Iterable[T], desc: str = "", enabled: bool = True) -> Iterator[T]:
    """Iterate with a progress bar."""
    items = list(items)
    with Progress(len(items), desc, enabled) as bar:
        for item in items:
            yield item
            bar.update(1)
