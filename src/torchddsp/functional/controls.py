"""Controls: the time-varying arguments of an op (a cutoff, a drive, a mix), with a stated rate.

One type for every op that takes such arguments. A control is at one of four rates:

==========  ===========================================  ==============================
rate        meaning                                      bare layout that states it
==========  ===========================================  ==============================
``fixed``   one value for every item and sample          a number or a 0-d tensor
``item``    one value per batch item                     ``(batch, 1)``
``frame``   one value per frame, upsampled linearly      ``(batch or 1, n_frames, channels)``
``sample``  one value per sample                         ``(batch or 1, n_samples)``
==========  ===========================================  ==============================

A bare value's layout states its rate (the table's last column: rank and a size of 1, never a
size that happens to match ``n_samples``); :class:`Control` states it explicitly and takes the
layouts an op documents, e.g. ``Control.per_frame(cutoff)`` for a ``(batch, n_frames)``
cutoff. Frames follow the library's frame convention (``resampling.upsample``, linear, last
frame held): ``n_frames`` frames span ``n_samples`` samples whatever their count, so a frame
rate control of ``n_samples`` frames is exactly the per-sample one.

``batch`` is that of the op's audio after its leading dimensions are flattened
(:mod:`~torchddsp.functional.layout`): audio ``(2, 3, n)`` takes per-item controls ``(6, 1)``.

Every op normalises its controls with :func:`control_values` to ``(batch or 1, n_samples or 1,
channels)``: sizes of 1 broadcast, so a fixed control is never copied to audio rate.
Structural checks (type, rank, sizes) always run; the finiteness check only while
:func:`~torchddsp.validation.data_checks_enabled`.
"""

from __future__ import annotations

import enum
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import as_tensor_like
from ..validation import check_finite
from .resampling import upsample

__all__ = ["Rate", "Control", "ControlLike", "control_values", "rate_of", "control_dtype"]


class Rate(str, enum.Enum):
    """The rate of a :class:`Control` (module docstring)."""

    FIXED = "fixed"
    ITEM = "item"
    FRAME = "frame"
    SAMPLE = "sample"


@dataclass(frozen=True)
class Control:
    """A control value with its rate stated.

    Args:
        value: a number or tensor. Layouts per rate: ``fixed``: a number, ``()`` or ``(1,)``;
            ``item``: ``(batch,)`` or ``(batch, channels)``; ``frame``: ``(batch or 1,
            n_frames)`` or ``(batch or 1, n_frames, channels)``; ``sample``: ``(batch or 1,
            n_samples)`` or ``(batch or 1, n_samples, channels)``.
        rate: a :class:`Rate` or its name.

    Example:
        >>> Control.per_frame(torch.ones(2, 10)).rate
        <Rate.FRAME: 'frame'>
    """

    value: Tensor | float
    rate: Rate

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "rate", Rate(self.rate))
        except ValueError:
            raise InputError(f"rate must be one of {[r.value for r in Rate]}, found {self.rate!r}") from None

    @classmethod
    def fixed(cls, value: Tensor | float) -> Control:
        """One value for every item and sample."""
        return cls(value, Rate.FIXED)

    @classmethod
    def per_item(cls, value: Tensor) -> Control:
        """One value per batch item: ``(batch,)`` or ``(batch, channels)``."""
        return cls(value, Rate.ITEM)

    @classmethod
    def per_frame(cls, value: Tensor) -> Control:
        """Frame-rate values ``(batch or 1, n_frames[, channels])``, upsampled linearly."""
        return cls(value, Rate.FRAME)

    @classmethod
    def per_sample(cls, value: Tensor) -> Control:
        """One value per sample ``(batch or 1, n_samples[, channels])``."""
        return cls(value, Rate.SAMPLE)


#: What an op accepts as a control: a number, a bare tensor (its layout states the rate) or a
#: :class:`Control`.
ControlLike = Control | Tensor | float


def _raw(name: str, value: ControlLike) -> Tensor | float:
    """The value inside a :class:`Control`, or ``value``; a TypeError for anything that is
    neither a tensor nor a real number (a string, a list, a bool)."""
    raw = value.value if isinstance(value, Control) else value
    if isinstance(raw, Tensor) or (isinstance(raw, numbers.Real) and not isinstance(raw, bool)):
        return raw
    raise TypeError(f"{name} must be a number, a tensor or a Control, found {type(raw).__name__}")


def _bare_rate(name: str, value: Tensor) -> Rate:
    """The rate a bare tensor's layout states (module docstring's table)."""
    if value.dim() == 0:
        return Rate.FIXED
    if value.dim() == 2:
        return Rate.ITEM if value.shape[1] == 1 else Rate.SAMPLE
    if value.dim() == 3:
        return Rate.FRAME
    raise InputError(
        f"{name} must be a number, (batch, 1), (batch or 1, n_samples) or (batch or 1, n_frames, "
        f"channels), found shape {tuple(value.shape)}; wrap it in Control to state its rate"
    )


