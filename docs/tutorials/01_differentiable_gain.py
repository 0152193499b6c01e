# %% [markdown]
# # 1. Differentiable gain
#
# **What this teaches.** The whole idea of differentiable DSP on the smallest processor there
# is: a gain. We treat "multiply the audio by `g`" as a function of `g`, measure how far its
# output is from a target with a loss, ask PyTorch for the gradient of that loss with respect
# to `g`, check it against the derivative worked out by hand, and walk downhill until the gain
# is found. Then we change the *parametrisation* (the same gain in decibels) and see how that
# reshapes the loss landscape and the optimisation.
#
# **Prerequisites.** Python and basic PyTorch tensors (`torch.tensor`, `requires_grad`,
# `.backward()`). No signal processing beyond "audio is an array of samples".

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Audio
from IPython.display import display

from torchddsp.functional import db_to_amplitude
from torchddsp.functional import oscillator_bank

torch.manual_seed(0)
SAMPLE_RATE = 16000

# %% [markdown]
# ## A signal to scale
#
# Any signal will do; a two-partial tone is pleasant to listen to. `oscillator_bank` takes
# per-sample frequencies and amplitudes `(batch, n_samples, n_oscillators)` and returns audio
# `(batch, n_samples)` (chapter 2 builds one by hand).

# %%
n_samples = SAMPLE_RATE // 2  # half a second
frequencies = torch.tensor([220.0, 330.0]).expand(1, n_samples, 2)
amplitudes = torch.tensor([0.5, 0.25]).expand(1, n_samples, 2)
x = oscillator_bank(frequencies, amplitudes, SAMPLE_RATE)

true_gain = 0.3
target = true_gain * x
print("input peak:", x.abs().max().item(), " target peak:", target.abs().max().item())
display(Audio(x[0].numpy(), rate=SAMPLE_RATE))
display(Audio(target[0].numpy(), rate=SAMPLE_RATE, normalize=False))

# %% [markdown]
# ## The loss and its gradient
#
# Our processor is `y = g * x`. With the mean squared error
# `L(g) = mean((g x - t)^2)` the derivative is, by the chain rule,
# `dL/dg = mean(2 (g x - t) x)`. Autograd computes the same number by running the chain rule
# backwards through the operations it recorded; the two must agree.

# %%
g = torch.tensor(1.0, requires_grad=True)
loss = torch.mean((g * x - target) ** 2)
loss.backward()
by_hand = torch.mean(2 * (g.detach() * x - target) * x)
print(f"autograd dL/dg = {g.grad.item():.6f}   by hand = {by_hand.item():.6f}")

# %% [markdown]
# ## The loss landscape
#
# With one parameter we can simply evaluate the loss everywhere. For a gain under MSE it is a
# parabola with its minimum at the true gain: one valley, no traps, so gradient descent from
# anywhere finds it.

# %%
gains = torch.linspace(-1.0, 1.5, 101)
with torch.no_grad():
    landscape = torch.stack([torch.mean((gain * x - target) ** 2) for gain in gains])

# %% [markdown]
# ## Gradient descent
#
# Step against the gradient: `g <- g - lr * dL/dg`. `torch.optim.SGD` does exactly that.

# %%
g = torch.tensor(1.2, requires_grad=True)
optimizer = torch.optim.SGD([g], lr=2.0)
path = []
for step in range(25):
    optimizer.zero_grad()
    loss = torch.mean((g * x - target) ** 2)
    loss.backward()
    path.append((g.item(), loss.item()))
    optimizer.step()
    if step % 5 == 0:
        print(f"step {step:2d}  g = {g.item():.4f}  loss = {loss.item():.2e}")
print(f"learned gain {g.item():.4f} (true {true_gain})")
assert abs(g.item() - true_gain) < 1e-2

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(gains, landscape, label="MSE loss")
ax.plot(*zip(*path), "o-", color="C3", markersize=3, label="gradient descent")
ax.axvline(true_gain, color="grey", linestyle=":", label="true gain")
ax.set(xlabel="gain g (linear)", ylabel="loss", title="Loss landscape of a linear gain")
ax.legend()
plt.show()

# %% [markdown]
# The learned processor now sounds like the target:

# %%
display(Audio((g.detach() * x)[0].numpy(), rate=SAMPLE_RATE, normalize=False))

# %% [markdown]
# ## The same gain in decibels
#
# Loudness is perceived roughly logarithmically, so synthesisers expose gains in dB:
# `g = 10 ** (gain_db / 20)` (`db_to_amplitude`). The optimum is the same sound, but the
# landscape in the new coordinate is no longer a parabola: it flattens out towards very low
# gains (every quiet setting sounds almost equally wrong, the gradient nearly vanishes) and
# gets steep above the optimum. Plain gradient descent would crawl from a quiet start; Adam,
# which scales each step by the gradient's recent size, does not care. The choice of
# parametrisation (and of optimiser) is part of the model.

# %%
gains_db = torch.linspace(-60.0, 12.0, 121)
with torch.no_grad():
    landscape_db = torch.stack([torch.mean((db_to_amplitude(d) * x - target) ** 2) for d in gains_db])


def loss_db(gain_db: torch.Tensor) -> torch.Tensor:
    return torch.mean((db_to_amplitude(gain_db) * x - target) ** 2)


def fit_db(start_db: float, steps: int = 120, lr: float = 2.0) -> list[tuple[float, float]]:
    """Adam on the gain in dB from ``start_db`` (step size decaying); the (gain_db, loss) path."""
    gain_db = torch.tensor(start_db, requires_grad=True)
    # A short memory of the squared gradient (beta2 = 0.9): the first steps from a loud start
    # are very steep and would otherwise keep later steps tiny for a long time.
    optimizer = torch.optim.Adam([gain_db], lr=lr, betas=(0.8, 0.9))
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.98)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_db(gain_db)
        loss.backward()
        path.append((gain_db.item(), loss.item()))
        optimizer.step()
        schedule.step()
    return path


# Plain gradient descent would crawl from a quiet start: compare the slopes.
for start in (-50.0, 10.0):
    gain_db = torch.tensor(start, requires_grad=True)
    loss_db(gain_db).backward()
    print(f"dL/d(gain_db) at {start:+.0f} dB: {gain_db.grad.item():+.2e}")


true_db = 20 * torch.log10(torch.tensor(true_gain)).item()
paths = {start: fit_db(start) for start in (-50.0, 10.0)}
for start, p in paths.items():
    print(f"from {start:+.0f} dB: loss {p[0][1]:.2e} -> {p[-1][1]:.2e}, gain {p[-1][0]:.2f} dB (true {true_db:.2f} dB)")
    assert abs(p[-1][0] - true_db) < 0.5

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(gains_db, landscape_db, label="MSE loss")
for start, p in paths.items():
    ax.plot(*zip(*p), "o-", markersize=2, label=f"Adam from {start:+.0f} dB")
ax.axvline(true_db, color="grey", linestyle=":")
ax.set(xlabel="gain (dB)", ylabel="loss", title="The same loss against the gain in dB")
ax.legend()
plt.show()

# %% [markdown]
# **Take-aways.** A processor is differentiable when its output is a differentiable function of
# its parameters; autograd then gives exact gradients, and an optimiser turns them into a
# search. How a parameter is expressed (linear or dB here; Hz or MIDI, raw or through a
# sigmoid later) changes the landscape the optimiser sees. Next: an oscillator, whose
# frequency is a much harder parameter than a gain.
