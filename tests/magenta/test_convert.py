"""A Magenta solo-instrument checkpoint converted without TensorFlow computes what Magenta did.

Fixture ``tests/data/magenta/convert/`` (``benchmarks/peers/magenta_checkpoint.py``, Magenta ddsp
3.7.0 on TensorFlow 2.15.1): ``solo_small/`` is Magenta's solo_instrument autoencoder (gin
``RnnFcDecoder.ch = 16``, ``rnn_channels = 24``, ``layers_per_stack = 2``, 20 harmonics, 17
noise bands, 1600-tap trainable reverb) trained 40 steps on a violin clip and saved by
``Trainer.save`` (``ckpt-40.*``, ``operative_config-0.gin``); ``reference.npz`` is what Magenta
computed from it for a fixed glide; ``variables.npz`` the model's variables as TensorFlow read them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from torchddsp.cli import main
from torchddsp.functional import frequency_filter
from torchddsp.magenta.convert import convert_magenta
from torchddsp.magenta.convert import convert_variables
from torchddsp.magenta.convert import model_from_gin
from torchddsp.magenta.gin import parse_gin
from torchddsp.magenta.gin import read_gin
from torchddsp.models import Autoencoder
from torchddsp.models.chunked import render_chunked
from torchddsp.transfer.in_memory import load_model

DATA = Path(__file__).resolve().parents[1] / "data" / "magenta"
FIXTURE = DATA / "convert"
N_SAMPLES = 8000
NOISE_SEED = 7  # the peer script's white noise: RandomState(7).uniform(-1, 1, (1, 8000)), float32


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "reference.npz") as data:
        return {name: data[name] for name in data.files}


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    return convert_magenta(FIXTURE / "solo_small", tmp_path_factory.mktemp("converted") / "model")


@pytest.fixture(scope="module")
def model(converted) -> Autoencoder:
    return load_model(converted).model


def relative(actual, expected) -> float:
    """max |actual - expected| / max |expected| (float64)."""
    actual, expected = (torch.as_tensor(np.asarray(x), dtype=torch.float64) for x in (actual, expected))
    return float((actual - expected).abs().max() / expected.abs().max())


def inputs(reference):
    return torch.from_numpy(reference["f0_hz"]), torch.from_numpy(reference["loudness_db"])


def controls(model: Autoencoder, reference) -> dict[str, torch.Tensor]:
    """The converted model's raw decoder outputs and synthesizer controls for the fixed inputs."""
    f0_hz, loudness_db = inputs(reference)
    harmonic, noise = (model.synthesizer.processors[name] for name in ("harmonic", "noise"))
    with torch.no_grad():
        raw = model.decode(f0_hz, loudness_db)
        scaled = harmonic.controls(raw["amplitudes"], raw["harmonic_distribution"], f0_hz.unsqueeze(-1))
        magnitudes = noise.controls(raw["noise_magnitudes"])["magnitudes"]
    return {**{f"raw_{k}": v for k, v in raw.items()}, **scaled, "noise_magnitudes": magnitudes}


def test_config_follows_the_operative_gin():
    """Catches sizes read from the wrong bindings or Magenta's constants left at torchddsp's."""
    c = model_from_gin(read_gin(FIXTURE / "solo_small" / "operative_config-0.gin")).config
    assert (c.hidden_size, c.rnn_size, c.layers_per_stack) == (16, 24, 2)
    assert (c.n_harmonics, c.n_noise_bands, round(c.reverb_s * c.sample_rate)) == (20, 17, 1600)
    assert (c.sample_rate, c.frame_rate, c.noise_initial_bias) == (16000, 250, -5.0)
    assert (c.loudness_range_db, c.layer_norm_eps, c.z_dims) == (80.0, 1e-3, 0)


def test_scaled_inputs_match_magenta(model, reference):
    """f0_scaled = hz_to_midi / 127 and ld_scaled = dB / 80 + 1, as Magenta's preprocessor
    (catches torchddsp's /120 loudness range or another f0 scale left in a converted model)."""
    f0_hz, loudness_db = inputs(reference)
    f0_scaled, loudness_scaled = model.preprocessor(f0_hz, loudness_db)
    assert relative(f0_scaled, reference["f0_scaled"]) < 1e-6
    assert relative(loudness_scaled, reference["ld_scaled"]) < 1e-6


def test_decoder_outputs_match_magenta(model, reference):
    """Raw decoder outputs within 1e-4 relative (catches GRU gate order, an untransposed kernel,
    a swapped reset_after bias row, LayerNorm eps, input or output order)."""
    got = controls(model, reference)
    for name, magenta in (("amplitudes", "amps"), ("harmonic_distribution", "harmonic_distribution")):
        assert relative(got[f"raw_{name}"], reference[f"raw_{magenta}"]) < 1e-4, name
    assert relative(got["raw_noise_magnitudes"], reference["raw_noise_magnitudes"]) < 1e-4


