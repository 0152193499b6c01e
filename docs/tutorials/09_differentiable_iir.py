# %% [markdown]
# # 9. Differentiable IIR: frequency sampling and a custom backward
#
# **What this teaches.** Two ways of getting gradients through a recursive filter, and what
# each costs. Autograd through a sample-by-sample loop works but records one tiny operation
# per sample. **Frequency sampling** sidesteps the recursion: sample `B / A` on an FFT grid
# and filter by convolution (an FIR approximation, truncated and time-aliased). A **custom
# backward** keeps the exact recursion and writes its gradient by hand: the gradient of an IIR
# filter is itself an IIR filter, run backwards in time. We check that identity numerically
# against `lfilter`'s exact gradients, then fit a resonator both ways and see the
# approximation's bias.
#
# **Prerequisites.** Chapter 8 (IIR filters, poles, `lfilter`); chapter 1 (autograd,
# optimisers).

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.functional import lfilter
from torchddsp.functional import resonator_coefficients
from torchddsp.functional import uniform_noise

SAMPLE_RATE = 16000
x = uniform_noise(1, 4000, seed=0)  # a quarter second of white noise


def resonator(radius, f_hz):
    """Denominator ``[1, a1, a2]`` of a pole pair at ``radius`` and ``f_hz``."""
    return torch.cat([torch.ones(1), resonator_coefficients(radius, 2 * math.pi * f_hz / SAMPLE_RATE)])


# %% [markdown]
# ## Autograd through a loop
#
# The direct translation of `y[n] = x[n] - a1 y[n-1] - a2 y[n-2]` into PyTorch is a Python
# loop. Autograd can differentiate it, but it records several operations per sample, so both
# passes cost thousands of interpreter steps: fine for a few thousand samples, hopeless for a
# training batch of seconds of audio. `lfilter` runs the recursion in a compiled kernel and
# differentiates it exactly with a hand-written backward (next section). Timings are
# indicative only (shared machine).


# %%
def loop_filter(x, a):
    """All-pole recursion written sample by sample (for comparison only)."""
    y1 = y2 = torch.zeros(x.shape[0])
    out = []
    for n in range(x.shape[-1]):
        y = x[:, n] - a[1] * y1 - a[2] * y2
        out.append(y)
        y1, y2 = y, y1
    return torch.stack(out, -1)


a = resonator(torch.tensor(0.99), torch.tensor(800.0)).requires_grad_()
# Warm-up: the first forward and backward calls load the compiled kernels.
torch.autograd.grad(lfilter(x[:, :10], torch.tensor([1.0]), a).sum(), a)
start = time.perf_counter()
(loop_grad,) = torch.autograd.grad(loop_filter(x, a).square().mean(), a)
loop_s = time.perf_counter() - start
start = time.perf_counter()
(kernel_grad,) = torch.autograd.grad(lfilter(x, torch.tensor([1.0]), a).square().mean(), a)
kernel_s = time.perf_counter() - start
print(f"loop + autograd: {loop_s * 1000:.0f} ms   lfilter: {kernel_s * 1000:.1f} ms  ({x.shape[-1]} samples)")
# a[0] is excluded: the loop assumes it is 1, lfilter divides by it (and so has a gradient for it).
print("dL/d[a1, a2], loop:", loop_grad[1:].tolist(), " lfilter:", kernel_grad[1:].tolist())
assert torch.allclose(loop_grad[1:], kernel_grad[1:], rtol=1e-3)

# %% [markdown]
# ## The custom backward: the gradient is a filter run backwards
#
# For the all-pole filter `y[n] = x[n] - sum_k a_k y[n-k]`, write `g_y = dL/dy`. Each input
# sample `x[m]` reaches every later output through the impulse response `h`, so
# `dL/dx[m] = sum_n g_y[n] h[n - m]`: a correlation with `h`, i.e. the *same filter applied to
# the time-reversed* `g_y`, reversed back. And since `a_k` enters exactly like an input
# `-y[n-k]` at sample `n`, `dL/da_k = -sum_n (dL/dx)[n] y[n-k]`. One backward recursion gives
# every gradient: the cost of the backward pass is that of the forward pass, and no per-sample
# graph is stored. Let us check both formulas against `lfilter`'s gradients.

# %%
xs = x.clone().requires_grad_()
y = lfilter(xs, torch.tensor([1.0]), a)
g_y = torch.randn_like(y)  # any upstream gradient dL/dy
grad_x, grad_a = torch.autograd.grad(y, (xs, a), g_y)

with torch.no_grad():
    by_hand_x = lfilter(g_y.flip(-1), torch.tensor([1.0]), a).flip(-1)
    delayed = [torch.nn.functional.pad(y, (k, 0))[:, : y.shape[-1]] for k in (1, 2)]
    by_hand_a = torch.stack([-(by_hand_x * d).sum() for d in delayed])
