"""Resampling: frame-rate controls to audio rate (``upsample``) and audio between rates (``resample``).

Frame alignment (one convention for the whole library, DDSP's): frame ``i`` of a control
sits at sample ``i * hop``; sample ``n`` between frames ``i`` and ``i + 1`` blends them with a
weight that depends only on ``n - i * hop``. With ``add_endpoint=True`` (the default) the
last frame is held for the final hop, so ``n_samples = n_frames * hop``; with
``add_endpoint=False`` the last frame is only the end point of the final interval, so
``n_samples = (n_frames - 1) * hop``. The second form is what a streaming block with one
frame of look-ahead uses: blocks rendered that way and concatenated equal one offline call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from .layout import flatten_audio
from .layout import restore_audio

__all__ = ["upsample", "resample", "resample_blocks", "resample_half_width", "UPSAMPLE_METHODS"]

UPSAMPLE_METHODS = ("linear", "window")
# resample()'s filter by default: 24 zero crossings, cut-off at 0.945 of the lower Nyquist, Kaiser beta 14.
ZERO_CROSSINGS, ROLLOFF, BETA = 24, 0.945, 14.0


def block_weights(hop_size: int, method: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Weights ``w[d]`` of the earlier frame for the ``d``-th sample of a hop, shape ``(hop_size,)``.

    The later frame gets ``1 - w[d]``. ``"linear"``: ``1 - d / hop``. ``"window"``: the Hann
    overlap-add of DDSP (windows of ``2 * hop`` samples, 50% overlap), which reduces to
    ``cos(pi d / (2 hop)) ** 2``; the two weights always sum to one, so a constant stays constant.
    """
    position = torch.arange(hop_size, dtype=torch.float64) / hop_size
    if method == "linear":
        weights = 1.0 - position
    else:
        weights = torch.cos(0.5 * math.pi * position) ** 2
    return weights.to(dtype=dtype, device=device)


def frame_intervals(n_frames: int, add_endpoint: bool) -> int:
    """Number of hops the frames span (see the module docstring)."""
    return n_frames if add_endpoint else n_frames - 1


def frame_pairs(x: Tensor, add_endpoint: bool) -> tuple[Tensor, Tensor]:
    """Start and end frame of every interval: two tensors of shape ``(batch, n_intervals, ...)``."""
    if add_endpoint:
        x = torch.cat([x, x[:, -1:]], dim=1)
    return x[:, :-1], x[:, 1:]


def hop_for(n_samples: int, n_frames: int, add_endpoint: bool, what: str) -> int:
    """Integer hop size, or a ValueError saying which ``n_samples`` the frames allow."""
    intervals = frame_intervals(n_frames, add_endpoint)
    if intervals < 1:
        needed = 1 if add_endpoint else 2
        raise InputError(f"{what} need at least {needed} frame(s) with add_endpoint={add_endpoint}, found {n_frames}")
    if n_samples % intervals:
        raise InputError(
            f"n_samples must be a multiple of the {intervals} frame intervals of {what} "
            f"(n_frames={n_frames}, add_endpoint={add_endpoint}), found n_samples={n_samples}"
        )
    return n_samples // intervals


