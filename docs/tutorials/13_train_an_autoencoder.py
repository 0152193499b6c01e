# %% [markdown]
# # 13. Train a DDSP autoencoder
#
# **What this teaches.** The DDSP autoencoder end to end, in miniature. From a recording we
# *prepare* a dataset (f0, its confidence and loudness measured at 250 frames per second, cut
# into examples, a held-out part split off, statistics kept for later), build the model (a
# small recurrent decoder turns f0 and loudness into the controls of a harmonic synthesizer,
# filtered noise and a reverb), train it with a multi-scale spectral loss between its render
# and the recording, first with a hand-written loop to see every moving part, then with
# `train`, which adds schedules, logs, evaluation and checkpoints. Finally we listen to a
# reconstruction of audio the model never trained on.
#
# Everything is tiny so that it runs in seconds on a laptop CPU: 8 seconds of audio, a
# decoder of 48 units, a few dozen steps. The loss falls and the reconstruction takes the
# pitch and loudness of the held-out phrase, but it is far from a good model: the bundled
# models (tutorial 14) trained for 2500 steps on 15 minutes of audio with `cpu_small`.
#
# **Prerequisites.** Tutorials 11 and 12 (processors and the synthesizers); PyTorch training
# loops (`optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`).

# %%
import importlib.resources
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.configs import AutoencoderConfig
from torchddsp.configs import DataConfig
from torchddsp.configs import ExperimentConfig
from torchddsp.configs import TrainConfig
from torchddsp.losses import MultiScaleSpectralLoss
from torchddsp.models import Autoencoder
from torchddsp.training import FeatureDataset
from torchddsp.training import evaluate_model
from torchddsp.training import prepare_dataset
from torchddsp.training import train
from torchddsp.transfer import load_model

# A tiny model on a CPU: one thread is fastest (no thread hand-offs) and timings stay steady.
torch.set_num_threads(1)
torch.manual_seed(0)
work = Path(tempfile.mkdtemp(prefix="torchddsp_tutorial_13_"))

# %% [markdown]
# ## A tiny dataset from one recording
#
# `prepare_dataset` reads every audio file of a folder (any format, rate and channel count),
# resamples to the model's rate and measures each frame's f0 and loudness. Our folder holds
# one file: the 7.7 s sung melody bundled with torchddsp. With fewer than
# `min_files_for_file_split` files, the held-out (eval) part is the *end* of each file:
# here the last 20 %, which the model will never train on. Examples are 1 s long, every
# 0.25 s. f0 is measured with YIN (fast, no extra weights; `f0_method="crepe"` is the
# accurate choice for real recordings).

# %%
audio_dir = work / "recordings"
audio_dir.mkdir()
melody = importlib.resources.files("torchddsp") / "assets" / "voice_melody.flac"
shutil.copy(str(melody), audio_dir / "voice_melody.flac")

model_config = AutoencoderConfig(
    n_harmonics=24, n_noise_bands=17, reverb_s=0.02, hidden_size=48, rnn_size=48, layers_per_stack=1
)
data_config = DataConfig(example_s=1.0, example_hop_s=0.25, f0_method="yin", eval_fraction=0.2)
metadata = prepare_dataset(audio_dir, work / "dataset", model_config, data_config, show_progress=False)
print("examples:", metadata["examples"], " seconds:", metadata["seconds"])
print("held out from", metadata["eval_from_s"], "s")
statistics = metadata["statistics"]
print("statistics kept for timbre transfer:", sorted(statistics))

# %% [markdown]
# Each example is a dict of audio and the frame-rate features the model is conditioned on.
# The confidence tells pitched frames (a note) from unpitched ones (breaths, silence).

# %%
train_set = FeatureDataset(work / "dataset", "train")
eval_set = FeatureDataset(work / "dataset", "eval")
example = train_set[4]
print({key: tuple(value.shape) for key, value in example.items()})

seconds = torch.arange(example["f0_hz"].numel()) / model_config.frame_rate
fig, axes = plt.subplots(3, 1, figsize=(8, 5), sharex=True)
axes[0].plot(torch.arange(example["audio"].numel()) / model_config.sample_rate, example["audio"], linewidth=0.4)
axes[0].set_ylabel("audio")
axes[1].plot(seconds, example["f0_hz"])
axes[1].set_ylabel("f0 (Hz)")
confidence_axis = axes[1].twinx()
confidence_axis.plot(seconds, example["confidence"], color="C1", alpha=0.6)
confidence_axis.set(ylabel="confidence", ylim=(0, 1.05))
axes[2].plot(seconds, example["loudness_db"])
axes[2].set(ylabel="loudness (dB)", xlabel="time (s)")
fig.suptitle("One training example")
fig.tight_layout()
plt.show()
display(Audio(example["audio"].numpy(), rate=model_config.sample_rate))

# %% [markdown]
# ## The model, untrained
#
# `Autoencoder` scales f0 (as MIDI / 127) and loudness, runs the decoder (an MLP per input,
# a GRU, an MLP) and splits its output into the raw controls of a `ProcessorGroup`:
# `Harmonic` plus `FilteredNoise`, then a trainable `Reverb`. Its output dict holds the audio
# and every control. Untrained, it plays the right pitch (f0 goes straight to the
# synthesizer) with a random timbre and the wrong loudness.

