"""The compressor's decision pass compiled (numba): which samples the attack time constant drives.

The ballistics ``y[n] = alpha[n] y[n-1] + (1 - alpha[n]) g[n]`` switch ``alpha[n]`` between the
attack and the release coefficient by the direction the target moves relative to ``y[n-1]``.
The decisions are piecewise constant (no gradient), so only they are taken here; the smoothing
with its gradients is ``allpole_filter``'s (see ``functional.dynamics``). The readable PyTorch
path is ``functional.dynamics._decisions_torch``; ``tests/functional/test_dynamics.py`` holds
the two equal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import compile_kernel

__all__ = ["attack_decisions"]


def _decisions(first, stop, target, attack, release, state, rising, out):  # pragma: no cover - compiled
    """``out[b, n]``: whether sample ``n`` of item ``b`` uses the attack coefficient. ``attack``
    and ``release`` are ``(batch or 1, n_samples or 1)`` (sizes of 1 broadcast)."""
    n_samples = target.shape[1]
    attack_step = 1 if attack.shape[1] > 1 else 0
    release_step = 1 if release.shape[1] > 1 else 0
    attack_item = 1 if attack.shape[0] > 1 else 0
    release_item = 1 if release.shape[0] > 1 else 0
    for b in range(first, stop):
        y = state[b]
        for n in range(n_samples):
            use = target[b, n] > y if rising else target[b, n] < y
            out[b, n] = use
            if use:
                alpha = attack[b * attack_item, n * attack_step]
            else:
                alpha = release[b * release_item, n * release_step]
            y = alpha * y + (1.0 - alpha) * target[b, n]


# Batch items are independent: each call is shared out in chunks of items (see engine).
_DECISIONS = compile_kernel(_decisions)


def attack_decisions(target: Tensor, attack: Tensor, release: Tensor, state: Tensor, rising: bool) -> Tensor:
    """``(batch, n_samples)`` bool: where the ballistics use the attack coefficient (CPU tensors).

    ``target`` ``(batch, n_samples)``; ``attack``, ``release`` coefficients ``(batch or 1,
    n_samples or 1)``; ``state`` ``(batch,)`` ``y[-1]``; ``rising``: attack when the target
    is above ``y[n-1]`` (else below). Computed in float64; not differentiable.
    """
    as64 = [t.detach().to(torch.float64).contiguous() for t in (target, attack, release, state)]
    out = torch.empty(target.shape, dtype=torch.bool)
    _DECISIONS(target.numel(), target.shape[0], *(t.numpy() for t in as64), bool(rising), out.numpy())
    return out
