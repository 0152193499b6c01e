"""Feedback delay network reverb as a processor (:func:`torchddsp.functional.fdn_impulse_response`
computes its impulse response; the audio is convolved with it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..functional import fft_convolve
from ..functional.fdn import fdn_delays
from ..functional.fdn import fdn_impulse_response
from ..functional.fdn import orthogonal_matrix
from ..processors import Processor
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["FDNReverb"]


class FDNReverb(Processor):
    """Feedback delay network reverb with per-band reverberation times.

    ``N`` delay lines (prime lengths between ``min_delay_s`` and ``max_delay_s`` unless
    ``delays`` is given), an orthogonal mixing matrix ``Q0 exp(P - P^T)`` (``Q0`` a seeded
    random orthogonal matrix, ``P`` learnable, zero at start), input and output gains, and one
    reverberation time per band (bands split at ``band_edges_hz``). With ``trainable=True`` the
    gains, ``P`` and the reverberation times (as logarithms, so they stay positive) are learned;
    otherwise they are fixed buffers.

    Args:
        sample_rate: in Hz.
        rt60_s: reverberation time in seconds, one number or one per band (low to high).
        band_edges_hz: ``len(rt60_s) - 1`` frequencies between the bands.
        n_lines: number of delay lines (8 by default).
        delays: explicit line lengths in samples (overrides ``n_lines`` and the delay range).
        min_delay_s, max_delay_s: range of the default lengths in seconds.
        reverb_length: impulse response length in samples (default: 1.5 x the longest RT60,
            where the tail is 90 dB down).
        wet_gain: gain of the reverberated signal; ``add_dry`` adds the input.
        trainable: learn gains, mixing and decay.
        seed: of the mixing matrix and the gains' random signs.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``. ``impulse_response()`` gives
        the ``(1, reverb_length)`` response, ``controls(audio)`` the settings in their units
        (``rt60_s``, which ``render`` takes: ``render(audio, rt60_s)`` reverberates with other
        reverberation times, one set or one per batch item, through the same network).

    Example:
        >>> reverb = FDNReverb(16000, rt60_s=0.1)
        >>> reverb(torch.randn(2, 1600)).shape, reverb.impulse_response().shape
        (torch.Size([2, 1600]), torch.Size([1, 2401]))
        >>> audio, tail = reverb(torch.randn(2, 64), return_state=True)
        >>> tail.shape  # what the first 64 samples still add to the following ones
        torch.Size([2, 2400])

    Streaming (render options ``state`` and ``return_state``, latency 0): the state is the tail
    ``(batch, reverb_length - 1)`` of the wet signal that the blocks so far still add to the
    next ``reverb_length - 1`` samples (overlap-add; zeros, at rest, by default). Each block is
    convolved with the response in full and its tail carried, so the blocks equal one call. The
    response is computed once per setting and reused while the settings and ``rt60_s`` stay
    the same and nothing asks for gradients (a block of a few samples would otherwise pay for
    the whole network's solve).
    """

    input_names = ("audio",)
    render_options = ("state", "return_state")
    # Buffers, or parameters when trainable (registered in __init__).
    delays: Tensor
    base_matrix: Tensor
    mixing: Tensor
    input_gains: Tensor
    output_gains: Tensor
    log_rt60: Tensor

    def __init__(
        self,
        sample_rate: float = 16000,
        rt60_s: float | Sequence[float] = 1.0,
        band_edges_hz: Sequence[float] = (),
        n_lines: int = 8,
        delays: Sequence[int] | None = None,
        min_delay_s: float = 0.015,
        max_delay_s: float = 0.045,
        reverb_length: int | None = None,
        wet_gain: float = 1.0,
        add_dry: bool = True,
        trainable: bool = False,
        seed: int = 0,
    ):
        super().__init__(trainable)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        rt60 = [float(rt60_s)] if isinstance(rt60_s, (int, float)) else [float(v) for v in rt60_s]
        if not rt60 or any(not (math.isfinite(v) and v > 0) for v in rt60):
            raise InputError(f"rt60_s must be one or more positive finite times in seconds, found {rt60_s}")
        self.band_edges_hz = tuple(float(e) for e in band_edges_hz)
        if len(self.band_edges_hz) != len(rt60) - 1:
            raise InputError(
                f"band_edges_hz must hold len(rt60_s) - 1 = {len(rt60) - 1} frequencies, "
                f"found {len(self.band_edges_hz)}"
            )
        lengths = (
            list(delays) if delays is not None else fdn_delays(n_lines, self.sample_rate, min_delay_s, max_delay_s)
        )
        if any(int(d) != d or d < 1 for d in lengths):
            raise InputError(f"delays must be integers >= 1 (samples), found {lengths}")
        self.register_buffer("delays", torch.tensor([int(d) for d in lengths]))
        n_lines = len(lengths)
        self.reverb_length = check_positive_int(
            "reverb_length",
            reverb_length if reverb_length is not None else int(1.5 * max(rt60) * self.sample_rate) + 1,
            minimum=2,
        )
        self.add_dry = add_dry
        if not math.isfinite(wet_gain):
            raise InputError(f"wet_gain must be finite, found {wet_gain}")
        self.wet_gain = float(wet_gain)
        generator = torch.Generator().manual_seed(seed)
        base, _ = torch.linalg.qr(torch.randn(n_lines, n_lines, generator=generator, dtype=torch.float64))
        self.register_buffer("base_matrix", base.float())
        signs = lambda: torch.where(torch.rand(n_lines, generator=generator) < 0.5, -1.0, 1.0)  # noqa: E731
        values = {
            "mixing": torch.zeros(n_lines, n_lines),
            "input_gains": signs() / math.sqrt(n_lines),
            "output_gains": signs() / math.sqrt(n_lines),
            "log_rt60": torch.log(torch.tensor(rt60)),
        }
        for name, value in values.items():
            self.setting(name, value)

    def feedback_matrix(self) -> Tensor:
        """The orthogonal ``(N, N)`` mixing matrix."""
        return self.base_matrix @ orthogonal_matrix(self.mixing)

    def impulse_response(self, rt60_s: Tensor | None = None) -> Tensor:
        """Impulse response (wet gain included), ``(1, reverb_length)`` for the module's own
        reverberation times, or for ``rt60_s`` in seconds, ``(n_bands,)`` -> ``(1, reverb_length)``
        or ``(batch, n_bands)`` -> ``(batch, reverb_length)``. Times longer than the module's are
        cut at ``reverb_length``."""
        if rt60_s is None:
            rt60_s = torch.exp(self.log_rt60)
        elif rt60_s.shape[-1:] != self.log_rt60.shape:
            raise InputError(
                f"rt60_s must hold one time per band ({self.log_rt60.shape[0]}), found shape {tuple(rt60_s.shape)}"
            )
        ir = fdn_impulse_response(
            self.delays,
            self.feedback_matrix(),
            self.input_gains,
            self.output_gains,
            rt60_s,
            self.sample_rate,
            self.reverb_length,
            self.band_edges_hz,
        )
        return self.wet_gain * ir

    def controls(self, audio: Tensor) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        return {"audio": audio, "rt60_s": torch.exp(self.log_rt60)}

    def render(
        self, audio: Tensor, rt60_s: Tensor, *, state: Tensor | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Reverberate ``audio`` ``(batch, n_samples)`` with the network's response for
        ``rt60_s`` (seconds per band, ``(n_bands,)`` or ``(batch, n_bands)``); ``state`` and
        ``return_state`` stream it (class docstring)."""
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)
        if state is None and not return_state:
            ir = self.impulse_response(rt60_s).to(audio.dtype)
            wet = fft_convolve(audio, ir, padding="same", delay_compensation=0)
            return wet + audio if self.add_dry else wet
        wet, tail = _overlap_add(audio, self._response(rt60_s).to(audio.dtype), state)
        out = wet + audio if self.add_dry else wet
        return (out, tail) if return_state else out

    def _response(self, rt60_s: Tensor) -> Tensor:
        """:meth:`impulse_response`, reused from the previous call while its inputs are the same
        and no gradient is asked for (parameters change in place, so their versions are compared)."""
        tensors = [rt60_s, *self.parameters(), *self.buffers()]
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return self.impulse_response(rt60_s)
        key = (
            tuple(rt60_s.shape),
            tuple(rt60_s.detach().flatten().tolist()),
            tuple((id(t), t._version, t.dtype, t.device) for t in tensors[1:]),
            self.wet_gain,
            self.reverb_length,
        )
        cached = self.__dict__.get("_cached_response")
        if cached is None or cached[0] != key:
            cached = (key, self.impulse_response(rt60_s).detach())
            self.__dict__["_cached_response"] = cached
        return cached[1]


def _overlap_add(audio: Tensor, ir: Tensor, tail: Tensor | None) -> tuple[Tensor, Tensor]:
    """One block of a streamed convolution: ``audio`` ``(batch, n)`` convolved in full with
    ``ir`` ``(batch or 1, L)``, plus the ``tail`` ``(batch, L - 1)`` the earlier blocks left
    (zeros when None) -> the block's ``(batch, n)`` and the next tail ``(batch, L - 1)``."""
    batch, n_samples = audio.shape
    size = ir.shape[-1] - 1
    if tail is None:
        tail = audio.new_zeros(batch, size)
    elif tuple(tail.shape) != (batch, size):
        raise InputError(f"state must have shape ({batch}, reverb_length - 1 = {size}), found {tuple(tail.shape)}")
    check_finite("state", tail)
    full = audio.new_zeros(batch, n_samples + size)
    if n_samples:
        full = fft_convolve(audio, ir, padding="valid").expand(batch, -1)
    full = torch.cat([full[:, :size] + tail.to(audio.dtype), full[:, size:]], dim=1)
    return full[:, :n_samples], full[:, n_samples:]
