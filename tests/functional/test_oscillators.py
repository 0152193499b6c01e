import math

import numpy as np
import pytest
import torch
from references import harmonic_reference
from references import to_numpy

import torchddsp.functional.engine as kernel_engine
import torchddsp.functional.oscillators as oscillators
from torchddsp.functional import harmonic_synthesis
from torchddsp.functional import normalize_harmonics
from torchddsp.functional import oscillator_bank

SR = 16000


def oscillator_bank_reference(frequencies, amplitudes, sample_rate, phase0=0.0):
    phase = phase0 + 2 * np.pi * np.cumsum(frequencies, axis=0) / sample_rate
    audible = np.abs(frequencies) < sample_rate / 2
    return (amplitudes * audible * np.sin(phase)).sum(-1)


def test_oscillator_bank_matches_numpy_reference(rng):
    frequencies = rng.uniform(20, 7000, (2, 3000, 5))
    amplitudes = rng.uniform(0, 1, (2, 3000, 5))
    phase0 = rng.uniform(0, 2 * np.pi, (2, 5))
    y = oscillator_bank(
        torch.tensor(frequencies, dtype=torch.float32),
        torch.tensor(amplitudes, dtype=torch.float32),
        SR,
        state=torch.tensor(phase0),
    )
    for b in range(2):
        f32 = frequencies[b].astype(np.float32).astype(np.float64)
        a32 = amplitudes[b].astype(np.float32).astype(np.float64)
        expected = oscillator_bank_reference(f32, a32, SR, phase0[b])
        np.testing.assert_allclose(to_numpy(y[b]), expected, atol=2e-5)


def test_oscillator_bank_is_silent_at_and_above_nyquist():
    frequencies = torch.tensor([[[8000.0, 9000.0, 15999.0, 7999.0]]]).expand(1, 400, 4)
    amplitudes = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]]).expand(1, 400, 4)
    assert oscillator_bank(frequencies, amplitudes, SR).abs().max().item() == 0.0


def test_oscillator_bank_stream_in_chunks_equals_one_call(rng):
    frequencies = torch.tensor(rng.uniform(50, 5000, (2, 1000, 3)))
    amplitudes = torch.tensor(rng.uniform(0, 1, (2, 1000, 3)))
    offline = oscillator_bank(frequencies, amplitudes, SR)
    phase, pieces = None, []
    for start in range(0, 1000, 250):
        piece, phase = oscillator_bank(
            frequencies[:, start : start + 250], amplitudes[:, start : start + 250], SR, state=phase, return_state=True
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), offline.numpy(), atol=1e-12)


@pytest.fixture(params=["numba", "torch-global", "torch-local"])
def engine(request, monkeypatch):
    """The ``backend`` of harmonic_synthesis for a test: the compiled pass, or the PyTorch path
    with each of its ways of silencing harmonics above Nyquist (see _harmonic_sum)."""
    backend, _, nyquist_mode = request.param.partition("-")
    monkeypatch.setattr(oscillators, "_LOCAL_PASS_COST", 10**9 if nyquist_mode == "global" else 0)
    return backend


@pytest.mark.parametrize("method", ["window", "linear"])
def test_harmonic_synthesis_matches_numpy_reference(rng, method, engine):
    n_frames, hop, n_harmonics = 40, 32, 24
    # f0 sweeps widely, so some harmonics cross Nyquist within the signal (the masked path).
    f0 = np.exp(rng.uniform(np.log(80), np.log(2500), (2, n_frames, 1)))
    amplitudes = rng.uniform(0, 1, (2, n_frames, 1))
    distribution = rng.uniform(0, 1, (2, n_frames, n_harmonics)) / n_harmonics
    tensors = [torch.tensor(v, dtype=torch.float64) for v in (f0, amplitudes, distribution)]
    y = harmonic_synthesis(*tensors, n_frames * hop, SR, amplitude_upsampling=method, backend=engine)
    for b in range(2):
        expected = harmonic_reference(f0[b], amplitudes[b], distribution[b], n_frames * hop, SR, method)
        np.testing.assert_allclose(y[b].numpy(), expected, atol=1e-9)


