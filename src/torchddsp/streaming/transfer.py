"""Block-by-block timbre transfer, as a real-time host calls it: any block size, changing from
call to call; every block out has the block's length, delayed by a fixed latency.

    stream = TransferStream(load_model("violin"), f0_method="yin", min_hz=100.0)
    state = stream.start()
    for block in host_blocks:                      # (n,) or (1, n), n >= 0, at the model's rate
        out, state = stream.process(block, state)  # (1, n): the offline output, latency_samples late

The chain: streaming features (:mod:`torchddsp.streaming.features`: f0 and loudness of each
frame as soon as the samples it reads have arrived) -> the fixed adjustment
(:func:`~torchddsp.transfer.adjust.apply_adjustment`, planned once from stated input
statistics, or no auto-adjust) -> the model's chunked renderer
(:func:`~torchddsp.models.chunked.render_chunk`: decoder GRU state, harmonic phase, noise
overlap-add, reverb tail) -> a queue that hands out exactly the block's length.

The output equals the offline :func:`~torchddsp.transfer.transfer` with the same settings
(:meth:`TransferStream.offline_options`), delayed by :attr:`TransferStream.latency_samples`:
the features' look-ahead (the samples a frame reads after its centre), plus the synthesis wait
(samples between frame ``i`` and ``i + 1`` need frame ``i + 1``; noise lags its frames by half its
filter window) and one hop less one sample for a block ending anywhere inside a hop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

import torch
from torch import Tensor

from ..models.chunked import RenderState
from ..models.chunked import noise_window
from ..models.chunked import render_chunk
from ..models.chunked import start_render
from ..transfer.adjust import Adjustment
from ..transfer.adjust import apply_adjustment
from ..transfer.adjust import plan_adjustment
from ..transfer.in_memory import LoadedModel
from ..transfer.in_memory import load_model
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from ..validation import data_checks
from .features import FeatureSettings
from .features import FeatureState
from .features import latency_samples as feature_latency
from .features import start_features
from .features import step_features

__all__ = ["TransferStream", "StreamState"]


class StreamState(NamedTuple):
    """Everything a transfer stream carries between blocks (never modified in place).

    ``features``: the feature stream's state; ``render``: the renderer's
    (:class:`~torchddsp.models.chunked.RenderState`); ``queue``: ``(1, n)`` rendered samples not
    yet handed out (it starts as ``latency_samples`` zeros, the silence before the stream).
    """

    features: FeatureState
    render: RenderState
    queue: Tensor


@dataclass
class TransferStream:
    """A trained model's timbre transfer as a stream (see the module docstring).

    Args:
        model: a :class:`~torchddsp.transfer.LoadedModel`, a bundled name or a run folder
            (a model without z encoder).
        f0_method: ``"yin"`` (default: short look-ahead) or ``"crepe"``; ``crepe_model``.
        min_hz, max_hz, threshold: YIN's search range and threshold. The default 100 Hz keeps
            YIN's look-ahead at 15 ms (40 Hz: 38 ms).
        loudness_n_fft: the loudness window (None: 512 at 16 kHz).
        crepe_convolution: ``"direct"`` or ``"fft"`` (see :class:`~torchddsp.streaming.features.FeatureSettings`).
        input_statistics: the input's statistics for auto-adjust (as
            :func:`~torchddsp.transfer.adjust.feature_statistics` gives them, e.g. of a reference
            recording of the same player); None: no automatic adjustment (a stream cannot
            measure the whole input first). ``auto_adjust=False`` ignores them.
        pitch_shift, loudness_shift, quiet_db: as :func:`~torchddsp.transfer.adjust_features`.
        reverb, reverb_ir, seed: as :func:`~torchddsp.transfer.transfer`.

    Example:
        >>> stream = TransferStream("flute")
        >>> state = stream.start()
        >>> out, state = stream.process(torch.zeros(100), state)
        >>> out.shape, stream.latency_samples, round(1000 * stream.latency_s, 2)
        (torch.Size([1, 100]), 319, 19.94)
    """

    model: LoadedModel | str
    f0_method: str = "yin"
    crepe_model: str = "tiny"
    min_hz: float = 100.0
    max_hz: float | None = None
    threshold: float = 0.15
    loudness_n_fft: int | None = None
    crepe_convolution: str = "direct"
    input_statistics: dict[str, Any] | None = None
    auto_adjust: bool = True
    pitch_shift: float = 0.0
    loudness_shift: float = 0.0
    quiet_db: float = 20.0
    reverb: bool = True
    reverb_ir: Tensor | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.loaded = self.model if isinstance(self.model, LoadedModel) else load_model(self.model)
        config = self.loaded.config.model
        self.features = FeatureSettings(
            config.sample_rate,
            config.frame_rate,
            self.f0_method,
            self.crepe_model,
            self.min_hz,
            self.max_hz,
            self.threshold,
            self.loudness_n_fft,
            self.crepe_convolution,
        )
        self.adjustment: Adjustment = plan_adjustment(
            self.loaded.statistics,
            self.input_statistics or {},
            self.auto_adjust,
            self.pitch_shift,
            self.loudness_shift,
            self.quiet_db,
        )
        hop = config.hop_size
        render_lag = max(0, noise_window(self.loaded.model) // 2 - hop)
        self.latency_samples = feature_latency(self.features) + hop - 1 + render_lag
        # A host's first block must not pay for compiling kernels or allocating: warm up once.
        self.process(torch.zeros(self.latency_samples + 2 * hop), self.start())

    @property
    def sample_rate(self) -> int:
        return self.loaded.sample_rate

    @property
    def latency_s(self) -> float:
        """The algorithmic latency in seconds (the host's block comes on top)."""
        return self.latency_samples / self.sample_rate

    def offline_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~torchddsp.transfer.transfer` that render the same
        audio offline (without the latency)."""
        return {
            "f0_method": self.f0_method,
            "crepe_model": self.crepe_model,
            "yin_options": {"min_hz": self.min_hz, "max_hz": self.max_hz, "threshold": self.threshold},
            "loudness_n_fft": self.loudness_n_fft,
            "input_statistics": self.input_statistics or {},
            "auto_adjust": self.auto_adjust,
            "pitch_shift": self.pitch_shift,
            "loudness_shift": self.loudness_shift,
            "quiet_db": self.quiet_db,
            "reverb": self.reverb,
            "reverb_ir": self.reverb_ir,
            "seed": self.seed,
        }

    def start(self) -> StreamState:
        """The state before the first block: silence before the stream."""
        render = start_render(self.loaded.model, seed=self.seed, reverb=self.reverb, reverb_ir=self.reverb_ir)
        return StreamState(
            start_features(self.features), render, torch.zeros(1, self.latency_samples, dtype=torch.float32)
        )

    @torch.no_grad()
    def process(self, audio: Tensor, state: StreamState | None = None) -> tuple[Tensor, StreamState]:
        """Take the next block; return as many output samples, and the new state.

        Shape: ``audio`` ``(n,)`` or ``(1, n)``, any ``n >= 0``, float32 at :attr:`sample_rate`
        -> ``(1, n)``.
        """
        if not isinstance(audio, Tensor):
            raise TypeError(f"audio must be a torch.Tensor, found {type(audio).__name__}")
        audio = audio.reshape(1, -1) if audio.dim() == 1 else audio
        check_rank("audio", audio, 2, "(n_samples,) or (1, n_samples)")
        if audio.shape[0] != 1:
            raise InputError(f"audio must be one mono signal, found {audio.shape[0]} signals")
        state = self.start() if state is None else state
        if not isinstance(state, StreamState):
            raise TypeError(f"state must be a StreamState from start(), found {type(state).__name__}")
        check_finite("audio", audio)
        # The block is checked; the values made from it are the library's own: no data check
        # (a NaN scan per op and a host sync each) inside the real-time path.
        with data_checks(False):
            frames, features = step_features(audio.float(), state.features, self.features)
            render, queue = state.render, state.queue
            if frames["f0_hz"].shape[1] > 0:
                f0_hz, loudness_db = apply_adjustment(
                    self.adjustment, frames["f0_hz"], frames["loudness_db"], frames["confidence"]
                )
                out, render = render_chunk(self.loaded.model, render, f0_hz, loudness_db)
                queue = torch.cat([queue, out["audio"].float().cpu()], dim=1)
        n = audio.shape[1]
        if queue.shape[1] < n:  # the latency formula guarantees this never happens
            raise RuntimeError(f"stream underflow: {queue.shape[1]} samples ready, {n} asked")
        return queue[:, :n], StreamState(features, render, queue[:, n:])
