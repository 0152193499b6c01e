"""``gru_sequence`` (a GRU with a hand-written backward) against ``nn.GRU``, PyTorch's own.

Bugs caught: a gate order other than PyTorch's (r, z, n), ``b_hn`` outside ``r * (...)``, a
backward loop that skips or shifts a frame, a weight gradient paired with the wrong state
(``h_t`` for ``h_{t-1}``), a gradient returned for the wrong argument or missing when only
some are wanted, a silently wrong second derivative, the decoder not taking the fast path while
training (or taking it with another state shape), and bad input reaching the products.
The reference is ``nn.GRU`` itself (autograd through PyTorch's cell), in float64.
"""

from __future__ import annotations

import pytest
import torch

from torchddsp.models.decoders import RnnFcDecoder
from torchddsp.models.gru import gru_sequence
from torchddsp.models.gru import run_gru
from torchddsp.validation import InputError


def _problem(batch, n_frames, input_size, hidden, dtype, with_h0, seed):
    """A GRU, its input, an optional h0 and random output gradients (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    gru = torch.nn.GRU(input_size, hidden, batch_first=True).to(dtype)
    with torch.no_grad():  # larger than the default init: saturating and sign-changing gates
        for parameter in gru.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=dtype) * 0.5)
    x = torch.randn(batch, n_frames, input_size, generator=generator, dtype=dtype, requires_grad=True)
    h0 = torch.randn(1, batch, hidden, generator=generator, dtype=dtype, requires_grad=True) if with_h0 else None
    grad_output = torch.randn(batch, n_frames, hidden, generator=generator, dtype=dtype)
    grad_h_n = torch.randn(batch, hidden, generator=generator, dtype=dtype)
    return gru, x, h0, grad_output, grad_h_n


def _values_and_gradients(outputs, inputs, grad_output, grad_h_n):
    output, h_n = outputs
    loss = (output * grad_output).sum() + (h_n.reshape(grad_h_n.shape) * grad_h_n).sum()
    return (output, h_n.reshape(grad_h_n.shape), *torch.autograd.grad(loss, inputs))


def _compare(gru, x, h0, grad_output, grad_h_n):
    """(reference, ours): output, h_n and the gradients of x, h0 (if any) and the 4 weights."""
    inputs = [x] + ([] if h0 is None else [h0]) + list(gru.parameters())
    expected = _values_and_gradients(gru(x, h0), inputs, grad_output, grad_h_n)
    ours = gru_sequence(x, *gru.parameters(), h0=None if h0 is None else h0[0])
    return expected, _values_and_gradients(ours, inputs, grad_output, grad_h_n)


NAMES = ("output", "h_n", "x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_h0", [True, False])
def test_values_and_every_gradient_equal_nn_gru_in_float64(seed, with_h0):
    sizes = torch.randint(1, 9, (4,), generator=torch.Generator().manual_seed(seed)).tolist()
    batch, input_size, hidden = sizes[0], sizes[1], sizes[2]
    n_frames = 1 + 5 * sizes[3]  # 6 to 41 frames; 1 frame is the next test's
    expected, ours = _compare(*_problem(batch, n_frames, input_size, hidden, torch.float64, with_h0, seed))
    names = [name for name in NAMES if with_h0 or name != "h0"]
    for name, reference, value in zip(names, expected, ours, strict=True):
        assert value.shape == reference.shape, name
        assert torch.allclose(value, reference, rtol=0, atol=1e-10), f"{name}: {(value - reference).abs().max()}"


def test_a_single_frame_and_a_long_sequence_equal_nn_gru():
    # One frame: the loops' ends meet (h0's gradient is the first and last step's); 300 frames:
    # an error carried along the recurrence grows with its length.
    for n_frames in (1, 300):
        expected, ours = _compare(*_problem(3, n_frames, 4, 5, torch.float64, True, seed=n_frames))
        for name, reference, value in zip(NAMES, expected, ours, strict=True):
            assert torch.allclose(value, reference, rtol=0, atol=1e-10), f"{n_frames} frames, {name}"


def test_float32_equals_nn_gru_within_float_rounding():
    expected, ours = _compare(*_problem(4, 60, 16, 24, torch.float32, True, seed=7))
    for name, reference, value in zip(NAMES, expected, ours, strict=True):
        scale = reference.abs().max().item()
        error = (value - reference).abs().max().item()
        assert error <= 1e-5 * max(scale, 1.0), f"{name}: {error} (scale {scale})"


def test_gradcheck_on_a_tiny_case():
    gru, x, h0, _, _ = _problem(2, 3, 2, 3, torch.float64, True, seed=11)
    weights = [p.detach().clone().requires_grad_() for p in gru.parameters()]
    assert torch.autograd.gradcheck(
        lambda x, h, *w: gru_sequence(x, *w, h0=h), (x, h0[0].detach().requires_grad_(), *weights)
    )


@pytest.mark.parametrize("frozen", [("x", "weight_ih"), ("h0", "bias_ih"), ("x", "bias_hh")])
def test_only_the_wanted_gradients_are_given_each_to_its_argument(frozen):
    # Some inputs without gradients: each wanted one must still come, to its own argument.
    gru, x, h0, grad_output, grad_h_n = _problem(2, 9, 3, 4, torch.float64, True, seed=3)
    named = dict(zip(NAMES[2:], (x, h0, *gru.parameters())))
    for name in frozen:
        named[name].requires_grad_(False)
    wanted = [name for name in named if name not in frozen]
    inputs = [named[name] for name in wanted]
    expected = _values_and_gradients(gru(x, h0), inputs, grad_output, grad_h_n)
    ours = _values_and_gradients(gru_sequence(x, *gru.parameters(), h0=h0[0]), inputs, grad_output, grad_h_n)
    for name, reference, value in zip(wanted, expected[2:], ours[2:], strict=True):
        assert torch.allclose(value, reference, rtol=0, atol=1e-10), name


def test_a_second_derivative_is_refused_not_silently_wrong():
    gru, x, h0, _, _ = _problem(2, 4, 3, 3, torch.float64, False, seed=5)
    output, _ = gru_sequence(x, *gru.parameters())
    (grad_x,) = torch.autograd.grad(output.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate twice"):
        grad_x.sum().backward()


def test_the_decoder_trains_through_the_fast_gru_with_nn_grus_values():
    torch.manual_seed(0)
    decoder = RnnFcDecoder([1, 1], [("amplitudes", 1), ("harmonic_distribution", 5)], 8, 6, 1).double()
    f0, loudness = torch.randn(2, 12, 1, dtype=torch.float64), torch.randn(2, 12, 1, dtype=torch.float64)
    hidden = torch.randn(1, 2, 6, dtype=torch.float64)
    controls, state = decoder(f0, loudness, hidden=hidden, return_state=True)
    assert type(state.grad_fn.next_functions[0][0]).__name__ == "_GruBackward"  # the fast path ran
    with torch.no_grad():
        reference, reference_state = decoder(f0, loudness, hidden=hidden, return_state=True)  # nn.GRU's
    assert state.shape == reference_state.shape == (1, 2, 6)
    assert torch.allclose(state, reference_state, rtol=0, atol=1e-12)
    for name, value in controls.items():
        assert torch.allclose(value, reference[name], rtol=0, atol=1e-12), name


def test_run_gru_falls_back_to_the_module_where_the_fast_path_does_not_apply():
    gru = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        output, _ = run_gru(gru, x)
    assert output.grad_fn is None
    two_layers = torch.nn.GRU(3, 4, num_layers=2, batch_first=True)
    output, state = run_gru(two_layers, x)
    assert state.shape == (2, 2, 4) and type(output.grad_fn).__name__ != "_GruBackward"


@pytest.mark.parametrize(
    ("change", "error", "named"),
    [
        (lambda a: a.update(x=a["x"][0]), InputError, "x"),
        (lambda a: a.update(x=a["x"][:, :0]), InputError, "x"),
        (lambda a: a.update(x=a["x"].long()), TypeError, "x"),
        (lambda a: a.update(x=[[[1.0]]]), TypeError, "x"),
        (lambda a: a.update(weight_ih=a["weight_ih"][:, :-1]), InputError, "weight_ih"),
        (lambda a: a.update(weight_hh=a["weight_hh"][:-1]), InputError, "weight_hh"),
        (lambda a: a.update(bias_ih=a["bias_ih"][:-1]), InputError, "bias_ih"),
        (lambda a: a.update(bias_hh=a["bias_hh"].double()), InputError, "bias_hh"),
        (lambda a: a.update(h0=torch.zeros(1, 2, 4)), InputError, "h0"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(change, error, named):
    gru = torch.nn.GRU(3, 4, batch_first=True)
    arguments = dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), gru.parameters()))
    arguments.update(x=torch.randn(2, 5, 3), h0=None)
    change(arguments)
    with pytest.raises(error, match=named):
        gru_sequence(**arguments)
