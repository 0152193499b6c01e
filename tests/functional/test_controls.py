"""The one control type: ``Control``/``Rate`` and ``control_values``.

Each rate's layout, the frame convention (a frame-rate control is ``upsample(..., "linear")``
of it: closed-form values here; ``n_samples`` frames are the per-sample control), batch
broadcasting, errors that name the argument, and gradients through every rate."""

from __future__ import annotations

import pytest
import torch

from torchddsp.functional import Control
from torchddsp.functional import Rate
from torchddsp.functional.controls import control_dtype
from torchddsp.functional.controls import control_values
from torchddsp.functional.controls import rate_of
from torchddsp.functional.resampling import upsample
from torchddsp.validation import InputError
from torchddsp.validation import set_validation

B, N = 3, 8
LIKE = torch.zeros(B, N, dtype=torch.float64)


def values(value, channels=1, like=LIKE, n=N):
    return control_values("cutoff_hz", value, like, n, channels)


def test_fixed_controls_stay_one_value():
    for value in (440.0, 440, torch.tensor(440.0), Control.fixed(440.0), Control.fixed(torch.tensor([440.0]))):
        out = values(value)
        assert out.shape == (1, 1, 1) and out.dtype == torch.float64 and out.item() == 440.0


def test_per_item_controls_keep_their_batch_and_channels():
    bare = torch.tensor([[1.0], [2.0], [3.0]])
    assert values(bare).flatten().tolist() == [1.0, 2.0, 3.0] and values(bare).shape == (3, 1, 1)
    stated = values(Control.per_item(torch.tensor([1.0, 2.0, 3.0])))
    assert stated.shape == (3, 1, 1) and stated.flatten().tolist() == [1.0, 2.0, 3.0]
    # Bug: a rate guessed from sizes, (batch, channels) read as (batch, n_samples) when the
    # channel count equals n_samples. The stated rate wins.
    wide = torch.arange(B * N, dtype=torch.float64).reshape(B, N)
    out = values(Control.per_item(wide), channels=N)
    assert out.shape == (B, 1, N) and torch.equal(out[:, 0], wide)


def test_per_sample_controls_are_taken_as_they_are():
    ramp = torch.arange(N, dtype=torch.float64)[None].expand(B, N)
    out = values(ramp)
    assert out.shape == (B, N, 1) and torch.equal(out[..., 0], ramp)
    three = torch.randn(1, N, 2, dtype=torch.float64)
    assert torch.equal(values(Control.per_sample(three), channels=2), three)


def test_frame_rate_controls_follow_the_frame_convention():
    # Two frames over 8 samples: hop 4, frame i at sample 4 i, the last held for the final hop.
    frames = torch.tensor([[[0.0], [4.0]]], dtype=torch.float64)
    expected = [0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0]
    assert values(frames)[0, :, 0].tolist() == expected
    assert values(Control.per_frame(frames[..., 0]))[0, :, 0].tolist() == expected
    generator = torch.Generator().manual_seed(0)
    for n_frames in (3, 4, 5, N):  # fractional hops, an integer one, one frame per sample
        coarse = torch.randn(B, n_frames, 2, dtype=torch.float64, generator=generator)
        torch.testing.assert_close(values(coarse, channels=2), upsample(coarse, N, "linear"), rtol=0, atol=1e-15)
    # n_samples frames are exactly (bit for bit) the per-sample control.
    fine = torch.randn(B, N, dtype=torch.float64, generator=generator)
    assert torch.equal(values(Control.per_frame(fine)), values(Control.per_sample(fine)))
    assert torch.equal(values(fine[..., None]), fine[..., None])
    assert values(torch.full((B, 1, 1), 2.0)).shape == (B, 1, 1)  # one frame: constant, not expanded


def test_bare_layouts_state_their_rate():
    assert rate_of("a", 1.0) is Rate.FIXED
    assert rate_of("a", torch.tensor(1.0)) is Rate.FIXED
    assert rate_of("a", torch.zeros(B, 1)) is Rate.ITEM
    assert rate_of("a", torch.zeros(B, N)) is Rate.SAMPLE
    assert rate_of("a", torch.zeros(B, 4, 1)) is Rate.FRAME
    assert rate_of("a", Control(torch.zeros(B, N), "frame")) is Rate.FRAME


