"""Every shipped config (issue 16 point 1) builds the model it declares, learns on the tiny real
dataset, and its run reloads as the model that trained; the bundled models' configs build
today's model."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from training_support import LOSS_FALL
from training_support import learning_config
from training_support import loss_fall

from torchddsp.configs import CONFIG_DIR
from torchddsp.effects import ExpDecayReverb
from torchddsp.effects import ParametricEQ
from torchddsp.effects import Reverb
from torchddsp.io import write_audio
from torchddsp.models import Autoencoder
from torchddsp.synths import FilteredNoise
from torchddsp.synths import Harmonic
from torchddsp.synths import Sinusoidal
from torchddsp.training import ExperimentConfig
from torchddsp.training import load_config
from torchddsp.training.trainer import build_run
from torchddsp.training.trainer import default_hooks
from torchddsp.training.trainer import run_loop
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer
from torchddsp.transfer import transfer_file

SHIPPED = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def test_the_new_configs_are_shipped():
    # Catches: a new config left out of the package folder (load_config("cpu_small_z") fails).
    assert {"cpu_small", "solo_instrument", "cpu_small_z", "cpu_small_sinusoidal"} <= set(SHIPPED)


@pytest.mark.parametrize("name", ["cpu_small", "solo_instrument"])
def test_todays_configs_build_todays_model(name):
    # Catches: a declared-graph default that changed the bundled models' architecture (their
    # checkpoints would no longer load): today's modules, parameter names and shapes.
    model = Autoencoder(load_config(name).model)
    c = model.config
    assert model.encoder is None and model.eq is None and isinstance(model.reverb, Reverb)
    assert list(model.synthesizer.processors) == ["harmonic", "noise", "add"]
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes["decoder.output_layer.weight"] == (1 + c.n_harmonics + c.n_noise_bands, c.hidden_size)
    assert shapes["reverb.ir"] == (round(c.reverb_s * c.sample_rate),)
    assert [k for k in shapes if not k.startswith("decoder.")] == ["reverb.ir"]
    assert len(model.decoder.input_stacks) == 2


def test_the_z_config_builds_an_encoder_feeding_the_decoder():
    # Catches: z_dims read but no encoder built, its GRU at the decoder's width instead of
    # z_rnn_size, or a decoder without the z input.
    config = load_config("cpu_small_z").model
    model = Autoencoder(config)
    assert model.encoder is not None
    assert model.encoder.rnn.hidden_size == config.z_rnn_size == 128
    assert model.encoder.output.out_features == config.z_dims == 16
    assert [stack[0].in_features for stack in model.decoder.input_stacks] == [1, 1, 16]


def test_the_sinusoidal_config_builds_its_graph():
    # Catches: a declared synth, the EQ or the reverb kind dropped or swapped, or decoder
    # splits that do not follow the synths' controls.
    config = load_config("cpu_small_sinusoidal").model
    model = Autoencoder(config)
    kinds = {name: type(p) for name, p in model.synthesizer.processors.items()}
    assert kinds["harmonic"] is Harmonic and kinds["sinusoidal"] is Sinusoidal and kinds["noise"] is FilteredNoise
    assert isinstance(model.eq, ParametricEQ) and model.eq.n_bands == 2 + config.eq_peaks
    assert isinstance(model.reverb, ExpDecayReverb) and model.reverb.reverb_length == 4000
    assert dict(model.decoder.output_splits) == {
        "amplitudes": 1,
        "harmonic_distribution": 60,
        "sinusoidal_amplitudes": 16,
        "sinusoidal_frequencies": 16,
        "noise_magnitudes": 65,
    }


def _tiny_run_config(name: str) -> ExperimentConfig:
    """The shipped graph (synths, EQ, reverb, encoders, decoder inputs) and loss terms at the
    tiny configs' width, trained as learning_config trains (half-second examples)."""
    shipped = load_config(name)
    tiny = learning_config(eval_every=1000, samples_every=1000)
    widths = {"hidden_size": 32, "rnn_size": 32, "layers_per_stack": 1}
    model = dataclasses.replace(shipped.model, **widths, z_rnn_size=32 if shipped.model.z_dims else None)
    train = dataclasses.replace(tiny.train, loss_terms=shipped.train.loss_terms)
    return ExperimentConfig(name=name, model=model, data=tiny.data, train=train)


@pytest.mark.slow  # over 2 s: make test runs it, make test-fast does not
@pytest.mark.parametrize("name", ["cpu_small_z", "cpu_small_sinusoidal"])
def test_new_configs_learn_and_reload_equal(name, dataset_dir, tmp_path):
    # Catches: a model that does not learn (a synth out of the mix, controls the decoder never
    # reaches), and a checkpoint whose config (lists, loss terms: through state.json) or weights
    # do not rebuild the model that trained.
    run = build_run(_tiny_run_config(name), dataset_dir, tmp_path / "run")
    run_loop(run, default_hooks(run.config.train))
    assert loss_fall(tmp_path / "run") > LOSS_FALL
    loaded = load_model(tmp_path / "run")
    assert loaded.config == run.config
    trained = run.model.eval()
    saved, reloaded = trained.state_dict(), loaded.model.state_dict()
    assert list(saved) == list(reloaded)
    assert all(torch.equal(saved[key], reloaded[key]) for key in saved)
    f0 = torch.full((1, 50), 261.6)
    loudness = torch.linspace(-50.0, -20.0, 50)[None]
    audio = torch.sin(torch.arange(50 * 64) * (2 * torch.pi * 261.6 / 16000))[None] * 0.3
    with torch.no_grad():
        expected = trained(f0, loudness, audio, seed=1)["audio"]
        assert torch.equal(loaded.model(f0, loudness, audio, seed=1)["audio"], expected)
    # Catches: transfer sending a model of another graph to the chunked renderer (built for the
    # default graph only), which refuses it.
    clip = torch.sin(torch.arange(8000) * (2 * torch.pi * 261.6 / 16000)) * 0.3
    result = transfer(clip, 16000, loaded, f0_method="yin", auto_adjust=False)
    assert result["audio"].shape == (8000,) and torch.isfinite(result["audio"]).all()
    write_audio(tmp_path / "in.wav", clip, 16000)
    summary = transfer_file(
        tmp_path / "in.wav", loaded, tmp_path / "out.wav", f0_method="yin", auto_adjust=False, figure=False
    )
    assert summary["n_samples"] == 8000
