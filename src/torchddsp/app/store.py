"""Results kept in memory for the page to fetch: each a few named files (WAV, PNG) under a
random id, the oldest dropped beyond a fixed count (memory stays bounded)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

from ..validation import check_positive_int

__all__ = ["ResultStore", "MEDIA_TYPES"]

#: The files a result may hold, with the media type each is served as.
MEDIA_TYPES = {"audio.wav": "audio/wav", "figure.png": "image/png"}


class ResultStore:
    """At most ``capacity`` results, each ``{file name: bytes}`` under an unguessable id.

    Example:
        >>> store = ResultStore(capacity=1)
        >>> first = store.put({"audio.wav": b"RIFF"})
        >>> store.get(first, "audio.wav")
        b'RIFF'
        >>> second = store.put({"audio.wav": b"RIFF2"})
        >>> store.get(first, "audio.wav") is None  # dropped: over capacity
        True
    """

    def __init__(self, capacity: int = 16):
        self.capacity = check_positive_int("capacity", capacity)
        self._results: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, files: Mapping[str, bytes]) -> str:
        """Keep ``files`` (names from MEDIA_TYPES); return their id."""
        unknown = set(files) - set(MEDIA_TYPES)
        if unknown:
            raise ValueError(f"files must be named from {sorted(MEDIA_TYPES)}, found {sorted(unknown)}")
        key = secrets.token_urlsafe(12)
        with self._lock:
            self._results[key] = dict(files)
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)
        return key

    def get(self, key: str, name: str) -> bytes | None:
        """The file ``name`` of result ``key``, or None (unknown, dropped, or no such file)."""
        with self._lock:
            return self._results.get(key, {}).get(name)
