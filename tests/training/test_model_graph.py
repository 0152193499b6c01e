"""Config-driven models (issue 16 point 1): the declared graph is the one that renders, z steers
the output, loss weights weigh, typos are refused with their YAML key, and the renderers that
know only the default graph refuse the others up front."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from training_support import tiny_config

from torchddsp.losses import LoudnessLoss
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.models import Autoencoder
from torchddsp.models import AutoencoderConfig
from torchddsp.models.chunked import start_render
from torchddsp.streaming.step import ControlsStep
from torchddsp.training import ExperimentConfig
from torchddsp.training import build_loss
from torchddsp.training import load_config
from torchddsp.training import train

SMALL = {"hidden_size": 16, "rnn_size": 16, "layers_per_stack": 1}


def _features(n_frames: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    f0 = torch.full((2, n_frames), 220.0)
    f0[1] = 330.0
    return f0, torch.linspace(-40.0, -10.0, n_frames).repeat(2, 1)


def test_every_declared_synth_is_in_the_mix():
    # Catches: a synth built but left out of the sum (the group's output an inner Add or the
    # first synth), or the EQ/reverb applied to one synth only.
    torch.manual_seed(0)
    synths = ["wavetable", "harmonic", "sinusoidal", "filtered_noise"]
    config = AutoencoderConfig(**SMALL, synths=synths, reverb_s=0, noise_initial_bias=0.0)  # audible noise
    model = Autoencoder(config).eval()
    with torch.no_grad():
        out = model(*_features(), seed=1)
    parts = [out[name].double() for name in ("wavetable", "harmonic", "sinusoidal", "noise")]
    assert all(float(part.abs().max()) > 1e-4 for part in parts)  # each synth sounds
    np.testing.assert_allclose(out["audio_dry"].double(), sum(parts), rtol=0, atol=1e-6)
    assert torch.equal(out["audio"], out["audio_dry"])  # reverb_s 0: no room


def test_the_eq_filters_the_mix_before_the_reverb():
    # Catches: the learned EQ built but never applied, or applied after the reverb.
    config = AutoencoderConfig(**SMALL, eq=True, eq_peaks=1, reverb_s=0.02)
    model = Autoencoder(config).eval()
    with torch.no_grad():
        model.eq.gain_raw.copy_(torch.tensor([1.0, -1.0, 0.5]))  # +18, -18, +11 dB bands
        out = model(*_features(), seed=1)
    mix = out["harmonic"] + out["noise"]
    with torch.no_grad():
        filtered = model.eq(mix)
    assert float((filtered - mix).abs().max()) > 0.1 * float(mix.abs().max())  # the EQ is audible
    torch.testing.assert_close(out["audio_dry"], filtered, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["learned", "exp_decay", "filtered_noise", "fdn"])
def test_each_reverb_kind_is_the_dry_signal_plus_its_response(kind):
    # Catches: a reverb kind that builds another class, is skipped, or whose impulse_response
    # (what --reverb-from reads) is not the one that renders: audio = dry + dry * ir in float64.
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(**SMALL, reverb=kind, reverb_s=0.1)).eval()
    with torch.no_grad():
        if kind == "learned":  # its taps start near 1e-6: a decaying tail to hear
            model.reverb.ir.copy_(torch.randn(1600) * torch.exp(-torch.arange(1600) / 200.0) * 0.1)
        out = model(*_features(), seed=1)
        ir = model.impulse_response.double().numpy()
    assert ir.shape == (1600,) and ir[0] == 0.0
    dry = out["audio_dry"].double().numpy()
    expected = np.stack([row + np.convolve(row, ir)[: row.shape[0]] for row in dry])
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out["audio"].double().numpy(), expected, rtol=0, atol=2e-5 * scale)
    assert np.abs(expected - dry).max() > 1e-3 * scale  # the room is audible: the test can fail


def _timbres(n_frames: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """One note at 220 Hz, as a sine and as a bright sawtooth-like sum of 12 harmonics."""
    t = torch.arange(n_frames * 64, dtype=torch.float64) / 16000
    sine = 0.3 * torch.sin(2 * torch.pi * 220 * t)
    bright = sum(0.3 / k * torch.sin(2 * torch.pi * 220 * k * t) for k in range(1, 13))
    return sine[None].float(), bright[None].float()


def test_a_z_model_output_follows_the_audio_timbre():
    # Catches: z computed but not fed to the decoder (or fed zeros / the f0 input twice): the
    # same f0 and loudness with another timbre must give other z and another output; and the
    # encoder's GRU not at z_rnn_size.
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(**SMALL, z_dims=8, n_mfcc=20, z_rnn_size=12, reverb_s=0)).eval()
    assert model.encoder.rnn.hidden_size == 12  # z_rnn_size, not the decoder's rnn_size
    sine, bright = _timbres()
    f0, loudness = torch.full((1, 60), 220.0), torch.full((1, 60), -25.0)
    with torch.no_grad():
        z_sine, z_bright = model.encoder(sine), model.encoder(bright)
        out_sine = model(f0, loudness, sine, seed=1)["audio"]
        out_bright = model(f0, loudness, bright, seed=1)["audio"]
    assert float((z_sine - z_bright).abs().max()) > 1e-2
    assert float((out_sine - out_bright).abs().max()) > 1e-3 * float(out_sine.abs().max())


def test_loss_terms_are_weighted_and_summed():
    # Catches: weights ignored (every term at 1), a term dropped, or the spectral preset
    # (train.loss) not followed.
    config = ExperimentConfig.from_dict(
        {"train": {"loss": "auraloss", "loss_terms": {"spectral": 2.0, "loudness": 0.5}}}
    )
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 4000, generator=generator), torch.randn(2, 4000, generator=generator) * 0.1
    expected = 2.0 * float(MultiScaleSpectralLoss.auraloss()(a, b)) + 0.5 * float(LoudnessLoss(16000, 250)(a, b))
    assert float(build_loss(config)(a, b)) == pytest.approx(expected, rel=1e-6)
    zero = ExperimentConfig.from_dict({"train": {"loss_terms": {"spectral": 1.0, "mel": 0.0}}})
    assert list(build_loss(zero).terms) == ["spectral"]


def test_the_trainer_minimises_the_declared_loss(dataset_dir, tmp_path):
    # Catches: a trainer that builds its loss from train.loss alone (loss_terms ignored): the
    # first logged loss (before any update, same batch and weights) scales with the weight.
    losses = {}
    for weight in (1.0, 0.25):
        config = tiny_config(steps=1, loss_terms={"spectral": weight})
        train(config, dataset_dir, tmp_path / str(weight), show_progress=False)
        rows = list(csv.DictReader((tmp_path / str(weight) / "train.csv").open()))
        losses[weight] = float(rows[0]["loss"])
    assert losses[0.25] == pytest.approx(0.25 * losses[1.0], rel=1e-5)


@pytest.mark.parametrize(
    "model,match",
    [
        ({"synth": ["harmonic"]}, r"unknown settings \['synth'\] in 'model' \('synth': did you mean 'synths'\?\)"),
        ({"synths": ["harmonic", "sinusodial"]}, r"model.synths\[1\]: unknown kind 'sinusodial'"),
        ({"synths": []}, r"model.synths must name at least one"),
        ({"synths": ["harmonic", "harmonic"]}, r"model.synths names \['harmonic'\] more than once"),
        ({"synths": "harmonic"}, r"model.synths must be a list"),
        ({"reverb": "plate"}, r"model.reverb: unknown kind 'plate'"),
        ({"n_sinusoids": 0}, r"model.n_sinusoids must be >= 1, found 0"),
        ({"wavetable_size": 1}, r"model.wavetable_size must be >= 2"),
        ({"eq_peaks": -1}, r"model.eq_peaks must be >= 0"),
        ({"eq": "yes"}, r"model.eq must be true or false"),
        ({"z_rnn_size": 0, "z_dims": 4}, r"model.z_rnn_size must be >= 1"),
        ({"z_rnn_size": 2.5}, r"model.z_rnn_size must be a whole number"),
        ({"decoder_inputs": ["f0", "pitch"]}, r"model.decoder_inputs\[1\]: unknown kind 'pitch'"),
        ({"decoder_inputs": ["loudness", "f0", "z"]}, r"model.decoder_inputs .* and model.z_dims 0"),
        ({"z_dims": 4, "decoder_inputs": ["loudness", "f0"]}, r"model.decoder_inputs .* and model.z_dims 4"),
        ({"reverb_s": 0.00001}, r"model.reverb_s must give at least 2 taps"),
    ],
)
def test_bad_model_declarations_name_their_key(model, match):
    # Catches: a typo or a bad size that builds a model anyway, or fails deep in a constructor
    # without saying which YAML key is wrong.
    with pytest.raises(ValueError, match=match):
        ExperimentConfig.from_dict({"model": model})


@pytest.mark.parametrize(
    "terms,match",
    [
        ({"spectrul": 1.0}, r"train.loss_terms.spectrul: unknown loss term"),
        ({"mel": -1.0}, r"train.loss_terms.mel must be >= 0"),
        ({"mel": "high"}, r"train.loss_terms.mel must be a finite number"),
        ({"spectral": 0.0}, r"train.loss_terms: every weight is 0"),
        ([1.0], r"train.loss_terms must be a mapping"),
    ],
)
def test_bad_loss_terms_name_their_key(terms, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig.from_dict({"train": {"loss_terms": terms}})


def test_a_typo_in_a_config_file_names_the_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  synths: [harmonic, wavetabel]\n")
    with pytest.raises(ValueError, match=r"c.yaml: model.synths\[1\]: unknown kind 'wavetabel'"):
        load_config(path)


@pytest.mark.parametrize("change", [{"synths": ["harmonic"]}, {"eq": True}, {"reverb": "exp_decay"}])
def test_renderers_of_the_default_graph_refuse_others_up_front(change):
    # Catches: a stream or chunked render of another graph that starts and then crashes (or
    # renders harmonic plus noise only, silently dropping the declared synths and effects).
    model = Autoencoder(AutoencoderConfig(**SMALL, reverb_s=0.02, **change)).eval()
    with pytest.raises(ValueError, match=r"cannot stream: only the default graph"):
        ControlsStep(model, block=128)
    with pytest.raises(ValueError, match=r"cannot render in chunks: only the default graph"):
        start_render(model)


def test_the_default_graph_still_streams():
    # Catches: a check that refuses the default graph too (every bundled model's stream).
    model = Autoencoder(AutoencoderConfig(**SMALL, reverb_s=0.02)).eval()
    ControlsStep(model, block=128)
    start_render(model)
