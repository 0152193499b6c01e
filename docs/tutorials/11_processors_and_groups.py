# %% [markdown]
# # 11. Processors and processor groups
#
# **What this teaches.** How torchddsp packages DSP for neural networks. A *processor* is a
# PyTorch module in two steps: `controls` turns raw inputs (what a network outputs: any real
# numbers) into physical controls (Hz, linear amplitudes, normalised distributions), and
# `render` turns those controls into audio. We take the two steps apart on the harmonic
# synthesizer, write a processor of our own (a tremolo whose depth is either passed in or
# learned), wire several processors into a *processor group* (a directed acyclic graph
# declared as data, which keeps every intermediate signal and control), and finally train a
# control through the whole graph by gradient descent.
#
# **Prerequisites.** PyTorch modules and autograd (chapter 1); what harmonic and noise
# synthesis sound like helps (chapters 2-3), but nothing here depends on it. Shapes follow the
# library's convention: audio `(batch, n_samples)`, frame-rate controls
# `(batch, n_frames, channels)`.

# %%
import math

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import Add
from torchddsp import FilteredNoise
from torchddsp import Harmonic
from torchddsp import InputError
from torchddsp import Mix
from torchddsp import Node
from torchddsp import Processor
from torchddsp import ProcessorGroup
from torchddsp import Reverb
from torchddsp import Sinusoidal

# These tensors are small: one thread is fastest (no thread hand-offs) and timings stay steady.
torch.set_num_threads(1)
torch.manual_seed(0)
SAMPLE_RATE = 16000
FRAME_RATE = 250  # control frames per second
HOP = SAMPLE_RATE // FRAME_RATE  # 64 samples per frame
N_FRAMES = 250  # one second
N_SAMPLES = N_FRAMES * HOP


def play(audio: torch.Tensor) -> None:
    """An audio player for the first item of a batch."""
    display(Audio(audio[0].detach().numpy(), rate=SAMPLE_RATE))


# %% [markdown]
# ## Step one: `controls` maps network outputs to physical units
#
# `Harmonic` takes three inputs per frame: an overall amplitude `(batch, n_frames, 1)`, a
# harmonic distribution `(batch, n_frames, n_harmonics)` and the fundamental `f0_hz`
# `(batch, n_frames, 1)`. A decoder network outputs arbitrary real numbers, so by default the
# synthesizer maps the amplitude and the distribution through `exp_sigmoid` (positive, at most
# 2), normalises the distribution to sum to one and zeroes the harmonics above Nyquist
# (they would alias). Here random "network outputs" drive a pitch glide from 220 Hz to
# 3.5 kHz: watch the upper harmonics drop out as they pass 8 kHz.

# %%
harmonic = Harmonic(SAMPLE_RATE)
n_harmonics = 16
raw_amplitudes = torch.randn(1, N_FRAMES, 1) * 0.5 + 1.0
raw_distribution = torch.randn(1, N_FRAMES, n_harmonics) * 0.3 - torch.linspace(0, 4, n_harmonics)
f0_hz = torch.logspace(math.log10(220.0), math.log10(3500.0), N_FRAMES).reshape(1, N_FRAMES, 1)

controls = harmonic.controls(raw_amplitudes, raw_distribution, f0_hz)
for name, value in controls.items():
    print(f"{name:22s} {tuple(value.shape)}  min {value.min():.3f}  max {value.max():.3f}")
sums = controls["harmonic_distribution"].sum(-1)
print("distribution sums to one per frame:", torch.allclose(sums, torch.ones_like(sums)))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(raw_distribution[0, :, :4])
axes[0].set(title="raw network outputs (4 harmonics)", xlabel="frame")
image = axes[1].imshow(controls["harmonic_distribution"][0].T, aspect="auto", origin="lower", cmap="magma")
axes[1].set(title="harmonic_distribution after controls", xlabel="frame", ylabel="harmonic")
fig.colorbar(image, ax=axes[1])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Step two: `render` makes audio from the controls
#
# `render` takes the controls by name plus its *render options* (keyword-only, listed in
# `render_options`): for a synthesizer, the number of samples to render from the frames.
# Calling the module runs both steps, `harmonic(...) == harmonic.render(**harmonic.controls(...))`.

# %%
print("Harmonic render options:", harmonic.render_options)
audio = harmonic.render(**controls, n_samples=N_SAMPLES)
same = harmonic(raw_amplitudes, raw_distribution, f0_hz, n_samples=N_SAMPLES)
print("audio", tuple(audio.shape), " call == controls then render:", torch.equal(audio, same))
play(audio)

# %% [markdown]
# Controls in physical units? Pass `scale_fn=None` and give amplitudes and a distribution
# directly. Here: a 220 Hz tone whose harmonics fall off as `1/k` (a sawtooth-like spectrum).

