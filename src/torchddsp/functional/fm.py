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
recursion: on CPU a compiled pass over samples with its exact adjoint (``engine.fm``),
elsewhere (``backend="torch"``) a loop of PyTorch ops over samples (``_feedback_torch``, the
reference the compiled pass is tested equal to); either is far slower than the feed-forward path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_rank
from ..validation import check_tensor
from ..validation import data_checks_enabled
from ..validation import half_in_float32
from .controls import Control
from .controls import ControlLike
from .controls import control_values
from .engine import resolve_backend
from .engine.fm import feedback_oscillator
from .phase import TWO_PI
from .phase import cumulative_turns
from .phase import initial_turns
from .phase import output_dtype
from .phase import turns_to_radians
from .phase import wrap_turns

__all__ = ["fm_synthesis"]


def _feedback_torch(psi: Tensor, amplitude: Tensor, beta: Tensor, y0: Tensor) -> Tensor:
    """``y[n] = amplitude[n] sin(psi[n] + beta[n] y[n-1])`` with ``y[-1] = y0``, one sample at a
    time: the readable reference of ``engine.fm`` (any device; autograd gradients).
    ``psi``, ``amplitude``, ``beta`` broadcast to ``(batch, n_samples)``; ``y0`` ``(batch,)``."""
    psi, amplitude, beta = torch.broadcast_tensors(psi, amplitude, beta)
    previous = y0
    outputs = []
    for n in range(psi.shape[1]):
        previous = amplitude[:, n] * torch.sin(psi[:, n] + beta[:, n] * previous)
        outputs.append(previous)
    return torch.stack(outputs, dim=1) if outputs else psi.new_zeros(psi.shape)


def _operator_control(name: str, value: ControlLike, like: Tensor, n_samples: int, n_ops: int) -> Tensor:
    """A per-operator control as ``(batch or 1, n_samples or 1, 1 or n_ops)`` in ``like``'s dtype
    (:func:`~torchddsp.functional.controls.control_values`; a bare ``(batch, n_samples,
    n_ops)`` tensor is per sample, which its frame-rate reading equals without the upsampling)."""
    if isinstance(value, Tensor) and value.dim() == 3 and value.shape[1] == n_samples:
        value = Control.per_sample(value)
    return control_values(name, value, like, n_samples, n_ops)


def _control_dtype(value: ControlLike, default: torch.dtype) -> torch.dtype:
    raw = value.value if isinstance(value, Control) else value
    return output_dtype(raw) if isinstance(raw, Tensor) else default


def _checked_routing(modulation: Tensor, batch: int, n_ops: int, dtype: torch.dtype) -> Tensor:
    """``modulation`` as ``(batch, n_ops, n_ops)``, strictly upper triangular."""
    check_tensor("modulation", modulation)
    if (
        modulation.shape[-2:] != (n_ops, n_ops)
        or modulation.dim() not in (2, 3)
        or (modulation.dim() == 3 and modulation.shape[0] != batch)
    ):
        raise InputError(
            f"modulation must have shape ({n_ops}, {n_ops}) or ({batch}, {n_ops}, {n_ops}), "
            f"found {tuple(modulation.shape)}"
        )
    check_finite("modulation", modulation)
    if data_checks_enabled() and bool((torch.tril(modulation) != 0).any()):
        raise InputError(
            "modulation must be strictly upper triangular: operator j may modulate operator i only "
            "if j > i (use feedback for self-modulation)"
        )
    return modulation.to(dtype).expand(batch, n_ops, n_ops)


def _checked_gains(output_gains: Tensor | None, batch: int, n_ops: int, like: Tensor) -> Tensor:
    """The operators' output mix ``(batch, n_ops)`` (operator 0 alone by default)."""
    if output_gains is None:
        gains = torch.zeros(batch, n_ops, dtype=like.dtype, device=like.device)
        gains[:, 0] = 1.0
        return gains
    check_tensor("output_gains", output_gains)
    if output_gains.shape not in ((n_ops,), (batch, n_ops)):
        raise InputError(
            f"output_gains must have shape ({n_ops},) or ({batch}, {n_ops}), found {tuple(output_gains.shape)}"
        )
    check_finite("output_gains", output_gains)
    return output_gains.to(like.dtype).expand(batch, n_ops)


def _checked_state(
    state: tuple[Tensor, Tensor] | None, batch: int, n_ops: int, frequencies_hz: Tensor, like: Tensor
) -> tuple[Tensor, Tensor]:
    """The state before the block: each operator's phase in float64 cycles and its last output
    ``(batch, n_ops)`` (phase 0 and zeros at rest)."""
    if state is None:
        return initial_turns(None, (batch, n_ops), frequencies_hz), like.new_zeros(batch, n_ops)
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"state must be a (phase, last_output) pair of tensors, found {type(state).__name__}")
    phase, memory = state
    check_rank("state[1]", memory, 2, f"({batch}, {n_ops})")
    if tuple(memory.shape) != (batch, n_ops):
        raise InputError(f"state[1] (last_output) must have shape ({batch}, {n_ops}), found {tuple(memory.shape)}")
    check_finite("state[1]", memory)
    return initial_turns(phase, (batch, n_ops), frequencies_hz, "state[0]"), memory


