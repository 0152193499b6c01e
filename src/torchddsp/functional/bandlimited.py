"""Band-limited oscillators (sine, triangle, square, saw) driven by control-rate frequency and
amplitude: the voltage-controlled oscillators of the modular synthesizer.

Anti-aliasing by mip-mapped wavetables: for each waveform, one period is tabulated per
frequency band (``bands_per_octave`` bands per octave from ``min_hz``), each table holding only
the harmonics that stay below Nyquist up to the top of its band (``K_j = floor(nyquist /
f_top_j)``, capped at ``table_size / 2 - 1``). A hop whose highest frequency falls in band ``j``
crossfades tables ``j`` and ``j + 1`` by its position in the band (in log frequency), so the
timbre changes smoothly with pitch and **no partial at or above Nyquist is ever produced**;
at worst the top ``1 - 2^(-1 / bands_per_octave)`` of the band is left empty (11 % with 6 bands
per octave). Tables are read with linear interpolation (4096 samples: interpolation images
below -80 dB for a saw).

Controls are frame-rate ``(batch, n_frames, 1)`` and are upsampled linearly (frame ``i`` at
sample ``i * hop``, the last frame held: :func:`~torchddsp.functional.upsample`); the phase of
sample ``n`` is ``state + 2 pi sum_{m <= n} f[m] / sample_rate``, accumulated in
float64 (the library's convention).

Two engines, tested against each other: a fused numba kernel on CPU (``engine.bandlimited``:
one pass per sample, no audio-rate intermediate tensors; its backward pass is a hand-written
adjoint that recomputes the phase, so memory stays at the output's size), and the PyTorch
composition here (any device; its gradients are autograd's). Gradients reach the frequencies (through the phase and the table
crossfade), the amplitudes, the waveform mix and the phase state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import half_in_float32
from .engine import resolve_backend
from .engine.bandlimited import OscillatorInputs
from .engine.bandlimited import fused_oscillator
from .noise import counter_noise
from .phase import cumulative_turns
from .phase import initial_turns
from .phase import turns_to_radians
from .resampling import hop_for
from .resampling import upsample

__all__ = ["bandlimited_oscillator", "bandlimited_tables", "BANDLIMITED_WAVEFORMS"]

BANDLIMITED_WAVEFORMS = ("sine", "triangle", "square", "saw")


def _series(waveform: str, n_harmonics: int) -> np.ndarray:
    """Sine-series coefficients ``b_k`` (k = 0..n_harmonics) of a unit-amplitude waveform:
    ``y(t) = sum_k b_k sin(2 pi k t)`` for ``t`` in turns."""
    b = np.zeros(n_harmonics + 1)
    k = np.arange(1, n_harmonics + 1)
    if waveform == "sine":
        b[1] = 1.0 if n_harmonics >= 1 else 0.0
    elif waveform == "saw":  # rising ramp from -1 to 1, falling edge at t = 0.5 (phase-aligned with sine)
        b[1:] = 2.0 / math.pi * (-1.0) ** (k + 1) / k
    elif waveform == "square":  # +1 on the first half period, -1 on the second
        b[1:] = np.where(k % 2 == 1, 4.0 / (math.pi * k), 0.0)
    else:  # triangle, peaks +1 at t = 0.25
        b[1:] = np.where(k % 2 == 1, 8.0 / math.pi**2 * (-1.0) ** ((k - 1) // 2) / k**2, 0.0)
    return b


@functools.lru_cache(maxsize=32)
def _tables_numpy(
    waveforms: tuple[str, ...], sample_rate: float, table_size: int, bands_per_octave: int, min_hz: float
) -> np.ndarray:
    """``(n_waveforms, n_bands, table_size + 1)`` float64 tables (last sample repeats the first,
    so linear interpolation needs no wrap)."""
    nyquist = sample_rate / 2
    n_bands = int(math.ceil(math.log2(nyquist / min_hz) * bands_per_octave)) + 2
    tables = np.zeros((len(waveforms), n_bands, table_size + 1))
    for w, waveform in enumerate(waveforms):
        for j in range(n_bands):
            top = min_hz * 2.0 ** ((j + 1) / bands_per_octave)
            harmonics = min(int(math.floor(nyquist / top * (1 - 1e-12))), table_size // 2 - 1)
            if harmonics < 1:
                continue  # the band is above Nyquist: silence
            b = _series(waveform, harmonics)
            spectrum = np.zeros(table_size // 2 + 1, dtype=complex)
            spectrum[: harmonics + 1] = -0.5j * b * table_size  # sin(2 pi k t) = Im(e^{2 pi i k t})
            tables[w, j, :table_size] = np.fft.irfft(spectrum, table_size)
            tables[w, j, table_size] = tables[w, j, 0]
    return tables


def bandlimited_tables(
    waveforms: Sequence[str], sample_rate: float, table_size: int = 4096, bands_per_octave: int = 6, min_hz: float = 8.0
) -> Tensor:
    """The mip-mapped tables: ``(len(waveforms), n_bands, table_size + 1)`` float64 (module
    docstring); band ``j`` covers ``min_hz 2^(j / bands_per_octave)`` to ``min_hz 2^((j + 1) /
    bands_per_octave)`` Hz."""
    for waveform in waveforms:
        check_choice("waveforms", waveform, BANDLIMITED_WAVEFORMS)
    return torch.from_numpy(
        _tables_numpy(tuple(waveforms), float(sample_rate), int(table_size), int(bands_per_octave), float(min_hz))
    )


@functools.lru_cache(maxsize=32)
def _same_as_next(
    waveforms: tuple[str, ...], sample_rate: float, table_size: int, bands_per_octave: int, min_hz: float
) -> np.ndarray:
    """``(n_waveforms, n_bands)``: whether band ``j``'s table equals band ``j + 1``'s (a sine's
    do below Nyquist), so the crossfade can skip the second read."""
    tables = _tables_numpy(waveforms, sample_rate, table_size, bands_per_octave, min_hz)
    same = np.zeros(tables.shape[:2], dtype=np.bool_)
    same[:, :-1] = np.all(tables[:, :-1] == tables[:, 1:], axis=-1)
    same[:, -1] = True
    return same


def _oscillator_torch(
    inputs: OscillatorInputs,
    tables: Tensor,
    hop: int,
    sample_rate: float,
    min_hz: float,
    bands_per_octave: int,
    noise_offset: int,
) -> Tensor:
    """The same computation as the kernel in PyTorch ops (any device; autograd gradients)."""
    frequency, amplitude, mix, turns0, noise_amplitude, seeds = inputs
    batch, n_frames, n_channels = frequency.shape
    n_samples = n_frames * hop
    dtype = amplitude.dtype
    size = tables.shape[-1] - 1
    n_bands, points = tables.shape[1], tables.shape[-1]
    following = torch.cat([frequency[:, 1:], frequency[:, -1:]], dim=1)
    top = torch.maximum(frequency.abs(), following.abs())
    above = top > min_hz
    safe_top = torch.where(above, top, torch.full_like(top, 2 * min_hz))
    position = torch.log2(safe_top / min_hz) * bands_per_octave
    band = torch.floor(position.detach())
    inside = above & (band < n_bands - 1)
    crossfade = torch.where(inside, position - band, torch.zeros_like(position))
    band = torch.where(
        inside, band, torch.where(above, torch.full_like(band, n_bands - 1), torch.zeros_like(band))
    ).long()
    upper_band = torch.clamp(band + 1, max=n_bands - 1)
    per_sample = upsample(frequency.to(torch.float64), n_samples, "linear")  # (batch, n_samples, channels)
    turns = cumulative_turns(per_sample, sample_rate, turns0.to(torch.float64))
    place = (turns - torch.floor(turns.detach())) * size
    index = torch.clamp(torch.floor(place.detach()).long(), max=size - 1)
    frac = (place - index.to(place.dtype)).to(dtype)
    band_s = band.repeat_interleave(hop, dim=1)
    upper_s = upper_band.repeat_interleave(hop, dim=1)
    crossfade_s = crossfade.to(dtype).repeat_interleave(hop, dim=1)
    flat = tables.to(dtype).reshape(tables.shape[0], -1)
    value = torch.zeros(batch, n_samples, n_channels, dtype=dtype, device=amplitude.device)
    for w in range(tables.shape[0]):

        def read(bands: Tensor, table: Tensor = flat[w]) -> Tensor:
            base = bands * points + index
            x0, x1 = table[base], table[base + 1]
            return x0 + frac * (x1 - x0)

        low, high = read(band_s), read(upper_s)
        value = value + mix[:, None, :, w] * (low + crossfade_s * (high - low))
    level = upsample(amplitude, n_samples, "linear")
    out = (level * value).sum(-1)
    if noise_amplitude.numel():
        noise = counter_noise(seeds, n_samples, noise_offset, dtype)
        out = out + upsample(noise_amplitude.unsqueeze(-1), n_samples, "linear")[..., 0] * noise
    return out


def _check_controls(frequency_hz: Tensor, amplitude: Tensor) -> None:
    check_rank("frequency_hz", frequency_hz, 3, "(batch, n_frames, channels)")
    check_rank("amplitude", amplitude, 3, "(batch, n_frames, channels)")
    for name, value in (("frequency_hz", frequency_hz), ("amplitude", amplitude)):
        check_finite(name, value)
    if frequency_hz.shape != amplitude.shape:
        raise InputError(
            f"frequency_hz and amplitude must have the same shape, found {tuple(frequency_hz.shape)} "
            f"and {tuple(amplitude.shape)}"
        )


def _mix_values(mix: Tensor | None, batch: int, n_channels: int, n_waveforms: int, like: Tensor) -> Tensor:
    """The waveform mix ``(batch, channels, n_waveforms)`` in ``like``'s dtype (all ones by default)."""
    if mix is None:
        return torch.ones(batch, n_channels, n_waveforms, dtype=like.dtype, device=like.device)
    check_rank("mix", mix, 3, f"(batch, channels, {n_waveforms})")
    check_finite("mix", mix)
    if mix.shape != (batch, n_channels, n_waveforms):
        raise InputError(f"mix must have shape ({batch}, {n_channels}, {n_waveforms}), found {tuple(mix.shape)}")
    return mix.to(like.dtype)


