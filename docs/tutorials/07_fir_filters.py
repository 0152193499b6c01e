# %% [markdown]
# # 7. FIR filters and their optimisation
#
# **What this teaches.** Finite impulse response (FIR) filters: output = input convolved with a
# finite list of taps. We read a filter's frequency response off the FFT of its taps, design
# low-pass filters two ways (windowed sinc with `sinc_impulse_response`, frequency sampling
# with `frequency_impulse_response`), filter with `fft_convolve`, and then optimise: first the
# taps themselves (a linear problem: plain gradient descent solves it), then a single
# interpretable parameter, the cutoff frequency, through the differentiable sinc design.
# Finally a time-varying FIR, the `FIRFilter` effect.
#
# **Prerequisites.** Chapters 1-2 (gradients, sample rate and Nyquist); convolution and the
# discrete Fourier transform at the level of "the FFT of the taps is the frequency response".

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import FIRFilter
from torchddsp.functional import amplitude_to_db
from torchddsp.functional import fft_convolve
from torchddsp.functional import frequency_impulse_response
from torchddsp.functional import sinc_impulse_response
from torchddsp.functional import uniform_noise
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.plots import log_spectrogram

torch.manual_seed(0)
SAMPLE_RATE = 16000
N_FFT = 1024


def response_db(taps):
    """Magnitude response in dB of FIR ``taps`` ``(..., n_taps)`` at ``N_FFT // 2 + 1`` bins."""
    return amplitude_to_db(torch.fft.rfft(taps, N_FFT).abs(), range_db=120.0)


frequencies_hz = torch.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
noise = uniform_noise(1, SAMPLE_RATE, seed=0)  # one second of white noise in [-1, 1)

# %% [markdown]
# ## Designing low-pass filters
#
# An ideal low-pass filter's impulse response is a sinc, infinitely long. Truncating it to
# `window_size` taps and tapering it with a window gives a **windowed-sinc** FIR
# (`sinc_impulse_response`, Blackman window). Alternatively, **frequency sampling**
# (`frequency_impulse_response`) starts from the magnitudes you want at evenly spaced
# frequencies, takes the inverse FFT and windows it (a Hann window). Both are linear phase:
# symmetric taps, a delay of `window_size // 2` samples. More taps give a sharper transition.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for size in (15, 63, 255):
    taps = sinc_impulse_response(2000.0, window_size=size, sample_rate=SAMPLE_RATE)
    axes[0].plot(frequencies_hz, response_db(taps), label=f"sinc, {size} taps")
desired = (torch.linspace(0, SAMPLE_RATE / 2, 65) < 2000.0).float().reshape(1, 65)  # 65 bins from 0 Hz to Nyquist
sampled = frequency_impulse_response(desired)  # (1, 128)
axes[0].plot(frequencies_hz, response_db(sampled[0]), "k--", label="frequency sampling, 128 taps")
axes[0].set(xlabel="Hz", ylabel="dB", title="low-pass at 2 kHz", ylim=(-100, 5))
axes[0].legend()
axes[1].stem(sinc_impulse_response(2000.0, window_size=63, sample_rate=SAMPLE_RATE))
axes[1].set(title="63 windowed-sinc taps (symmetric: linear phase)", xlabel="tap")
fig.tight_layout()
plt.show()

