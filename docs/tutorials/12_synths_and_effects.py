# %% [markdown]
# # 12. A tour of the synthesizers and effects
#
# **What this teaches.** Every sound source and effect processor in torchddsp, each driven
# with hand-made controls, plotted and played: the harmonic synthesizer, filtered noise, free
# sinusoids, wavetables and FM; then the effects on one dry phrase: the reverb family
# (a given impulse response, exponentially decaying noise, band-filtered noise and a feedback
# delay network), the parametric EQ and the time-varying FIR filter, the compressor (and
# limiter, expander), the modulated delay (chorus, flanger), the phaser and the waveshaper.
# For each, what its controls mean and in which units.
#
# **Prerequisites.** Tutorial 11 (a processor is `controls` then `render`; audio is
# `(batch, n_samples)`, controls `(batch, n_frames, channels)`). Reading a spectrogram (time
# across, frequency up, brightness = energy).

# %%
import math

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import FM
from torchddsp import Compressor
from torchddsp import ExpDecayReverb
from torchddsp import FDNReverb
from torchddsp import FilteredNoise
from torchddsp import FilteredNoiseReverb
from torchddsp import FIRFilter
from torchddsp import Harmonic
from torchddsp import ModDelay
from torchddsp import ParametricEQ
from torchddsp import Phaser
from torchddsp import Reverb
from torchddsp import Sinusoidal
from torchddsp import Waveshaper
from torchddsp import Wavetable

# These tensors are small: one thread is fastest (no thread hand-offs) and timings stay steady.
torch.set_num_threads(1)
torch.manual_seed(0)
SAMPLE_RATE = 16000
FRAME_RATE = 100
HOP = SAMPLE_RATE // FRAME_RATE  # 160 samples per frame
N_FRAMES = 150  # 1.5 s
N_SAMPLES = N_FRAMES * HOP
time_frames = torch.arange(N_FRAMES) / FRAME_RATE  # seconds, one value per frame


def frames(values: torch.Tensor) -> torch.Tensor:
    """A per-frame curve ``(n_frames,)`` or ``(n_frames, channels)`` as a control
    ``(1, n_frames, channels)``."""
    return values.reshape(1, N_FRAMES, -1).float()


def show(sounds: dict[str, torch.Tensor], title: str) -> None:
    """One spectrogram per sound, side by side, and a player for each."""
    fig, axes = plt.subplots(1, len(sounds), figsize=(3.6 * len(sounds), 2.8), squeeze=False)
    for ax, (name, audio) in zip(axes[0], sounds.items()):
        ax.specgram(audio[0].detach().numpy(), NFFT=512, noverlap=384, Fs=SAMPLE_RATE, cmap="magma", vmin=-120)
        ax.set(title=name, xlabel="time (s)")
    axes[0][0].set_ylabel("frequency (Hz)")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    for name, audio in sounds.items():
        print(name)
        display(Audio(audio[0].detach().numpy(), rate=SAMPLE_RATE))


# %% [markdown]
# ## Sources
#
# All synthesizers take frame-rate controls and render `n_samples` (a whole number of hops).
# We give controls in physical units, so each is built with its scale function off
# (`scale_fn=None`); in a model the defaults map raw network outputs instead.
#
# - **Harmonic**: amplitude, a distribution over harmonics (normalised per frame) and `f0_hz`.
#   A bowed-string-like note: a swell, a 5.5 Hz vibrato, brighter as it gets louder.
# - **FilteredNoise**: white noise through a per-frame magnitude response of `n_bands` values
#   from 0 Hz to Nyquist. A breath whose resonance sweeps up.
# - **Sinusoidal**: free sinusoids, each with its own frequency and amplitude per frame. A
#   bell: inharmonic partials, the high ones dying first.
# - **Wavetable**: one cycle of a waveform per frame played at `f0_hz`; here a table morphing
#   from a sine to a square.
# - **FM**: sine operators at ratios of `f0_hz`, one modulating the next; the modulator's
#   level (radians of modulation per unit) sets the brightness. A decaying electric-piano tone.

