"""torchddsp.matching: the estimator's outputs, training, parameter conversions, refinement,
baselines, metrics, the ``match`` command with the bundled model, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from torchddsp.cli import main
from torchddsp.matching import MatchingSetup
from torchddsp.matching import ParameterEstimator
from torchddsp.matching import assemble_patch
from torchddsp.matching import bootstrap_ci
from torchddsp.matching import from_human
from torchddsp.matching import load_estimator
from torchddsp.matching import log_spectral_distance
from torchddsp.matching import match_audio
from torchddsp.matching import matching_loss
from torchddsp.matching import parameter_error
from torchddsp.matching import random_search
from torchddsp.matching import refine
from torchddsp.matching import render_examples
from torchddsp.matching import render_free
from torchddsp.matching import save_estimator
from torchddsp.matching import to_human
from torchddsp.matching import train_steps
from torchddsp.validation import InputError

SETUP = MatchingSetup()


@pytest.fixture(scope="module")
def voice():
    return SETUP.make_voice()


@pytest.fixture(scope="module")
def examples(voice):
    return render_examples(voice, SETUP, 32, seed=5)


def test_estimator_outputs_one_value_in_0_1_per_free_parameter():
    # Catches a missing sigmoid (values outside [0, 1]) or a head of the wrong width.
    torch.manual_seed(0)
    net = ParameterEstimator(SETUP)
    with torch.no_grad():
        net.out.bias.fill_(25.0)  # saturates the sigmoid: an unbounded head would give ~25
        loud = net(10 * torch.randn(3, 16000), torch.tensor([40.0, 60.0, 90.0]))
    assert loud.shape == (3, 9)
    assert bool((loud >= 0).all() and (loud <= 1).all())
    assert 1e5 < sum(p.numel() for p in net.parameters()) < 1e6  # "a few hundred K"


def test_the_pitch_reaches_the_output():
    # Catches a network that ignores the given pitch (the conditioning dropped).
    torch.manual_seed(0)
    net = ParameterEstimator(SETUP)
    audio = torch.randn(1, 16000)
    with torch.no_grad():
        low, high = net(audio, torch.tensor([45.0])), net(audio, torch.tensor([75.0]))
    assert (low - high).abs().max() > 1e-4


def test_assemble_patch_places_free_given_and_pitch_columns(voice):
    # Catches free values written to the wrong columns, a given value lost, or the pitch mapped
    # with the wrong range (MIDI 63.5 is 0.5 of 0..127).
    free = torch.linspace(0.1, 0.9, 9)[None]
    patch = assemble_patch(voice, SETUP, free, torch.tensor([63.5]))
    names = voice.parameter_names
    for i, name in enumerate(SETUP.free):
        assert patch[0, names.index(name)] == pytest.approx(float(free[0, i]))
    assert patch[0, names.index("keyboard.midi_f0")] == pytest.approx(0.5)
    assert patch[0, names.index("drive.drive")] == pytest.approx(0.25)
    assert patch[0, names.index("lfo.frequency")] == 0.0


def test_human_units_json_round_trip(voice):
    # Catches a parameter paired with the wrong name or range between the two directions, and
    # a conversion that does not survive JSON. Closed forms: cutoff 24 + 108 u MIDI; attack
    # 2 u**2 s (curve 0.5); sustain u.
    free = torch.tensor([0.2, 0.3, 0.4, 0.5, 0.5, 0.6, 0.5, 0.8, 0.9])
    human = json.loads(json.dumps(to_human(voice, SETUP, free, 61.0)))
    assert human["vcf.cutoff"] == pytest.approx(24 + 108 * 0.5)
    assert human["amp_adsr.attack"] == pytest.approx(2 * 0.5**2)
    assert human["amp_adsr.decay"] == pytest.approx(2 * 0.8**2)
    assert human["amp_adsr.sustain"] == pytest.approx(0.9)
    assert human["keyboard.midi_f0"] == 61.0
    back, note = from_human(voice, SETUP, human)
    torch.testing.assert_close(back, free, atol=1e-6, rtol=0)
    assert note == 61.0


@pytest.mark.slow
def test_a_short_parameter_training_lowers_the_loss(voice, examples):
    # Catches a training step that does not descend (sign, missing step, gradient cut off).
    torch.manual_seed(0)
    net = ParameterEstimator(SETUP)
    history = train_steps(net, voice, examples, "parameter", 40, batch_size=16, learning_rate=3e-3, log_every=0)
    assert all(math.isfinite(v) for v in history)
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), (history[:5], history[-5:])


def test_the_spectral_loss_reaches_the_encoder(voice, examples):
    # Catches a spectral loss cut off from the network (a detach between estimate and voice).
    torch.manual_seed(0)
    net = ParameterEstimator(SETUP)
    before = [p.detach().clone() for p in net.convs.parameters()]
    history = train_steps(net, voice, examples, "spectral", 2, batch_size=8, log_every=0)
    assert all(math.isfinite(v) for v in history)
    assert all(not torch.equal(a, b.detach()) for a, b in zip(before, net.convs.parameters()))


def test_refinement_lowers_the_spectral_distance(voice, examples):
    # Catches refinement climbing instead of descending, or returning the start instead of the
    # best values found.
    part = examples.take(torch.arange(4))
    seeds = torch.zeros(4, dtype=torch.int64)
    start = torch.full((4, 9), 0.5)
    loss_fn = matching_loss()
    with torch.no_grad():
        before = loss_fn(render_free(voice, SETUP, start, part.midi_note, seeds), part.audio)
    found, after = refine(voice, SETUP, start, part.audio, part.midi_note, seeds, steps=8)
    with torch.no_grad():
        again = loss_fn(render_free(voice, SETUP, found, part.midi_note, seeds), part.audio)
    torch.testing.assert_close(again, after)
    assert float(after.mean()) < 0.8 * float(before.mean()), (before, after)
    assert bool((after <= before + 1e-5).all())


def test_random_search_keeps_the_best_render(voice, examples):
    # Catches a search returning the last guess rather than the best: its loss is the minimum
    # over its guesses, so more renders never do worse (same generator, the first guesses match).
    part = examples.take(torch.arange(4))
    seeds = torch.zeros(4, dtype=torch.int64)
    args = (voice, SETUP, part.audio, part.midi_note, seeds)
    free_1, loss_1 = random_search(*args, 1, torch.Generator().manual_seed(3))
    free_6, loss_6 = random_search(*args, 6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        check = matching_loss()(render_free(voice, SETUP, free_6, part.midi_note, seeds), part.audio)
    torch.testing.assert_close(check, loss_6)
    assert bool((loss_6 <= loss_1).all()) and bool((loss_6 < loss_1).any())


def test_metrics_closed_forms():
    # Catches a log-spectral distance in the wrong units (a gain of 10 is 20 dB), a parameter
    # error not averaged per sound, and a bootstrap interval that misses the mean.
    x = torch.randn(2, 4096, generator=torch.Generator().manual_seed(0))
    assert log_spectral_distance(10 * x, x).tolist() == pytest.approx([20.0, 20.0], abs=1e-3)
    torch.testing.assert_close(
        parameter_error(torch.zeros(2, 4), torch.tensor([[0, 0.5, 1, 0.5], [0, 0, 0, 0.4]])), torch.tensor([0.5, 0.1])
    )
    mean, low, high = bootstrap_ci(np.arange(100.0))
    assert mean == 49.5 and 40 < low < mean < high < 60


def test_saved_estimator_loads_to_the_same_outputs(tmp_path):
    # Catches weights or sizes lost between save and load.
    torch.manual_seed(1)
    net = ParameterEstimator(SETUP).eval()
    save_estimator(net, tmp_path / "m")
    audio, midi = torch.randn(2, 16000), torch.tensor([50.0, 70.0])
    with torch.no_grad():
        torch.testing.assert_close(load_estimator(tmp_path / "m")(audio, midi), net(audio, midi))


@pytest.fixture(scope="module")
def bundled():
    return load_estimator("rich")


def test_bundled_model_beats_the_neutral_guess(bundled, voice, examples):
    # Catches a bundled model that is untrained or mismatched to its voice or its features: on
    # fresh renders its matches sound far closer than the neutral guess's (measured 7.5 against
    # 23.7) and its parameters are closer too (measured 0.140 against 0.163).
    seeds = torch.zeros(len(examples), dtype=torch.int64)
    with torch.no_grad():
        found = bundled(examples.audio, examples.midi_note)
        neutral = torch.full_like(found, 0.5)
        distance = [
            matching_loss()(render_free(voice, SETUP, f, examples.midi_note, seeds), examples.audio).mean()
            for f in (found, neutral)
        ]
    assert float(distance[0]) < 0.5 * float(distance[1]), distance
    assert float(parameter_error(found, examples.free).mean()) < float(parameter_error(neutral, examples.free).mean())


@pytest.mark.slow
def test_cli_match_end_to_end_with_the_bundled_model(tmp_path, voice):
    # Catches a command that writes no audio, the wrong length or rate, or JSON missing a
    # parameter or holding values outside the voice's ranges.
    free = torch.tensor([[0.3, 0.7, 0.4, 0.2, 0.45, 0.3, 0.2, 0.5, 0.6]])
    with torch.no_grad():
        target = render_free(voice, SETUP, free, torch.tensor([57.0]), torch.zeros(1, dtype=torch.int64))[0]
    sf.write(tmp_path / "in.wav", target.numpy(), 16000)
    out = tmp_path / "out" / "match.wav"
    assert (
        main(
            [
                "match",
                str(tmp_path / "in.wav"),
                "--voice",
                "rich",
                "--model",
                "rich",
                "-o",
                str(out),
                "--midi-note",
                "57",
                "--refine-steps",
                "2",
            ]
        )
        == 0
    )
    audio, rate = sf.read(out)
    assert rate == 16000 and audio.shape == (16000,) and np.abs(audio).max() > 1e-3
    record = json.loads(out.with_suffix(".json").read_text())
    ranges = voice.ranges
    assert set(record["parameters"]) == {"keyboard.midi_f0", *SETUP.free}
    for name, value in record["parameters"].items():
        assert ranges[name].minimum <= value <= ranges[name].maximum, name
    assert record["units"]["vcf.cutoff"] == "MIDI note"


def test_bad_input_is_an_error_naming_the_argument(voice, bundled, tmp_path, capsys):
    # Catches unchecked shapes and a model used with another voice.
    with pytest.raises(InputError, match="free"):
        assemble_patch(voice, SETUP, torch.zeros(1, 8), torch.tensor([60.0]))
    with pytest.raises(InputError, match="audio"):
        match_audio(bundled, torch.zeros(2, 16000), midi_note=60.0)
    with pytest.raises(InputError, match="midi_note"):
        bundled(torch.zeros(2, 16000), torch.tensor([60.0]))
    with pytest.raises(InputError, match="model"):
        load_estimator(tmp_path / "nothing")
    with pytest.raises(InputError, match="human"):
        from_human(voice, SETUP, {"keyboard.midi_f0": 60.0})
    sf.write(tmp_path / "in.wav", np.zeros(1600), 16000)
    assert main(["match", str(tmp_path / "in.wav"), "--voice", "default", "-o", str(tmp_path / "o.wav")]) == 2
    assert "voice" in capsys.readouterr().err
