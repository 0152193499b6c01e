"""Timbre transfer: turn any monophonic recording into the instrument a model learned.

``transfer(audio, sample_rate, model)`` measures f0 and loudness of the input, adjusts them to
the model's training data (see :func:`adjust_features`), renders them with the model, and
returns the audio with every intermediate curve. Models are loaded by name (bundled ones,
:func:`available_models`) or from a training run / checkpoint folder (:func:`load_model`).

The DDSP paper's other uses of the same model are options of :func:`transfer`:
``reverb=False`` renders dry (blind dereverberation of the model's room); ``reverb_ir`` gives
another room (e.g. ``other_model.impulse_response``: transfer of room acoustics); pitches
outside the training range render without breaking (extrapolation), since nothing clamps f0.

Files of any length: :func:`transfer_file` (what ``torchddsp transfer`` runs) measures the
features in chunks (:func:`torchddsp.features.recording.recording_features`), adjusts them with
the whole recording's statistics (frame-rate arrays are small) and renders chunk by chunk
(:mod:`torchddsp.models.chunked`), writing the WAV as it goes: memory does not grow with the
recording, and the files equal what :func:`transfer` and :func:`write_transfer` give in memory.
Outputs never replace an input and never write through a symbolic link; each is written to a
temporary name and renamed (:mod:`torchddsp.io`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .configs import ExperimentConfig
from .features import a_weighted_loudness, estimate_f0
from .features.pitch import CONFIDENCE_THRESHOLD
from .features.recording import CHUNK_SECONDS, frames_per_chunk, recording_features
from .functional import hz_to_midi, midi_to_hz, resample
from .io import (
    atomic_path,
    audio_format,
    audio_writer,
    check_output,
    read_audio,
    read_audio_blocks,
    scratch_file,
    write_audio,
    write_text_atomic,
)
from .models.autoencoder import Autoencoder, check_room
from .models.chunked import finish_render, render_chunk, render_chunked, start_render
from .progress import Progress
from .training.checkpoints import latest_checkpoint, load_checkpoint, read_state, stored_config
from .validation import InputError, check_finite, check_positive, check_rank

__all__ = [
    "LoadedModel",
    "load_model",
    "model_checkpoint",
    "available_models",
    "adjust_features",
    "transfer",
    "write_transfer",
    "transfer_file",
    "check_transfer_outputs",
    "PRETRAINED_DIR",
    "FIGURE_SECONDS",
]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
#: The PNG beside a transfer shows at most this many seconds from the start (memory stays bounded).
FIGURE_SECONDS = 60.0
#: A WAV whose peak exceeds this is scaled to a peak of FILE_PEAK (keeps the file from clipping).
CLIP_PEAK, FILE_PEAK = 0.99, 0.9


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
    return sorted(
        p.name for p in PRETRAINED_DIR.iterdir() if not p.name.startswith(".") and (p / "model.safetensors").is_file()
    )


def model_checkpoint(name_or_path: str | Path) -> Path:
    """The checkpoint folder :func:`load_model` would read for ``name_or_path`` (a bundled name,
    a run or a checkpoint folder), without reading it; ValueError when there is none."""
    path = Path(name_or_path)
    if not path.exists() and (PRETRAINED_DIR / str(name_or_path) / "model.safetensors").is_file():
        path = PRETRAINED_DIR / str(name_or_path)
    checkpoint = latest_checkpoint(path) if path.exists() else None
    if checkpoint is None:
        raise InputError(
            f"model {str(name_or_path)!r} is neither a bundled model {available_models()} "
            "nor a training run or checkpoint folder"
        )
    return checkpoint


def load_model(name_or_path: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a bundled model by name (``"violin"``, ``"flute"``) or a run / checkpoint folder."""
    checkpoint = model_checkpoint(name_or_path)
    state = read_state(checkpoint)
    try:
        config = ExperimentConfig.from_dict(stored_config(checkpoint, state))
    except ValueError as error:
        raise InputError(f"{checkpoint / 'state.json'}: {error}") from None
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
    the loudness of pitched frames (confidence >= CONFIDENCE_THRESHOLD, 0.85) is mapped through its quantiles onto the
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

    Example:
        >>> f0_hz, loudness_db, applied = adjust_features(torch.full((2, 5), 220.0), torch.full((2, 5), -30.0),
        ...                                               torch.ones(2, 5), statistics={}, pitch_shift=12.0)
        >>> f0_hz.shape, loudness_db.shape, round(float(f0_hz[0, 0]), 3)
        (torch.Size([2, 5]), torch.Size([2, 5]), 440.0)
    """
    pitched = confidence >= CONFIDENCE_THRESHOLD
    applied: dict[str, Any] = {
        "octave_shift_semitones": 0.0,
        "manual_pitch_shift_semitones": float(pitch_shift),
        "median_loudness_shift_db": 0.0,
        "loudness_map_input_range_db": None,
        "loudness_map_output_range_db": None,
        "manual_loudness_shift_db": float(loudness_shift),
        "quiet_db": 0.0,
    }
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
    applied["median_loudness_shift_db"] = float(
        np.median(loudness_db[frames].double().numpy()) - np.median(input_loudness[frames].double().numpy())
    )
    return f0_hz, loudness_db, applied


def _model_input(audio: Tensor, sample_rate: float, loaded: LoadedModel) -> tuple[Tensor, int]:
    """``audio`` checked (one finite mono signal), as float32 ``(1, n)`` at the model's rate,
    and its number of whole frames (at least one)."""
    audio = audio.reshape(1, -1) if audio.dim() == 1 else audio
    check_rank("audio", audio, 2, "(n_samples,) or (1, n_samples)")
    if audio.shape[0] != 1:
        raise InputError(f"audio must be one mono signal, found {audio.shape[0]} signals")
    check_finite("audio", audio)
    sample_rate = check_positive("sample_rate", sample_rate)
    audio = audio.float()
    if sample_rate != loaded.sample_rate:
        audio = resample(audio, sample_rate, loaded.sample_rate)
    hop = loaded.config.model.hop_size
    n_frames = audio.shape[1] // hop
    if n_frames < 1:
        raise InputError(f"audio is shorter than one frame ({hop} samples at {loaded.sample_rate} Hz)")
    return audio, n_frames


def _render(
    loaded: LoadedModel,
    f0_hz: Tensor,
    loudness_db: Tensor,
    audio: Tensor,
    seed: int,
    reverb: bool,
    reverb_ir: Tensor | None,
) -> dict[str, Tensor]:
    """The model's output for whole frames ``(1, n_frames)`` (``audio``: for a z encoder)."""
    device = next(loaded.model.parameters()).device
    if loaded.model.encoder is None:
        # One chunk of the chunked renderer (equal to the model's call to float rounding), so
        # that transfer_file, which renders the same way, writes the same file bit for bit
        # when the input fits one of its chunks.
        return render_chunked(
            loaded.model,
            f0_hz.to(device),
            loudness_db.to(device),
            f0_hz.shape[1],
            seed=seed,
            reverb=reverb,
            reverb_ir=reverb_ir,
        )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return loaded.model(
            f0_hz.to(device),
            loudness_db.to(device),
            audio.to(device),
            generator=generator,
            reverb=reverb,
            reverb_ir=reverb_ir,
        )


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
    crepe_model: str = "tiny",
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
        crepe_model: CREPE's size (``"tiny"``... ``"full"``) with ``f0_method="crepe"``.

    Example:
        >>> result = transfer(torch.zeros(2400), 24000, "flute", f0_method="yin")  # the bundled 16 kHz model
        >>> result["audio"].shape, result["model_f0_hz"].shape, result["sample_rate"], result["frame_rate"]
        (torch.Size([1600]), torch.Size([25]), 16000, 250)
    """
    check_room(reverb, reverb_ir)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    audio, n_frames = _model_input(audio, sample_rate, loaded)
    hop = loaded.config.model.hop_size
    # Features of the whole signal (the samples past the last whole frame included), as
    # recording_features and prepare measure them; the render covers the whole frames.
    f0_hz, confidence = estimate_f0(
        audio, loaded.sample_rate, loaded.frame_rate, method=f0_method, model=crepe_model, n_frames=n_frames
    )
    loudness_db = a_weighted_loudness(audio, loaded.sample_rate, loaded.frame_rate, n_frames=n_frames)
    audio = audio[:, : n_frames * hop]
    model_f0, model_loudness, applied = adjust_features(
        f0_hz, loudness_db, confidence, loaded.statistics, auto_adjust, pitch_shift, loudness_shift, quiet_db
    )
    rendered = _render(loaded, model_f0, model_loudness, audio, seed, reverb, reverb_ir)
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


def _file_samples(audio: Tensor, peak: float) -> Tensor:
    """What goes into the WAV: ``audio`` scaled to a peak of FILE_PEAK when the whole output's
    ``peak`` exceeds CLIP_PEAK (one gain for the whole file, so blocks scale as the whole)."""
    return audio / peak * FILE_PEAK if peak > CLIP_PEAK else audio


def _figure_frames(n_frames: int, frame_rate: int) -> int:
    return min(n_frames, int(FIGURE_SECONDS * frame_rate))


def check_transfer_outputs(
    output: str | Path,
    inputs: tuple[str | Path, ...] = (),
    figure: bool = True,
    option: str = "--output",
    create_parent: bool = False,
) -> tuple[Path, Path | None, Path]:
    """Check the three outputs of a transfer before any work: ``output`` (the audio), the PNG
    (when ``figure`` and matplotlib is present) and the JSON beside it. Each must not be a
    symbolic link, a folder or one of ``inputs``, and its folder must exist and be writable
    (:func:`torchddsp.io.check_output`; ``create_parent``: a missing folder is created).
    ``output`` must have a suffix soundfile writes, not ``.png``/``.json`` (the companions'
    names). Returns ``(wav, png or None, json)``."""
    from .plots import have_matplotlib  # noqa: PLC0415  (matplotlib stays optional)

    output = Path(output)
    if output.suffix.lower() in (".png", ".json"):
        raise InputError(
            f"{option} {output}: expected an audio file name such as out.wav ({output.suffix} names "
            "the figure or the summary written beside it)"
        )
    audio_format(output, option)
    wav = check_output(output, inputs, option, create_parent=create_parent)
    png = (
        check_output(output.with_suffix(".png"), inputs, f"{option}'s figure") if figure and have_matplotlib() else None
    )
    summary = check_output(output.with_suffix(".json"), inputs, f"{option}'s summary")
    return wav, png, summary


def _write_figure(
    png: Path,
    input_audio: Tensor,
    output_audio: Tensor,
    sample_rate: int,
    frame_rate: int,
    curves: dict[str, np.ndarray],
) -> None:
    """The PNG of the first FIGURE_SECONDS (at most): spectrograms of input and output with
    the f0 and loudness curves, written atomically."""
    from .plots import save_transfer_figure  # noqa: PLC0415  (matplotlib stays optional)

    with atomic_path(png) as temporary:
        save_transfer_figure(temporary, input_audio, output_audio, sample_rate, frame_rate, curves)


def write_transfer(result: dict[str, Any], output: Path, figure: bool = True) -> list[Path]:
    """Write the transferred audio and, when matplotlib is present, a PNG comparing the input
    and output spectrograms with the f0 and loudness curves (``<output>.png``; the first
    FIGURE_SECONDS at most), and the adjustments (``<output>.json``).

    The audio is scaled to a peak of 0.9 when its peak exceeds 0.99 (keeps the file from
    clipping). Every file is written to a temporary name and renamed; an output that is a
    symbolic link or a folder is refused before anything is written. Returns the paths written.
    """
    wav, png, summary = check_transfer_outputs(output, figure=figure, create_parent=True)
    peak = float(result["audio"].abs().max())
    write_audio(wav, _file_samples(result["audio"], peak), result["sample_rate"])
    written = [wav]
    if png is not None:
        frames = _figure_frames(len(result["input_f0_hz"]), result["frame_rate"])
        samples = frames * (result["sample_rate"] // result["frame_rate"])
        curves = {
            k: result[k][:frames].numpy()
            for k in ("input_f0_hz", "model_f0_hz", "input_loudness_db", "model_loudness_db")
        }
        _write_figure(
            png,
            result["input_audio"][:samples],
            result["audio"][:samples],
            result["sample_rate"],
            result["frame_rate"],
            curves,
        )
        written.append(png)
    write_text_atomic(summary, json.dumps({"adjustments": result["adjustments"]}, indent=1))
    written.append(summary)
    return written


def _rendered_chunks(
    loaded: LoadedModel,
    f0_hz: Tensor,
    loudness_db: Tensor,
    chunk_frames: int,
    seed: int,
    reverb: bool,
    reverb_ir: Tensor | None,
    bar: Progress,
) -> Any:
    """The model's output ``(n,)`` float32 on the CPU, chunk after chunk, then what finishing gives."""
    device = next(loaded.model.parameters()).device
    state = start_render(loaded.model, seed=seed, reverb=reverb, reverb_ir=reverb_ir)
    for start in range(0, f0_hz.shape[1], chunk_frames):
        stop = min(start + chunk_frames, f0_hz.shape[1])
        out, state = render_chunk(
            loaded.model, state, f0_hz[:, start:stop].to(device), loudness_db[:, start:stop].to(device)
        )
        bar.update(stop - start)
        yield out["audio"][0].float().cpu()
    out, state = finish_render(loaded.model, state)
    yield out["audio"][0].float().cpu()


