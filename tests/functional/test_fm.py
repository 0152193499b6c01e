import math

import numpy as np
import pytest
import torch

from torchddsp.functional import Control
from torchddsp.functional import fm_synthesis
from torchddsp.validation import set_validation

SR = 16000


def test_two_operator_fm_matches_closed_form():
    n = 4000
    frequencies = torch.tensor([440.0, 660.0], dtype=torch.float64).expand(1, n, 2)
    amplitudes = torch.tensor([0.8, 1.5], dtype=torch.float64).expand(1, n, 2)
    routing = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    y = fm_synthesis(frequencies, amplitudes, routing, SR)
    t = np.arange(1, n + 1) / SR
    expected = 0.8 * np.sin(2 * np.pi * 440 * t + 1.5 * np.sin(2 * np.pi * 660 * t))
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_feedback_operator_matches_a_per_sample_loop(rng, backend):
    n = 500
    frequencies = torch.tensor(rng.uniform(100, 2000, (2, n, 2)))
    amplitudes = torch.tensor(rng.uniform(0.1, 1.0, (2, n, 2)))
    feedback = torch.tensor(rng.uniform(0.0, 1.5, (2, n, 2)))
    routing = torch.tensor([[0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    y = fm_synthesis(frequencies, amplitudes, routing, SR, feedback=feedback, backend=backend)
    f, a, beta = frequencies.numpy(), amplitudes.numpy(), feedback.numpy()
    theta = 2 * np.pi * np.cumsum(f, axis=1) / SR
    for b in range(2):
        o1, o0 = np.zeros(n), np.zeros(n)
        previous1 = previous0 = 0.0
        for i in range(n):
            o1[i] = a[b, i, 1] * np.sin(theta[b, i, 1] + beta[b, i, 1] * previous1)
            o0[i] = a[b, i, 0] * np.sin(theta[b, i, 0] + 2.0 * o1[i] + beta[b, i, 0] * previous0)
            previous1, previous0 = o1[i], o0[i]
        np.testing.assert_allclose(y[b].numpy(), o0, atol=1e-12)


def test_fm_stream_with_feedback_in_blocks_equals_one_call(rng):
    n = 600
    frequencies = torch.tensor(rng.uniform(100, 2000, (1, n, 3)))
    amplitudes = torch.tensor(rng.uniform(0.1, 1.0, (1, n, 3)))
    feedback = torch.tensor([[[0.0, 0.0, 0.9]]], dtype=torch.float64)
    routing = torch.tensor([[0, 1.0, 0.5], [0, 0, 1.0], [0, 0, 0]], dtype=torch.float64)
    gains = torch.tensor([1.0, 0.2, 0.0], dtype=torch.float64)
    offline = fm_synthesis(frequencies, amplitudes, routing, SR, feedback, gains)
    state = None
    pieces = []
    for start in range(0, n, 200):
        piece, state = fm_synthesis(
            frequencies[:, start : start + 200],
            amplitudes[:, start : start + 200],
            routing,
            SR,
            feedback,
            gains,
            state=state,
            return_state=True,
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), offline.numpy(), atol=1e-10)


def test_fm_rejects_routing_that_is_not_strictly_upper_triangular():
    x = torch.ones(1, 10, 2)
    with pytest.raises(ValueError, match="strictly upper triangular"):
        fm_synthesis(x * 100, x, torch.tensor([[1.0, 0.0], [0.0, 0.0]]), SR)
    with pytest.raises(ValueError, match="modulation must have shape"):
        fm_synthesis(x * 100, x, torch.zeros(3, 3), SR)


def test_zero_feedback_still_gets_a_gradient():
    n = 200
    frequencies = torch.tensor([[[300.0, 450.0]]], dtype=torch.float64).expand(1, n, 2)
    amplitudes = torch.ones(1, n, 2, dtype=torch.float64)
    feedback = torch.zeros(1, 1, 2, dtype=torch.float64, requires_grad=True)
    routing = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    fm_synthesis(frequencies, amplitudes, routing, 16000, feedback).pow(2).sum().backward()
    assert feedback.grad is not None and bool((feedback.grad != 0).all())
    assert torch.autograd.gradcheck(
        lambda b: fm_synthesis(frequencies[:, :20], amplitudes[:, :20], routing, 16000, b),
        (torch.zeros(1, 20, 2, dtype=torch.float64, requires_grad=True),),
    )


def test_output_follows_the_amplitude_dtype():
    y = fm_synthesis(torch.full((1, 10, 2), 100.0, dtype=torch.float64), torch.ones(1, 10, 2), torch.zeros(2, 2), 16000)
    assert y.dtype == torch.float32


def test_compiled_feedback_equals_the_pytorch_loop_in_values_and_gradients(rng):
    # The compiled pass has a hand-written adjoint; the PyTorch loop's gradients are autograd's.
    n = 300
    inputs = [
        torch.tensor(rng.uniform(100, 3000, (2, n, 2))),
        torch.tensor(rng.uniform(0.1, 1.0, (2, n, 2))),
        torch.tensor(rng.uniform(-1.5, 1.5, (2, n, 2))),
        torch.tensor(rng.uniform(-0.5, 0.5, (2, 2))),
    ]
    routing = torch.tensor([[0.0, 1.7], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    weight = torch.tensor(rng.standard_normal((2, n)))
    results = {}
    for backend in ("numba", "torch"):
        leaves = [t.clone().requires_grad_() for t in inputs]
        f, a, beta, memory = leaves
        audio, (_, last) = fm_synthesis(
            f,
            a,
            routing,
            SR,
            beta,
            torch.tensor([1.0, 0.3], dtype=torch.float64),
            state=(torch.zeros(2, 2), memory),
            return_state=True,
            backend=backend,
        )
        loss = (audio * weight).sum() + last.pow(2).sum()
        results[backend] = (audio.detach(), torch.autograd.grad(loss, [*leaves, routing]))
    np.testing.assert_allclose(results["numba"][0].numpy(), results["torch"][0].numpy(), rtol=0, atol=1e-12)
    for name, ours, reference in zip(("f", "a", "beta", "memory", "routing"), results["numba"][1], results["torch"][1]):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


def test_amplitudes_at_frame_rate_are_upsampled_linearly():
    # (batch, n_frames, n_operators) with n_frames neither 1 nor n_samples: a frame-rate control
    # (frame i at sample i * hop, the last held), no longer an error.
    n, frames = 400, 5
    hop = n // frames
    frequencies = torch.full((1, n, 2), 300.0, dtype=torch.float64)
    amplitudes = torch.tensor([[[0.2, 1.0], [0.9, 0.4], [0.5, 0.5], [0.1, 2.0], [0.7, 0.3]]], dtype=torch.float64)
    routing = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    per_sample = np.empty((n, 2))
    for c in range(2):
        per_sample[:, c] = np.interp(np.arange(n), np.arange(frames) * hop, amplitudes[0, :, c].numpy())
    expected = fm_synthesis(frequencies, torch.from_numpy(per_sample)[None], routing, SR)
    for given in (amplitudes, Control.per_frame(amplitudes)):
        np.testing.assert_allclose(fm_synthesis(frequencies, given, routing, SR).numpy(), expected.numpy(), atol=1e-12)


def test_routing_is_checked_only_while_data_checks_are_on():
    x = torch.ones(1, 10, 2)
    lower = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    previous = set_validation(False)
    try:
        fm_synthesis(x * 100, x, lower, SR)  # no host sync: the caller vouches for its data
    finally:
        set_validation(previous)
    with pytest.raises(ValueError, match="strictly upper triangular"):
        fm_synthesis(x * 100, x, lower, SR)


def test_compiled_feedback_remembers_each_output_as_returned_in_float32(rng):
    # Bug caught: the compiled recursion carrying y[n-1] unrounded (float64) while it returns
    # float32: a stream, whose blocks start from the last output returned, then departs from
    # one call by a float32 rounding step that strong feedback amplifies (2e-5 of the FM synth).
    from torchddsp.functional.engine.fm import feedback_oscillator

    n = 3000
    psi = torch.tensor(rng.uniform(-20, 20, (2, n)), dtype=torch.float32)
    amplitude = torch.tensor(rng.uniform(0.5, 2.0, (2, n)), dtype=torch.float32)
    beta = torch.tensor(rng.uniform(0.5, 1.5, (2, n)), dtype=torch.float32)
    y0 = torch.tensor([0.3, -0.7], dtype=torch.float32)
    y = feedback_oscillator(psi, amplitude, beta, y0)
    assert y.dtype == torch.float32
    for b in range(2):
        previous, expected = float(y0[b]), np.empty(n, dtype=np.float32)
        for i in range(n):  # float64 arithmetic, each output stored in float32 and read back
            expected[i] = float(amplitude[b, i]) * math.sin(float(psi[b, i]) + float(beta[b, i]) * previous)
            previous = float(expected[i])
        np.testing.assert_array_equal(y[b].numpy(), expected)


def test_float32_fm_with_feedback_in_blocks_equals_one_call(rng):
    # Bug caught: as above, seen from fm_synthesis: blocks of a strongly fed-back float32 stack
    # drift from one call by far more than float32 rounding (here the whole output apart).
    n, block = 4000, 50
    frequencies = torch.tensor(rng.uniform(100, 1500, (1, n, 2)), dtype=torch.float32)
    amplitudes = torch.tensor(rng.uniform(1.0, 2.0, (1, n, 2)), dtype=torch.float32)
    feedback = torch.tensor([[[0.0, 1.5]]], dtype=torch.float32)
    routing = torch.tensor([[0.0, 6.0], [0.0, 0.0]], dtype=torch.float32)
    offline = fm_synthesis(frequencies, amplitudes, routing, SR, feedback, backend="numba")
    pieces, state = [], None
    for start in range(0, n, block):
        cut = slice(start, start + block)
        piece, state = fm_synthesis(
            frequencies[:, cut],
            amplitudes[:, cut],
            routing,
            SR,
            feedback,
            state=state,
            return_state=True,
            backend="numba",
        )
        pieces.append(piece)
    difference = float((torch.cat(pieces, 1) - offline).abs().max())
    assert difference <= 1e-5 * float(offline.abs().max()), difference
