"""Magenta's ``dataset_statistics.pkl`` (auto-adjust statistics) read by a restricted unpickler.

A pickle is code: loading one with :mod:`pickle` may call any importable function (``os.system``
included). Magenta's file is a dict written by ``colab_utils.save_dataset_statistics``
(``postprocessing.compute_dataset_statistics``): numpy scalars ``mean_pitch``, ``std_pitch``,
``mean_loudness_note`` ... (``{mean,max,min,mean_max,mean_min,std}_{pitch,power,loudness}`` and
their ``_note`` variants over detected notes) and ``quantile_transform``, a fitted
``QuantileTransformer`` of the note frames' loudness (Magenta's own copy of scikit-learn's in
ddsp >= 1.0; scikit-learn's in older notebooks). :func:`read_dataset_statistics` lets the pickle
name only numpy's array, dtype and scalar reconstructors, plain containers, and those two
transformer classes, which become a data-only :class:`QuantileTransform`; numpy's random state
(which Magenta's transformer holds) is dropped. Any other global is refused before it is
imported. :func:`to_feature_statistics` turns the result into torchddsp's auto-adjust statistics.

Example:
    >>> from pathlib import Path
    >>> DATA = Path(__file__).parents[3] / "tests" / "data" / "magenta" / "statistics"  # in a source checkout
    >>> stats = read_dataset_statistics(DATA / "dataset_statistics.pkl")
    >>> type(stats["quantile_transform"]).__name__, round(stats["mean_pitch"], 2)
    ('QuantileTransform', 62.7)
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..training.data import QUANTILES
from ..validation import InputError

__all__ = ["QuantileTransform", "read_dataset_statistics", "to_feature_statistics"]

_TRANSFORMERS = {
    ("ddsp.training.postprocessing", "QuantileTransformer"),
    ("sklearn.preprocessing._data", "QuantileTransformer"),
    ("sklearn.preprocessing.data", "QuantileTransformer"),  # scikit-learn < 0.22
}
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1, numpy 2
_NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")


class QuantileTransform:
    """The data of a fitted ``QuantileTransformer`` (Magenta's or scikit-learn's), no code.

    Fields: ``quantiles``: ``(n_fitted, n_features)`` float64, each column non-decreasing (the
    loudness in dB at the reference levels, one feature in Magenta's files); ``references``:
    ``(n_fitted,)`` levels in [0, 1]; ``n_quantiles``: the count asked for (``n_fitted`` is
    ``min(n_quantiles, frames)``); ``output_distribution``: ``"uniform"`` or ``"normal"``.

    Example:
        >>> t = QuantileTransform([[-60.0], [-40.0], [-10.0]], [0.0, 0.5, 1.0])
        >>> t.inverse_transform(np.array([[0.25]])).tolist()
        [[-50.0]]
    """

    def __init__(
        self, quantiles: Any, references: Any, n_quantiles: int = 1000, output_distribution: str = "uniform"
    ) -> None:
        self.quantiles = np.array(quantiles, dtype=np.float64)
        self.references = np.array(references, dtype=np.float64)
        self.n_quantiles = int(n_quantiles)
        self.output_distribution = str(output_distribution)
        if self.quantiles.ndim != 2 or self.references.shape != self.quantiles.shape[:1]:
            raise InputError(
                f"quantile_transform: quantiles {self.quantiles.shape} and references "
                f"{self.references.shape} must be (n, n_features) and (n,)"
            )

    def __setstate__(self, state: Any) -> None:
        """Unpickling: keep the fitted arrays of the transformer's ``__dict__``, nothing else."""
        if not isinstance(state, dict) or not {"quantiles_", "references_"} <= set(state):
            raise InputError("quantile_transform: the pickled transformer has no fitted quantiles_ and references_")
        self.__init__(  # type: ignore[misc]
            state["quantiles_"],
            state["references_"],
            state.get("n_quantiles", len(state["references_"])),
            state.get("output_distribution", "uniform"),
        )

    def _uniform(self) -> None:
        if self.output_distribution != "uniform":
            raise InputError(f"quantile_transform: output_distribution {self.output_distribution!r} is not supported")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Values -> levels in [0, 1], as Magenta's ``transform`` (uniform output).

        Shape: ``(n_samples, n_features)`` in and out.
        """
        self._uniform()
        out = np.array(x, dtype=np.float64)
        for column, quantiles in enumerate(self.quantiles.T):
            values = out[:, column]
            # The mean of an ascending and a descending interpolation: repeated quantiles (equal
            # loudness over many frames) map to the middle of their levels, not one end.
            up = np.interp(values, quantiles, self.references)
            down = np.interp(-values, -quantiles[::-1], -self.references[::-1])
            out[:, column] = np.where(
                values == quantiles[0], 0.0, np.where(values == quantiles[-1], 1.0, 0.5 * (up - down))
            )
        return out

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Levels in [0, 1] -> values, as Magenta's ``inverse_transform`` (uniform output).

        Shape: ``(n_samples, n_features)`` in and out.
        """
        self._uniform()
        out = np.array(x, dtype=np.float64)
        for column, quantiles in enumerate(self.quantiles.T):
            out[:, column] = np.interp(out[:, column], self.references, quantiles)
        return out


class _DroppedRandomState:
    """Stands in for the numpy ``RandomState`` Magenta's transformer keeps: its state is dropped."""

    def __setstate__(self, state: Any) -> None:
        pass


def _random_state(*args: Any) -> _DroppedRandomState:
    return _DroppedRandomState()


def _bit_generator(*args: Any) -> None:
    return None


_RECONSTRUCT: Any = np.empty(0).__reduce__()[0]  # numpy's array reconstructor, whatever its module


def _array(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's array reconstructor, for plain ndarrays only."""
    if cls is not np.ndarray:
        raise InputError(f"dataset statistics: refused to rebuild an array of class {cls!r}")
    return _RECONSTRUCT(cls, shape, dtype)


def _from_buffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """How protocol-5 pickles spell an array (numpy's ``_frombuffer``), as a writable copy."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise InputError("dataset statistics: refused _frombuffer other than plain data to an array")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """How protocol-2 pickles spell bytes (``_codecs.encode(text, 'latin1')``)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise InputError("dataset statistics: refused _codecs.encode other than text to latin1 bytes")
    return text.encode("latin1")


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 objects) for the stand-in classes only."""
    if cls is not QuantileTransform or base is not object or state is not None:
        raise InputError(f"dataset statistics: refused copyreg._reconstructor of {cls!r}")
    return object.__new__(cls)


_SCALAR: Any = np.float64(0).__reduce__()[0]  # numpy's scalar reconstructor, whatever its module
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(module, "_reconstruct"): _array for module in _NUMPY_CORE},
    **{(module, "scalar"): _SCALAR for module in _NUMPY_CORE},
    **{(module, "_frombuffer"): _from_buffer for module in _NUMPY_NUMERIC},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.random._pickle", "__randomstate_ctor"): _random_state,
    ("numpy.random._pickle", "__bit_generator_ctor"): _bit_generator,
    **{(module, "set"): set for module in ("builtins", "__builtin__")},
    **{(module, "frozenset"): frozenset for module in ("builtins", "__builtin__")},
    **{(module, "complex"): complex for module in ("builtins", "__builtin__")},
    # Protocol 0/1 objects: copyreg._reconstructor(cls, object, None), guarded below.
    **{(module, "object"): object for module in ("builtins", "__builtin__")},
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    **{name: QuantileTransform for name in _TRANSFORMERS},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come from :data:`_ALLOWED` only (nothing is imported)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise InputError(
                f"dataset statistics: refused the global {module}.{name}: a pickle is code, and only "
                "numpy arrays, plain containers and a fitted QuantileTransformer are loaded"
            )
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise InputError("dataset statistics: refused a persistent id (external object)")


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, recursively through dicts, lists and tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def read_dataset_statistics(path: str | Path) -> dict[str, Any]:
    """Magenta's ``dataset_statistics.pkl`` as a plain dict, loaded without running its code.

    Values: Python floats for the scalar statistics (``mean_pitch``, ``mean_loudness_note`` ...),
    numpy arrays as stored, and ``quantile_transform`` as a :class:`QuantileTransform`.

    Raises:
        InputError: a missing file, a global other than numpy arrays/scalars, plain containers
            and the quantile transformer (named in the message; nothing is imported or called),
            a truncated or malformed pickle, or a top level that is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset statistics file {path} does not exist")
    try:
        loaded = _RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise InputError(f"{path}: not a readable statistics pickle ({type(error).__name__}: {error})") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: the statistics pickle holds a {type(loaded).__name__}, not a dict")
    return _plain(loaded)


def to_feature_statistics(statistics: dict[str, Any]) -> dict[str, Any]:
    """Magenta's statistics (:func:`read_dataset_statistics`) as torchddsp's auto-adjust
    statistics (the keys of :func:`torchddsp.transfer.adjust.feature_statistics`).

    - ``mean_pitch_midi`` <- ``mean_pitch``: Magenta's Colab shifts octaves toward this (the mean
      MIDI pitch of all frames but each example's last 20, not only the pitched ones);
    - ``loudness_db_quantiles`` at ``quantile_levels`` (torchddsp's 101 levels) <- the transform's
      note-frame loudness quantiles read at those levels (linear between its references, which is
      how Magenta's ``inverse_transform`` maps levels to dB);
    - ``pitched_frames`` <- the transform's number of fitted quantiles (Magenta keeps
      ``min(1000, note frames)``, not the frame count; auto-adjust only needs it above 0);
    - ``mean_loudness_db`` <- ``mean_loudness_note`` when present.

    Example:
        >>> t = QuantileTransform([[-60.0], [-10.0]], [0.0, 1.0])
        >>> out = to_feature_statistics({"mean_pitch": 64.5, "quantile_transform": t})
        >>> out["mean_pitch_midi"], out["loudness_db_quantiles"][50], out["pitched_frames"]
        (64.5, -35.0, 2)
    """
    transform = statistics.get("quantile_transform")
    if not isinstance(transform, QuantileTransform) or "mean_pitch" not in statistics:
        raise InputError("statistics: need Magenta's mean_pitch and a quantile_transform (read_dataset_statistics)")
    levels = np.asarray(QUANTILES, dtype=np.float64)
    loudness = np.interp(levels, transform.references, transform.quantiles[:, 0])
    out = {
        "pitched_frames": int(transform.quantiles.shape[0]),
        "mean_pitch_midi": float(statistics["mean_pitch"]),
        "quantile_levels": list(QUANTILES),
        "loudness_db_quantiles": loudness.tolist(),
    }
    if "mean_loudness_note" in statistics:
        out["mean_loudness_db"] = float(statistics["mean_loudness_note"])
    return out
