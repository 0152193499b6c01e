"""Timbre transfer: turn any monophonic recording into the instrument a model learned.

``transfer(audio, sample_rate, model)`` measures f0 and loudness of the input, adjusts them to
the model's training data (see :func:`adjust_features`), renders them with the model, and
returns the audio with every intermediate curve. Models are loaded by name (bundled ones,
:func:`available_models`) or from a training run / checkpoint folder (:func:`load_model`).

The DDSP paper's other uses of the same model are options of :func:`transfer`:
``reverb=False`` renders dry (blind dereverberation of the model's room); ``reverb_ir`` gives
another room (e.g. ``other_model.impulse_response``: transfer of room acoustics); pitches
outside the training range render without breaking (extrapolation), since nothing clamps f0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .features import a_weighted_loudness, estimate_f0
from .functional import hz_to_midi, midi_to_hz, resample
from .functional._checks import check_finite, check_positive, check_rank
from .models.autoencoder import Autoencoder
from .training.checkpoints import latest_checkpoint, load_checkpoint, read_state
from .training.config import ExperimentConfig

__all__ = ["LoadedModel", "load_model", "available_models", "adjust_features", "transfer", "PRETRAINED_DIR"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
CONFIDENCE_THRESHOLD = 0.85


@dataclass
class LoadedModel:
    """A trained autoencoder with what transfer needs: its config and its data statistics."""

    model: Autoencoder
    config: ExperimentConfig
    statistics: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def sample_rate(self) -> int:
        return self.config.model.sample_rate

    @property
    def frame_rate(self) -> int:
        return self.config.model.frame_rate


def available_models() -> list[str]:
    """Names of the models bundled with torchddsp (``load_model(name)``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    # Hidden folders are models being bundled (scripts/bundle_model.py), not models yet.
    return sorted(p.name for p in PRETRAINED_DIR.iterdir()
                  if not p.name.startswith(".") and (p / "model.safetensors").is_file())


def load_model(name_or_path: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a bundled model by name (``"violin"``, ``"flute"``) or a run / checkpoint folder."""
    path = Path(name_or_path)
    if not path.exists() and (PRETRAINED_DIR / str(name_or_path) / "model.safetensors").is_file():
        path = PRETRAINED_DIR / str(name_or_path)
    checkpoint = latest_checkpoint(path) if path.exists() else None
    if checkpoint is None:
        raise ValueError(f"model {str(name_or_path)!r} is neither a bundled model {available_models()} "
                         "nor a training run or checkpoint folder")
    state = read_state(checkpoint)
    config = ExperimentConfig.from_dict(state["config"])
    model = Autoencoder(config.model)
    load_checkpoint(checkpoint, model)
    model.to(device).eval()
    return LoadedModel(model, config, state.get("statistics", {}), str(checkpoint))


def _quantile_map(values: np.ndarray, source_quantiles: np.ndarray, target_quantiles: np.ndarray) -> np.ndarray:
    """Map values through the source distribution's quantiles onto the target's (monotone)."""
    source = np.maximum.accumulate(source_quantiles + np.arange(len(source_quantiles)) * 1e-9)
    return np.interp(values, source, target_quantiles)


def adjust_features(
    f0_hz: Tensor,
    loudness_db: Tensor,
    confidence: Tensor,
    statistics: dict[str, Any],
    auto_adjust: bool = True,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    quiet_db: float = 20.0,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Adjust an input's f0 and loudness to a model's training data (DDSP's auto-adjust).

    With ``auto_adjust``: f0 is shifted by whole octaves toward the training data's mean pitch;
    the loudness of pitched frames (confidence >= 0.85) is mapped through its quantiles onto the
    training data's loudness quantiles; unpitched frames are made ``quiet_db`` quieter. Then
    the manual overrides apply: ``pitch_shift`` semitones and ``loudness_shift`` dB.

    Shape: ``(batch, n_frames)`` each; returns the adjusted ``f0_hz`` and ``loudness_db`` and a
    dict of what was applied:

    - ``octave_shift_semitones``: the automatic octave shift; ``manual_pitch_shift_semitones``.
    - ``median_loudness_shift_db``: how far the median loudness of the pitched frames moved,
      everything included (quantile map and manual shift); over all frames when none is pitched.
    - ``loudness_map_input_range_db`` / ``loudness_map_output_range_db``: the input loudness
      range the quantile map took (its lowest and highest quantiles of the pitched frames) and
      the training data's range it mapped it onto, ``[low, high]``; ``None`` without the map.
    - ``manual_loudness_shift_db``; ``quiet_db``: how much quieter unpitched frames were made.
    """
    pitched = confidence >= CONFIDENCE_THRESHOLD
    applied: dict[str, Any] = {"octave_shift_semitones": 0.0, "manual_pitch_shift_semitones": float(pitch_shift),
                               "median_loudness_shift_db": 0.0, "loudness_map_input_range_db": None,
                               "loudness_map_output_range_db": None, "manual_loudness_shift_db": float(loudness_shift),
                               "quiet_db": 0.0}
    input_loudness = loudness_db
    f0_hz, loudness_db = f0_hz.clone(), loudness_db.clone()
    if auto_adjust and int(pitched.sum()) > 0 and statistics.get("pitched_frames", 0) > 0:
        input_pitch = float(hz_to_midi(f0_hz[pitched].double()).mean())
        octaves = round((float(statistics["mean_pitch_midi"]) - input_pitch) / 12.0)
        applied["octave_shift_semitones"] = 12.0 * octaves
        levels = np.asarray(statistics["quantile_levels"])
        source = np.quantile(loudness_db[pitched].double().numpy(), levels)
        target = np.asarray(statistics["loudness_db_quantiles"], dtype=np.float64)
        mapped = _quantile_map(loudness_db.double().numpy(), source, target)
        loudness_db = torch.where(pitched, torch.as_tensor(mapped, dtype=loudness_db.dtype), loudness_db)
        loudness_db = torch.where(pitched, loudness_db, loudness_db - quiet_db)
        applied["quiet_db"] = float(quiet_db)
        applied["loudness_map_input_range_db"] = [float(source[0]), float(source[-1])]
        applied["loudness_map_output_range_db"] = [float(target[0]), float(target[-1])]
    semitones = applied["octave_shift_semitones"] + applied["manual_pitch_shift_semitones"]
    if semitones:
        f0_hz = midi_to_hz(hz_to_midi(f0_hz.clamp_min(1e-3)) + semitones)
    loudness_db = loudness_db + loudness_shift
    # What the model is actually given, measured rather than restated from the settings.
    frames = pitched if bool(pitched.any()) else torch.ones_like(pitched)
    applied["median_loudness_shift_db"] = float(np.median(loudness_db[frames].double().numpy())
                                                - np.median(input_loudness[frames].double().numpy()))
    return f0_hz, loudness_db, applied


def transfer(
    audio: Tensor,
    sample_rate: float,
    model: LoadedModel | str | Path,
    auto_adjust: bool = True,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    quiet_db: float = 20.0,
    reverb: bool = True,
    reverb_ir: Tensor | None = None,
    f0_method: str = "crepe",
    seed: int = 0,
) -> dict[str, Any]:
    """Render a monophonic recording with a trained model.

    Shape: ``audio`` ``(n_samples,)`` or ``(1, n_samples)`` at ``sample_rate`` (any) -> the
    returned ``"audio"`` is ``(n_samples_model,)`` at the model's rate. The dict also holds the
    measured and adjusted curves (``input_f0_hz``, ``input_loudness_db``, ``confidence``,
    ``model_f0_hz``, ``model_loudness_db``), the ``adjustments`` applied, ``sample_rate`` and
    ``frame_rate``.

    Args:
        audio: the input (a voice, a flute...); mono.
        sample_rate: of ``audio``.
        model: a :class:`LoadedModel`, a bundled model name, or a run/checkpoint folder.
        auto_adjust, pitch_shift, loudness_shift, quiet_db: see :func:`adjust_features`.
        reverb: add the model's learned reverb (``False``: the dry instrument).
        reverb_ir: another impulse response ``(ir_size,)`` to use instead of the learned one.
        f0_method: ``"crepe"`` or ``"yin"`` for the input's pitch.
        seed: of the noise synthesizer.
    """
    if not reverb and reverb_ir is not None:
        raise ValueError("reverb_ir was given with reverb=False: ask for one room, the dry render or another")
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    audio = audio.reshape(1, -1) if audio.dim() == 1 else audio
    check_rank("audio", audio, 2, "(n_samples,) or (1, n_samples)")
    if audio.shape[0] != 1:
        raise ValueError(f"audio must be one mono signal, found {audio.shape[0]} signals")
    check_finite("audio", audio)
    sample_rate = check_positive("sample_rate", sample_rate)
    audio = audio.float()
    if sample_rate != loaded.sample_rate:
        audio = resample(audio, sample_rate, loaded.sample_rate)
    hop = loaded.config.model.hop_size
    n_frames = audio.shape[1] // hop
    if n_frames < 1:
        raise ValueError(f"audio is shorter than one frame ({hop} samples at {loaded.sample_rate} Hz)")
    audio = audio[:, : n_frames * hop]
    f0_hz, confidence = estimate_f0(audio, loaded.sample_rate, loaded.frame_rate, method=f0_method, n_frames=n_frames)
    loudness_db = a_weighted_loudness(audio, loaded.sample_rate, loaded.frame_rate, n_frames=n_frames)
    model_f0, model_loudness, applied = adjust_features(f0_hz, loudness_db, confidence, loaded.statistics,
                                                         auto_adjust, pitch_shift, loudness_shift, quiet_db)
    generator = torch.Generator().manual_seed(seed)
    device = next(loaded.model.parameters()).device
    with torch.no_grad():
        rendered = loaded.model(model_f0.to(device), model_loudness.to(device), audio.to(device), generator=generator,
                                reverb=reverb, reverb_ir=reverb_ir)
    return {
        "audio": rendered["audio"][0].cpu(),
        "audio_dry": rendered["audio_dry"][0].cpu(),
        "input_audio": audio[0],
        "input_f0_hz": f0_hz[0],
        "input_loudness_db": loudness_db[0],
        "confidence": confidence[0],
        "model_f0_hz": model_f0[0],
        "model_loudness_db": model_loudness[0],
        "adjustments": applied,
        "sample_rate": loaded.sample_rate,
        "frame_rate": loaded.frame_rate,
    }


def write_transfer(result: dict[str, Any], output: Path, figure: bool = True) -> list[Path]:
    """Write the transferred audio (WAV) and, when matplotlib is present, a PNG comparing the
    input and output spectrograms with the f0 and loudness curves (``<output>.png``)."""
    import soundfile as sf  # noqa: PLC0415

    from .training.plots import have_matplotlib, save_transfer_figure  # noqa: PLC0415

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    peak = float(result["audio"].abs().max())
    audio = result["audio"] / peak * 0.9 if peak > 0.99 else result["audio"]  # keep the file from clipping
    sf.write(str(output), audio.numpy(), result["sample_rate"])
    written = [output]
    if figure and have_matplotlib():
        png = output.with_suffix(".png")
        curves = {k: result[k].numpy() for k in ("input_f0_hz", "model_f0_hz", "input_loudness_db", "model_loudness_db")}
        save_transfer_figure(png, result["input_audio"], result["audio"], result["sample_rate"], result["frame_rate"],
                             curves)
        written.append(png)
    (output.with_suffix(".json")).write_text(json.dumps({"adjustments": result["adjustments"]}, indent=1))
    written.append(output.with_suffix(".json"))
    return written