def upsample(x: Tensor, n_samples: int, method: str = "linear", add_endpoint: bool = True) -> Tensor:
    """Upsample frame-rate controls to audio rate.

    Shape:
        ``x``: ``(batch, n_frames, channels)`` -> ``(batch, n_samples, channels)``.

    Args:
        x: frame-rate controls. Differentiable.
        n_samples: output length. ``"window"`` needs it to be a whole number of hops
            (``n_frames * hop``, or ``(n_frames - 1) * hop`` without end point); ``"linear"``
            takes any length, placing sample ``n`` at frame position ``n / hop``.
        method: ``"linear"`` interpolation, or ``"window"``: Hann-window overlap-add (DDSP's
            choice for amplitudes: smoother than linear at frame boundaries). Both keep a
            constant signal constant.
        add_endpoint: hold the last frame for the final hop (see the module docstring).

    Raises:
        ValueError: wrong rank, non-finite values, or an ``n_samples`` the frames cannot map to.

    Example:
        >>> upsample(torch.tensor([[[0.0], [1.0]]]), 4).flatten().tolist()
        [0.0, 0.5, 1.0, 1.0]
        >>> upsample(torch.tensor([[[0.0], [1.0]]]), 4, add_endpoint=False).flatten().tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    check_rank("x", x, 3, "(batch, n_frames, channels)")
    check_finite("x", x)
    n_samples = check_positive_int("n_samples", n_samples, minimum=0)
    check_choice("method", method, UPSAMPLE_METHODS)
    batch, n_frames, channels = x.shape
    if n_samples == 0:  # an empty block (functional/__init__.py: zero length gives empty output)
        return x.new_zeros(batch, 0, channels)
    if n_frames < 1:
        raise InputError("x must have at least one frame")
    intervals = frame_intervals(n_frames, add_endpoint)
    if intervals < 1:
        raise InputError(f"x needs at least 2 frames when add_endpoint=False, found {n_frames}")
    if method == "window" or n_samples % intervals == 0:
        hop = hop_for(n_samples, n_frames, add_endpoint, "x")
        start, end = frame_pairs(x, add_endpoint)
        weights = block_weights(hop, method, x.dtype, x.device)[None, None, :, None]
        out = end.unsqueeze(2) + weights * (start - end).unsqueeze(2)
        return out.reshape(batch, n_samples, channels)
    # Linear interpolation at a fractional hop: gather the two neighbouring frames.
    position = torch.arange(n_samples, dtype=torch.float64, device=x.device) * (intervals / n_samples)
    index = torch.clamp(position.floor().long(), max=n_frames - 1)
    following = torch.clamp(index + 1, max=n_frames - 1)
    fraction = (position - index).to(x.dtype)[None, :, None]
    return x[:, index] + fraction * (x[:, following] - x[:, index])


@functools.lru_cache(maxsize=16)
def _sinc_resample_table(
    up: int, down: int, zero_crossings: int, rolloff: float, beta: float
) -> tuple[np.ndarray, int]:
    """Polyphase windowed-sinc taps in float64: array ``(up, 2 * half_width)`` and ``half_width``.

    Output sample ``n`` sits at input position ``q = n * down / up``; with ``r = n % up`` its
    fractional part is ``(r * down % up) / up``, and it reads the ``2 * half_width`` input
    samples ``floor(q) - half_width + 1 .. floor(q) + half_width`` with weights ``table[r]``.
    Only the non-zero taps are stored, so nearly coprime rates (large ``up``) cost no more
    per output sample than simple ratios.
    """
    cutoff = rolloff * min(1.0, up / down)  # in units of the input Nyquist frequency
    half_width = int(math.ceil(zero_crossings / cutoff))  # input samples on each side
    fraction = (np.arange(up) * down % up) / up
    distance = fraction[:, None] + half_width - 1 - np.arange(2 * half_width)[None, :]
    # Low-pass at `cutoff` (relative to the input Nyquist), unit gain at DC, Kaiser window.
    relative = np.clip(distance / half_width, -1.0, 1.0)
    table = cutoff * np.sinc(cutoff * distance) * np.i0(beta * np.sqrt(1.0 - relative**2)) / np.i0(beta)
    return table, half_width


def resample(
    audio: Tensor,
    orig_sample_rate: int,
    new_sample_rate: int,
    zero_crossings: int = ZERO_CROSSINGS,
    rolloff: float = ROLLOFF,
    beta: float = BETA,
) -> Tensor:
    """Band-limited resampling between any two integer sample rates.

    A Kaiser-windowed sinc low-pass (cut-off at ``rolloff`` times the lower Nyquist frequency)
    evaluated in polyphase form: each output sample reads only its ``2 * half_width`` input
    neighbours (``half_width = ceil(zero_crossings / cutoff)`` input samples), so the cost per
    output sample does not depend on how the rates relate. The output is time-aligned with
    the input (zero phase): output sample ``n`` is the signal at time
    ``n / new_sample_rate``. Edges are treated as zero-padded.

    Shape:
        ``audio``: ``(..., n_samples)`` -> ``(..., ceil(n_samples * new / orig))``; zero
        samples give zero samples, ``(..., 0)`` (as ``scipy.signal.resample_poly`` does).

    Args:
        audio: audio to resample. Differentiable.
        orig_sample_rate, new_sample_rate: rates in Hz; positive integers.
        zero_crossings: sinc zero crossings kept on each side (filter length and quality).
        rolloff: cut-off as a fraction of the lower Nyquist frequency, in (0, 1].
        beta: Kaiser window shape (stop-band attenuation; 14 gives about 120 dB).

    Returns:
        The resampled audio; the input itself when the rates are equal.

    Example:
        >>> tuple(resample(torch.zeros(2, 3, 160), 16000, 24000).shape)
        (2, 3, 240)
    """
    flat, leading = flatten_audio("audio", audio)
    check_finite("audio", flat)
    orig = _integer_rate("orig_sample_rate", orig_sample_rate)
    new = _integer_rate("new_sample_rate", new_sample_rate)
    zero_crossings = check_positive_int("zero_crossings", zero_crossings)
    if not 0.0 < rolloff <= 1.0:
        raise InputError(f"rolloff must be in (0, 1], found {rolloff!r}")
    check_positive("beta", beta)
    if orig == new:
        return audio
    return restore_audio(_resample(flat, orig, new, zero_crossings, float(rolloff), float(beta)), leading)


def _resample(audio: Tensor, orig: int, new: int, zero_crossings: int, rolloff: float, beta: float) -> Tensor:
    """:func:`resample` of checked ``audio`` ``(batch, n_samples)`` between different rates."""
    if audio.shape[-1] == 0:
        return audio.new_zeros(audio.shape[0], 0)
    divisor = math.gcd(orig, new)
    up, down = new // divisor, orig // divisor
    n_in = audio.shape[-1]
    n_out = -(-n_in * up // down)
    table_np, half_width = _sinc_resample_table(up, down, zero_crossings, float(rolloff), float(beta))
    table = torch.as_tensor(table_np, dtype=audio.dtype, device=audio.device)
    if up * (2 * half_width + down) <= _CONVOLUTION_LIMIT:
        return _resample_by_convolution(audio, table, half_width, up, down, n_out)
    return _resample_by_gather(audio, table, half_width, up, down, n_out)


def resample_blocks(
    blocks: Iterable[Tensor],
    orig_sample_rate: int,
    new_sample_rate: int,
    zero_crossings: int = ZERO_CROSSINGS,
    rolloff: float = ROLLOFF,
    beta: float = BETA,
) -> Iterator[Tensor]:
    """Resample a long signal given as consecutive blocks, in memory bounded by the block size.

    The concatenation of the yielded blocks equals :func:`resample` of the concatenation of
    ``blocks`` (the same sums of the same products; tested equal to float32 rounding): each
    output sample reads its ``2 * half_width`` input neighbours, so the blocks are resampled
    with that much input kept from the previous ones, from a start that is a whole number of
    the ratio's input periods (``down`` samples: then the block's phases are the signal's).
    Output is yielded as soon as all the input it reads has arrived; yielded blocks may be
    empty or of any length.

    Shape:
        each block ``(..., n)`` (the same leading dimensions) -> blocks ``(..., m)``.

    Args: as :func:`resample`.

    Example:
        >>> blocks = resample_blocks([torch.randn(2, 160), torch.randn(2, 160)], 16000, 8000)
        >>> [tuple(block.shape) for block in blocks]  # 320 samples in, 160 out
        [(2, 55), (2, 80), (2, 25)]
    """
    orig = _integer_rate("orig_sample_rate", orig_sample_rate)
    new = _integer_rate("new_sample_rate", new_sample_rate)
    divisor = math.gcd(orig, new)
    up, down = new // divisor, orig // divisor
    half_width = resample_half_width(orig, new, zero_crossings, rolloff, beta) if orig != new else 0
    options = dict(zero_crossings=zero_crossings, rolloff=rolloff, beta=beta)
    kept: Tensor | None = None  # the input from global sample `kept_start` on
    kept_start, n_in, n_done = 0, 0, 0
    leading = None
    for block in blocks:
        if orig == new:
            flatten_audio("block", block)
            yield block
            continue
        block, block_leading = flatten_audio("block", block)
        if leading is not None and block_leading != leading:
            raise InputError(
                f"every block must have the leading dimensions of the first, {tuple(leading)}, "
                f"found {tuple(block_leading)}"
            )
        leading = block_leading
        kept = block if kept is None else torch.cat([kept, block], dim=-1)
        n_in += block.shape[-1]
        # Output t reads inputs up to floor(t * down / up) + half_width: those below n_in are here.
        n_ready = max(n_done, -(-(n_in - half_width) * up // down))
        yield restore_audio(_resample_span(kept, kept_start, n_done, n_ready, orig, new, up, down, options), leading)
        n_done = n_ready
        # Keep what the next output reads (from floor(n_done * down / up) - half_width + 1),
        # from a multiple of `down` so that the kept input starts on the signal's phase grid.
        first_needed = (n_done * down) // up - half_width + 1
        new_start = max(0, first_needed // down * down)
        kept, kept_start = kept[..., new_start - kept_start :], new_start
    if kept is not None and leading is not None and orig != new:  # a block arrived: both are set
        n_total = -(-n_in * up // down)  # beyond the input, zeros: as the whole-signal resample
        yield restore_audio(_resample_span(kept, kept_start, n_done, n_total, orig, new, up, down, options), leading)


def resample_half_width(
    orig_sample_rate: int,
    new_sample_rate: int,
    zero_crossings: int = ZERO_CROSSINGS,
    rolloff: float = ROLLOFF,
    beta: float = BETA,
) -> int:
    """Reach of :func:`resample` in input samples: output sample ``n`` (at input position
    ``q = n * orig / new``) reads the inputs ``floor(q) - half_width + 1 .. floor(q) + half_width``."""
    orig = _integer_rate("orig_sample_rate", orig_sample_rate)
    new = _integer_rate("new_sample_rate", new_sample_rate)
    divisor = math.gcd(orig, new)
    zero_crossings = check_positive_int("zero_crossings", zero_crossings)
    return _sinc_resample_table(new // divisor, orig // divisor, zero_crossings, float(rolloff), float(beta))[1]


def _resample_span(
    kept: Tensor, kept_start: int, first: int, stop: int, orig: int, new: int, up: int, down: int, options: dict
) -> Tensor:
    """Outputs ``first .. stop - 1`` of the whole signal from its input ``kept`` starting at
    sample ``kept_start`` (a multiple of ``down``: output ``m`` of ``kept`` is output
    ``m + kept_start * up / down`` of the whole)."""
    if stop <= first:
        return kept.new_zeros(kept.shape[0], 0)
    offset = kept_start // down * up
    return resample(kept, orig, new, **options)[..., first - offset : stop - offset]


#: Largest polyphase convolution kernel (``up * (2 * half_width + down)`` taps) worth
#: building; beyond it (nearly coprime rates) each output gathers its own taps instead.
_CONVOLUTION_LIMIT = 1 << 21


def _resample_by_convolution(audio: Tensor, table: Tensor, half_width: int, up: int, down: int, n_out: int) -> Tensor:
    """All ``up`` phases as the channels of one strided convolution: fast for simple ratios.

    Channel ``r`` of output block ``i`` (output sample ``i * up + r``) convolves input samples
    ``i * down - half_width .. i * down + half_width + down - 1``; its ``2 * half_width`` taps
    from ``table[r]`` start at offset ``floor(r * down / up)``, the rest are zero.
    """
    width = 2 * half_width + down
    offsets = torch.arange(up, device=audio.device) * down // up
    kernel = audio.new_zeros(up, width)
    columns = offsets[:, None] + torch.arange(2 * half_width, device=audio.device)[None, :]
    kernel.scatter_(1, columns, table)
    n_blocks = -(-n_out // up)
    pad_right = max(0, (n_blocks - 1) * down + width - half_width - audio.shape[-1])
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (half_width - 1, pad_right + 1))
    blocks = torch.nn.functional.conv1d(padded, kernel.unsqueeze(1), stride=down)  # (batch, up, blocks)
    return blocks[..., :n_blocks].transpose(1, 2).reshape(audio.shape[0], -1)[:, :n_out]


def _resample_by_gather(audio: Tensor, table: Tensor, half_width: int, up: int, down: int, n_out: int) -> Tensor:
    """Each output sample gathers its ``2 * half_width`` inputs: cost independent of ``up``."""
    taps = torch.arange(2 * half_width, device=audio.device)
    padded = torch.nn.functional.pad(audio, (half_width, half_width + 1))
    pieces = []
    # Chunks bound the (batch, chunk, taps) gather to a few tens of MB.
    chunk = max(1, (1 << 22) // (audio.shape[0] * 2 * half_width))
    for start in range(0, n_out, chunk):
        n = torch.arange(start, min(start + chunk, n_out), device=audio.device)
        first = (n * down) // up + 1  # floor(q) - half_width + 1, shifted by the left pad
        windows = padded[:, first[:, None] + taps[None, :]]  # (batch, chunk, taps)
        pieces.append(torch.einsum("bct,ct->bc", windows, table[n % up]))
    return torch.cat(pieces, dim=1)


def _integer_rate(name: str, rate: object) -> int:
    value = check_positive(name, rate)  # type: ignore[arg-type]
    if not float(value).is_integer():
        raise InputError(f"{name} must be a whole number of Hz, found {rate!r}")
    return int(value)
