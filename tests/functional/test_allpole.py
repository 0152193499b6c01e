"""``allpole_filter``: against scipy and a plain per-sample loop in float64, the compiled and
PyTorch paths against each other, chunked filtering, and first and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from torchddsp.functional import allpole_filter
from torchddsp.functional.allpole import allpole_kernel_available

BACKENDS = ["torch"] + (["numba"] if allpole_kernel_available() else [])


def stable_denominator(order: int, radius: float = 0.999) -> np.ndarray:
    """``[1, a1, ..., a_order]`` with every pole at ``radius`` (conjugate pairs, one real pole
    when the order is odd)."""
    angles = np.linspace(0.2, 2.8, order // 2)
    poles = np.concatenate([radius * np.exp(1j * angles), radius * np.exp(-1j * angles)])
    if order % 2:
        poles = np.append(poles, -radius)
    return np.real(np.poly(poles))


def loop_reference(x: np.ndarray, a: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """The definition, one sample at a time: y[n] = x[n] - sum_k a[n, k-1] y[n-k]."""
    batch, n_samples = x.shape
    order = a.shape[2]
    y = np.zeros((batch, n_samples))
    for b in range(batch):
        past = list(zi[b])  # most recent first
        for n in range(n_samples):
            value = x[b, n] - sum(a[b, n, k] * past[k] for k in range(order))
            y[b, n] = value
            past = [value] + past[:-1]
    return y


@pytest.mark.parametrize("order", range(1, 9))
def test_matches_scipy_lfilter_with_poles_at_radius_0999(order):
    denominator = stable_denominator(order)
    x = np.random.default_rng(order).standard_normal((2, 64000))
    expected = scipy.signal.lfilter([1.0], denominator, x, axis=-1)
    result = allpole_filter(torch.from_numpy(x), torch.from_numpy(denominator[1:])[None]).numpy()
    assert np.abs(result - expected).max() <= 1e-10 * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_varying_matches_a_per_sample_loop(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 500))
    # Slowly moving stable resonators: a = [-2 r cos(w), r^2] with r and w drifting.
    n = np.arange(500)
    radius = 0.95 + 0.04 * np.sin(2 * np.pi * n / 500)[None, :] * np.array([[1.0], [0.5], [-1.0]])
    angle = 0.3 + 0.2 * np.cos(2 * np.pi * n / 250)[None, :]
    a = np.stack([-2 * radius * np.cos(angle), radius**2], axis=2)
    zi = rng.standard_normal((3, 2))
    expected = loop_reference(x, a, zi)
    result = allpole_filter(
        torch.from_numpy(x), torch.from_numpy(a), state=torch.from_numpy(zi), backend=backend
    ).numpy()
    assert np.abs(result - expected).max() < 1e-10


def test_compiled_and_pytorch_paths_agree():
    if not allpole_kernel_available():
        pytest.skip("numba is not installed")
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3000, generator=generator)
    a = 0.2 * torch.randn(4, 3000, 4, generator=generator)
    zi = torch.randn(4, 4, generator=generator)
    fast = allpole_filter(x, a, state=zi, backend="numba")
    slow = allpole_filter(x, a, state=zi, backend="torch")
    assert fast.dtype == slow.dtype == torch.float32
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_filtering_with_carried_state_equals_one_call(backend):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1000, generator=generator, dtype=torch.float64)
    a = torch.from_numpy(stable_denominator(4)[1:])[None].expand(1000, -1)[None].clone()
    whole, whole_state = allpole_filter(x, a, return_state=True, backend=backend)
    state, pieces = None, []
    for start, stop in [(0, 1), (1, 3), (3, 400), (400, 1000)]:
        piece, state = allpole_filter(
            x[:, start:stop], a[:, start:stop], state=state, return_state=True, backend=backend
        )
        pieces.append(piece)
    torch.testing.assert_close(torch.cat(pieces, 1), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(state, whole_state)
    torch.testing.assert_close(whole_state, whole[:, -4:].flip(1))


def test_fixed_and_broadcast_coefficients_equal_explicit_ones():
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, 200, generator=generator, dtype=torch.float64)
    fixed = torch.tensor([[-1.2, 0.72]], dtype=torch.float64)
    explicit = fixed[:, None, :].expand(3, 200, 2)
    torch.testing.assert_close(allpole_filter(x, fixed), allpole_filter(x, explicit))
    per_item = torch.cat([allpole_filter(x[i : i + 1], explicit[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(allpole_filter(x, explicit), per_item)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("a_shape", [(2, 9, 3), (1, 3), (2, 3)], ids=["per_sample", "fixed_shared", "fixed_per_item"])
def test_first_and_second_derivatives(backend, a_shape):
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 9, generator=generator, dtype=torch.float64, requires_grad=True)
    a = (0.3 * torch.randn(*a_shape, generator=generator, dtype=torch.float64)).requires_grad_()
    zi = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)

    def f(x, a, zi):
        return allpole_filter(x, a, state=zi, backend=backend)

    assert torch.autograd.gradcheck(f, (x, a, zi))
    assert torch.autograd.gradgradcheck(f, (x, a, zi))


def test_gradients_are_finite_on_silence_and_inputs_are_untouched():
    x = torch.zeros(1, 64, requires_grad=True)
    a = torch.tensor([[-1.8, 0.81]]).requires_grad_()
    before = a.detach().clone()
    allpole_filter(x, a).pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(a.grad).all()
    assert torch.equal(a.detach(), before)


def test_gradient_matches_a_long_signal_finite_difference():
    # One coefficient of a long, sharply resonant filter: the adjoint runs over 20000 samples.
    x = torch.from_numpy(np.random.default_rng(6).standard_normal((1, 20000)))
    a = torch.tensor([[-1.9 * np.cos(0.3), 0.95]], dtype=torch.float64, requires_grad=True)
    loss = allpole_filter(x, a).pow(2).mean()
    (grad,) = torch.autograd.grad(loss, a)
    step = 1e-6
    for k in range(2):
        shift = torch.zeros_like(a)
        shift[0, k] = step
        numeric = (
            allpole_filter(x, a.detach() + shift).pow(2).mean() - allpole_filter(x, a.detach() - shift).pow(2).mean()
        ) / (2 * step)
        assert float(grad[0, k]) == pytest.approx(float(numeric), rel=1e-5)


def _agreement_inputs(order, lead, a_shape, seed):
    """float64 inputs of a stable-ish filter: small feedback, a0 in [1, 2] (lead) per sample."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 40, generator=generator, dtype=torch.float64)
    a = 0.3 / order * torch.randn(*a_shape, lead + order, generator=generator, dtype=torch.float64)
    if lead:
        a[..., 0] = 1 + torch.rand(*a_shape, generator=generator, dtype=torch.float64)
    zi = torch.randn(3, order, generator=generator, dtype=torch.float64)
    return x, a, zi


