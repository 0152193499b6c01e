"""Sinusoidal oscillators: a bank of free sinusoids and harmonic (additive) synthesis.

Phase follows DDSP's convention (see ``phase``): sample ``n`` has phase
``state + 2 pi sum_{m <= n} f[m] / sample_rate``, accumulated in float64. Every
partial whose frequency is at or above Nyquist (``|f| >= sample_rate / 2``) is silent at that
sample. Both ops stream: ``state`` takes the phase in and ``return_state=True`` gives the
final phase back, so rendering in blocks equals one call.

``harmonic_synthesis``'s cost: a Clenshaw recurrence over the harmonics (no sine per harmonic
and sample, no ``(batch, n_samples, n_harmonics)`` tensor), forward and backward; on CPU a
compiled pass (numba) that keeps the recurrence in cache, elsewhere elementwise PyTorch ops.
With ``harmonic_shifts`` or ``inharmonicity`` partial ``k``'s phase is no longer ``k`` times
one phase, which the recurrence needs: the partials are then summed one by one, by a compiled
pass on CPU or an oscillator bank (``functional.partials``: 5-10x the recurrence's cost).
Its precision: the phase is exact to float64 over any length; the recurrence itself, in
float32, is accurate to about 3e-5 of the peak up to ~150 harmonics, degrading near phase 0
for very many harmonics (about 1e-3 at 400). Pass float64 controls when that matters:
everything then runs in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_same_batch
from ..validation import check_tensor
from ..validation import half_in_float32
from ._harmonic_sum import NyquistMask
from ._harmonic_sum import harmonic_sum
from .engine import resolve_backend
from .engine.harmonic import fused_harmonic_synthesis
from .partials import check_partial_options
from .partials import partial_envelopes
from .partials import render_partials_fused
from .phase import TWO_PI
from .phase import cumulative_turns
from .phase import initial_turns
from .phase import output_dtype
from .phase import turns_to_radians
from .phase import wrap_turns
from .resampling import UPSAMPLE_METHODS
from .resampling import block_weights
from .resampling import frame_pairs
from .resampling import hop_for

__all__ = ["oscillator_bank", "harmonic_synthesis", "harmonic_frequencies", "normalize_harmonics"]


@half_in_float32
def oscillator_bank(
    frequencies_hz: Tensor,
    amplitudes: Tensor,
    sample_rate: float,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sum of sinusoids with per-sample frequencies and amplitudes.

    ``audio[b, n] = sum_i amplitudes[b, n, i] * sin(phase_i[n])`` where ``phase_i[n]`` is
    ``state[b, i] + 2 pi sum_{m <= n} frequencies_hz[b, m, i] / sample_rate``
    (float64). Oscillators at or above Nyquist are silent at those samples.

    Shape:
        ``frequencies_hz``, ``amplitudes``: ``(batch, n_samples, n_oscillators)`` -> ``(batch, n_samples)``;
        ``state``: ``(batch, n_oscillators)``.

    Args:
        frequencies_hz: instantaneous frequencies in Hz. Differentiable.
        amplitudes: linear amplitudes. Differentiable.
        sample_rate: samples per second, > 0.
        state: each oscillator's phase in radians before the first sample (None: 0).
            Differentiable.
        return_state: also return the phase of the last sample, float64 radians in
            [0, 2 pi); passed as ``state`` to the next block, the blocks concatenate to one call.

    Example:
        >>> f, a = torch.full((1, 6, 2), 1000.0, dtype=torch.float64), torch.ones(1, 6, 2, dtype=torch.float64)
        >>> first, state = oscillator_bank(f[:, :4], a[:, :4], 16000, return_state=True)
        >>> rest = oscillator_bank(f[:, 4:], a[:, 4:], 16000, state=state)
        >>> torch.allclose(torch.cat([first, rest], 1), oscillator_bank(f, a, 16000))
        True
    """
    check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_samples, n_oscillators)")
    check_rank("amplitudes", amplitudes, 3, "(batch, n_samples, n_oscillators)")
    if frequencies_hz.shape != amplitudes.shape:
        raise InputError(
            f"frequencies_hz and amplitudes must have the same shape (batch, n_samples, n_oscillators), "
            f"found {tuple(frequencies_hz.shape)} and {tuple(amplitudes.shape)}"
        )
    check_finite("frequencies_hz", frequencies_hz)
    check_finite("amplitudes", amplitudes)
    sample_rate = check_positive("sample_rate", sample_rate)
    batch, n_samples, n_oscillators = frequencies_hz.shape
    dtype = output_dtype(amplitudes)
    start = initial_turns(state, (batch, n_oscillators), frequencies_hz)
    if n_samples == 0:  # an empty block: no audio, the phase unchanged
        audio, final = amplitudes.new_zeros(batch, 0, dtype=dtype), start
    else:
        turns = cumulative_turns(frequencies_hz, sample_rate, start)
        audible = (frequencies_hz.abs() < sample_rate / 2).to(dtype)
        sines = torch.sin((TWO_PI * wrap_turns(turns)).to(dtype))
        audio, final = (amplitudes.to(dtype) * audible * sines).sum(-1), turns[:, -1]
    return (audio, turns_to_radians(final)) if return_state else audio


