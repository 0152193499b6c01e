"""Parametric equaliser: a low shelf, ``n_peaks`` peaking bands and a high shelf, each an Audio
EQ Cookbook biquad (:func:`torchddsp.functional.biquad`), run as one cascade by
:func:`torchddsp.functional.sosfilt` (exact recursion and gradients)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..functional import biquad, sosfilt
from ..validation import check_finite, check_positive, check_positive_int, check_rank
from ..processors import Processor
from ..validation import InputError

__all__ = ["ParametricEQ"]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class ParametricEQ(Processor):
    """N-band parametric EQ: ``[lowshelf] + n_peaks x peak + [highshelf]``, in that order.

    Three ways to drive it:

    - ``trainable=True`` (default): frequencies, gains and Qs are learned parameters shared by
      the batch; call ``eq(audio)``.
    - ``trainable=False``: ``eq(audio, frequency_hz, gain_db, q)`` with controls in their units,
      each ``(batch or 1, n_bands)`` (fixed) or ``(batch or 1, n_frames, n_bands)`` (time-varying,
      coefficients interpolated linearly between frames; sections stay stable).
    - ``trainable=False, raw_inputs=True``: the same ports take raw network outputs, mapped as
      the learned parameters are: ``frequency = f_min (f_max / f_min) ** sigmoid(raw)``,
      ``gain = max_gain_db tanh(raw)``, ``q = q_min (q_max / q_min) ** sigmoid(raw)``, so every
      raw value gives a valid, stable filter.

    Args:
        sample_rate: in Hz.
        n_peaks: peaking bands between the shelves.
        low_shelf, high_shelf: include the shelves.
        trainable, raw_inputs: see above.
        f_min, f_max: frequency range of the raw maps (``f_max`` default ``0.45 * sample_rate``).
        max_gain_db: gain range of the raw map (+-).
        q_min, q_max: Q range of the raw map.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``; ``n_bands = n_peaks +
        low_shelf + high_shelf`` (``kinds`` lists them).
    """

    def __init__(self, sample_rate: float = 16000, n_peaks: int = 3, low_shelf: bool = True, high_shelf: bool = True,
                 trainable: bool = True, raw_inputs: bool = False, f_min: float = 20.0, f_max: float | None = None,
                 max_gain_db: float = 24.0, q_min: float = 0.1, q_max: float = 20.0):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        n_peaks = check_positive_int("n_peaks", n_peaks, minimum=0)
        self.kinds = (("lowshelf",) if low_shelf else ()) + ("peak",) * n_peaks + (("highshelf",) if high_shelf else ())
        if not self.kinds:
            raise InputError("ParametricEQ needs at least one band (n_peaks >= 1 or a shelf)")
        self.f_min = check_positive("f_min", f_min)
        self.f_max = check_positive("f_max", 0.45 * self.sample_rate if f_max is None else f_max)
        if not self.f_min < self.f_max < self.sample_rate / 2:
            raise InputError(f"need 0 < f_min < f_max < Nyquist ({self.sample_rate / 2} Hz), found {f_min}, {self.f_max}")
        self.max_gain_db = check_positive("max_gain_db", max_gain_db)
        self.q_min, self.q_max = check_positive("q_min", q_min), check_positive("q_max", q_max)
        if not self.q_min < self.q_max:
            raise InputError(f"q_min must be below q_max, found {q_min}, {q_max}")
        self.trainable = trainable
        self.raw_inputs = raw_inputs and not trainable
        n_bands = len(self.kinds)
        self.input_names = ("audio",) if trainable else ("audio", "frequency_hz", "gain_db", "q")
        if trainable:
            # Initial EQ: bands spread log-evenly over the range, 0 dB (the identity), Q 0.7071.
            positions = torch.linspace(0.15, 0.85, n_bands)
            self.frequency_raw = nn.Parameter(torch.log(positions / (1 - positions)))
            self.gain_raw = nn.Parameter(torch.zeros(n_bands))
            q_position = math.log(0.7071 / self.q_min) / math.log(self.q_max / self.q_min)
            self.q_raw = nn.Parameter(torch.full((n_bands,), _logit(min(max(q_position, 1e-3), 1 - 1e-3))))

    @property
    def n_bands(self) -> int:
        return len(self.kinds)

    def _map_raw(self, frequency: Tensor, gain: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        frequency_hz = self.f_min * (self.f_max / self.f_min) ** torch.sigmoid(frequency)
        gain_db = self.max_gain_db * torch.tanh(gain)
        q = self.q_min * (self.q_max / self.q_min) ** torch.sigmoid(q)
        return frequency_hz, gain_db, q

    def controls(self, audio: Tensor, frequency_hz: Tensor | None = None, gain_db: Tensor | None = None,  # type: ignore[override]
                 q: Tensor | None = None) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)  # named as the module's input, not sosfilt's x
        if self.trainable:
            if frequency_hz is not None or gain_db is not None or q is not None:
                raise InputError("a trainable ParametricEQ learns its bands: call it with the audio only")
            values = self._map_raw(self.frequency_raw, self.gain_raw, self.q_raw)
            values = tuple(v.to(audio.dtype)[None] for v in values)
        else:
            if frequency_hz is None or gain_db is None or q is None:
                raise InputError("frequency_hz, gain_db and q are required (this ParametricEQ is not trainable)")
            values = (frequency_hz, gain_db, q)
            for name, value in zip(("frequency_hz", "gain_db", "q"), values):
                check_rank(name, value, (2, 3), "(batch, n_bands) or (batch, n_frames, n_bands)")
                check_finite(name, value)
                if value.shape[-1] != self.n_bands:
                    raise InputError(f"{name} must have {self.n_bands} bands {list(self.kinds)} in its last "
                                     f"dimension, found {value.shape[-1]}")
            if self.raw_inputs:
                values = self._map_raw(*values)
        return {"audio": audio, "frequency_hz": values[0], "gain_db": values[1], "q": values[2]}

    def sections(self, frequency_hz: Tensor, gain_db: Tensor, q: Tensor) -> Tensor:
        """Second-order sections ``(..., n_bands, 6)`` of the bands, for :func:`sosfilt`."""
        return torch.stack([biquad(kind, frequency_hz[..., i], q[..., i], self.sample_rate, gain_db[..., i])
                            for i, kind in enumerate(self.kinds)], dim=-2)

    def render(self, audio: Tensor, frequency_hz: Tensor, gain_db: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        return sosfilt(audio, self.sections(frequency_hz, gain_db, q).to(audio.dtype))

    def forward(self, audio: Tensor, frequency_hz: Tensor | None = None, gain_db: Tensor | None = None,  # type: ignore[override]
                q: Tensor | None = None) -> Tensor:
        return self.render(**self.controls(audio, frequency_hz, gain_db, q))
