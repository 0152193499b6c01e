"""``linear_recurrence``: the three engines (numba kernel, parallel scan, PyTorch loop) against
a plain float64 loop and each other, fixed and per-sample matrices, chunking with carried
state, and first and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchddsp.functional.engine.recurrence import state_space
from torchddsp.functional.recurrence import linear_recurrence

BACKENDS = ["numba", "torch"]


def loop_reference(u: np.ndarray, A: np.ndarray, s0: np.ndarray) -> np.ndarray:
    """The definition: s[n] = A[n] s[n-1] + u[n], one sample at a time."""
    batch, n_samples, _ = u.shape
    states = np.zeros_like(u)
    for b in range(batch):
        previous = s0[b]
        for n in range(n_samples):
            matrix = A[b if A.shape[0] > 1 else 0, n if A.shape[1] > 1 else 0]
            previous = matrix @ previous + u[b, n]
            states[b, n] = previous
    return states


def random_contractions(rng, shape, size):
    """Matrices of spectral norm 0.98 (stable whatever their order in time)."""
    matrices = rng.standard_normal(shape + (size, size))
    norms = np.linalg.norm(matrices, ord=2, axis=(-2, -1), keepdims=True)
    return 0.98 * matrices / norms


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("fixed", [False, True])
def test_matches_a_per_sample_loop(backend, size, fixed, rng):
    u = rng.standard_normal((3, 700, size))
    A = random_contractions(rng, (1, 1) if fixed else (3, 700), size)
    s0 = rng.standard_normal((3, size))
    expected = loop_reference(u, A, s0)
    matrices = torch.from_numpy(A[:, 0] if fixed else A)
    result = linear_recurrence(torch.from_numpy(u), matrices, state=torch.from_numpy(s0), backend=backend).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-10 * np.abs(expected).max())


def test_engines_agree_on_a_long_float32_signal(rng):
    u = torch.from_numpy(rng.standard_normal((2, 64000, 2))).float()
    # A slowly rotating, decaying 2-D state (a resonator at radius 0.999).
    angle = torch.linspace(0.1, 0.3, 64000)
    rotation = torch.stack(
        [torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2
    )
    A = (0.999 * rotation).expand(2, -1, -1, -1)
    reference = linear_recurrence(u.double(), A.double(), backend="numba")
    for engine in ("numba", "scan"):
        result = state_space(u, A, u.new_zeros(2, 2), engine)
        assert result.dtype == torch.float32
        assert float((result.double() - reference).abs().max()) <= 1e-4 * float(reference.abs().max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_with_carried_state_equals_one_call(backend, rng):
    u = torch.from_numpy(rng.standard_normal((2, 300, 3)))
    A = torch.from_numpy(random_contractions(rng, (2, 300), 3))
    whole = linear_recurrence(u, A, backend=backend)
    state, pieces = None, []
    for start, stop in ((0, 1), (1, 120), (120, 120), (120, 121), (121, 300)):
        piece, state = linear_recurrence(
            u[:, start:stop], A[:, start:stop], state=state, return_state=True, backend=backend
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), whole.numpy(), atol=1e-12)
    np.testing.assert_allclose(state.numpy(), whole[:, -1].numpy(), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fixed", [False, True])
def test_first_and_second_derivatives(backend, fixed):
    generator = torch.Generator().manual_seed(3)
    u = torch.randn(2, 7, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    shape = (1, 2, 2) if fixed else (2, 7, 2, 2)
    A = (0.4 * torch.randn(*shape, dtype=torch.float64, generator=generator)).requires_grad_()
    s0 = torch.randn(2, 2, dtype=torch.float64, generator=generator, requires_grad=True)

    def fn(u, A, s0):
        return linear_recurrence(u, A, state=s0, backend=backend)

    assert torch.autograd.gradcheck(fn, (u, A, s0))
    assert torch.autograd.gradgradcheck(fn, (u, A, s0))


def test_inputs_are_not_modified_and_batch_equals_per_item(rng):
    u = torch.from_numpy(rng.standard_normal((3, 50, 2)))
    A = torch.from_numpy(random_contractions(rng, (3, 50), 2))
    u_copy, A_copy = u.clone(), A.clone()
    for backend in BACKENDS:
        batched = linear_recurrence(u, A, backend=backend)
        single = torch.cat([linear_recurrence(u[i : i + 1], A[i : i + 1], backend=backend) for i in range(3)])
        np.testing.assert_allclose(batched.numpy(), single.numpy(), atol=1e-13)
    assert torch.equal(u, u_copy) and torch.equal(A, A_copy)


@pytest.mark.parametrize("n_samples,block", [(1, None), (7, 3), (100, 7), (101, 10), (64, 64), (50, 1)])
@pytest.mark.parametrize("fixed", [False, True])
def test_blocked_scan_any_length_and_block(n_samples, block, fixed, rng):
    from torchddsp.functional.engine.scan import scan

    u = torch.from_numpy(rng.standard_normal((2, n_samples, 3)))
    A = torch.from_numpy(random_contractions(rng, (2, 1 if fixed else n_samples), 3))
    s0 = torch.from_numpy(rng.standard_normal((2, 3)))
    expected = loop_reference(u.numpy(), A.numpy(), s0.numpy())
    np.testing.assert_allclose(scan(u, A, s0, block).numpy(), expected, atol=1e-12)
