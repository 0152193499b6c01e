"""Frequency (phase) modulation synthesis with any number of operators and optional feedback.

Operator ``i`` is a sine oscillator whose phase is pushed by other operators' outputs:

    o_i[n] = a_i[n] * sin(theta_i[n] + sum_{j > i} M[i, j] o_j[n] + beta_i[n] o_i[n - 1])

``theta_i`` is the operator's own running phase (float64, DDSP's convention, see ``phase``),
``M`` the routing matrix (``M[i, j]`` scales operator ``j``'s output into operator ``i``'s
phase, in radians per unit of output), and ``beta_i`` optional self-feedback through a
one-sample delay (the DX7's feedback loop). ``M`` must be strictly upper triangular, so
operators are evaluated from the last to the first without algebraic loops. The output is
``sum_i g_i o_i`` (by default operator 0 only: the carrier of a stack).

Without feedback every operator is vectorised over time. Feedback is a true per-sample
recursion: it runs as a sequential loop over samples (vectorised over the batch) with an
exact adjoint loop for the gradient; it is correct but far slower than the feed-forward path.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..validation import check_finite, check_positive, check_rank, check_tensor, half_in_float32
from .phase import TWO_PI, cumulative_turns, initial_turns, output_dtype, turns_to_radians, wrap_turns
from ..validation import InputError

__all__ = ["fm_synthesis", "fm_synthesis_stream"]


class _FeedbackOscillator(torch.autograd.Function):
    """``y[n] = a[n] sin(psi[n] + beta[n] y[n-1])`` with ``y[-1] = y0``; all inputs ``(batch, n)``."""

    @staticmethod
    def forward(ctx, psi: Tensor, amplitude: Tensor, beta: Tensor, y0: Tensor) -> Tensor:  # type: ignore[override]
        p = psi.detach().cpu().double().numpy()
        a = amplitude.detach().cpu().double().numpy()
        b = beta.detach().cpu().double().numpy()
        y = np.empty_like(p)
        previous = y0.detach().cpu().double().numpy().copy()
        for n in range(p.shape[1]):
            previous = a[:, n] * np.sin(p[:, n] + b[:, n] * previous)
            y[:, n] = previous
        output = torch.from_numpy(y).to(device=psi.device, dtype=psi.dtype)
        ctx.save_for_backward(psi, amplitude, beta, y0, output)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        psi, amplitude, beta, y0, output = ctx.saved_tensors
        p, a, b = (t.detach().cpu().double().numpy() for t in (psi, amplitude, beta))
        y = output.detach().cpu().double().numpy()
        g = grad.detach().cpu().double().numpy()
        y_before = np.concatenate([y0.detach().cpu().double().numpy()[:, None], y[:, :-1]], axis=1)
        phase = p + b * y_before
        cos, sin = np.cos(phase), np.sin(phase)
        d_phase = np.empty_like(p)
        carry = np.zeros(p.shape[0])
        for n in range(p.shape[1] - 1, -1, -1):
            d_phase[:, n] = (g[:, n] + carry) * a[:, n] * cos[:, n]
            carry = d_phase[:, n] * b[:, n]
        d_amplitude = (g + np.concatenate([d_phase[:, 1:] * b[:, 1:], np.zeros((p.shape[0], 1))], axis=1)) * sin
        d_beta = d_phase * y_before

        def back(array: np.ndarray, like: Tensor) -> Tensor:
            return torch.from_numpy(array).to(device=like.device, dtype=like.dtype)

        return back(d_phase, psi), back(d_amplitude, amplitude), back(d_beta, beta), back(carry, y0)


def _per_sample(name: str, value: Tensor, batch: int, n_samples: int, n_ops: int) -> Tensor:
    check_rank(name, value, 3, f"(batch, n_samples or 1, n_operators) = ({batch}, {n_samples}, {n_ops})")
    if value.shape[0] != batch or value.shape[1] not in (1, n_samples) or value.shape[2] != n_ops:
        raise InputError(
            f"{name} must have shape ({batch}, {n_samples}, {n_ops}) or ({batch}, 1, {n_ops}), "
            f"found {tuple(value.shape)}"
        )
    check_finite(name, value)
    return value.expand(batch, n_samples, n_ops)


@half_in_float32
def fm_synthesis_stream(
    frequencies_hz: Tensor,
    amplitudes: Tensor,
    modulation: Tensor,
    sample_rate: float,
    feedback: Tensor | None = None,
    output_gains: Tensor | None = None,
    initial_phase: Tensor | None = None,
    previous_output: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Streaming form of :func:`fm_synthesis`: returns ``(audio, final_phase, last_output)``.

    ``final_phase`` ``(batch, n_operators)`` float64 radians and ``last_output``
    ``(batch, n_operators)`` (each operator's last sample, the feedback state) continue the
    next block exactly.
    """
    check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_samples, n_operators)")
    check_finite("frequencies_hz", frequencies_hz)
    sample_rate = check_positive("sample_rate", sample_rate)
    batch, n_samples, n_ops = frequencies_hz.shape
    if n_ops < 1:
        raise InputError(f"frequencies_hz needs at least one operator, found {tuple(frequencies_hz.shape)}")
    amplitudes = _per_sample("amplitudes", amplitudes, batch, n_samples, n_ops)
    # The output follows the amplitudes' precision (frequencies only feed the float64 phase);
    # half precision computes in float32.
    dtype = output_dtype(amplitudes)
    check_tensor("modulation", modulation)
    if modulation.shape[-2:] != (n_ops, n_ops) or modulation.dim() not in (2, 3) or (
        modulation.dim() == 3 and modulation.shape[0] != batch
    ):
        raise InputError(
            f"modulation must have shape ({n_ops}, {n_ops}) or ({batch}, {n_ops}, {n_ops}), "
            f"found {tuple(modulation.shape)}"
        )
    check_finite("modulation", modulation)
    if bool((torch.tril(modulation) != 0).any()):
        raise InputError(
            "modulation must be strictly upper triangular: operator j may modulate operator i only "
            "if j > i (use feedback for self-modulation)"
        )
    routing = modulation.to(dtype).expand(batch, n_ops, n_ops)
    if feedback is not None:
        feedback = _per_sample("feedback", feedback, batch, n_samples, n_ops).to(dtype)
    if output_gains is None:
        gains = torch.zeros(batch, n_ops, dtype=dtype, device=frequencies_hz.device)
        gains[:, 0] = 1.0
    else:
        check_tensor("output_gains", output_gains)
        if output_gains.shape not in ((n_ops,), (batch, n_ops)):
            raise InputError(f"output_gains must have shape ({n_ops},) or ({batch}, {n_ops}), found {tuple(output_gains.shape)}")
        check_finite("output_gains", output_gains)
        gains = output_gains.to(dtype).expand(batch, n_ops)
    if previous_output is None:
        previous_output = torch.zeros(batch, n_ops, dtype=dtype, device=frequencies_hz.device)
    else:
        check_rank("previous_output", previous_output, 2, f"({batch}, {n_ops})")
        if tuple(previous_output.shape) != (batch, n_ops):
            raise InputError(f"previous_output must have shape ({batch}, {n_ops}), found {tuple(previous_output.shape)}")
        check_finite("previous_output", previous_output)

    start = initial_turns(initial_phase, (batch, n_ops), frequencies_hz, "initial_phase")
    if n_samples == 0:  # an empty block: no audio, phases and feedback memory unchanged
        return frequencies_hz.new_zeros(batch, 0, dtype=dtype), turns_to_radians(start), previous_output
    turns = cumulative_turns(frequencies_hz, sample_rate, start)
    theta = (TWO_PI * wrap_turns(turns)).to(dtype)
    audible = (frequencies_hz.abs() < sample_rate / 2).to(dtype)
    outputs: dict[int, Tensor] = {}
    for i in range(n_ops - 1, -1, -1):
        psi = theta[..., i]
        for j in range(i + 1, n_ops):
            psi = psi + routing[:, i, j : j + 1] * outputs[j]
        level = amplitudes[..., i].to(dtype) * audible[..., i]
        # The recursion also runs for zero feedback that needs a gradient: its gradient is not zero.
        if feedback is not None and (feedback.requires_grad or bool((feedback[..., i] != 0).any())):
            outputs[i] = _FeedbackOscillator.apply(psi, level, feedback[..., i], previous_output[:, i].to(dtype))
        else:
            outputs[i] = level * torch.sin(psi)
    stacked = torch.stack([outputs[i] for i in range(n_ops)], dim=-1)  # (batch, n_samples, n_ops)
    audio = (stacked * gains[:, None, :]).sum(-1)
    return audio, turns_to_radians(turns[:, -1]), stacked[:, -1]


