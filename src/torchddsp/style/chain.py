"""The style chain: parametric EQ -> compressor -> output gain, driven by normalised settings.

Functional core :func:`apply_chain` (exact autodiff through
:class:`~torchddsp.effects.ParametricEQ`'s biquad cascade and
:func:`~torchddsp.functional.dynamics.compress`, the function behind
:class:`~torchddsp.effects.Compressor`, which takes per-item settings), and the thin module
:class:`StyleChain`.
"""

from __future__ import annotations

import functools
from typing import cast

import torch
from torch import Tensor
from torch import nn

from ..effects import ParametricEQ
from ..functional.conversions import db_to_amplitude
from ..functional.dynamics import compress
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_rank
from .settings import COMPRESSOR_KNEE_DB
from .settings import EQ_BANDS
from .settings import denormalize

__all__ = ["apply_chain", "StyleChain", "MIN_SAMPLE_RATE"]

#: The highest EQ frequency (7 kHz) must stay below Nyquist with a margin.
MIN_SAMPLE_RATE = 16000.0


@functools.lru_cache(maxsize=8)
def _equalizer(sample_rate: float) -> ParametricEQ:
    """The chain's EQ (low shelf, six peaks, high shelf; controls given in their units)."""
    return ParametricEQ(sample_rate, n_peaks=len(EQ_BANDS) - 2, min_hz=20.0, max_hz=0.45 * sample_rate)


def _band_controls(settings: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Frequencies, gains and Qs ``(batch, n_bands)`` in EQ order."""
    names = [band[0] for band in EQ_BANDS]
    return tuple(  # type: ignore[return-value]
        torch.stack([settings[f"{name}_{field}"] for name in names], dim=-1)
        for field in ("frequency_hz", "gain_db", "q")
    )


def apply_chain(audio: Tensor, normalized: Tensor, sample_rate: float) -> Tensor:
    """Process ``audio`` with the EQ, compressor and gain that ``normalized`` describes.

    Args:
        audio: ``(batch, n_samples)``.
        normalized: ``(batch, N_SETTINGS)`` in ``[0, 1]`` (:data:`~torchddsp.style.settings.SETTINGS`).
        sample_rate: in Hz, at least :data:`MIN_SAMPLE_RATE`.

    Returns:
        ``(batch, n_samples)``, differentiable in ``audio`` and ``normalized``.

    Example:
        >>> from torchddsp.style.settings import identity_settings
        >>> audio = torch.randn(2, 1600, dtype=torch.float64)
        >>> out = apply_chain(audio, identity_settings(2, torch.float64), 16000)
        >>> out.shape, bool(torch.allclose(out, audio, atol=1e-10))
        (torch.Size([2, 1600]), True)
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    if sample_rate < MIN_SAMPLE_RATE:
        raise InputError(
            f"sample_rate must be at least {MIN_SAMPLE_RATE:g} Hz (EQ bands reach 7 kHz), found {sample_rate}"
        )
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_finite("audio", audio)
    if normalized.shape[0] != audio.shape[0]:
        raise InputError(f"normalized has {normalized.shape[0]} items but audio has {audio.shape[0]}")
    settings = denormalize(normalized.to(audio.dtype))
    equalized = _equalizer(float(sample_rate))(audio, *_band_controls(settings))
    equalized = cast(Tensor, equalized)  # no state was asked for: the op returns a tensor
    column = {name: settings[name][:, None] for name in ("threshold_db", "ratio", "attack_s", "release_s")}
    compressed = compress(equalized, sample_rate, knee_db=COMPRESSOR_KNEE_DB, **column)
    compressed = cast(Tensor, compressed)  # no state was asked for: the op returns a tensor
    return compressed * db_to_amplitude(settings["gain_db"])[:, None]


class StyleChain(nn.Module):
    """:func:`apply_chain` as a module (no parameters).

    Shape: ``audio`` ``(batch, n_samples)``, ``normalized`` ``(batch, N_SETTINGS)`` ->
    ``(batch, n_samples)``.

    Example:
        >>> from torchddsp.style.settings import identity_settings
        >>> StyleChain(16000)(torch.zeros(1, 800), identity_settings()).shape
        torch.Size([1, 800])
    """

    def __init__(self, sample_rate: float = 16000):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)

    def forward(self, audio: Tensor, normalized: Tensor) -> Tensor:
        return apply_chain(audio, normalized, self.sample_rate)
