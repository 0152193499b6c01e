"""Resonator synthesizers as processors: a modal bank and a plucked string (re-exported by
``torchddsp.synths``, whose conventions they follow: ``controls`` maps raw network outputs to
physical units through settable scale functions, None to take controls as given)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .functional import exp_sigmoid
from .functional import frequencies_sigmoid
from .functional.controls import Control
from .functional.modal import modal_synthesis
from .functional.string import karplus_strong
from .processors import Processor
from .validation import InputError
from .validation import check_choice
from .validation import check_positive
from .validation import check_rank

__all__ = ["Modal", "KarplusStrong", "t60_sigmoid"]

ScaleFn = Callable[[Tensor], Tensor]


def t60_sigmoid(x: Tensor, min_t60_s: float = 0.01, max_t60_s: float = 10.0) -> Tensor:
    """Raw values to decay times in (min_t60_s, max_t60_s) seconds, uniform in log time.

    Example:
        >>> round(t60_sigmoid(torch.zeros(1)).item(), 6)  # the geometric mean of 0.01 and 10
        0.316228
    """
    check_positive("min_t60_s", min_t60_s)
    if not max_t60_s > min_t60_s:
        raise InputError(f"max_t60_s must be greater than min_t60_s ({min_t60_s}), found {max_t60_s!r}")
    return min_t60_s * torch.exp(torch.sigmoid(x) * math.log(max_t60_s / min_t60_s))


class Modal(Processor):
    """Modal synthesizer: a bank of exponentially damped sinusoids (a struck bar, a drum body).

    ``controls``: ``amplitude_scale_fn`` (default ``exp_sigmoid``) on amplitudes,
    ``frequency_scale_fn`` (default :func:`~torchddsp.functional.frequencies_sigmoid`) on
    frequencies and ``t60_scale_fn`` (default :func:`t60_sigmoid`, 10 ms to 10 s) on decay
    times. ``render``: :func:`torchddsp.functional.modal.modal_synthesis`, the strike at the
    first sample; frame-rate controls are upsampled linearly (one frame: constant).

    Render options: ``n_samples``; ``state`` (per mode: phase and log-amplitude, ``(batch,
    n_modes, 2)``) and ``return_state`` to render in blocks.

    Shape:
        ``amplitudes``, ``frequencies_hz``, ``t60_s`` ``(batch, n_frames, n_modes)`` ->
        ``(batch, n_samples)``.

    Example:
        >>> Modal(16000)(torch.zeros(2, 1, 8), torch.zeros(2, 1, 8), torch.zeros(2, 1, 8), n_samples=640).shape
        torch.Size([2, 640])
    """

    input_names = ("amplitudes", "frequencies_hz", "t60_s")
    render_options = ("n_samples", "state", "return_state")

    def __init__(
        self,
        sample_rate: float = 16000,
        amplitude_scale_fn: ScaleFn | None = exp_sigmoid,
        frequency_scale_fn: ScaleFn | None = frequencies_sigmoid,
        t60_scale_fn: ScaleFn | None = t60_sigmoid,
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.amplitude_scale_fn = amplitude_scale_fn
        self.frequency_scale_fn = frequency_scale_fn
        self.t60_scale_fn = t60_scale_fn

    def controls(self, amplitudes: Tensor, frequencies_hz: Tensor, t60_s: Tensor) -> dict[str, Tensor]:
        for name, value in (("amplitudes", amplitudes), ("frequencies_hz", frequencies_hz), ("t60_s", t60_s)):
            check_rank(name, value, 3, "(batch, n_frames, n_modes)")
        if self.amplitude_scale_fn is not None:
            amplitudes = self.amplitude_scale_fn(amplitudes)
        if self.frequency_scale_fn is not None:
            frequencies_hz = self.frequency_scale_fn(frequencies_hz.to(torch.float64))  # as the phase it feeds
        if self.t60_scale_fn is not None:
            t60_s = self.t60_scale_fn(t60_s)
        return {"amplitudes": amplitudes, "frequencies_hz": frequencies_hz, "t60_s": t60_s}

    def render(
        self,
        amplitudes: Tensor,
        frequencies_hz: Tensor,
        t60_s: Tensor,
        *,
        n_samples: int,
        state: Tensor | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        return modal_synthesis(
            frequencies_hz, amplitudes, n_samples, self.sample_rate, t60_s=t60_s, state=state, return_state=return_state
        )


class KarplusStrong(Processor):
    """A plucked string: an excitation through a Karplus-Strong loop tuned to ``f0_hz``.

    ``controls``: ``scale_fn`` (default ``torch.sigmoid``) maps raw ``loop_gain`` to (0, 1) and
    raw ``damping`` to (0, 0.5) (half the sigmoid); ``f0_hz`` and the excitation are taken as
    given. ``render``: :func:`torchddsp.functional.string.karplus_strong`.

    Render options: ``state`` (the string's last outputs) and ``return_state`` to render in blocks.

    Shape:
        ``excitation`` ``(batch, n_samples)``, ``f0_hz`` ``(batch, 1)``, ``loop_gain`` ``(batch,
        1)`` or ``(batch, n_frames, 1)`` (upsampled linearly), ``damping`` ``(batch, 1)`` ->
        ``(batch, n_samples)``.

    Example:
        >>> pluck = torch.zeros(2, 800); pluck[:, :20] = 1.0
        >>> string = KarplusStrong(16000)
        >>> string(pluck, torch.full((2, 1), 220.0), torch.full((2, 1), 6.0), torch.zeros(2, 1)).shape
        torch.Size([2, 800])

    Args:
        sample_rate: in Hz.
        scale_fn: raw -> (0, 1) map of the loop gain (and, halved, the damping), or None.
        interpolation: the loop's fractional delay, ``"linear"`` or ``"cubic"``.
    """

    input_names = ("excitation", "f0_hz", "loop_gain", "damping")
    render_options = ("state", "return_state")

    def __init__(
        self, sample_rate: float = 16000, scale_fn: ScaleFn | None = torch.sigmoid, interpolation: str = "linear"
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.scale_fn = scale_fn
        self.interpolation = check_choice("interpolation", interpolation, ("linear", "cubic"))

    def controls(self, excitation: Tensor, f0_hz: Tensor, loop_gain: Tensor, damping: Tensor) -> dict[str, Tensor]:
        check_rank("excitation", excitation, 2, "(batch, n_samples)")
        check_rank("loop_gain", loop_gain, (2, 3), "(batch, 1) or (batch, n_frames, 1)")
        if self.scale_fn is not None:
            loop_gain = self.scale_fn(loop_gain)
            damping = 0.5 * self.scale_fn(damping)
        return {"excitation": excitation, "f0_hz": f0_hz, "loop_gain": loop_gain, "damping": damping}

    def render(
        self,
        excitation: Tensor,
        f0_hz: Tensor,
        loop_gain: Tensor,
        damping: Tensor,
        *,
        state: Tensor | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        gain = Control.per_frame(loop_gain) if loop_gain.dim() == 3 else loop_gain
        return karplus_strong(
            excitation,
            f0_hz,
            self.sample_rate,
            loop_gain=gain,
            damping=damping,
            interpolation=self.interpolation,
            state=state,
            return_state=return_state,
        )
