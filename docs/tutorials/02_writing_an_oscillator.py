# %% [markdown]
# # 2. Writing an oscillator
#
# **What this teaches.** How to turn a frequency (which may change at every sample) into a
# waveform: why the phase must be *accumulated* rather than computed as `f * t`, how
# `torchddsp` does it (`cumulative_phase`, `oscillator_bank`, in float64), why the phase is
# kept in double precision, why a naive sawtooth aliases and what a band-limited oscillator
# (`bandlimited_oscillator`) does about it, and what the gradient of an oscillator's output
# with respect to its frequency looks like.
#
# **Prerequisites.** Chapter 1 (differentiable gain); sine waves, sample rate and the Nyquist
# frequency.

# %%
import math

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.functional import bandlimited_oscillator
from torchddsp.functional import cumulative_phase
from torchddsp.functional import oscillator_bank
from torchddsp.plots import log_spectrogram

SAMPLE_RATE = 16000


def show_spectrogram(ax, audio, title):
    """dB spectrogram of a ``(n_samples,)`` signal on ``ax`` (0-8 kHz)."""
    image = log_spectrogram(audio)
    extent = (0.0, audio.shape[-1] / SAMPLE_RATE, 0.0, SAMPLE_RATE / 2000)
    ax.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=image.max() - 80)
    ax.set(title=title, xlabel="time (s)", ylabel="kHz")


# %% [markdown]
# ## A sine at a fixed frequency
#
# Sample `n` of a sine at `f` Hz is `sin(2 pi f n / sample_rate)`: the *phase*
# `2 pi f n / sample_rate` advances by the same step every sample.