# %%
plain = Harmonic(SAMPLE_RATE, scale_fn=None)
k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
saw = plain(
    torch.full((1, N_FRAMES, 1), 0.3),
    (1.0 / k).expand(1, N_FRAMES, n_harmonics),
    torch.full((1, N_FRAMES, 1), 220.0),
    n_samples=N_SAMPLES,
)
play(saw)

# %% [markdown]
# ## Writing a processor: a tremolo
#
# A subclass lists its ports in `input_names`, maps raw inputs in `controls` and makes audio
# in `render`. A control that may be either *given* by the caller or *learned* is declared
# once with `learnable`: with `trainable=True` it becomes an `nn.Parameter` and leaves the
# ports; `learned_or_given` reads whichever applies. Our tremolo multiplies the audio by
# `1 - depth * (1 + sin(2 pi rate t)) / 2`, with the depth kept in (0, 1) by a sigmoid.


# %%
class Tremolo(Processor):
    """Amplitude modulation by a sine LFO. ``audio`` ``(batch, n_samples)``; ``depth_raw``
    ``(batch, 1)`` (sigmoid -> depth in (0, 1)), given or learned."""

    input_names = ("audio", "depth_raw")

    def __init__(self, rate_hz: float = 5.0, sample_rate: float = SAMPLE_RATE, trainable: bool = False):
        super().__init__(trainable)
        self.rate_hz, self.sample_rate = rate_hz, sample_rate
        self.learnable("depth_raw", torch.zeros(1, 1))  # depth 0.5 when learned

    def controls(self, audio, depth_raw=None):
        depth = torch.sigmoid(self.learned_or_given("depth_raw", depth_raw))
        return {"audio": audio, "depth": depth}

    def render(self, audio, depth):
        t = torch.arange(audio.shape[-1], dtype=audio.dtype) / self.sample_rate
        lfo = 0.5 * (1.0 + torch.sin(2 * math.pi * self.rate_hz * t))
        return audio * (1.0 - depth * lfo)


given = Tremolo()
learned = Tremolo(trainable=True)
print("given:  ports", given.input_names, " parameters", [n for n, _ in given.named_parameters()])
print("learned: ports", learned.input_names, " parameters", [n for n, _ in learned.named_parameters()])
wobbly = given(saw, torch.full((1, 1), 2.0))  # depth sigmoid(2) = 0.88
play(wobbly)
try:
    learned(saw, torch.zeros(1, 1))
except InputError as error:  # a learned control is not an input any more
    print("InputError:", error)

# %% [markdown]
# ## A processor group: a graph declared as data
#
# A `ProcessorGroup` takes a list of nodes, each `(name, processor, inputs)`. An input comes
# from a *graph input* (any name that is not a node), from another node's output signal (its
# name), or from one of another node's controls (`"node/control"`). Below, a sub-oscillator
# reads the harmonic node's `f0_hz` *control*; a `Mix` crossfades the harmonic voice and the
# noise with a frame-rate curve; the tremolo and a reverb follow. Nodes may be listed in any
# order: the group sorts them once, and works out which graph inputs and render options it
# needs.

# %%
nodes = [
    Node("reverb", Reverb(), ["tremolo", "ir"]),  # listed first on purpose: order is derived
    Node("harmonic", Harmonic(SAMPLE_RATE), ["amps", "distribution", "f0_hz"]),
    Node("noise", FilteredNoise(), ["noise_magnitudes"]),
    Node("sub", Sinusoidal(SAMPLE_RATE, frequency_scale_fn=None), ["sub_amps", "harmonic/f0_hz"]),
    Node("voice", Add(), ["harmonic", "sub"]),
    Node("mix", Mix(), {"signal_one": "voice", "signal_two": "noise", "mix": "mix_raw"}),
    Node("tremolo", Tremolo(), ["mix", "depth_raw"]),
]
group = ProcessorGroup(nodes, output="reverb")
print("order:        ", group.order)
print("graph inputs: ", group.input_names)
print("render options:", group.render_options)

# %%
frames = torch.linspace(0, 1, N_FRAMES).reshape(1, N_FRAMES, 1)
t_ir = torch.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
inputs = {
    "amps": torch.full((1, N_FRAMES, 1), 1.0),
    "distribution": -torch.linspace(0, 5, n_harmonics).expand(1, N_FRAMES, n_harmonics),
    "f0_hz": 196.0 * 2 ** (torch.round(frames * 4) * 2 / 12),  # G3 up in whole tones
    "noise_magnitudes": torch.full((1, N_FRAMES, 33), 3.0),
    "sub_amps": torch.full((1, N_FRAMES, 1), -1.0),
    "mix_raw": 8.0 * (0.5 - frames),  # from the voice (sigmoid ~ 1) to the noise (~ 0)
    "depth_raw": torch.full((1, 1), 1.5),
    "ir": 0.05 * torch.randn(1, t_ir.numel()) * torch.exp(-8.0 * t_ir),  # a small room
}
everything = group.run(inputs, n_samples=N_SAMPLES, seed=0)
print(sorted(k for k in everything if k not in inputs))
play(everything["reverb"])

