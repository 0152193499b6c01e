import pytest

from torchddsp.training import ExperimentConfig, load_config
from torchddsp.training.config import CONFIG_DIR


@pytest.mark.parametrize("name", ["solo_instrument", "cpu_small"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert config.name == name
    assert config.model.sample_rate % config.model.frame_rate == 0
    assert (CONFIG_DIR / f"{name}.yaml").is_file()


def test_solo_instrument_matches_magenta():
    model = load_config("solo_instrument").model
    assert (model.n_harmonics, model.n_noise_bands, model.reverb_seconds, model.rnn_size) == (60, 65, 3.0, 512)


def test_schedule_is_warmup_then_exponential_decay():
    train = load_config("cpu_small").train
    assert train.learning_rate_at(0) == pytest.approx(train.learning_rate / train.warmup_steps)
    assert train.learning_rate_at(train.warmup_steps) == pytest.approx(
        train.learning_rate * train.decay_rate ** (train.warmup_steps / train.decay_steps))
    assert train.learning_rate_at(train.decay_steps) < train.learning_rate_at(train.warmup_steps)


@pytest.mark.parametrize("values,match", [
    ({"model": {"hidden": 3}}, "unknown model settings"),
    ({"train": {"batchsize": 3}}, "unknown settings"),
    ({"optim": {}}, "unknown config sections"),
    ({"model": {"sample_rate": 16000, "frame_rate": 300}}, "multiple of frame_rate"),
    ({"data": {"f0_method": "swipe"}}, "f0_method"),
    ({"train": {"learning_rate": 0}}, "learning_rate"),
    ({"train": {"reverb_learning_rate_scale": 0}}, "reverb_learning_rate_scale"),
])
def test_bad_configs_raise(values, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig.from_dict(values)


def test_unknown_config_name():
    with pytest.raises(ValueError, match="neither a file nor a shipped config"):
        load_config("no_such_config")