def test_synthesizer_controls_match_magenta(model, reference):
    """Controls after scale_fn (exp_sigmoid, the noise's -5 bias, harmonics above Nyquist
    removed and the distribution normalised) within 1e-4 relative."""
    got = controls(model, reference)
    for name in ("amplitudes", "harmonic_distribution", "noise_magnitudes"):
        assert relative(got[name], reference[name]) < 1e-4, name


def test_reverb_impulse_response_is_exact(model, reference):
    assert torch.equal(model.impulse_response, torch.from_numpy(reference["ir"]))


def test_audio_matches_magenta_up_to_its_phase_error(model, reference):
    """Harmonic audio: the converted controls through torchddsp's synth equal Magenta's controls
    through the same synth (1e-5); against Magenta's own render (``use_angular_cumsum=True``,
    float32) the difference is Magenta's phase error, which grows along the 0.5 s glide to
    1568 Hz x 20 harmonics (measured 3.6e-3 of the peak; torchddsp's float32 render is within
    1.4e-6 of its float64 one). The reverb on Magenta's dry mix: within 1e-6."""
    got = controls(model, reference)
    f0_hz = torch.from_numpy(reference["f0_hz"]).unsqueeze(-1)
    harmonic = model.synthesizer.processors["harmonic"]
    with torch.no_grad():
        tonal = harmonic.render(got["amplitudes"], got["harmonic_distribution"], f0_hz, n_samples=N_SAMPLES)
        through_one_synth = harmonic.render(
            torch.from_numpy(reference["amplitudes"]),
            torch.from_numpy(reference["harmonic_distribution"]),
            f0_hz,
            n_samples=N_SAMPLES,
        )
        wet_of_magenta_dry = model.reverb(torch.from_numpy(reference["dry"]))
        wet = model.reverb(tonal + torch.from_numpy(reference["noise"]))
    assert relative(tonal, through_one_synth) < 1e-5
    early = (tonal - torch.from_numpy(reference["harmonic"]))[:, :1000].abs().max()  # before the phase drifts
    assert float(early) < 1e-4 * float(np.abs(reference["harmonic"]).max())
    assert relative(tonal, reference["harmonic"]) < 5e-3
    assert relative(wet_of_magenta_dry, reference["audio"]) < 1e-6
    assert relative(wet, reference["audio"]) < 5e-3


def test_filtered_noise_matches_magenta_two_samples_later(model, reference):
    """Same white noise, converted magnitudes: Magenta's ``fft_convolve`` crops
    ``(ir_size - 1) // 2 - 1`` samples where the linear-phase filter's delay is ``ir_size / 2``,
    so its noise lags torchddsp's (aligned) by 2 samples; otherwise equal within 1e-4."""
    white = torch.from_numpy(np.random.RandomState(NOISE_SEED).uniform(-1.0, 1.0, (1, N_SAMPLES)).astype(np.float32))
    with torch.no_grad():
        noise = frequency_filter(white, controls(model, reference)["noise_magnitudes"])
    assert relative(noise[:, :-2], reference["noise"][:, 2:]) < 1e-4


def test_tensorflow_variables_give_the_same_weights(converted):
    """The converter fed TensorFlow's own reading of the checkpoint writes the same weights as
    the TensorFlow-free reader gives (catches a reader/converter key mismatch)."""
    with np.load(FIXTURE / "variables.npz") as data:
        variables = {name: data[name] for name in data.files}
    magenta = model_from_gin(read_gin(FIXTURE / "solo_small" / "operative_config-0.gin"))
    from_tensorflow = convert_variables(variables, magenta)
    loaded = load_model(converted).model.state_dict()
    assert set(from_tensorflow) == set(loaded)
    for name, value in from_tensorflow.items():
        assert torch.equal(value, loaded[name]), name


