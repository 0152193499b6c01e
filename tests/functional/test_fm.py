import numpy as np
import pytest
import torch

from torchddsp.functional import fm_synthesis, fm_synthesis_stream

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


def test_feedback_operator_matches_a_per_sample_loop(rng):
    n = 500
    frequencies = torch.tensor(rng.uniform(100, 2000, (2, n, 2)))
    amplitudes = torch.tensor(rng.uniform(0.1, 1.0, (2, n, 2)))
    feedback = torch.tensor(rng.uniform(0.0, 1.5, (2, n, 2)))
    routing = torch.tensor([[0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    y = fm_synthesis(frequencies, amplitudes, routing, SR, feedback=feedback)
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
    phase = last = None
    pieces = []
    for start in range(0, n, 200):
        piece, phase, last = fm_synthesis_stream(frequencies[:, start : start + 200], amplitudes[:, start : start + 200],
                                                 routing, SR, feedback, gains, phase, last)
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
    assert torch.autograd.gradcheck(lambda b: fm_synthesis(frequencies[:, :20], amplitudes[:, :20], routing, 16000, b),
                                    (torch.zeros(1, 20, 2, dtype=torch.float64, requires_grad=True),))


def test_output_follows_the_amplitude_dtype():
    y = fm_synthesis(torch.full((1, 10, 2), 100.0, dtype=torch.float64), torch.ones(1, 10, 2), torch.zeros(2, 2), 16000)
    assert y.dtype == torch.float32