print("dL/dx: filter backwards == autograd:", torch.allclose(by_hand_x, grad_x, atol=1e-5))
print("dL/da:", by_hand_a.tolist(), "vs", grad_a[1:].tolist())

# %% [markdown]
# ## Frequency sampling
#
# `lfilter(..., method="frequency_sampling", n_fft=N)` evaluates `B / A` at `N` frequencies,
# takes the inverse FFT as an `N`-tap impulse response and convolves. Everything is FFTs, so it
# is fast and trivially differentiable, but the true impulse response is infinite: whatever
# rings longer than `N` samples is folded back onto the first `N` (time aliasing). The closer
# the poles to the unit circle (the longer the ringing), the larger the `N` it needs.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
impulse = torch.zeros(1, 1024)
impulse[0, 0] = 1.0
a_ring = resonator(torch.tensor(0.99), torch.tensor(800.0))
exact_ir = lfilter(impulse, torch.tensor([1.0]), a_ring)[0]
axes[0].plot(exact_ir, "k", linewidth=1, label="exact")
for n_fft in (128, 256, 1024):
    approx = lfilter(impulse, torch.tensor([1.0]), a_ring, method="frequency_sampling", n_fft=n_fft)[0]
    axes[0].plot(approx, linewidth=0.8, label=f"n_fft {n_fft}")
axes[0].set(xlim=(0, 400), title="impulse response, r = 0.99", xlabel="sample")
axes[0].legend()
for radius in (0.9, 0.99, 0.999):
    a_r = resonator(torch.tensor(radius), torch.tensor(800.0))
    exact = lfilter(x, torch.tensor([1.0]), a_r)
    sizes = [64, 128, 256, 512, 1024, 2048, 4096]
    errors = [
        (
            (lfilter(x, torch.tensor([1.0]), a_r, method="frequency_sampling", n_fft=n) - exact).norm() / exact.norm()
        ).item()
        for n in sizes
    ]
    axes[1].loglog(sizes, errors, "o-", label=f"r = {radius}")
axes[1].set(title="relative error of frequency sampling", xlabel="n_fft")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Fitting a resonator both ways
#
# An unknown resonator (800 Hz, radius 0.99) coloured some noise. We learn its frequency and
# radius (through a sigmoid, so it stays stable) by MSE on the output, with the exact filter and
# with frequency sampling at two sizes, then score every result with the *exact* filter. With
# `n_fft = 256` the approximation's optimum is not the true filter's: the fit stalls with a
# biased answer. With `n_fft = 1024` the aliasing is small enough here, but how small "enough"
# is depends on the poles, which move during training.

# %%
b = torch.tensor([0.05])
target = lfilter(x, b, resonator(torch.tensor(0.99), torch.tensor(800.0)))


def fit(method, n_fft=None, steps=150):
    raw_radius = torch.logit(torch.tensor(0.95)).requires_grad_()
    f_hz = torch.tensor(700.0, requires_grad=True)
    optimizer = torch.optim.Adam([{"params": [raw_radius], "lr": 0.05}, {"params": [f_hz], "lr": 5.0}])
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        y = lfilter(x, b, resonator(torch.sigmoid(raw_radius), f_hz), method=method, n_fft=n_fft)
        loss = torch.mean((y - target) ** 2)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # scored with the exact filter
            history.append(torch.mean((lfilter(x, b, resonator(torch.sigmoid(raw_radius), f_hz)) - target) ** 2).item())
    return torch.sigmoid(raw_radius).item(), f_hz.item(), history


fits = {
    "exact": fit("exact"),
    "frequency sampling, 256": fit("frequency_sampling", 256),
    "frequency sampling, 1024": fit("frequency_sampling", 1024),
}
for name, (radius, f_hz, history) in fits.items():
    print(f"{name:26s} radius {radius:.4f}  f {f_hz:6.1f} Hz   exact MSE {history[0]:.1e} -> {history[-1]:.1e}")
assert fits["exact"][2][-1] < 1e-5 < fits["frequency sampling, 256"][2][-1]

fig, ax = plt.subplots(figsize=(7, 3))
for name, (_, _, history) in fits.items():
    ax.semilogy(history, label=name)
ax.set(xlabel="step", ylabel="MSE (exact filter)", title="Fitting a resonator")
ax.legend()
plt.show()
with torch.no_grad():
    biased = lfilter(
        x,
        b,
        resonator(torch.tensor(fits["frequency sampling, 256"][0]), torch.tensor(fits["frequency sampling, 256"][1])),
    )
display(Audio(target[0].numpy(), rate=SAMPLE_RATE), Audio(biased[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# **Take-aways.** Frequency sampling is simple and fast, and fine when the filter's ringing is
# short compared to `n_fft`; it is an approximation whose error, and so whose gradient bias,
# depends on the very parameters being learned. The exact recursion with a custom backward
# costs one extra filtering pass and has no such bias; that is what `lfilter`, `sosfilt`,
# `allpole_filter` and `linear_recurrence` do (chapter 10 uses them for time-varying filters).
