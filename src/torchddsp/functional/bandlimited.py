"""Band-limited oscillators (sine, triangle, square, saw) driven by control-rate frequency and
amplitude: the voltage-controlled oscillators of the modular synthesizer.

Anti-aliasing by mip-mapped wavetables: for each waveform, one period is tabulated per
frequency band (``bands_per_octave`` bands per octave from ``f_min``), each table holding only
the harmonics that stay below Nyquist up to the top of its band (``K_j = floor(nyquist /
f_top_j)``, capped at ``table_size / 2 - 1``). A hop whose highest frequency falls in band ``j``
crossfades tables ``j`` and ``j + 1`` by its position in the band (in log frequency), so the
timbre changes smoothly with pitch and **no partial at or above Nyquist is ever produced**;
at worst the top ``1 - 2^(-1 / bands_per_octave)`` of the band is left empty (11 % with 6 bands
per octave). Tables are read with linear interpolation (4096 samples: interpolation images
below -80 dB for a saw).

Controls are frame-rate ``(batch, n_frames, 1)`` and are upsampled linearly (frame ``i`` at
sample ``i * hop``, the last frame held: :func:`~torchddsp.functional.upsample`); the phase of
sample ``n`` is ``initial_phase + 2 pi sum_{m <= n} f[m] / sample_rate``, accumulated in
float64 (the library's convention).

Two engines, tested against each other: a fused numba kernel on CPU (one pass per sample, no
audio-rate intermediate tensors; its backward pass is a hand-written adjoint that recomputes
the phase, so memory stays at the output's size), and a PyTorch composition (any device; its
gradients are autograd's). Gradients reach the frequencies (through the phase and the table
crossfade), the amplitudes, the waveform mix and the initial phase.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..validation import check_choice, check_finite, check_positive, check_positive_int, check_rank, half_in_float32
from .engine import compile_kernel
from .resampling import hop_for, upsample
from ..validation import InputError

__all__ = ["bandlimited_oscillator", "bandlimited_tables", "BANDLIMITED_WAVEFORMS"]

BANDLIMITED_WAVEFORMS = ("sine", "triangle", "square", "saw")
TWO_PI = 2.0 * math.pi

try:  # numba is a core dependency; the PyTorch path below is the fallback and the GPU path.
    import numba
except ImportError:  # pragma: no cover
    numba = None


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
def _tables_numpy(waveforms: tuple[str, ...], sample_rate: float, table_size: int, bands_per_octave: int,
                  f_min: float) -> np.ndarray:
    """``(n_waveforms, n_bands, table_size + 1)`` float64 tables (last sample repeats the first,
    so linear interpolation needs no wrap)."""
    nyquist = sample_rate / 2
    n_bands = int(math.ceil(math.log2(nyquist / f_min) * bands_per_octave)) + 2
    tables = np.zeros((len(waveforms), n_bands, table_size + 1))
    for w, waveform in enumerate(waveforms):
        for j in range(n_bands):
            top = f_min * 2.0 ** ((j + 1) / bands_per_octave)
            harmonics = min(int(math.floor(nyquist / top * (1 - 1e-12))), table_size // 2 - 1)
            if harmonics < 1:
                continue  # the band is above Nyquist: silence
            b = _series(waveform, harmonics)
            spectrum = np.zeros(table_size // 2 + 1, dtype=complex)
            spectrum[: harmonics + 1] = -0.5j * b * table_size  # sin(2 pi k t) = Im(e^{2 pi i k t})
            tables[w, j, :table_size] = np.fft.irfft(spectrum, table_size)
            tables[w, j, table_size] = tables[w, j, 0]
    return tables


def bandlimited_tables(waveforms: Sequence[str], sample_rate: float, table_size: int = 4096,
                       bands_per_octave: int = 6, f_min: float = 8.0) -> Tensor:
    """The mip-mapped tables: ``(len(waveforms), n_bands, table_size + 1)`` float64 (module
    docstring); band ``j`` covers ``f_min 2^(j / bands_per_octave)`` to ``f_min 2^((j + 1) /
    bands_per_octave)`` Hz."""
    for waveform in waveforms:
        check_choice("waveforms", waveform, BANDLIMITED_WAVEFORMS)
    return torch.from_numpy(_tables_numpy(tuple(waveforms), float(sample_rate), int(table_size),
                                          int(bands_per_octave), float(f_min)))


@functools.lru_cache(maxsize=32)
def _same_as_next(waveforms: tuple[str, ...], sample_rate: float, table_size: int, bands_per_octave: int,
                  f_min: float) -> np.ndarray:
    """``(n_waveforms, n_bands)``: whether band ``j``'s table equals band ``j + 1``'s (a sine's
    do below Nyquist), so the crossfade can skip the second read."""
    tables = _tables_numpy(waveforms, sample_rate, table_size, bands_per_octave, f_min)
    same = np.zeros(tables.shape[:2], dtype=np.bool_)
    same[:, :-1] = np.all(tables[:, :-1] == tables[:, 1:], axis=-1)
    same[:, -1] = True
    return same


if numba is not None:

    @numba.njit(cache=True, inline="always")
    def _band(frequency, f_min, bands_per_octave, n_bands):  # pragma: no cover - compiled
        """Band index j, crossfade c in [0, 1) and dc/df for the highest |f| of a hop."""
        if frequency <= f_min:
            return 0, 0.0, 0.0
        position = math.log2(frequency / f_min) * bands_per_octave
        j = int(math.floor(position))
        if j >= n_bands - 1:
            return n_bands - 1, 0.0, 0.0
        return j, position - j, bands_per_octave / (frequency * math.log(2.0))

    @numba.njit(cache=True, inline="always")
    def _noise_value(seed, index):  # pragma: no cover - compiled; equals functional.noise.counter_noise
        z = np.uint64(seed) + np.uint64(index) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return 2.0 * (float(z >> np.uint64(11)) * 1.1102230246251565e-16) - 1.0

    @numba.njit(cache=True, inline="always")
    def _advance(sample_turns, turns, step_turns, step_change, hop):  # pragma: no cover - compiled
        """Phase (float64 turns, wrapped to [0, 1)) of each sample of a hop from the phase
        before it, with the step moving linearly across the hop; return the phase after it.
        Closed form per sample (``turns + (j+1) step + j (j+1) / 2 change``): no loop-carried
        dependency, so the loop vectorises."""
        for j in range(hop):
            t = turns + (j + 1) * step_turns + (0.5 * j * (j + 1)) * step_change
            sample_turns[j] = t - math.floor(t)
        end = turns + hop * step_turns + (0.5 * hop * (hop - 1)) * step_change
        return end - math.floor(end)

    @numba.njit(cache=True, inline="always")
    def _render_hop(acc, sample_turns, low_row, high_row, use_high, c, level, level_change, hop,
                    size):  # pragma: no cover - compiled
        """Add one oscillator's hop to ``acc``. No loop-carried dependency and the branch hoisted
        out of the loops, so the compiler can vectorise them."""
        if use_high:
            for step in range(hop):
                position = sample_turns[step] * size
                k = min(int(position), size - 1)
                frac = position - k
                low = low_row[k] + frac * (low_row[k + 1] - low_row[k])
                high = high_row[k] + frac * (high_row[k + 1] - high_row[k])
                acc[step] += (level + level_change * step) * (low + c * (high - low))
        else:
            for step in range(hop):
                position = sample_turns[step] * size
                k = min(int(position), size - 1)
                frac = position - k
                acc[step] += (level + level_change * step) * (low_row[k] + frac * (low_row[k + 1] - low_row[k]))

    @numba.njit(cache=True)
    def _band_range(frequency, b, ch, f_min, bands_per_octave, n_bands):  # pragma: no cover - compiled
        """Lowest and highest band (and the one above it) any hop of this oscillator reads."""
        n_frames = frequency.shape[1]
        low, high = n_bands, 0
        for i in range(n_frames):
            nxt = i + 1 if i + 1 < n_frames else i
            j, _, _ = _band(max(abs(frequency[b, i, ch]), abs(frequency[b, nxt, ch])), f_min, bands_per_octave, n_bands)
            low = min(low, j)
            high = max(high, min(j + 1, n_bands - 1))
        return low, high

    def _oscillator_forward(first, stop, frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same, hop,
                            sample_rate, f_min, bands_per_octave, noise_offset, out):  # pragma: no cover - compiled
        n_frames, n_channels = frequency.shape[1], frequency.shape[2]
        n_waveforms, n_bands, table_points = tables.shape
        size = table_points - 1
        with_noise = noise_amplitude.shape[0] > 0
        inverse_rate = 1.0 / sample_rate
        inverse_hop = 1.0 / hop
        for b in range(first, stop):
            acc = np.empty(hop)
            sample_turns = np.empty(hop)
            # Per oscillator: the table rows of the bands it visits, with its waveforms already
            # mixed (one table read per sample whatever the number of waveforms).
            lowest = np.empty(n_channels, dtype=np.int64)
            span = 1
            for ch in range(n_channels):
                low, high = _band_range(frequency, b, ch, f_min, bands_per_octave, n_bands)
                lowest[ch] = low
                span = max(span, high - low + 1)
            rows = np.zeros((n_channels, span, table_points), dtype=tables.dtype)
            flags = np.ones((n_channels, span), dtype=np.bool_)
            for ch in range(n_channels):
                for w in range(n_waveforms):
                    weight = mix[b, ch, w]
                    if weight == 0.0:
                        continue
                    for r in range(span):
                        band = min(lowest[ch] + r, n_bands - 1)
                        flags[ch, r] = flags[ch, r] and same[w, band]
                        for k in range(table_points):
                            rows[ch, r, k] += weight * tables[w, band, k]
            turns = np.empty(n_channels)
            for ch in range(n_channels):
                turns[ch] = turns0[b, ch] - math.floor(turns0[b, ch])
            for i in range(n_frames):
                nxt = i + 1 if i + 1 < n_frames else i
                base = i * hop
                acc[:] = 0.0
                for ch in range(n_channels):
                    f_a = frequency[b, i, ch]
                    f_b = frequency[b, nxt, ch]
                    j, c, _ = _band(max(abs(f_a), abs(f_b)), f_min, bands_per_octave, n_bands)
                    r = j - lowest[ch]
                    r1 = min(j + 1, n_bands - 1) - lowest[ch]
                    turns[ch] = _advance(sample_turns, turns[ch], f_a * inverse_rate,
                                         (f_b - f_a) * inverse_rate * inverse_hop, hop)
                    _render_hop(acc, sample_turns, rows[ch, r], rows[ch, r1], not flags[ch, r], c, amplitude[b, i, ch],
                                (amplitude[b, nxt, ch] - amplitude[b, i, ch]) * inverse_hop, hop, size)
                if with_noise:
                    noise_level = noise_amplitude[b, i]
                    noise_change = (noise_amplitude[b, nxt] - noise_amplitude[b, i]) * inverse_hop
                    for step in range(hop):
                        acc[step] += (noise_level + noise_change * step) * _noise_value(
                            seeds[b], noise_offset + base + step + 1)
                for step in range(hop):
                    out[b, base + step] = acc[step]

    @numba.njit(cache=True, inline="always")
    def _adjoint_pass(g_level, values, slopes, across, sample_turns, low_row, high_row, use_high, c, weight,
                      hop, size):  # pragma: no cover - compiled
        """One waveform over one hop: add its value, phase slope and crossfade difference
        (times ``weight``) to the hop buffers; return sum_n g_level[n] * value_n (its mix gradient)."""
        grad_weight = 0.0
        if use_high:
            for step in range(hop):
                position = sample_turns[step] * size
                k = min(int(position), size - 1)
                frac = position - k
                low_d = low_row[k + 1] - low_row[k]
                high_d = high_row[k + 1] - high_row[k]
                low = low_row[k] + frac * low_d
                difference = high_row[k] + frac * high_d - low
                value = low + c * difference
                values[step] += weight * value
                slopes[step] += weight * (low_d + c * (high_d - low_d)) * size
                across[step] += weight * difference
                grad_weight += g_level[step] * value
        else:
            for step in range(hop):
                position = sample_turns[step] * size
                k = min(int(position), size - 1)
                frac = position - k
                low_d = low_row[k + 1] - low_row[k]
                value = low_row[k] + frac * low_d
                values[step] += weight * value
                slopes[step] += weight * low_d * size
                grad_weight += g_level[step] * value
        return grad_weight

    def _oscillator_backward(first, stop, grad, frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same,
                             need_mix, hop, sample_rate, f_min, bands_per_octave, noise_offset, grad_frequency,
                             grad_amplitude, grad_mix, grad_turns0, grad_noise):  # pragma: no cover - gradchecked
        """Gradients of batch items ``first .. stop - 1``, accumulated into the zeroed outputs."""
        n_frames, n_channels = frequency.shape[1], frequency.shape[2]
        n_waveforms, n_bands, table_points = tables.shape
        size = table_points - 1
        with_noise = noise_amplitude.shape[0] > 0
        inverse_rate = 1.0 / sample_rate
        inverse_hop = 1.0 / hop
        for b in range(first, stop):
            hop_turns = np.empty(n_frames)
            sample_turns = np.empty(hop)
            g_level = np.empty(hop)
            values = np.empty(hop)
            slopes = np.empty(hop)
            across = np.empty(hop)
            if with_noise:
                for i in range(n_frames):
                    nxt = i + 1 if i + 1 < n_frames else i
                    for step in range(hop):
                        lam = step * inverse_hop
                        g = grad[b, i * hop + step] * _noise_value(seeds[b], noise_offset + i * hop + step + 1)
                        grad_noise[b, i] += (1.0 - lam) * g
                        grad_noise[b, nxt] += lam * g
            for ch in range(n_channels):
                # The phase at the start of every hop, by the forward's own arithmetic; each hop
                # is then replayed and its adjoint accumulated from the last sample back.
                turns = turns0[b, ch] - math.floor(turns0[b, ch])
                for i in range(n_frames):
                    hop_turns[i] = turns
                    nxt = i + 1 if i + 1 < n_frames else i
                    turns = _advance(sample_turns, turns, frequency[b, i, ch] * inverse_rate,
                                     (frequency[b, nxt, ch] - frequency[b, i, ch]) * inverse_rate * inverse_hop, hop)
                running = 0.0  # sum over later samples of dL/dturns
                for i in range(n_frames - 1, -1, -1):
                    last = i + 1 >= n_frames
                    nxt = i if last else i + 1
                    f_a = frequency[b, i, ch]
                    f_b = frequency[b, nxt, ch]
                    a_a = amplitude[b, i, ch]
                    a_b = amplitude[b, nxt, ch]
                    j, c, dc_df = _band(max(abs(f_a), abs(f_b)), f_min, bands_per_octave, n_bands)
                    j1 = min(j + 1, n_bands - 1)
                    _advance(sample_turns, hop_turns[i], f_a * inverse_rate, (f_b - f_a) * inverse_rate * inverse_hop, hop)
                    for step in range(hop):
                        g_level[step] = grad[b, i * hop + step] * (a_a + (a_b - a_a) * (step * inverse_hop))
                        values[step] = 0.0
                        slopes[step] = 0.0
                        across[step] = 0.0
                    for w in range(n_waveforms):
                        weight = mix[b, ch, w]
                        if weight == 0.0 and not need_mix:
                            continue
                        grad_mix[b, ch, w] += _adjoint_pass(g_level, values, slopes, across, sample_turns, tables[w, j],
                                                            tables[w, j1], not same[w, j], c, weight, hop, size)
                    grad_c = 0.0
                    base = i * hop
                    # Local sums: the two knots of the hop receive every sample's share.
                    amp_a = amp_b = freq_a = freq_b = 0.0
                    for step in range(hop - 1, -1, -1):
                        lam = step * inverse_hop
                        grad_level = grad[b, base + step] * values[step]
                        amp_a += (1.0 - lam) * grad_level
                        amp_b += lam * grad_level
                        grad_c += g_level[step] * across[step]
                        running += g_level[step] * slopes[step]
                        freq_a += (1.0 - lam) * running
                        freq_b += lam * running
                    grad_amplitude[b, i, ch] += amp_a
                    grad_amplitude[b, nxt, ch] += amp_b
                    grad_frequency[b, i, ch] += freq_a * inverse_rate
                    grad_frequency[b, nxt, ch] += freq_b * inverse_rate
                    # The crossfade follows the hop's largest |f| (ties split evenly, as
                    # torch.maximum's gradient does).
                    if dc_df != 0.0:
                        share = grad_c * dc_df
                        sign_a = 1.0 if f_a >= 0 else -1.0
                        sign_b = 1.0 if f_b >= 0 else -1.0
                        if last or abs(f_a) > abs(f_b):
                            grad_frequency[b, i, ch] += share * sign_a
                        elif abs(f_a) < abs(f_b):
                            grad_frequency[b, nxt, ch] += share * sign_b
                        else:
                            grad_frequency[b, i, ch] += 0.5 * share * sign_a
                            grad_frequency[b, nxt, ch] += 0.5 * share * sign_b
                grad_turns0[b, ch] = running


# Batch items are independent: each call is shared out in chunks of items (see engine).
_FORWARD = compile_kernel(_oscillator_forward) if numba is not None else None
_BACKWARD = compile_kernel(_oscillator_backward) if numba is not None else None


def _work(amplitude: Tensor, settings: tuple) -> int:
    """Inner-loop updates of a call: oscillator samples (frames x hop per oscillator)."""
    return amplitude.numel() * settings[0]


class _FusedOscillator(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frequency: Tensor, amplitude: Tensor, mix: Tensor, turns0: Tensor, noise_amplitude: Tensor,
                seeds: Tensor, tables: Tensor, same: Tensor, settings: tuple) -> Tensor:
        dtype = amplitude.dtype
        numpy = lambda t, d=None: t.detach().contiguous().numpy().astype(d or t.detach().numpy().dtype, copy=False)  # noqa: E731
        batch, n_frames = frequency.shape[:2]
        out = torch.empty(batch, n_frames * settings[0], dtype=dtype)
        _FORWARD(_work(amplitude, settings), batch, numpy(frequency, np.float64), numpy(amplitude), numpy(mix),
                 numpy(turns0, np.float64), numpy(noise_amplitude), seeds.contiguous().numpy(),
                 numpy(tables.to(dtype)), same.numpy(), *settings, out.numpy())
        ctx.save_for_backward(frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same)
        ctx.settings = settings
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable  # the adjoint is compiled: second derivatives raise
    def backward(ctx, grad: Tensor):
        frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same = ctx.saved_tensors
        as64 = lambda t: t.detach().contiguous().numpy().astype(np.float64, copy=False)  # noqa: E731
        # Tables in the forward's dtype, so the adjoint is that of the computed function.
        batch, n_frames, n_channels = frequency.shape
        with_noise = noise_amplitude.numel() > 0
        grads = (np.zeros((batch, n_frames, n_channels)), np.zeros((batch, n_frames, n_channels)),
                 np.zeros((batch, n_channels, mix.shape[-1])), np.zeros((batch, n_channels)),
                 np.zeros((batch, n_frames)) if with_noise else np.zeros((0, 0)))
        _BACKWARD(_work(amplitude, ctx.settings), batch, grad.detach().contiguous().numpy(), as64(frequency),
                  as64(amplitude), as64(mix), as64(turns0), as64(noise_amplitude), seeds.contiguous().numpy(),
                  as64(tables.to(amplitude.dtype)), same.numpy(), bool(ctx.needs_input_grad[2]), *ctx.settings, *grads)
        inputs = (frequency, amplitude, mix, turns0, noise_amplitude)
        out = [torch.from_numpy(g).to(t.dtype) if g.size or t.numel() == 0 else None for g, t in zip(grads, inputs)]
        if noise_amplitude.numel() == 0:
            out[4] = None
        return (*out, None, None, None, None)


def _oscillator_torch(frequency: Tensor, amplitude: Tensor, mix: Tensor, turns0: Tensor, noise_amplitude: Tensor,
                      seeds: Tensor, tables: Tensor, hop: int, sample_rate: float, f_min: float,
                      bands_per_octave: int, noise_offset: int) -> Tensor:
    """The same computation as the kernel in PyTorch ops (any device; autograd gradients)."""
    batch, n_frames, n_channels = frequency.shape
    n_samples = n_frames * hop
    dtype = amplitude.dtype
    size = tables.shape[-1] - 1
    n_bands, points = tables.shape[1], tables.shape[-1]
    following = torch.cat([frequency[:, 1:], frequency[:, -1:]], dim=1)
    top = torch.maximum(frequency.abs(), following.abs())
    above = top > f_min
    safe_top = torch.where(above, top, torch.full_like(top, 2 * f_min))
    position = torch.log2(safe_top / f_min) * bands_per_octave
    band = torch.floor(position.detach())
    inside = above & (band < n_bands - 1)
    crossfade = torch.where(inside, position - band, torch.zeros_like(position))
    band = torch.where(inside, band, torch.where(above, torch.full_like(band, n_bands - 1), torch.zeros_like(band))).long()
    upper_band = torch.clamp(band + 1, max=n_bands - 1)
    per_sample = upsample(frequency.to(torch.float64), n_samples, "linear")  # (batch, n_samples, channels)
    turns = torch.cumsum(per_sample / sample_rate, dim=1) + turns0.to(torch.float64).unsqueeze(1)
    place = (turns - torch.floor(turns.detach())) * size
    index = torch.clamp(torch.floor(place.detach()).long(), max=size - 1)
    frac = (place - index.to(place.dtype)).to(dtype)
    band_s = band.repeat_interleave(hop, dim=1)
    upper_s = upper_band.repeat_interleave(hop, dim=1)
    crossfade_s = crossfade.to(dtype).repeat_interleave(hop, dim=1)
    flat = tables.to(dtype).reshape(tables.shape[0], -1)
    value = torch.zeros(batch, n_samples, n_channels, dtype=dtype, device=amplitude.device)
    for w in range(tables.shape[0]):
        def read(bands: Tensor) -> Tensor:
            base = bands * points + index
            x0, x1 = flat[w][base], flat[w][base + 1]
            return x0 + frac * (x1 - x0)

        low, high = read(band_s), read(upper_s)
        value = value + mix[:, None, :, w] * (low + crossfade_s * (high - low))
    level = upsample(amplitude, n_samples, "linear")
    out = (level * value).sum(-1)
    if noise_amplitude.numel():
        from .noise import counter_noise  # noqa: PLC0415

        noise = counter_noise(seeds, n_samples, noise_offset, dtype)
        out = out + upsample(noise_amplitude.unsqueeze(-1), n_samples, "linear")[..., 0] * noise
    return out


@half_in_float32
def bandlimited_oscillator(frequency_hz: Tensor, amplitude: Tensor, n_samples: int, sample_rate: float,
                           waveforms: Sequence[str] = ("saw",), mix: Tensor | None = None,
                           initial_phase: Tensor | None = None, *, noise_amplitude: Tensor | None = None,
                           noise_seeds: Tensor | None = None, noise_offset: int = 0, backend: str = "auto",
                           table_size: int = 4096, bands_per_octave: int = 6, f_min: float = 8.0) -> Tensor:
    """Sum of alias-free oscillators (and optionally seeded noise) from control-rate controls:
    ``sum_c amplitude_c * sum_w mix_cw * waveform_w(phase_c) + noise_amplitude * noise``.

    One channel is one oscillator; several channels (and the noise) render in one fused pass,
    which is what a synthesizer voice's sources need.

    Args:
        frequency_hz: ``(batch, n_frames, channels)`` instantaneous frequency at control rate
            (any sign; at or above Nyquist a channel is silent).
        amplitude: ``(batch, n_frames, channels)`` at control rate.
        n_samples: output length, a whole number of hops ``n_frames * hop``.
        sample_rate: in Hz.
        waveforms: names from ``BANDLIMITED_WAVEFORMS`` (``sine``, ``triangle``, ``square``,
            ``saw``; each of unit amplitude before the band limit).
        mix: ``(batch, channels, len(waveforms))`` waveform weights per oscillator (fixed per
            sound); all ones by default.
        initial_phase: ``(batch, channels)`` in radians; 0 by default.
        noise_amplitude: ``(batch, n_frames, 1)`` level of uniform noise in [-1, 1) added to
            the output (upsampled like the amplitudes); none by default.
        noise_seeds: ``(batch,)`` int64 seeds of that noise: sample ``n`` of row ``b`` is
            :func:`~torchddsp.functional.noise.counter_noise` ``(seeds[b])[noise_offset + n]``,
            the same on every device and for every batch composition.
        noise_offset: index of the first noise sample (to continue a stream).
        backend: ``"auto"`` (the fused numba kernel on CPU, PyTorch elsewhere), ``"numba"`` or
            ``"torch"``.
        table_size, bands_per_octave, f_min: the mip-map (module docstring).

    Returns:
        ``(batch, n_samples)`` in the dtype of ``amplitude``. Differentiable in
        ``frequency_hz``, ``amplitude``, ``mix``, ``initial_phase`` and ``noise_amplitude``
        (first derivatives: the kernel's adjoint is compiled and differentiating it again
        raises; a linearly interpolated table has no useful second derivative anyway).
    """
    check_rank("frequency_hz", frequency_hz, 3, "(batch, n_frames, channels)")
    check_rank("amplitude", amplitude, 3, "(batch, n_frames, channels)")
    for name, value in (("frequency_hz", frequency_hz), ("amplitude", amplitude)):
        check_finite(name, value)
    if frequency_hz.shape != amplitude.shape:
        raise InputError(f"frequency_hz and amplitude must have the same shape, found {tuple(frequency_hz.shape)} "
                         f"and {tuple(amplitude.shape)}")
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    sample_rate = check_positive("sample_rate", sample_rate)
    check_choice("backend", backend, ("auto", "numba", "torch"))
    waveforms = tuple(waveforms)
    if not waveforms:
        raise InputError(f"waveforms must name at least one of {BANDLIMITED_WAVEFORMS}")
    batch, n_frames, n_channels = frequency_hz.shape
    hop = hop_for(n_samples, n_frames, True, "frequency_hz") if n_samples else 0
    device = amplitude.device
    dtype = amplitude.dtype if amplitude.dtype in (torch.float32, torch.float64) else torch.float32
    amplitude = amplitude.to(dtype)
    if mix is None:
        mix = torch.ones(batch, n_channels, len(waveforms), dtype=dtype, device=device)
    check_rank("mix", mix, 3, f"(batch, channels, {len(waveforms)})")
    check_finite("mix", mix)
    if mix.shape != (batch, n_channels, len(waveforms)):
        raise InputError(f"mix must have shape ({batch}, {n_channels}, {len(waveforms)}), found {tuple(mix.shape)}")
    if initial_phase is None:
        turns0 = torch.zeros(batch, n_channels, dtype=torch.float64, device=device)
    else:
        check_rank("initial_phase", initial_phase, 2, "(batch, channels)")
        check_finite("initial_phase", initial_phase)
        if initial_phase.shape != (batch, n_channels):
            raise InputError(f"initial_phase must have shape ({batch}, {n_channels}), found {tuple(initial_phase.shape)}")
        turns0 = initial_phase / TWO_PI
    if noise_amplitude is None:
        if noise_seeds is not None:
            raise InputError("noise_seeds is given without noise_amplitude")
        noise_amplitude = amplitude.new_zeros(0, 0)
        seeds = torch.zeros(0, dtype=torch.int64)
    else:
        check_rank("noise_amplitude", noise_amplitude, 3, "(batch, n_frames, 1)")
        check_finite("noise_amplitude", noise_amplitude)
        if noise_amplitude.shape != (batch, n_frames, 1):
            raise InputError(f"noise_amplitude must have shape ({batch}, {n_frames}, 1), found {tuple(noise_amplitude.shape)}")
        if noise_seeds is None or not isinstance(noise_seeds, Tensor) or noise_seeds.dtype != torch.int64 \
                or noise_seeds.shape != (batch,):
            raise InputError(f"noise_seeds must be a ({batch},) int64 tensor when noise_amplitude is given")
        noise_amplitude = noise_amplitude[..., 0].to(dtype)
        seeds = noise_seeds
    if n_samples == 0:  # an empty block
        return amplitude.new_zeros(batch, 0)
    tables = bandlimited_tables(waveforms, sample_rate, table_size, bands_per_octave, f_min)
    mix = mix.to(dtype)
    use_kernel = backend == "numba" or (backend == "auto" and numba is not None and device.type == "cpu")
    if use_kernel:
        if numba is None:
            raise InputError("backend='numba' needs numba (pip install numba)")
        if device.type != "cpu":
            raise InputError(f"backend='numba' runs on CPU tensors, found device {device}")
        same = torch.from_numpy(_same_as_next(waveforms, float(sample_rate), int(table_size), int(bands_per_octave),
                                              float(f_min)))
        settings = (hop, sample_rate, float(f_min), float(bands_per_octave), int(noise_offset))
        return _FusedOscillator.apply(frequency_hz, amplitude, mix, turns0, noise_amplitude, seeds.cpu(), tables, same,
                                      settings)
    return _oscillator_torch(frequency_hz, amplitude, mix, turns0, noise_amplitude, seeds.to(device), tables.to(device),
                             hop, sample_rate, float(f_min), int(bands_per_octave), int(noise_offset))
