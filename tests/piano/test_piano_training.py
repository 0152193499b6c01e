"""The piano training script's pieces: single-note segments keep their attack, and the single
notes' loss adds a long-FFT term that separates partials a few Hz apart, and the smoothness prior
on log B has its closed form."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path

import pytest
import torch

from torchddsp.piano.model import PianoConfig
from torchddsp.piano.model import PianoModel
from torchddsp.piano.voices import VoiceFrames

ROOT = Path(__file__).resolve().parents[2]


def _train_script():
    spec = importlib.util.spec_from_file_location("train_piano", ROOT / "scripts" / "train_piano.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("train_piano", module)
    spec.loader.exec_module(module)
    return module


def tone(hz: float, seconds: float = 0.6, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (0.3 * torch.sin(2 * math.pi * hz * t)).float()[None]


def test_single_note_segments_start_near_the_onset():
    # Bug: max_start ignored, so most note segments are the decayed tail or silence and the
    # loss never sees the partials' attack.
    script = _train_script()
    config = PianoConfig()
    hop = config.sample_rate // config.frame_rate
    n_frames = 500
    audio = torch.arange(n_frames * hop, dtype=torch.float32)  # sample index: the start is readable
    voices = VoiceFrames(*(torch.zeros(1, n_frames, 1) for _ in VoiceFrames._fields))
    piece = (audio, voices, torch.zeros(1, n_frames, 88))
    segments, _, _ = script.batch_of([piece], config, 64, 150, random.Random(0), max_start=30)
    starts = (segments[:, 0] / hop).round().long()
    assert int(starts.max()) < 30
    everywhere, _, _ = script.batch_of([piece], config, 64, 150, random.Random(0))
    assert int((everywhere[:, 0] / hop).max()) >= 30  # without the limit starts spread out


@pytest.mark.slow
def test_note_loss_long_fft_term_separates_close_partials():
    # Bug: the long-FFT term dropped or computed at the pieces' 2048 FFT (7.8 Hz bins at 16 kHz
    # blur partials 3 Hz apart, the size of a B error on a bass partial), or its weight ignored.
    script = _train_script()
    prediction, target = tone(440.0), tone(443.0)
    pieces = float(script.make_losses(16000)(prediction, target))
    extra = {
        (n_fft, weight): float(script.make_note_loss(16000, n_fft, weight)(prediction, target)) - pieces
        for n_fft, weight in ((8192, 1.0), (8192, 2.0), (2048, 1.0))
    }
    assert extra[(8192, 1.0)] > 0.0
    assert math.isclose(extra[(8192, 2.0)], 2.0 * extra[(8192, 1.0)], rel_tol=1e-4)
    assert extra[(8192, 1.0)] > 1.5 * extra[(2048, 1.0)]


def test_b_roughness_is_zero_on_a_straight_log_curve_and_six_h_squared_on_a_spike():
    # Bug: first differences (penalising the curve's slope, so the prior would flatten the
    # treble's rise) or a wrong stencil; closed forms: 0 on a line, 6 h^2 / 86 for one spike h.
    script = _train_script()
    model = PianoModel(PianoConfig(n_voices=1, n_harmonics=4, context_size=4, hidden_size=4, reverb_length=16))
    with torch.no_grad():
        model.log_inharmonicity.copy_(-9.0 + 0.05 * torch.arange(88.0))
    assert float(script.b_roughness(model).detach()) < 1e-10
    with torch.no_grad():
        model.log_inharmonicity[40] += 0.5
    assert math.isclose(float(script.b_roughness(model).detach()), 6 * 0.25 / 86, rel_tol=1e-4)
