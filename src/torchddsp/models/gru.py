"""A one-layer GRU over a whole sequence with a hand-written backward pass: ``nn.GRU``'s
values and gradients, for less time when training on the CPU.

Why. The decoder's GRU (hidden 512 over 1000 frames) is the largest cost of a training step.
``nn.GRU``'s CPU backward is autograd run through each time step's graph: two small matrix
products per step (``dh`` and a rank-``batch`` update of ``dW_hh``) plus a dozen elementwise
nodes, each its own allocation and, with several threads, its own parallel region. Here:

- forward: the input projection ``x W_ih^T + b_ih`` of all steps in one matrix product, then
  per step one product ``h W_hh^T + b_hh`` and the gate arithmetic, saving the gates;
- backward: the factors that multiply ``dh`` in each gate's gradient are computed for all steps
  at once before the loop, so a step is one product ``dgh W_hh`` and three elementwise ops;
  the weight gradients ``dW_hh``, ``dW_ih``, the biases' and the input's are single matrix
  products over all steps after it.

The equations are PyTorch's (gate order r, z, n in the weights' rows)::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

Gradients of the first order only (a second-order one raises an error); float32 or float64;
the same device for every tensor (the products run on any, but on a GPU ``nn.GRU``'s cuDNN
kernel is the faster choice).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn
from torch.autograd.function import once_differentiable

from ..validation import InputError
from ..validation import check_rank
from ..validation import check_shape
from ..validation import check_tensor

__all__ = ["gru_sequence", "run_gru"]


def _check_inputs(x: Tensor, h0: Tensor | None, weights: tuple[Tensor, Tensor, Tensor, Tensor]) -> None:
    """The shapes, dtypes and devices ``gru_sequence`` needs (names as in its signature)."""
    check_rank("x", check_tensor("x", x), 3, "(batch, n_frames, input_size)")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, found {x.dtype}")
    if x.shape[1] == 0:
        raise InputError("x must have at least one frame, found shape (batch, 0, input_size)")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    for name, weight in zip(names, weights):
        check_tensor(name, weight)
    hidden = weights[1].shape[-1]
    check_shape("weight_ih", weights[0], (3 * hidden, x.shape[2]))
    check_shape("weight_hh", weights[1], (3 * hidden, hidden))
    check_shape("bias_ih", weights[2], (3 * hidden,))
    check_shape("bias_hh", weights[3], (3 * hidden,))
    if h0 is not None:
        check_shape("h0", check_tensor("h0", h0), (x.shape[0], hidden))
    for name, tensor in zip(("h0", *names), (h0, *weights)):
        if tensor is not None and (tensor.dtype != x.dtype or tensor.device != x.device):
            raise InputError(f"{name} must be {x.dtype} on {x.device} like x, found {tensor.dtype} on {tensor.device}")


def gru_sequence(
    x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """One GRU layer over a whole batch-first sequence (``nn.GRU(..., batch_first=True)``).

    Shape: ``x`` ``(batch, n_frames, input_size)``, ``n_frames >= 1``; ``weight_ih``
    ``(3 hidden, input_size)``, ``weight_hh`` ``(3 hidden, hidden)``, ``bias_ih`` and
    ``bias_hh`` ``(3 hidden,)`` (``nn.GRU``'s ``*_l0`` parameters, gate rows r, z, n);
    ``h0`` ``(batch, hidden)`` or None (zeros) -> ``(output, h_n)``: ``output`` ``(batch,
    n_frames, hidden)`` (the state after each frame), ``h_n`` ``(batch, hidden)`` (the last).

    Differentiable (first order) with respect to ``x``, the four weights and ``h0``.

    Example:
        >>> gru = torch.nn.GRU(3, 4, batch_first=True)
        >>> x = torch.randn(2, 5, 3)
        >>> output, h_n = gru_sequence(x, *gru.parameters())
        >>> expected, _ = gru(x)
        >>> output.shape, bool(torch.allclose(output, expected, atol=1e-6))
        (torch.Size([2, 5, 4]), True)
    """
    weights = (weight_ih, weight_hh, bias_ih, bias_hh)
    _check_inputs(x, h0, weights)
    if h0 is None:
        h0 = x.new_zeros(x.shape[0], weight_hh.shape[1])
    output, h_n = _Gru.apply(x, h0, *weights)
    return output, h_n


def _fast_path_applies(rnn: nn.GRU, x: Tensor, hidden: Tensor | None) -> bool:
    """Whether :func:`run_gru` may call :func:`gru_sequence`: eager float32/float64 on the CPU
    with a gradient wanted (where its backward is the gain; without one ``nn.GRU`` runs no
    slower), ``rnn`` a one-layer unidirectional batch-first GRU with biases and its usual
    inputs. Not while tracing, scripting, compiling or exporting (an exported graph holds the
    portable ``nn.GRU``), nor under autocast (``nn.GRU``'s own dtype rules apply there)."""
    parameters = list(rnn.parameters())
    return (
        type(x) is Tensor
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 3
        and x.shape[1] > 0
        and rnn.batch_first
        and rnn.num_layers == 1
        and not rnn.bidirectional
        and rnn.bias
        and (hidden is None or hidden.shape == (1, x.shape[0], rnn.hidden_size))
        and torch.is_grad_enabled()
        and (x.requires_grad or any(p.requires_grad for p in parameters))
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
    )


def run_gru(rnn: nn.GRU, x: Tensor, hidden: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``rnn(x, hidden)``, through ``gru_sequence`` with ``rnn``'s parameters where that
    is faster (training on the CPU), else through ``rnn`` itself: the same values either way
    (to float rounding), the same parameters, state dicts and gradients.

    Shape: as ``nn.GRU(batch_first=True)``: ``x`` ``(batch, n_frames, input_size)``,
    ``hidden`` ``(1, batch, hidden_size)`` or None -> ``(output, state)``, ``output``
    ``(batch, n_frames, hidden_size)``, ``state`` ``(1, batch, hidden_size)``.

    Example:
        >>> gru = torch.nn.GRU(3, 4, batch_first=True)
        >>> output, state = run_gru(gru, torch.randn(2, 5, 3))
        >>> output.shape, state.shape
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]))
    """
    if not _fast_path_applies(rnn, x, hidden):
        return rnn(x, hidden)
    weight_ih, weight_hh, bias_ih, bias_hh = (
        getattr(rnn, f"{name}_l0") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )
    output, last = gru_sequence(x, weight_ih, weight_hh, bias_ih, bias_hh, None if hidden is None else hidden[0])
    return output, last.unsqueeze(0)


def _forward_loop(gi: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor) -> tuple[Tensor, ...]:
    """The recurrence from the input projections ``gi`` ``(batch, n_frames, 3 hidden)``.

    Returns time-major ``states`` ``(n_frames + 1, batch, hidden)`` (``h0`` first), ``rz``
    ``(n_frames, batch, 2 hidden)`` (the r and z gates), ``n`` ``(n_frames, batch, hidden)``
    and ``gh`` ``(n_frames, batch, 3 hidden)`` (``h W_hh^T + b_hh`` of each step, whose third
    part ``r`` multiplies). Results are written into preallocated buffers (``out=``): no
    allocation per step.
    """
    batch, n_frames, three_hidden = gi.shape
    hidden = three_hidden // 3
    states = gi.new_empty(n_frames + 1, batch, hidden)
    states[0] = h0
    rz = gi.new_empty(n_frames, batch, 2 * hidden)
    n = gi.new_empty(n_frames, batch, hidden)
    gh = gi.new_empty(n_frames, batch, three_hidden)
    weight_t = weight_hh.t()
    for t in range(n_frames):
        torch.addmm(bias_hh, states[t], weight_t, out=gh[t])
        torch.add(gi[:, t, : 2 * hidden], gh[t, :, : 2 * hidden], out=rz[t]).sigmoid_()
        r, z = rz[t, :, :hidden], rz[t, :, hidden:]
        torch.addcmul(gi[:, t, 2 * hidden :], r, gh[t, :, 2 * hidden :], out=n[t]).tanh_()
        torch.lerp(n[t], states[t], z, out=states[t + 1])  # n + z (h - n) = (1 - z) n + z h
    return states, rz, n, gh


class _Gru(torch.autograd.Function):
    """``_Gru.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)`` -> ``(output, h_n)``."""

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        batch, n_frames, input_size = x.shape
        gi = torch.addmm(bias_ih, x.reshape(batch * n_frames, input_size), weight_ih.t())
        states, rz, n, gh = _forward_loop(gi.view(batch, n_frames, -1), h0, weight_hh, bias_hh)
        ctx.save_for_backward(x, weight_ih, weight_hh, states, rz, n, gh)
        return states[1:].transpose(0, 1).contiguous(), states[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, grad_h_n):
        x, weight_ih, weight_hh, states, rz, n, gh = ctx.saved_tensors
        grad_gh, grad_states, through_n = _backward_loop(grad_output, grad_h_n, weight_hh, states, rz, n, gh)
        return _gradients(ctx.needs_input_grad, x, weight_ih, states, through_n, grad_gh, grad_states)


def _step_factors(states: Tensor, rz: Tensor, n: Tensor, gh: Tensor) -> tuple[Tensor, Tensor]:
    """What multiplies ``dh'`` (the gradient of a step's new state) in the gradients of the
    pre-activations, for all steps at once: ``(factors, through_n)``.

    ``through_n = (1 - z)(1 - n^2)`` ``(n_frames, batch, hidden)`` is the factor of ``n``'s
    pre-activation ``W_in x + b_in + r (W_hn h + b_hn)`` (``h' = (1 - z) n + z h``, ``n =
    tanh(.)``), hence of ``W_in x + b_in``; ``factors`` ``(n_frames, batch, 3, hidden)`` are
    those of the three gates' ``h W_hh^T + b_hh``: ``(through_n (W_hn h + b_hn) r (1 - r),
    (h - n) z (1 - z), through_n r)``. Written in place into one buffer: these passes over
    all steps cost about as much as the backward loop's elementwise work.
    """
    hidden = n.shape[-1]
    r, z = rz[..., :hidden], rz[..., hidden:]
    factors = n.new_empty(*n.shape[:2], 3, hidden)
    through_n = torch.mul(n, n).neg_().add_(1).mul_(1 - z)
    torch.mul(through_n, r, out=factors[:, :, 2])
    torch.mul(factors[:, :, 2], gh[..., 2 * hidden :], out=factors[:, :, 0]).mul_(1 - r)
    torch.sub(states[:-1], n, out=factors[:, :, 1]).mul_(z).mul_(1 - z)
    return factors, through_n


def _backward_loop(grad_output, grad_h_n, weight_hh, states, rz, n, gh) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients through the recurrence, from the last frame to the first.

    Returns ``grad_gh`` ``(n_frames, batch, 3 hidden)`` (of each step's ``h W_hh^T + b_hh``),
    ``grad_states`` ``(n_frames + 1, batch, hidden)`` (entry ``t + 1`` the total gradient of
    the state after frame ``t``, from the output and from the later steps; entry 0 that of
    ``h0``) and ``through_n`` of :func:`_step_factors`.
    """
    n_frames, batch, hidden = n.shape
    factors, through_n = _step_factors(states, rz, n, gh)
    z = rz[..., hidden:]
    grad_gh = states.new_empty(n_frames, batch, 3, hidden)
    grad_states = states.new_empty(n_frames + 1, batch, hidden)
    grad_states[n_frames] = grad_h_n
    carried = states.new_empty(batch, hidden)
    for t in range(n_frames - 1, -1, -1):
        dh = grad_states[t + 1]
        dh += grad_output[:, t]
        torch.mul(dh.unsqueeze(1), factors[t], out=grad_gh[t])
        torch.mul(dh, z[t], out=carried)  # through h' = (1 - z) n + z h directly
        torch.addmm(carried, grad_gh[t].view(batch, 3 * hidden), weight_hh, out=grad_states[t])
    return grad_gh.view(n_frames, batch, 3 * hidden), grad_states, through_n


