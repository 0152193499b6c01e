"""Dynamics processors: :class:`Compressor` (also a limiter and a downward expander).

Thin module over :func:`torchddsp.functional.dynamics.compress`; the settings are module state,
learnable when ``trainable=True`` (stored through maps that keep them valid whatever the
optimiser does: ``ratio = 1 + softplus``, times as logarithms, ``knee = softplus``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torch import nn

from ..functional.dynamics import DYNAMICS_MODES
from ..functional.dynamics import LEVEL_DETECTORS
from ..functional.dynamics import compress
from ..processors import Processor

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..processors import StreamOptions
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive
from ..validation import check_rank

__all__ = ["Compressor", "PRESETS"]

#: The settings :meth:`Compressor.limiter` and :meth:`Compressor.expander` start from (keywords
#: given to them override these).
PRESETS: dict[str, dict[str, Any]] = {
    "limiter": {"threshold_db": -1.0, "ratio": float("inf"), "knee_db": 1.0, "attack_s": 0.001, "release_s": 0.05},
    "expander": {"threshold_db": -40.0, "ratio": 2.0, "attack_s": 0.001, "mode": "expander"},
}


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class Compressor(Processor):
    """Feed-forward compressor with soft knee and attack/release ballistics.

    ``Compressor.limiter(...)`` and ``Compressor.expander(...)`` build the other two modes.

    Args:
        sample_rate: in Hz.
        threshold_db: level above which (compressor) or below which (expander) gain changes.
        ratio: >= 1; ``float("inf")`` makes a limiter (not learnable then).
        knee_db: width of the soft knee in dB (>= 0).
        attack_s, release_s: ballistics time constants in seconds (a step settles to 63.2 % in
            that time).
        makeup_db: output gain.
        mode: ``"compressor"`` or ``"expander"``.
        detector: ``"peak"`` or ``"rms"``.
        trainable: settings become ``nn.Parameter``s (ratio must then be finite).

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``. ``controls(audio)`` returns
        the settings in their units (and the audio); ``gain_db(audio)`` the applied gain.

    Example:
        >>> compressor = Compressor(16000)
        >>> compressor(torch.randn(2, 1600)).shape
        torch.Size([2, 1600])
        >>> audio, state = compressor(torch.randn(2, 1600), return_state=True)
        >>> audio.shape, state.shape
        (torch.Size([2, 1600]), torch.Size([2, 2]))

    Streaming: the render options ``state`` ``(batch, 2)`` and ``return_state`` are
    :func:`~torchddsp.functional.compress`'s (``compressor(block, state=state,
    return_state=True)`` returns ``(audio, state)``; blocks continue exactly as one call).
    """

    input_names = ("audio",)
    render_options = ("state", "return_state")

    def __init__(
        self,
        sample_rate: float = 16000,
        threshold_db: float = -20.0,
        ratio: float = 4.0,
        knee_db: float = 6.0,
        attack_s: float = 0.005,
        release_s: float = 0.1,
        makeup_db: float = 0.0,
        mode: str = "compressor",
        detector: str = "peak",
        trainable: bool = False,
    ):
        super().__init__(trainable)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.mode = check_choice("mode", mode, DYNAMICS_MODES)
        self.detector = check_choice("detector", detector, LEVEL_DETECTORS)
        attack_s = check_positive("attack_s", attack_s)
        release_s = check_positive("release_s", release_s)
        if not ratio >= 1:
            raise InputError(f"ratio must be >= 1, found {ratio}")
        if not knee_db >= 0 or not math.isfinite(knee_db):
            raise InputError(f"knee_db must be a finite number >= 0, found {knee_db}")
        for name, value in (("threshold_db", threshold_db), ("makeup_db", makeup_db)):
            if not math.isfinite(value):
                raise InputError(f"{name} must be finite, found {value}")
        if trainable:
            if math.isinf(ratio):
                raise InputError("a trainable Compressor needs a finite ratio (a limiter's ratio is not learnable)")
            self.threshold = nn.Parameter(torch.tensor(float(threshold_db)))
            self.ratio_raw = nn.Parameter(torch.tensor(_inverse_softplus(max(ratio - 1.0, 1e-6))))
            self.knee_raw = nn.Parameter(torch.tensor(_inverse_softplus(max(knee_db, 1e-6))))
            self.log_attack = nn.Parameter(torch.tensor(math.log(attack_s)))
            self.log_release = nn.Parameter(torch.tensor(math.log(release_s)))
            self.makeup = nn.Parameter(torch.tensor(float(makeup_db)))
        else:
            self.settings = {
                "threshold_db": float(threshold_db),
                "ratio": float(ratio),
                "knee_db": float(knee_db),
                "attack_s": attack_s,
                "release_s": release_s,
                "makeup_db": float(makeup_db),
            }

    @classmethod
    def limiter(cls, sample_rate: float = 16000, **settings: Any) -> Compressor:
        """Infinite ratio, fast attack: the level never stays above ``threshold_db``. Keywords
        as the constructor's; their defaults are ``PRESETS["limiter"]``."""
        return cls(sample_rate, **{**PRESETS["limiter"], **settings})

    @classmethod
    def expander(cls, sample_rate: float = 16000, **settings: Any) -> Compressor:
        """Downward expander: below ``threshold_db`` the level falls ``ratio`` dB per dB (a gate
        for large ratios); attack is the opening time. Keywords as the constructor's; their
        defaults are ``PRESETS["expander"]``."""
        return cls(sample_rate, **{**PRESETS["expander"], **settings})

    def _settings(self, like: Tensor) -> dict[str, Tensor | float]:
        if not self.trainable:
            return dict(self.settings)
        return {
            "threshold_db": self.threshold.to(like.dtype),
            "ratio": 1.0 + nnf.softplus(self.ratio_raw).to(like.dtype),
            "knee_db": nnf.softplus(self.knee_raw).to(like.dtype),
            "attack_s": torch.exp(self.log_attack).to(like.dtype),
            "release_s": torch.exp(self.log_release).to(like.dtype),
            "makeup_db": self.makeup.to(like.dtype),
        }

    def controls(self, audio: Tensor) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        return {
            "audio": audio,
            **{
                k: v if isinstance(v, Tensor) else torch.as_tensor(v, dtype=audio.dtype, device=audio.device)
                for k, v in self._settings(audio).items()
            },
        }

    def render(
        self,
        audio: Tensor,
        threshold_db: Tensor,
        ratio: Tensor,
        knee_db: Tensor,
        attack_s: Tensor,
        release_s: Tensor,
        makeup_db: Tensor,
        **options: Unpack[StreamOptions[Tensor]],
    ) -> Tensor | tuple[Tensor, Tensor]:
        return compress(
            audio,
            self.sample_rate,
            threshold_db,
            ratio,
            knee_db,
            attack_s,
            release_s,
            makeup_db,
            self.mode,
            self.detector,
            **options,
        )

    def gain_db(self, audio: Tensor) -> Tensor:
        """The gain applied to ``audio`` in dB ``(batch, n_samples)`` (makeup included)."""
        settings = self._settings(audio)
        return compress(audio, self.sample_rate, **settings, mode=self.mode, detector=self.detector, return_gain=True)[
            1
        ]
