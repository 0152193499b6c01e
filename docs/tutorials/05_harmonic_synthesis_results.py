# %% [markdown]
# # 5. Harmonic synthesis results: fitting a real recording
#
# **What this teaches.** What a harmonic-plus-noise synthesizer can and cannot reproduce of a
# real instrument. We take one second of the violin note bundled with `torchddsp`, track its
# pitch with YIN (chapter 4 showed why `f0` is given, not learned), and optimise per-frame
# controls of `Harmonic` and `FilteredNoise` against a multi-scale spectral loss. Then we
# listen: the harmonic part alone, with the noise added, and the same controls played an
# octave lower, and we look at what is left over.
#
# **Prerequisites.** Chapters 3 and 4 (additive synthesis with frame-rate controls, spectral
# loss, the f0 problem). Filtered noise is used as a black box here; chapter 7 explains FIR
# filters.

# %%
from importlib.resources import files

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import FilteredNoise
from torchddsp import Harmonic
from torchddsp.features import yin
from torchddsp.io import read_audio
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.plots import log_spectrogram

torch.manual_seed(0)
SAMPLE_RATE = 16000
FRAME_RATE = 50  # controls per second: coarse, to keep the optimisation small


def show_spectrogram(ax, audio, title, top=None):
    """dB spectrogram of a ``(n_samples,)`` signal on ``ax`` (0-8 kHz)."""
    image = log_spectrogram(audio)
    top = image.max() if top is None else top
    extent = (0.0, audio.shape[-1] / SAMPLE_RATE, 0.0, SAMPLE_RATE / 2000)
    ax.imshow(image, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=top - 80, vmax=top)
    ax.set(title=title, xlabel="time (s)", ylabel="kHz")
    return image.max()


# %% [markdown]
# ## The recording and its pitch
#
# `violin_note.flac` is an A4 (440 Hz) rendered from a General MIDI violin (see
# `src/torchddsp/assets/README.md`). YIN gives `f0` per frame; frame `i` is centred on time
# `i / frame_rate`.

# %%
violin = read_audio(files("torchddsp") / "assets" / "violin_note.flac", SAMPLE_RATE)
target = violin[int(0.1 * SAMPLE_RATE) : int(1.1 * SAMPLE_RATE)].reshape(1, -1)
n_samples = target.shape[-1]
n_frames = n_samples * FRAME_RATE // SAMPLE_RATE
f0_hz, confidence = yin(target, SAMPLE_RATE, frame_rate=FRAME_RATE, min_hz=200.0, max_hz=1000.0)
f0_hz = f0_hz.reshape(1, n_frames, 1)
print(f"{n_frames} frames, median f0 {f0_hz.median().item():.1f} Hz")
display(Audio(target[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## The model: harmonic + filtered noise, controls learned per frame
#
# No neural network here: the raw controls themselves are the parameters (one amplitude, 40
# harmonic weights and 33 noise-band magnitudes per frame), mapped to valid values by the
# synthesizers' `exp_sigmoid`. This is the "sound matching" setting; DDSP's autoencoder
# instead trains a network to *predict* such controls from pitch and loudness, so that it
# generalises to new notes.

# %%
N_HARMONICS, N_BANDS = 40, 33
harmonic = Harmonic(SAMPLE_RATE)
noise = FilteredNoise()
raw_amplitude = torch.zeros(1, n_frames, 1, requires_grad=True)
raw_distribution = torch.zeros(1, n_frames, N_HARMONICS, requires_grad=True)
raw_noise = torch.zeros(1, n_frames, N_BANDS, requires_grad=True)
loss_fn = MultiScaleSpectralLoss.magenta(log_guard="floor")  # log floored at 1e-5 (see chapter 4)
optimizer = torch.optim.Adam([raw_amplitude, raw_distribution, raw_noise], lr=0.1)


def synthesize(f0=f0_hz):
    tonal = harmonic(raw_amplitude, raw_distribution, f0, n_samples=n_samples)
    breath = noise(raw_noise, n_samples=n_samples, seed=0)
    return tonal, breath


losses = []
for step in range(120):
    optimizer.zero_grad()
    tonal, breath = synthesize()
    loss = loss_fn(tonal + breath, target)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 20 == 0 or step == 119:
        print(f"step {step:3d}  spectral loss {loss.item():.2f}")
assert losses[-1] < 0.5 * losses[0]

# %% [markdown]
# ## Listening to the parts
#
# The harmonic part carries the pitch and most of the timbre; the noise adds the bow's hiss
# and fills the spectrum between the harmonics.

# %%
with torch.no_grad():
    tonal, breath = synthesize()
    lower_tonal, lower_breath = synthesize(f0_hz / 2)
resynthesis = tonal + breath
for name, audio in [
    ("harmonic", tonal),
    ("noise", breath),
    ("harmonic + noise", resynthesis),
    ("an octave lower", lower_tonal + lower_breath),
]:
    print(name)
    display(Audio(audio[0].numpy(), rate=SAMPLE_RATE))

fig, axes = plt.subplots(2, 3, figsize=(14, 6))
top = show_spectrogram(axes[0, 0], target[0], "recording")
show_spectrogram(axes[0, 1], resynthesis[0], "harmonic + noise", top)
show_spectrogram(axes[0, 2], (target - resynthesis)[0], "waveform residual", top)
axes[1, 0].plot(losses)
axes[1, 0].set(title="spectral loss", xlabel="step", yscale="log")
controls = harmonic.controls(raw_amplitude, raw_distribution, f0_hz)
axes[1, 1].imshow(
    controls["harmonic_distribution"][0].detach().T,
    origin="lower",
    aspect="auto",
    extent=(0, 1, 0.5, N_HARMONICS + 0.5),
)
axes[1, 1].set(title="learned harmonic distribution", xlabel="time (s)", ylabel="harmonic")
axes[1, 2].plot(torch.arange(n_frames) / FRAME_RATE, controls["amplitudes"][0, :, 0].detach())
axes[1, 2].set(title="learned amplitude", xlabel="time (s)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the results say
#
# - The spectrogram of the match is close to the recording's: the harmonic structure and its
#   evolution are captured by a few numbers per frame.
# - The *waveform* residual is not small: the synthesizer starts every harmonic at phase 0 and
#   the spectral loss ignores phase, so the match sounds alike without lining up sample by
#   sample. This is by design (and is why DDSP does not use a waveform loss).
# - What a harmonic model leaves out: slight inharmonicity, the room (a `Reverb` effect is
#   DDSP's answer), and anything between the frames (50 frames per second smooths fast
#   transients; DDSP uses 250).
# - Playing the same controls an octave lower shows the model is *interpretable*: pitch and
#   timbre are separate knobs. It also shows its limit: the timbre was fitted at one pitch,
#   and real instruments change timbre with register.
#
# Next chapter: how such building blocks are organised into a library.
