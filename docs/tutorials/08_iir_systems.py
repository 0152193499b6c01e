# %% [markdown]
# # 8. IIR systems
#
# **What this teaches.** Infinite impulse response (IIR) filters: filters that feed their own
# past outputs back, `y[n] = b0 x[n] + b1 x[n-1] + ... - a1 y[n-1] - a2 y[n-2] - ...`. We see
# why one feedback coefficient gives an impulse response that never ends, read the frequency
# response as `B(z) / A(z)` on the unit circle, place poles with `resonator_coefficients`,
# watch what happens when a pole leaves the unit circle, design second-order sections with the
# cookbook `biquad`, cascade them with `sosfilt`, and sweep a filter over time.
#
# **Prerequisites.** Chapter 7 (FIR filters, frequency responses); complex numbers `r e^{i
# theta}`. The z-transform is used only as "a polynomial in `z^-1` evaluated on the unit
# circle".

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.functional import amplitude_to_db
from torchddsp.functional import bandlimited_oscillator
from torchddsp.functional import biquad
from torchddsp.functional import lfilter
from torchddsp.functional import resonator_coefficients
from torchddsp.functional import sosfilt
from torchddsp.plots import log_spectrogram

SAMPLE_RATE = 16000
N_FFT = 2048
frequencies_hz = torch.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)


def response_db(b, a):
    """|B / A| in dB on the unit circle (``N_FFT // 2 + 1`` frequencies): polynomials in z^-1
    evaluated by zero-padded FFTs of their coefficients."""
    return amplitude_to_db(torch.fft.rfft(b, N_FFT).abs() / torch.fft.rfft(a, N_FFT).abs(), range_db=120.0)


impulse = torch.zeros(1, 400)
impulse[0, 0] = 1.0

# %% [markdown]
# ## One pole: a leaky integrator
#
# `y[n] = x[n] + 0.9 y[n-1]` (so `a = [1, -0.9]`, `lfilter`'s sign convention, as scipy's).
# Its impulse response is `0.9^n`: it decays but never reaches zero, hence "infinite". One
# multiply-add per sample buys a smoothing low-pass that an FIR would need many taps for.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
for pole in (0.5, 0.9, 0.99):
    b, a = torch.tensor([1 - pole]), torch.tensor([1.0, -pole])  # unit gain at 0 Hz
    axes[0].plot(lfilter(impulse, b, a)[0, :100], label=f"pole {pole}")
    axes[1].plot(frequencies_hz, response_db(b, a), label=f"pole {pole}")
axes[0].set(title="impulse responses", xlabel="sample")
axes[1].set(title="magnitude responses", xlabel="Hz", ylabel="dB", xscale="log")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A pole pair: a resonator
#
# Two complex-conjugate poles at `r e^{+-i theta}` make the denominator
# `1 - 2 r cos(theta) z^-1 + r^2 z^-2` (`resonator_coefficients`). The angle sets the
# resonant frequency, `theta = 2 pi f / sample_rate`; the radius sets how long it rings: the
# closer to the unit circle, the sharper the peak and the longer the decay. Struck with an
# impulse, it rings like a bell.

# %%
f_hz = 660.0
theta = torch.tensor(2 * torch.pi * f_hz / SAMPLE_RATE)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
circle = torch.exp(1j * torch.linspace(0, 2 * torch.pi, 200))
axes[0].plot(circle.real, circle.imag, "k", linewidth=0.5)
rings = {}
for radius in (0.9, 0.99, 0.999):
    a = torch.cat([torch.ones(1), resonator_coefficients(torch.tensor(radius), theta)])
    poles = radius * torch.exp(1j * torch.stack([theta, -theta]))
    axes[0].plot(poles.real, poles.imag, "x", markersize=8, label=f"r = {radius}")
    axes[1].plot(frequencies_hz, response_db(torch.tensor([1 - radius]), a), label=f"r = {radius}")
    strike = torch.zeros(1, SAMPLE_RATE)
    strike[0, 0] = 1.0
    rings[radius] = lfilter(strike, torch.tensor([1 - radius]), a)
