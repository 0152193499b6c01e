"""The model's declared graph and the training loss's terms, as config values: the kinds a YAML
may name and the checks that refuse anything else with the YAML key named.

A model's graph (the ``model:`` section): the ``synths`` (summed), an optional learned ``eq``,
then a ``reverb`` of one ``kind``; the decoder reads ``decoder_inputs`` and its output splits
follow from the synths' controls (:func:`decoder_splits`). The loss (``train.loss_terms``):
named terms, each with its weight, summed. This module imports nothing above the configs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..validation import InputError

__all__ = [
    "SYNTH_KINDS",
    "REVERB_KINDS",
    "DECODER_INPUTS",
    "LOSS_TERMS",
    "DEFAULT_SYNTHS",
    "check_kinds",
    "check_loss_terms",
    "decoder_splits",
]

#: Synthesizers a model may sum (each at most once), as ``model.synths`` names them.
SYNTH_KINDS = ("harmonic", "filtered_noise", "sinusoidal", "wavetable")
#: Reverbs (``model.reverb``): learned taps (``Reverb``), ``ExpDecayReverb``,
#: ``FilteredNoiseReverb``, ``FDNReverb``; every one trainable, ``model.reverb_s`` long.
REVERB_KINDS = ("learned", "exp_decay", "filtered_noise", "fdn")
#: What the decoder may read (``model.decoder_inputs``): scaled loudness, scaled f0, z.
DECODER_INPUTS = ("loudness", "f0", "z")
#: Loss terms (``train.loss_terms``): ``MultiScaleSpectralLoss`` (its preset ``train.loss``),
#: ``LoudnessLoss``, ``MelSpectrogramLoss``.
LOSS_TERMS = ("spectral", "loudness", "mel")
#: Today's synthesizers: the bundled models' graph.
DEFAULT_SYNTHS = ("harmonic", "filtered_noise")


def check_kinds(key: str, values: Any, allowed: Sequence[str], *, empty: bool = False) -> list[str]:
    """``values`` as a list of distinct names among ``allowed``, or InputError naming ``key``
    (``model.synths[1]`` for the second entry)."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise InputError(f"{key} must be a list of names among {list(allowed)}, found {values!r}")
    if not values and not empty:
        raise InputError(f"{key} must name at least one of {list(allowed)}")
    for i, value in enumerate(values):
        if value not in allowed:
            raise InputError(f"{key}[{i}]: unknown kind {value!r}; known: {list(allowed)}")
    duplicates = sorted({v for v in values if list(values).count(v) > 1})
    if duplicates:
        raise InputError(f"{key} names {duplicates} more than once")
    return list(values)


def check_loss_terms(values: Any, key: str = "train.loss_terms") -> dict[str, float]:
    """``{term: weight}`` with known terms, finite weights >= 0 and at least one above 0."""
    if not isinstance(values, dict) or not values:
        raise InputError(f"{key} must map loss terms {list(LOSS_TERMS)} to weights, found {values!r}")
    terms = {}
    for name, weight in values.items():
        if name not in LOSS_TERMS:
            raise InputError(f"{key}.{name}: unknown loss term; known: {list(LOSS_TERMS)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise InputError(f"{key}.{name} must be a finite number (the term's weight), found {weight!r}")
        if weight < 0:
            raise InputError(f"{key}.{name} must be >= 0, found {weight}")
        terms[name] = float(weight)
    if not any(terms.values()):
        raise InputError(f"{key}: every weight is 0, nothing would be trained")
    return terms


def decoder_splits(synths: Sequence[str], sizes: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """The decoder's named outputs ``(name, size)`` for ``synths``, in their order: the raw
    controls each synthesizer reads (``sizes``: ``n_harmonics``, ``n_noise_bands``,
    ``n_sinusoids``, ``wavetable_size``). The harmonic and noise names are today's, so the
    default graph keeps its output layer."""
    per_synth = {
        "harmonic": (("amplitudes", 1), ("harmonic_distribution", sizes["n_harmonics"])),
        "filtered_noise": (("noise_magnitudes", sizes["n_noise_bands"]),),
        "sinusoidal": (
            ("sinusoidal_amplitudes", sizes["n_sinusoids"]),
            ("sinusoidal_frequencies", sizes["n_sinusoids"]),
        ),
        "wavetable": (("wavetable_amplitudes", 1), ("wavetables", sizes["wavetable_size"])),
    }
    return tuple(split for synth in synths for split in per_synth[synth])