@half_in_float32
def harmonic_frequencies(f0_hz: Tensor, n_harmonics: int) -> Tensor:
    """Frequencies of harmonics 1..n_harmonics: ``(..., 1)`` -> ``(..., n_harmonics)``."""
    check_finite("f0_hz", check_tensor("f0_hz", f0_hz))
    check_tensor_last_dim_one("f0_hz", f0_hz)
    n_harmonics = check_positive_int("n_harmonics", n_harmonics)
    harmonics = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    return f0_hz * harmonics


@half_in_float32
def normalize_harmonics(
    harmonic_distribution: Tensor, f0_hz: Tensor | None = None, sample_rate: float | None = None
) -> Tensor:
    """Make each frame's harmonic amplitudes sum to one, optionally after muting those at or
    above Nyquist (so the audible harmonics carry the whole amplitude, as in DDSP).

    A frame whose harmonics are all zero (or all above Nyquist) stays zero.

    Shape:
        ``harmonic_distribution``: ``(batch, n_frames, n_harmonics)``; ``f0_hz``:
        ``(batch, n_frames, 1)`` -> same shape as ``harmonic_distribution``.

    Args:
        harmonic_distribution: non-negative amplitudes per harmonic. Differentiable.
        f0_hz: fundamental per frame, needed with ``sample_rate``.
        sample_rate: when given (with ``f0_hz``), harmonics with ``k |f0| >= sample_rate / 2``
            are zeroed before normalising.

    Example:
        >>> normalize_harmonics(torch.tensor([[[1.0, 3.0]]])).tolist()
        [[[0.25, 0.75]]]
        >>> normalize_harmonics(torch.tensor([[[1.0, 1.0, 2.0]]]), torch.tensor([[[3000.0]]]), 16000).tolist()
        [[[0.5, 0.5, 0.0]]]
    """
    check_rank("harmonic_distribution", harmonic_distribution, 3, "(batch, n_frames, n_harmonics)")
    check_finite("harmonic_distribution", harmonic_distribution)
    if sample_rate is not None:
        if f0_hz is None:
            raise InputError("f0_hz is required to remove harmonics above Nyquist (sample_rate was given)")
        sample_rate = check_positive("sample_rate", sample_rate)
        check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
        if f0_hz.shape[:2] != harmonic_distribution.shape[:2] or f0_hz.shape[-1] != 1:
            raise InputError(
                f"f0_hz must have shape {tuple(harmonic_distribution.shape[:2]) + (1,)} to match "
                f"harmonic_distribution, found {tuple(f0_hz.shape)}"
            )
        check_finite("f0_hz", f0_hz)
        frequencies = harmonic_frequencies(f0_hz.to(harmonic_distribution.dtype), harmonic_distribution.shape[-1])
        harmonic_distribution = harmonic_distribution * (frequencies.abs() < sample_rate / 2)
    total = harmonic_distribution.sum(dim=-1, keepdim=True)
    # Where everything is muted, divide by one instead of zero: the frame stays silent and
    # its gradient finite.
    return harmonic_distribution / torch.where(total == 0, torch.ones_like(total), total)


def check_tensor_last_dim_one(name: str, value: Tensor) -> None:
    if value.shape[-1] != 1:
        raise InputError(f"{name} must have a last dimension of size 1, found shape {tuple(value.shape)}")


