"""Parameterisations that keep a recursive filter stable whatever the parameter values, so an
optimiser or a network can move them freely (map raw outputs into the ranges first, e.g.
``radius = sigmoid(raw)``, ``k = tanh(raw)``).

- :func:`resonator_coefficients`: a pole pair from its radius and angle;
- :func:`reflection_to_lpc`: reflection (PARCOR) coefficients in (-1, 1) to the denominator of
  a stable all-pole (LPC) filter, by the Levinson step-up recursion.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32

__all__ = ["resonator_coefficients", "reflection_to_lpc"]


@half_in_float32
def resonator_coefficients(radius: Tensor, angle: Tensor) -> Tensor:
    """Feedback coefficients ``[a1, a2] = [-2 r cos(theta), r^2]`` of the pole pair
    ``r exp(+-i theta)``: ``(..., 2)`` from ``radius`` in [0, 1) and ``angle`` in radians
    (broadcast together). Use with :func:`allpole_filter` (or as ``a[1:]`` of :func:`lfilter`);
    stable for every radius below 1."""
    check_tensor("radius", radius)
    check_tensor("angle", angle)
    check_finite("radius", radius)
    check_finite("angle", angle)
    if data_checks_enabled() and bool(((radius < 0) | (radius >= 1)).any()):
        raise InputError("radius must be in [0, 1) (a pole on or outside the unit circle is unstable)")
    radius, angle = torch.broadcast_tensors(radius, angle)
    return torch.stack([-2 * radius * torch.cos(angle), radius**2], dim=-1)


@half_in_float32
def reflection_to_lpc(reflection: Tensor) -> Tensor:
    """``(..., order)`` reflection coefficients, each in (-1, 1), to ``(..., order)`` LPC
    coefficients ``[a1, ..., a_order]`` of ``A(z) = 1 + a1 z^-1 + ...``, whose roots all lie
    inside the unit circle (step-up: ``a_i <- a_i + k_m a_{m-i}``, ``a_m = k_m``)."""
    check_tensor("reflection", reflection)
    check_finite("reflection", reflection)
    if reflection.dim() < 1 or reflection.shape[-1] < 1:
        raise InputError(f"reflection must have shape (..., order) with order >= 1, found {tuple(reflection.shape)}")
    if data_checks_enabled() and bool((reflection.abs() >= 1).any()):
        raise InputError("reflection coefficients must lie in (-1, 1) for a stable filter")
    coefficients = reflection[..., :1]
    for m in range(1, reflection.shape[-1]):
        k = reflection[..., m : m + 1]
        coefficients = torch.cat([coefficients + k * coefficients.flip(-1), k], dim=-1)
    return coefficients
