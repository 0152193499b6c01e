"""Timbre transfer in memory: load a model, adjust an input's features to it, render, write.

:func:`transfer` holds the whole recording and every intermediate curve;
:func:`write_transfer` writes its result (audio, figure, summary). Files of any length go
through :func:`torchddsp.transfer.files.transfer_file`, which gives the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import TypedDict

import numpy as np
import torch
from torch import Tensor

from ..configs import ExperimentConfig
from ..features import a_weighted_loudness
from ..features import estimate_f0
from ..functional import resample
from ..io import atomic_path
from ..io import audio_format
from ..io import check_output
from ..io import write_audio
from ..io import write_text_atomic
from ..models.autoencoder import Autoencoder
from ..models.autoencoder import check_room
from ..models.chunked import render_chunked
from ..training.checkpoints import latest_checkpoint
from ..training.checkpoints import load_checkpoint
from ..training.checkpoints import read_state
from ..training.checkpoints import stored_config
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_rank
from .adjust import adjust_features

__all__ = [
    "LoadedModel",
    "load_model",
    "model_checkpoint",
    "available_models",
    "transfer",
    "write_transfer",
    "check_transfer_outputs",
    "PRETRAINED_DIR",
    "FIGURE_SECONDS",
    "TransferOptions",
]

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
#: The PNG beside a transfer shows at most this many seconds from the start (memory stays bounded).
FIGURE_SECONDS = 60.0
#: A WAV whose peak exceeds this is scaled to a peak of FILE_PEAK (keeps the file from clipping).
CLIP_PEAK, FILE_PEAK = 0.99, 0.9


class TransferOptions(TypedDict, total=False):
    """The keyword arguments of :func:`transfer` (see its Args for meanings and defaults), as
    :func:`~torchddsp.transfer.files.transfer_file` takes them."""

    auto_adjust: bool
    pitch_shift: float
    loudness_shift: float
    quiet_db: float
    reverb: bool
    reverb_ir: Tensor | None
    f0_method: str
    seed: int
    crepe_model: str
    input_statistics: dict[str, Any] | None
    yin_options: dict[str, Any] | None
    loudness_n_fft: int | None


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
    """Names of the timbre-transfer models bundled with torchddsp (``load_model(name)``).

    The other bundled models (piano, drums, matching, style) share ``pretrained/`` but are not
    autoencoders: a transfer model is a folder with ``model.safetensors`` and ``state.json``.
    """
    if not PRETRAINED_DIR.is_dir():
        return []
    # Hidden folders are models being bundled (scripts/bundle_model.py), not models yet.
    return sorted(
        p.name
        for p in PRETRAINED_DIR.iterdir()
        if not p.name.startswith(".") and (p / "model.safetensors").is_file() and (p / "state.json").is_file()
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


def _model_input(audio: Tensor, sample_rate: float, loaded: LoadedModel) -> tuple[Tensor, int]:
    """``audio`` checked (one finite mono signal), as float32 ``(1, n)`` at the model's rate,
    and its number of whole frames (at least one)."""
    audio = audio.reshape(1, -1) if audio.dim() == 1 else audio
    check_rank("audio", audio, 2, "(n_samples,) or (1, n_samples)")
    if audio.shape[0] != 1:
        raise InputError(f"audio must be one mono signal, found {audio.shape[0]} signals")
    check_finite("audio", audio)
    rate = check_positive_int("sample_rate", sample_rate)  # resample takes whole rates
    audio = audio.float()
    if rate != loaded.sample_rate:
        audio = resample(audio, rate, loaded.sample_rate)
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
    if loaded.model.encoder is None and loaded.model.config.is_default_graph:
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
    with torch.no_grad():
        return loaded.model(
            f0_hz.to(device), loudness_db.to(device), audio.to(device), seed=seed, reverb=reverb, reverb_ir=reverb_ir
        )


def _features(
    audio: Tensor,
    loaded: LoadedModel,
    n_frames: int,
    f0_method: str,
    crepe_model: str,
    yin_options: dict[str, Any],
    loudness_n_fft: int | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """f0, confidence and loudness ``(1, n_frames)`` of the whole signal (the samples past the
    last whole frame included), as recording_features and prepare measure them."""
    options = {k: v for k, v in yin_options.items() if v is not None} if f0_method == "yin" else {}
    f0_hz, confidence = estimate_f0(
        audio, loaded.sample_rate, loaded.frame_rate, method=f0_method, model=crepe_model, n_frames=n_frames, **options
    )
    loudness_db = a_weighted_loudness(
        audio, loaded.sample_rate, loaded.frame_rate, n_fft=loudness_n_fft, n_frames=n_frames
    )
    return f0_hz, confidence, loudness_db


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
    input_statistics: dict[str, Any] | None = None,
    yin_options: dict[str, Any] | None = None,
    loudness_n_fft: int | None = None,
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
        input_statistics: auto-adjust from these statistics of the input instead of the
            recording's own (:func:`~torchddsp.transfer.adjust.feature_statistics`), as a stream does.
        yin_options: YIN's ``min_hz``, ``max_hz``, ``threshold`` with ``f0_method="yin"``.
        loudness_n_fft: the loudness window (None: 512 at 16 kHz).

    Example:
        >>> result = transfer(torch.zeros(2400), 24000, "flute", f0_method="yin")  # the bundled 16 kHz model
        >>> result["audio"].shape, result["model_f0_hz"].shape, result["sample_rate"], result["frame_rate"]
        (torch.Size([1600]), torch.Size([25]), 16000, 250)
    """
    check_room(reverb, reverb_ir)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    audio, n_frames = _model_input(audio, sample_rate, loaded)
    hop = loaded.config.model.hop_size
    f0_hz, confidence, loudness_db = _features(
        audio, loaded, n_frames, f0_method, crepe_model, yin_options or {}, loudness_n_fft
    )
    audio = audio[:, : n_frames * hop]  # the render covers the whole frames
    adjust = (auto_adjust, pitch_shift, loudness_shift, quiet_db, input_statistics)
    model_f0, model_loudness, applied = adjust_features(f0_hz, loudness_db, confidence, loaded.statistics, *adjust)
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


def file_samples(audio: Tensor, peak: float) -> Tensor:
    """What goes into the WAV: ``audio`` scaled to a peak of FILE_PEAK when the whole output's
    ``peak`` exceeds CLIP_PEAK (one gain for the whole file, so blocks scale as the whole)."""
    return audio / peak * FILE_PEAK if peak > CLIP_PEAK else audio


def figure_frames(n_frames: int, frame_rate: int) -> int:
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
    from ..plots import have_matplotlib  # noqa: PLC0415  (matplotlib stays optional)

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


def write_figure(
    png: Path,
    input_audio: Tensor,
    output_audio: Tensor,
    sample_rate: int,
    frame_rate: int,
    curves: dict[str, np.ndarray],
) -> None:
    """The PNG of the first FIGURE_SECONDS (at most): spectrograms of input and output with
    the f0 and loudness curves, written atomically."""
    from ..plots import save_transfer_figure  # noqa: PLC0415  (matplotlib stays optional)

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
    write_audio(wav, file_samples(result["audio"], peak), result["sample_rate"])
    written = [wav]
    if png is not None:
        frames = figure_frames(len(result["input_f0_hz"]), result["frame_rate"])
        samples = frames * (result["sample_rate"] // result["frame_rate"])
        curves = {
            k: result[k][:frames].numpy()
            for k in ("input_f0_hz", "model_f0_hz", "input_loudness_db", "model_loudness_db")
        }
        write_figure(
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