def _check_harmonic_inputs(f0_hz: Tensor, amplitudes: Tensor, harmonic_distribution: Tensor) -> None:
    check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
    check_rank("amplitudes", amplitudes, 3, "(batch, n_frames, 1)")
    check_rank("harmonic_distribution", harmonic_distribution, 3, "(batch, n_frames, n_harmonics)")
    check_tensor_last_dim_one("f0_hz", f0_hz)
    check_tensor_last_dim_one("amplitudes", amplitudes)
    check_same_batch(("f0_hz", "amplitudes", "harmonic_distribution"), (f0_hz, amplitudes, harmonic_distribution))
    frames = {
        name: t.shape[1]
        for name, t in (("f0_hz", f0_hz), ("amplitudes", amplitudes), ("harmonic_distribution", harmonic_distribution))
    }
    if len(set(frames.values())) > 1:
        raise InputError(f"frame counts must match ({', '.join(f'{k}: {v}' for k, v in frames.items())})")
    if harmonic_distribution.shape[-1] < 1:
        raise InputError("harmonic_distribution must have at least one harmonic")
    check_finite("f0_hz", f0_hz)
    check_finite("amplitudes", amplitudes)
    check_finite("harmonic_distribution", harmonic_distribution)


#: Hops up to this many samples build the within-hop phase in the working precision (see
#: _interval_turns); longer ones in float64.
_SHORT_HOP = 256

#: A local correction pass (one sine per sample) costs about this many masked recurrence
#: steps; the cheaper way to silence harmonics above Nyquist is chosen per call.
_LOCAL_PASS_COST = 4


def _audible_count(frequency: Tensor, nyquist: float, n_harmonics: int) -> Tensor:
    """Number of harmonics k in 1..n_harmonics with k |f| < nyquist, for |f| given."""
    return (torch.ceil(nyquist / frequency) - 1).clamp_(0, n_harmonics)  # |f| = 0: inf -> n_harmonics


@torch.no_grad()
def _audible_counts(f_a: Tensor, f_b: Tensor, nyquist: float, n_harmonics: int) -> tuple[Tensor, Tensor]:
    """Per interval ``(batch, intervals)``: how many harmonics are audible at every sample and at
    some sample. ``f_a``, ``f_b``: f0 at each interval's start and end (float64); f0 is linear
    in between, so its extremes over an interval are at the ends."""
    magnitude_a, magnitude_b = f_a.abs(), f_b.abs()
    largest = torch.maximum(magnitude_a, magnitude_b)
    smallest = torch.where(f_a * f_b <= 0, torch.zeros_like(f_a), torch.minimum(magnitude_a, magnitude_b))
    return _audible_count(largest, nyquist, n_harmonics), _audible_count(smallest, nyquist, n_harmonics)


@torch.no_grad()
def _nyquist_mask(
    f_a: Tensor, f_b: Tensor, position: Tensor, nyquist: float, n_harmonics: int, dtype: torch.dtype
) -> tuple[NyquistMask, Tensor | None]:
    """Plan the Nyquist masking of the PyTorch engine (harmonic_sum); also return the
    per-column 0/1 coefficient mask ``(n_harmonics, M)`` that its "local" mode needs (None
    otherwise). ``position``: ``(hop, 1, 1)`` sample positions in the interval, in [0, 1)."""
    everywhere, somewhere = _audible_counts(f_a, f_b, nyquist, n_harmonics)
    k_max, k_all = int(somewhere.max()), int(everywhere.min())
    if k_all >= k_max:
        return NyquistMask(k_max, k_max), None
    # Per sample, limit = ceil(nyquist / |f0|): harmonic k is audible where limit > k. The
    # working precision is enough: it only errs for a harmonic within 1e-7 of Nyquist.
    magnitude = torch.addcmul(f_a.to(dtype).unsqueeze(0), position.to(dtype), (f_b - f_a).to(dtype).unsqueeze(0))
    limit = torch.reciprocal_(magnitude.abs_()).mul_(nyquist).ceil_().clamp_(max=n_harmonics + 1)
    limit = limit.reshape(position.shape[0], -1)
    spread = int((somewhere - everywhere).max())
    if spread * _LOCAL_PASS_COST >= k_max - k_all:
        return NyquistMask(k_max, k_all, limit), None
    first = (everywhere + 1).long().reshape(-1)
    last = somewhere.long().reshape(-1)
    harmonics = torch.arange(1, n_harmonics + 1, device=f_a.device)[:, None]
    column_mask = (harmonics <= last[None, :]).to(dtype)
    return NyquistMask(k_max, k_all, limit, first, last, spread), column_mask