def test_batch_one_broadcasts_and_other_batches_are_errors():
    shared = torch.randn(1, N, dtype=torch.float64)
    assert values(shared).shape == (1, N, 1)
    with pytest.raises(InputError, match=r"cutoff_hz must have batch 1 or 3 .* found shape \(2, 8, 1\) at sample rate"):
        values(torch.zeros(2, N))
    with pytest.raises(InputError, match=r"cutoff_hz must have batch 1 or 3 .* found shape \(2, 1, 1\) at item rate"):
        values(torch.zeros(2, 1))


@pytest.mark.parametrize(
    "value,message",
    [
        (torch.zeros(B, N - 1), r"cutoff_hz per sample must hold 8 samples \(that of the input\), found 7"),
        (torch.zeros(B, 4, 2), r"cutoff_hz must have batch 1 or 3 .* and 1 channels, found shape \(3, 4, 2\)"),
        (torch.zeros(B), r"cutoff_hz must be a number, \(batch, 1\).*wrap it in Control"),
        (torch.zeros(1, B, 4, 1), r"cutoff_hz must be a number, \(batch, 1\)"),
        (Control.fixed(torch.zeros(2)), "cutoff_hz: a fixed control holds one value, found shape"),
        (
            Control.per_item(torch.zeros(B, 1, 1)),
            r"cutoff_hz: a per-item control must be \(batch,\) or \(batch, channels\)",
        ),
        (Control.per_frame(torch.zeros(B)), r"cutoff_hz: a per-frame control must be \(batch, time\)"),
        (Control.per_frame(torch.zeros(B, 0)), "cutoff_hz at frame rate needs at least one frame"),
        (torch.full((B, 1), float("nan")), "cutoff_hz must be finite"),
        (Control.per_frame(torch.full((B, 4), float("inf"))), "cutoff_hz must be finite"),
    ],
)
def test_bad_layouts_and_values_name_the_argument(value, message):
    with pytest.raises(InputError, match=message):
        values(value)


def test_wrong_types_and_rates_are_typed_errors():
    for value in ("440", [440.0], None, True):
        with pytest.raises(TypeError, match="cutoff_hz must be a number, a tensor or a Control"):
            values(value)
    # An integer tensor: TypeError or InputError as validation.check_tensor decides (its owner
    # moves wrong types to TypeError); either way named.
    with pytest.raises((TypeError, InputError), match="cutoff_hz must be a floating-point tensor"):
        values(torch.zeros(B, N, dtype=torch.long))
    with pytest.raises(InputError, match=r"rate must be one of \['fixed', 'item', 'frame', 'sample'\]"):
        Control(1.0, "hourly")


def test_value_checks_can_be_switched_off():
    previous = set_validation(False)
    try:
        assert torch.isnan(values(torch.full((B, 1), float("nan")))).all()
        with pytest.raises(InputError, match="per sample must hold"):  # structure is always checked
            values(torch.zeros(B, N - 1))
    finally:
        set_validation(previous)


def test_dtype_and_device_follow_the_input():
    assert values(torch.ones(B, 1, dtype=torch.float32)).dtype == torch.float64
    assert (
        control_dtype(torch.zeros(1, 2), Control.per_item(torch.ones(2, dtype=torch.float64)), None, 2.0)
        == torch.float64
    )
    assert control_dtype(torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 1)) == torch.float64


@pytest.mark.parametrize(
    "make",
    [
        lambda v: Control.fixed(v[0, 0]),
        lambda v: v[:, :1],
        lambda v: Control.per_item(v[:, 0]),
        lambda v: v,
        lambda v: v[:, :4, None],
        lambda v: Control.per_frame(v[:, :3]),
    ],
    ids=["fixed", "item", "item-stated", "sample", "frame", "frame-stated"],
)
def test_gradients_flow_through_every_rate(make):
    value = torch.randn(B, N, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(B, N, 1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: (values(make(v)) * weights).sum(), (value,))
    (values(make(value)) * weights).sum().backward()
    assert value.grad.abs().sum() > 0
