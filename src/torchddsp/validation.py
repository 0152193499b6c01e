"""Input validation shared by the whole library.

Every public function checks its inputs here so that a wrong rank, a mismatched size, a
non-finite value or a non-positive rate raises a ``ValueError`` that names the argument and
says what was expected, instead of broadcasting into a silently wrong answer.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "InputError",
    "set_validation",
    "data_checks_enabled",
    "check_tensor",
    "check_rank",
    "check_finite",
    "check_positive",
    "check_positive_int",
    "check_same_batch",
    "check_choice",
    "as_tensor_like",
    "half_in_float32",
    "HALF_DTYPES",
]


_DATA_CHECKS = True


def set_validation(enabled: bool) -> bool:
    """Turn the data checks (NaN, infinity, value ranges: each a host sync on a GPU) on or off
    for the whole process; structural checks (type, rank, shape, dtype, device) always run.
    Returns the previous setting."""
    global _DATA_CHECKS
    previous, _DATA_CHECKS = _DATA_CHECKS, bool(enabled)
    return previous


def data_checks_enabled() -> bool:
    """Whether data checks run now: on unless :func:`set_validation` turned them off, and never
    while ``torch.compile`` traces (a data-dependent branch would break the graph).

    Every check that reads tensor values goes through this: ``if data_checks_enabled() and
    bool((a.abs() >= 1).any()): raise InputError(...)``."""
    return _DATA_CHECKS and not torch.compiler.is_compiling()


class InputError(ValueError):
    """Bad input: a wrong shape or value, named with what was expected and what was found.

    A ``ValueError``, so ``except ValueError`` still catches it; the command line prints it (and
    ``OSError``) as one line, while any other exception is a library bug and keeps its traceback.
    """


def check_tensor(name: str, value: object) -> Tensor:
    """Raise unless ``value`` is a floating-point tensor; return it."""
    if not isinstance(value, Tensor):
        raise InputError(f"{name} must be a torch.Tensor, found {type(value).__name__}")
    if not (value.is_floating_point() or value.is_complex()):
        raise InputError(f"{name} must be a floating-point tensor, found dtype {value.dtype}")
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


def check_finite(name: str, value: Tensor) -> Tensor:
    """Raise if ``value`` holds NaN or infinity."""
    # One cheap reduction first: a NaN or infinity always makes the sum non-finite. Only when
    # it is (or the sum overflowed) is the elementwise test needed.
    if not data_checks_enabled():
        return value
    if value.numel() and not bool(torch.isfinite(value.detach().sum())) and not bool(torch.isfinite(value).all()):
        raise InputError(f"{name} must be finite, found NaN or infinity")
    return value


def check_positive(name: str, value: float) -> float:
    """Raise unless ``value`` is a finite number greater than zero; return it as float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise InputError(f"{name} must be a positive number, found a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, found {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be a positive finite number, found {value!r}")
    return number


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Raise unless ``value`` is an integer >= ``minimum`` (Python, NumPy or 0-d tensor integers,
    or an integral float); return it as int."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer >= {minimum}, found {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        if not (isinstance(value, float) and value.is_integer()):
            raise InputError(f"{name} must be an integer >= {minimum}, found {value!r}") from None
        number = int(value)
    if number < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, found {value!r}")
    return number


def check_same_batch(names: Sequence[str], tensors: Sequence[Tensor]) -> int:
    """Raise unless all tensors share the size of their first dimension; return it."""
    sizes = [t.shape[0] for t in tensors]
    if len(set(sizes)) > 1:
        found = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes))
        raise InputError(f"batch sizes must match ({found})")
    return sizes[0]


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, found {value!r}")
    return value


def as_tensor_like(name: str, value: float | Tensor, like: Tensor) -> Tensor:
    """Convert a float or tensor to ``like``'s dtype and device, keeping its autograd graph."""
    if isinstance(value, Tensor):
        check_tensor(name, value)
        return value.to(dtype=like.dtype, device=like.device)
    try:
        return torch.tensor(float(value), dtype=like.dtype, device=like.device)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a tensor, found {value!r}") from None


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
        floating = [v.dtype for v in itertools.chain(args, kwargs.values())
                    if isinstance(v, Tensor) and v.is_floating_point()]
        if not any(dtype in HALF_DTYPES for dtype in floating):
            return function(*args, **kwargs)
        # float16 with bfloat16 promotes to float32: no half dtype to return then.
        returned = functools.reduce(torch.promote_types, floating)

        def widen(value: object) -> object:
            return value.float() if isinstance(value, Tensor) and value.dtype in HALF_DTYPES else value

        result = function(*map(widen, args), **{name: widen(value) for name, value in kwargs.items()})
        return _narrow(result, returned) if returned in HALF_DTYPES else result

    return wrapper