# %%
swell = torch.sin(math.pi * time_frames / time_frames[-1]) ** 2  # 0 -> 1 -> 0
vibrato = 1.0 + 0.006 * torch.sin(2 * math.pi * 5.5 * time_frames)
k = torch.arange(1, 41)
brightness = 1.0 + 2.5 * swell  # harmonics fall off more slowly when loud
distribution = (k[None, :].float() ** -(4.0 - brightness[:, None])) * (1 + 0.3 * (k % 2))
violin_like = Harmonic(SAMPLE_RATE, scale_fn=None)(
    frames(0.4 * swell), frames(distribution), frames(293.66 * vibrato), n_samples=N_SAMPLES
)

n_bands = 65
band_hz = torch.linspace(0, SAMPLE_RATE / 2, n_bands)
centre_hz = 300.0 * 2 ** (4 * time_frames / time_frames[-1])  # 300 Hz up 4 octaves
resonance = torch.exp(-0.5 * ((band_hz[None, :] - centre_hz[:, None]) / 400.0) ** 2)
breath = FilteredNoise(scale_fn=None)(frames(0.05 + 0.6 * resonance * swell[:, None]), n_samples=N_SAMPLES, seed=0)

ratios = torch.tensor([1.0, 2.76, 5.40, 8.93, 13.34])  # a bar's modes, not harmonics
decays = torch.tensor([1.5, 3.0, 5.0, 8.0, 12.0])  # 1/s: high partials die first
bell_amps = 0.2 * torch.exp(-decays[None, :] * time_frames[:, None]) / (1 + torch.arange(5))
bell = Sinusoidal(SAMPLE_RATE, amplitude_scale_fn=None, frequency_scale_fn=None)(
    frames(bell_amps), frames(440.0 * ratios.expand(N_FRAMES, 5)), n_samples=N_SAMPLES
)

table_size = 256
phase = torch.linspace(0, 2 * math.pi, table_size + 1)[:-1]
morph = (time_frames / time_frames[-1])[:, None]
tables = (1 - morph) * torch.sin(phase) + morph * torch.tanh(8 * torch.sin(phase))  # sine -> square
wavetable = Wavetable(SAMPLE_RATE, scale_fn=None)(
    frames(torch.full((N_FRAMES,), 0.3)), tables[None], frames(torch.full((N_FRAMES,), 196.0)), n_samples=N_SAMPLES
)

decay = torch.exp(-2.5 * time_frames)
levels = torch.stack([0.5 * decay, 0.25 * decay**2], dim=-1)  # carrier level, modulator level
electric_piano = FM(SAMPLE_RATE, ratios=(1.0, 1.0), scale_fn=None)(
    frames(torch.full((N_FRAMES,), 261.63)), frames(levels), n_samples=N_SAMPLES
)

show(
    {
        "Harmonic": violin_like,
        "FilteredNoise": breath,
        "Sinusoidal": bell,
        "Wavetable": wavetable,
        "FM": electric_piano,
    },
    "Five synthesizers",
)

# %% [markdown]
# ## A dry phrase for the effects
#
# The effects take audio `(batch, n_samples)` and return audio of the same length. Their
# test signal: a short plucked phrase (harmonic plucks plus a click of noise at each onset),
# with a loud and a quiet half so the dynamics processors have something to do.