def _interval_turns(
    before: Tensor, f_a: Tensor, slope: Tensor, r: Tensor, hop: int, sample_rate: float, dtype: torch.dtype
) -> Tensor:
    """Phase in cycles of every sample, laid out ``(hop, batch, interval)`` (the PyTorch engine)."""
    constant_steps = (r + 1) / sample_rate
    ramp_steps = r * (r + 1) / (2 * hop * sample_rate)
    if hop <= _SHORT_HOP or dtype == torch.float64:
        # Whole intervals accumulate in float64 and are wrapped to [0, 1) before the
        # per-sample part is added in the working precision. For an audible harmonic k
        # (k |f0| < Nyquist) that part, times k, stays below hop / 2 cycles, so float32 keeps
        # every harmonic's phase within hop / 2 * 2 pi * 6e-8 rad (5e-5 rad for hop 256).
        turns = torch.addcmul(
            wrap_turns(before).to(dtype).unsqueeze(0), constant_steps.to(dtype), f_a.to(dtype).unsqueeze(0)
        )
        return turns.addcmul_(ramp_steps.to(dtype), slope.to(dtype).unsqueeze(0))
    # Long hops: the whole phase in float64, wrapped, then cast.
    turns = torch.addcmul(before.unsqueeze(0), constant_steps, f_a.unsqueeze(0))
    return wrap_turns(turns.addcmul_(ramp_steps, slope.unsqueeze(0))).to(dtype)


class _Intervals(NamedTuple):
    """The fundamental over the intervals between frames (float64): ``f_a``, ``f_b`` ``(batch,
    intervals)`` in Hz at each interval's start and end, ``before`` the phase in cycles at its
    start, ``final_turns`` ``(batch,)`` the phase at the last sample (not wrapped)."""

    hop: int
    f_a: Tensor
    f_b: Tensor
    before: Tensor
    final_turns: Tensor


def _intervals(f0_hz: Tensor, hop: int, sample_rate: float, start_turns: Tensor, add_endpoint: bool) -> _Intervals:
    """The phase plan of :func:`harmonic_synthesis` from its checked ``f0_hz`` and start phase."""
    # f0 is linear inside an interval (f_a at its start, f_b at its end), so the running sum of
    # f / sample_rate has a closed form: r + 1 steps of f_a plus r (r + 1) / (2 hop) steps of
    # (f_b - f_a) at sample r of the interval.
    f_a, f_b = frame_pairs(f0_hz[..., 0].to(torch.float64), add_endpoint)
    totals = (hop * f_a + 0.5 * (hop - 1) * (f_b - f_a)) / sample_rate  # cycles per interval
    before = torch.cumsum(totals, dim=1) - totals + start_turns[:, None]
    return _Intervals(hop, f_a, f_b, before, before[:, -1] + totals[:, -1])


def _harmonic_render(
    controls: tuple[Tensor, Tensor, Tensor],
    n_samples: int,
    sample_rate: float,
    start_turns: Tensor,
    amplitude_upsampling: str,
    add_endpoint: bool,
    kernel: bool,
) -> tuple[Tensor, Tensor]:
    """:func:`harmonic_synthesis` on checked ``controls = (f0_hz, amplitudes,
    harmonic_distribution)``: ``(audio, final_turns)``, the fundamental's phase at the last
    sample in float64 cycles ``(batch,)``, not wrapped."""
    f0_hz, amplitudes, harmonic_distribution = controls
    if n_samples == 0:  # an empty block: no audio, the phase unchanged
        dtype = output_dtype(amplitudes, harmonic_distribution)
        return amplitudes.new_zeros(start_turns.shape[0], 0, dtype=dtype), start_turns
    hop = hop_for(n_samples, harmonic_distribution.shape[1], add_endpoint, "the controls")
    phase = _intervals(f0_hz, hop, sample_rate, start_turns, add_endpoint)
    dtype = output_dtype(amplitudes, harmonic_distribution)
    weights = block_weights(hop, amplitude_upsampling, dtype, harmonic_distribution.device)
    render = _render_fused if kernel else _render_torch
    audio = render(phase, amplitudes.to(dtype), harmonic_distribution.to(dtype), weights, sample_rate, add_endpoint)
    return audio, phase.final_turns


