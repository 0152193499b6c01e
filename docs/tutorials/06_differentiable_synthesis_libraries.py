# %% [markdown]
# # 6. Differentiable synthesis libraries
#
# **What this teaches.** How a DDSP library is put together, using `torchddsp` as the worked
# example: a *functional core* of pure differentiable functions, *processors* that wrap them
# as `nn.Module`s in two steps (raw controls -> physical controls -> audio), and *processor
# groups* that wire processors into a graph declared as data. We build the same sound at each
# layer, write a processor of our own, and close with how other libraries in the field divide
# the same work.
#
# **Prerequisites.** Chapters 3-5 (harmonic synthesis, frame-rate controls, filtered noise);
# `torch.nn.Module` and `nn.Parameter`.

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp import Add
from torchddsp import FilteredNoise
from torchddsp import Harmonic
from torchddsp import Node
from torchddsp import Processor
from torchddsp import ProcessorGroup
from torchddsp import Reverb
from torchddsp.functional import exp_sigmoid
from torchddsp.functional import harmonic_synthesis
from torchddsp.functional import normalize_harmonics

torch.manual_seed(0)
SAMPLE_RATE, N_FRAMES, N_SAMPLES, N_HARMONICS = 16000, 50, 16000, 24

# %% [markdown]
# ## Layer 1: the functional core
#
# `torchddsp.functional` holds plain functions of tensors: no modules, no hidden state (a
# streaming state is an explicit `state=` argument and `return_state=True` result). Shapes are
# one convention everywhere: audio `(batch, n_samples)`, frame-rate controls
# `(batch, n_frames, channels)`. Everything is differentiable, so any function can sit inside a
# training loop. Here, a harmonic note from physical controls:

