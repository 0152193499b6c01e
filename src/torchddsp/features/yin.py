"""YIN fundamental-frequency estimation in pure PyTorch (de Cheveigné & Kawahara, JASA 2002).

Per frame: the difference function ``d(tau) = sum_j (x_j - x_{j+tau})^2`` over half the frame
(computed from FFT autocorrelations), its cumulative-mean normalisation ``d'(tau)``, the first
dip below ``threshold`` (its local minimum; the global minimum when none dips that far), and
parabolic interpolation around it. Confidence is ``1 - d'(tau)`` clipped to [0, 1]: near 1
for a clean periodic frame, low for noise and silence. Vectorised over batch and frames.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_positive
from .framing import centered_frames

__all__ = ["yin", "yin_context"]


FRAMES_PER_BLOCK = 1024


def _difference(frames: Tensor, max_lag: int) -> Tensor:
    """``d(tau)`` for ``tau = 0 .. max_lag`` over the first ``size - max_lag`` samples of each frame."""
    size = frames.shape[-1]
    window = size - max_lag
    # A circular correlation of this size is exact for lags 0..max_lag: head sample j meets
    # sample j + tau < size, which never wraps around.
    n_fft = 1 << (size - 1).bit_length()
    frames_fft = torch.fft.rfft(frames, n_fft)
    head_fft = torch.fft.rfft(frames[..., :window], n_fft)
    # Cross-correlation of the head with the whole frame: r(tau) = sum_{j<window} x_j x_{j+tau}.
    correlation = torch.fft.irfft(frames_fft * head_fft.conj(), n_fft)[..., : max_lag + 1]
    energy = torch.nn.functional.pad(torch.cumsum(frames.square(), dim=-1), (1, 0))
    lags = torch.arange(max_lag + 1, device=frames.device)
    head_energy = energy[..., window : window + 1]  # sum_{j<window} x_j^2
    shifted_energy = energy[..., lags + window] - energy[..., lags]  # sum_{j<window} x_{j+tau}^2
    difference = head_energy + shifted_energy - 2.0 * correlation
    # Where the compared spans are identical (digital silence, a constant after the mean is
    # removed) d is 0, but the FFT leaves rounding noise, up to ~5 eps of the frame's energy:
    # YIN would choose among lags by that noise, differently in each runtime or FFT library.
    # Values below 256 eps of the energy are that noise: set to 0.
    floor = 256.0 * torch.finfo(frames.dtype).eps * energy[..., -1:]
    return torch.where(difference > floor, difference, torch.zeros_like(difference))


def _refine_centred(frames: Tensor, window: int, lag: Tensor) -> Tensor:
    """Period near ``lag`` measured on a span centred on each frame's time.

    For lag ``tau`` the difference function compares ``x[t : t + window]`` with
    ``x[t + tau : t + tau + window]``: audio from ``t`` to ``t + window + tau``. Starting at
    ``t = centre - (window + tau) / 2`` centres that span on the frame's time. ``d`` is
    evaluated there at ``lag - 1, lag, lag + 1`` and a parabola through them gives the period.

    ``frames``: ``(batch, n_frames, size)`` starting ``window`` samples before each centre and
    long enough for every span; ``lag``: ``(batch, n_frames)`` integer periods.
    """
    start = window - torch.div(window + lag, 2, rounding_mode="floor")  # within the frame
    index = start[..., None] + torch.arange(window, device=lag.device)
    base = torch.gather(frames, -1, index)
    left, centre, right = (
        # Squares and sums in float64: the period's float32 rounding is then the same in every
        # runtime (a sum's order changes the last bit, and f0's last bit moves the phase for good).
        (base - torch.gather(frames, -1, index + (lag + step)[..., None])).double().square().sum(dim=-1)
        for step in (-1, 0, 1)
    )
    curvature = left - 2.0 * centre + right
    shift = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-30), torch.zeros_like(centre))
    return lag.double() + shift.clamp(-0.5, 0.5)


def yin(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    min_hz: float = 40.0,
    max_hz: float | None = None,
    threshold: float = 0.15,
    n_frames: int | None = None,
) -> tuple[Tensor, Tensor]:
    """f0 and confidence per frame with YIN (see the module docstring). Not differentiable
    (a choice among lags): computed without gradient.

    Frame ``i`` is centred on time ``i / frame_rate``: the lag is chosen on a frame of
    ``2 * sample_rate / min_hz`` samples centred there, and the period is then refined on the
    span that lag compares, re-centred on the same time. On silence the confidence is 0 (and
    f0 the top of the search range).

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``f0_hz``, ``confidence``: ``(batch, n_frames)``.

    Args:
        audio: signal at ``sample_rate`` (any rate; higher rates resolve high pitches finer).
        sample_rate: in Hz.
        frame_rate: frames per second.
        min_hz, max_hz: search range in Hz, ``0 < min_hz < max_hz < sample_rate / 4``; ``max_hz=None``
            means 2000 Hz, or just below ``sample_rate / 4`` for low rates.
        threshold: absolute threshold on the normalised difference (YIN's step 4).
        n_frames: frames to return (default ``floor(n_samples * frame_rate / sample_rate)``).

    Example:
        >>> f0_hz, confidence = yin(torch.zeros(2, 1600), 16000, frame_rate=250)
        >>> f0_hz.shape, confidence.shape
        (torch.Size([2, 25]), torch.Size([2, 25]))
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    check_positive("min_hz", min_hz)
    if max_hz is None:
        max_hz = min(2000.0, 0.99 * sample_rate / 4)
    if not min_hz < max_hz < sample_rate / 4:
        raise InputError(
            f"need min_hz < max_hz < sample_rate / 4 ({sample_rate / 4}), found min_hz={min_hz}, max_hz={max_hz}"
        )
    check_positive("threshold", threshold)
    with torch.no_grad():
        return _yin(audio, sample_rate, frame_rate, min_hz, max_hz, threshold, n_frames)


def _cut_size(window: int) -> int:
    """Samples of audio each frame reads: ``window`` before its centre, the rest from it on."""
    # From `window` samples before each frame's time to `window + 2` after the end of the
    # last span the refinement may read.
    return 2 * window + window // 2 + 2


def yin_context(sample_rate: float, min_hz: float = 40.0) -> tuple[int, int]:
    """Samples a YIN frame reads around its centre ``c``: ``[c - before, c + after)``, returned
    as ``(before, after)``. Audio outside that span does not change the frame's result (what
    chunked analysis of long recordings relies on)."""
    window = math.ceil(check_positive("sample_rate", sample_rate) / check_positive("min_hz", min_hz)) + 1
    return window, _cut_size(window) - window


def _yin(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float,
    min_hz: float,
    max_hz: float,
    threshold: float,
    n_frames: int | None,
) -> tuple[Tensor, Tensor]:
    max_lag = math.ceil(sample_rate / min_hz)
    min_lag = max(2, math.floor(sample_rate / max_hz))
    window = max_lag + 1
    # One cut serves both passes (see _cut_size).
    cut = centered_frames(audio, _cut_size(window), sample_rate, frame_rate, n_frames, lead=window)
    dtype = torch.float64 if cut.dtype == torch.float64 else torch.float32
    cut = cut.to(dtype)
    # Frames are independent: analysed FRAMES_PER_BLOCK at a time, the intermediates (a dozen
    # arrays of frames x lags) stay a few tens of MB whatever the signal's length.
    pieces = [
        _yin_frames(cut[..., i : i + FRAMES_PER_BLOCK, :], sample_rate, window, min_lag, max_lag, threshold)
        for i in range(0, cut.shape[-2], FRAMES_PER_BLOCK)
    ]
    if not pieces:
        empty = cut.new_zeros(cut.shape[:-1])
        return empty.to(audio.dtype), empty.to(audio.dtype)
    f0_hz, confidence = (torch.cat(values, dim=-1) for values in zip(*pieces))
    return f0_hz.to(audio.dtype), confidence.to(audio.dtype)


def _yin_frames(
    cut: Tensor, sample_rate: float, window: int, min_lag: int, max_lag: int, threshold: float
) -> tuple[Tensor, Tensor]:
    """f0 and confidence of frames already cut, ``(..., n_frames, cut_size)``."""
    # The mean in float64, rounded once: its last bit then does not depend on a runtime's sum order.
    cut = cut - cut.mean(dim=-1, keepdim=True, dtype=torch.float64).to(cut.dtype)
    # Lag choice on a frame starting window / 2 before the time: the compared spans are then
    # late by at most half a period, before the refinement centres them exactly.
    frames = cut[..., window // 2 : window // 2 + 2 * window]
    difference = _difference(frames, window)  # one extra lag for the parabola at max_lag

    lags = torch.arange(1, difference.shape[-1], device=cut.device, dtype=difference.dtype)
    mean_so_far = torch.cumsum(difference[..., 1:], dim=-1) / lags
    normalised = difference[..., 1:] / mean_so_far.clamp_min(torch.finfo(difference.dtype).tiny)
    normalised = torch.where(mean_so_far > 0, normalised, torch.ones_like(normalised))
    normalised = torch.cat([torch.ones_like(normalised[..., :1]), normalised], dim=-1)  # d'(0) = 1

    search = normalised[..., min_lag : max_lag + 1]
    below = search < threshold
    any_below = below.any(dim=-1, keepdim=True)
    first = torch.where(
        any_below, below.float().argmax(dim=-1, keepdim=True), torch.zeros_like(any_below, dtype=torch.long)
    )
    # Inside the first run of lags below the threshold, take its minimum; with no run, the global one.
    index = torch.arange(search.shape[-1], device=cut.device)
    after_first = index >= first
    # The run ends at the first lag after it not below (a count of those, not a cumprod: the
    # exported step's runtimes lack an integer cumulative product).
    blocked = (~below & after_first).to(torch.int64)
    run = (torch.cumsum(blocked, dim=-1) == 0) & after_first
    candidates = torch.where(run | ~any_below, search, torch.full_like(search, math.inf))
    lag = candidates.argmin(dim=-1, keepdim=True) + min_lag

    # Confidence from the normalised difference at the (parabola-refined) minimum.
    left = normalised.gather(-1, lag - 1)
    centre = normalised.gather(-1, lag)
    right = normalised.gather(-1, (lag + 1).clamp_max(normalised.shape[-1] - 1))
    curvature = left - 2.0 * centre + right
    shift = torch.where(curvature > 0, 0.5 * (left - right) / curvature.clamp_min(1e-12), torch.zeros_like(centre))
    minimum = (centre - 0.25 * (left - right) * shift.clamp(-0.5, 0.5))[..., 0]
    confidence = (1.0 - minimum).clamp(0.0, 1.0)

    # The period itself, on a span re-centred on the frame time for the chosen lag.
    period = _refine_centred(cut, window, lag[..., 0])
    return (sample_rate / period).to(cut.dtype), confidence
