"""Wavetable synthesis: one period of a waveform read at a running phase.

The table is read with linear interpolation between its samples (and wraps around). A
time-varying table ``(batch, n_frames, table_size)`` is blended between frames with the same
weights as the amplitudes (``amplitude_upsampling``), by reading both neighbouring frames'
tables, so no ``(batch, n_samples, table_size)`` tensor is built.

A table holds all the harmonics its samples can represent (up to ``table_size / 2``);
those above Nyquist at the played pitch alias. Keep tables smooth (few harmonics) for high
notes, or low-pass them per pitch range.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_same_batch
from ..validation import half_in_float32
from .phase import cumulative_turns
from .phase import initial_turns
from .phase import output_dtype
from .phase import turns_to_radians
from .phase import wrap_turns
from .resampling import UPSAMPLE_METHODS
from .resampling import block_weights
from .resampling import hop_for
from .resampling import upsample

__all__ = ["wavetable_synthesis"]


def _read_table(tables: Tensor, frame_index: Tensor, turns: Tensor) -> Tensor:
    """Linear-interpolated read of ``tables[b, frame_index[b, n]]`` at phase ``turns[b, n]`` in [0, 1)."""
    table_size = tables.shape[-1]
    position = turns * table_size
    lower = torch.floor(position.detach()).long().clamp_(0, table_size - 1)
    fraction = (position - lower.to(position.dtype)).to(tables.dtype)
    upper = (lower + 1) % table_size
    flat = tables.reshape(tables.shape[0], -1)
    base = frame_index * table_size
    x0 = torch.gather(flat, 1, base + lower)
    x1 = torch.gather(flat, 1, base + upper)
    return x0 + fraction * (x1 - x0)


def _checked_tables(f0_hz: Tensor, amplitudes: Tensor, wavetables: Tensor) -> Tensor:
    """Validate the controls; return the tables as ``(batch, 1 or n_frames, table_size)``."""
    check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
    check_rank("amplitudes", amplitudes, 3, "(batch, n_frames, 1)")
    check_rank("wavetables", wavetables, (2, 3), "(batch, table_size) or (batch, n_frames, table_size)")
    for name, tensor in (("f0_hz", f0_hz), ("amplitudes", amplitudes)):
        if tensor.shape[-1] != 1:
            raise InputError(f"{name} must have shape (batch, n_frames, 1), found {tuple(tensor.shape)}")
        check_finite(name, tensor)
    check_finite("wavetables", wavetables)
    tables = wavetables if wavetables.dim() == 3 else wavetables.unsqueeze(1)
    check_same_batch(("f0_hz", "amplitudes", "wavetables"), (f0_hz, amplitudes, tables))
    n_frames = f0_hz.shape[1]
    if amplitudes.shape[1] != n_frames or tables.shape[1] not in (1, n_frames):
        raise InputError(
            f"frame counts must match (f0_hz: {n_frames}, amplitudes: {amplitudes.shape[1]}, "
            f"wavetables: {tables.shape[1]}; a single table frame is also accepted)"
        )
    if tables.shape[-1] < 2:
        raise InputError(f"wavetables must hold at least 2 samples per table, found {tables.shape[-1]}")
    return tables


def _play(
    f0_hz: Tensor,
    amplitudes: Tensor,
    tables: Tensor,
    n_samples: int,
    sample_rate: float,
    start: Tensor,
    amplitude_upsampling: str,
    add_endpoint: bool,
) -> tuple[Tensor, Tensor]:
    """:func:`wavetable_synthesis` on checked inputs, ``n_samples > 0``: ``(audio, final_turns)``
    with the phase of the last sample ``(batch, 1)`` in float64 cycles, not wrapped."""
    batch, n_frames = f0_hz.shape[:2]
    hop = hop_for(n_samples, n_frames, add_endpoint, "the controls")
    frequencies = upsample(f0_hz.to(torch.float64), n_samples, "linear", add_endpoint)
    turns = cumulative_turns(frequencies, sample_rate, start)[..., 0]
    wrapped = wrap_turns(turns)
    dtype = output_dtype(tables, amplitudes)
    tables = tables.to(dtype)
    if tables.shape[1] == 1:
        samples = _read_table(tables, torch.zeros_like(wrapped, dtype=torch.long), wrapped)
    else:
        # Frame index of the interval's start and end table for every sample.
        intervals = n_samples // hop
        start_frame = torch.arange(intervals, device=tables.device).repeat_interleave(hop)
        end_frame = torch.clamp(start_frame + 1, max=n_frames - 1)
        start_frame = start_frame.expand(batch, n_samples)
        end_frame = end_frame.expand(batch, n_samples)
        weight = block_weights(hop, amplitude_upsampling, dtype, tables.device).repeat(intervals)
        from_start = _read_table(tables, start_frame, wrapped)
        from_end = _read_table(tables, end_frame, wrapped)
        samples = from_end + weight * (from_start - from_end)
    gain = upsample(amplitudes.to(dtype), n_samples, amplitude_upsampling, add_endpoint)[..., 0]
    # A table has no content above its Nyquist, but the played pitch itself must be below ours.
    audible = (frequencies[..., 0].abs() < sample_rate / 2).to(dtype)
    return gain * samples * audible, turns[:, -1:]


@half_in_float32
def wavetable_synthesis(
    f0_hz: Tensor,
    amplitudes: Tensor,
    wavetables: Tensor,
    n_samples: int,
    sample_rate: float,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    amplitude_upsampling: str = "window",
    add_endpoint: bool = True,
) -> Tensor | tuple[Tensor, Tensor]:
    """Play a (time-varying) single-cycle waveform at pitch ``f0_hz``.

    Sample ``n`` is ``amplitude[n] * table(phase[n] / 2 pi)``, the phase accumulated in float64
    from the linearly upsampled ``f0_hz`` (see ``phase``); table sample ``i`` sits at phase
    ``2 pi i / table_size``.

    Streaming (``state``, ``return_state``, ``add_endpoint``): as for
    :func:`~torchddsp.functional.harmonic_synthesis`, ``state`` the phase at the last sample.

    Shape:
        ``f0_hz``, ``amplitudes``: ``(batch, n_frames, 1)``; ``wavetables``:
        ``(batch, table_size)`` or ``(batch, n_frames, table_size)`` -> ``(batch, n_samples)``;
        ``state``: ``(batch, 1)``.

    Args:
        f0_hz: pitch in Hz. Differentiable.
        amplitudes: gain per frame. Differentiable.
        wavetables: one period of the waveform (per frame, or one for all). Differentiable.
        n_samples: output length, a whole number of hops.
        sample_rate: samples per second.
        state: phase in radians before the first sample (None: 0). Differentiable.
        return_state, add_endpoint: see Streaming above.
        amplitude_upsampling: ``"window"`` (default) or ``"linear"``; also blends tables.

    Example:
        >>> table = torch.sin(torch.linspace(0, 2 * torch.pi, 65, dtype=torch.float64)[:-1])[None]
        >>> f0 = torch.full((1, 3, 1), 500.0, dtype=torch.float64)
        >>> first, state = wavetable_synthesis(f0[:, :2], torch.ones_like(f0[:, :2]), table, 64, 16000,
        ...                                    add_endpoint=False, return_state=True)
        >>> rest = wavetable_synthesis(f0[:, 1:], torch.ones_like(f0[:, 1:]), table, 128, 16000, state=state)
        >>> torch.allclose(torch.cat([first, rest], 1), wavetable_synthesis(f0, torch.ones_like(f0), table, 192, 16000))
        True
    """
    tables = _checked_tables(f0_hz, amplitudes, wavetables)
    check_choice("amplitude_upsampling", amplitude_upsampling, UPSAMPLE_METHODS)
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    sample_rate = check_positive("sample_rate", sample_rate)
    start = initial_turns(state, (tables.shape[0], 1), f0_hz)
    if n_samples == 0:  # an empty block: no audio, the phase unchanged
        audio, final = amplitudes.new_zeros(tables.shape[0], 0, dtype=output_dtype(tables, amplitudes)), start
    else:
        audio, final = _play(
            f0_hz, amplitudes, tables, n_samples, sample_rate, start, amplitude_upsampling, add_endpoint
        )
    return (audio, turns_to_radians(final)) if return_state else audio