def test_smooth_sweep_across_many_nyquist_crossings(engine):
    # A glide from 90 Hz to 1.6 kHz with 60 harmonics: at each hop one or two harmonics cross
    # Nyquist, while over the whole signal almost all of them do.
    n_frames, hop = 50, 64
    f0 = np.geomspace(90, 1600, n_frames)[None, :, None]
    amplitudes = np.full((1, n_frames, 1), 0.5)
    distribution = np.random.default_rng(3).uniform(0, 1, (1, n_frames, 60)) / 30
    y = harmonic_synthesis(
        *(torch.tensor(v) for v in (f0, amplitudes, distribution)), n_frames * hop, SR, backend=engine
    )
    expected = harmonic_reference(f0[0], amplitudes[0], distribution[0], n_frames * hop, SR)
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-9)
    y32 = harmonic_synthesis(
        *(torch.tensor(v, dtype=torch.float32) for v in (f0, amplitudes, distribution)),
        n_frames * hop,
        SR,
        backend=engine,
    )
    np.testing.assert_allclose(to_numpy(y32[0]), expected, atol=1e-4)


def test_harmonic_gradients_on_every_engine(engine):
    generator = torch.Generator().manual_seed(0)
    # Values chosen so that no sample sits exactly on a Nyquist crossing (a true discontinuity).
    f0 = torch.tensor([[[1511.3], [1733.7], [2093.9], [2311.1]]], dtype=torch.float64, requires_grad=True)
    amplitudes = torch.rand(1, 4, 1, dtype=torch.float64, generator=generator).requires_grad_()
    distribution = torch.rand(1, 4, 8, dtype=torch.float64, generator=generator).requires_grad_()
    phase = torch.rand(1, 1, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda *x: harmonic_synthesis(*x[:3], 32, SR, state=x[3], backend=engine),
        (f0, amplitudes, distribution, phase),
        atol=1e-6,
    )


def _render_with_gradients(backend, dtype, f0, amplitudes, distribution, weights):
    inputs = [t.to(dtype).requires_grad_() for t in (f0, amplitudes, distribution)]
    y = harmonic_synthesis(*inputs, 50 * 64, SR, backend=backend)
    return [t.detach().double() for t in (y, *torch.autograd.grad((y * weights.to(dtype)).sum(), inputs))]


@pytest.mark.parametrize("threads", ["one", "all"])
def test_compiled_pass_equals_the_pytorch_path(threads, monkeypatch):
    # Random f0 per frame, with harmonics crossing Nyquist, and every input requiring grad;
    # "all" forces numba's threads on a small call. The reference is the PyTorch engine in
    # float64 in both of its Nyquist modes. The two engines build the phase differently
    # (a float64 rotation per sample vs a float64 closed form), which is all that separates
    # them in float64; in float32 both must stay as close to the float64 result as the
    # PyTorch engine's own float32 does (its float32 phase costs it the most).
    monkeypatch.setattr(kernel_engine, "PARALLEL_MIN_WORK", 10**15 if threads == "one" else 0)
    monkeypatch.setattr(kernel_engine, "idle_cores", lambda: 1)  # "all": helpers even on a busy machine
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    generator = torch.Generator().manual_seed(5)
    f0 = 60.0 * 40.0 ** torch.rand(3, 50, 1, generator=generator, dtype=torch.float64)
    amplitudes = torch.rand(3, 50, 1, generator=generator, dtype=torch.float64)
    distribution = torch.rand(3, 50, 40, generator=generator, dtype=torch.float64)
    weights = torch.randn(3, 50 * 64, generator=generator, dtype=torch.float64)
    controls = (f0, amplitudes, distribution, weights)
    compiled64 = _render_with_gradients("numba", torch.float64, *controls)
    compiled32 = _render_with_gradients("numba", torch.float32, *controls)
    for local_cost in (10**9, 0):  # the "global" and the "local" Nyquist mode
        monkeypatch.setattr(oscillators, "_LOCAL_PASS_COST", local_cost)
        reference = _render_with_gradients("torch", torch.float64, *controls)
        torch32 = _render_with_gradients("torch", torch.float32, *controls)
        for name, ours64, ours32, theirs32, exact in zip(
            ("audio", "f0", "amplitudes", "distribution"), compiled64, compiled32, torch32, reference
        ):
            scale = float(exact.abs().max())
            assert float((ours64 - exact).abs().max()) < 1e-9 * scale, name
            error_32 = float((ours32 - exact).abs().max())
            assert error_32 < max(2e-4 * scale, float((theirs32 - exact).abs().max())), name


