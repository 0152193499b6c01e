"""The synthesizer tab: a handful of sliders in human units over a playable starting patch of
a modular voice (:mod:`torchddsp.modular`), rendered to a WAV and a spectrogram PNG.

Each voice starts from a patch that plays one clean note (``BASE_PATCHES``: every parameter not
named there sits at 0, or at its range's nearest end when 0 is outside it); the sliders
(``VOICE_SLIDERS``) set one or more of its parameters in the units the voice declares.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..modular import RenderContext
from ..modular import Voice
from ..modular import make_voice
from ..plots import have_matplotlib
from ..validation import InputError
from .audio import wav_bytes
from .transfer_work import number_field

__all__ = ["Slider", "VOICE_SLIDERS", "BASE_PATCHES", "SYNTH_RATE", "synth_controls", "synth_values", "render_synth"]

#: The tab renders 44.1 kHz audio with 490 control frames per second (hops of 90 samples, so
#: that every half second is whole frames; torchsynth's 441 would need whole seconds).
SYNTH_RATE, SYNTH_FRAME_RATE = 44100, 490
#: Render lengths offered (s): multiples of 0.5 s, so every length is whole control frames.
LENGTH_S = (2.0, 0.5, 4.0)


@dataclass(frozen=True)
class Slider:
    """One slider: ``targets`` (``"module.parameter"``) all take its value, in ``unit``."""

    key: str
    label: str
    unit: str
    low: float
    high: float
    step: float
    default: float
    targets: tuple[str, ...]


def _envelope(prefix: str, attack: float, decay: float, sustain: float, release: float) -> list[Slider]:
    values = (("attack", "s", 1.0, attack), ("decay", "s", 2.0, decay), ("sustain", "", 1.0, sustain))
    sliders = [Slider(f"{prefix}.{n}", n, u, 0.0, hi, 0.01, d, (f"{prefix}.{n}",)) for n, u, hi, d in values]
    return sliders + [Slider(f"{prefix}.release", "release", "s", 0.0, 2.0, 0.01, release, (f"{prefix}.release",))]


_KEYBOARD = [
    Slider("pitch", "pitch", "MIDI note", 36.0, 96.0, 1.0, 60.0, ("keyboard.midi_f0",)),
    Slider("note_length", "note length", "s", 0.05, 3.0, 0.05, 1.0, ("keyboard.duration",)),
]
VOICE_SLIDERS: dict[str, tuple[Slider, ...]] = {
    "default": (
        *_KEYBOARD,
        *_envelope("adsr_1", 0.02, 0.3, 0.6, 0.5),
        Slider("shape", "square to saw", "", 0.0, 1.0, 0.01, 0.5, ("vco_2.shape",)),
        Slider("sine_level", "sine level", "", 0.0, 1.0, 0.01, 0.5, ("mixer.vco_1",)),
        Slider("square_level", "square/saw level", "", 0.0, 1.0, 0.01, 0.5, ("mixer.vco_2",)),
        Slider("noise_level", "noise level", "", 0.0, 1.0, 0.01, 0.0, ("mixer.noise",)),
        Slider("vibrato_rate", "vibrato rate", "Hz", 0.0, 10.0, 0.1, 5.0, ("lfo_1.frequency",)),
        Slider(
            "vibrato_depth", "vibrato depth", "semitones", 0.0, 2.0, 0.05, 0.3, ("vco_1.mod_depth", "vco_2.mod_depth")
        ),
    ),
    "rich": (
        *_KEYBOARD,
        *_envelope("amp_adsr", 0.02, 0.3, 0.7, 0.4),
        Slider("cutoff", "filter cutoff", "MIDI note", 24.0, 132.0, 1.0, 84.0, ("vcf.cutoff",)),
        Slider("resonance", "filter resonance", "Q", 0.5, 20.0, 0.1, 2.0, ("vcf.resonance",)),
        Slider("filter_envelope", "filter envelope", "", 0.0, 1.0, 0.01, 0.3, ("mod_matrix.filter_adsr->cutoff",)),
        Slider("drive", "drive", "dB", 0.0, 36.0, 0.5, 6.0, ("drive.drive",)),
        Slider("treble", "treble", "dB", -12.0, 12.0, 0.5, 0.0, ("tone.high_gain",)),
    ),
}
_STEADY = {"sustain": 1.0, "alpha": 1.0}  # an envelope that only opens: for the LFOs' depth and rate
BASE_PATCHES: dict[str, dict[str, float]] = {
    "default": {
        **{f"adsr_{i}.alpha": 1.0 for i in (1, 2)},
        **{f"lfo_{i}_{kind}_adsr.{k}": v for i in (1, 2) for kind in ("amp", "rate") for k, v in _STEADY.items()},
        **{f"lfo_{i}.{k}": v for i in (1, 2) for k, v in (("frequency", 5.0), ("sin", 1.0))},
        **{f"mod_matrix.adsr_1->{t}": 1.0 for t in ("vco_1_amp", "vco_2_amp", "noise_amp")},
        **{f"mod_matrix.lfo_1->vco_{i}_pitch": 1.0 for i in (1, 2)},
    },
    "rich": {
        "amp_adsr.alpha": 1.0,
        **{f"filter_adsr.{k}": v for k, v in (("attack", 0.01), ("decay", 0.4), ("sustain", 0.3), ("alpha", 1.0))},
        **{"lfo.frequency": 5.0, "lfo.sin": 1.0, "vco_1.shape": 0.8, "mixer.vco_1": 0.7, "mixer.vco_2": 0.3},
        **{"vcf.mod_depth": 24.0, "vcf.keyboard_tracking": 1.0, "drive.mix": 1.0},
    },
}


def synth_controls() -> dict[str, Any]:
    """What the page builds its sliders from: ``{voice: [slider as a dict]}`` and the lengths.

    Example:
        >>> controls = synth_controls()
        >>> sorted(controls["voices"]), controls["voices"]["default"][0]["label"], controls["length_s"]
        (['default', 'rich'], 'pitch', [2.0, 0.5, 4.0])
    """
    voices = {name: [asdict(slider) for slider in sliders] for name, sliders in VOICE_SLIDERS.items()}
    return {"voices": voices, "length_s": list(LENGTH_S)}


def synth_values(voice: str, fields: Mapping[str, str]) -> dict[str, float]:
    """The page's slider fields (strings) for ``voice`` -> ``{slider key: value}`` (defaults
    for those absent); InputError naming the field for an unknown voice or a value off its range.

    Example:
        >>> synth_values("default", {"pitch": "69"})["pitch"]
        69.0
    """
    if voice not in VOICE_SLIDERS:
        raise InputError(f"voice must be one of {sorted(VOICE_SLIDERS)}, found {voice!r}")
    return {s.key: number_field(fields, s.key, s.default, s.low, s.high) for s in VOICE_SLIDERS[voice]}


def _human_patch(voice: Voice, name: str, values: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Every parameter of ``voice`` in human units: 0 (or its range's nearest end), then the
    voice's base patch, then the sliders' ``values``."""
    flat = {key: min(max(0.0, r.minimum), r.maximum) for key, r in voice.ranges.items()}
    flat.update(BASE_PATCHES[name])
    for slider in VOICE_SLIDERS[name]:
        flat.update(dict.fromkeys(slider.targets, values[slider.key]))
    human: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        module, parameter = key.split(".", 1)
        human.setdefault(module, {})[parameter] = value
    return human


