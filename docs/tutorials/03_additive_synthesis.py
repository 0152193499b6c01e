# %% [markdown]
# # 3. Additive synthesis
#
# **What this teaches.** Building sounds as sums of sinusoids: the harmonic series, classic
# waveforms from their partial amplitudes, why partials above Nyquist must be muted, and the
# DDSP way of controlling a harmonic synthesiser with *frame-rate* controls (a loudness
# envelope and a harmonic distribution that change over time) upsampled to audio rate. Along
# the way: `oscillator_bank`, `harmonic_synthesis`, `upsample`, `normalize_harmonics` and the
# `Harmonic` synthesizer.
#
# **Prerequisites.** Chapter 2 (writing an oscillator): phase accumulation and aliasing.

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import Harmonic
from torchddsp.functional import harmonic_frequencies
from torchddsp.functional import harmonic_synthesis
from torchddsp.functional import normalize_harmonics
from torchddsp.functional import oscillator_bank
from torchddsp.functional import upsample
from torchddsp.plots import log_spectrogram

SAMPLE_RATE = 16000


def show_spectrogram(ax, audio, title):
    """dB spectrogram of a ``(n_samples,)`` signal on ``ax`` (0-8 kHz)."""
    image = log_spectrogram(audio)
    extent = (0.0, audio.shape[-1] / SAMPLE_RATE, 0.0, SAMPLE_RATE / 2000)
    ax.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=image.max() - 80)
    ax.set(title=title, xlabel="time (s)", ylabel="kHz")


# %% [markdown]
# ## Waveforms as recipes of partials
#
# A periodic sound of fundamental `f0` is a sum of harmonics `k * f0`. Its timbre is the list
# of their amplitudes: all harmonics at `1/k` make a sawtooth, odd ones at `1/k` a square, odd
# ones at `1/k^2` with alternating signs a triangle. `oscillator_bank` renders any such list.

# %%
f0, n_samples, n_harmonics = 220.0, SAMPLE_RATE // 2, 30
k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
recipes = {
    "saw": 1 / k,
    "square": torch.where(k % 2 == 1, 1 / k, torch.zeros_like(k)),
    "triangle": torch.where(k % 2 == 1, (-1) ** ((k - 1) / 2) / k**2, torch.zeros_like(k)),
}
frequencies = harmonic_frequencies(torch.full((1, n_samples, 1), f0), n_harmonics)  # (1, n, 30)
waves = {
    name: oscillator_bank(frequencies, (0.5 * a).expand(1, n_samples, -1), SAMPLE_RATE)[0]
    for name, a in recipes.items()
}

fig, axes = plt.subplots(1, 3, figsize=(13, 2.8))
for ax, (name, wave) in zip(axes, waves.items()):
    ax.plot(torch.arange(200) / SAMPLE_RATE * 1000, wave[:200])
    ax.set(title=f"{name} from {n_harmonics} harmonics", xlabel="ms")
fig.tight_layout()
plt.show()
display(*(Audio(wave.numpy(), rate=SAMPLE_RATE) for wave in waves.values()))

# %% [markdown]
# ## Partials above Nyquist
#
# At 16 kHz, harmonic 30 of a 440 Hz note sits at 13.2 kHz, above the 8 kHz Nyquist limit,
# and folds back to an inharmonic 2.8 kHz. `oscillator_bank` (and everything built on it)
# silences an oscillator at the samples where its frequency reaches Nyquist; a home-made
# `sin(cumsum)` would not. Compare a saw recipe at 440 Hz rendered both ways:

# %%
high = harmonic_frequencies(torch.full((1, n_samples, 1), 440.0), n_harmonics)
amps = (0.5 / k).expand(1, n_samples, -1)
muted = oscillator_bank(high, amps, SAMPLE_RATE)[0]
phases = 2 * torch.pi * torch.cumsum(high.double(), 1) / SAMPLE_RATE
folded = (amps * torch.sin(phases)).sum(-1)[0].float()

