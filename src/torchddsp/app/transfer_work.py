"""One timbre transfer as the page asks for it: the page's fields checked, the transfer run
(:func:`torchddsp.transfer.transfer`), and what the page shows: a WAV, a PNG of the input and
output spectrograms with their f0 and loudness curves, and a summary."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..features.pitch import CONFIDENCE_THRESHOLD
from ..plots import have_matplotlib
from ..transfer import FIGURE_SECONDS
from ..transfer import LoadedModel
from ..transfer import transfer
from ..transfer.in_memory import file_samples
from ..validation import InputError
from .audio import wav_bytes

__all__ = ["TRANSFER_FIELDS", "transfer_settings", "run_transfer", "figure_png"]

#: The page's numeric fields: (default, lowest, highest) in their units (semitones, dB, dB).
TRANSFER_FIELDS = {
    "pitch_shift": (0.0, -48.0, 48.0),
    "loudness_shift": (0.0, -60.0, 60.0),
    "quiet_db": (20.0, 0.0, 80.0),
}
_SWITCHES = {"auto_adjust": True, "reverb": True}
_F0_METHODS = ("crepe", "yin")


def number_field(fields: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """``fields[name]`` as a finite number in ``[low, high]`` (``default`` when absent or empty)."""
    text = fields.get(name, "")
    if text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name} must be a number, found {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{name} must lie in [{low:g}, {high:g}], found {text!r}")
    return value


def _switch(fields: Mapping[str, str], name: str, default: bool) -> bool:
    text = fields.get(name, "").lower()
    if text in ("", "true", "false", "1", "0", "on", "off"):
        return default if text == "" else text in ("true", "1", "on")
    raise InputError(f"{name} must be true or false, found {text!r}")


def transfer_settings(fields: Mapping[str, str]) -> dict[str, Any]:
    """The page's fields (strings) -> keyword arguments of :func:`run_transfer`; InputError
    naming the field for a bad value. Unknown fields are ignored (``model`` is the catalog's).

    Example:
        >>> transfer_settings({"pitch_shift": "-3", "reverb": "false"})
        {'pitch_shift': -3.0, 'loudness_shift': 0.0, 'quiet_db': 20.0, 'auto_adjust': True, 'reverb': False, 'f0_method': 'crepe'}
    """
    settings: dict[str, Any] = {name: number_field(fields, name, *limits) for name, limits in TRANSFER_FIELDS.items()}
    settings.update({name: _switch(fields, name, default) for name, default in _SWITCHES.items()})
    method = fields.get("f0_method") or _F0_METHODS[0]
    if method not in _F0_METHODS:
        raise InputError(f"f0_method must be one of {list(_F0_METHODS)}, found {method!r}")
    settings["f0_method"] = method
    return settings


def figure_png(result: Mapping[str, Any]) -> bytes:
    """The PNG of :func:`torchddsp.plots.save_transfer_figure` for a :func:`transfer` result:
    the input's spectrogram and f0 above the output's, the loudness curves below (the first
    FIGURE_SECONDS at most)."""
    from ..plots import save_transfer_figure  # noqa: PLC0415  (matplotlib stays optional)

    rate, frame_rate = result["sample_rate"], result["frame_rate"]
    frames = min(len(result["input_f0_hz"]), int(FIGURE_SECONDS * frame_rate))
    samples = frames * (rate // frame_rate)
    names = ("input_f0_hz", "model_f0_hz", "input_loudness_db", "model_loudness_db")
    curves = {name: result[name][:frames].numpy() for name in names}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figure.png"
        save_transfer_figure(path, result["input_audio"][:samples], result["audio"][:samples], rate, frame_rate, curves)
        return path.read_bytes()


def _median_pitched_hz(f0_hz: Tensor, confidence: Tensor) -> float | None:
    """Median f0 of the confidently pitched frames (None when there is none)."""
    pitched = f0_hz[confidence >= CONFIDENCE_THRESHOLD]
    return float(pitched.double().median()) if pitched.numel() else None


def run_transfer(
    audio: Tensor, sample_rate: int, loaded: LoadedModel, figure: bool = True, **settings: Any
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Transfer ``audio`` to ``loaded``'s instrument for the page.

    Shape: ``audio`` ``(n_samples,)`` at ``sample_rate`` -> ``audio.wav`` at the model's rate,
    ``n_frames * hop_size`` samples (``n_frames``: whole frames of the input at that rate).

    Args:
        settings: :func:`transfer_settings`' keys (pitch_shift, loudness_shift, quiet_db,
            auto_adjust, reverb, f0_method).
        figure: draw ``figure.png`` (when matplotlib is present).

    Returns ``(files, summary)``: ``{"audio.wav": bytes, "figure.png": bytes}`` (scaled to a
    peak of 0.9 when it would clip, as ``torchddsp transfer`` writes it) and a JSON-ready
    summary (sample_rate, n_samples, duration_s, adjustments, median f0 in and out).

    Example:
        >>> import torch
        >>> from torchddsp.app.catalog import ModelCatalog
        >>> files, summary = run_transfer(torch.zeros(3200), 16000, ModelCatalog().get("flute"), figure=False, f0_method="yin")
        >>> summary["sample_rate"], summary["n_samples"], sorted(files)
        (16000, 3200, ['audio.wav'])
    """
    result = transfer(audio, sample_rate, loaded, **settings)
    peak = float(result["audio"].abs().max())
    files = {"audio.wav": wav_bytes(file_samples(result["audio"], peak), result["sample_rate"])}
    if figure and have_matplotlib():
        files["figure.png"] = figure_png(result)
    n_samples = int(result["audio"].shape[0])
    summary = {
        "sample_rate": result["sample_rate"],
        "n_samples": n_samples,
        "duration_s": n_samples / result["sample_rate"],
        "adjustments": result["adjustments"],
        "input_f0_median_hz": _median_pitched_hz(result["input_f0_hz"], result["confidence"]),
        "model_f0_median_hz": _median_pitched_hz(result["model_f0_hz"], result["confidence"]),
    }
    return files, summary
