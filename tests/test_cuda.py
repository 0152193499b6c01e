"""The GPU paths (run only where a CUDA device is present): the parallel scans of the
recursive filters, the PyTorch paths of the oscillators and the modular voices, each against
the CPU result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchddsp as td
from torchddsp.functional import allpole_filter
from torchddsp.functional import bandlimited_oscillator
from torchddsp.functional import biquad
from torchddsp.functional import lfilter
from torchddsp.functional import linear_recurrence
from torchddsp.functional import phaser
from torchddsp.functional import sosfilt
from torchddsp.functional import state_variable_filter
from torchddsp.modular import RenderContext
from torchddsp.modular import make_voice

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = "cuda"


def close(cpu: torch.Tensor, gpu: torch.Tensor, atol: float) -> None:
    np.testing.assert_allclose(gpu.detach().cpu().numpy(), cpu.detach().numpy(), atol=atol)


def test_recursions_on_the_gpu_equal_the_cpu(rng):
    x = torch.from_numpy(rng.standard_normal((3, 20000)))
    angle = torch.linspace(0.1, 0.4, 20000, dtype=torch.float64)
    a = torch.stack([-1.98 * torch.cos(angle), torch.full_like(angle, 0.98**2)], -1).expand(3, -1, -1)
    close(allpole_filter(x, a), allpole_filter(x.to(CUDA), a.to(CUDA)), 1e-9)
    b = torch.tensor([[0.2, 0.3, 0.1]], dtype=torch.float64)
    den = torch.tensor([[1.0, -1.5, 0.7]], dtype=torch.float64)
    close(lfilter(x, b, den), lfilter(x.to(CUDA), b.to(CUDA), den.to(CUDA)), 1e-9)
    sos = biquad(
        "lowpass",
        torch.tensor([500.0, 2000.0], dtype=torch.float64),
        torch.tensor([0.7, 4.0], dtype=torch.float64),
        16000.0,
    )[None]
    close(sosfilt(x, sos), sosfilt(x.to(CUDA), sos.to(CUDA)), 1e-9)
    cutoff = torch.linspace(100.0, 6000.0, 20000, dtype=torch.float64).expand(3, -1)
    close(
        state_variable_filter(x, cutoff, 5.0, 16000.0),
        state_variable_filter(x.to(CUDA), cutoff.to(CUDA), 5.0, 16000.0),
        1e-8,
    )
    close(phaser(x, cutoff, 6, 0.5), phaser(x.to(CUDA), cutoff.to(CUDA), 6, 0.5), 1e-8)
    u, A = torch.randn(2, 5000, 3, dtype=torch.float64), 0.5 * torch.randn(2, 5000, 3, 3, dtype=torch.float64) / 3
    close(linear_recurrence(u, A), linear_recurrence(u.to(CUDA), A.to(CUDA)), 1e-9)


def test_effects_on_the_gpu_equal_the_cpu(rng):
    audio = torch.from_numpy(rng.uniform(-1, 1, (2, 8000))).float()
    for effect in (
        td.Compressor(16000, threshold_db=-12.0),
        td.ParametricEQ(16000, n_peaks=2),
        td.Waveshaper("tanh", oversampling=4, drive_db=12.0, trainable=True),
        td.Phaser(16000, n_stages=4),
        td.FDNReverb(16000, rt60_s=0.3, reverb_length=4000),
    ):
        close(effect(audio), effect.to(CUDA)(audio.to(CUDA)), 1e-4)


def test_oscillators_and_voices_on_the_gpu_equal_the_cpu():
    f = 100 + 3000 * torch.rand(2, 50, 2, generator=torch.Generator().manual_seed(0))
    a = torch.rand(2, 50, 2, generator=torch.Generator().manual_seed(1))
    close(
        bandlimited_oscillator(f, a, 5000, 16000.0, ("square", "saw")),
        bandlimited_oscillator(f.to(CUDA), a.to(CUDA), 5000, 16000.0, ("square", "saw")),
        1e-4,
    )
    context = RenderContext(16000.0, 0.5, 400.0)
    for name in ("default", "rich"):
        voice = make_voice(name, context)
        cpu = voice.render_batch(0, 4, seed=2)["audio"]
        gpu = voice.to(CUDA).render_batch(0, 4, seed=2, device=CUDA)["audio"]
        close(cpu, gpu, 1e-4)
