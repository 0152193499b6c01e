# %% [markdown]
# # 10. IIR in PyTorch
#
# **What this teaches.** The practical side of recursive filters in a training loop with
# `torchddsp`: which function to use (`lfilter`, `sosfilt`, `allpole_filter`,
# `state_variable_filter`), coefficients that change per sample or per frame (`Control`),
# the compiled and pure-PyTorch backends, filtering a stream in blocks with `state=` and
# `return_state=True`, parametrisations that keep a learned filter stable whatever the
# optimiser does (`resonator_coefficients`, `reflection_to_lpc`, `smooth_limit`), and finally
# learning a time-varying filter sweep from audio.
#
# **Prerequisites.** Chapters 8 and 9 (IIR filters, poles and stability, exact gradients
# through recursions); chapter 4 (spectral loss).

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.functional import Control
from torchddsp.functional import bandlimited_oscillator
from torchddsp.functional import biquad
from torchddsp.functional import lfilter
from torchddsp.functional import reflection_to_lpc
from torchddsp.functional import resonator_coefficients
from torchddsp.functional import smooth_limit
from torchddsp.functional import sosfilt
from torchddsp.functional import state_variable_filter
from torchddsp.functional import uniform_noise
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.plots import log_spectrogram

torch.manual_seed(0)
SAMPLE_RATE = 16000
noise = uniform_noise(2, SAMPLE_RATE, seed=0)  # a batch of two noise signals, one second each

# %% [markdown]
# ## Which function?
#
# | you have | use |
# |---|---|
# | `b`, `a` polynomials of any order (scipy's `lfilter` convention) | `lfilter` |
# | a cascade of second-order sections (robust at high order) | `sosfilt` |
# | feedback coefficients only (LPC, resonators) | `allpole_filter` |
# | a musical filter with cutoff and resonance that move fast | `state_variable_filter` |
# | a general linear state-space recursion | `linear_recurrence` |
#
# All take audio `(..., n_samples)` (leading dimensions are a batch), and coefficients that
# are fixed (`(n,)` or `(batch, n)`), per sample (`(batch, n_samples, n)`) or per frame
# (`Control.per_frame` of `(batch, n_frames, n)`, interpolated between frames). All are
# differentiable in the signal, the coefficients and the state, exactly (chapter 9).
#
# Per frame: a resonance gliding from 400 Hz to 2 kHz, given as 10 frames of coefficients.

