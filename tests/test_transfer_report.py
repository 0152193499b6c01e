"""What transfer reports about the loudness it gives the model: the change it made, measured,
not a restatement of the manual settings."""

import numpy as np
import pytest
import soundfile as sf
import torch
from training_support import DATA

from torchddsp.features.pitch import CONFIDENCE_THRESHOLD
from torchddsp.transfer import adjust_features
from torchddsp.transfer import transfer

STATISTICS = {
    "pitched_frames": 1000,
    "mean_pitch_midi": 69.0,
    "quantile_levels": list(np.linspace(0, 1, 101)),
    "loudness_db_quantiles": list(np.linspace(-40.0, 0.0, 101)),
}


def _ramp():
    """100 frames at 440 Hz, loudness rising evenly from -70 to -30 dB; the first 10 unpitched."""
    f0 = torch.full((1, 100), 440.0, dtype=torch.float64)
    loudness = torch.linspace(-70.0, -30.0, 100, dtype=torch.float64)[None]
    confidence = torch.ones(1, 100, dtype=torch.float64)
    confidence[0, :10] = 0.1
    return f0, loudness, confidence


@pytest.mark.parametrize("manual_db", [0.0, 6.0])
def test_report_gives_the_loudness_shift_the_quantile_map_applied(manual_db):
    # Catches a report that restates the manual loudness_shift (0 dB) while the quantile map
    # moved the loudness by tens of dB, or that measures over the unpitched frames too.
    f0, loudness, confidence = _ramp()
    _, adjusted, applied = adjust_features(f0, loudness, confidence, STATISTICS, loudness_shift=manual_db)
    pitched = loudness[0, 10:].numpy()
    # Closed form: evenly spread pitched loudness maps linearly onto the training range
    # [-40, 0] dB, so its median goes to -20 dB (plus the manual shift).
    expected = -20.0 - float(np.median(pitched)) + manual_db  # +27.98 dB + manual
    # (to 1e-6: the map nudges equal quantiles apart by 1e-9 dB per level to keep it monotone)
    assert applied["median_loudness_shift_db"] == pytest.approx(expected, abs=1e-6)
    measured = float(np.median(adjusted[0, 10:].numpy()) - np.median(pitched))
    assert applied["median_loudness_shift_db"] == pytest.approx(measured, abs=1e-9)
    assert applied["loudness_map_input_range_db"] == pytest.approx([pitched.min(), pitched.max()], abs=1e-9)
    assert applied["loudness_map_output_range_db"] == pytest.approx([-40.0, 0.0], abs=1e-12)
    assert applied["manual_loudness_shift_db"] == manual_db and applied["quiet_db"] == 20.0


def test_report_without_the_quantile_map():
    f0, loudness, confidence = _ramp()
    _, adjusted, applied = adjust_features(f0, loudness, confidence, STATISTICS, auto_adjust=False, loudness_shift=-3.0)
    assert applied["median_loudness_shift_db"] == pytest.approx(-3.0, abs=1e-9)
    assert applied["loudness_map_input_range_db"] is None and applied["loudness_map_output_range_db"] is None
    # Nothing pitched: the map cannot run; the shift is measured over all frames.
    _, _, applied = adjust_features(f0, loudness, torch.zeros_like(confidence), STATISTICS, loudness_shift=2.0)
    assert applied["median_loudness_shift_db"] == pytest.approx(2.0, abs=1e-9) and applied["quiet_db"] == 0.0


@pytest.mark.slow  # over 2 s: make test runs it, make test-fast does not
def test_transfer_reports_the_loudness_change_it_gave_the_model():
    # End to end on a real melody and a bundled model: the reported shift is the change
    # between the returned input and model loudness curves on the pitched frames.
    audio, rate = sf.read(DATA / "violin.flac", dtype="float32")
    result = transfer(torch.from_numpy(audio), rate, "violin", loudness_shift=1.5)
    pitched = (result["confidence"] >= CONFIDENCE_THRESHOLD).numpy()
    before, after = result["input_loudness_db"].numpy()[pitched], result["model_loudness_db"].numpy()[pitched]
    measured = float(np.median(after) - np.median(before))  # measured: -5.10 dB (the map's -6.60 + 1.5)
    applied = result["adjustments"]
    assert applied["median_loudness_shift_db"] == pytest.approx(measured, abs=1e-4)
    assert abs(measured - 1.5) > 3.0  # the map moved it: the manual shift alone would be wrong
    low, high = applied["loudness_map_output_range_db"]
    assert low + 1.5 - 1e-4 <= after.min() and after.max() <= high + 1.5 + 1e-4
    assert applied["loudness_map_input_range_db"] == pytest.approx([before.min(), before.max()], abs=1e-4)