def _render_fused(
    phase: _Intervals, amplitudes: Tensor, distribution: Tensor, weights: Tensor, sample_rate: float, add_endpoint: bool
) -> Tensor:
    """``(batch, n_samples)`` by the compiled pass (CPU; controls in the working dtype)."""
    everywhere, somewhere = _audible_counts(phase.f_a, phase.f_b, sample_rate / 2, distribution.shape[-1])
    rows = (phase.before.reshape(-1), phase.f_a.reshape(-1), (phase.f_b - phase.f_a).reshape(-1))
    return fused_harmonic_synthesis(
        rows,
        amplitudes[..., 0],
        distribution,
        weights,
        phase.hop,
        sample_rate,
        int(everywhere.min()),
        int(somewhere.max()),
    )


def _render_torch(
    phase: _Intervals, amplitudes: Tensor, distribution: Tensor, weights: Tensor, sample_rate: float, add_endpoint: bool
) -> Tensor:
    """``(batch, n_samples)`` by PyTorch ops (any device): the Clenshaw sum of ``_harmonic_sum``."""
    batch, _, n_harmonics = distribution.shape
    hop, intervals, dtype = phase.hop, phase.f_a.shape[1], distribution.dtype
    # Frame-rate amplitudes per interval as harmonic-major rows: end value and start - end.
    c_start, c_end = frame_pairs(amplitudes * distribution, add_endpoint)
    end = c_end.permute(2, 0, 1).contiguous().view(n_harmonics, batch * intervals)
    delta = (c_start - c_end).permute(2, 0, 1).contiguous().view(n_harmonics, batch * intervals)
    r = torch.arange(hop, dtype=torch.float64, device=distribution.device)[:, None, None]
    turns = _interval_turns(phase.before, phase.f_a, phase.f_b - phase.f_a, r, hop, sample_rate, dtype)
    mask, column_mask = _nyquist_mask(phase.f_a, phase.f_b, r / hop, sample_rate / 2, n_harmonics, dtype)
    if column_mask is not None:
        end, delta = end * column_mask, delta * column_mask
    audio = harmonic_sum(turns.reshape(hop, batch * intervals), end, delta, weights[:, None], mask)
    return audio.reshape(hop, batch, intervals).permute(1, 2, 0).reshape(batch, hop * intervals)


def _partials(
    controls: tuple[Tensor, Tensor, Tensor],
    partials: tuple[Tensor | None, Tensor | float | None],
    n_samples: int,
    sample_rate: float,
    upsampling: tuple[str, bool],
    state: Tensor | None,
    return_state: bool,
    kernel: bool,
) -> Tensor | tuple[Tensor, Tensor]:
    """:func:`harmonic_synthesis` with shifted or stretched partials: the compiled pass
    (``kernel``) or an oscillator bank over their envelopes; the state is every partial's phase
    ``(batch, n_harmonics)`` (radians)."""
    hop_for(n_samples, controls[2].shape[1], upsampling[1], "the controls")  # the harmonic path's check
    if kernel and n_samples > 0:
        start_turns = initial_turns(state, (controls[2].shape[0], controls[2].shape[2]), controls[0])
        audio, phases = render_partials_fused(controls, partials, n_samples, sample_rate, upsampling, start_turns)
        return (audio, phases) if return_state else audio
    frequency_envelopes, amplitude_envelopes = partial_envelopes(controls, partials, n_samples, upsampling)
    amplitude_envelopes = amplitude_envelopes.to(output_dtype(*controls[1:]))
    return oscillator_bank(
        frequency_envelopes, amplitude_envelopes, sample_rate, state=state, return_state=return_state
    )