# %%
model = Autoencoder(model_config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
held_out = eval_set[len(eval_set) - 1]


def reconstruct(net: Autoencoder, item: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's render of an example's f0 and loudness, ``(n_samples,)``."""
    with torch.no_grad():
        return net(item["f0_hz"][None], item["loudness_db"][None], seed=0)["audio"][0]


before = reconstruct(model, held_out)
print("output keys:", sorted(model(held_out["f0_hz"][None], held_out["loudness_db"][None], seed=0)))
display(Audio(before.numpy(), rate=model_config.sample_rate))

# %% [markdown]
# ## Training by hand
#
# The DDSP objective: render audio from the features, compare it with the recording through
# a multi-scale spectral loss (L1 distances of magnitude and log-magnitude spectrograms at
# FFT sizes 2048 down to 64, Magenta's settings), and descend. Phase does not enter the loss,
# so the synthesizer's phases need not match the recording's. Batches of 4 random examples.

# %%
loss_fn = MultiScaleSpectralLoss.magenta()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
generator = torch.Generator().manual_seed(0)
losses = []
for _ in range(30):
    indices = torch.randint(len(train_set), (4,), generator=generator).tolist()
    batch = {key: torch.stack([train_set[i][key] for i in indices]) for key in example}
    output = model(batch["f0_hz"], batch["loudness_db"], generator=generator)["audio"]
    loss = loss_fn(output, batch["audio"])
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
    optimizer.step()
    losses.append(loss.item())
print(f"loss: first 5 steps {np.mean(losses[:5]):.2f}, last 5 steps {np.mean(losses[-5:]):.2f}")

# %% [markdown]
# ## The same with `train`
#
# `train(config, dataset_dir, run_dir)` runs this loop with everything a real run needs:
# a learning-rate schedule, gradient clipping, batches drawn reproducibly from a seed,
# `train.csv` and `eval.csv` logs, evaluation on the held-out split and atomic checkpoints
# (which `--resume` continues). It starts a fresh model from the config. We give it the same
# 30 steps (a real run: thousands, e.g. the shipped `cpu_small` config).

# %%
config = ExperimentConfig(
    name="tiny_voice",
    model=model_config,
    data=data_config,
    train=TrainConfig(
        batch_size=4,
        steps=30,
        learning_rate=3e-3,
        log_every=2,
        eval_every=30,
        eval_examples=4,
        checkpoint_every=30,
        samples_every=1000,
    ),
)
backend = plt.get_backend()
summary = train(config, work / "dataset", work / "run", show_progress=False)
plt.switch_backend(backend)  # train() drew training_curves.png with matplotlib's file backend
print("summary:", {k: v for k, v in summary.items() if k != "eval"})
print("held-out metrics:", {k: round(v, 3) for k, v in summary["eval"].items()})
print("run folder:", sorted(p.name for p in (work / "run").iterdir()))

log = np.genfromtxt(work / "run" / "train.csv", delimiter=",", names=True)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(np.arange(1, len(losses) + 1), losses, alpha=0.6, label="hand-written loop (per step)")
ax.plot(log["step"], log["loss"], "o-", markersize=3, label="train() (train.csv, every 2 steps)")
ax.set(xlabel="step", ylabel="multi-scale spectral loss", title="The loss falls")
ax.legend()
plt.show()
assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), "the loss should fall"

# %% [markdown]
# ## A held-out reconstruction
#
# The run folder is a model: `load_model(run_dir)` reads its newest checkpoint (weights
# checked against their SHA-256), its config and the dataset statistics. We render the last
# held-out example, which no step trained on, and compare spectrograms. `evaluate_model`
# gives DDSP's resynthesis metrics on a split (loudness and f0 distances between the
# recording and the render, and the spectral loss).

# %%
loaded = load_model(work / "run")
after = reconstruct(loaded.model, held_out)
sounds = {"recording (held out)": held_out["audio"], "untrained": before, "after 30 steps": after}
fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
for ax, (name, audio) in zip(axes, sounds.items()):
    ax.specgram(audio.numpy(), NFFT=512, noverlap=384, Fs=model_config.sample_rate, cmap="magma", vmin=-120)
    ax.set(title=name, xlabel="time (s)", ylim=(0, 4000))
axes[0].set_ylabel("frequency (Hz)")
fig.tight_layout()
plt.show()
for name, audio in sounds.items():
    print(name)
    display(Audio(audio.numpy(), rate=model_config.sample_rate))
print(
    "metrics of the hand-trained model:",
    {k: round(v, 3) for k, v in evaluate_model(model, eval_set, 4, f0_method="yin").items()},
)

# %%
shutil.rmtree(work)  # the temporary dataset and run

# %% [markdown]
# **Take-aways.** A DDSP model never predicts samples: it predicts a few hundred synthesizer
# controls per second, and the spectral loss trains it through the differentiable
# synthesizer. That is why a model this small already follows the recording's pitch and
# loudness after 30 steps, and why the bundled models fit in 1.2 MB. For your own
# instrument: `torchddsp prepare` on 10-20 minutes of recordings, `torchddsp train cpu_small`,
# then tutorial 14's transfer with `--model runs/yours`.