def _spectrogram_png(audio, sample_rate: int) -> bytes:
    from ..plots import save_spectrograms  # noqa: PLC0415  (matplotlib stays optional)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figure.png"
        save_spectrograms(path, [("synthesizer output", audio)], sample_rate)
        return path.read_bytes()


def render_synth(
    voice: str, values: Mapping[str, float], length_s: float = LENGTH_S[0], figure: bool = True
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Render one note of ``voice`` with the sliders' ``values`` (:func:`synth_values`).

    Shape: ``length_s * 44100`` samples at 44.1 kHz in ``audio.wav`` (16-bit PCM); the voice
    rescales a sound that would clip.

    Returns ``(files, summary)``: ``{"audio.wav", "figure.png"}`` (the PNG when ``figure`` and
    matplotlib is present) and ``{"sample_rate", "n_samples", "duration_s", "values"}``.

    Example:
        >>> files, summary = render_synth("rich", synth_values("rich", {}), length_s=0.5, figure=False)
        >>> summary["n_samples"], summary["sample_rate"]
        (22050, 44100)
    """
    low, high = LENGTH_S[1], LENGTH_S[2]
    if not low <= length_s <= high or (length_s * 2) % 1:
        raise InputError(f"length_s must be a multiple of 0.5 in [{low:g}, {high:g}], found {length_s!r}")
    values = synth_values(voice, {key: str(value) for key, value in values.items()})
    synth = make_voice(voice, RenderContext(float(SYNTH_RATE), float(length_s), float(SYNTH_FRAME_RATE)))
    audio = synth(synth.normalize(_human_patch(synth, voice, values))).detach()[0]
    files = {"audio.wav": wav_bytes(audio, SYNTH_RATE)}
    if figure and have_matplotlib():
        files["figure.png"] = _spectrogram_png(audio, SYNTH_RATE)
    n_samples = int(audio.shape[0])
    summary = {
        "sample_rate": SYNTH_RATE,
        "n_samples": n_samples,
        "duration_s": n_samples / SYNTH_RATE,
        "values": values,
    }
    return files, summary