def _noise_inputs(
    noise_amplitude: Tensor | None, noise_seeds: Tensor | None, batch: int, n_frames: int, like: Tensor
) -> tuple[Tensor, Tensor]:
    """``(batch, n_frames)`` noise levels in ``like``'s dtype and ``(batch,)`` int64 seeds; both
    empty without noise."""
    if noise_amplitude is None:
        if noise_seeds is not None:
            raise InputError("noise_seeds is given without noise_amplitude")
        return like.new_zeros(0, 0), torch.zeros(0, dtype=torch.int64)
    check_rank("noise_amplitude", noise_amplitude, 3, "(batch, n_frames, 1)")
    check_finite("noise_amplitude", noise_amplitude)
    if noise_amplitude.shape != (batch, n_frames, 1):
        raise InputError(
            f"noise_amplitude must have shape ({batch}, {n_frames}, 1), found {tuple(noise_amplitude.shape)}"
        )
    if (
        noise_seeds is None
        or not isinstance(noise_seeds, Tensor)
        or noise_seeds.dtype != torch.int64
        or noise_seeds.shape != (batch,)
    ):
        raise InputError(f"noise_seeds must be a ({batch},) int64 tensor when noise_amplitude is given")
    return noise_amplitude[..., 0].to(like.dtype), noise_seeds


