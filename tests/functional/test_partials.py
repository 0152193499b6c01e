"""harmonic_synthesis with per-harmonic shifts and inharmonicity (functional/partials.py).

References are float64 numpy: per-sample frequency of partial k, its phase the running sum,
one sine per partial, silent at or above Nyquist.
"""

import numpy as np
import pytest
import torch
from references import hann_overlap_add_upsample
from references import linear_upsample
from references import to_numpy

from torchddsp.functional import harmonic_synthesis
from torchddsp.functional.partials import partial_frequencies
from torchddsp.validation import InputError

SR = 16000


def partials_reference(f0, amplitudes, distribution, shifts, stiffness, n_samples, method="linear", phase0=None):
    """Numpy float64: frame-rate f_k = k f0 (1 + s_k) sqrt(1 + B k^2), upsampled linearly."""
    k = np.arange(1, distribution.shape[-1] + 1)
    frequencies = k * f0 * (1.0 + shifts) * np.sqrt(1.0 + stiffness * k**2)  # (n_frames, K)
    f = linear_upsample(frequencies, n_samples)
    upsample = linear_upsample if method == "linear" else hann_overlap_add_upsample
    a = upsample(amplitudes * distribution, n_samples)
    phase = (0.0 if phase0 is None else phase0) + 2 * np.pi * np.cumsum(f, axis=0) / SR
    return (a * (np.abs(f) < SR / 2) * np.sin(phase)).sum(-1)


def one_partial(k, n_harmonics=8, n_frames=4, batch=1):
    distribution = torch.zeros(batch, n_frames, n_harmonics, dtype=torch.float64)
    distribution[..., k - 1] = 1.0
    return distribution


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_a_single_stretched_partial_is_a_sine_at_k_f0_sqrt_1_plus_b_k2(backend):
    # Bug caught: B applied as sqrt(1 + B k) (or to f0 only) detunes partial k.
    f0, k, stiffness, n = 110.0, 6, 2e-3, 1600
    f0_hz = torch.full((1, 4, 1), f0, dtype=torch.float64)
    amplitudes = torch.full((1, 4, 1), 0.5, dtype=torch.float64)
    y = harmonic_synthesis(
        f0_hz,
        amplitudes,
        one_partial(k),
        n,
        SR,
        inharmonicity=torch.tensor([[stiffness]], dtype=torch.float64),
        backend=backend,
    )
    t = np.arange(1, n + 1) / SR  # DDSP's phase: the first sample has advanced one step
    expected = 0.5 * np.sin(2 * np.pi * k * f0 * np.sqrt(1 + stiffness * k**2) * t)
    np.testing.assert_allclose(to_numpy(y[0]), expected, atol=1e-10)


def test_a_shift_moves_only_its_partial_by_the_factor_one_plus_shift():
    # Bug caught: the shift added to f0 (f0 + s) or to k (k + s) rather than multiplying k f0.
    f0, n = 200.0, 1600
    distribution = torch.zeros(1, 4, 3, dtype=torch.float64)
    distribution[..., 0], distribution[..., 2] = 0.3, 1.0
    shifts = torch.zeros(1, 4, 3, dtype=torch.float64)
    shifts[..., 2] = 0.05
    f0_hz = torch.full((1, 4, 1), f0, dtype=torch.float64)
    y = harmonic_synthesis(f0_hz, torch.ones_like(f0_hz), distribution, n, SR, harmonic_shifts=shifts)
    t = np.arange(1, n + 1) / SR
    expected = 0.3 * np.sin(2 * np.pi * f0 * t) + np.sin(2 * np.pi * 3 * f0 * 1.05 * t)
    np.testing.assert_allclose(to_numpy(y[0]), expected, atol=1e-10)


def test_the_nyquist_mask_follows_the_shifted_partials():
    # Bug caught: the mask computed from k f0 before the shift: partial 7 (7 kHz, shifted to
    # 8.4 kHz) would sound aliased and partial 9 (9 kHz, shifted to 7.2 kHz) would be muted.
    f0, n = 1000.0, 800
    distribution = torch.zeros(1, 2, 9, dtype=torch.float64)
    distribution[..., 6], distribution[..., 8] = 1.0, 0.5
    shifts = torch.zeros(1, 2, 9, dtype=torch.float64)
    shifts[..., 6], shifts[..., 8] = 0.2, -0.2
    f0_hz = torch.full((1, 2, 1), f0, dtype=torch.float64)
    y = harmonic_synthesis(f0_hz, torch.ones_like(f0_hz), distribution, n, SR, harmonic_shifts=shifts)
    t = np.arange(1, n + 1) / SR
    np.testing.assert_allclose(to_numpy(y[0]), 0.5 * np.sin(2 * np.pi * 7200.0 * t), atol=1e-10)


