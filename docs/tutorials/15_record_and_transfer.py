# %% [markdown]
# # 15. Record yourself and transfer
#
# **What this teaches.** Turning your own voice (or whistling, or any monophonic instrument)
# into a violin or a flute. We record a few seconds from the microphone, check that the
# recording is usable (level, pitch confidence), transfer it with a bundled model, save the
# result, and finally run the same model live, from the microphone to the speakers, with the
# streaming callback a sound card calls.
#
# The microphone needs the `[live]` extra (`pip install 'torchddsp[live]'`: `sounddevice`,
# which uses the PortAudio library) and a sound input device. Without them (on a server, in
# CI) the notebook says why, uses a bundled recording instead, and shows the live code
# without running it; everything else runs the same.
#
# **Prerequisites.** Tutorial 14 (transfer, auto-adjust, `TransferStream`).

# %%
import importlib.resources
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.features import a_weighted_loudness
from torchddsp.features import estimate_f0
from torchddsp.features.pitch import CONFIDENCE_THRESHOLD
from torchddsp.io import read_audio
from torchddsp.io import write_audio
from torchddsp.streaming import LiveCallback
from torchddsp.streaming import TransferStream
from torchddsp.transfer import feature_statistics
from torchddsp.transfer import load_model
from torchddsp.transfer import transfer

# Small models on a CPU: one thread is fastest (no thread hand-offs) and timings stay steady.
torch.set_num_threads(1)
RECORD_SECONDS = 4.0
MODEL_RATE = 16000  # the bundled models' sample rate

# %% [markdown]
# ## Is there a microphone?
#
# `sounddevice` may be missing, its PortAudio library may be missing (importing it then
# raises `OSError`), or there may be no input device. Each case gives a reason, and
# `microphone` stays `None`. In CI (the `CI` environment variable set) we never record.


# %%
def find_microphone():
    """``(sounddevice module, input device info)``, or ``(None, reason)``."""
    if os.environ.get("CI"):
        return None, "running in CI: no recording"
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        return None, f"sounddevice unavailable ({error}); pip install 'torchddsp[live]'"
    try:
        return sounddevice, sounddevice.query_devices(kind="input")
    except Exception as error:  # PortAudioError and friends: no default input device
        return None, f"no input device ({error})"


sounddevice, microphone = find_microphone()
live = sounddevice is not None
print("microphone:", microphone["name"] if live else f"none: {microphone}")

# %% [markdown]
# ## Record (or fall back to a bundled clip)
#
# `sounddevice.rec` records into a NumPy array at the device's own rate (often 44.1 or
# 48 kHz); `transfer` resamples any whole rate to the model's. Sing one note per syllable,
# close to the microphone, in a quiet room: the models hear only pitch and loudness, and
# background noise or a second voice confuses the pitch tracker.
#
# The fallback is the second half of the sung melody bundled with torchddsp.

# %%
if live:
    rate = int(microphone["default_samplerate"])
    print(f"recording {RECORD_SECONDS} s at {rate} Hz: sing now!")
    frames = sounddevice.rec(int(RECORD_SECONDS * rate), samplerate=rate, channels=1, dtype="float32")
    sounddevice.wait()  # rec returns at once; wait until the buffer is full
    recording = torch.from_numpy(frames[:, 0].copy())
else:
    rate = MODEL_RATE
    clip = importlib.resources.files("torchddsp") / "assets" / "voice_melody.flac"
    recording = read_audio(str(clip), rate)[int(3.8 * rate) :]
    print(f"using the bundled clip instead: {recording.numel() / rate:.1f} s at {rate} Hz")
display(Audio(recording.numpy(), rate=rate))

# %% [markdown]
# ## Is the recording usable?
#
# Three checks before transferring: the peak (a clipped recording, at 1.0, sounds harsh
# through any model; a very quiet one is mostly noise), the share of *pitched* frames (YIN's
# confidence of at least 0.85; a model renders unpitched frames as quiet noise), and a look
# at the curves the model will be given.

# %%
audio = recording[None]  # (1, n_samples)
f0_hz, confidence = estimate_f0(audio, rate, 250, method="yin", min_hz=80.0, max_hz=1000.0)
loudness_db = a_weighted_loudness(audio, rate, 250)
peak = recording.abs().max().item()
pitched = confidence[0] >= CONFIDENCE_THRESHOLD
print(
    f"peak {peak:.2f} ({20 * np.log10(max(peak, 1e-9)):.1f} dBFS); pitched frames {100 * pitched.float().mean():.0f} %"
)
if peak > 0.99:
    print("the recording clips: record again a little further from the microphone")
if pitched.float().mean() < 0.3:
    print("few pitched frames: sing louder, closer, or hold the notes longer")