def _fixed_tone(seconds: float):
    """f0 = 110 Hz, 60 harmonics with random fixed weights scaled to peak amplitude 1."""
    weights = np.random.default_rng(7).uniform(0, 1, 60)
    n_samples = int(seconds * SR)
    n_frames = n_samples // 64
    n = np.arange(1, n_samples + 1)
    reference = np.zeros(n_samples)
    for k, weight in enumerate(weights.astype(np.float32).astype(np.float64), start=1):
        reference += weight * np.sin(2 * np.pi * k * 110.0 * n / SR)
    scale = 1.0 / np.abs(reference).max()
    f0 = torch.full((1, n_frames, 1), 110.0)
    amplitudes = torch.full((1, n_frames, 1), float(scale))
    distribution = torch.tensor(weights, dtype=torch.float32).expand(1, n_frames, 60).contiguous()
    reference *= np.float64(np.float32(scale))
    return f0, amplitudes, distribution, n_samples, reference


@pytest.mark.parametrize("seconds", [4, pytest.param(60, marks=pytest.mark.slow)])
def test_harmonic_synthesis_stays_within_1e3_of_float64_reference(seconds):
    f0, amplitudes, distribution, n_samples, reference = _fixed_tone(seconds)
    y = harmonic_synthesis(f0, amplitudes, distribution, n_samples, SR)
    assert y.dtype == torch.float32
    error = np.abs(to_numpy(y[0]) - reference).max()
    assert error < 1e-3, f"max error {error:.2e} after {seconds} s"


@pytest.mark.parametrize("n_frames,f0", [(1, 110.0), (1, 7901.0), (16, 440.0)])
def test_long_hops_keep_the_phase_accurate(n_frames, f0):
    # Constant controls given as one frame (hop = n_samples) or a few long hops.
    n_samples, n_harmonics = 64000, 60
    weights = np.random.default_rng(1).uniform(0, 1, n_harmonics).astype(np.float32)
    distribution = torch.tensor(weights).expand(1, n_frames, n_harmonics).contiguous()
    f0_frames = torch.full((1, n_frames, 1), f0)
    y = harmonic_synthesis(f0_frames, torch.ones(1, n_frames, 1), distribution, n_samples, SR)
    n = np.arange(1, n_samples + 1)
    expected = np.zeros(n_samples)
    for k, weight in enumerate(weights.astype(np.float64), start=1):
        if k * f0 < SR / 2:
            expected += weight * np.sin(2 * np.pi * k * np.float64(np.float32(f0)) * n / SR)
    peak = np.abs(expected).max()
    assert np.abs(to_numpy(y[0]) - expected).max() / peak < 1e-3


def test_harmonics_at_or_above_nyquist_are_silent():
    n_frames, hop = 20, 64
    # f0 = 4000 Hz: harmonic 1 audible, harmonic 2 exactly at Nyquist, 3.. above.
    f0 = torch.full((1, n_frames, 1), 4000.0, dtype=torch.float64)
    ones = torch.ones(1, n_frames, 1, dtype=torch.float64)
    distribution = torch.ones(1, n_frames, 8, dtype=torch.float64)
    y = harmonic_synthesis(f0, ones, distribution, n_frames * hop, SR)
    only_first = harmonic_synthesis(f0, ones, distribution[..., :1], n_frames * hop, SR)
    np.testing.assert_allclose(y.numpy(), only_first.numpy(), atol=1e-12)
    # Everything above Nyquist: silence.
    silent = harmonic_synthesis(torch.full_like(f0, 9000.0), ones, distribution, n_frames * hop, SR)
    assert silent.abs().max().item() == 0.0


def test_harmonic_spectrum_has_no_energy_above_nyquist_partials(rng):
    # A fixed f0 of 1 kHz with 40 harmonics: harmonics 8 to 40 are above Nyquist and would
    # alias back into the band; only the bins of harmonics 1 to 7 may hold energy.
    n = 16000
    f0 = torch.full((1, 250, 1), 1000.0)
    y = harmonic_synthesis(f0, torch.ones(1, 250, 1), torch.ones(1, 250, 40), n, SR)
    spectrum = np.abs(np.fft.rfft(to_numpy(y[0]) * np.hanning(n)))
    bins = np.arange(len(spectrum)) * SR / n
    harmonic_bins = np.isclose(bins % 1000.0, 0.0, atol=3) | np.isclose(bins % 1000.0, 1000.0, atol=3)
    assert spectrum[~harmonic_bins].max() < 1e-3 * spectrum.max()
    assert spectrum[np.argmin(np.abs(bins - 7000))] > 0.1 * spectrum.max()  # harmonic 7 present