# %%
t = torch.linspace(0, 1, N_FRAMES).reshape(1, N_FRAMES, 1)
f0_hz = 262.0 * torch.ones(1, N_FRAMES, 1)
amplitude = 0.5 * torch.sin(torch.pi * t) ** 2  # swell and fade
raw_distribution = torch.randn(1, 1, N_HARMONICS).expand(1, N_FRAMES, N_HARMONICS)
distribution = normalize_harmonics(exp_sigmoid(raw_distribution), f0_hz, SAMPLE_RATE)
functional_note = harmonic_synthesis(f0_hz, amplitude, distribution, N_SAMPLES, SAMPLE_RATE)
display(Audio(functional_note[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Layer 2: processors
#
# A `Processor` is an `nn.Module` whose `forward` is `render(**controls(*inputs))`:
#
# - `controls` turns raw inputs (e.g. a network's outputs) into physical controls and returns
#   them as a dict, so they can be inspected and plotted;
# - `render` calls the functional core.
#
# `Harmonic` applies `exp_sigmoid` and normalisation in `controls`; with `scale_fn=None` it
# expects physical controls. The two layers produce the same samples:

# %%
harmonic = Harmonic(SAMPLE_RATE)
controls = harmonic.controls(amplitude, raw_distribution, f0_hz)
print({name: tuple(value.shape) for name, value in controls.items()})
processor_note = Harmonic(SAMPLE_RATE, scale_fn=None)(amplitude, distribution, f0_hz, n_samples=N_SAMPLES)
print("processor == function:", torch.allclose(processor_note, functional_note, atol=1e-6))

# %% [markdown]
# ### Writing a processor
#
# A new processor declares its ports (`input_names`) and writes `controls` and `render`. A
# control may be *learned or given*: `self.learnable(...)` makes it an `nn.Parameter` when the
# processor is built with `trainable=True`, and a required input otherwise. Here, a tremolo
# (amplitude modulation) whose depth can be learned:


# %%
class Tremolo(Processor):
    """Amplitude modulation ``audio * (1 - depth * (1 + sin(2 pi rate t)) / 2)``.

    Shape: ``audio`` ``(batch, n_samples)``, ``depth`` ``(batch, 1)`` in [0, 1] after a sigmoid.
    """

    input_names = ("audio", "depth")

    def __init__(self, rate_hz: float = 5.0, sample_rate: float = SAMPLE_RATE, trainable: bool = False):
        super().__init__(trainable)
        self.rate_hz, self.sample_rate = rate_hz, sample_rate
        self.learnable("depth", torch.zeros(1, 1))

    def controls(self, audio, depth=None):
        return {"audio": audio, "depth": torch.sigmoid(self.learned_or_given("depth", depth))}

    def render(self, audio, depth):
        time_s = torch.arange(audio.shape[-1], dtype=audio.dtype) / self.sample_rate
        return audio * (1 - depth * (1 + torch.sin(2 * torch.pi * self.rate_hz * time_s)) / 2)


tremolo = Tremolo(trainable=True)
print("ports of a trainable Tremolo:", tremolo.input_names, " parameters:", [n for n, _ in tremolo.named_parameters()])
target = Tremolo()(functional_note, torch.full((1, 1), 2.0))  # depth sigmoid(2) = 0.88
optimizer = torch.optim.Adam(tremolo.parameters(), lr=0.2, betas=(0.5, 0.9))
for step in range(40):
    optimizer.zero_grad()
    loss = torch.mean((tremolo(functional_note) - target) ** 2)
    loss.backward()
    optimizer.step()
    if step % 10 == 0 or step == 39:
        print(f"step {step:2d}  loss {loss.item():.2e}  depth {torch.sigmoid(tremolo.depth).item():.3f} (target 0.881)")
assert abs(torch.sigmoid(tremolo.depth).item() - 0.881) < 0.01
display(Audio(target[0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# ## Layer 3: processor groups
#
# A `ProcessorGroup` is a directed acyclic graph declared as data: each `Node` names a
# processor and where each of its ports comes from (a graph input, another node's signal, or
# `"node/control"`). It is itself a processor (so groups nest), passes render options such as
# `n_samples` and `seed` to the nodes that take them, and `run` returns every intermediate
# signal and control by name, which is what plots and debugging need. This is DDSP's classic
# harmonic + noise + reverb decoder output stage:

# %%
group = ProcessorGroup(
    [
        Node("harmonic", Harmonic(SAMPLE_RATE), ["amps", "harmonic_distribution", "f0_hz"]),
        Node("noise", FilteredNoise(), ["noise_magnitudes"]),
        Node("add", Add(), ["harmonic", "noise"]),
        Node("reverb", Reverb(trainable=True, reverb_length=4000), ["add"]),
    ]
)
inputs = {
    "amps": torch.logit(amplitude.clamp(1e-3, 0.99)),  # raw values: Harmonic applies exp_sigmoid
    "harmonic_distribution": raw_distribution,
    "f0_hz": f0_hz,
    "noise_magnitudes": torch.full((1, N_FRAMES, 33), -2.0),
}
with torch.no_grad():
    # A made-up room: the trainable response starts near zero, so give it a decaying tail.
    group.node("reverb").ir.copy_(0.05 * torch.randn(4000) * torch.exp(-torch.arange(4000) / 800.0))
    signals = group.run(inputs, n_samples=N_SAMPLES, seed=0)
print("graph inputs:", group.input_names)
print("everything run() returns:", sorted(signals))

fig, axes = plt.subplots(1, 4, figsize=(14, 2.6), sharey=True)
for ax, name in zip(axes, ["harmonic", "noise", "add", "reverb"]):
    ax.plot(torch.arange(N_SAMPLES) / SAMPLE_RATE, signals[name][0], linewidth=0.5)
    ax.set(title=name, xlabel="time (s)")
fig.tight_layout()
plt.show()
display(Audio(signals["add"][0].numpy(), rate=SAMPLE_RATE), Audio(signals["reverb"][0].numpy(), rate=SAMPLE_RATE))

# %% [markdown]
# Because the group is an `nn.Module`, its learned parts (here the reverb's impulse response)
# are ordinary parameters: `list(group.parameters())` is what an optimiser gets.

# %%
print([(name, tuple(p.shape)) for name, p in group.named_parameters()])

# %% [markdown]
# ## The field, in words
#
# Libraries divide the same work differently; a fair summary as of this writing (check each
# project's own documentation for details):
#
# - **Magenta DDSP** (TensorFlow, the original): processors with `get_controls` /
#   `get_signal`, `ProcessorGroup` DAGs, synths (harmonic, filtered noise, wavetable,
#   sinusoidal), effects (reverb, FIR filter, modulated delay), spectral and perceptual losses,
#   and complete autoencoder models with training configs. `torchddsp` follows its processor
#   design and naming so that ideas and models carry
#   over; the difference is PyTorch and a separate functional layer.
# - **Re-implementations in PyTorch** (e.g. the `ddsp_pytorch` family) usually ship one model
#   end to end (harmonic + noise + reverb, a training script) rather than a toolkit of
#   processors.
# - **torchsynth**: a modular synthesizer (VCOs, ADSRs, LFOs, VCAs) built for rendering large
#   batches of random patches very fast on a GPU, e.g. to make synthetic datasets; its focus is
#   throughput rather than gradient-based matching. `torchddsp.modular` offers a compatible
#   voice for the same kind of use, differentiable throughout.
# - **Filter- and effect-focused packages** (differentiable IIR filters and all-pole
#   recursions with custom backward passes, e.g. `torchlpc`; `torchaudio.functional.lfilter`;
#   differentiable audio-effect collections) cover chapters 8-10's ground; `torchddsp` has its
#   own `lfilter`, `sosfilt`, `allpole_filter` and `linear_recurrence` with exact gradients.
# - **Loss libraries** (e.g. `auraloss`) provide spectral losses; `torchddsp.losses` reproduces
#   both Magenta's and auraloss's multi-scale spectral loss as presets.
#
# The design questions to ask of any of them: is there a functional layer you can call
# without modules? Are controls and their units explicit? Can you get the intermediate
# signals? How is streaming state handled? Which gradients are exact, and which are
# approximations (chapter 9)?