@half_in_float32
def harmonic_synthesis(
    f0_hz: Tensor,
    amplitudes: Tensor,
    harmonic_distribution: Tensor,
    n_samples: int,
    sample_rate: float,
    *,
    state: Tensor | None = None,
    return_state: bool = False,
    amplitude_upsampling: str = "window",
    add_endpoint: bool = True,
    backend: str = "auto",
    harmonic_shifts: Tensor | None = None,
    inharmonicity: Tensor | float | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Additive synthesis of harmonics of ``f0_hz`` from frame-rate controls.

    Harmonic ``k`` (1-based) has frequency ``k * f0`` and amplitude
    ``amplitudes * harmonic_distribution[..., k - 1]``; there is no normalisation here (that is
    :class:`torchddsp.synths.Harmonic`'s job). Controls are upsampled to audio rate: ``f0_hz``
    linearly, amplitudes with ``amplitude_upsampling`` (DDSP uses ``"window"``). The phase of
    harmonic ``k`` is ``k`` times the fundamental's phase (accumulated in float64), and
    every harmonic at or above Nyquist is silent at that sample.

    Streaming: with ``return_state=True`` the result is ``(audio, state)``, ``state`` the
    fundamental's phase at the last sample (float64 radians in [0, 2 pi)); pass it as
    ``state`` of the next block. For blocks that concatenate to exactly one offline call, give
    each block its frames plus the first frame of the next block and ``add_endpoint=False``
    (the final block: its frames with the last one repeated).

    Partials off the series (``functional.partials``): at ``k f0 (1 + shift_k) sqrt(1 + B k^2)``,
    muted at Nyquist; either option makes ``state`` every partial's phase ``(batch,
    n_harmonics)`` and sums the partials one by one (module docstring: cost).

    Shape:
        ``f0_hz``, ``amplitudes``: ``(batch, n_frames, 1)``; ``harmonic_distribution``:
        ``(batch, n_frames, n_harmonics)`` -> ``(batch, n_samples)``, where ``n_samples`` is
        ``n_frames * hop`` (``(n_frames - 1) * hop`` when ``add_endpoint=False``);
        ``state``: ``(batch, 1)``.

    Args:
        f0_hz: fundamental frequency in Hz. Differentiable.
        amplitudes: overall amplitude per frame. Differentiable.
        harmonic_distribution: amplitude of each harmonic per frame. Differentiable.
        n_samples: output length; a whole number of hops.
        sample_rate: samples per second, > 0.
        state: the fundamental's phase in radians before the first sample (None: 0).
            Differentiable.
        return_state: also return the phase at the last sample (see Streaming above).
        amplitude_upsampling: ``"window"`` (default) or ``"linear"``.
        add_endpoint: hold the last frame for the final hop (see ``resampling``).
        backend: ``"auto"`` (the compiled pass on CPU when numba is installed, PyTorch ops
            otherwise), ``"numba"`` or ``"torch"``; the two agree to float rounding.
        harmonic_shifts: ``(batch or 1, n_frames or 1, n_harmonics)`` detunes (None). Differentiable.
        inharmonicity: ``B >= 0``: a number, ``(batch or 1, 1)`` or ``(batch or 1, n_frames or 1,
            1)`` (None). Differentiable.

    Example:
        >>> f0 = torch.full((1, 5, 1), 220.0, dtype=torch.float64)
        >>> a, d = torch.ones_like(f0), torch.ones(1, 5, 3, dtype=torch.float64)
        >>> first, state = harmonic_synthesis(f0[:, :3], a[:, :3], d[:, :3], 128, 16000,
        ...                                   add_endpoint=False, return_state=True)
        >>> rest = harmonic_synthesis(f0[:, 2:], a[:, 2:], d[:, 2:], 192, 16000, state=state)
        >>> torch.allclose(torch.cat([first, rest], 1), harmonic_synthesis(f0, a, d, 320, 16000))
        True
    """
    _check_harmonic_inputs(f0_hz, amplitudes, harmonic_distribution)
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    sample_rate = check_positive("sample_rate", sample_rate)
    check_choice("amplitude_upsampling", amplitude_upsampling, UPSAMPLE_METHODS)
    kernel = resolve_backend(backend, harmonic_distribution.device) == "numba"
    controls = (f0_hz, amplitudes, harmonic_distribution)
    partials = check_partial_options(harmonic_shifts, inharmonicity, *harmonic_distribution.shape)
    if any(option is not None for option in partials):
        upsampling = (amplitude_upsampling, add_endpoint)
        return _partials(controls, partials, n_samples, sample_rate, upsampling, state, return_state, kernel)
    start_turns = initial_turns(state, (harmonic_distribution.shape[0], 1), f0_hz)[:, 0]
    options = (amplitude_upsampling, add_endpoint, kernel)
    audio, final_turns = _harmonic_render(controls, n_samples, sample_rate, start_turns, *options)
    return (audio, turns_to_radians(final_turns)[:, None]) if return_state else audio