def _operators(
    theta: Tensor, levels: Tensor, routing: Tensor, feedback: Tensor | None, memory: Tensor, engine: str
) -> Tensor:
    """Every operator's output ``(batch, n_samples, n_ops)``, from the last to the first.

    ``theta``: own phases in radians; ``levels``: amplitudes, silenced at or above Nyquist;
    ``routing`` ``(batch, n_ops, n_ops)``; ``feedback`` ``(batch or 1, n_samples or 1, 1 or
    n_ops)`` or None; ``memory`` ``(batch, n_ops)`` the outputs before the block."""
    batch, n_samples, n_ops = theta.shape
    outputs: dict[int, Tensor] = {}
    for i in range(n_ops - 1, -1, -1):
        psi = theta[..., i]
        for j in range(i + 1, n_ops):
            psi = psi + routing[:, i, j : j + 1] * outputs[j]
        beta = None if feedback is None else feedback[..., min(i, feedback.shape[-1] - 1)]
        # The recursion also runs for zero feedback that needs a gradient: its gradient is not zero.
        if beta is not None and (beta.requires_grad or bool((beta != 0).any())):
            recursion = feedback_oscillator if engine == "numba" else _feedback_torch
            level, beta = (t.expand(batch, n_samples) for t in (levels[..., i], beta))
            outputs[i] = recursion(psi, level, beta, memory[:, i].to(theta.dtype))
        else:
            outputs[i] = levels[..., i] * torch.sin(psi)
    return torch.stack([outputs[i] for i in range(n_ops)], dim=-1)


@half_in_float32
def fm_synthesis(
    frequencies_hz: Tensor,
    amplitudes: ControlLike,
    modulation: Tensor,
    sample_rate: float,
    feedback: ControlLike | None = None,
    output_gains: Tensor | None = None,
    *,
    state: tuple[Tensor, Tensor] | None = None,
    return_state: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """FM synthesis with ``n_operators`` sine operators (see the module docstring).

    Shape:
        ``frequencies_hz``: ``(batch, n_samples, n_operators)``; ``amplitudes``, ``feedback``:
        controls (:func:`~torchddsp.functional.controls.control_values`) of 1 or
        ``n_operators`` channels, e.g. ``(batch, n_samples or 1, n_operators)``; ``modulation``: ``(n_operators, n_operators)``
        or ``(batch, n_operators, n_operators)``; ``output_gains``: ``(n_operators,)`` or
        ``(batch, n_operators)`` -> ``(batch, n_samples)``; ``state``: two
        ``(batch, n_operators)`` tensors.

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
        state: ``(phase, last_output)`` before the first sample: each operator's phase in
            radians and its previous output (the feedback memory); None: phase 0, outputs 0.
        return_state: also return the state after the last sample (phase as float64 radians
            in [0, 2 pi)); passed as ``state`` to the next block, the blocks concatenate to one call.
        backend: ``"auto"``, ``"numba"`` (the feedback loop compiled, CPU tensors) or ``"torch"``
            (a loop of PyTorch ops, any device): :func:`~torchddsp.functional.engine.resolve_backend`.

    An operator at or above Nyquist is silent at that sample (it then modulates nothing).

    Example:
        >>> f = torch.tensor([440.0, 880.0], dtype=torch.float64).expand(1, 8, 2)
        >>> a, m = torch.ones(1, 1, 2, dtype=torch.float64), torch.tensor([[0.0, 2.0], [0.0, 0.0]])
        >>> first, state = fm_synthesis(f[:, :5], a, m, 16000, feedback=0.5, return_state=True)
        >>> rest = fm_synthesis(f[:, 5:], a, m, 16000, feedback=0.5, state=state)
        >>> torch.allclose(torch.cat([first, rest], 1), fm_synthesis(f, a, m, 16000, feedback=0.5))
        True
    """
    check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_samples, n_operators)")
    check_finite("frequencies_hz", frequencies_hz)
    sample_rate = check_positive("sample_rate", sample_rate)
    engine = resolve_backend(backend, frequencies_hz.device)
    batch, n_samples, n_ops = frequencies_hz.shape
    if n_ops < 1:
        raise InputError(f"frequencies_hz needs at least one operator, found {tuple(frequencies_hz.shape)}")
    # The output follows the amplitudes' precision (frequencies only feed the float64 phase);
    # half precision computes in float32.
    dtype = _control_dtype(amplitudes, output_dtype(frequencies_hz))
    like = frequencies_hz.new_empty(batch, 0, dtype=dtype)  # the batch, dtype and device of controls
    amplitudes = _operator_control("amplitudes", amplitudes, like, n_samples, n_ops)
    routing = _checked_routing(modulation, batch, n_ops, dtype)
    if feedback is not None:
        feedback = _operator_control("feedback", feedback, like, n_samples, n_ops)
    gains = _checked_gains(output_gains, batch, n_ops, like)
    start, memory = _checked_state(state, batch, n_ops, frequencies_hz, like)
    if n_samples == 0:  # an empty block: no audio, phases and feedback memory unchanged
        audio, final = frequencies_hz.new_zeros(batch, 0, dtype=dtype), (start, memory)
    else:
        turns = cumulative_turns(frequencies_hz, sample_rate, start, exact=True)  # FM amplifies phase error
        theta = (TWO_PI * wrap_turns(turns)).to(dtype)
        levels = amplitudes * (frequencies_hz.abs() < sample_rate / 2).to(dtype)
        stacked = _operators(theta, levels, routing, feedback, memory, engine)
        audio, final = (stacked * gains[:, None, :]).sum(-1), (turns[:, -1], stacked[:, -1])
    return (audio, (turns_to_radians(final[0]), final[1])) if return_state else audio
