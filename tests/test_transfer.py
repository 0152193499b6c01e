import json

import numpy as np
import pytest
import soundfile as sf
import torch
from training_support import DATA
from training_support import LOSS_FALL

from torchddsp.functional import hz_to_midi
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.models import Autoencoder
from torchddsp.transfer import LoadedModel
from torchddsp.transfer import adjust_features
from torchddsp.transfer import available_models
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer
from torchddsp.transfer import write_transfer

STATISTICS = {
    "pitched_frames": 1000,
    "mean_pitch_midi": 72.0,
    "quantile_levels": list(np.linspace(0, 1, 101)),
    "loudness_db_quantiles": list(np.linspace(-40.0, 0.0, 101)),
}


def flute_excerpt() -> torch.Tensor:
    """The first 2 s of the flute clip, plus 37 samples: not a whole number of 64-sample frames."""
    audio, rate = sf.read(DATA / "flute.flac", dtype="float32")
    assert rate == 16000
    return torch.from_numpy(audio[: 2 * rate + 37])


def test_auto_adjust_shifts_octaves_and_maps_loudness_quantiles():
    f0 = torch.full((1, 100), 130.81)  # C3, two octaves below the data's C5
    loudness = torch.linspace(-70, -30, 100)[None]
    confidence = torch.ones(1, 100)
    confidence[0, :10] = 0.1  # unpitched start
    f0_out, loudness_out, applied = adjust_features(f0, loudness, confidence, STATISTICS)
    assert applied["octave_shift_semitones"] == 24.0
    np.testing.assert_allclose(hz_to_midi(f0_out).numpy(), 72.0, atol=0.01)
    pitched = loudness_out[0, 10:]
    # Pitched frames now span the training loudness range, in the same order.
    assert pitched.min() == pytest.approx(-40.0, abs=0.5) and pitched.max() == pytest.approx(0.0, abs=0.5)
    assert bool((pitched[1:] >= pitched[:-1]).all())
    assert bool((loudness_out[0, :10] == loudness[0, :10] - 20.0).all())  # unpitched: 20 dB quieter


def test_manual_overrides_and_no_auto_adjust():
    f0 = torch.full((1, 10), 440.0)
    loudness = torch.full((1, 10), -30.0)
    f0_out, loudness_out, applied = adjust_features(
        f0, loudness, torch.ones(1, 10), STATISTICS, auto_adjust=False, pitch_shift=-12.0, loudness_shift=6.0
    )
    np.testing.assert_allclose(f0_out.numpy(), 220.0, rtol=1e-5)
    np.testing.assert_allclose(loudness_out.numpy(), -24.0)
    assert applied["octave_shift_semitones"] == 0.0


def test_transfer_with_a_trained_run(trained_run, tmp_path):
    audio, rate = flute_excerpt(), 16000
    loaded = load_model(trained_run)
    wet = transfer(audio, rate, loaded)
    assert wet["audio"].shape[0] == (len(audio) // 64) * 64 and torch.isfinite(wet["audio"]).all()
    dry = transfer(audio, rate, loaded, reverb=False)
    torch.testing.assert_close(dry["audio"], dry["audio_dry"])  # blind dereverberation: the dry render
    assert not torch.equal(dry["audio"], wet["audio"])
    room = torch.zeros(400)
    room[200] = 0.5
    other_room = transfer(audio, rate, loaded, reverb_ir=room)
    expected = other_room["audio_dry"].clone()
    expected[200:] += 0.5 * other_room["audio_dry"][:-200]
    torch.testing.assert_close(other_room["audio"], expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="reverb_ir was given with reverb=False"):
        transfer(audio, rate, loaded, reverb=False, reverb_ir=room)
    written = write_transfer(wet, tmp_path / "out.wav")
    assert {p.suffix for p in written} == {".wav", ".png", ".json"}
    assert sf.info(str(tmp_path / "out.wav")).samplerate == 16000
    assert "octave_shift_semitones" in json.loads((tmp_path / "out.json").read_text())["adjustments"]


def test_a_trained_run_renders_its_training_audio_closer_than_its_initial_weights(trained_run):
    # Resynthesis (the input's own pitch and loudness) of a clip the run trained on: the
    # spectral loss falls 1.6-2.0x from the initial weights (seeds 0-4). Equal losses: a run
    # that never learned, or a load_model that builds the model but never loads its weights.
    loaded = load_model(trained_run)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(loaded.config.train.seed)  # the trainer's initial weights
        initial = LoadedModel(Autoencoder(loaded.config.model).eval(), loaded.config, loaded.statistics)
    audio = flute_excerpt()
    loss = MultiScaleSpectralLoss.magenta()
    losses = {}
    for name, model in (("trained", loaded), ("initial", initial)):
        result = transfer(audio, 16000, model, auto_adjust=False, f0_method="yin")
        losses[name] = float(loss(result["audio"][None], result["input_audio"][None]))
    assert losses["initial"] > LOSS_FALL * losses["trained"], losses


def test_extrapolation_to_pitches_outside_the_training_range(trained_run):
    loaded = load_model(trained_run)
    t = torch.arange(32000) / 16000
    for f0 in (55.0, 3000.0):  # far below and far above the clips' range
        audio = 0.5 * torch.sin(2 * torch.pi * f0 * t)
        result = transfer(audio, 16000, loaded, auto_adjust=False)
        assert torch.isfinite(result["audio"]).all() and result["audio"].abs().max() < 100


def test_load_model_errors():
    with pytest.raises(ValueError, match="neither a bundled model"):
        load_model("no-such-model")
    assert isinstance(available_models(), list)
