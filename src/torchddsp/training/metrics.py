"""Resynthesis metrics as DDSP defines them (``torchddsp evaluate``).

For each held-out example the model resynthesises the audio from the example's own f0 and
loudness; f0 and loudness are then measured again on the output and compared with the
example's:

- ``loudness_l1_db``: mean |loudness(output) - loudness(input)| in dB over all frames;
- ``f0_l1_semitones``: mean |midi(f0 output) - midi(f0 input)| over the frames where the input's
  f0 confidence is at least 0.85 (pitched frames);
- ``f0_outlier_ratio``: share of those frames where the difference exceeds one semitone
  (both f0 metrics are NaN when no frame is pitched: undefined, not perfect);
- ``spectral_loss``: the multi-scale spectral loss (Magenta's preset) between output and input.
"""

from __future__ import annotations

import math

import torch

from ..features import a_weighted_loudness
from ..features import estimate_f0
from ..features.pitch import CONFIDENCE_THRESHOLD
from ..functional import hz_to_midi
from ..losses import MultiScaleSpectralLoss
from ..validation import InputError
from .data import FeatureDataset

__all__ = ["resynthesis_metrics", "evaluate_model", "METRIC_NAMES"]

METRIC_NAMES = ("loudness_l1_db", "f0_l1_semitones", "f0_outlier_ratio", "spectral_loss")


def resynthesis_metrics(
    output: torch.Tensor,
    target: torch.Tensor,
    f0_hz: torch.Tensor,
    confidence: torch.Tensor,
    loudness_db: torch.Tensor,
    sample_rate: int,
    frame_rate: int,
    f0_method: str = "crepe",
) -> dict[str, float]:
    """Sums for the metrics of one batch (see the module docstring); combine with
    :func:`evaluate_model`. Shapes: audio ``(batch, n_samples)``, features ``(batch, n_frames)``."""
    n_frames = f0_hz.shape[1]
    output_f0, _ = estimate_f0(output, sample_rate, frame_rate, method=f0_method, n_frames=n_frames)
    output_loudness = a_weighted_loudness(output, sample_rate, frame_rate, n_frames=n_frames)
    pitched = confidence >= CONFIDENCE_THRESHOLD
    semitones = (hz_to_midi(output_f0.clamp_min(1.0)) - hz_to_midi(f0_hz.clamp_min(1.0))).abs()[pitched]
    spectral = MultiScaleSpectralLoss.magenta(reduction="sum")(output, target)
    return {
        "loudness_abs_sum": float((output_loudness - loudness_db).abs().sum()),
        "frames": float(loudness_db.numel()),
        "f0_abs_sum": float(semitones.sum()),
        "f0_outliers": float((semitones > 1.0).sum()),
        "pitched_frames": float(pitched.sum()),
        "spectral_sum": float(spectral),
        "examples": float(output.shape[0]),
    }


@torch.no_grad()
def evaluate_model(
    model,
    dataset: FeatureDataset,
    max_examples: int | None = None,
    batch_size: int = 8,
    f0_method: str = "crepe",
    seed: int = 0,
) -> dict[str, float]:
    """Metrics of ``model`` (an :class:`~torchddsp.models.Autoencoder`) on a dataset split."""
    was_training = model.training
    model.eval()
    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1
    ):
        raise InputError(f"max_examples must be a whole number >= 1 or None, found {max_examples!r}")
    count = len(dataset) if max_examples is None else min(len(dataset), max_examples)
    if count == 0:
        raise InputError("the evaluation split holds no examples")
    # Evenly spread examples when evaluating a subset.
    indices = torch.linspace(0, len(dataset) - 1, count).round().long().unique().tolist()
    totals: dict[str, float] = {}
    generator = torch.Generator().manual_seed(seed)
    sample_rate, frame_rate = int(dataset.metadata["sample_rate"]), int(dataset.metadata["frame_rate"])
    for start in range(0, len(indices), batch_size):
        items = [dataset[i] for i in indices[start : start + batch_size]]
        batch = {key: torch.stack([item[key] for item in items]) for key in items[0]}
        output = model(batch["f0_hz"], batch["loudness_db"], batch["audio"], generator=generator)["audio"]
        sums = resynthesis_metrics(
            output,
            batch["audio"],
            batch["f0_hz"],
            batch["confidence"],
            batch["loudness_db"],
            sample_rate,
            frame_rate,
            f0_method,
        )
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + value
    model.train(was_training)
    # With no pitched frame the f0 metrics are undefined: NaN, not a perfect 0.
    pitched = totals["pitched_frames"] or math.nan
    return {
        "loudness_l1_db": totals["loudness_abs_sum"] / totals["frames"],
        "f0_l1_semitones": totals["f0_abs_sum"] / pitched,
        "f0_outlier_ratio": totals["f0_outliers"] / pitched,
        "spectral_loss": totals["spectral_sum"] / totals["examples"],
        "examples": totals["examples"],
        "pitched_frames": totals["pitched_frames"],
    }