fig, axes = plt.subplots(1, 2, figsize=(11, 3), sharey=True)
show_spectrogram(axes[0], folded, "every partial: aliases appear")
show_spectrogram(axes[1], muted, "oscillator_bank: muted above Nyquist")
fig.tight_layout()
plt.show()
display(Audio(folded.numpy(), rate=SAMPLE_RATE), Audio(muted.numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Frame-rate controls
#
# Sounds change: a note swells and decays, gets brighter when louder, its pitch wobbles.
# DDSP controls a harmonic synthesiser with a few numbers per *frame* (here 100 frames per
# second) rather than per sample: an overall amplitude, a harmonic distribution (how the
# amplitude is shared among the harmonics, each frame summing to one), and `f0`. They are
# upsampled to audio rate inside `harmonic_synthesis` (linearly for f0, with overlapping Hann
# windows for amplitudes). Below: a plucked-string-like note whose high harmonics die first,
# with a gentle vibrato.

# %%
frame_rate, seconds = 100, 1.0
n_frames = int(frame_rate * seconds)
n_samples = int(SAMPLE_RATE * seconds)
t = torch.arange(n_frames) / frame_rate

f0_hz = (196.0 * (1 + 0.006 * torch.sin(2 * torch.pi * 5.0 * t))).reshape(1, n_frames, 1)
amplitude = (0.6 * torch.exp(-3.0 * t) * (1 - torch.exp(-200 * t))).reshape(1, n_frames, 1)
decay_per_harmonic = 1.0 + 0.8 * torch.arange(n_harmonics)  # harmonic k decays faster
distribution = torch.exp(-decay_per_harmonic * t.reshape(-1, 1)) / (1 + torch.arange(n_harmonics))
distribution = normalize_harmonics(distribution.reshape(1, n_frames, n_harmonics), f0_hz, SAMPLE_RATE)

pluck = harmonic_synthesis(f0_hz, amplitude, distribution, n_samples, SAMPLE_RATE)[0]

fig, axes = plt.subplots(1, 3, figsize=(13, 3))
axes[0].plot(t, amplitude[0, :, 0], label="amplitude")
axes[0].plot(t, upsample(f0_hz, n_frames * 10)[0, ::10, 0] / 196.0 - 1, label="f0 / 196 Hz - 1")
axes[0].set(title="frame-rate controls", xlabel="time (s)")
axes[0].legend()
axes[1].imshow(distribution[0].T, origin="lower", aspect="auto", extent=(0, seconds, 0.5, n_harmonics + 0.5))
axes[1].set(title="harmonic distribution", xlabel="time (s)", ylabel="harmonic")
show_spectrogram(axes[2], pluck, "rendered")
fig.tight_layout()
plt.show()
display(Audio(pluck.numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## The `Harmonic` synthesizer
#
# `torchddsp.Harmonic` wraps the same renderer as a processor (chapter 6 says more): its
# `controls` step maps raw network outputs to valid controls (`exp_sigmoid` makes amplitudes
# positive, the distribution is normalised over the audible harmonics), and its `render` step
# calls `harmonic_synthesis`. With `scale_fn=None` it takes physical controls as they are, and
# gives the same audio as the function:

# %%
harmonic = Harmonic(SAMPLE_RATE, scale_fn=None)
same = harmonic(amplitude, distribution, f0_hz, n_samples=n_samples)[0]
print("Harmonic == harmonic_synthesis:", torch.allclose(same, pluck, atol=1e-6))

# Raw (unbounded) controls, as a neural network would emit them, are mapped by exp_sigmoid:
raw = Harmonic(SAMPLE_RATE)
controls = raw.controls(torch.randn(1, n_frames, 1), torch.randn(1, n_frames, n_harmonics), f0_hz)
print(
    "amplitudes in", [round(v, 3) for v in (controls["amplitudes"].min().item(), controls["amplitudes"].max().item())]
)
print("each frame's distribution sums to", controls["harmonic_distribution"].sum(-1).mean().item())