def test_a_stretched_partial_above_nyquist_is_silent():
    # Bug caught: the stretch left out of the mask: 7 * 1000 Hz is audible, stretched it is not.
    f0_hz = torch.full((1, 2, 1), 1000.0, dtype=torch.float64)
    y = harmonic_synthesis(f0_hz, torch.ones_like(f0_hz), one_partial(7, 8, 2), 800, SR, inharmonicity=0.01)
    assert y.abs().max().item() == 0.0


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("method", ["linear", "window"])
def test_moving_controls_match_the_float64_reference(rng, method, backend):
    # Bug caught: shifts or B upsampled or multiplied in the wrong order (per sample instead of
    # per frame), a frame offset, the amplitude envelope of the wrong partial.
    n_frames, n_harmonics, n = 6, 12, 1200
    f0 = rng.uniform(150, 400, (n_frames, 1))
    amplitudes, distribution = rng.uniform(0.2, 1, (n_frames, 1)), rng.uniform(0, 1, (n_frames, n_harmonics))
    shifts, stiffness = rng.uniform(-0.05, 0.05, (n_frames, n_harmonics)), rng.uniform(0, 1e-3, (n_frames, 1))
    tensors = [torch.tensor(v)[None] for v in (f0, amplitudes, distribution, shifts, stiffness)]
    y = harmonic_synthesis(
        *tensors[:3],
        n,
        SR,
        harmonic_shifts=tensors[3],
        inharmonicity=tensors[4],
        amplitude_upsampling=method,
        backend=backend,
    )
    expected = partials_reference(f0, amplitudes, distribution, shifts, stiffness, n, method)
    np.testing.assert_allclose(to_numpy(y[0]), expected, atol=1e-9)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_zero_shifts_and_zero_b_equal_the_harmonic_engines(rng, backend):
    # Bug caught: the oscillator-bank path drifting from the Clenshaw engines' conventions
    # (frame alignment, the first sample's phase step, the amplitude window).
    f0 = torch.tensor(rng.uniform(100, 900, (2, 5, 1)))
    amplitudes, distribution = torch.tensor(rng.uniform(0, 1, (2, 5, 1))), torch.tensor(rng.uniform(0, 1, (2, 5, 16)))
    plain = harmonic_synthesis(f0, amplitudes, distribution, 640, SR, backend=backend)
    moved = harmonic_synthesis(
        f0, amplitudes, distribution, 640, SR, harmonic_shifts=torch.zeros_like(distribution), inharmonicity=0.0
    )
    np.testing.assert_allclose(moved.numpy(), plain.numpy(), atol=1e-10)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_blocks_with_state_equal_one_call(rng, backend):
    # Bug caught: a state holding only the fundamental's phase (partials restart out of phase
    # at each block) or the last frame counted twice at a block boundary.
    n_frames, hop = 9, 64
    f0 = torch.tensor(rng.uniform(100, 600, (2, n_frames, 1)))
    amplitudes, distribution = (
        torch.ones(2, n_frames, 1, dtype=torch.float64),
        torch.tensor(rng.uniform(0, 1, (2, n_frames, 10))),
    )
    shifts, stiffness = torch.tensor(rng.uniform(-0.03, 0.03, (2, n_frames, 10))), torch.tensor([[1e-4], [3e-3]])
    controls = (f0, amplitudes, distribution, shifts)
    whole = harmonic_synthesis(
        *controls[:3], (n_frames - 1) * hop, SR, add_endpoint=False, harmonic_shifts=shifts, inharmonicity=stiffness,
        backend=backend,
    )  # fmt: skip
    pieces, state = [], None
    for first, last in ((0, 3), (3, 6), (6, 8)):
        block = [c[:, first : last + 1] for c in controls]
        piece, state = harmonic_synthesis(
            *block[:3],
            (last - first) * hop,
            SR,
            add_endpoint=False,
            harmonic_shifts=block[3],
            inharmonicity=stiffness,
            state=state,
            return_state=True,
            backend=backend,
        )
        pieces.append(piece)
    assert state.shape == (2, 10)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), whole.numpy(), atol=1e-9)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("per_frame", [False, True])