def rate_of(name: str, value: ControlLike) -> Rate:
    """The rate of ``value``: the one a :class:`Control` states, else its bare layout's.

    Example:
        >>> rate_of("drive_db", torch.zeros(2, 1)), rate_of("drive_db", 3.0)
        (<Rate.ITEM: 'item'>, <Rate.FIXED: 'fixed'>)
    """
    raw = _raw(name, value)
    if isinstance(value, Control):
        return value.rate
    return _bare_rate(name, raw) if isinstance(raw, Tensor) else Rate.FIXED


def control_dtype(like: Tensor, *values: ControlLike | None) -> torch.dtype:
    """The promoted dtype of ``like`` and the tensor controls among ``values`` (numbers and
    ``None`` take part as nothing): the dtype an op computes in when its output follows the
    promoted dtype of its inputs.

    Example:
        >>> control_dtype(torch.zeros(1, 4), torch.zeros(1, 1, dtype=torch.float64), 2.0)
        torch.float64
    """
    dtype = like.dtype
    for value in values:
        raw = value.value if isinstance(value, Control) else value
        if isinstance(raw, Tensor) and raw.is_floating_point():
            dtype = torch.promote_types(dtype, raw.dtype)
    return dtype


def _as_three_dims(name: str, value: Tensor, rate: Rate) -> Tensor:
    """``value`` in ``(batch or 1, time or 1, channels)`` for its stated ``rate``."""
    if rate is Rate.FIXED:
        if value.numel() != 1:
            raise InputError(f"{name}: a fixed control holds one value, found shape {tuple(value.shape)}")
        return value.reshape(1, 1, 1)
    if rate is Rate.ITEM:
        if value.dim() not in (1, 2):
            raise InputError(
                f"{name}: a per-item control must be (batch,) or (batch, channels), found shape {tuple(value.shape)}"
            )
        return value.reshape(value.shape[0], 1, -1)
    if value.dim() == 2:
        return value.unsqueeze(-1)
    if value.dim() != 3:
        raise InputError(
            f"{name}: a per-{rate.value} control must be (batch, time) or (batch, time, channels), "
            f"found shape {tuple(value.shape)}"
        )
    return value


def control_values(
    name: str, value: ControlLike, like: Tensor, n_samples: int, channels: int | tuple[int, ...] = 1
) -> Tensor:
    """Normalise a control to ``(batch or 1, n_samples or 1, c)`` in ``like``'s dtype and device.

    Args:
        name: the argument's name, for error messages.
        value: a number, a tensor (its layout states its rate) or a :class:`Control`.
        like: the op's input ``(batch, n)``: its batch size, dtype and device.
        n_samples: the audio length controls are brought to.
        channels: the allowed channel counts ``c`` (1 broadcasts against any of them).

    Returns:
        The values, differentiable; a fixed or per-item control (or a single frame) keeps a
        time size of 1.

    Raises:
        TypeError: ``value`` is neither a number, a tensor nor a :class:`Control`.
        InputError: a layout that is not its rate's, a batch neither 1 nor ``like``'s, a
            per-sample length other than ``n_samples``, no frames, or (data checks)
            non-finite values.

    Example:
        >>> x = torch.zeros(2, 100)
        >>> control_values("cutoff_hz", 440.0, x, 100).shape
        torch.Size([1, 1, 1])
        >>> control_values("cutoff_hz", Control.per_frame(torch.ones(2, 5)), x, 100).shape
        torch.Size([2, 100, 1])
    """
    rate = rate_of(name, value)
    tensor = as_tensor_like(name, _raw(name, value), like)
    check_finite(name, tensor)
    tensor = _as_three_dims(name, tensor, rate)
    batch = like.shape[0]
    allowed = (channels,) if isinstance(channels, int) else tuple(channels)
    if tensor.shape[0] not in (1, batch) or tensor.shape[2] not in (1, *allowed):
        raise InputError(
            f"{name} must have batch 1 or {batch} (that of the input) and "
            f"{' or '.join(map(str, sorted({1, *allowed})))} channels, "
            f"found shape {tuple(tensor.shape)} at {rate.value} rate"
        )
    if rate is Rate.SAMPLE and tensor.shape[1] != n_samples:
        raise InputError(
            f"{name} per sample must hold {n_samples} samples (that of the input), found "
            f"{tensor.shape[1]}; a frame-rate control is (batch, n_frames, channels) or Control.per_frame"
        )
    if rate is Rate.FRAME:
        if tensor.shape[1] < 1:
            raise InputError(f"{name} at frame rate needs at least one frame, found shape {tuple(tensor.shape)}")
        # One frame is constant: kept unexpanded. n_samples frames are one per sample (hop 1,
        # weight 1 on each frame): the values themselves, not end + 1 * (start - end) rounded.
        if tensor.shape[1] not in (1, n_samples):
            tensor = upsample(tensor, n_samples, "linear")
    return tensor