filtered = fft_convolve(noise, sinc_impulse_response(torch.full((1, 1), 2000.0), 255, SAMPLE_RATE))
display(Audio(noise[0].numpy(), rate=SAMPLE_RATE), Audio(filtered[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Learning the taps
#
# Suppose an unknown FIR filter coloured some noise and we have its input and output. The
# output is *linear* in the taps, so the MSE is a convex bowl in tap space and gradient descent
# (here Adam) walks straight to the answer. The unknown filter: a band-pass, 2-3 kHz, of 63
# taps designed by frequency sampling.

# %%
band = ((torch.linspace(0, SAMPLE_RATE / 2, 33) >= 2000) & (torch.linspace(0, SAMPLE_RATE / 2, 33) <= 3000)).float()
unknown = frequency_impulse_response(band.reshape(1, 33), window_size=63)  # (1, 63)
x = noise[:, :4000]
y = fft_convolve(x, unknown, padding="valid")

taps = torch.zeros(1, 63, requires_grad=True)
optimizer = torch.optim.Adam([taps], lr=0.01)
for step in range(150):
    optimizer.zero_grad()
    loss = torch.mean((fft_convolve(x, taps, padding="valid") - y) ** 2)
    loss.backward()
    optimizer.step()
    if step % 30 == 0 or step == 149:
        print(f"step {step:3d}  MSE {loss.item():.2e}")
print("largest tap error:", (taps - unknown).abs().max().item())
assert loss.item() < 1e-4

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(frequencies_hz, response_db(unknown[0]), label="unknown filter")
ax.plot(frequencies_hz, response_db(taps[0].detach()), "--", label="learned taps")
ax.set(xlabel="Hz", ylabel="dB", ylim=(-80, 5), title="Learning 63 FIR taps by gradient descent")
ax.legend()
plt.show()

# %% [markdown]
# ## Learning an interpretable parameter: the cutoff
#
# Free taps can be any filter; often we want a filter *family* with meaningful knobs. The
# windowed-sinc design is differentiable in its cutoff, so we can learn "where is the
# low-pass?" from audio alone. We compare spectra (a multi-scale spectral loss), since the
# noise we filter need not be the same noise as the target's.

# %%
target = fft_convolve(noise, sinc_impulse_response(torch.full((1, 1), 1200.0), 127, SAMPLE_RATE))
other_noise = uniform_noise(1, SAMPLE_RATE, seed=1)
spectral_loss = MultiScaleSpectralLoss.magenta(log_guard="floor")

# The cutoff is learned as its logarithm (equal steps are equal musical intervals, and the
# cutoff stays positive): chapter 1's lesson about parametrisation.
log_cutoff = torch.log(torch.tensor([[4000.0]])).requires_grad_()
optimizer = torch.optim.Adam([log_cutoff], lr=0.1, betas=(0.8, 0.9))
schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
path = []
for step in range(40):
    optimizer.zero_grad()
    estimate = fft_convolve(other_noise, sinc_impulse_response(log_cutoff.exp(), 127, SAMPLE_RATE))
    loss = spectral_loss(estimate, target)
    loss.backward()
    optimizer.step()
    schedule.step()
    path.append(log_cutoff.exp().item())
    if step % 10 == 0 or step == 39:
        print(f"step {step:2d}  loss {loss.item():.3f}  cutoff {path[-1]:7.1f} Hz (target 1200 Hz)")
assert abs(path[-1] - 1200.0) < 100.0

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(path)
ax.axhline(1200.0, color="grey", linestyle=":")
ax.set(xlabel="step", ylabel="cutoff (Hz)", title="Learning a low-pass cutoff from audio")
plt.show()
display(Audio(target[0].numpy(), rate=SAMPLE_RATE), Audio(estimate[0].detach().numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Time-varying FIR: the `FIRFilter` effect
#
# DDSP's filtered-noise synthesizer and its `FIRFilter` effect use one frequency-sampled FIR
# per *frame*: `fft_convolve` cuts the audio into as many blocks as there are frames,
# filters each with its own taps and overlap-adds them. Here a band of noise sweeps upwards.

# %%
n_frames, n_bins = 50, 65
centre = torch.linspace(500.0, 6000.0, n_frames).reshape(1, n_frames, 1)
bins_hz = torch.linspace(0, SAMPLE_RATE / 2, n_bins).reshape(1, 1, n_bins)
magnitudes = torch.exp(-(((bins_hz - centre) / 300.0) ** 2))  # a Gaussian band per frame
swept = FIRFilter(scale_fn=None)(noise, magnitudes)

fig, ax = plt.subplots(figsize=(7, 3))
image = log_spectrogram(swept[0])
ax.imshow(
    image, origin="lower", aspect="auto", extent=(0, 1, 0, SAMPLE_RATE / 2000), cmap="magma", vmin=image.max() - 70
)
ax.set(title="noise through a time-varying FIR", xlabel="time (s)", ylabel="kHz")
plt.show()
display(Audio(swept[0].numpy(), rate=SAMPLE_RATE))