def test_gradcheck_in_float64(rng, per_frame, backend):
    # Bug caught: a gradient lost through the float64 frequency path, or a wrong derivative of
    # the stretch sqrt(1 + B k^2) w.r.t. B.
    n_frames, n_harmonics = 3, 4
    f0 = torch.tensor(rng.uniform(300, 500, (1, n_frames, 1)), requires_grad=True)
    amplitudes = torch.tensor(rng.uniform(0.5, 1, (1, n_frames, 1)), requires_grad=True)
    distribution = torch.tensor(rng.uniform(0, 1, (1, n_frames, n_harmonics)), requires_grad=True)
    shifts = torch.tensor(rng.uniform(-0.1, 0.1, (1, n_frames, n_harmonics)), requires_grad=True)
    shape = (1, n_frames, 1) if per_frame else (1, 1)
    stiffness = torch.tensor(rng.uniform(1e-3, 5e-3, shape), requires_grad=True)

    def render(f0, amplitudes, distribution, shifts, stiffness):
        return harmonic_synthesis(
            f0, amplitudes, distribution, 48, SR, harmonic_shifts=shifts, inharmonicity=stiffness, backend=backend
        )

    assert torch.autograd.gradcheck(render, (f0, amplitudes, distribution, shifts, stiffness))


def test_bad_options_raise_naming_the_argument():
    f0, distribution = torch.full((1, 2, 1), 100.0), torch.ones(1, 2, 4)
    with pytest.raises(InputError, match="inharmonicity"):
        harmonic_synthesis(f0, torch.ones_like(f0), distribution, 64, SR, inharmonicity=-1e-3)
    with pytest.raises(InputError, match="inharmonicity"):
        harmonic_synthesis(f0, torch.ones_like(f0), distribution, 64, SR, inharmonicity=torch.full((1, 1), -1.0))
    with pytest.raises(InputError, match="harmonic_shifts"):
        harmonic_synthesis(f0, torch.ones_like(f0), distribution, 64, SR, harmonic_shifts=torch.zeros(1, 2, 3))
    with pytest.raises(InputError, match="state"):
        harmonic_synthesis(f0, torch.ones_like(f0), distribution, 64, SR, inharmonicity=0.0, state=torch.zeros(1, 1))


def test_partial_frequencies_closed_form():
    f0 = torch.tensor([[[100.0], [200.0]]], dtype=torch.float64)
    shifts = torch.tensor([[[0.0, 0.1, -0.1]]], dtype=torch.float64)
    got = partial_frequencies(f0, 3, shifts, torch.tensor([[1e-2]], dtype=torch.float64))
    k = np.arange(1, 4)
    expected = np.array([[100.0], [200.0]]) * k * (1 + np.array([0.0, 0.1, -0.1])) * np.sqrt(1 + 1e-2 * k**2)
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_pass_equals_the_oscillator_bank_in_values_and_gradients(rng, dtype):
    # Bugs caught in the numba kernel: a wrong adjoint term (d/d f_a or d/d slope weights), the
    # interval's amplitude blend reversed, the Nyquist mask at the frame instead of the sample
    # (partials sweep across Nyquist here), the state's phase not carried into the intervals.
    n_frames, n_harmonics, n = 5, 24, 5 * 96
    leaves = [
        torch.tensor(rng.uniform(200, 700, (2, n_frames, 1)), dtype=dtype),
        torch.tensor(rng.uniform(0.2, 1, (2, n_frames, 1)), dtype=dtype),
        torch.tensor(rng.uniform(0, 1, (2, n_frames, n_harmonics)), dtype=dtype),
        torch.tensor(rng.uniform(-0.05, 0.05, (2, n_frames, n_harmonics)), dtype=dtype),
        torch.tensor(rng.uniform(0, 3e-3, (2, n_frames, 1)), dtype=dtype),
        torch.tensor(rng.uniform(0, 6, (2, n_harmonics)), dtype=torch.float64),
    ]
    weights = torch.tensor(rng.standard_normal((2, n)), dtype=dtype)
    results = {}
    for backend in ("numba", "torch"):
        inputs = [leaf.clone().requires_grad_(True) for leaf in leaves]
        y, phases = harmonic_synthesis(
            *inputs[:3], n, SR, harmonic_shifts=inputs[3], inharmonicity=inputs[4], state=inputs[5],
            return_state=True, backend=backend,
        )  # fmt: skip
        ((y * weights).sum() + phases.sum()).backward()
        results[backend] = [y.detach(), phases.detach()] + [leaf.grad for leaf in inputs]
    tolerance = 1e-9 if dtype == torch.float64 else 1e-6
    for got, want in zip(results["numba"], results["torch"]):
        scale = want.abs().max().item() or 1.0
        np.testing.assert_allclose(got.double().numpy() / scale, want.double().numpy() / scale, atol=tolerance)
