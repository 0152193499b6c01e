"""Input validation shared by the whole library (public: ``torchddsp.validation``).

Every public function checks its inputs here, so that a wrong rank, a mismatched size, a
non-finite value or a non-positive rate raises an error that names the argument and says what
was expected and what was found, instead of broadcasting into a silently wrong answer.

Two kinds of check:

- **Structural** checks read only Python objects and tensor metadata (type, rank, shape, dtype,
  device): :func:`check_tensor`, :func:`check_rank`, :func:`check_shape`,
  :func:`check_same_batch`, :func:`check_same_device`, :func:`check_choice`, and the checks of
  Python numbers (:func:`check_positive`, :func:`check_positive_int`, :func:`check_range` of a
  number). They cost no host sync and always run, under ``torch.compile`` too.
- **Data** checks read tensor values (NaN, infinity, ranges): :func:`check_finite` and
  :func:`check_range` of a tensor. Each is a host sync on a GPU and a data-dependent branch that
  ``torch.compile`` cannot trace, so they run only while :func:`data_checks_enabled`: on by
  default, off after ``set_validation(False)`` or inside ``with data_checks(False):``, and
  always off while ``torch.compile`` traces. A data check written inline follows the same rule:
  ``if data_checks_enabled() and bool((a.abs() >= 1).any()): raise InputError(...)``.

Errors: a value of the wrong type (a list for a tensor, a string or a tensor for a number, an
integer tensor for a floating one) is a ``TypeError``; a wrong shape or value is an
:class:`InputError`, a ``ValueError``. The command line prints an ``InputError`` as one line;
any other exception is a library bug and keeps its traceback.

Example:
    >>> import torch
    >>> from torchddsp.validation import InputError, check_finite, check_rank, data_checks
    >>> x = torch.tensor([[1.0, float("nan")]])
    >>> try:
    ...     check_finite("x", x)
    ... except InputError as error:
    ...     print(error)
    x must be finite, found NaN or infinity
    >>> with data_checks(False):  # NaN passes, the rank is still checked
    ...     _ = check_finite("x", x)
    ...     check_rank("x", x, 3, "(batch, n_frames, channels)")
    Traceback (most recent call last):
    ...
    torchddsp.validation.InputError: x must have shape (batch, n_frames, channels) (3 dimensions), found shape (1, 2)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import operator
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "InputError",
    "set_validation",
    "data_checks",
    "data_checks_enabled",
    "check_tensor",
    "check_rank",
    "check_shape",
    "check_same_batch",
    "check_same_device",
    "check_choice",
    "check_finite",
    "check_range",
    "check_positive",
    "check_positive_int",
    "as_tensor_like",
    "half_in_float32",
    "HALF_DTYPES",
]


class InputError(ValueError):
    """Bad input: a wrong shape or value, named with what was expected and what was found.

    A ``ValueError``, so ``except ValueError`` still catches it; the command line prints it (and
    ``OSError``) as one line, while any other exception is a library bug and keeps its traceback.
    A wrong type is a ``TypeError`` instead.
    """


# Process-wide, like the setting it mirrors (one switch for every thread and every op);
# DataLoader worker processes inherit it when they fork.
_DATA_CHECKS = True


def set_validation(enabled: bool) -> bool:
    """Turn the data checks (NaN, infinity, value ranges: each a host sync on a GPU) on or off
    for the whole process; structural checks (type, rank, shape, dtype, device) always run.
    Returns the previous setting; :func:`data_checks` does the same for a block only.

    Example:
        >>> from torchddsp.validation import data_checks_enabled, set_validation
        >>> previous = set_validation(False)
        >>> data_checks_enabled()
        False
        >>> _ = set_validation(previous)
    """
    global _DATA_CHECKS
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, found {type(enabled).__name__}")
    previous, _DATA_CHECKS = _DATA_CHECKS, enabled
    return previous


@contextlib.contextmanager
def data_checks(enabled: bool) -> Iterator[None]:
    """Turn the data checks on or off inside a ``with`` block (or a function it decorates), and
    restore the previous setting on the way out, an exception included.

    Example:
        >>> import torch
        >>> import torchddsp.functional as F
        >>> with data_checks(False):  # a tight loop on trusted inputs: no host syncs
        ...     y = F.midi_to_hz(torch.tensor([float("nan")]))
        >>> y
        tensor([nan])
        >>> data_checks_enabled()
        True
    """
    previous = set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def data_checks_enabled() -> bool:
    """Whether data checks run now: on unless :func:`set_validation` or :func:`data_checks`
    turned them off, and never while ``torch.compile`` traces (a data-dependent branch would
    break the graph).

    Every check that reads tensor values goes through this: ``if data_checks_enabled() and
    bool((a.abs() >= 1).any()): raise InputError(...)``."""
    return _DATA_CHECKS and not torch.compiler.is_compiling()


# Structural checks: types and tensor metadata only, never a tensor's values.


def check_tensor(name: str, value: object) -> Tensor:
    """Raise ``TypeError`` unless ``value`` is a floating-point (or complex) tensor; return it."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, found {type(value).__name__}")
    if not (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"{name} must be a floating-point tensor, found dtype {value.dtype}")
    return value