@pytest.mark.skipif(not allpole_kernel_available(), reason="numba is not installed")
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("lead", [0, 1])
@pytest.mark.parametrize(
    "a_shape", [(3, 40), (1, 40), (3, 1), (1, 1)], ids=["sample", "sample_shared", "item", "fixed"]
)
@pytest.mark.parametrize("engine", ["numba", "scan"])
def test_engines_equal_the_loop_forward_and_gradients(order, lead, a_shape, engine):
    # The compiled kernels (order 2: two items per pass, registers; fused one-pass adjoint) and
    # the parallel scan against the readable PyTorch loop, outputs and all three gradients.
    from torchddsp.functional.engine.recurrence import allpole

    x, a, zi = _agreement_inputs(order, lead, a_shape, seed=10 * order + lead)
    weights = torch.randn(3, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    results = []
    for name in ("loop", engine):
        inputs = [t.clone().requires_grad_() for t in (x, a, zi)]
        y = allpole(*inputs, lead, name)
        (y * weights).sum().backward()
        results.append([y.detach()] + [t.grad for t in inputs])
    for reference, result in zip(*results):
        torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_coefficients_and_leading_dimensions(backend):
    # scipy's layouts: x with any leading dimensions, a (order,); the state follows x's leading
    # dimensions, in and out.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 300))
    denominator = stable_denominator(3, radius=0.9)
    zi = rng.standard_normal((2, 3, 3))
    y, state = allpole_filter(
        torch.from_numpy(x),
        torch.from_numpy(denominator[1:]),
        state=torch.from_numpy(zi),
        return_state=True,
        backend=backend,
    )
    expected = loop_reference(x.reshape(6, 300), np.broadcast_to(denominator[1:], (6, 300, 3)), zi.reshape(6, 3))
    assert y.shape == (2, 3, 300) and state.shape == (2, 3, 3)
    np.testing.assert_allclose(y.numpy(), expected.reshape(2, 3, 300), atol=1e-10)
    np.testing.assert_allclose(state.numpy(), expected[:, ::-1][:, :3].reshape(2, 3, 3), atol=1e-10)
    single = allpole_filter(torch.from_numpy(x[0, 0]), torch.from_numpy(denominator[1:]), backend=backend)
    np.testing.assert_allclose(single.numpy(), scipy.signal.lfilter([1.0], denominator, x[0, 0]), atol=1e-10)


def test_frame_rate_coefficients_are_stated_not_guessed():
    from torchddsp.functional import Control
    from torchddsp.functional import upsample

    x = torch.randn(2, 100, dtype=torch.float64)
    frames = 0.2 * torch.randn(2, 5, 2, dtype=torch.float64)
    per_sample = upsample(frames, 100, "linear")
    torch.testing.assert_close(allpole_filter(x, Control.per_frame(frames)), allpole_filter(x, per_sample))
    with pytest.raises(ValueError, match=r"a must have 100 time steps .*Control.per_frame"):
        allpole_filter(x, frames)