# %%
n_frames = 10
glide_hz = torch.linspace(400.0, 2000.0, n_frames)
a_frames = torch.cat(
    [
        torch.ones(n_frames, 1),
        resonator_coefficients(torch.full((n_frames,), 0.995), 2 * math.pi * glide_hz / SAMPLE_RATE),
    ],
    1,
).reshape(1, n_frames, 3)
gliding = lfilter(noise, torch.tensor([0.02]), Control.per_frame(a_frames))
print("output:", tuple(gliding.shape))
display(Audio(gliding[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Backends
#
# On CPU, the recursions run in compiled (numba) kernels by default (`backend="auto"`);
# `backend="torch"` is the pure-PyTorch path (a loop over samples on CPU, a parallel scan on
# GPUs), useful where numba is unavailable. Both compute the same thing. Timings are
# indicative (shared machine).

# %%
sos = torch.cat(
    [biquad("lowpass", 1000.0, 0.7071, SAMPLE_RATE), biquad("peak", 3000.0, 2.0, SAMPLE_RATE, 6.0)]
).reshape(2, 6)
block = noise[:, :4000]
sosfilt(block[:, :10], sos)  # warm-up: load the compiled kernel
timings = {}
for backend in ("numba", "torch"):
    start = time.perf_counter()
    out = sosfilt(block, sos, backend=backend)
    timings[backend] = (time.perf_counter() - start, out)
print({name: f"{seconds * 1000:.1f} ms" for name, (seconds, _) in timings.items()})
print("same output:", torch.allclose(timings["numba"][1], timings["torch"][1], atol=1e-5))

# %% [markdown]
# ## Streaming: blocks with a state
#
# A real-time host hands audio over in blocks. Each filter returns its state (past inputs and
# outputs) with `return_state=True` and continues from it with `state=`, so blocks of any size
# give exactly the output of one call. There is no hidden buffer: the state is a tensor you
# pass, which keeps the functions pure (and `torch.compile`- and export-friendly).

# %%
state = None
blocks = []
for chunk in torch.split(noise, [1000, 1, 4999, 10000], dim=-1):
    filtered, state = sosfilt(chunk, sos, state=state, return_state=True)
    blocks.append(filtered)
print(
    "blocks == one call:",
    torch.allclose(torch.cat(blocks, -1), sosfilt(noise, sos), atol=1e-6),
    " state:",
    tuple(state.shape),
)

# %% [markdown]
# ## Stable by construction
#
# An optimiser moving raw `a` coefficients can push a pole outside the unit circle (chapter
# 8: the output explodes, and so does the loss). Instead, learn unconstrained numbers and map
# them to coefficients that are always stable:
#
# - a pole pair: `resonator_coefficients(sigmoid(u), angle)`, radius in (0, 1);
# - any order: `reflection_to_lpc(tanh(u))`: reflection coefficients in (-1, 1) always give a
#   polynomial with every root inside the unit circle (the lattice filter theory behind LPC);
# - a cutoff: `smooth_limit(x, low, high)` keeps it in range with a gradient that never dies.
#
# Random unconstrained numbers, order 12, mapped through `reflection_to_lpc`:

# %%
# Unconstrained values, as a network might produce. In float64: float32's tanh rounds to exactly
# 1.0 beyond about 9, which would put a pole on the circle.
raw = torch.randn(5, 12, dtype=torch.float64)
lpc = reflection_to_lpc(torch.tanh(raw))
radii = [np.abs(np.roots(np.concatenate([[1.0], row]))).max() for row in lpc.numpy()]
print("largest pole radius of each filter:", [f"{r:.8f}" for r in radii])
assert max(radii) < 1.0
print(
    "raw coefficients as a polynomial instead:",
    round(float(np.abs(np.roots(np.concatenate([[1.0], raw[0].numpy()]))).max()), 2),
)

# %% [markdown]
# ## Learning a filter sweep from audio
#
# The subtractive-synth problem from chapter 8, inverted: a sawtooth went through a resonant
# state-variable low-pass whose cutoff rose and fell; find the cutoff trajectory. The unknown
# is 20 frames of cutoff, learned as log-frequencies (equal steps are equal intervals) and kept
# between 20 Hz and 7 kHz by `smooth_limit`; `state_variable_filter` interpolates them per
# sample. The loss is spectral, and gradients flow exactly through the time-varying recursion.

# %%
n_samples, n_frames = SAMPLE_RATE // 2, 20
saw = bandlimited_oscillator(torch.full((1, 50, 1), 110.0), torch.full((1, 50, 1), 0.3), n_samples, SAMPLE_RATE)
frame_t = torch.linspace(0, 1, n_frames).reshape(1, n_frames, 1)
true_cutoff = 300.0 * torch.exp(math.log(15.0) * torch.sin(math.pi * frame_t))  # 300 Hz .. 4.5 kHz .. 300 Hz
target = state_variable_filter(saw, true_cutoff, 2.0, SAMPLE_RATE)

log_cutoff = torch.full((1, n_frames, 1), math.log(1000.0), requires_grad=True)
optimizer = torch.optim.Adam([log_cutoff], lr=0.2)
spectral_loss = MultiScaleSpectralLoss.magenta(log_guard="floor")
losses = []
for step in range(80):
    optimizer.zero_grad()
    cutoff = smooth_limit(log_cutoff.exp(), 20.0, 7000.0, softness=10.0)
    estimate = state_variable_filter(saw, cutoff, 2.0, SAMPLE_RATE)
    loss = spectral_loss(estimate, target)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 20 == 0 or step == 79:
        print(f"step {step:2d}  spectral loss {loss.item():.3f}")
ratio = (cutoff / true_cutoff).detach()
print(f"learned / true cutoff per frame: {ratio.min().item():.3f} .. {ratio.max().item():.3f}")
assert losses[-1] < 0.25 * losses[0]
# Where the sweep is low the saw has little energy left above the cutoff to reveal it, so
# those frames are the least well determined.

fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
axes[0].semilogy(losses)
axes[0].set(title="spectral loss", xlabel="step")
axes[1].plot(frame_t[0, :, 0] / 2, true_cutoff[0, :, 0], "k", label="true")
axes[1].plot(frame_t[0, :, 0] / 2, cutoff[0, :, 0].detach(), "o--", label="learned")
axes[1].set(title="cutoff trajectory", xlabel="time (s)", ylabel="Hz", yscale="log")
axes[1].legend()
image = log_spectrogram(estimate[0])
axes[2].imshow(
    image, origin="lower", aspect="auto", extent=(0, 0.5, 0, SAMPLE_RATE / 2000), cmap="magma", vmin=image.max() - 70
)
axes[2].set(title="learned sweep", xlabel="time (s)", ylabel="kHz")
fig.tight_layout()
plt.show()
display(Audio(target[0].numpy(), rate=SAMPLE_RATE), Audio(estimate[0].detach().numpy(), rate=SAMPLE_RATE))
