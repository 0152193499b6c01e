"""Partials that are not exact multiples of f0: per-harmonic shifts and string inharmonicity.

:func:`~torchddsp.functional.harmonic_synthesis` takes both as options; this module holds their
frequencies and their render. Partial ``k`` (1-based) of fundamental ``f0`` sounds at

    ``f_k = k f0 (1 + shift_k) sqrt(1 + B k^2)``

where ``shift_k`` is Magenta's ``harmonic_shifts`` (a relative detune per harmonic and frame)
and ``B`` the inharmonicity coefficient of a stiff string (Fletcher, 1964: the partials of a
piano string stretch as ``sqrt(1 + B k^2)``, ``B`` from about 1e-5 in the bass to 1e-2 in the
top octave). Both are taken at frame rate and multiplied there, then the frequencies are
upsampled linearly (f0's own rule, so with no shift and ``B = 0`` partial ``k`` runs at exactly
``k`` times the fundamental's phase, as without them).

Why a separate render: the Clenshaw recurrence of the harmonic engines (``_harmonic_sum``, the
compiled ``engine.harmonic``) needs every partial's phase to be ``k`` times one phase. Shifted
or stretched partials each carry their own phase: on CPU the compiled pass of
``engine.partials`` sums them (one float64 complex rotation per partial and sample, no
per-sample tensor), elsewhere (``backend="torch"``) an oscillator bank does (a float64 phase and
a sine per partial and sample, ``(batch, n_samples, n_harmonics)`` tensors). Measured on one
busy CPU thread (1 s at 16 kHz, 60 partials, 250 frames): compiled 2.3 ms forward and 9 ms
forward + backward, the PyTorch bank 35 and 50-85 ms, the harmonic engine without shifts 0.4
and 0.8 ms.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_range
from ..validation import check_rank
from ..validation import check_tensor
from .engine.partials import fused_partials
from .phase import TWO_PI
from .resampling import block_weights
from .resampling import frame_intervals
from .resampling import frame_pairs
from .resampling import upsample

__all__ = ["partial_frequencies", "partial_envelopes", "render_partials_fused", "check_partial_options"]


def _frame_rate(name: str, value: Tensor, batch: int, n_frames: int, channels: int) -> Tensor:
    """``value`` as ``(batch or 1, n_frames or 1, channels)``; raises naming ``name`` otherwise."""
    shape = tuple(value.shape)
    if shape[0] not in (1, batch) or shape[1] not in (1, n_frames) or shape[2] != channels:
        raise InputError(
            f"{name} must have shape ({batch} or 1, {n_frames} or 1, {channels}) to match f0_hz's "
            f"(batch, n_frames) and the harmonics, found {shape}"
        )
    return value


def check_partial_options(
    harmonic_shifts: Tensor | None, inharmonicity: Tensor | float | None, batch: int, n_frames: int, n_harmonics: int
) -> tuple[Tensor | None, Tensor | float | None]:
    """Validate ``harmonic_shifts`` ``(batch or 1, n_frames or 1, n_harmonics)`` and
    ``inharmonicity`` (a number >= 0, ``(batch or 1, 1)`` per item or ``(batch or 1, n_frames
    or 1, 1)`` per frame, >= 0); return them with ``inharmonicity`` 3-d (a number kept)."""
    if harmonic_shifts is not None:
        check_rank("harmonic_shifts", harmonic_shifts, 3, "(batch, n_frames, n_harmonics)")
        check_finite("harmonic_shifts", harmonic_shifts)
        _frame_rate("harmonic_shifts", harmonic_shifts, batch, n_frames, n_harmonics)
    if inharmonicity is None:
        return harmonic_shifts, None
    if isinstance(inharmonicity, numbers.Real) and not isinstance(inharmonicity, bool):
        return harmonic_shifts, float(check_range("inharmonicity", float(inharmonicity), 0.0))
    stiffness = check_tensor("inharmonicity", inharmonicity)
    check_rank("inharmonicity", stiffness, (2, 3), "(batch, 1) per item or (batch, n_frames, 1) per frame")
    if stiffness.dim() == 2:
        stiffness = stiffness.unsqueeze(1)
    _frame_rate("inharmonicity", stiffness, batch, n_frames, 1)
    check_finite("inharmonicity", stiffness)
    check_range("inharmonicity", stiffness, 0.0)
    return harmonic_shifts, stiffness


def partial_frequencies(
    f0_hz: Tensor, n_harmonics: int, harmonic_shifts: Tensor | None = None, inharmonicity: Tensor | float | None = None
) -> Tensor:
    """Frequencies of partials ``1..n_harmonics``: ``k f0 (1 + shift_k) sqrt(1 + B k^2)`` (module
    docstring), in the promoted dtype of the inputs.

    Shape:
        ``f0_hz`` ``(batch, n_frames, 1)``; ``harmonic_shifts`` ``(batch or 1, n_frames or 1,
        n_harmonics)``; ``inharmonicity`` a number, ``(batch or 1, 1)`` or ``(batch or 1,
        n_frames or 1, 1)`` -> ``(batch, n_frames, n_harmonics)``.

    Args:
        f0_hz: fundamental in Hz. Differentiable.
        n_harmonics: number of partials.
        harmonic_shifts: relative detune of each partial (0: exact harmonic). Differentiable.
        inharmonicity: the stiffness coefficient ``B`` >= 0. Differentiable.

    Example:
        >>> f0 = torch.full((1, 1, 1), 100.0, dtype=torch.float64)
        >>> [round(f, 3) for f in partial_frequencies(f0, 3, inharmonicity=0.01).flatten().tolist()]
        [100.499, 203.961, 313.209]
        >>> partial_frequencies(f0, 2, harmonic_shifts=torch.tensor([[[0.0, 0.5]]])).flatten().tolist()
        [100.0, 300.0]
    """
    check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
    check_finite("f0_hz", f0_hz)
    batch, n_frames, _ = f0_hz.shape
    shifts, stiffness = check_partial_options(harmonic_shifts, inharmonicity, batch, n_frames, n_harmonics)
    k = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    frequencies = f0_hz * k
    if shifts is not None:
        frequencies = frequencies * (1.0 + shifts)
    if stiffness is not None:
        frequencies = frequencies * torch.sqrt(1.0 + stiffness * k**2)
    return frequencies


def partial_envelopes(
    controls: tuple[Tensor, Tensor, Tensor],
    options: tuple[Tensor | None, Tensor | float | None],
    n_samples: int,
    upsampling: tuple[str, bool],
) -> tuple[Tensor, Tensor]:
    """The audio-rate frequency (float64 Hz) and amplitude envelopes ``(batch, n_samples,
    n_harmonics)`` of the partials that ``harmonic_synthesis`` sums with shifts or
    inharmonicity, from its checked ``controls = (f0_hz, amplitudes, harmonic_distribution)``,
    ``options = (harmonic_shifts, inharmonicity)`` and ``upsampling = (amplitude_upsampling,
    add_endpoint)``."""
    f0_hz, amplitudes, distribution = controls
    method, add_endpoint = upsampling
    # Frequencies in float64, as every phase: a float32 frame value would be a fixed detune.
    shifts, stiffness = options
    shifts = None if shifts is None else shifts.to(torch.float64)
    stiffness = stiffness.to(torch.float64) if isinstance(stiffness, Tensor) else stiffness
    frequencies = partial_frequencies(f0_hz.to(torch.float64), distribution.shape[-1], shifts, stiffness)
    frequency_envelopes = upsample(frequencies, n_samples, "linear", add_endpoint)
    return frequency_envelopes, upsample(amplitudes * distribution, n_samples, method, add_endpoint)


def render_partials_fused(
    controls: tuple[Tensor, Tensor, Tensor],
    options: tuple[Tensor | None, Tensor | float | None],
    n_samples: int,
    sample_rate: float,
    upsampling: tuple[str, bool],
    start_turns: Tensor,
) -> tuple[Tensor, Tensor]:
    """:func:`partial_envelopes` and the oscillator bank in one compiled pass (CPU; the
    ``engine.partials`` kernel): ``(audio, phases)``, every partial's phase at the last sample
    ``(batch, n_harmonics)`` in radians, wrapped. ``start_turns`` ``(batch, n_harmonics)``: the
    phases before the first sample in float64 cycles. ``n_samples`` > 0, a whole number of hops."""
    f0_hz, amplitudes, distribution = controls
    method, add_endpoint = upsampling
    batch, n_frames, n_harmonics = distribution.shape
    hop = n_samples // frame_intervals(n_frames, add_endpoint)
    shifts, stiffness = options
    shifts = None if shifts is None else shifts.to(torch.float64)
    stiffness = stiffness.to(torch.float64) if isinstance(stiffness, Tensor) else stiffness
    frequencies = partial_frequencies(f0_hz.to(torch.float64), n_harmonics, shifts, stiffness)
    f_a, f_b = frame_pairs(frequencies.expand(batch, n_frames, n_harmonics), add_endpoint)
    # The running sum of a linear frequency over each interval (as harmonic_synthesis's plan).
    totals = (hop * f_a + 0.5 * (hop - 1) * (f_b - f_a)) / sample_rate
    before = torch.cumsum(totals, dim=1) - totals + start_turns[:, None, :]
    c_start, c_end = frame_pairs(amplitudes * distribution, add_endpoint)
    weights = block_weights(hop, method, distribution.dtype, distribution.device)
    phase = (before.reshape(-1, n_harmonics), f_a.reshape(-1, n_harmonics), (f_b - f_a).reshape(-1, n_harmonics))
    amplitude = (c_start.reshape(-1, n_harmonics), c_end.reshape(-1, n_harmonics))
    audio = fused_partials(phase, amplitude, weights, hop, sample_rate).view(batch, -1)
    final = before[:, -1] + totals[:, -1]
    return audio, TWO_PI * (final - torch.floor(final.detach()))