def _final_turns(frequency_hz: Tensor, turns0: Tensor, n_intervals: int, hop: int, sample_rate: float) -> Tensor:
    """Phase in cycles ``(batch, channels)`` after the first ``n_intervals`` hops (float64, not
    wrapped): f is linear over each hop, so a hop advances ``(hop f_a + (hop - 1) / 2 (f_b -
    f_a)) / sample_rate`` cycles, the last frame held (the sum both engines accumulate)."""
    frequency = frequency_hz.to(torch.float64)
    following = torch.cat([frequency[:, 1:], frequency[:, -1:]], dim=1)[:, :n_intervals]
    start = frequency[:, :n_intervals]
    totals = (hop * start + 0.5 * (hop - 1) * (following - start)) / sample_rate
    return turns0 + totals.sum(dim=1)


@half_in_float32
def bandlimited_oscillator(
    frequency_hz: Tensor,
    amplitude: Tensor,
    n_samples: int,
    sample_rate: float,
    waveforms: Sequence[str] = ("saw",),
    mix: Tensor | None = None,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    add_endpoint: bool = True,
    noise_amplitude: Tensor | None = None,
    noise_seeds: Tensor | None = None,
    noise_offset: int = 0,
    backend: str = "auto",
    table_size: int = 4096,
    bands_per_octave: int = 6,
    min_hz: float = 8.0,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sum of alias-free oscillators (and optionally seeded noise) from control-rate controls:
    ``sum_c amplitude_c * sum_w mix_cw * waveform_w(phase_c) + noise_amplitude * noise``.

    One channel is one oscillator; several channels (and the noise) render in one fused pass,
    which is what a synthesizer voice's sources need.

    Streaming: with ``return_state=True`` the result is ``(audio, state)``, ``state`` each
    oscillator's phase at the last sample ``(batch, channels)`` (float64 radians in [0, 2 pi)),
    the next block's ``state``, with ``noise_offset`` advanced by the samples rendered so far;
    blocks are cut as for :func:`~torchddsp.functional.harmonic_synthesis`.

    Args:
        frequency_hz: ``(batch, n_frames, channels)`` instantaneous frequency at control rate
            (any sign; at or above Nyquist a channel is silent).
        amplitude: ``(batch, n_frames, channels)`` at control rate.
        n_samples: output length, a whole number of hops ``n_frames * hop`` (``(n_frames - 1)
            * hop`` with ``add_endpoint=False``).
        sample_rate: in Hz.
        waveforms: names from ``BANDLIMITED_WAVEFORMS`` (``sine``, ``triangle``, ``square``,
            ``saw``; each of unit amplitude before the band limit).
        mix: ``(batch, channels, len(waveforms))`` waveform weights per oscillator (fixed per
            sound); all ones by default.
        state: ``(batch, channels)`` phase in radians before the first sample; None: 0.
        return_state: also return the phase at the last sample (see Streaming above).
        add_endpoint: hold the last frame for the final hop (see ``resampling``); False: the
            last frame only ends the previous hop.
        noise_amplitude: ``(batch, n_frames, 1)`` level of uniform noise in [-1, 1) added to
            the output (upsampled like the amplitudes); none by default.
        noise_seeds: ``(batch,)`` int64 seeds of that noise: sample ``n`` of row ``b`` is
            :func:`~torchddsp.functional.noise.counter_noise` ``(seeds[b])[noise_offset + n]``,
            the same on every device and for every batch composition.
        noise_offset: index of the first noise sample (to continue a stream).
        backend: ``"auto"``, ``"numba"`` (the fused compiled kernel, CPU tensors) or ``"torch"``
            (the PyTorch path, any device): :func:`~torchddsp.functional.engine.resolve_backend`.
        table_size, bands_per_octave, min_hz: the mip-map (module docstring).

    Returns:
        ``(batch, n_samples)`` in the dtype of ``amplitude``. Differentiable in
        ``frequency_hz``, ``amplitude``, ``mix``, ``state`` and ``noise_amplitude``
        (first derivatives: the kernel's adjoint is compiled and differentiating it again
        raises; a linearly interpolated table has no useful second derivative anyway).
    """
    _check_controls(frequency_hz, amplitude)
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    sample_rate = check_positive("sample_rate", sample_rate)
    engine, waveforms = resolve_backend(backend, amplitude.device), _checked_waveforms(waveforms)
    hop = hop_for(n_samples, frequency_hz.shape[1], add_endpoint, "frequency_hz") if n_samples else 0
    plan = _Plan(engine, waveforms, hop, sample_rate, table_size, bands_per_octave, min_hz, noise_offset)
    inputs = _inputs(frequency_hz, amplitude, mix, state, noise_amplitude, noise_seeds, len(plan.waveforms))
    if n_samples == 0:  # an empty block: no audio, the phase unchanged
        audio, final = inputs.amplitude.new_zeros(inputs.amplitude.shape[0], 0), inputs.turns0
    else:
        # Without the end point the last frame only ends the last hop: render it held and drop that hop.
        audio = _render(inputs, plan)[:, :n_samples]
        final = (
            inputs.turns0
            if not return_state
            else _final_turns(frequency_hz, inputs.turns0, n_samples // hop, hop, sample_rate)
        )
    return (audio, turns_to_radians(final)) if return_state else audio


class _Plan(NamedTuple):
    """How :func:`bandlimited_oscillator` renders: the engine and the checked settings."""

    engine: str
    waveforms: tuple[str, ...]
    hop: int
    sample_rate: float
    table_size: int
    bands_per_octave: int
    min_hz: float
    noise_offset: int


def _checked_waveforms(waveforms: Sequence[str]) -> tuple[str, ...]:
    waveforms = tuple(waveforms)
    if not waveforms:
        raise InputError(f"waveforms must name at least one of {BANDLIMITED_WAVEFORMS}")
    return waveforms


def _inputs(
    frequency_hz: Tensor,
    amplitude: Tensor,
    mix: Tensor | None,
    state: Tensor | None,
    noise_amplitude: Tensor | None,
    noise_seeds: Tensor | None,
    n_waveforms: int,
) -> OscillatorInputs:
    """The checked controls in the working dtype (float32 or float64) and the start phase."""
    batch, n_frames, n_channels = frequency_hz.shape
    dtype = amplitude.dtype if amplitude.dtype in (torch.float32, torch.float64) else torch.float32
    amplitude = amplitude.to(dtype)
    mix = _mix_values(mix, batch, n_channels, n_waveforms, amplitude)
    turns0 = initial_turns(state, (batch, n_channels), amplitude)
    noise, seeds = _noise_inputs(noise_amplitude, noise_seeds, batch, n_frames, amplitude)
    return OscillatorInputs(frequency_hz, amplitude, mix, turns0, noise, seeds)


def _render(inputs: OscillatorInputs, plan: _Plan) -> Tensor:
    """``(batch, n_frames * hop)`` from checked inputs through the chosen engine."""
    table_key = (plan.waveforms, float(plan.sample_rate), int(plan.table_size), int(plan.bands_per_octave))
    tables = bandlimited_tables(*table_key, float(plan.min_hz))
    settings = (plan.hop, plan.sample_rate, float(plan.min_hz), int(plan.bands_per_octave), int(plan.noise_offset))
    if plan.engine == "numba":
        same = torch.from_numpy(_same_as_next(*table_key, float(plan.min_hz)))
        return fused_oscillator(inputs._replace(seeds=inputs.seeds.cpu()), tables, same, *settings)
    device = inputs.amplitude.device
    return _oscillator_torch(inputs._replace(seeds=inputs.seeds.to(device)), tables.to(device), *settings)
