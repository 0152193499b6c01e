"""Modal synthesis: a bank of exponentially damped sinusoids (struck bars, plates, drum bodies).

Mode ``i`` of a resonator struck at ``t = 0`` rings as ``A_i exp(-t / tau_i) sin(2 pi f_i t +
phi_i)``: the impulse response of a two-pole resonator, and what a membrane, a bar or a bell
sums over its modes (Adrien, 1991; Cook, 2002). ``t = n / sample_rate`` starts at the first
sample (an impulse response, unlike the oscillators' convention where the first sample has
already advanced one step). The decay is given either as ``t60_s`` (the time to fall by 60 dB:
``tau = t60_s / ln(1000)``) or as ``decay_rate`` (``1 / tau``, in 1/s).

Time-varying controls (frame or sample rate) integrate: the phase is ``phi + 2 pi sum_{m < n}
f[m] / sample_rate`` and the log-amplitude ``-sum_{m < n} rate[m] / sample_rate``, both in float64
(constant controls use the closed forms ``n f / sample_rate`` and ``n rate / sample_rate``).
Modes at or above Nyquist are silent at those samples.

Cost: constant controls (the usual strike) are blocks of ``~sqrt(n_samples)`` samples, one
complex matrix product per item (exponentials and sines only per block and per position in a
block): 1.3 ms for 64 modes and 1 s at 16 kHz on one CPU thread, 2 ms with the backward pass.
Time-varying controls take one float64 phase, one exponential and one sine per mode and
sample, as whole-tensor ops ``(batch, n_samples, n_modes)`` (30 ms and 90 ms). The backward
pass is autograd's through the same ops.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_range
from ..validation import half_in_float32
from .controls import Control
from .controls import ControlLike
from .controls import Rate
from .controls import control_dtype
from .controls import control_values
from .controls import rate_of
from .phase import output_dtype

__all__ = ["modal_synthesis", "t60_to_decay_rate", "LN_1000"]

#: ``ln(1000)``: an amplitude ``exp(-t / tau)`` falls by 60 dB at ``t = tau ln(1000)``.
LN_1000 = math.log(1000.0)


def t60_to_decay_rate(t60_s: Tensor | float) -> Tensor | float:
    """The decay rate ``1 / tau`` (1/s) of a mode that falls by 60 dB in ``t60_s`` seconds.

    Example:
        >>> round(t60_to_decay_rate(LN_1000), 12)
        1.0
    """
    return LN_1000 / t60_s


def _batch_and_modes(frequencies_hz: ControlLike, others: tuple[ControlLike, ...]) -> tuple[int, int]:
    """The batch (largest among the tensor controls) and the mode count (``frequencies_hz``'s
    channels) that the controls state."""
    batch = 1
    for value in (frequencies_hz, *others):
        raw = value.value if isinstance(value, Control) else value
        if isinstance(raw, Tensor) and raw.dim() > 0 and rate_of("control", value) is not Rate.FIXED:
            batch = max(batch, raw.shape[0])
    raw = frequencies_hz.value if isinstance(frequencies_hz, Control) else frequencies_hz
    rate = rate_of("frequencies_hz", frequencies_hz)
    two_d_channels = rate is Rate.ITEM  # (batch, n_modes) per item; (batch, n_samples) is one mode
    if isinstance(raw, Tensor) and (raw.dim() == 3 or (raw.dim() == 2 and two_d_channels)):
        return batch, raw.shape[-1]
    return batch, 1


def _integrate(values: Tensor, n_samples: int) -> Tensor:
    """``sum_{m < n} values[m]`` for ``n = 0 .. n_samples - 1`` along dim 1, in float64: the
    closed form ``n * value`` for a constant (time size 1)."""
    values = values.to(torch.float64)
    if values.shape[1] == 1:
        steps = torch.arange(n_samples, dtype=torch.float64, device=values.device)[None, :, None]
        return steps * values
    return torch.cumsum(values, dim=1) - values


def _decay(t60_s: ControlLike | None, decay_rate: ControlLike | None) -> tuple[str, ControlLike]:
    if (t60_s is None) == (decay_rate is None):
        raise InputError("give exactly one of t60_s and decay_rate (the modes' decay)")
    return ("t60_s", t60_s) if decay_rate is None else ("decay_rate", decay_rate)  # type: ignore[return-value]


def _mode_state(state: Tensor | None, batch: int, n_modes: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """``(turns, log_amplitude)`` float64 ``(batch, 1, n_modes)`` at the block's first sample."""
    if state is None:
        zeros = torch.zeros(batch, 1, n_modes, dtype=torch.float64, device=like.device)
        return zeros, zeros
    if tuple(state.shape) != (batch, n_modes, 2):
        raise InputError(f"state must have shape ({batch}, {n_modes}, 2), found {tuple(state.shape)}")
    state = state.to(device=like.device, dtype=torch.float64)
    return state[..., 0].unsqueeze(1) / (2 * math.pi), state[..., 1].unsqueeze(1)