axes[0].set(aspect="equal", title="poles in the z-plane", xlim=(-1.2, 1.2), ylim=(-1.2, 1.2))
axes[0].legend(fontsize=7)
axes[1].set(title="magnitude responses", xlabel="Hz", ylabel="dB", xlim=(0, 2000))
fig.tight_layout()
plt.show()
display(*(Audio(ring[0].numpy(), rate=SAMPLE_RATE) for ring in rings.values()))

# %% [markdown]
# ## Stability
#
# A pole on or outside the unit circle makes the feedback grow instead of decay: the output
# explodes. This is the danger of letting an optimiser move IIR coefficients freely (chapter
# 10 shows parametrisations that cannot leave the stable region).

# %%
long_impulse = torch.zeros(1, 2000)
long_impulse[0, 0] = 1.0
for radius in (0.99, 1.0, 1.01):
    # Written by hand: resonator_coefficients only builds poles inside the circle.
    a = torch.tensor([1.0, -2 * radius * torch.cos(theta).item(), radius**2])
    y = lfilter(long_impulse, torch.tensor([1.0]), a)
    print(f"r = {radius}: peak of the last 100 of 2000 samples {y[0, -100:].abs().max().item():.3g}")

# %% [markdown]
# ## Biquads and cascades
#
# Second-order sections ("biquads") are the workhorse of audio EQ: `biquad(mode, cutoff, q,
# sample_rate)` gives the six coefficients `[b0, b1, b2, a0, a1, a2]` of the Audio EQ Cookbook
# designs (low-pass, high-pass, band-pass, notch, peak, shelves, all-pass). Higher orders are
# built as cascades of sections (`sosfilt`), which is numerically far safer than one
# high-order polynomial.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for q in (0.5, 0.7071, 4.0):
    section = biquad("lowpass", 1000.0, q, SAMPLE_RATE)
    axes[0].plot(frequencies_hz, response_db(section[:3], section[3:]), label=f"Q = {q}")
for n_sections in (1, 2, 4):
    sos = biquad("lowpass", 1000.0, 0.7071, SAMPLE_RATE).expand(n_sections, 6)
    out = sosfilt(impulse, sos)
    axes[1].plot(
        frequencies_hz,
        amplitude_to_db(torch.fft.rfft(out[0], N_FFT).abs(), range_db=120.0),
        label=f"{n_sections} sections",
    )
axes[0].set(title="low-pass biquads at 1 kHz", xlabel="Hz", ylabel="dB", xscale="log", ylim=(-60, 15))
axes[1].set(title="cascades (from their impulse responses)", xlabel="Hz", xscale="log", ylim=(-100, 5))
axes[0].legend()
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Time-varying filters
#
# The classic subtractive-synth sound: a bright sawtooth through a resonant low-pass whose
# cutoff sweeps. `biquad` accepts a cutoff per sample, and `sosfilt` takes per-sample
# coefficients `(batch, n_samples, n_sections, 6)`; its state (past inputs and outputs) stays
# meaningful while the coefficients move.

# %%
n_samples, n_frames = SAMPLE_RATE, 100
saw = bandlimited_oscillator(
    torch.full((1, n_frames, 1), 110.0), torch.full((1, n_frames, 1), 0.3), n_samples, SAMPLE_RATE
)
time_s = torch.arange(n_samples) / SAMPLE_RATE
cutoff = 200.0 * (30.0 ** (0.5 - 0.5 * torch.cos(2 * torch.pi * 1.5 * time_s)))  # 200 Hz .. 6 kHz and back
sweep = biquad("lowpass", cutoff.reshape(1, n_samples), 6.0, SAMPLE_RATE).unsqueeze(-2)  # (1, n_samples, 1, 6)
swept = sosfilt(saw, sweep)

fig, ax = plt.subplots(figsize=(8, 3))
image = log_spectrogram(swept[0])
ax.imshow(
    image, origin="lower", aspect="auto", extent=(0, 1, 0, SAMPLE_RATE / 2000), cmap="magma", vmin=image.max() - 70
)
ax.plot(time_s[::100], cutoff[::100] / 1000, "c", linewidth=1, label="cutoff")
ax.set(title="sawtooth through a swept resonant low-pass", xlabel="time (s)", ylabel="kHz")
ax.legend()
plt.show()
display(Audio(saw[0].numpy(), rate=SAMPLE_RATE), Audio(swept[0].numpy(), rate=SAMPLE_RATE))
