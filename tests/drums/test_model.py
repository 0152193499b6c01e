"""The drum model: bundled weights, output ranges, a short training, the CLI."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch

from torchddsp.cli import main
from torchddsp.drums.model import DRUMS
from torchddsp.drums.model import DrumModel
from torchddsp.drums.model import load_drum_model
from torchddsp.drums.model import request
from torchddsp.drums.synth import N_CONTROLS
from torchddsp.drums.synth import DrumSynth
from torchddsp.drums.training import drum_loss
from torchddsp.drums.training import fit
from torchddsp.drums.training import spectral_loss


@pytest.fixture(scope="module")
def bundled() -> DrumModel:
    return load_drum_model()


def test_bundled_model_outputs_are_in_range(bundled):
    # bug caught: controls leaving [0, 1] (no sigmoid) or a silent / exploding hit
    drum = torch.arange(len(DRUMS))
    targets = torch.rand(len(DRUMS), 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        controls = bundled.controls(drum, targets)
        audio = bundled.synth(controls)
    assert controls.shape == (len(DRUMS), N_CONTROLS)
    assert bool(((controls > 0) & (controls < 1)).all())
    assert audio.shape == (len(DRUMS), bundled.synth.n_samples)
    peaks = audio.abs().amax(1)
    assert bool(((peaks > 1e-3) & (peaks < 4.0)).all()), peaks


def test_bundled_ranges_are_per_class_and_ordered(bundled):
    # bug caught: ranges saved transposed or not saved (then (0, 1) everywhere)
    low, high = bundled.ranges[..., 0], bundled.ranges[..., 1]
    assert bundled.ranges.shape == (len(DRUMS), 3, 2)
    assert bool((high > low).all())
    assert not torch.equal(bundled.ranges[0], bundled.ranges[3])


def test_bundled_brightness_request_moves_brightness(bundled):
    # the point of the model: asking for a brighter snare gives a brighter snare
    drum = torch.tensor([1, 1])
    targets = torch.tensor([[0.1, 0.5, 0.5], [0.9, 0.5, 0.5]], dtype=torch.float64)
    with torch.no_grad():
        measured = bundled.measure(drum, bundled(drum, targets))
    assert measured[1, 0] > measured[0, 0]


def test_bundled_model_follows_every_descriptor_of_every_class(bundled):
    # bugs caught: descriptor inputs fed in the wrong order or inverted, and a bundle trained
    # without the controllability loss (the first bundle: cymbal brightness and kick depth fell
    # as asked to rise, mean rise 0.16); asking 0.1 then 0.9 of one descriptor (others 0.5)
    drum = torch.arange(len(DRUMS)).repeat_interleave(6)
    targets = torch.full((6 * len(DRUMS), 3), 0.5, dtype=torch.float64)
    for row in range(0, targets.shape[0], 2):
        targets[row, (row % 6) // 2], targets[row + 1, (row % 6) // 2] = 0.1, 0.9
    with torch.no_grad():
        measured = bundled.measure(drum, bundled(drum, targets))
    column = torch.arange(0, targets.shape[0], 2) % 6 // 2
    rows = torch.arange(0, targets.shape[0], 2)
    rise = (measured[rows + 1, column] - measured[rows, column]).reshape(len(DRUMS), 3)
    assert bool((rise > 0.02).all()), rise
    assert rise.mean() > 0.4, rise


@pytest.mark.slow
def test_short_training_lowers_the_loss():
    # bug caught: optimiser not stepping the network, or the loss detached from it
    torch.manual_seed(0)
    synth = DrumSynth(16000, 1024)
    truth = torch.rand(4, N_CONTROLS, generator=torch.Generator().manual_seed(1))
    audio = synth(truth).detach()
    model = DrumModel(hidden=16, n_samples=1024)
    drum = torch.tensor([0, 1, 2, 3])
    targets = torch.rand(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    history = fit(model, drum, targets, audio, steps=25, batch_size=4, learning_rate=1e-2, descriptor_weight=0.0)
    first, last = history[0][0], sum(h[0] for h in history[-5:]) / 5
    assert last < 0.9 * first, (first, last)


def test_descriptor_loss_reaches_the_network():
    # bug caught: descriptors measured on a detached hit, so the descriptor term trains nothing
    model = DrumModel(hidden=8, n_samples=2048)
    drum = torch.tensor([0, 3])
    audio = torch.zeros(2, 2048)
    spectral = spectral_loss()
    _, _, term = drum_loss(model, drum, torch.full((2, 3), 0.5, dtype=torch.float64), audio, spectral, 1.0)
    assert term > 0
    term.backward()
    assert model.net[0].weight.grad is not None and model.net[0].weight.grad.abs().sum() > 0


def test_bad_requests_name_the_argument(bundled):
    with pytest.raises(ValueError, match="drum"):
        request("cowbell", 0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="depth"):
        request("snare", 0.5, 1.5, 0.5)
    with pytest.raises(ValueError, match="drum"):
        bundled.controls(torch.tensor([7]), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="targets"):
        bundled.controls(torch.tensor([0]), torch.zeros(1, 2))


def test_cli_writes_a_hit(tmp_path, capsys):
    out = tmp_path / "snare.wav"
    argv = ["drums", "--drum", "snare", "--brightness", "0.7", "--depth", "0.3", "--warmth", "0.5", "-o", str(out)]
    assert main(argv) == 0
    audio, rate = sf.read(out)
    assert rate == 16000 and audio.ndim == 1 and len(audio) == 12000
    assert 1e-3 < abs(audio).max() <= 1.0
    assert "measured brightness" in capsys.readouterr().out
    # bug caught: an option parsed but not passed on (the request ignored)
    duller = tmp_path / "duller.wav"
    assert main([*argv[:4], "0.1", *argv[5:-1], str(duller)]) == 0
    assert not (sf.read(duller)[0] == audio).all()


def test_cli_refuses_bad_input(tmp_path):
    out = str(tmp_path / "x.wav")
    assert main(["drums", "--drum", "cowbell", "-o", out]) == 2
    assert main(["drums", "--drum", "kick", "--warmth", "1.2", "-o", out]) == 2
    assert not (tmp_path / "x.wav").exists()
