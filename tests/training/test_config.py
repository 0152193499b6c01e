import pytest

from torchddsp.configs import CONFIG_DIR
from torchddsp.training import ExperimentConfig
from torchddsp.training import load_config


@pytest.mark.parametrize("name", ["solo_instrument", "cpu_small"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert config.name == name
    assert config.model.sample_rate % config.model.frame_rate == 0
    assert (CONFIG_DIR / f"{name}.yaml").is_file()


def test_solo_instrument_matches_magenta():
    model = load_config("solo_instrument").model
    assert (model.n_harmonics, model.n_noise_bands, model.reverb_s, model.rnn_size) == (60, 65, 3.0, 512)


def test_schedule_is_warmup_then_exponential_decay():
    train = load_config("cpu_small").train
    assert train.learning_rate_at(0) == pytest.approx(train.learning_rate / train.warmup_steps)
    assert train.learning_rate_at(train.warmup_steps) == pytest.approx(
        train.learning_rate * train.decay_rate ** (train.warmup_steps / train.decay_steps)
    )
    assert train.learning_rate_at(train.decay_steps) < train.learning_rate_at(train.warmup_steps)


@pytest.mark.parametrize(
    "values,match",
    [
        ({"model": {"hidden": 3}}, r"unknown settings \['hidden'\] in 'model'"),
        # Wrong types are named, never coerced (2.5 examples per batch used to fail after the run
        # folder was half written; "fast" as a rate with a TypeError deep inside the trainer).
        ({"train": {"batch_size": 2.5}}, r"train.batch_size must be a whole number, found 2.5"),
        ({"train": {"batch_size": True}}, r"train.batch_size must be a whole number"),
        ({"train": {"learning_rate": "fast"}}, r"train.learning_rate must be a number, found 'fast'"),
        ({"train": {"learning_rate": float("nan")}}, r"train.learning_rate must be a finite number"),
        ({"model": {"hidden_size": "128"}}, r"model.hidden_size must be a whole number, found '128'"),
        ({"data": {"f0_method": 3}}, r"data.f0_method must be text"),
        ({"train": [1, 2]}, r"section 'train' must be a mapping"),
        ({"name": 5}, r"config name must be text"),
        ({"train": {"batchsize": 3}}, "unknown settings"),
        ({"optim": {}}, "unknown config sections"),
        ({"model": {"sample_rate": 16000, "frame_rate": 300}}, "multiple of frame_rate"),
        ({"data": {"f0_method": "swipe"}}, "f0_method"),
        ({"train": {"learning_rate": 0}}, "learning_rate"),
        ({"train": {"reverb_learning_rate_scale": 0}}, "reverb_learning_rate_scale"),
    ],
)
def test_bad_configs_raise(values, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig.from_dict(values)


def test_yaml_numbers_in_exponent_form_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 2e-3 as the text "2e-3"; the README writes learning rates so.
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  learning_rate: 2e-3\n  steps: 10\n  grad_clip: 1E+1\nmodel:\n  reverb_s: .5\n")
    config = load_config(path)
    assert config.train.learning_rate == 0.002 and config.train.grad_clip == 10.0
    assert config.model.reverb_s == 0.5 and config.train.steps == 10 and isinstance(config.train.steps, int)


@pytest.mark.parametrize(
    "text,match",
    [
        ("train:\n  steps: [1,\n", r"c.yaml: not valid YAML \(line 3"),
        ("- 1\n- 2\n", r"c.yaml: a config must be a YAML mapping, found list"),
        ("train:\n  batch_size: 2.5\n", r"c.yaml: train.batch_size must be a whole number"),
        ("model: !!python/object/apply:os.system ['true']\n", r"c.yaml: not valid YAML"),
    ],
)
def test_bad_config_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(path)


def test_unknown_config_name():
    with pytest.raises(ValueError, match="neither a file nor a shipped config"):
        load_config("no_such_config")