def check_rank(name: str, value: Tensor, ranks: int | Sequence[int], layout: str) -> Tensor:
    """Raise unless ``value.dim()`` is one of ``ranks``; ``layout`` describes the expected shape."""
    check_tensor(name, value)
    allowed = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if value.dim() not in allowed:
        raise InputError(
            f"{name} must have shape {layout} ({' or '.join(map(str, allowed))} dimensions), "
            f"found shape {tuple(value.shape)}"
        )
    return value


def _shape_text(shape: Sequence[int | str]) -> str:
    return f"({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"


def check_shape(name: str, value: Tensor, *shapes: Sequence[int | str]) -> Tensor:
    """Raise unless ``value``'s shape matches one of ``shapes``: an ``int`` entry must equal
    that size, a ``str`` entry (a name such as ``"n_frames"``) matches any size.

    Example:
        >>> import torch
        >>> from torchddsp.validation import check_shape
        >>> _ = check_shape("zi", torch.zeros(2, 3), (2, "order"))
        >>> check_shape("zi", torch.zeros(2, 3), (2, 2), (1, 2))
        Traceback (most recent call last):
        ...
        torchddsp.validation.InputError: zi must have shape (2, 2) or (1, 2), found (2, 3)
    """
    check_tensor(name, value)
    for shape in shapes:
        if len(shape) == value.dim() and all(
            isinstance(want, str) or want == size for want, size in zip(shape, value.shape)
        ):
            return value
    allowed = " or ".join(map(_shape_text, shapes))
    raise InputError(f"{name} must have shape {allowed}, found {tuple(value.shape)}")


def check_same_batch(names: Sequence[str], tensors: Sequence[Tensor]) -> int:
    """Raise unless all tensors share the size of their first dimension; return it."""
    sizes = [t.shape[0] for t in tensors]
    if len(set(sizes)) > 1:
        found = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes))
        raise InputError(f"batch sizes must match ({found})")
    return sizes[0]


def check_same_device(names: Sequence[str], tensors: Sequence[Tensor]) -> torch.device:
    """Raise unless all tensors are on one device; return it. A 0-d CPU tensor goes with any
    device (torch reads it as a number)."""
    placed = [(n, t.device) for n, t in zip(names, tensors) if t.dim() or t.device.type != "cpu"]
    if len({device for _, device in placed}) > 1:
        found = ", ".join(f"{n}: {d}" for n, d in placed)
        raise InputError(f"tensors must be on one device ({found})")
    return placed[0][1] if placed else tensors[0].device


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, found {value!r}")
    return value


# Python numbers: checking them costs no sync, so these always run.


def _refuse_non_number(name: str, value: object, expected: str) -> None:
    """``TypeError`` for the types that are never a number here. A tensor is refused: reading
    it would be a host sync (and drop its gradient), so the caller converts it, where the cost
    is visible."""
    if isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be {expected} (a Python or NumPy number), found a tensor; "
            "pass float(tensor) if a host sync is intended"
        )
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name} must be {expected}, found {type(value).__name__} {value!r}")


def _number(name: str, value: object, expected: str) -> float:
    """``value`` as a float, or ``TypeError`` naming ``expected``."""
    _refuse_non_number(name, value, expected)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {expected}, found {type(value).__name__} {value!r}") from None


