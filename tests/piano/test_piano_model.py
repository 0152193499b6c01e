"""The piano model: partial frequencies against the closed form k f0 2^(c/1200) sqrt(1 + B k^2),
where the gradient of B and the detune lands, silence without notes, a short training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.piano.midi import Note
from torchddsp.piano.model import PianoConfig
from torchddsp.piano.model import PianoModel
from torchddsp.piano.model import typical_inharmonicity
from torchddsp.piano.render import note_controls
from torchddsp.piano.render import render_notes
from torchddsp.piano.voices import VoiceFrames
from torchddsp.validation import InputError

SMALL = PianoConfig(n_voices=2, n_strings=2, n_harmonics=8, context_size=16, hidden_size=16, reverb_length=64)


def quiet_model(config: PianoConfig = SMALL) -> PianoModel:
    """A model whose noise is off (its magnitudes at exp_sigmoid's floor)."""
    torch.manual_seed(0)
    model = PianoModel(config)
    with torch.no_grad():
        model.noise_out.bias.fill_(-100.0)
        model.noise_out.weight.zero_()
    return model


def peak_frequencies(audio: np.ndarray, sample_rate: int, count: int) -> list[float]:
    """The ``count`` strongest spectral peaks in Hz (Hann window, 8x zero padding, parabolic)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 8 * len(audio)))
    log = np.log(spectrum + 1e-12)
    local = np.flatnonzero((log[1:-1] > log[:-2]) & (log[1:-1] >= log[2:])) + 1
    strongest = sorted(local[np.argsort(spectrum[local])[-count:]])
    peaks = []
    for i in strongest:
        a, b, c = log[i - 1], log[i], log[i + 1]
        peaks.append((i + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate / (8 * len(audio)))
    return peaks


def test_partials_sit_at_the_closed_form_frequencies(monkeypatch):
    # Bug: sqrt(1 + B k) or B k^2 without the root, detune in semitones or not applied to one
    # string, B of the wrong key (pitch - 20), frequencies from the unshifted harmonic series.
    model = quiet_model()
    key, b, cents = 60, 2e-3, (-20.0, 30.0)
    with torch.no_grad():
        model.log_inharmonicity[key - 21] = math.log(b)
        model.detune_cents[key - 21] = torch.tensor(cents)

    def one_and_six(voices, context):  # harmonics 1 and 6 at equal amplitude
        distribution = torch.zeros(*voices.pitch.shape, SMALL.n_harmonics)
        distribution[..., [0, 5]] = 0.5
        return 0.5 * voices.active.unsqueeze(-1), distribution

    monkeypatch.setattr(model, "_voice_controls", one_and_six)
    audio = render_notes(model, [Note(0.0, 2.5, key, 100)], seed=0)[0].double().numpy()
    steady = audio[8000:40000]  # 0.5-2.5 s: the note held
    f0 = 440.0 * 2 ** ((key - 69) / 12)
    expected = sorted(k * f0 * 2 ** (c / 1200) * math.sqrt(1 + b * k * k) for k in (1, 6) for c in cents)
    assert peak_frequencies(steady, 16000, 4) == pytest.approx(expected, abs=0.2)


def test_gradient_of_b_and_detune_reaches_only_the_played_key():
    # Bug: B or detune indexed by the wrong key, or detached (no gradient at all).
    model = quiet_model()
    voices, roll = note_controls([Note(0.0, 0.4, 72, 100)], 60, SMALL)
    target = torch.sin(2 * math.pi * 530.0 * torch.arange(9600) / 16000)[None] * 0.1
    loss = MultiScaleSpectralLoss(fft_sizes=(1024, 256))(model(voices, roll, seed=0), target)
    loss.backward()
    b_grad, detune_grad = model.log_inharmonicity.grad, model.detune_cents.grad
    assert b_grad[72 - 21] != 0 and detune_grad[72 - 21].abs().min() > 0
    others = torch.ones(88, dtype=torch.bool)
    others[72 - 21] = False
    assert torch.all(b_grad[others] == 0) and torch.all(detune_grad[others] == 0)


def test_silence_without_active_notes():
    # Bug: the shared noise (or the voices) sounding with no note; a voice before its onset.
    model = PianoModel(SMALL)
    assert torch.all(render_notes(model, [], seed=0) == 0)
    audio = render_notes(model, [Note(0.5, 0.7, 60, 100)], seed=0)[0]
    assert audio[: 49 * 160].abs().max() < 1e-6
    assert audio[50 * 160 : 70 * 160].abs().max() > 1e-5


def test_initial_inharmonicity_curve():
    # Bug: the curve's treble and bass branches swapped or in natural log instead of log10.
    b = typical_inharmonicity(torch.tensor([21.0, 48.0, 78.0, 108.0], dtype=torch.float64))
    assert b.tolist() == pytest.approx([10**-3.46, 1e-4, 1e-3, 1e-2], rel=1e-12)
    model = PianoModel(SMALL)
    assert float(model.inharmonicity().detach()[48 - 21]) == pytest.approx(1e-4, rel=1e-5)


@pytest.mark.slow
def test_a_short_training_lowers_the_loss():
    # Bug: the voice network or the context detached from the loss (the loss would still fall
    # through B, detune, noise and reverb), an optimiser that misses parameters.
    torch.manual_seed(0)
    model = PianoModel(SMALL)
    voices, roll = note_controls([Note(0.0, 0.3, 69, 100)], 40, SMALL)
    t = torch.arange(6400) / 16000
    target = (0.3 * torch.exp(-4 * t) * (torch.sin(2 * math.pi * 440 * t) + 0.5 * torch.sin(2 * math.pi * 880 * t)))[
        None
    ]
    loss_fn = MultiScaleSpectralLoss(fft_sizes=(1024, 256, 64))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(15):
        loss = loss_fn(model(voices, roll, seed=step), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    # The fall must come through the networks too, not only B, detune, noise or reverb.
    for layer in (model.voice_net[-1].weight, model.context.weight_hh_l0, model.roll_in.weight):
        assert layer.grad is not None and layer.grad.abs().sum() > 0


def test_bad_inputs():
    model = PianoModel(SMALL)
    voices, roll = note_controls([Note(0.0, 0.1, 60, 100)], 10, SMALL)
    with pytest.raises(InputError, match="roll"):
        model(voices, roll[:, :, :80])
    with pytest.raises(InputError, match="frame_rate"):
        PianoModel(PianoConfig(frame_rate=300))
    assert isinstance(voices, VoiceFrames)
