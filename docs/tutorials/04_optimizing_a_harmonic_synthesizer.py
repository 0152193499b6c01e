# %% [markdown]
# # 4. Optimizing a harmonic synthesizer, and the f0 loss landscape
#
# **What this teaches.** Sound matching by gradient descent: given a target note, find the
# controls of a harmonic synthesizer that reproduce it. Learning the *amplitudes* (overall
# level and harmonic distribution) at a known pitch works well with a multi-scale spectral
# loss. Learning the *fundamental frequency* does not: we draw the loss as a function of `f0`
# for a waveform loss and a spectral loss and see why gradient descent gets lost, which is why
# DDSP models take `f0` from a pitch tracker instead of learning it from the audio loss.
#
# **Prerequisites.** Chapters 1-3 (gradients and optimisers, oscillators, additive
# synthesis); what a spectrogram is.

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import Harmonic
from torchddsp.functional import harmonic_synthesis
from torchddsp.losses import MultiScaleSpectralLoss

torch.manual_seed(0)
SAMPLE_RATE = 16000
N_SAMPLES = SAMPLE_RATE // 2  # half a second keeps every step cheap
N_FRAMES, N_HARMONICS = 25, 16

# %% [markdown]
# ## A target note
#
# A 220 Hz tone with harmonics falling as `1/k` and a steady level: the controls are constant
# over the frames, so the "right answer" is known exactly.

# %%
k = torch.arange(1, N_HARMONICS + 1, dtype=torch.float32)
true_distribution = (1 / k) / (1 / k).sum()
true_amplitude = 0.5


def constant(value, channels):
    """A control held over every frame: ``(1, N_FRAMES, channels)``."""
    return torch.as_tensor(value, dtype=torch.float32).reshape(1, 1, channels).expand(1, N_FRAMES, channels)


def render(f0_hz, amplitude=true_amplitude, distribution=true_distribution):
    return harmonic_synthesis(
        constant(f0_hz, 1), constant(amplitude, 1), constant(distribution, N_HARMONICS), N_SAMPLES, SAMPLE_RATE
    )


