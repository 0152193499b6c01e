"""Timbre transfer of a recording file of any length, in memory that does not grow with it.

:func:`transfer_file` (what ``torchddsp transfer`` runs) measures the features in chunks
(:func:`torchddsp.features.recording.recording_features`), adjusts them with the whole
recording's statistics (frame-rate arrays are small) and renders chunk by chunk
(:mod:`torchddsp.models.chunked`) into a scratch file, then writes the WAV from it: the files
equal what :func:`~torchddsp.transfer.in_memory.transfer` and
:func:`~torchddsp.transfer.in_memory.write_transfer` give in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from typing_extensions import Unpack

from ..features.recording import CHUNK_SECONDS
from ..features.recording import frames_per_chunk
from ..features.recording import recording_features
from ..io import audio_writer
from ..io import read_audio
from ..io import read_audio_blocks
from ..io import scratch_file
from ..io import write_text_atomic
from ..models.autoencoder import check_room
from ..models.chunked import render_chunks
from ..progress import Progress
from ..validation import InputError
from .adjust import adjust_features
from .in_memory import PRETRAINED_DIR
from .in_memory import LoadedModel
from .in_memory import TransferOptions
from .in_memory import check_transfer_outputs
from .in_memory import figure_frames
from .in_memory import file_samples
from .in_memory import load_model
from .in_memory import model_checkpoint
from .in_memory import transfer
from .in_memory import write_figure
from .in_memory import write_transfer

__all__ = ["transfer_file"]

# Which of transfer's options each stage of the chunked path takes (each stage's own defaults).
_ANALYSIS = ("f0_method", "crepe_model", "yin_options", "loudness_n_fft")
_ADJUST = ("auto_adjust", "pitch_shift", "loudness_shift", "quiet_db", "input_statistics")
_RENDER = ("seed", "reverb", "reverb_ir")


def _pick(options: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: options[name] for name in names if name in options}


def _render_to_scratch(
    loaded: LoadedModel,
    f0_hz: Tensor,
    loudness_db: Tensor,
    scratch: Path,
    chunk_frames: int,
    show_progress: bool,
    **render: Any,
) -> float:
    """Render chunk by chunk into ``scratch`` (raw float32, exactly the samples the model
    gives); return the peak of the whole output. ``render``: seed, reverb, reverb_ir."""
    peak = 0.0
    chunks = render_chunks(loaded.model, f0_hz, loudness_db, chunk_frames, **render)
    with open(scratch, "wb") as handle, Progress(f0_hz.shape[1], "render", enabled=show_progress) as bar:
        for out, frames in chunks:
            audio = out["audio"][0].float().cpu()
            bar.update(frames)
            if audio.numel():
                peak = max(peak, float(audio.abs().max()))
                audio.numpy().tofile(handle)
    return peak


def _scratch_blocks(scratch: Path, block: int) -> Iterator[Tensor]:
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
            handle.write(file_samples(audio, peak).numpy())
            n_samples += audio.shape[0]
    return n_samples


def _figure_from_files(
    png: Path, input_path: Path, scratch: Path, loaded: LoadedModel, curves: dict[str, np.ndarray]
) -> None:
    """The PNG of the first FIGURE_SECONDS, read back from the input file and the rendered
    scratch file (as much memory as that excerpt, whatever the recording's length)."""
    frames = figure_frames(len(curves["input_f0_hz"]), loaded.frame_rate)
    samples = frames * loaded.config.model.hop_size
    input_audio = next(iter(read_audio_blocks(input_path, loaded.sample_rate, samples)))[:samples]
    output_audio = next(iter(_scratch_blocks(scratch, samples)))
    write_figure(
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
    chunk_s: float = CHUNK_SECONDS,
    figure: bool = True,
    show_progress: bool = False,
    **options: Unpack[TransferOptions],
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
    recording). ``options``: the keyword arguments of :func:`transfer` (auto_adjust,
    pitch_shift, loudness_shift, quiet_db, reverb, reverb_ir, f0_method, seed, crepe_model).
    Returns ``{"adjustments", "written", "n_samples", "sample_rate"}``.
    """
    check_room(options.get("reverb", True), options.get("reverb_ir"))
    input_path = Path(input_path)
    if not input_path.is_file():
        raise InputError(f"input {input_path}: no such file")
    frames_per_chunk(chunk_s, 1.0)  # a bad value fails before any work
    protected = _protected_inputs(input_path, model)
    wav, png, summary = check_transfer_outputs(output_path, protected, figure, create_parent=True)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.model.encoder is not None or not loaded.model.config.is_default_graph:
        result = transfer(read_audio(input_path, loaded.sample_rate), loaded.sample_rate, loaded, **options)
        return {
            "adjustments": result["adjustments"],
            "written": write_transfer(result, wav, figure),
            "n_samples": int(result["audio"].shape[0]),
            "sample_rate": loaded.sample_rate,
        }
    applied, written, n_samples = _transfer_in_chunks(input_path, loaded, wav, png, chunk_s, show_progress, options)
    write_text_atomic(summary, json.dumps({"adjustments": applied}, indent=1))
    written.append(summary)
    return {"adjustments": applied, "written": written, "n_samples": n_samples, "sample_rate": loaded.sample_rate}


def _transfer_in_chunks(
    input_path: Path,
    loaded: LoadedModel,
    wav: Path,
    png: Path | None,
    chunk_s: float,
    show_progress: bool,
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], list[Path], int]:
    """Steps 2 to 4 of :func:`transfer_file` for a model without z encoder: returns the
    adjustments, the files written (the WAV, the PNG) and the samples written."""
    features = recording_features(
        input_path,
        loaded.sample_rate,
        loaded.frame_rate,
        chunk_s=chunk_s,
        show_progress=show_progress,
        **_pick(options, _ANALYSIS),
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
        f0_hz, loudness_db, confidence, loaded.statistics, **_pick(options, _ADJUST)
    )
    chunk_frames = frames_per_chunk(chunk_s, loaded.frame_rate)
    with scratch_file(wav, "render") as scratch:  # raw float32, removed whatever happens
        peak = _render_to_scratch(
            loaded, model_f0, model_loudness, scratch, chunk_frames, show_progress, **_pick(options, _RENDER)
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
    return applied, written, n_samples
