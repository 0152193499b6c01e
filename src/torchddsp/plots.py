"""Every figure torchddsp writes (PNG), in one module: training's spectrograms and curves,
transfer's comparison. matplotlib comes from the ``plot`` extra and is imported only when a
figure is drawn, so that importing this module (or anything that may draw) never needs it:
callers ask :func:`have_matplotlib` first."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["have_matplotlib", "log_spectrogram", "save_spectrograms", "save_training_curves", "save_transfer_figure"]

# The spectrograms' analysis: 64 ms windows and 8 ms hops at 16 kHz.
N_FFT, HOP = 1024, 128


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _subplots(rows: int, columns: int, figsize: tuple[float, float], **options):
    """A figure and its axes drawn without pyplot: no global backend is switched (a notebook's
    inline plots keep working) and nothing is kept in pyplot's figure registry."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=figsize, constrained_layout=True)
    return figure, figure.subplots(rows, columns, **options)


def log_spectrogram(audio: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """dB magnitude spectrogram of ``(n_samples,)`` audio, ``(bins, frames)``, 0 dB = full-scale sine."""
    from .features.fourier import magnitude_spectrogram  # noqa: PLC0415

    audio = audio.detach().float().reshape(1, -1)
    if audio.shape[1] <= n_fft // 2:
        audio = torch.nn.functional.pad(audio, (0, n_fft))
    magnitude = magnitude_spectrogram(audio, n_fft, hop)[0].T
    return (20 * torch.log10(magnitude / (n_fft / 4) + 1e-6)).numpy()


def save_spectrograms(path: Path, signals: Sequence[tuple[str, torch.Tensor]], sample_rate: int) -> None:
    """Spectrograms stacked on one colour scale (e.g. target and resynthesis)."""
    images = [log_spectrogram(audio) for _, audio in signals]
    top = max(float(image.max()) for image in images)
    figure, axes = _subplots(len(images), 1, (9, 2.6 * len(images)), sharex=True)
    axes = np.atleast_1d(axes)
    for axis, image, (title, audio) in zip(axes, images, signals):
        extent = (0.0, audio.shape[-1] / sample_rate, 0.0, sample_rate / 2000)
        shown = axis.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=top - 80, vmax=top)
        axis.set(title=title, ylabel="kHz")
    axes[-1].set_xlabel("time (s)")
    figure.colorbar(shown, ax=list(axes), label="dB")
    figure.savefig(path, dpi=90)


def save_training_curves(path: Path, train_csv: Path, eval_csv: Path | None = None) -> None:
    """Training loss (and evaluation metrics, when logged) against step."""
    rows = list(csv.DictReader(train_csv.open()))
    evaluations = list(csv.DictReader(eval_csv.open())) if eval_csv is not None and eval_csv.is_file() else []
    panels = 1 + (2 if evaluations else 0)
    figure, axes = _subplots(1, panels, (4.5 * panels, 3.4))
    axes = np.atleast_1d(axes)
    axes[0].plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], lw=0.8)
    axes[0].set(xlabel="step", ylabel="training loss", yscale="log")
    if evaluations:
        steps = [int(r["step"]) for r in evaluations]
        axes[1].plot(steps, [float(r["loudness_l1_db"]) for r in evaluations], marker="o")
        axes[1].set(xlabel="step", ylabel="loudness L1 (dB)")
        axes[2].plot(steps, [float(r["f0_l1_semitones"]) for r in evaluations], marker="o")
        axes[2].set(xlabel="step", ylabel="f0 L1 (semitones)")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.savefig(path, dpi=90)


def save_transfer_figure(
    path: Path,
    source: torch.Tensor,
    output: torch.Tensor,
    sample_rate: int,
    frame_rate: int,
    curves: dict[str, np.ndarray],
) -> None:
    """Input and output spectrograms, with the f0 curves on top and the loudness curves below."""
    images = [log_spectrogram(source), log_spectrogram(output)]
    top = max(float(image.max()) for image in images)
    figure, axes = _subplots(3, 1, (9, 8), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    for axis, image, title in zip(axes, images, ("input", "output")):
        extent = (0.0, image.shape[1] * HOP / sample_rate, 0.0, sample_rate / 2)
        axis.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=top - 80, vmax=top)
        axis.set(title=title, ylabel="Hz", ylim=(0, min(sample_rate / 2, 4000)))
    frames = np.arange(len(curves["input_f0_hz"])) / frame_rate
    axes[0].plot(frames, curves["input_f0_hz"], color="cyan", lw=0.8, label="input f0")
    axes[1].plot(frames, curves["model_f0_hz"], color="cyan", lw=0.8, label="f0 given to the model")
    for axis in axes[:2]:
        axis.legend(loc="upper right", fontsize=8)
    axes[2].plot(frames, curves["input_loudness_db"], label="input loudness", lw=0.8)
    axes[2].plot(frames, curves["model_loudness_db"], label="loudness given to the model", lw=0.8)
    axes[2].set(xlabel="time (s)", ylabel="dB")
    axes[2].legend(loc="lower right", fontsize=8)
    axes[2].grid(alpha=0.3)
    figure.savefig(path, dpi=90)