def test_harmonic_batch_equals_per_item(rng):
    f0 = torch.tensor(rng.uniform(100, 1500, (3, 10, 1)))
    amplitudes = torch.tensor(rng.uniform(0, 1, (3, 10, 1)))
    distribution = torch.tensor(rng.uniform(0, 1, (3, 10, 30)))
    phase = torch.tensor(rng.uniform(0, 6, (3, 1)))
    batched = harmonic_synthesis(f0, amplitudes, distribution, 640, SR, state=phase)
    for b in range(3):
        single = harmonic_synthesis(
            f0[b : b + 1], amplitudes[b : b + 1], distribution[b : b + 1], 640, SR, state=phase[b : b + 1]
        )
        np.testing.assert_allclose(batched[b].numpy(), single[0].numpy(), atol=1e-12)


def test_harmonic_state_follows_ddsp_convention(rng):
    f0 = torch.full((1, 4, 1), 300.0, dtype=torch.float64)
    y = harmonic_synthesis(
        f0,
        torch.ones_like(f0),
        torch.ones(1, 4, 1, dtype=torch.float64),
        256,
        SR,
        state=torch.tensor([[0.5]], dtype=torch.float64),
    )
    n = np.arange(1, 257)
    np.testing.assert_allclose(y[0].numpy(), np.sin(0.5 + 2 * np.pi * 300 * n / SR), atol=1e-12)


@pytest.mark.parametrize("method", ["window", "linear"])
def test_harmonic_stream_in_blocks_equals_one_call(rng, method):
    n_frames, hop, block = 24, 32, 6
    f0 = torch.tensor(rng.uniform(100, 3000, (2, n_frames, 1)), dtype=torch.float32)
    amplitudes = torch.tensor(rng.uniform(0, 1, (2, n_frames, 1)), dtype=torch.float32)
    distribution = torch.tensor(rng.uniform(0, 1, (2, n_frames, 16)), dtype=torch.float32)
    offline = harmonic_synthesis(f0, amplitudes, distribution, n_frames * hop, SR, amplitude_upsampling=method)
    phase, pieces = None, []
    for start in range(0, n_frames, block):
        stop = start + block

        def take(
            x, start=start, stop=stop
        ):  # this block's frames plus the next block's first (one frame of look-ahead)
            return x[:, start : stop + 1] if stop < n_frames else torch.cat([x[:, start:], x[:, -1:]], 1)

        piece, phase = harmonic_synthesis(
            take(f0),
            take(amplitudes),
            take(distribution),
            block * hop,
            SR,
            state=phase,
            return_state=True,
            amplitude_upsampling=method,
            add_endpoint=False,
        )
        pieces.append(piece)
    np.testing.assert_allclose(torch.cat(pieces, 1).numpy(), offline.numpy(), atol=2e-5)


def test_harmonic_final_phase_continues_the_fundamental():
    f0 = torch.full((1, 10, 1), 441.0, dtype=torch.float64)
    _, phase = harmonic_synthesis(
        f0, torch.ones_like(f0), torch.ones(1, 10, 1, dtype=torch.float64), 640, SR, return_state=True
    )
    assert phase.dtype == torch.float64 and phase.shape == (1, 1)
    assert phase.item() == pytest.approx((2 * math.pi * 441.0 * 640 / SR) % (2 * math.pi), abs=1e-9)


def test_harmonic_keeps_float64_and_per_sample_controls():
    # n_frames == n_samples: controls at audio rate (hop 1) also work.
    f0 = torch.full((1, 50, 1), 1000.0, dtype=torch.float64)
    y = harmonic_synthesis(f0, torch.ones_like(f0), torch.ones(1, 50, 1, dtype=torch.float64), 50, SR)
    assert y.dtype == torch.float64
    np.testing.assert_allclose(y[0].numpy(), np.sin(2 * np.pi * 1000 * np.arange(1, 51) / SR), atol=1e-12)


def test_normalize_harmonics_below_nyquist():
    distribution = torch.ones(1, 2, 6)
    f0 = torch.tensor([[[1000.0], [3000.0]]])
    normalized = normalize_harmonics(distribution, f0, SR)
    np.testing.assert_allclose(normalized.sum(-1).numpy(), 1.0, rtol=1e-6)
    # 3000 Hz: harmonics 1 and 2 are audible (3 * 3000 >= 8000).
    np.testing.assert_allclose(normalized[0, 1].numpy(), [0.5, 0.5, 0, 0, 0, 0])
    silent = normalize_harmonics(torch.zeros(1, 1, 3, requires_grad=True))
    silent.sum().backward()
    assert silent.abs().sum().item() == 0.0