# %%
notes_hz = [220.0, 277.18, 329.63, 440.0, 329.63, 277.18]
note_frames = N_FRAMES // len(notes_hz)
f0 = torch.tensor(notes_hz).repeat_interleave(note_frames)
since_onset = (torch.arange(N_FRAMES) % note_frames) / FRAME_RATE
loudness = torch.where(torch.arange(N_FRAMES) < N_FRAMES // 2, 0.6, 0.12)
pluck_amps = loudness * torch.exp(-6.0 * since_onset)
pluck_distribution = (k[None, :].float() ** -1.5) * torch.exp(-k[None, :] * since_onset[:, None] * 2.0)
dry = Harmonic(SAMPLE_RATE, scale_fn=None)(
    frames(pluck_amps), frames(pluck_distribution), frames(f0), n_samples=N_SAMPLES
)
click = torch.exp(-200.0 * since_onset)[:, None] * loudness[:, None] * torch.ones(1, 33) * 0.3
dry = dry + FilteredNoise(scale_fn=None)(frames(click), n_samples=N_SAMPLES, seed=1)
show({"dry phrase": dry}, "The effects' input")

# %% [markdown]
# ## Reverbs
#
# A reverb is a convolution with a room's impulse response (IR). The four reverbs differ in
# where the IR comes from:
#
# - `Reverb`: the IR itself, given (here: two early reflections and a noise tail made by
#   hand) or learned tap by tap (`trainable=True`, what the DDSP autoencoder does).
# - `ExpDecayReverb`: noise under an exponential decay, two controls: `gain` and `decay`
#   (raw values through `exp_sigmoid` and `2 + exp(decay)`: larger `decay`, shorter room).
# - `FilteredNoiseReverb`: noise filtered per band and per time frame, so each band decays at
#   its own rate (here the highs die faster, as in a real room with absorbent walls).
# - `FDNReverb`: a feedback delay network, a recirculating structure with a reverberation
#   time (RT60: seconds to fall 60 dB) per band; no stored noise at all.
#
# The first tap of every IR is zeroed: the dry signal is added separately (`add_dry=True`).

# %%
ir_length = SAMPLE_RATE  # one second of tail
t_ir = torch.arange(ir_length) / SAMPLE_RATE
hand_made_ir = 0.01 * torch.randn(ir_length) * torch.exp(-6.0 * t_ir)
hand_made_ir[int(0.011 * SAMPLE_RATE)] += 0.4  # reflections from two walls
hand_made_ir[int(0.023 * SAMPLE_RATE)] += 0.3

exp_reverb = ExpDecayReverb(reverb_length=ir_length)
exp_controls = exp_reverb.controls(dry, torch.tensor([[-2.0]]), torch.tensor([[1.5]]))

n_ir_frames, n_banks = 50, 16
bank_decay = torch.linspace(2.0, 14.0, n_banks)  # per band, low to high
ir_frame_times = torch.arange(n_ir_frames)[:, None] * (ir_length / n_ir_frames / SAMPLE_RATE)
noise_reverb = FilteredNoiseReverb(reverb_length=ir_length, n_frames=n_ir_frames, n_filter_banks=n_banks, scale_fn=None)
noise_magnitudes = (0.02 * torch.exp(-bank_decay[None, :] * ir_frame_times))[None]

fdn = FDNReverb(SAMPLE_RATE, rt60_s=[1.8, 0.7], band_edges_hz=[2500.0], wet_gain=0.5)

wet = {
    "Reverb (given IR)": Reverb()(dry, hand_made_ir[None]),
    "ExpDecayReverb": exp_reverb.render(**exp_controls),
    "FilteredNoiseReverb": noise_reverb(dry, noise_magnitudes),
    "FDNReverb": fdn(dry),
}
impulse_responses = {
    "Reverb (given IR)": hand_made_ir,
    "ExpDecayReverb": exp_controls["ir"][0],
    "FilteredNoiseReverb": noise_reverb.controls(dry, noise_magnitudes)["ir"][0],
    "FDNReverb": fdn.impulse_response()[0],
}
fig, axes = plt.subplots(1, 4, figsize=(14, 2.6), sharey=True)
for ax, (name, ir) in zip(axes, impulse_responses.items()):
    envelope_db = 20 * torch.log10(ir.abs().unfold(0, 160, 160).amax(-1) + 1e-6)
    ax.plot(torch.arange(envelope_db.numel()) * 0.01, envelope_db)
    ax.set(title=name, xlabel="time (s)", ylim=(-100, 0))
axes[0].set_ylabel("IR level (dB, 10 ms peaks)")
fig.tight_layout()
plt.show()
show(wet, "The reverb family")

# %% [markdown]
# ## Equalisers and filters
#
# `ParametricEQ` is a chain of biquad sections: an optional low shelf, `n_peaks` peaking
# bands, an optional high shelf, each with a frequency (Hz), a gain (dB) and a Q. Its
# frequency response is the spectrum of its impulse response, which we can simply measure.
# `FIRFilter` is different: a linear-phase FIR filter whose magnitude response is a control
# *per frame*, so it can move; here a low-pass that opens and closes over a synth chord.

# %%
eq = ParametricEQ(SAMPLE_RATE, n_peaks=1)
print("bands:", eq.modes)
eq_controls = (
    torch.tensor([[150.0, 1000.0, 5000.0]]),
    torch.tensor([[9.0, -15.0, 6.0]]),
    torch.tensor([[0.7, 2.0, 0.7]]),
)
impulse = torch.zeros(1, 8192)
impulse[0, 0] = 1.0
response_db = 20 * torch.log10(torch.fft.rfft(eq(impulse, *eq_controls)).abs()[0])
freqs = torch.fft.rfftfreq(8192, 1 / SAMPLE_RATE)
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.semilogx(freqs[1:], response_db[1:])
for f, g in zip(*[c[0] for c in eq_controls[:2]]):
    ax.plot(f, g, "o", color="C3")
ax.set(xlabel="frequency (Hz)", ylabel="gain (dB)", title="ParametricEQ: low shelf, peak (cut), high shelf")
ax.grid(True, which="both", alpha=0.3)
plt.show()

chord = Harmonic(SAMPLE_RATE, scale_fn=None)(
    frames(torch.full((N_FRAMES,), 0.3)),
    frames((1.0 / k.float()).expand(N_FRAMES, 40)),
    frames(torch.full((N_FRAMES,), 110.0)),
    n_samples=N_SAMPLES,
)
cutoff_hz = 200.0 + 3000.0 * torch.sin(math.pi * time_frames / time_frames[-1]) ** 2
bins_hz = torch.linspace(0, SAMPLE_RATE / 2, 129)
low_pass = torch.sigmoid((cutoff_hz[:, None] - bins_hz[None, :]) / 100.0)  # (n_frames, n_bins)
show(
    {
        "dry phrase": dry,
        "ParametricEQ": eq(dry, *eq_controls),
        "saw at 110 Hz": chord,
        "FIRFilter sweep": FIRFilter(scale_fn=None)(chord, frames(low_pass)),
    },
    "EQ and a moving FIR filter",
)

# %% [markdown]
# ## Dynamics: compressor, limiter, expander
#
# A compressor measures the level (with attack and release times), and above `threshold_db`
# reduces the gain so that each dB in gives `1 / ratio` dB out; `makeup_db` lifts the result.
# `gain_db(audio)` returns the gain it applied, sample by sample, which makes the behaviour
# visible: reduction at each loud onset, the makeup gain alone on the quiet half. The limiter
# (an infinite ratio) takes back every dB of level above its threshold, after its attack time
# (1 ms by default: only an onset's first millisecond gets through); the expander does the
# opposite of a compressor, pushing what is already quiet further down (a gate when the ratio
# is large).

# %%
compressor = Compressor(SAMPLE_RATE, threshold_db=-24.0, ratio=6.0, attack_s=0.003, release_s=0.08, makeup_db=8.0)
limiter = Compressor.limiter(SAMPLE_RATE, threshold_db=-12.0)
expander = Compressor.expander(SAMPLE_RATE, threshold_db=-30.0, ratio=4.0)
t = torch.arange(N_SAMPLES) / SAMPLE_RATE
fig, axes = plt.subplots(2, 1, figsize=(9, 4), sharex=True)
axes[0].plot(t, dry[0], linewidth=0.4, label="dry")
axes[0].plot(t, compressor(dry)[0], linewidth=0.4, alpha=0.7, label="compressed")
axes[0].legend(loc="upper right")
for name, processor in (("compressor", compressor), ("limiter", limiter), ("expander", expander)):
    axes[1].plot(t, processor.gain_db(dry)[0], label=name)
axes[1].set(xlabel="time (s)", ylabel="gain (dB)")
axes[1].legend(loc="lower right")
fig.tight_layout()
plt.show()
for name, audio in {"compressor": compressor(dry), "limiter": limiter(dry), "expander": expander(dry)}.items():
    print(f"{name}: peak {audio.abs().max():.2f} (dry {dry.abs().max():.2f})")
    display(Audio(audio[0].numpy(), rate=SAMPLE_RATE, normalize=False))

# %% [markdown]
# ## Modulated delay: chorus and flanger
#
# `ModDelay` delays the signal by `center_s + depth_s * phase` seconds with `phase` in [0, 1]
# a frame-rate control (a sigmoid maps raw values by default; we give it directly), scales
# the delayed copy by `gain` and adds the dry signal. A slow wobble around 15 ms thickens the
# sound (chorus); a sweep of a few milliseconds with a loud copy makes the comb-filter whoosh
# of a flanger, clearest on noise.

# %%
lfo = 0.5 + 0.5 * torch.sin(2 * math.pi * 1.2 * time_frames)
chorus = ModDelay(center_s=0.015, depth_s=0.008, sample_rate=SAMPLE_RATE, gain_scale_fn=None, phase_scale_fn=None)
flanger = ModDelay(center_s=0.0005, depth_s=0.004, sample_rate=SAMPLE_RATE, gain_scale_fn=None, phase_scale_fn=None)
noise = 0.2 * torch.rand(1, N_SAMPLES) - 0.1
slow_lfo = 0.5 + 0.5 * torch.sin(2 * math.pi * 0.7 * time_frames)
show(
    {
        "chorus": chorus(violin_like, frames(torch.full((N_FRAMES,), 0.7)), frames(lfo)),
        "flanger on noise": flanger(noise, frames(torch.full((N_FRAMES,), 0.9)), frames(slow_lfo)),
    },
    "ModDelay",
)

# %% [markdown]
# ## Phaser
#
# A phaser sends the signal through a chain of all-pass filters (which shift phase, not
# level) and mixes it with the dry signal: where the two are out of phase, notches appear.
# An internal LFO sweeps the all-passes' break frequency by octaves around a centre
# (`controls` returns the sweep it will render, so it can be plotted); `sweep="control"`
# takes the sweep as a frame-rate control instead.

# %%
phaser = Phaser(SAMPLE_RATE, n_stages=6, rate_hz=0.8, depth_octaves=2.0, center_hz=700.0, feedback=0.6)
sweep = phaser.controls(noise)["sweep_hz"]
fig, ax = plt.subplots(figsize=(7, 2.4))
ax.plot(t, sweep[0])
ax.set(xlabel="time (s)", ylabel="Hz", yscale="log", title="Phaser: the LFO's sweep")
plt.show()
show({"phaser on noise": phaser(noise), "phaser on the violin": phaser(violin_like)}, "Phaser")

# %% [markdown]
# ## Waveshaper
#
# A static curve applied to every sample (`tanh`, soft or hard clipping, or a learnable sum of
# Chebyshev polynomials), after a drive in dB; a `bias` makes it asymmetric (even harmonics).
# More drive, more harmonics. `oversampling` renders the curve at a higher rate first so the
# new harmonics above Nyquist do not fold back down as aliasing.

# %%
shaper = Waveshaper("tanh", oversampling=2)
drive_db = frames(torch.linspace(0.0, 30.0, N_FRAMES))  # per frame: a slow crank of the drive
show(
    {
        "sine, drive 0 -> 30 dB": shaper(
            Harmonic(SAMPLE_RATE, scale_fn=None)(
                frames(torch.full((N_FRAMES,), 0.5)),
                frames(torch.ones(N_FRAMES, 1)),
                frames(torch.full((N_FRAMES,), 220.0)),
                n_samples=N_SAMPLES,
            ),
            drive_db,
            torch.zeros(1, 1),
        ),
        "phrase, asymmetric": Waveshaper("soft_clip")(dry, torch.full((1, 1), 18.0), torch.full((1, 1), 0.3)),
    },
    "Waveshaper",
)

# %% [markdown]
# **Take-aways.** Every source is driven by frame-rate controls in physical units (or raw
# values through its scale functions), every effect maps audio to audio of the same length,
# and all of them are processors: they can be wired into a `ProcessorGroup` (tutorial 11),
# their controls can come from a network, and gradients flow through all of them. Each also
# streams block by block with `state=` / `return_state=True` (tutorial 14 streams a whole
# model).
