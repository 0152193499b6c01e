"""Match one sound: the estimator's guess, optionally refined through the voice, returned in
human units with its render (what ``torchddsp match`` runs).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..features import estimate_f0
from ..functional import hz_to_midi
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from .network import ParameterEstimator
from .search import refine
from .search import render_free
from .voice_setup import from_human
from .voice_setup import to_human

__all__ = ["fit_length", "estimate_midi_note", "match_audio", "render_human"]


def fit_length(audio: Tensor, n_samples: int) -> Tensor:
    """``(..., n)`` -> ``(..., n_samples)``: cut, or padded with silence."""
    if audio.shape[-1] >= n_samples:
        return audio[..., :n_samples]
    return torch.nn.functional.pad(audio, (0, n_samples - audio.shape[-1]))


def estimate_midi_note(audio: Tensor, sample_rate: float) -> float:
    """The median YIN pitch of the confident frames of ``audio`` ``(n_samples,)``, in MIDI notes."""
    f0_hz, confidence = estimate_f0(audio[None], sample_rate, method="yin")
    voiced = f0_hz[confidence > 0.5]
    if voiced.numel() == 0:
        raise InputError("audio has no pitched frames: give the pitch (midi_note / --midi-note)")
    return float(hz_to_midi(voiced.median()))


def match_audio(
    model: ParameterEstimator, audio: Tensor, midi_note: float | None = None, refine_steps: int = 0
) -> tuple[dict[str, float], Tensor]:
    """Estimate the free parameters of ``audio`` ``(n_samples,)`` (at the model's sample rate;
    cut or padded to its length) -> ``(human-unit parameters, the voice's render (n_samples,))``.

    ``midi_note`` is the pitch (estimated with YIN when None); ``refine_steps`` > 0 refines the
    estimate by gradient descent on the spectral distance through the voice.

    Example:
        >>> from torchddsp.matching import MatchingSetup
        >>> model = ParameterEstimator(MatchingSetup()).eval()
        >>> human, rendered = match_audio(model, torch.zeros(16000), midi_note=57.0)
        >>> rendered.shape, human["keyboard.midi_f0"]
        (torch.Size([16000]), 57.0)
    """
    check_rank("audio", audio, 1, "(n_samples,)")
    check_finite("audio", audio)
    if audio.numel() == 0:
        raise InputError("audio must hold samples, found none")
    setup = model.setup
    audio = fit_length(audio.float(), setup.n_samples)
    note = estimate_midi_note(audio, setup.sample_rate) if midi_note is None else float(midi_note)
    voice = setup.make_voice()
    midi = torch.tensor([note])
    seeds = torch.zeros(1, dtype=torch.int64)
    with torch.no_grad():
        free = model(audio[None], midi)
    if refine_steps > 0:
        free, _ = refine(voice, setup, free, audio[None], midi, seeds, refine_steps)
    with torch.no_grad():
        rendered = render_free(voice, setup, free, midi, seeds)[0]
    return to_human(voice, setup, free[0], note), rendered


def render_human(model: ParameterEstimator, human: Mapping[str, float]) -> Tensor:
    """Render human-unit parameters (as :func:`match_audio` returns) -> ``(n_samples,)``."""
    setup = model.setup
    voice = setup.make_voice()
    free, note = from_human(voice, setup, human)
    with torch.no_grad():
        return render_free(voice, setup, free[None], torch.tensor([note]), torch.zeros(1, dtype=torch.int64))[0]
