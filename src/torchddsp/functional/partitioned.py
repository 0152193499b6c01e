"""Uniformly partitioned convolution: a long FIR filter (a reverb's impulse response) streamed
block by block, with no latency added and a cost per block that does not grow with the whole
response.

Method (uniformly partitioned overlap-save, with a direct-form head). The response ``h`` of
``L`` taps is cut into partitions of ``P = partition_size`` taps:

- the head ``h[0:P]`` is applied in the time domain over the block and the ``P - 1`` input
  samples before it, so an output sample needs no input later than itself;
- tail partition ``j >= 1``, ``H_j = h[jP:(j+1)P]`` (``K = ceil(L / P) - 1`` of them), acts on
  whole input partitions ``X_i = x[iP:(i+1)P]``: output partition ``q`` receives the last ``P``
  samples of ``irfft(sum_j S_{q-j} * rfft(H_j, 2P))`` with ``S_i = rfft([X_{i-1}, X_i])``.
  The newest spectrum it needs, ``S_{q-1}``, is known once partition ``q - 1`` is complete,
  before the first sample of partition ``q`` goes out: the tail adds no latency either.

The state carries the input samples since the last complete partition (and the one before,
for the overlap-save window and the head), the spectra of the last ``K - 1`` input partitions
(the frequency-domain delay line), the tail's output for the current partition, and the
response's partition spectra (computed once: the response is fixed while streaming).

Cost per block of ``B`` samples: ``B * P`` multiply-adds for the head, and for each input
partition completed in the block (``floor((fill + B) / P)`` of them, ``B / P`` on average)
one real FFT and one inverse FFT of ``2P`` points and ``K (P + 1)`` complex multiply-adds. Per
sample that is about ``P + 4 L / P`` real multiply-adds plus two ``2P``-point FFTs per ``P``
samples, least near ``P = 2 sqrt(L)`` (256 for one second at 16 kHz). An FFT convolution of
each block with the whole response costs ``O((B + L) log(B + L))`` per block instead.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as nnf
from torch import Tensor

from ..validation import HALF_DTYPES
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_shape
from ..validation import check_tensor
from .layout import flatten_audio
from .layout import restore_audio

__all__ = ["PartitionedConvolutionState", "partitioned_convolution", "partitioned_convolution_state"]

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}

#: Taps per partition when none is given: near ``2 sqrt(L)`` for one second at 16 kHz.
DEFAULT_PARTITION_SIZE = 256


class PartitionedConvolutionState(NamedTuple):
    """The streaming state of :func:`partitioned_convolution` (``P``: partition size, ``K``:
    tail partitions of the response, ``...``: the audio's leading dimensions).

    Attributes:
        inputs: ``(..., 2P)``: the last complete input partition, then the ``fill`` samples
            of the current one (zeros after them).
        fill: 0-d int64: samples in the current input partition, ``0 <= fill < P``.
        spectra: ``(..., max(K - 1, 0), P + 1)`` complex: ``rfft`` of the last ``K - 1``
            overlap-save windows, oldest first (the frequency-domain delay line).
        tail: ``(..., P)``: the tail partitions' output for the current partition.
        ir_spectra: ``(batch or 1, K, P + 1)`` complex: ``rfft(H_j, 2P)`` for ``j = K, ..., 1``
            (last partition first, aligned with the delay line; the response's batch: 1 when
            it is shared).
    """

    inputs: Tensor
    fill: Tensor
    spectra: Tensor
    tail: Tensor
    ir_spectra: Tensor


def _impulse_response_2d(impulse_response: Tensor) -> Tensor:
    """The response as ``(batch or 1, ir_size)``, checked."""
    check_rank("impulse_response", impulse_response, (1, 2), "(ir_size,) or (batch, ir_size)")
    if impulse_response.shape[-1] < 1:
        raise InputError(f"impulse_response must have at least one tap, found {tuple(impulse_response.shape)}")
    return impulse_response if impulse_response.dim() == 2 else impulse_response.unsqueeze(0)


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """Promoted dtype of ``tensors``, at least float32 (half computes in float32)."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def _ir_spectra(ir: Tensor, partition_size: int) -> Tensor:
    """``rfft(H_j, 2P)`` of the tail partitions ``j = K, ..., 1`` of ``ir`` ``(batch, L)``
    (last first, in the delay line's order): ``(batch, K, P + 1)``."""
    n_tail = math.ceil(ir.shape[-1] / partition_size) - 1
    if n_tail == 0:  # the head holds every tap (an FFT of nothing would fail)
        return torch.fft.rfft(ir.new_zeros(ir.shape[0], 1, 2 * partition_size))[:, :0]
    tail = ir[:, partition_size:]
    tail = nnf.pad(tail, (0, n_tail * partition_size - tail.shape[-1]))
    partitions = tail.reshape(ir.shape[0], n_tail, partition_size).flip(1)  # H_K first
    return torch.fft.rfft(partitions, n=2 * partition_size)


def partitioned_convolution_state(
    impulse_response: Tensor,
    batch_shape: tuple[int, ...] = (),
    *,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    dtype: torch.dtype | None = None,
) -> PartitionedConvolutionState:
    """The at-rest state (silence before) of :func:`partitioned_convolution`, with the
    response's partition spectra computed once here, so that no call of the stream FFTs the
    whole response again.

    Shape:
        ``impulse_response``: ``(ir_size,)`` or ``(batch, ir_size)``; ``batch_shape``: the
        leading dimensions of the audio to come (``()`` for audio ``(n_samples,)``).

    Args:
        impulse_response: FIR taps. Differentiable (through the returned spectra).
        batch_shape: the audio's leading dimensions.
        partition_size: taps per partition ``P``, >= 1.
        dtype: of the state's real tensors (complex ones follow it); default: the response's
            promoted to at least float32.

    Example:
        >>> state = partitioned_convolution_state(torch.randn(1000), (2,), partition_size=256)
        >>> tuple(state.inputs.shape), tuple(state.spectra.shape), tuple(state.ir_spectra.shape)
        ((2, 512), (2, 2, 257), (1, 3, 257))
    """
    partition_size = check_positive_int("partition_size", partition_size)
    ir = _impulse_response_2d(impulse_response)
    check_finite("impulse_response", ir)
    real = _compute_dtype(ir) if dtype is None else dtype
    if real not in (torch.float32, torch.float64):
        if real not in HALF_DTYPES:
            raise InputError(f"dtype must be a floating-point dtype, found {real}")
        real = torch.float32  # half precision is a storage format: the state computes in float32
    ir_spectra = _ir_spectra(ir.to(real), partition_size)
    n_tail = ir_spectra.shape[1]
    zeros = ir.new_zeros
    return PartitionedConvolutionState(
        inputs=zeros(*batch_shape, 2 * partition_size, dtype=real),
        fill=torch.zeros((), dtype=torch.int64, device=ir.device),
        spectra=zeros(*batch_shape, max(n_tail - 1, 0), partition_size + 1, dtype=ir_spectra.dtype),
        tail=zeros(*batch_shape, partition_size, dtype=real),
        ir_spectra=ir_spectra,
    )


def _flat_state(
    state: object, leading: torch.Size, batch: int, ir: Tensor, partition_size: int, dtype: torch.dtype
) -> PartitionedConvolutionState:
    """``state`` checked against the audio and response, batch flattened, cast to ``dtype``."""
    if not isinstance(state, PartitionedConvolutionState):
        raise TypeError(f"state must be a PartitionedConvolutionState, found {type(state).__name__}")
    for name, value in state._asdict().items():
        if name != "fill":  # an integer count, checked below
            check_tensor(f"state.{name}", value)
    if not isinstance(state.fill, Tensor):
        raise TypeError(f"state.fill must be a torch.Tensor, found {type(state.fill).__name__}")
    if state.fill.dim() != 0 or state.fill.dtype != torch.int64:
        raise InputError(f"state.fill must be a 0-d int64 tensor, found {tuple(state.fill.shape)} {state.fill.dtype}")
    size, n_tail = partition_size, math.ceil(ir.shape[-1] / partition_size) - 1
    if state.tail.shape[-1:] != (size,):
        raise InputError(
            f"partition_size must match the state's ({state.tail.shape[-1] if state.tail.dim() else 'none'}), "
            f"found {size}"
        )
    check_shape("state.ir_spectra", state.ir_spectra, (ir.shape[0], n_tail, size + 1))
    check_shape("state.inputs", state.inputs, (*leading, 2 * size))
    check_shape("state.spectra", state.spectra, (*leading, max(n_tail - 1, 0), size + 1))
    check_shape("state.tail", state.tail, (*leading, size))
    complex_dtype = _COMPLEX[dtype]
    return PartitionedConvolutionState(
        inputs=state.inputs.reshape(batch, 2 * size).to(dtype),
        fill=state.fill,
        spectra=state.spectra.reshape(batch, max(n_tail - 1, 0), size + 1).to(complex_dtype),
        tail=state.tail.reshape(batch, size).to(dtype),
        ir_spectra=state.ir_spectra.to(complex_dtype),
    )


def _head(context: Tensor, head: Tensor) -> Tensor:
    """Direct-form convolution of ``context`` ``(batch, Lh - 1 + B)`` (the ``Lh - 1`` samples
    before the block, then the block) with ``head`` ``(batch or 1, Lh)``: ``(batch, B)``."""
    # Output n reads context[n : n + Lh] against the flipped head: one batched matrix-vector
    # product over a sliding-window view (conv1d takes its slow im2col path for this shape).
    windows = context.unfold(-1, head.shape[-1], 1)  # (batch, B, Lh), a view
    return torch.matmul(windows, head.flip(-1).unsqueeze(-1)).squeeze(-1)


def _tail(
    inputs: Tensor, n_complete: int, state: PartitionedConvolutionState, partition_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The tail partitions' output after ``state.tail``, for the ``n_complete`` partitions
    completed by ``inputs`` ``(batch, P + fill + B)`` (the last complete partition before the
    block, then every sample since): ``(tail outputs (batch, n_complete * P), new delay line,
    new tail)``."""
    size, n_tail = partition_size, state.ir_spectra.shape[1]
    if n_complete == 0 or n_tail == 0:
        return inputs.new_zeros(inputs.shape[0], n_complete * size), state.spectra, state.tail
    windows = inputs[:, : (n_complete + 1) * size].unfold(1, 2 * size, size)  # (batch, n, 2P)
    # Oldest first: the delay line S_{c-K+1}, ..., S_{c-1}, then the new S_c, ..., S_{c+n-1}.
    line = torch.cat([state.spectra, torch.fft.rfft(windows, n=2 * size)], dim=1)
    # Window m covers S_{q-K}, ..., S_{q-1} for output partition q = c + 1 + m, in the
    # order of ir_spectra (H_K first).
    stacked = line.unfold(1, n_tail, 1)  # (batch, n, P + 1, K)
    spectrum = (stacked * state.ir_spectra.transpose(1, 2).unsqueeze(1)).sum(-1)
    # Overlap-save: the last P samples of each window are the linear convolution's.
    outputs = torch.fft.irfft(spectrum, n=2 * size)[..., size:]
    return outputs.reshape(inputs.shape[0], -1), line[:, line.shape[1] - (n_tail - 1) :], outputs[:, -1]


def _stream(
    audio: Tensor, ir: Tensor, state: PartitionedConvolutionState, partition_size: int
) -> tuple[Tensor, PartitionedConvolutionState]:
    """One block ``audio`` ``(batch, B)`` through the flattened ``state``."""
    size, n_samples = partition_size, audio.shape[-1]
    fill = int(state.fill)
    if not 0 <= fill < size:
        raise InputError(f"state.fill must be in [0, partition_size = {size}), found {fill}")
    if n_samples == 0:  # an empty block: nothing out, the state as it was
        return audio.new_zeros(audio.shape), state
    # The last complete partition, the current one's samples, then the block.
    inputs = torch.cat([state.inputs[:, : size + fill], audio], dim=1)
    head_size = min(ir.shape[-1], size)
    wet = _head(inputs[:, size + fill - (head_size - 1) :], ir[:, :head_size])
    n_complete, new_fill = divmod(fill + n_samples, size)
    tails, spectra, tail = _tail(inputs, n_complete, state, size)
    wet = wet + torch.cat([state.tail, tails], dim=1)[:, fill : fill + n_samples]
    new_state = PartitionedConvolutionState(
        inputs=nnf.pad(inputs[:, n_complete * size :], (0, size - new_fill)),
        fill=torch.full_like(state.fill, new_fill),
        spectra=spectra,
        tail=tail,
        ir_spectra=state.ir_spectra,
    )
    return wet, new_state


def partitioned_convolution(
    audio: Tensor,
    impulse_response: Tensor,
    *,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    state: PartitionedConvolutionState | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, PartitionedConvolutionState]:
    """Causal convolution ``y[n] = sum_k h[k] x[n - k]`` (as many samples as the input), by
    uniformly partitioned FFT convolution: blocks of any size, changing from call to call,
    continue one another exactly and with no added latency (see the module's docstring for
    the method and its cost per block).

    Equal to ``fft_convolve(audio, impulse_response, padding="same", delay_compensation=0)``
    up to rounding.

    Shape:
        ``audio``: ``(..., n_samples)`` (leading dimensions flattened into ``batch``);
        ``impulse_response``: ``(ir_size,)`` or ``(batch or 1, ir_size)`` ->
        ``(..., n_samples)``; with ``return_state``, also a
        :class:`PartitionedConvolutionState`.

    Args:
        audio: input signal. Differentiable.
        impulse_response: FIR taps, fixed while streaming: with a ``state`` only its first
            ``partition_size`` taps are read (the rest come from ``state.ir_spectra``, built
            by the first call or by :func:`partitioned_convolution_state`). Differentiable.
        partition_size: taps per partition ``P`` (>= 1), the state's when one is given.
        state: the state returned by the previous call (None: silence before). Never
            modified; the same state may be passed again.
        return_state: also return the state after the last sample.

    Example:
        >>> audio, ir = torch.randn(2, 1000), torch.randn(4000)
        >>> first, state = partitioned_convolution(audio[:, :300], ir, return_state=True)
        >>> second = partitioned_convolution(audio[:, 300:], ir, state=state)
        >>> whole = partitioned_convolution(audio, ir)
        >>> bool(torch.allclose(torch.cat([first, second], 1), whole, atol=1e-4))
        True
    """
    partition_size = check_positive_int("partition_size", partition_size)
    ir = _impulse_response_2d(impulse_response)
    flat, leading = flatten_audio("audio", audio)
    check_finite("audio", flat)
    if ir.shape[0] not in (1, flat.shape[0]):
        raise InputError(
            f"impulse_response batch size must be 1 or match audio's ({flat.shape[0]}), found {ir.shape[0]}"
        )
    dtype = _compute_dtype(flat, ir)
    if state is None:
        state = partitioned_convolution_state(ir.to(dtype), leading, partition_size=partition_size)
    else:
        check_finite("impulse_response", ir[:, :partition_size])  # the rest was checked once
    flat_state = _flat_state(state, leading, flat.shape[0], ir, partition_size, dtype)
    wet, new_state = _stream(flat.to(dtype), ir.to(dtype), flat_state, partition_size)
    if audio.dtype in HALF_DTYPES and impulse_response.dtype == audio.dtype:
        wet = wet.to(audio.dtype)  # half precision in, half out (the state stays float32)
    wet = restore_audio(wet, leading)
    if not return_state:
        return wet
    return wet, new_state._replace(
        inputs=restore_audio(new_state.inputs, leading),
        spectra=restore_audio(new_state.spectra, leading),
        tail=restore_audio(new_state.tail, leading),
    )