def _render_to_scratch(
    loaded: LoadedModel,
    f0_hz: Tensor,
    loudness_db: Tensor,
    scratch: Path,
    chunk_frames: int,
    seed: int,
    reverb: bool,
    reverb_ir: Tensor | None,
    show_progress: bool,
) -> float:
    """Render chunk by chunk into ``scratch`` (raw float32, exactly the samples the model
    gives); return the peak of the whole output."""
    peak = 0.0
    with open(scratch, "wb") as handle, Progress(f0_hz.shape[1], "render", enabled=show_progress) as bar:
        for audio in _rendered_chunks(loaded, f0_hz, loudness_db, chunk_frames, seed, reverb, reverb_ir, bar):
            if audio.numel():
                peak = max(peak, float(audio.abs().max()))
                audio.numpy().tofile(handle)
    return peak


def _scratch_blocks(scratch: Path, block: int) -> Any:
    """The float32 samples of ``scratch``, ``block`` at a time."""
    with open(scratch, "rb") as handle:
        while True:
            data = np.fromfile(handle, dtype=np.float32, count=block)
            if data.size == 0:
                return
            yield torch.from_numpy(data)


def _write_audio(scratch: Path, wav: Path, peak: float, sample_rate: int, block: int) -> int:
    """Second pass: the scratch samples, scaled as :func:`write_transfer` scales the whole
    output (one gain from the whole output's peak), into ``wav`` (atomically). Returns samples."""
    n_samples = 0
    with audio_writer(wav, sample_rate) as handle:  # the format and subtype write_audio would choose
        for audio in _scratch_blocks(scratch, block):
            handle.write(_file_samples(audio, peak).numpy())
            n_samples += audio.shape[0]
    return n_samples


