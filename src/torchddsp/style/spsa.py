"""Simultaneous perturbation stochastic approximation (SPSA, Spall 1992) of gradients, as
DeepAFx-ST used for effects without gradients; here the baseline that exact autodiff through
the chain is compared with.

For a scalar ``f`` at ``x`` and a random Rademacher direction ``delta`` (each entry +-1), the
estimate ``g_i = (f(x + eps delta) - f(x - eps delta)) / (2 eps delta_i)`` costs two evaluations
whatever the dimension; ``E[g] = grad f`` up to ``O(eps^2)`` (exactly for a quadratic, since
``E[delta delta^T] = I``). Through the chain, :func:`spsa_chain` estimates the vector-Jacobian
product the backward pass needs: ``f = <grad_output, chain(audio, settings)>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import cast

import torch
from torch import Tensor

from ..validation import check_positive
from ..validation import check_positive_int
from .chain import apply_chain

__all__ = ["rademacher", "spsa_gradient", "spsa_chain"]


def rademacher(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random +-1 entries of ``shape`` (dtype and device of ``like``)."""
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)


def spsa_gradient(
    function: Callable[[Tensor], Tensor],
    x: Tensor,
    epsilon: float = 1e-3,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SPSA estimate of the gradient of the scalar ``function`` at ``x``, averaged over
    ``n_samples`` directions.

    Shape: ``x`` any -> same shape.

    Example:
        >>> x = torch.tensor([1.0, -2.0], dtype=torch.float64)
        >>> g = spsa_gradient(lambda v: (v ** 2).sum(), x, n_samples=4000, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(g, 2 * x, atol=0.2))
        True
    """
    epsilon = check_positive("epsilon", epsilon)
    n_samples = check_positive_int("n_samples", n_samples)
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        delta = rademacher(tuple(x.shape), x, generator)
        difference = function(x + epsilon * delta) - function(x - epsilon * delta)
        total += difference / (2 * epsilon) * delta  # 1 / delta_i = delta_i for +-1
    return total / n_samples


class _SPSAChain(torch.autograd.Function):
    """The chain forward; an SPSA vector-Jacobian product with respect to the settings backward
    (none for the audio: it is the network's input, not a parameter)."""

    @staticmethod
    def forward(
        ctx: Any, audio: Tensor, normalized: Tensor, sample_rate: float, epsilon: float, generator: Any
    ) -> Tensor:
        ctx.save_for_backward(audio, normalized)
        ctx.sample_rate, ctx.epsilon, ctx.generator = sample_rate, epsilon, generator
        with torch.no_grad():
            return apply_chain(audio, normalized, sample_rate)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[None, Tensor, None, None, None]:
        audio, normalized = ctx.saved_tensors
        delta = rademacher(tuple(normalized.shape), normalized, ctx.generator)  # one direction per item
        # Settings stay in [0, 1]: near an edge the step is cut, and the difference is divided
        # by the step actually taken (2 eps delta inside).
        plus = (normalized + ctx.epsilon * delta).clamp(0, 1)
        minus = (normalized - ctx.epsilon * delta).clamp(0, 1)
        with torch.no_grad():
            change = apply_chain(audio, plus, ctx.sample_rate) - apply_chain(audio, minus, ctx.sample_rate)
        projected = (grad_output * change).sum(-1, keepdim=True)  # (batch, 1)
        return None, projected / (plus - minus), None, None, None


def spsa_chain(
    audio: Tensor,
    normalized: Tensor,
    sample_rate: float,
    epsilon: float = 1e-3,
    generator: torch.Generator | None = None,
) -> Tensor:
    """:func:`~torchddsp.style.chain.apply_chain` whose backward pass estimates the gradient
    with respect to ``normalized`` by SPSA (two extra chain runs, one random direction per item).

    Shape: as :func:`~torchddsp.style.chain.apply_chain`.

    Example:
        >>> from torchddsp.style.settings import N_SETTINGS
        >>> settings = torch.full((2, N_SETTINGS), 0.5, requires_grad=True)
        >>> spsa_chain(torch.randn(2, 1600), settings, 16000).square().sum().backward()
        >>> settings.grad.shape
        torch.Size([2, 29])
    """
    epsilon = check_positive("epsilon", epsilon)
    result = _SPSAChain.apply(audio, normalized, sample_rate, epsilon, generator)
    result = cast(Tensor, result)  # Function.apply is untyped; forward returns one tensor
    return result