def _gradients(needs, x, weight_ih, states, through_n, grad_gh, grad_states) -> tuple[Tensor | None, ...]:
    """``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`` from the recurrence's gradients, each as one
    product or sum over all steps (None where ``needs`` says it is not wanted)."""
    n_frames, batch, hidden = through_n.shape
    flat = grad_gh.view(n_frames * batch, 3 * hidden)
    grad_weight_hh = flat.t() @ states[:-1].reshape(n_frames * batch, hidden) if needs[3] else None
    grad_bias_hh = flat.sum(0) if needs[5] else None
    grad_x = grad_weight_ih = grad_bias_ih = None
    if needs[0] or needs[2] or needs[4]:
        # The input projections' gradients: r and z as the recurrent ones, n without the r.
        grad_gi = x.new_empty(batch, n_frames, 3 * hidden)
        grad_gi.transpose(0, 1)[..., : 2 * hidden] = grad_gh[..., : 2 * hidden]
        torch.mul(grad_states[1:], through_n, out=grad_gi.transpose(0, 1)[..., 2 * hidden :])
        grad_gi = grad_gi.view(batch * n_frames, 3 * hidden)
        grad_x = (grad_gi @ weight_ih).view(batch, n_frames, -1) if needs[0] else None
        grad_weight_ih = grad_gi.t() @ x.reshape(batch * n_frames, -1) if needs[2] else None
        grad_bias_ih = grad_gi.sum(0) if needs[4] else None
    grad_h0 = grad_states[0] if needs[1] else None
    return grad_x, grad_h0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh
