"""The band-limited oscillators' compiled CPU pass (numba), forward and hand-written adjoint.

The readable PyTorch path and the validation live in ``functional.bandlimited`` (module
docstring there: mip-mapped tables crossfaded per hop, phase by the library's convention);
``tests/functional/test_bandlimited.py`` holds the two equal in values and gradients. Here one
pass per batch item renders every oscillator (channel) and the noise with no audio-rate
intermediate tensor; the backward pass replays the phase hop by hop (``shared.advance_turns``)
and accumulates the adjoint from the last sample back, so memory stays at the output's size.
Noise is ``shared.splitmix_uniform``, the same numbers as ``functional.noise.counter_noise``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import compile_kernel
from .shared import advance_turns
from .shared import inline
from .shared import splitmix_uniform

__all__ = ["fused_oscillator", "OscillatorInputs"]


class OscillatorInputs(NamedTuple):
    """The checked controls of ``functional.bandlimited_oscillator``, as both engines take them.

    ``frequency`` (Hz) and ``amplitude`` ``(batch, n_frames, channels)``; ``mix`` ``(batch,
    channels, n_waveforms)``; ``turns0`` ``(batch, channels)`` float64 phase in cycles before
    the first sample; ``noise_amplitude`` ``(batch, n_frames)`` and ``seeds`` ``(batch,)``
    int64, both empty without noise.
    """

    frequency: Tensor
    amplitude: Tensor
    mix: Tensor
    turns0: Tensor
    noise_amplitude: Tensor
    seeds: Tensor


@inline
def _band(frequency, f_min, bands_per_octave, n_bands):  # pragma: no cover - compiled
    """Band index j, crossfade c in [0, 1) and dc/df for the highest |f| of a hop."""
    if frequency <= f_min:
        return 0, 0.0, 0.0
    position = math.log2(frequency / f_min) * bands_per_octave
    j = int(math.floor(position))
    if j >= n_bands - 1:
        return n_bands - 1, 0.0, 0.0
    return j, position - j, bands_per_octave / (frequency * math.log(2.0))


@inline
def _render_hop(
    acc, sample_turns, low_row, high_row, use_high, c, level, level_change, hop, size
):  # pragma: no cover - compiled
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


@inline
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


@inline
def _sizes(frequency, tables, noise_amplitude, sample_rate, hop):  # pragma: no cover - compiled
    """``(n_frames, n_channels, n_waveforms, n_bands, size, with_noise, 1 / sample_rate, 1 /
    hop)`` of a call (``size``: samples per table cycle)."""
    n_waveforms, n_bands, table_points = tables.shape
    with_noise = noise_amplitude.shape[0] > 0
    return (
        frequency.shape[1],
        frequency.shape[2],
        n_waveforms,
        n_bands,
        table_points - 1,
        with_noise,
        1.0 / sample_rate,
        1.0 / hop,
    )


def _oscillator_forward(first, stop, inputs, settings, out):  # pragma: no cover - compiled
    """Render batch items ``first .. stop - 1`` into ``out``: ``inputs`` = ``(frequency,
    amplitude, mix, turns0, noise_amplitude, seeds, tables, same)`` (:class:`OscillatorInputs`
    as arrays, then the tables and ``same``), ``settings`` = ``(hop, sample_rate, f_min,
    bands_per_octave, noise_offset)``."""
    frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same = inputs
    hop, sample_rate, f_min, bands_per_octave, noise_offset = settings
    n_frames, n_channels, n_waveforms, n_bands, size, with_noise, inverse_rate, inverse_hop = _sizes(
        frequency, tables, noise_amplitude, sample_rate, hop
    )
    table_points = size + 1
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
                turns[ch] = advance_turns(
                    sample_turns, turns[ch], f_a * inverse_rate, (f_b - f_a) * inverse_rate * inverse_hop, hop
                )
                _render_hop(
                    acc,
                    sample_turns,
                    rows[ch, r],
                    rows[ch, r1],
                    not flags[ch, r],
                    c,
                    amplitude[b, i, ch],
                    (amplitude[b, nxt, ch] - amplitude[b, i, ch]) * inverse_hop,
                    hop,
                    size,
                )
            if with_noise:
                noise_level = noise_amplitude[b, i]
                noise_change = (noise_amplitude[b, nxt] - noise_amplitude[b, i]) * inverse_hop
                for step in range(hop):
                    acc[step] += (noise_level + noise_change * step) * splitmix_uniform(
                        seeds[b], noise_offset + base + step + 1
                    )
            for step in range(hop):
                out[b, base + step] = acc[step]


@inline
def _adjoint_pass(
    g_level, values, slopes, across, sample_turns, low_row, high_row, use_high, c, weight, hop, size
):  # pragma: no cover - compiled
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


def _oscillator_backward(first, stop, grad, inputs, need_mix, settings, grads):  # pragma: no cover - gradchecked
    """Gradients of batch items ``first .. stop - 1``, accumulated into the zeroed ``grads`` =
    ``(frequency, amplitude, mix, turns0, noise_amplitude)``'s; ``inputs`` and ``settings`` as
    :func:`_oscillator_forward` takes them."""
    frequency, amplitude, mix, turns0, noise_amplitude, seeds, tables, same = inputs
    hop, sample_rate, f_min, bands_per_octave, noise_offset = settings
    grad_frequency, grad_amplitude, grad_mix, grad_turns0, grad_noise = grads
    n_frames, n_channels, n_waveforms, n_bands, size, with_noise, inverse_rate, inverse_hop = _sizes(
        frequency, tables, noise_amplitude, sample_rate, hop
    )
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
                    g = grad[b, i * hop + step] * splitmix_uniform(seeds[b], noise_offset + i * hop + step + 1)
                    grad_noise[b, i] += (1.0 - lam) * g
                    grad_noise[b, nxt] += lam * g
        for ch in range(n_channels):
            # The phase at the start of every hop, by the forward's own arithmetic; each hop
            # is then replayed and its adjoint accumulated from the last sample back.
            turns = turns0[b, ch] - math.floor(turns0[b, ch])
            for i in range(n_frames):
                hop_turns[i] = turns
                nxt = i + 1 if i + 1 < n_frames else i
                turns = advance_turns(
                    sample_turns,
                    turns,
                    frequency[b, i, ch] * inverse_rate,
                    (frequency[b, nxt, ch] - frequency[b, i, ch]) * inverse_rate * inverse_hop,
                    hop,
                )
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
                advance_turns(
                    sample_turns, hop_turns[i], f_a * inverse_rate, (f_b - f_a) * inverse_rate * inverse_hop, hop
                )
                for step in range(hop):
                    g_level[step] = grad[b, i * hop + step] * (a_a + (a_b - a_a) * (step * inverse_hop))
                    values[step] = 0.0
                    slopes[step] = 0.0
                    across[step] = 0.0
                for w in range(n_waveforms):
                    weight = mix[b, ch, w]
                    if weight == 0.0 and not need_mix:
                        continue
                    grad_mix[b, ch, w] += _adjoint_pass(
                        g_level,
                        values,
                        slopes,
                        across,
                        sample_turns,
                        tables[w, j],
                        tables[w, j1],
                        not same[w, j],
                        c,
                        weight,
                        hop,
                        size,
                    )
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
_FORWARD = compile_kernel(_oscillator_forward)
_BACKWARD = compile_kernel(_oscillator_backward)


def _work(amplitude: Tensor, settings: tuple) -> int:
    """Inner-loop updates of a call: oscillator samples (frames x hop per oscillator)."""
    return amplitude.numel() * settings[0]


class _FusedOscillator(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        frequency: Tensor,
        amplitude: Tensor,
        mix: Tensor,
        turns0: Tensor,
        noise_amplitude: Tensor,
        seeds: Tensor,
        tables: Tensor,
        same: Tensor,
        settings: tuple,
    ) -> Tensor:
        dtype = amplitude.dtype
        numpy = lambda t, d=None: t.detach().contiguous().numpy().astype(d or t.detach().numpy().dtype, copy=False)  # noqa: E731
        batch, n_frames = frequency.shape[:2]
        out = torch.empty(batch, n_frames * settings[0], dtype=dtype)
        arrays = (
            numpy(frequency, np.float64),
            numpy(amplitude),
            numpy(mix),
            numpy(turns0, np.float64),
            numpy(noise_amplitude),
            seeds.contiguous().numpy(),
            numpy(tables.to(dtype)),
            same.numpy(),
        )
        _FORWARD(_work(amplitude, settings), batch, arrays, settings, out.numpy())
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
        grads = (
            np.zeros((batch, n_frames, n_channels)),
            np.zeros((batch, n_frames, n_channels)),
            np.zeros((batch, n_channels, mix.shape[-1])),
            np.zeros((batch, n_channels)),
            np.zeros((batch, n_frames)) if with_noise else np.zeros((0, 0)),
        )
        arrays = (
            *(as64(t) for t in (frequency, amplitude, mix, turns0, noise_amplitude)),
            seeds.contiguous().numpy(),
            as64(tables.to(amplitude.dtype)),
            same.numpy(),
        )
        need_mix = bool(ctx.needs_input_grad[2])
        _BACKWARD(
            _work(amplitude, ctx.settings),
            batch,
            grad.detach().contiguous().numpy(),
            arrays,
            need_mix,
            ctx.settings,
            grads,
        )
        inputs = (frequency, amplitude, mix, turns0, noise_amplitude)
        out = [torch.from_numpy(g).to(t.dtype) if g.size or t.numel() == 0 else None for g, t in zip(grads, inputs)]
        if noise_amplitude.numel() == 0:
            out[4] = None
        return (*out, None, None, None, None)


def fused_oscillator(
    inputs: OscillatorInputs,
    tables: Tensor,
    same: Tensor,
    hop: int,
    sample_rate: float,
    f_min: float,
    bands_per_octave: int,
    noise_offset: int,
) -> Tensor:
    """``(batch, n_frames * hop)``: the oscillators of ``functional.bandlimited`` in one compiled
    pass (CPU tensors; arguments as its PyTorch path takes them, plus ``same``, whether each
    band's table equals the next one's). Differentiable in ``frequency``, ``amplitude``,
    ``mix``, ``turns0`` and ``noise_amplitude`` (first derivatives)."""
    settings = (hop, sample_rate, float(f_min), float(bands_per_octave), int(noise_offset))
    return _FusedOscillator.apply(*inputs, tables, same, settings)
