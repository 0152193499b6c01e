"""The L1 terms of :class:`~torchddsp.losses.MultiScaleSpectralLoss` (magnitude, log magnitude)
and the sums of squares of spectral convergence, with a hand-written backward."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["DistanceSettings", "SpectralDistances", "guarded_log"]


@dataclass(frozen=True)
class DistanceSettings:
    magnitude_floor: float
    log_guard: str
    log_epsilon: float
    magnitude: bool  # compute the L1 magnitude distance
    log: bool  # compute the L1 log-magnitude distance
    convergence: bool  # compute the sums of squares for spectral convergence


class SpectralDistances(torch.autograd.Function):
    """Per-item distances between two magnitude spectrograms ``(batch, frames, bins)``, with a
    hand-written backward (a few elementwise passes instead of autograd's two dozen; first
    derivatives only).

    Magnitudes are first raised to ``magnitude_floor``. Returns, each ``(batch,)``:
    ``mean|T - P|``, ``mean|L(T) - L(P)|`` (guarded logs), ``sum (T - P)^2`` and ``sum T^2`` (for
    spectral convergence). Gradients are 0, never NaN, where a magnitude or its guarded log
    sits on its floor.
    """

    @staticmethod
    def forward(ctx, magnitude_p: Tensor, magnitude_t: Tensor, settings: DistanceSettings):
        floor = settings.magnitude_floor
        if floor:
            magnitude_p, magnitude_t = torch.clamp_min(magnitude_p, floor), torch.clamp_min(magnitude_t, floor)
        zeros = magnitude_p.new_zeros(magnitude_p.shape[0])
        magnitude_l1 = log_l1 = squared_difference = squared_target = zeros
        difference = log_difference = None
        if settings.magnitude or settings.convergence:
            difference = magnitude_t - magnitude_p
            if settings.magnitude:
                magnitude_l1 = difference.abs().mean(dim=(1, 2))
            if settings.convergence:
                squared_difference = difference.square().sum(dim=(1, 2))
                squared_target = magnitude_t.square().sum(dim=(1, 2))
        if settings.log:
            log_difference = guarded_log(magnitude_t, settings) - guarded_log(magnitude_p, settings)
            log_l1 = log_difference.abs().mean(dim=(1, 2))
        ctx.save_for_backward(magnitude_p, magnitude_t, difference, log_difference)
        ctx.settings = settings
        return magnitude_l1, log_l1, squared_difference, squared_target

    @staticmethod
    @once_differentiable
    def backward(ctx, g_magnitude, g_log, g_squared_difference, g_squared_target):
        magnitude_p, magnitude_t, difference, log_difference = ctx.saved_tensors
        settings: DistanceSettings = ctx.settings
        count = magnitude_p.shape[1] * magnitude_p.shape[2]
        grads: list[Tensor | None] = []
        for index, (magnitude, sign) in enumerate(((magnitude_p, -1.0), (magnitude_t, 1.0))):
            if not ctx.needs_input_grad[index]:
                grads.append(None)
                continue
            grad = torch.zeros_like(magnitude)
            # The target's terms enter with +, the prediction's with -.
            if settings.magnitude:
                grad.addcmul_(torch.sign(difference), (sign * g_magnitude / count)[:, None, None])
            if settings.convergence:
                grad.addcmul_(difference, (2.0 * sign * g_squared_difference)[:, None, None])
                if sign > 0:
                    grad.addcmul_(magnitude, (2.0 * g_squared_target)[:, None, None])
            if settings.log:
                # d log(M) / dM = 1 / M where the guard does not hold, 0 where it does.
                threshold = (
                    max(settings.log_epsilon, settings.magnitude_floor) if settings.log_guard == "floor" else 0.0
                )
                tiny = torch.finfo(magnitude.dtype).tiny
                inverse = torch.where(magnitude > threshold, 1.0 / torch.clamp_min(magnitude, tiny), 0.0)
                grad.addcmul_(torch.sign(log_difference) * (sign * g_log / count)[:, None, None], inverse)
            if settings.magnitude_floor:
                grad = torch.where(magnitude > settings.magnitude_floor, grad, 0.0)  # the floor is flat
            grads.append(grad)
        return grads[0], grads[1], None


def guarded_log(magnitude: Tensor, settings: DistanceSettings) -> Tensor:
    """``log(max(M, eps))`` ("floor" guard) or Magenta's ``safe_log`` ("zero_only": ``log(M)``,
    with ``log(eps)`` only where ``M`` is exactly 0)."""
    if settings.log_guard == "floor":
        return torch.log(torch.clamp_min(magnitude, max(settings.log_epsilon, settings.magnitude_floor)))
    # Substitute before the log: torch.log of 0 takes a slow path (10-26x), and quiet signals'
    # spectra are all zeros (their squares underflow); NaN stays NaN, as in Magenta's safe_log.
    return torch.log(torch.where(magnitude <= 0, settings.log_epsilon, magnitude))
