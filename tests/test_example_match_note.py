"""Smoke tests of ``examples/match_note.py`` (sound matching of one note), with a few steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from example_support import load_example


@pytest.mark.slow
def test_match_note_writes_outputs_and_lowers_the_loss(tmp_path):
    example = load_example("match_note")
    clip = sf.info(str(example.default_audio_path()))
    assert clip.samplerate == 16000 and clip.channels == 1

    result = example.main(["--out", str(tmp_path), "--steps", "8", "--seed", "0"])

    for name in ("target.wav", "result.wav", "spectrograms.png", "loss.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    expected_length = math.ceil(clip.frames / 64) * 64
    assert result["n_samples"] == expected_length
    for name in ("target.wav", "result.wav", "result_harmonic.wav", "result_noise.wav"):
        audio, rate = sf.read(str(tmp_path / name))
        assert rate == 16000 and audio.shape == (expected_length,), name
        assert np.all(np.isfinite(audio)), name
    assert abs(result["note_hz"] - 440.0) < 440.0 * (2 ** (0.5 / 12) - 1)  # within a quarter tone of A4
    losses = result["losses"]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.9 * losses[0]


def test_match_note_resamples_another_rate_and_finds_its_pitch(tmp_path):
    example = load_example("match_note")
    rate, seconds, f0_hz = 22050, 0.5, 330.0
    t = np.arange(int(rate * seconds)) / rate
    tone = sum(0.3 / k * np.sin(2 * np.pi * k * f0_hz * t) for k in range(1, 6))
    stereo = np.stack([tone, tone], axis=1)  # stereo input is downmixed
    path = tmp_path / "tone.wav"
    sf.write(str(path), stereo, rate)

    result = example.main(["--audio", str(path), "--out", str(tmp_path / "out"), "--steps", "3"])

    assert abs(result["note_hz"] - f0_hz) < 1.0
    audio, out_rate = sf.read(str(tmp_path / "out" / "target.wav"))
    assert out_rate == 16000
    assert result["n_samples"] % 64 == 0 and audio.shape == (result["n_samples"],)
    assert abs(result["n_samples"] - seconds * 16000) < 64 + 1
