"""The zoo's identity matrix: can each instrument's own model be told from the others?

For every instrument with a prepared held-out set (``DATA/<instrument>_heldout``, tunes no zoo
model trained on) and every model, the model resynthesises each held-out example from the
example's own f0 and loudness; its distance to the source is measured two ways:

- multi-scale spectral distance (:meth:`torchddsp.losses.MultiScaleSpectralLoss.magenta`,
  mean over the examples);
- harmonic profile L1 (dB): the mean level of harmonics 1-10 relative to each frame's strongest
  one, over the voiced frames (input CREPE confidence >= 0.85, within 30 dB of the set's
  loudest frame), of the source and of the output; the mean absolute difference of the two
  profiles. It measures the spectral envelope whatever the loudness and the melody.

A row (one instrument's held-out audio) passes when its own model (the column of the same
name) is strictly closer to the source than every other model by both measures.

Usage::

    python scripts/zoo_identity.py --models violin=data/zoo/runs/violin \\
        cello=data/zoo/runs/cello_from_violin [--data data/zoo/ds] [--max-examples 48] [--json OUT]

A model is a run or checkpoint folder (or a bundled name, e.g. ``flute=flute`` to compare with
the bundled flute). Prints the two matrices as markdown with each row's check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from torchddsp.losses import MultiScaleSpectralLoss

# model(f0_hz (b, frames), loudness_db (b, frames), audio (b, n)) -> audio (b, n)
Model = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
CONFIDENCE_MIN = 0.85
LOUDNESS_WITHIN_DB = 30.0


def harmonic_levels_db(
    audio: np.ndarray,
    f0_hz: np.ndarray,
    frames: np.ndarray,
    hop: int,
    sample_rate: float,
    n_harmonics: int = 10,
    n_fft: int = 2048,
) -> np.ndarray:
    """Levels (dB) of harmonics 1..n_harmonics relative to each frame's strongest one.

    Each level is the peak of a Hann-windowed FFT frame centred on frame ``i``'s time
    (``i * hop``), within 1.5 % (26 cents) and one bin of ``k * f0``; harmonics at or above
    the last bin are NaN.

    Shape: audio ``(n_samples,)``; f0_hz ``(n_frames,)`` in Hz; frames ``(n_voiced,)`` frame
    indices; returns ``(n_voiced, n_harmonics)`` in dB (0 for the strongest harmonic).

    Example:
        >>> t = np.arange(16000) / 16000
        >>> tone = np.sin(2 * np.pi * 250 * t) + 0.5 * np.sin(2 * np.pi * 500 * t)
        >>> levels = harmonic_levels_db(tone, np.full(250, 250.0), np.array([100]), 64, 16000, n_harmonics=2)
        >>> np.round(levels, 2).tolist()
        [[0.0, -6.02]]
    """
    padded = np.pad(np.asarray(audio, dtype=np.float64), n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spectra = np.abs(np.fft.rfft(np.stack([padded[i * hop : i * hop + n_fft] for i in frames]) * window, axis=-1))
    centre = np.asarray(f0_hz, dtype=np.float64)[frames, None] * np.arange(1, n_harmonics + 1) * n_fft / sample_rate
    bins = np.round(centre)[..., None] + np.arange(-40, 41)
    inside = (np.abs(bins - centre[..., None]) <= 0.015 * centre[..., None] + 1) & (bins < spectra.shape[1])
    values = np.take_along_axis(spectra[:, None, :], np.clip(bins, 0, spectra.shape[1] - 1).astype(int), axis=-1)
    levels = np.where(inside, values, -np.inf).max(axis=-1)
    levels = np.where(centre < spectra.shape[1] - 1, levels, np.nan)
    db = 20 * np.log10(np.maximum(levels, 1e-9))
    return db - np.nanmax(db, axis=1, keepdims=True)


def harmonic_profile(
    audio: np.ndarray, f0_hz: np.ndarray, voiced: np.ndarray, hop: int, sample_rate: float
) -> np.ndarray:
    """Mean relative harmonic levels (dB) over the voiced frames of every example.

    Shape: audio ``(batch, n_samples)``; f0_hz, voiced ``(batch, n_frames)``; returns
    ``(n_harmonics,)``.
    """
    rows = [
        harmonic_levels_db(audio[b], f0_hz[b], np.flatnonzero(voiced[b]), hop, sample_rate)
        for b in range(audio.shape[0])
        if voiced[b].any()
    ]
    if not rows:
        raise ValueError("voiced: no voiced frame in any example")
    return np.nanmean(np.concatenate(rows), axis=0)


def voiced_frames(confidence: torch.Tensor, loudness_db: torch.Tensor) -> np.ndarray:
    """Confidently pitched frames within 30 dB of the set's loudest; shapes ``(batch, n_frames)``."""
    return ((confidence >= CONFIDENCE_MIN) & (loudness_db > loudness_db.max() - LOUDNESS_WITHIN_DB)).numpy()