def _figure_from_files(
    png: Path, input_path: Path, scratch: Path, loaded: LoadedModel, curves: dict[str, np.ndarray]
) -> None:
    """The PNG of the first FIGURE_SECONDS, read back from the input file and the rendered
    scratch file (as much memory as that excerpt, whatever the recording's length)."""
    frames = _figure_frames(len(curves["input_f0_hz"]), loaded.frame_rate)
    samples = frames * loaded.config.model.hop_size
    input_audio = next(iter(read_audio_blocks(input_path, loaded.sample_rate, samples)))[:samples]
    output_audio = next(iter(_scratch_blocks(scratch, samples)))
    _write_figure(
        png,
        input_audio,
        output_audio,
        loaded.sample_rate,
        loaded.frame_rate,
        {k: v[:frames] for k, v in curves.items()},
    )


def _protected_inputs(input_path: Path, model: LoadedModel | str | Path) -> tuple[Path, ...]:
    """What a transfer's outputs must not be in or replace: the input, the bundled models and
    the model's own folder (a summary JSON written there could replace its state.json)."""
    model_folder = (
        Path(model.source)
        if isinstance(model, LoadedModel) and model.source
        else None
        if isinstance(model, LoadedModel)
        else model_checkpoint(model)
    )
    return (input_path, PRETRAINED_DIR) + ((model_folder,) if model_folder is not None else ())


