"""Parametric equaliser: a low shelf, ``n_peaks`` peaking bands and a high shelf, each an Audio
EQ Cookbook biquad (:func:`torchddsp.functional.biquad`), run as one cascade by
:func:`torchddsp.functional.sosfilt` (exact recursion and gradients)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..functional import biquad
from ..functional import sosfilt
from ..functional.controls import Control
from ..processors import Processor

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..processors import StreamOptions
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["ParametricEQ"]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class ParametricEQ(Processor):
    """N-band parametric EQ: ``[lowshelf] + n_peaks x peak + [highshelf]``, in that order.

    Three ways to drive it:

    - ``trainable=True``: frequencies, gains and Qs are learned parameters shared by
      the batch; call ``eq(audio)``.
    - ``trainable=False`` (default): ``eq(audio, frequency_hz, gain_db, q)`` with controls in their units,
      each ``(batch or 1, n_bands)`` (fixed) or ``(batch or 1, n_frames, n_bands)`` (time-varying,
      coefficients interpolated linearly between frames; sections stay stable).
    - ``trainable=False, raw_inputs=True``: the same ports take raw network outputs, mapped as
      the learned parameters are: ``frequency = min_hz (max_hz / min_hz) ** sigmoid(raw)``,
      ``gain = max_gain_db tanh(raw)``, ``q = min_q (max_q / min_q) ** sigmoid(raw)``, so every
      raw value gives a valid, stable filter.

    Args:
        sample_rate: in Hz.
        n_peaks: peaking bands between the shelves.
        low_shelf, high_shelf: include the shelves.
        trainable, raw_inputs: see above.
        min_hz, max_hz: frequency range of the raw maps (``max_hz`` default ``0.45 * sample_rate``).
        max_gain_db: gain range of the raw map (+-).
        min_q, max_q: Q range of the raw map.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``; ``n_bands = n_peaks +
        low_shelf + high_shelf`` (``modes`` lists their biquad modes).

    Example:
        >>> eq = ParametricEQ(16000, n_peaks=1)
        >>> eq.modes
        ('lowshelf', 'peak', 'highshelf')
        >>> frequency_hz, gain_db, q = torch.tensor([[100.0, 1000.0, 5000.0]]), torch.zeros(1, 3), torch.ones(1, 3)
        >>> eq(torch.randn(2, 1600), frequency_hz, gain_db, q).shape
        torch.Size([2, 1600])

    Streaming: the render options ``state`` ``(batch, n_bands, 4)`` and ``return_state`` are
    :func:`~torchddsp.functional.sosfilt`'s (``eq(block, ..., state=state, return_state=True)``
    returns ``(audio, state)``; fixed bands continue exactly as one call).
    """

    input_names = ("audio", "frequency_hz", "gain_db", "q")
    render_options = ("state", "return_state")

    def __init__(
        self,
        sample_rate: float = 16000,
        n_peaks: int = 3,
        low_shelf: bool = True,
        high_shelf: bool = True,
        trainable: bool = False,
        raw_inputs: bool = False,
        min_hz: float = 20.0,
        max_hz: float | None = None,
        max_gain_db: float = 24.0,
        min_q: float = 0.1,
        max_q: float = 20.0,
    ):
        super().__init__(trainable)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        n_peaks = check_positive_int("n_peaks", n_peaks, minimum=0)
        self.modes = (("lowshelf",) if low_shelf else ()) + ("peak",) * n_peaks + (("highshelf",) if high_shelf else ())
        if not self.modes:
            raise InputError("ParametricEQ needs at least one band (n_peaks >= 1 or a shelf)")
        self.min_hz = check_positive("min_hz", min_hz)
        self.max_hz = check_positive("max_hz", 0.45 * self.sample_rate if max_hz is None else max_hz)
        if not self.min_hz < self.max_hz < self.sample_rate / 2:
            raise InputError(
                f"need 0 < min_hz < max_hz < Nyquist ({self.sample_rate / 2} Hz), found {min_hz}, {self.max_hz}"
            )
        self.max_gain_db = check_positive("max_gain_db", max_gain_db)
        self.min_q, self.max_q = check_positive("min_q", min_q), check_positive("max_q", max_q)
        if not self.min_q < self.max_q:
            raise InputError(f"min_q must be below max_q, found {min_q}, {max_q}")
        self.raw_inputs = raw_inputs and not trainable
        n_bands = len(self.modes)
        # Initial learned EQ (raw values): bands spread log-evenly over the range, 0 dB (the
        # identity), Q 0.7071.
        positions = torch.linspace(0.15, 0.85, n_bands)
        q_position = math.log(0.7071 / self.min_q) / math.log(self.max_q / self.min_q)
        self.learnable("frequency_hz", torch.log(positions / (1 - positions)), "frequency_raw")
        self.learnable("gain_db", torch.zeros(n_bands), "gain_raw")
        self.learnable("q", torch.full((n_bands,), _logit(min(max(q_position, 1e-3), 1 - 1e-3))), "q_raw")

    @property
    def n_bands(self) -> int:
        return len(self.modes)

    def _map_raw(self, frequency: Tensor, gain: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        frequency_hz = self.min_hz * (self.max_hz / self.min_hz) ** torch.sigmoid(frequency)
        gain_db = self.max_gain_db * torch.tanh(gain)
        q = self.min_q * (self.max_q / self.min_q) ** torch.sigmoid(q)
        return frequency_hz, gain_db, q

    def controls(
        self, audio: Tensor, frequency_hz: Tensor | None = None, gain_db: Tensor | None = None, q: Tensor | None = None
    ) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)  # named as the module's input, not sosfilt's x
        values: tuple[Tensor, ...] = (
            self.learned_or_given("frequency_hz", frequency_hz),
            self.learned_or_given("gain_db", gain_db),
            self.learned_or_given("q", q),
        )
        if self.trainable:  # learned raw values (n_bands,), shared by the batch
            values = tuple(v.to(audio.dtype)[None] for v in self._map_raw(*values))
        else:
            for name, value in zip(("frequency_hz", "gain_db", "q"), values):
                check_rank(name, value, (2, 3), "(batch, n_bands) or (batch, n_frames, n_bands)")
                check_finite(name, value)
                if value.shape[-1] != self.n_bands:
                    raise InputError(
                        f"{name} must have {self.n_bands} bands {list(self.modes)} in its last "
                        f"dimension, found {value.shape[-1]}"
                    )
            if self.raw_inputs:
                values = self._map_raw(*values)
        return {"audio": audio, "frequency_hz": values[0], "gain_db": values[1], "q": values[2]}

    def sections(self, frequency_hz: Tensor, gain_db: Tensor, q: Tensor) -> Tensor:
        """Second-order sections ``(..., n_bands, 6)`` of the bands, for :func:`sosfilt`."""
        return torch.stack(
            [
                biquad(mode, frequency_hz[..., i], q[..., i], self.sample_rate, gain_db[..., i])
                for i, mode in enumerate(self.modes)
            ],
            dim=-2,
        )

    def render(
        self, audio: Tensor, frequency_hz: Tensor, gain_db: Tensor, q: Tensor, **options: Unpack[StreamOptions[Tensor]]
    ) -> Tensor | tuple[Tensor, Tensor]:
        sections = self.sections(frequency_hz, gain_db, q).to(audio.dtype)
        # Frame-rate bands give (batch, n_frames, n_bands, 6): their rate is stated, never inferred.
        return sosfilt(audio, Control.per_frame(sections) if sections.dim() == 4 else sections, **options)