def distances(clip: dict, model: Model, hop: int, sample_rate: float, batch_size: int = 8) -> tuple[float, float]:
    """(spectral distance, harmonic-profile L1 in dB) of ``model``'s resynthesis of ``clip``.

    ``clip``: ``audio (batch, n_samples)``, ``f0_hz``, ``loudness_db``, ``confidence``
    ``(batch, n_frames)`` tensors (a prepared dataset's examples, stacked).
    """
    loss = MultiScaleSpectralLoss.magenta()
    outputs, spectral = [], 0.0
    n = clip["audio"].shape[0]
    for start in range(0, n, batch_size):
        part = {key: value[start : start + batch_size] for key, value in clip.items()}
        with torch.no_grad():
            output = model(part["f0_hz"], part["loudness_db"], part["audio"])
        spectral += float(loss(output.double(), part["audio"].double())) * part["audio"].shape[0]
        outputs.append(output)
    voiced = voiced_frames(clip["confidence"], clip["loudness_db"])
    f0 = clip["f0_hz"].numpy()
    source = harmonic_profile(clip["audio"].numpy(), f0, voiced, hop, sample_rate)
    output_profile = harmonic_profile(torch.cat(outputs).numpy(), f0, voiced, hop, sample_rate)
    return spectral / n, float(np.nanmean(np.abs(output_profile - source)))


def identity_matrix(clips: dict[str, dict], models: dict[str, Model], hop: int, sample_rate: float) -> dict:
    """``{"spectral": {row: {column: d}}, "profile": {...}}`` for every clip (row) and model
    (column)."""
    matrix: dict[str, dict[str, dict[str, float]]] = {"spectral": {}, "profile": {}}
    for row, clip in clips.items():
        for column, model in models.items():
            spectral, profile = distances(clip, model, hop, sample_rate)
            matrix["spectral"].setdefault(row, {})[column] = spectral
            matrix["profile"].setdefault(row, {})[column] = profile
    return matrix


def diagonal_check(table: dict[str, dict[str, float]]) -> dict[str, bool | None]:
    """Per row: is the row's own column strictly the smallest? None when the row has no
    own model or no other model to beat."""
    checks: dict[str, bool | None] = {}
    for row, values in table.items():
        others = [v for column, v in values.items() if column != row]
        checks[row] = None if row not in values or not others else bool(values[row] < min(others))
    return checks


def markdown(table: dict[str, dict[str, float]], title: str, digits: int = 2) -> str:
    """One matrix as a markdown table: rows clips, columns models, the row minimum in bold."""
    columns = list(next(iter(table.values())))
    checks = diagonal_check(table)
    lines = [f"| {title} | " + " | ".join(columns) + " | own model closest |", "|---" * (len(columns) + 2) + "|"]
    for row, values in table.items():
        best = min(values.values())
        cells = [f"**{v:.{digits}f}**" if v == best else f"{v:.{digits}f}" for v in values.values()]
        verdict = {True: "yes", False: "NO", None: "-"}[checks[row]]
        lines.append(f"| {row} clip | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def load_clip(dataset_dir: Path, max_examples: int) -> dict:
    """A held-out set's first ``max_examples`` examples, stacked (evenly spaced if more)."""
    from torchddsp.training.data import FeatureDataset

    dataset = FeatureDataset(dataset_dir, "train")  # held-out sets keep everything in "train"
    indices = np.linspace(0, len(dataset) - 1, min(max_examples, len(dataset))).round().astype(int)
    items = [dataset[int(i)] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in ("audio", "f0_hz", "loudness_db", "confidence")}


def main(argv: list[str] | None = None) -> None:
    from torchddsp.transfer import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="INSTRUMENT=RUN_OR_BUNDLED_NAME")
    parser.add_argument("--data", type=Path, default=Path("data/zoo/ds"), help="holds INSTRUMENT_heldout sets")
    parser.add_argument("--rows", nargs="*", help="instruments whose held-out clips to use (default: the models')")
    parser.add_argument("--max-examples", type=int, default=48)
    parser.add_argument("--json", type=Path, help="also write the matrices here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    loaded = {name: load_model(path) for name, path in (spec.split("=", 1) for spec in args.models)}
    first = next(iter(loaded.values()))
    hop, rate = first.config.model.hop_size, first.sample_rate

    def wrap(model: torch.nn.Module) -> Model:
        generator = torch.Generator().manual_seed(0)
        return lambda f0, loudness, audio: model(f0, loudness, audio, generator=generator)["audio"]

    models = {name: wrap(item.model) for name, item in loaded.items()}
    rows = args.rows or list(loaded)
    clips = {row: load_clip(args.data / f"{row}_heldout", args.max_examples) for row in rows}
    matrix = identity_matrix(clips, models, hop, rate)
    print(markdown(matrix["spectral"], "spectral distance"))
    print()
    print(markdown(matrix["profile"], "harmonic profile L1 (dB)"))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"models": dict(spec.split("=", 1) for spec in args.models), **matrix}, indent=1)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