def check_positive(name: str, value: float) -> float:
    """Raise unless ``value`` is a finite number greater than zero (``TypeError`` for something
    that is not a number, a tensor included); return it as float.

    Example:
        >>> from torchddsp.validation import check_positive
        >>> check_positive("sample_rate", 16000)
        16000.0
        >>> check_positive("sample_rate", "16k")
        Traceback (most recent call last):
        ...
        TypeError: sample_rate must be a positive number, found str '16k'
    """
    number = _number(name, value, "a positive number")
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be a positive finite number, found {value!r}")
    return number


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Raise unless ``value`` is an integer >= ``minimum`` (a Python or NumPy integer, or a float
    with an integral value); return it as int. Not a number (a tensor included): ``TypeError``."""
    expected = f"an integer >= {minimum}"
    _refuse_non_number(name, value, expected)
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        real = _number(name, value, expected)
        if not real.is_integer():
            raise InputError(f"{name} must be {expected}, found {value!r}") from None
        number = int(real)
    if number < minimum:
        raise InputError(f"{name} must be {expected}, found {value!r}")
    return number


def as_tensor_like(name: str, value: float | Tensor, like: Tensor) -> Tensor:
    """Convert a number or tensor to ``like``'s dtype and device, keeping its autograd graph;
    anything else is a ``TypeError``."""
    if isinstance(value, Tensor):
        check_tensor(name, value)
        return value.to(dtype=like.dtype, device=like.device)
    return torch.tensor(_number(name, value, "a number or a tensor"), dtype=like.dtype, device=like.device)


# Data checks: they read tensor values, so they run only while data_checks_enabled().


def check_finite(name: str, value: Tensor) -> Tensor:
    """Raise if ``value`` holds NaN or infinity (a data check: skipped while data checks are off;
    a value that is not a tensor is a ``TypeError`` in any case)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, found {type(value).__name__}")
    if not data_checks_enabled() or not value.numel():
        return value
    # One cheap reduction first: a NaN or infinity always makes the sum non-finite. Only when
    # it is (or the sum overflowed) is the elementwise test needed.
    if not bool(torch.isfinite(value.detach().sum())) and not bool(torch.isfinite(value).all()):
        raise InputError(f"{name} must be finite, found NaN or infinity")
    return value


def _interval_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def _inside(value, low: float | None, high: float | None, low_open: bool, high_open: bool):
    """Elementwise ``low <(=) value <(=) high`` for a tensor or a float; NaN is never inside."""
    inside = value == value  # False at NaN; a tensor of True, or True, elsewhere
    if low is not None:
        inside = inside & ((value > low) if low_open else (value >= low))
    if high is not None:
        inside = inside & ((value < high) if high_open else (value <= high))
    return inside


def check_range(
    name: str,
    value: float | Tensor,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float | Tensor:
    """Raise unless every value lies between ``low`` and ``high`` (``None``: unbounded; an open
    end excludes the bound). NaN lies in no range. A tensor's values are a data check, skipped
    while data checks are off; a Python number is always checked (it costs nothing). Returns
    ``value``.

    Example:
        >>> import torch
        >>> from torchddsp.validation import check_range
        >>> _ = check_range("sustain", torch.tensor([0.0, 0.5, 1.0]), 0.0, 1.0)
        >>> check_range("q", torch.tensor([0.7, 0.0]), 0.0, low_open=True)
        Traceback (most recent call last):
        ...
        torchddsp.validation.InputError: q must be > 0, found values from 0 to 0.7
    """
    expected = _interval_text(low, high, low_open, high_open)
    if not isinstance(value, Tensor):
        number = _number(name, value, f"a number {expected}")
        if not _inside(number, low, high, low_open, high_open):
            raise InputError(f"{name} must be {expected}, found {value!r}")
        return value
    check_tensor(name, value)
    if not data_checks_enabled() or not value.numel():
        return value
    data = value.detach()
    if bool(_inside(data, low, high, low_open, high_open).all()):
        return value
    # Only on the way to an error: more syncs to say what was found.
    found = "NaN" if bool(data.isnan().any()) else f"values from {data.min().item():.6g} to {data.max().item():.6g}"
    raise InputError(f"{name} must be {expected}, found {found}")


HALF_DTYPES = (torch.float16, torch.bfloat16)


def _narrow(result: object, dtype: torch.dtype) -> object:
    """``result`` (a tensor or a tuple/list of them) with its float32 tensors cast to ``dtype``;
    other dtypes (float64 phases, integer indices) are left as they are."""
    if isinstance(result, Tensor):
        return result.to(dtype) if result.dtype == torch.float32 else result
    if isinstance(result, (tuple, list)):
        return type(result)(_narrow(item, dtype) for item in result)
    return result


def half_in_float32(function: Callable) -> Callable:
    """The library's half-precision rule (``torchddsp.functional``'s docstring), as a decorator
    of a public op: float16 and bfloat16 tensor arguments are computed in float32, and when
    every floating tensor argument was of one half dtype, the float32 results come back in it.
    A mix with float32 or float64 tensors is promoted as torch promotes (the half tensors read
    as float32). Calls without half tensors pass straight through."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        floating = [
            v.dtype for v in itertools.chain(args, kwargs.values()) if isinstance(v, Tensor) and v.is_floating_point()
        ]
        if not any(dtype in HALF_DTYPES for dtype in floating):
            return function(*args, **kwargs)
        # float16 with bfloat16 promotes to float32: no half dtype to return then.
        returned = functools.reduce(torch.promote_types, floating)

        def widen(value: object) -> object:
            return value.float() if isinstance(value, Tensor) and value.dtype in HALF_DTYPES else value

        result = function(*map(widen, args), **{name: widen(value) for name, value in kwargs.items()})
        return _narrow(result, returned) if returned in HALF_DTYPES else result

    return wrapper