target = render(220.0)
display(Audio(target[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Learning the amplitudes at a known pitch
#
# The synthesizer is `Harmonic` with its default `exp_sigmoid` scaling: the parameters are raw,
# unbounded numbers and the synthesizer maps them to a positive amplitude and a normalised
# distribution, so any value the optimiser tries is a valid sound. The loss compares
# magnitude spectrograms at six resolutions (Magenta DDSP's setting), which ignores the phase
# of each harmonic (its log term is floored at 1e-5, Magenta's epsilon).

# %%
synth = Harmonic(SAMPLE_RATE)
# log_guard="floor": log(max(|X|, 1e-5)), so near-silent bins give no (huge) gradient.
spectral_loss = MultiScaleSpectralLoss.magenta(log_guard="floor")
raw_amplitude = torch.zeros(1, 1, 1, requires_grad=True)
raw_distribution = torch.zeros(1, 1, N_HARMONICS, requires_grad=True)  # starts flat: every harmonic equal
optimizer = torch.optim.Adam([raw_amplitude, raw_distribution], lr=0.1)
f0_frames = constant(220.0, 1)

losses = []
for step in range(100):
    optimizer.zero_grad()
    audio = synth(
        raw_amplitude.expand(1, N_FRAMES, 1),
        raw_distribution.expand(1, N_FRAMES, N_HARMONICS),
        f0_frames,
        n_samples=N_SAMPLES,
    )
    loss = spectral_loss(audio, target)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 20 == 0 or step == 99:
        print(f"step {step:3d}  spectral loss {loss.item():.3f}")
assert losses[-1] < 0.2 * losses[0]

learned = synth.controls(raw_amplitude, raw_distribution, f0_frames[:, :1])
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].plot(losses)
axes[0].set(xlabel="step", ylabel="loss", title="Matching amplitudes", yscale="log")
axes[1].bar(k - 0.2, true_distribution, width=0.4, label="target")
axes[1].bar(k + 0.2, learned["harmonic_distribution"][0, 0].detach(), width=0.4, label="learned")
axes[1].set(xlabel="harmonic", title=f"distribution (amplitude {learned['amplitudes'].item():.3f} vs {true_amplitude})")
axes[1].legend()
fig.tight_layout()
plt.show()
display(Audio(audio[0].detach().numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## The loss as a function of f0
#
# Now keep the amplitudes right and vary only `f0`. Two losses:
#
# - the **waveform MSE**: unless `f0` is within about `1 / duration` (2 Hz here) of the
#   target, the two waveforms drift out of phase and the error averages to the same value
#   whatever `f0` is: a flat plateau with one narrow well, giving no direction to follow;
# - the **spectral loss**: it does slope towards 220 Hz overall, but it is rugged, with bumps
#   and local minima (harmonics of the guess landing on harmonics of the target, frames
#   aligning with periods), so the path downhill can stop short.

# %%
grid = torch.linspace(100.0, 440.0, 171)
fine = torch.linspace(214.0, 226.0, 61)
with torch.no_grad():
    spectral_landscape = torch.tensor([spectral_loss(render(f), target).item() for f in grid])
    mse_landscape = torch.tensor([torch.mean((render(f) - target) ** 2).item() for f in grid])
    mse_fine = torch.tensor([torch.mean((render(f) - target) ** 2).item() for f in fine])

# %% [markdown]
# ## Gradient descent on f0
#
# The same optimiser from a few starting pitches, 40 steps each. With the spectral loss the
# starts move, mostly the right way, but stall in the ripples (even 8 Hz away) or settle in a
# local minimum; none reaches 220 Hz. With the MSE, a start outside the narrow well only
# wanders: its gradient carries no direction.


# %%
def fit_f0(start_hz, loss_fn, steps=40, lr=1.0):
    """Adam on f0 in Hz; the path of f0 values."""
    f0 = torch.tensor(start_hz, requires_grad=True)
    optimizer = torch.optim.Adam([f0], lr=lr)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(render(f0), target)
        loss.backward()
        optimizer.step()
        path.append(f0.item())
    return path


def mse(a, b):
    return torch.mean((a - b) ** 2)


starts = (212.0, 250.0, 300.0)
spectral_paths = {s: fit_f0(s, spectral_loss) for s in starts}
mse_paths = {s: fit_f0(s, mse) for s in starts}
for s in starts:
    print(
        f"start {s:.0f} Hz -> spectral loss: {spectral_paths[s][-1]:.1f} Hz, MSE: {mse_paths[s][-1]:.1f} Hz (target 220 Hz)"
    )

fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
axes[0].plot(grid, spectral_landscape)
for s, path in spectral_paths.items():
    with torch.no_grad():
        axes[0].plot(path[-1], spectral_loss(render(path[-1]), target).item(), "o", label=f"from {s:.0f} Hz")
axes[0].set(xlabel="f0 (Hz)", title="spectral loss: rugged", ylabel="loss")
axes[0].legend()
axes[1].plot(grid, mse_landscape)
axes[1].set(xlabel="f0 (Hz)", title="waveform MSE: a plateau")
axes[2].plot(fine, mse_fine)
axes[2].set(xlabel="f0 (Hz)", title="waveform MSE near 220 Hz: one narrow well")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Take-aways.** Amplitudes are easy to learn: the output is linear in them and a spectral
# loss sees them directly. Frequency is hard: the loss landscape over `f0` is flat (waveform)
# or rugged (spectrum). Remedies in the literature include estimating `f0` with a pitch
# tracker and conditioning on it (DDSP's autoencoder; `torchddsp.features.estimate_f0`),
# starting close enough, or changing the loss or the oscillator (e.g. surrogate or
# complex-exponential formulations). Next chapter: what a harmonic synthesizer fitted to a real
# recording sounds like.