@half_in_float32
def modal_synthesis(
    frequencies_hz: ControlLike,
    amplitudes: ControlLike,
    n_samples: int,
    sample_rate: float,
    *,
    t60_s: ControlLike | None = None,
    decay_rate: ControlLike | None = None,
    phases: ControlLike = 0.0,
    state: Tensor | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """A sum of exponentially damped sinusoids: ``sum_i A_i exp(-t / tau_i) sin(2 pi f_i t +
    phi_i)`` with ``t = n / sample_rate`` (module docstring; time-varying controls integrate).

    Every control takes the rates of :mod:`~torchddsp.functional.controls`, with one channel per
    mode: a number (every mode), ``Control.per_item(x)`` with ``x`` ``(batch, n_modes)``,
    ``(batch or 1, n_frames, n_modes)`` at frame rate (one frame: constant, the usual strike),
    or ``Control.per_sample``. ``frequencies_hz`` sets ``n_modes``; the others may have one
    channel (shared by the modes).

    Shape:
        -> ``(batch, n_samples)``; ``state`` ``(batch, n_modes, 2)``.

    Args:
        frequencies_hz: mode frequencies in Hz. Differentiable.
        amplitudes: initial amplitude of each mode. Differentiable.
        n_samples: output length.
        sample_rate: samples per second, > 0.
        t60_s: seconds for each mode to fall by 60 dB, > 0; or give ``decay_rate``.
            Differentiable.
        decay_rate: ``1 / tau`` in 1/s, >= 0 (0: no decay). Differentiable.
        phases: initial phase of each mode in radians (0: the sine starts at 0). Differentiable.
        state: where the previous block stopped (None: the strike): per mode, the phase in
            radians accumulated past ``phases`` and the natural log of the amplitude factor
            reached, at the next sample. Differentiable.
        return_state: also return that state after this block; blocks then equal one call.

    Example:
        >>> f, a = Control.per_item(torch.tensor([[440.0, 1234.0]])), torch.ones(1, 1, 2)
        >>> first, state = modal_synthesis(f, a, 100, 16000, t60_s=0.5, return_state=True)
        >>> rest = modal_synthesis(f, a, 60, 16000, t60_s=0.5, state=state)
        >>> torch.allclose(torch.cat([first, rest], 1), modal_synthesis(f, a, 160, 16000, t60_s=0.5))
        True
    """
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    sample_rate = check_positive("sample_rate", sample_rate)
    decay_name, decay = _decay(t60_s, decay_rate)
    batch, n_modes = _batch_and_modes(frequencies_hz, (amplitudes, decay, phases))
    dtype = control_dtype(torch.empty(0), frequencies_hz, amplitudes, decay, phases)
    like = torch.empty(batch, 0, dtype=dtype)
    for value in (frequencies_hz, amplitudes, decay, phases):
        raw = value.value if isinstance(value, Control) else value
        if isinstance(raw, Tensor):
            like = like.to(raw.device)
    controls = [
        control_values(name, value, like, n_samples, n_modes)
        for name, value in (("frequencies_hz", frequencies_hz), ("amplitudes", amplitudes), (decay_name, decay))
    ]
    frequencies, gains, decays = controls
    initial = control_values("phases", phases, like, n_samples, n_modes)
    if decay_name == "t60_s":
        check_range("t60_s", decays, 0.0, low_open=True)
        decays = LN_1000 / decays
    else:
        check_range("decay_rate", decays, 0.0)
    turns, log_amplitude = _mode_state(state, batch, n_modes, like)
    if n_samples == 0:
        audio = like.new_zeros(batch, 0, dtype=output_dtype(like))
        ends = (turns, log_amplitude)
    else:
        audio, ends = _render(frequencies, gains, decays, initial, (turns, log_amplitude), n_samples, sample_rate)
    if not return_state:
        return audio
    return audio, torch.stack([2 * math.pi * torch.frac(ends[0][:, 0]), ends[1][:, 0]], dim=-1)


def _render(
    frequencies: Tensor,
    gains: Tensor,
    decays: Tensor,
    initial: Tensor,
    start: tuple[Tensor, Tensor],
    n_samples: int,
    sample_rate: float,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """The bank on normalised controls ``(batch or 1, n_samples or 1, n_modes or 1)``: the audio
    and ``(turns, log_amplitude)`` at the sample after the block."""
    if all(control.shape[1] == 1 for control in (frequencies, gains, decays, initial)):
        return _render_constant(frequencies, gains, decays, initial, start, n_samples, sample_rate)
    turns = start[0] + _integrate(frequencies, n_samples) / sample_rate
    log_amplitude = start[1] - _integrate(decays, n_samples) / sample_rate
    ends = (
        turns[:, -1:] + frequencies[:, -1:].to(torch.float64) / sample_rate,
        log_amplitude[:, -1:] - decays[:, -1:].to(torch.float64) / sample_rate,
    )
    dtype = gains.dtype
    phase = (2 * math.pi * (turns - torch.floor(turns.detach()))).to(dtype) + initial
    audible = (frequencies.abs() < sample_rate / 2).to(dtype)
    modes = gains * audible * torch.exp(log_amplitude).to(dtype) * torch.sin(phase)
    return modes.sum(-1), ends


def _render_constant(
    frequencies: Tensor,
    gains: Tensor,
    decays: Tensor,
    initial: Tensor,
    start: tuple[Tensor, Tensor],
    n_samples: int,
    sample_rate: float,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """:func:`_render` for constant controls (time size 1, the usual strike) as matrix products.

    Mode ``i`` at sample ``n = q L + r`` is ``Im(c_i z_i^q w_i^r)`` with ``w_i = exp((-rate_i +
    2 pi j f_i) / sample_rate)`` and ``z_i = w_i^L``: blocks of ``L ~ sqrt(n_samples)`` samples
    are a ``(blocks, modes) @ (modes, L)`` complex product per item, so the exponentials and
    sines number ``(blocks + L) * modes`` instead of ``n_samples * modes``. Each power is
    taken from its closed form (the phase wrapped in float64), never by repeated products.
    """
    block = max(1, math.isqrt(n_samples - 1) + 1)
    n_blocks = -(-n_samples // block)
    step_turns = frequencies.to(torch.float64) / sample_rate  # (batch or 1, 1, modes)
    step_log = -decays.to(torch.float64) / sample_rate
    audible = (frequencies.abs() < sample_rate / 2).to(torch.float64)

    def powers(count: int, stride: int, turns: Tensor, log_amplitude: Tensor) -> Tensor:
        n = torch.arange(count, dtype=torch.float64, device=frequencies.device)[None, :, None] * stride
        phase = turns + n * step_turns
        phase = 2 * math.pi * (phase - torch.floor(phase.detach()))
        return torch.polar(torch.exp(log_amplitude + n * step_log), phase)

    amplitude = (gains.to(torch.float64) * audible).to(torch.complex128)
    offset = torch.polar(torch.ones_like(initial, dtype=torch.float64), initial.to(torch.float64))
    starts = amplitude * offset * powers(n_blocks, block, start[0], start[1])  # (batch, blocks, modes)
    within = powers(block, 1, torch.zeros_like(step_turns), torch.zeros_like(step_log))  # (.., L, modes)
    audio = torch.matmul(starts, within.transpose(1, 2)).imag.reshape(starts.shape[0], -1)[:, :n_samples]
    ends = (start[0] + n_samples * step_turns, start[1] + n_samples * step_log)
    return audio.to(gains.dtype), ends