def transfer_file(
    input_path: str | Path,
    model: LoadedModel | str | Path,
    output_path: str | Path,
    *,
    auto_adjust: bool = True,
    pitch_shift: float = 0.0,
    loudness_shift: float = 0.0,
    quiet_db: float = 20.0,
    reverb: bool = True,
    reverb_ir: Tensor | None = None,
    f0_method: str = "crepe",
    crepe_model: str = "tiny",
    seed: int = 0,
    chunk_s: float = CHUNK_SECONDS,
    figure: bool = True,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Transfer a recording file of any length to ``output_path`` (WAV), with a PNG (when
    matplotlib is present; the first FIGURE_SECONDS) and a JSON of the adjustments beside it.

    The same files as ``write_transfer(transfer(read_audio(input_path), ...), output_path)``,
    in memory that does not grow with the recording (about ``chunk_s`` of audio at a time):

    1. the three outputs are checked before any work (:func:`check_transfer_outputs`: never an
       input, never through a symbolic link);
    2. features in chunks (:func:`torchddsp.features.recording.recording_features`), adjusted
       with the whole recording's statistics (:func:`adjust_features`);
    3. the model renders ``chunk_s`` at a time (:mod:`torchddsp.models.chunked`) into a
       raw float32 scratch file beside the output, tracking the peak;
    4. a second pass copies the scratch into the WAV, scaled to a peak of 0.9 when the whole
       output's peak exceeds 0.99 (what :func:`write_transfer` does to the whole output), under a
       temporary name renamed at the end. The scratch file is removed.

    A model with a z encoder (``z_dims > 0``) cannot render in chunks (its normalisation
    needs the whole recording): it is transferred in memory instead (memory grows with the
    recording). Arguments as :func:`transfer`. Returns ``{"adjustments", "written",
    "n_samples", "sample_rate"}``.
    """
    check_room(reverb, reverb_ir)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise InputError(f"input {input_path}: no such file")
    frames_per_chunk(chunk_s, 1.0)  # a bad value fails before any work
    protected = _protected_inputs(input_path, model)
    wav, png, summary = check_transfer_outputs(output_path, protected, figure, create_parent=True)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    options = dict(
        auto_adjust=auto_adjust,
        pitch_shift=pitch_shift,
        loudness_shift=loudness_shift,
        quiet_db=quiet_db,
        reverb=reverb,
        reverb_ir=reverb_ir,
        f0_method=f0_method,
        seed=seed,
        crepe_model=crepe_model,
    )
    if loaded.model.encoder is not None:
        result = transfer(read_audio(input_path, loaded.sample_rate), loaded.sample_rate, loaded, **options)
        written = write_transfer(result, wav, figure)
        return {
            "adjustments": result["adjustments"],
            "written": written,
            "n_samples": int(result["audio"].shape[0]),
            "sample_rate": loaded.sample_rate,
        }
    features = recording_features(
        input_path, loaded.sample_rate, loaded.frame_rate, f0_method, crepe_model, chunk_s, show_progress
    )
    if len(features["f0_hz"]) < 1:
        raise InputError(
            f"input {input_path} is shorter than one frame ({loaded.config.model.hop_size} samples at "
            f"{loaded.sample_rate} Hz)"
        )
    f0_hz, confidence, loudness_db = (
        torch.as_tensor(np.asarray(features[k]), dtype=torch.float32)[None]
        for k in ("f0_hz", "confidence", "loudness_db")
    )
    model_f0, model_loudness, applied = adjust_features(
        f0_hz, loudness_db, confidence, loaded.statistics, auto_adjust, pitch_shift, loudness_shift, quiet_db
    )
    chunk_frames = frames_per_chunk(chunk_s, loaded.frame_rate)
    with scratch_file(wav, "render") as scratch:  # raw float32, removed whatever happens
        peak = _render_to_scratch(
            loaded, model_f0, model_loudness, scratch, chunk_frames, seed, reverb, reverb_ir, show_progress
        )
        n_samples = _write_audio(scratch, wav, peak, loaded.sample_rate, chunk_frames * loaded.config.model.hop_size)
        written = [wav]
        if png is not None:
            curves = {
                "input_f0_hz": f0_hz[0].numpy(),
                "model_f0_hz": model_f0[0].numpy(),
                "input_loudness_db": loudness_db[0].numpy(),
                "model_loudness_db": model_loudness[0].numpy(),
            }
            _figure_from_files(png, input_path, scratch, loaded, curves)
            written.append(png)
    write_text_atomic(summary, json.dumps({"adjustments": applied}, indent=1))
    written.append(summary)
    return {"adjustments": applied, "written": written, "n_samples": n_samples, "sample_rate": loaded.sample_rate}
