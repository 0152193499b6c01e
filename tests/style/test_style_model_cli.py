"""torchddsp.style: gradients through the chain to the controller, a short training run, and
the ``torchddsp style`` command with the bundled model."""

from __future__ import annotations

import json
import math

import pytest
import soundfile as sf
import torch

from torchddsp.cli import main
from torchddsp.style.chain import apply_chain
from torchddsp.style.commands import BUNDLED_STYLE_MODEL
from torchddsp.style.model import StyleTransfer
from torchddsp.style.model import load_style_model
from torchddsp.style.settings import SETTINGS
from torchddsp.style.training import make_examples
from torchddsp.style.training import segment_pairs
from torchddsp.style.training import style_loss
from torchddsp.style.training import train_step

RATE = 16000


def small_model(seed: int = 0) -> StyleTransfer:
    torch.manual_seed(seed)
    return StyleTransfer(RATE, n_mels=32, channels=16, n_fft=512, hidden=64)


def recordings(count: int = 3, seconds: float = 1.5) -> list[torch.Tensor]:
    """Tones with a moving level (so attack and release matter) over a little noise."""
    generator = torch.Generator().manual_seed(7)
    t = torch.arange(round(seconds * RATE)) / RATE
    return [
        0.2 * torch.sin(2 * math.pi * f0 * t) * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
        + 0.02 * torch.randn(t.shape, generator=generator)
        for f0 in (150.0, 400.0, 1200.0)[:count]
    ]


def test_gradients_reach_every_controller_output():
    # Catches a detached setting (an EQ band, the compressor or the gain not wired to the
    # chain, or computed from a .item()): each of the 29 outputs must get a finite, non-zero
    # gradient, and so must every row of the controller's last layer.
    # Loud clips (peaks -14 to 0 dBFS), so that the compressor, whose threshold an untrained
    # controller puts near -30 dB, is engaged (below its threshold its settings rightly get
    # no gradient).
    model = small_model()
    first, second = segment_pairs([4 * r for r in recordings()], 2, 6000, torch.Generator().manual_seed(0))
    normalized = model.predict(second, first)
    normalized.retain_grad()
    style_loss()(apply_chain(second, normalized, RATE), 0.5 * first).backward()
    grad = normalized.grad
    assert grad is not None and bool(torch.isfinite(grad).all())
    assert bool((grad.abs() > 0).all()), [s.name for s, g in zip(SETTINGS, grad.abs().amin(0)) if g == 0]
    last = model.controller.mlp[-1].weight.grad
    assert bool((last.abs().sum(-1) > 0).all())


@pytest.mark.slow
@pytest.mark.parametrize("gradient", ["exact", "spsa"])
def test_short_training_lowers_the_loss(gradient):
    # Catches an optimiser that does not reach the model or a loss that rises (a sign error in
    # a gradient): 25 steps on one fixed batch must lower its loss by a clear margin.
    model = small_model(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss = style_loss()
    generator = torch.Generator().manual_seed(2)
    example = make_examples(*segment_pairs(recordings(), 4, 4000, generator), RATE, generator)
    values = [train_step(model, optimizer, loss, example, gradient, 1e-3, generator) for _ in range(25)]
    assert min(values[-5:]) < 0.8 * values[0], values


def write_clip(path, audio):
    sf.write(str(path), audio.numpy(), RATE)


def test_cli_style_with_bundled_model(tmp_path):
    # Catches a broken bundled model or command: OUT.wav as long as INPUT, finite, and a JSON
    # with every setting in its range and unit.
    t = torch.arange(RATE) / RATE
    write_clip(tmp_path / "in.wav", 0.1 * torch.sin(2 * math.pi * 220 * t) + 0.01 * torch.sin(2 * math.pi * 3000 * t))
    write_clip(tmp_path / "ref.wav", 0.3 * torch.sin(2 * math.pi * 330 * t) + 0.1 * torch.sin(2 * math.pi * 4000 * t))
    assert (
        main(
            [
                "style",
                str(tmp_path / "in.wav"),
                "--reference",
                str(tmp_path / "ref.wav"),
                "-o",
                str(tmp_path / "out.wav"),
            ]
        )
        == 0
    )
    out, rate = sf.read(str(tmp_path / "out.wav"))
    assert rate == RATE and out.shape == (RATE,) and bool(torch.isfinite(torch.as_tensor(out)).all())
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["sample_rate"] == RATE
    for s in SETTINGS:
        value = record["settings"][s.name]
        assert value["unit"] == s.unit
        assert s.low - 1e-6 <= value["value"] <= s.high + 1e-6, s.name
    # The command's output is the library's output for the same clips.
    model = load_style_model(BUNDLED_STYLE_MODEL)
    with torch.no_grad():
        expect = model(
            torch.as_tensor(sf.read(str(tmp_path / "in.wav"), dtype="float32")[0])[None],
            torch.as_tensor(sf.read(str(tmp_path / "ref.wav"), dtype="float32")[0])[None],
        )[0]
    torch.testing.assert_close(torch.as_tensor(out, dtype=torch.float32), expect[0], rtol=1e-4, atol=1e-5)


def test_cli_style_bad_input(tmp_path, capsys):
    t = torch.arange(RATE // 2) / RATE
    write_clip(tmp_path / "in.wav", 0.1 * torch.sin(2 * math.pi * 220 * t))
    write_clip(tmp_path / "short.wav", torch.zeros(100))
    empty = tmp_path / "no_model"
    empty.mkdir()
    base = ["style", str(tmp_path / "in.wav"), "--reference"]
    cases = [
        (base + [str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o.wav")], "missing.wav"),
        (base + [str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.mp3")], "--output"),
        (base + [str(tmp_path / "short.wav"), "-o", str(tmp_path / "o.wav")], "--reference is too short"),
        (base + [str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"), "--model", str(empty)], "--model"),
        (base + [str(tmp_path / "in.wav"), "-o", str(tmp_path / "in.wav")], "--output"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