@half_in_float32
def fm_synthesis(
    frequencies_hz: Tensor,
    amplitudes: Tensor,
    modulation: Tensor,
    sample_rate: float,
    feedback: Tensor | None = None,
    output_gains: Tensor | None = None,
    initial_phase: Tensor | None = None,
) -> Tensor:
    """FM synthesis with ``n_operators`` sine operators (see the module docstring).

    Shape:
        ``frequencies_hz``: ``(batch, n_samples, n_operators)``; ``amplitudes``, ``feedback``:
        ``(batch, n_samples or 1, n_operators)``; ``modulation``: ``(n_operators, n_operators)``
        or ``(batch, n_operators, n_operators)``; ``output_gains``: ``(n_operators,)`` or
        ``(batch, n_operators)`` -> ``(batch, n_samples)``.

    Args:
        frequencies_hz: each operator's frequency per sample in Hz. Differentiable.
        amplitudes: each operator's output level (for a modulator: its modulation index in
            radians, scaled by ``modulation``). Differentiable.
        modulation: routing, strictly upper triangular. Differentiable.
        sample_rate: samples per second.
        feedback: self-feedback depth per operator in radians per unit output (None: none).
            Differentiable. Operators with non-zero feedback run a per-sample loop.
        output_gains: mix of operators into the output (default: operator 0 alone).
            Differentiable.
        initial_phase: ``(batch, n_operators)`` radians before the first sample.

    An operator at or above Nyquist is silent at that sample (it then modulates nothing).
    """
    audio, _, _ = fm_synthesis_stream(
        frequencies_hz, amplitudes, modulation, sample_rate, feedback, output_gains, initial_phase,
    )
    return audio