# %% [markdown]
# `run` returns every signal and every control by name, so the graph can be inspected (and
# plotted, and used in losses) without re-computing anything. `group(...)` returns only the
# output node's signal, and equals what `run` gave.

# %%
signals = ["harmonic", "sub", "noise", "mix", "tremolo", "reverb"]
fig, axes = plt.subplots(len(signals) + 1, 1, figsize=(9, 9), sharex=True)
t = torch.arange(N_SAMPLES) / SAMPLE_RATE
for ax, name in zip(axes, signals):
    ax.plot(t, everything[name][0].detach(), linewidth=0.4)
    ax.set_ylabel(name, rotation=0, ha="right")
mix_weight = everything["mix/mix"][0, :, 0]  # the Mix node's control after its sigmoid
axes[-1].plot(torch.arange(N_FRAMES) / FRAME_RATE, mix_weight, color="C3")
axes[-1].set(ylabel="mix/mix", xlabel="time (s)")
fig.suptitle("Every node's signal, and the Mix node's control")
fig.tight_layout()
plt.show()
print("group(...) == run(...)[output]:", torch.equal(group(inputs, n_samples=N_SAMPLES, seed=0), everything["reverb"]))

# %% [markdown]
# ## Mistakes are caught when the graph is built
#
# The wiring is data, so it is checked before any audio flows: a cycle, a port that does not
# exist, or a source naming a missing node each raise `InputError` (a `ValueError`) that
# names the culprit.

# %%
broken_graphs = {
    "a cycle": [("a", Add(), ["b", "x"]), ("b", Add(), ["a", "y"])],
    "an unknown port": [("a", Add(), {"signal_one": "x", "signal_three": "y"})],
    "a missing node": [("a", Tremolo(), ["x", "ghost/depth"])],
}
for what, broken in broken_graphs.items():
    try:
        ProcessorGroup(broken)
    except InputError as error:
        print(f"{what}: {error}")

# %% [markdown]
# ## Gradients flow through the whole graph
#
# A group is an `nn.Module` whose parameters are those of its nodes. Make the tremolo
# trainable and its depth becomes a parameter of the group; a loss on the group's output then
# trains it. The target is the same graph with the depth given (sigmoid(1.5) = 0.82); the
# learner starts at depth 0.5. Noise is seeded identically in both (counter-based noise:
# `seed=0` draws the same samples each call), so a plain mean squared error works.

# %%
learner = ProcessorGroup(
    [node if node.name != "tremolo" else Node("tremolo", Tremolo(trainable=True), ["mix"]) for node in nodes],
    output="reverb",
)
print("learner's parameters:", [name for name, _ in learner.named_parameters()])
target = everything["reverb"].detach()
learner_inputs = {k: v for k, v in inputs.items() if k != "depth_raw"}
# Adam with a short memory and a decaying step: it settles instead of circling the minimum.
optimizer = torch.optim.Adam(learner.parameters(), lr=0.25, betas=(0.5, 0.9))
schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
history = []
for _ in range(40):
    optimizer.zero_grad()
    loss = torch.mean((learner(learner_inputs, n_samples=N_SAMPLES, seed=0) - target) ** 2)
    loss.backward()
    optimizer.step()
    schedule.step()
    history.append((loss.item(), torch.sigmoid(learner.node("tremolo").depth_raw).item()))
target_depth = torch.sigmoid(torch.tensor(1.5)).item()
print(f"learned depth {history[-1][1]:.3f} (target {target_depth:.3f})")
assert abs(history[-1][1] - target_depth) < 0.01

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].semilogy([h[0] for h in history])
axes[0].set(title="loss", xlabel="step")
axes[1].plot([h[1] for h in history])
axes[1].axhline(target_depth, color="grey", linestyle=":")
axes[1].set(title="tremolo depth", xlabel="step")
fig.tight_layout()
plt.show()
play(learner(learner_inputs, n_samples=N_SAMPLES, seed=0))

# %% [markdown]
# **Take-aways.** `controls` is where raw numbers become physical units (and where you look
# when a model misbehaves); `render` is pure DSP. A processor's control can be an input or a
# learned parameter with one line (`learnable`). A `ProcessorGroup` is a graph declared as
# data: checked on construction, run in dependency order, every signal and control kept, and
# differentiable end to end, which is exactly what the DDSP autoencoder's synthesizer is
# (tutorial 13). Next, tutorial 12 listens to every synthesizer and effect in the library.
