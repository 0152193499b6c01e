"""The auto-adjust planned once and applied frame by frame (what a stream needs) gives the
offline adjustment: numpy's interpolation, the same plan from stated statistics as from the
recording's own, and frames adjusted in pieces equal to all at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchddsp.transfer import adjust_features
from torchddsp.transfer import apply_adjustment
from torchddsp.transfer import feature_statistics
from torchddsp.transfer import plan_adjustment
from torchddsp.transfer.adjust import interpolate
from torchddsp.validation import InputError

MODEL = {
    "pitched_frames": 500,
    "mean_pitch_midi": 76.0,
    "quantile_levels": list(np.linspace(0, 1, 101)),
    "loudness_db_quantiles": list(np.linspace(-45.0, -5.0, 101) + 3.0 * np.sin(np.linspace(0, 3, 101))),
}


def _features(seed: int, n: int = 400):
    g = torch.Generator().manual_seed(seed)
    f0 = 196.0 * 2 ** (torch.rand(1, n, generator=g, dtype=torch.float64) * 2)
    loudness = -70.0 + 50.0 * torch.rand(1, n, generator=g, dtype=torch.float64)
    confidence = torch.rand(1, n, generator=g, dtype=torch.float64)
    return f0, loudness, confidence


def test_interpolate_is_numpy_interp():
    # Catches an off-by-one segment (searchsorted side), end values not held, and repeated
    # knots dividing by zero. The reference is numpy.interp.
    rng = np.random.default_rng(0)
    xp = np.sort(rng.normal(size=30))
    xp[10] = xp[11]  # a repeated knot, as equal quantiles give
    fp = rng.normal(size=30)
    x = np.concatenate([rng.normal(scale=2, size=500), xp, [xp[0] - 1, xp[-1] + 1]])
    ours = interpolate(torch.from_numpy(x), torch.from_numpy(xp), torch.from_numpy(fp)).numpy()
    expected = np.interp(x, xp, fp)
    unique = ~np.isin(x, xp[10:12])  # numpy picks one side of a vertical step; either is right there
    np.testing.assert_allclose(ours[unique], expected[unique], rtol=0, atol=1e-12)
    assert np.isfinite(ours).all()


def test_stated_statistics_of_the_input_give_the_offline_adjustment():
    # Catches a plan that reads the statistics differently from how the offline call measures
    # them (levels, mean pitch, octave rounding): stating the recording's own statistics must
    # change nothing.
    f0, loudness, confidence = _features(1)
    own = adjust_features(f0, loudness, confidence, MODEL)
    stated = adjust_features(
        f0, loudness, confidence, MODEL, input_statistics=feature_statistics(f0, loudness, confidence)
    )
    assert torch.equal(own[0], stated[0]) and torch.equal(own[1], stated[1])
    assert own[2] == stated[2]
    assert own[2]["octave_shift_semitones"] != 0.0  # the map and the shift are both in play


def test_frames_adjusted_in_pieces_equal_all_at_once():
    # Catches an adjustment that depends on the block it is given (a per-call statistic).
    f0, loudness, confidence = _features(2)
    plan = plan_adjustment(MODEL, feature_statistics(*_features(3)), pitch_shift=1.5, loudness_shift=-2.0)
    whole = apply_adjustment(plan, f0, loudness, confidence)
    pieces = [
        apply_adjustment(plan, f0[:, a:b], loudness[:, a:b], confidence[:, a:b])
        for a, b in ((0, 1), (1, 77), (77, 400))
    ]
    assert torch.equal(torch.cat([p[0] for p in pieces], 1), whole[0])
    assert torch.equal(torch.cat([p[1] for p in pieces], 1), whole[1])


def test_stated_statistics_at_other_levels_are_read_at_the_models_levels():
    # Input statistics with coarser levels: the quantile at each model level is interpolated
    # (a plan reading them index by index would map the wrong loudness).
    stated = {"pitched_frames": 10, "mean_pitch_midi": 60.0, "quantile_levels": [0.0, 0.5, 1.0],
              "loudness_db_quantiles": [-60.0, -40.0, -20.0]}  # fmt: skip
    plan = plan_adjustment(MODEL, stated)
    assert plan.source_db is not None
    np.testing.assert_allclose(
        plan.source_db.numpy(), np.interp(MODEL["quantile_levels"], [0, 0.5, 1], [-60, -40, -20])
    )
    assert plan.octave_semitones == 12.0
    with pytest.raises(InputError, match="input_statistics"):
        plan_adjustment(MODEL, {"pitched_frames": 3, "mean_pitch_midi": 60.0})


def test_stating_the_models_own_statistics_maps_loudness_onto_itself():
    # Closed form: input statistics equal to the model's make the quantile map the identity and
    # the octave shift 0, so pitched frames keep their loudness (inside the model's range) and
    # unpitched ones are quiet_db quieter. Catches stated statistics being ignored (the
    # recording's own would move the loudness) and a map applied to the unpitched frames.
    f0, loudness, confidence = _features(4)
    loudness = loudness.clamp(-42.0, -2.0)  # inside the model's loudness range
    f0_out, loudness_out, applied = adjust_features(
        f0, loudness, confidence, MODEL, quiet_db=15.0, input_statistics=MODEL
    )
    pitched = confidence >= 0.85
    assert applied["octave_shift_semitones"] == 0.0 and torch.equal(f0_out, f0)
    torch.testing.assert_close(loudness_out[pitched], loudness[pitched], rtol=0, atol=1e-6)
    torch.testing.assert_close(loudness_out[~pitched], loudness[~pitched] - 15.0, rtol=0, atol=0)