seconds = torch.arange(f0_hz.shape[1]) / 250
fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
dither = 1e-7 * np.random.default_rng(0).standard_normal(recording.numel())  # log of digital silence
axes[0].specgram(recording.numpy() + dither, NFFT=1024, noverlap=768, Fs=rate, cmap="magma", vmin=-120)
axes[0].set(ylabel="Hz", ylim=(0, 4000), title="your recording")
axes[1].plot(seconds, torch.where(pitched, f0_hz[0], torch.nan))
axes[1].set(ylabel="f0 (Hz), pitched")
axes[2].plot(seconds, loudness_db[0])
axes[2].set(ylabel="loudness (dB)", xlabel="time (s)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Transfer and save
#
# One call per model, as in tutorial 14 (auto-adjust on: the octave and the loudness are moved
# to each model's training data). `write_audio` saves a WAV (atomically: written under a
# temporary name and renamed). `write_transfer` would add a PNG of the curves and a JSON of
# the adjustments; `torchddsp transfer my_take.wav --model violin -o out.wav` does the same
# from a shell.

# %%
out_dir = Path(tempfile.mkdtemp(prefix="torchddsp_tutorial_15_"))
transfers = {}
for name in ("violin", "flute"):
    result = transfer(recording, rate, name, f0_method="yin")
    transfers[name] = result
    write_audio(out_dir / f"my_take_{name}.wav", result["audio"], result["sample_rate"])
    print(name, result["adjustments"]["octave_shift_semitones"], "semitones of octave shift")
    display(Audio(result["audio"].numpy(), rate=result["sample_rate"]))
print("written:", sorted(p.name for p in out_dir.iterdir()))

fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), sharey=True)
for ax, (name, result) in zip(axes, transfers.items()):
    ax.specgram(result["audio"].numpy(), NFFT=512, noverlap=384, Fs=result["sample_rate"], cmap="magma", vmin=-120)
    ax.set(title=f"your take as a {name}", xlabel="time (s)", ylim=(0, 4000))
axes[0].set_ylabel("Hz")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Live: from the microphone to the speakers
#
# `TransferStream` renders block by block (tutorial 14). For a live run, auto-adjust needs
# the singer's statistics up front: take them from the take just recorded
# (`feature_statistics`). `LiveCallback` is the audio callback a `sounddevice.Stream` calls
# every block (`callback(indata, outdata, frames, time, status)`): it reads the first input
# channel, runs the stream, and writes every output channel. Its state lives in the object,
# as a sound card's callback has nowhere else to keep it.
#
# Without a device we call it exactly as the sound card would, with NumPy buffers of 256
# frames, and time it: live, every call must finish within the block's 16 ms, or the sound
# card runs dry and clicks. On an idle laptop a call takes a few milliseconds (the README's
# benchmark: 2.4 ms at the 99th percentile on a 2-core VM); a busy machine, or the first
# calls, can be slower: the plot shows this machine right now.

# %%
violin = load_model("violin")
take = recording if rate == MODEL_RATE else transfers["violin"]["input_audio"]  # at the model's rate
statistics = feature_statistics(f0_hz, loudness_db, confidence)
stream = TransferStream(violin, f0_method="yin", input_statistics=statistics)
callback = LiveCallback(stream)
block = 256
indata = np.zeros((block, 1), dtype=np.float32)
outdata = np.zeros((block, 2), dtype=np.float32)  # a stereo output: every channel gets the audio
pieces = []
for start in range(0, take.numel() - block + 1, block):
    indata[:, 0] = take[start : start + block].numpy()
    callback(indata, outdata, block, None, None)
    pieces.append(outdata[:, 0].copy())
played = np.concatenate(pieces)
times_ms = 1000 * np.asarray(callback.seconds)
print(
    f"{len(times_ms)} callbacks of {1000 * block / MODEL_RATE:.0f} ms: median {np.median(times_ms):.2f} ms, "
    f"slowest {times_ms.max():.2f} ms; latency {1000 * stream.latency_s:.1f} ms"
)
display(Audio(played, rate=MODEL_RATE))

fig, ax = plt.subplots(figsize=(7, 2.6))
ax.plot(times_ms, ".", markersize=3)
ax.axhline(1000 * block / MODEL_RATE, color="C3", linestyle=":", label="the block's duration: the deadline")
ax.set(xlabel="callback", ylabel="compute (ms)", title="Time per audio callback", ylim=(0, None))
ax.legend()
plt.show()

# %% [markdown]
# With a sound device, the real thing is three lines (`run_live` wraps exactly this; so does
# `torchddsp stream --model violin --live`). It plays until the time is up; use headphones,
# or the speakers feed back into the microphone.

# %%
if live:
    live_stream = sounddevice.Stream(
        samplerate=MODEL_RATE, blocksize=block, channels=1, dtype="float32", callback=LiveCallback(stream)
    )
    with live_stream:
        sounddevice.sleep(int(RECORD_SECONDS * 1000))
else:
    print("no sound device: the live run is skipped")

# %% [markdown]
# **Take-aways.** A recording for timbre transfer wants one clean, monophonic source; check its
# peak and its pitched frames before blaming the model. The same model runs offline
# (`transfer`) and live (`TransferStream` in a sound card's callback) with the same result,
# a fixed latency apart. To play *your* instrument's timbre, train a model on it (tutorial 13,
# at full size) and pass its run folder wherever we wrote `"violin"`.
