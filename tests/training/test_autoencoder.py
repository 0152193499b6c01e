"""The autoencoder's reverb paths (issue 13 item 6): a given room is rendered by a module built
once, as the closed form says, and adds no weights to the model."""

from __future__ import annotations

import numpy as np
import torch
from training_support import tiny_config

from torchddsp import effects
from torchddsp.models import Autoencoder


def _features(n_frames: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    f0 = torch.full((2, n_frames), 220.0)
    f0[1] = 330.0
    loudness = torch.linspace(-40.0, -10.0, n_frames).repeat(2, 1)
    return f0, loudness


def test_a_given_room_is_the_dry_signal_plus_its_convolution():
    # Catches: the given impulse response ignored (the learned one used), its first tap kept
    # (the dry path counted twice), or the dry path dropped.
    torch.manual_seed(0)
    model = Autoencoder(tiny_config().model).eval()
    f0, loudness = _features()
    ir = torch.randn(300, generator=torch.Generator().manual_seed(1)) * torch.exp(-torch.arange(300) / 60.0)
    with torch.no_grad():
        out = model(f0, loudness, generator=torch.Generator().manual_seed(2), reverb_ir=ir)
    dry = out["audio_dry"].double().numpy()
    taps = ir.double().numpy().copy()
    taps[0] = 0.0
    expected = np.stack([row + np.convolve(row, taps)[: row.shape[0]] for row in dry])
    np.testing.assert_allclose(out["audio"].double().numpy(), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert np.abs(expected - dry).max() > 0.1 * np.abs(dry).max()  # the room is audible: the test can fail


def test_forward_builds_no_module(monkeypatch):
    # Catches: a Reverb constructed on every call with reverb_ir (a module per step and per
    # chunk, outside the model's device and dtype moves).
    model = Autoencoder(tiny_config().model).eval()
    built = []
    real_init = effects.Reverb.__init__

    def counting(self, *args, **kwargs):
        built.append(args or kwargs)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(effects.Reverb, "__init__", counting)
    f0, loudness = _features()
    with torch.no_grad():
        model(f0, loudness, reverb_ir=torch.ones(50) * 0.01)
        model(f0, loudness)
    assert built == []


def test_the_given_room_adds_no_weights():
    # Catches: a module for the given room that registers a parameter or a buffer: checkpoints
    # (the bundled models' included) would no longer fit the model.
    model = Autoencoder(tiny_config().model)
    names = set(model.state_dict())
    assert {name.split(".")[0] for name in names} <= {"decoder", "synthesizer", "reverb", "encoder", "preprocessor"}
    assert [name for name in names if name.startswith("given_reverb")] == []
