"""The models the web app offers: the bundled ones and the folders named on the command line.

The page picks a model by *name* from this list, never by path: a request cannot make the
server read any folder it was not started with. Each model is loaded on first use and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from ..transfer import LoadedModel
from ..transfer import available_models
from ..transfer import load_model
from ..transfer import model_checkpoint
from ..validation import InputError

__all__ = ["ModelCatalog"]


class ModelCatalog:
    """Bundled models by name plus model folders (training runs, checkpoint folders, converted
    Magenta models), each offered under its folder's name (``name-2``... when names repeat).

    Args:
        folders: model folders; each is checked now (a bad one raises :class:`InputError`
            naming it, before the server starts).
        bundled: offer the bundled models (``violin``, ``flute``) too.

    Example:
        >>> catalog = ModelCatalog([])
        >>> catalog.names
        ['flute', 'violin']
        >>> catalog.get("flute").sample_rate
        16000
    """

    def __init__(self, folders: Sequence[str | Path] = (), bundled: bool = True):
        self._sources: dict[str, str | Path] = {name: name for name in available_models()} if bundled else {}
        for folder in folders:
            folder = Path(folder)
            if not folder.is_dir():
                raise InputError(f"--models {folder}: not a folder")
            model_checkpoint(folder)  # a folder without a checkpoint fails now, naming it
            self._sources[self._free_name(folder.resolve().name or "model")] = folder
        if not self._sources:
            raise InputError("no model to offer: give --models FOLDER")
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()  # two requests must not load the same model twice

    def _free_name(self, name: str) -> str:
        candidate, count = name, 1
        while candidate in self._sources:
            count += 1
            candidate = f"{name}-{count}"
        return candidate

    @property
    def names(self) -> list[str]:
        """The names the page lists, in order (bundled first, then the folders as given)."""
        return list(self._sources)

    def get(self, name: str) -> LoadedModel:
        """The model called ``name`` (loaded on first use); InputError for an unknown name."""
        if name not in self._sources:
            raise InputError(f"model must be one of {self.names}, found {name!r}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_model(self._sources[name])
            return self._loaded[name]