# %%
n_samples = SAMPLE_RATE  # one second
n = torch.arange(n_samples, dtype=torch.float64)
sine = torch.sin(2 * math.pi * 440.0 * n / SAMPLE_RATE)
display(Audio(sine.numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## When the frequency moves: accumulate the phase
#
# Now let the frequency glide from 220 Hz to 880 Hz. Plugging the moving frequency into the
# formula above, `sin(2 pi f[n] n / sr)`, is wrong: the frequency we *hear* is the rate of
# change of the phase, and the derivative of `f[n] n` is `f[n] + n f'[n]`, so the glide
# overshoots (here it ends near 1540 Hz instead of 880 Hz). The right phase is the running
# sum of the per-sample steps, `phase[n] = 2 pi sum_{m <= n} f[m] / sr`.

# %%
glide = torch.linspace(220.0, 880.0, n_samples, dtype=torch.float64)
naive = torch.sin(2 * math.pi * glide * n / SAMPLE_RATE)
own_phase = 2 * math.pi * torch.cumsum(glide, 0) / SAMPLE_RATE
accumulated = torch.sin(own_phase)


def heard_frequency(phase):
    """Instantaneous frequency in Hz from a phase track (its per-sample step)."""
    return torch.diff(phase) * SAMPLE_RATE / (2 * math.pi)


fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
time_s = n[1:] / SAMPLE_RATE
axes[0].plot(time_s, heard_frequency(2 * math.pi * glide * n / SAMPLE_RATE), label="f[n] * n (naive)")
axes[0].plot(time_s, heard_frequency(own_phase), label="accumulated")
axes[0].plot(n / SAMPLE_RATE, glide, "k:", label="requested")
axes[0].set(xlabel="time (s)", ylabel="Hz", title="Frequency actually produced")
axes[0].legend()
show_spectrogram(axes[1], naive, "naive: overshoots")
show_spectrogram(axes[2], accumulated, "accumulated phase")
fig.tight_layout()
plt.show()
display(Audio(naive.numpy(), rate=SAMPLE_RATE), Audio(accumulated.numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## The library's oscillators
#
# `cumulative_phase` is that running sum, batched as `(batch, n_samples, channels)`, wrapped to
# `[0, 2 pi)`, and streamable (`state=` / `return_state=`). `oscillator_bank` sums sinusoids
# with per-sample frequencies and amplitudes. Our hand-made glide and the library's agree:

# %%
library_phase = cumulative_phase(glide.reshape(1, -1, 1), SAMPLE_RATE)[0, :, 0]
library_sine = oscillator_bank(glide.reshape(1, -1, 1), torch.ones(1, n_samples, 1, dtype=torch.float64), SAMPLE_RATE)
wrapped_difference = torch.remainder(own_phase - library_phase + math.pi, 2 * math.pi) - math.pi
print("largest phase difference (radians):", wrapped_difference.abs().max().item())
print("largest sample difference:", (library_sine[0] - accumulated).abs().max().item())

# %% [markdown]
# Streaming: rendering the glide in two blocks, handing the phase from one to the next, gives
# the same samples as one call (no click at the seam).

# %%
frequencies = glide.reshape(1, -1, 1)
amplitudes = torch.ones_like(frequencies)
first, phase = oscillator_bank(frequencies[:, :5000], amplitudes[:, :5000], SAMPLE_RATE, return_state=True)
second = oscillator_bank(frequencies[:, 5000:], amplitudes[:, 5000:], SAMPLE_RATE, state=phase)
print("blocks == one call:", torch.allclose(torch.cat([first, second], 1), library_sine, atol=1e-9))

# %% [markdown]
# ## Why the phase is kept in float64
#
# An unwrapped phase grows without bound, and a float32 number only has 24 bits: at 10 s of a
# 440 Hz tone the phase is about 27,650 radians and float32 can only step it by about 0.002
# radians, so `sin` of a float32 phase carries an error that grows with time (a noise floor
# near -80 dB after one second, near -40 dB after a couple of minutes). `torchddsp` accumulates the phase in float64
# and wraps it to `[0, 2 pi)` whatever the audio dtype, so the error stays at float64 rounding.

# %%
for seconds in (1, 10, 100, 1000):
    t = seconds + torch.arange(2000, dtype=torch.float64) / SAMPLE_RATE
    exact = 2 * math.pi * 440.1 * t
    error = (torch.sin(exact.float().double()) - torch.sin(exact)).abs().max().item()
    print(f"after {seconds:4d} s: float32 phase -> sine error {error:.1e} ({20 * math.log10(error):.0f} dB)")

# %% [markdown]
# ## Other waveforms, and aliasing
#
# A sawtooth is just the phase itself, rescaled: `2 * phase / (2 pi) - 1`. But its corner has
# partials at every multiple of `f0` up to infinity, and those above Nyquist (8 kHz here)
# fold back as inharmonic *aliases*: audible as a metallic haze, visible as lines running the
# wrong way in the spectrogram of a rising saw. `bandlimited_oscillator` plays the same
# waveform from tables holding only the partials below Nyquist.

# %%
rise = torch.linspace(300.0, 2400.0, n_samples, dtype=torch.float64)
saw_phase = cumulative_phase(rise.reshape(1, -1, 1), SAMPLE_RATE)[0, :, 0]
naive_saw = 0.5 * (saw_phase / math.pi - 1.0)

n_frames, hop = 100, n_samples // 100
control_rise = torch.linspace(300.0, 2400.0, n_frames).reshape(1, n_frames, 1)
clean_saw = bandlimited_oscillator(control_rise, torch.full((1, n_frames, 1), 0.5), n_samples, SAMPLE_RATE, ("saw",))[0]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
show_spectrogram(axes[0], naive_saw.float(), "naive saw: aliases fold down")
show_spectrogram(axes[1], clean_saw, "bandlimited_oscillator")
fig.tight_layout()
plt.show()
display(Audio(naive_saw.numpy(), rate=SAMPLE_RATE), Audio(clean_saw.numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## The gradient with respect to frequency
#
# The output of an oscillator is differentiable in its frequency:
# `d sin(2 pi f n / sr) / df = (2 pi n / sr) cos(...)`. Its size grows with time `n` and its
# sign flips every half period: a small change of frequency makes late samples swing wildly.
# This is why frequency is a hard parameter to learn by gradient descent (chapter 4).

# %%
f0 = torch.tensor(220.0, dtype=torch.float64, requires_grad=True)
short = 4000
tone = oscillator_bank(f0.expand(1, short, 1), torch.ones(1, short, 1, dtype=torch.float64), SAMPLE_RATE)
per_sample = torch.stack([torch.autograd.grad(tone[0, i], f0, retain_graph=True)[0] for i in range(0, short, 40)])
by_hand = 2 * math.pi * torch.arange(1, short + 1, 40, dtype=torch.float64) / SAMPLE_RATE
by_hand = by_hand * torch.cos(2 * math.pi * 220.0 * torch.arange(1, short + 1, 40, dtype=torch.float64) / SAMPLE_RATE)
print("autograd matches the derivative by hand:", torch.allclose(per_sample, by_hand, atol=1e-6))

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(torch.arange(0, short, 40) / SAMPLE_RATE, per_sample, ".", markersize=3)
ax.set(xlabel="time (s)", ylabel="d sample / d f0", title="The frequency gradient grows with time")
plt.show()