def test_input_and_output_order_are_followed(reference):
    """A config listing the inputs (f0, loudness) and the splits in another order, with Keras
    variables laid out to match, converts to the same model (catches blocks taken by position)."""
    with np.load(FIXTURE / "variables.npz") as data:
        variables = {name: data[name] for name in data.files}
    text = (FIXTURE / "solo_small" / "operative_config-0.gin").read_text()
    text = text.replace("('ld_scaled', 'f0_scaled')", "('f0_scaled', 'ld_scaled')")
    text = text.replace(
        "(('amps', 1), ('harmonic_distribution', 20), ('noise_magnitudes', 17))",
        "(('noise_magnitudes', 17), ('amps', 1), ('harmonic_distribution', 20))",
    )
    swapped = dict(variables)
    stack = "model/decoder/input_stacks/"
    for key, value in variables.items():  # stack 0 <-> stack 1
        if key.startswith(stack):
            other = stack + str(1 - int(key[len(stack)])) + key[len(stack) + 1 :]
            swapped[other] = value
    value = "/.ATTRIBUTES/VARIABLE_VALUE"
    gru, out = (
        "model/decoder/rnn/rnn/cell/kernel" + value,
        "model/decoder/out_stack/layer_with_weights-0/layer_with_weights-0/kernel" + value,
    )
    for key in (gru, out):  # feature rows: [ld 0:16, f0 16:32] -> [f0, ld]
        swapped[key] = np.concatenate([variables[key][16:32], variables[key][:16], variables[key][32:]])
    for name in ("kernel", "bias"):  # columns: [amps, harmonics, noise] -> [noise, amps, harmonics]
        key = f"model/decoder/dense_out/{name}{value}"
        swapped[key] = np.concatenate([variables[key][..., 21:], variables[key][..., :21]], axis=-1)
    original = convert_variables(variables, model_from_gin(read_gin(FIXTURE / "solo_small" / "operative_config-0.gin")))
    reordered = convert_variables(swapped, model_from_gin(parse_gin(text)))
    for name, tensor in original.items():
        assert torch.equal(tensor, reordered[name]), name


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ("RnnFcDecoder.rnn_type = 'lstm'", "rnn_type"),
        ("Autoencoder.encoder = @encoders.MfccTimeDistributedRnnEncoder()", "encoder"),
        ("RnnFcDecoder.input_keys = ('ld_scaled', 'f0_scaled', 'z')", "input_keys"),
        ("Harmonic.scale_fn = @core.exp_sigmoid_2", "scale_fn"),
        ("exp_sigmoid.max_value = 3.0", "max_value"),
        ("Harmonic.normalize_below_nyquist = False", "normalize_below_nyquist"),
        ("FilteredNoise.window_size = 16", "window_size"),
        ("Reverb.trainable = False", "trainable"),
        ("F0LoudnessPreprocessor.time_steps = 127", "time_steps"),
    ],
)
def test_settings_torchddsp_cannot_follow_are_refused(binding, message):
    text = (FIXTURE / "solo_small" / "operative_config-0.gin").read_text() + binding + "\n"
    with pytest.raises(ValueError, match=message):
        model_from_gin(parse_gin(text))


def test_wrong_shapes_and_missing_variables_are_refused():
    magenta = model_from_gin(read_gin(FIXTURE / "solo_small" / "operative_config-0.gin"))
    with np.load(FIXTURE / "variables.npz") as data:
        variables = {name: data[name] for name in data.files}
    key = "model/decoder/rnn/rnn/cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    with pytest.raises(ValueError, match="recurrent_kernel.*implies"):
        convert_variables({**variables, key: variables[key][:, :-3]}, magenta)
    with pytest.raises(ValueError, match="no variable.*reverb/ir"):
        convert_variables({k: v for k, v in variables.items() if "reverb" not in k}, magenta)


def test_folder_loads_for_transfer_streaming_and_cli(tmp_path, converted, reference):
    """The CLI writes the same folder; transfer's loader, the chunked renderer (what transfer
    and evaluate render with) and the auto-adjust statistics read from dataset_statistics.pkl."""
    source = tmp_path / "magenta"
    shutil.copytree(FIXTURE / "solo_small", source)
    shutil.copy(DATA / "statistics" / "dataset_statistics.pkl", source / "dataset_statistics.pkl")
    assert main(["convert-magenta", str(source), str(tmp_path / "model")]) == 0
    state = json.loads((tmp_path / "model" / "state.json").read_text())
    assert state["step"] == 40 and state["statistics"]["pitched_frames"] > 0
    assert 50 < state["statistics"]["mean_pitch_midi"] < 80
    loaded = load_model(tmp_path / "model")
    assert loaded.statistics == state["statistics"]
    f0_hz, loudness_db = inputs(reference)
    out = render_chunked(loaded.model, f0_hz, loudness_db, 50, seed=0)
    assert out["audio"].shape == (1, N_SAMPLES) and torch.isfinite(out["audio"]).all()
    ours = load_model(converted).model.state_dict()
    assert all(torch.equal(value, ours[name]) for name, value in loaded.model.state_dict().items())


def test_converted_model_streams_equal_to_its_offline_transfer(converted):
    """The streaming path loads a converted folder and renders what the offline transfer renders
    (YIN f0, no auto-adjust), whatever the block sizes, after the stream's stated latency."""
    from torchddsp.io import read_audio  # noqa: PLC0415
    from torchddsp.streaming.transfer import TransferStream  # noqa: PLC0415
    from torchddsp.transfer import transfer  # noqa: PLC0415

    audio = read_audio(DATA.parent / "pitch" / "violin.flac", 16000)[:8000]
    stream = TransferStream(load_model(converted))
    state, pieces, start = stream.start(), [], 0
    for size in np.random.default_rng(3).integers(1, 1500, 40):
        piece, state = stream.process(audio[start : start + int(size)], state)
        pieces.append(piece[0])
        start += int(size)
    streamed = torch.cat(pieces)
    offline = transfer(audio[:start], 16000, stream.loaded, **stream.offline_options())["audio"]
    latency, hop = stream.latency_samples, stream.loaded.config.model.hop_size
    n = min(len(offline), len(streamed) - latency) - hop
    peak = offline.abs().max()
    assert peak > 0.01 and n > 4000
    assert (streamed[latency : latency + n] - offline[:n]).abs().max() <= 1e-4 * peak
