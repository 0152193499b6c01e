"""Convolution and delay effects as processors: reverbs, FIR filtering and a modulated delay.

Effects take audio ``(batch, n_samples)`` (plus controls) and return audio of the same
length. Impulse-response reverbs are convolutions (:func:`torchddsp.functional.fft_convolve`)
whose impulse response is either learned (``trainable=True``: one response shared by the
batch, a ``nn.Parameter``) or given as a control. Random noise inside a reverb's impulse
response is drawn once at construction from ``seed``, so the response is a deterministic,
differentiable function of its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..functional import exp_sigmoid
from ..functional import fft_convolve
from ..functional import fractional_delay
from ..functional import frequency_filter
from ..functional import frequency_impulse_response
from ..functional import partitioned_convolution
from ..functional import uniform_noise
from ..functional import upsample
from ..functional.delay import DELAY_INTERPOLATIONS
from ..functional.partitioned import DEFAULT_PARTITION_SIZE
from ..functional.partitioned import PartitionedConvolutionState
from ..processors import Processor
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank
from ..validation import check_shape

__all__ = ["Reverb", "ExpDecayReverb", "FilteredNoiseReverb", "FIRFilter", "ModDelay"]

ScaleFn = Callable[[Tensor], Tensor]


def _convolution_reverb(
    audio: Tensor,
    ir: Tensor,
    add_dry: bool,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    state: PartitionedConvolutionState | None = None,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, PartitionedConvolutionState]:
    """Convolve with ``ir`` whose first tap is forced to zero (the dry path is added apart).

    Offline (no ``state``, no ``return_state``): one FFT convolution. Streaming: uniformly
    partitioned convolution (:func:`~torchddsp.functional.partitioned_convolution`), latency 0,
    its state given and returned."""
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_rank("ir", ir, 2, "(batch or 1, ir_size)")
    ir = ir.to(audio.dtype)  # a learned float32 response follows the audio (half stays half)
    dry_mask = torch.ones(ir.shape[-1], dtype=ir.dtype, device=ir.device)
    dry_mask[0] = 0.0
    if state is None and not return_state:
        wet = fft_convolve(audio, ir * dry_mask, padding="same", delay_compensation=0)
        return wet + audio if add_dry else wet
    wet, state = partitioned_convolution(
        audio, ir * dry_mask, partition_size=partition_size, state=state, return_state=True
    )
    out = wet + audio if add_dry else wet
    return (out, state) if return_state else out


class _ConvolutionReverb(Processor):
    """What the convolution reverbs share: ``render(audio, ir)`` through
    :func:`_convolution_reverb` (offline, or streamed with ``state``), with their
    ``add_dry`` and ``partition_size``."""

    render_options = ("state", "return_state")

    def __init__(self, trainable: bool, add_dry: bool, partition_size: int, scale_fn: ScaleFn | None = None):
        super().__init__(trainable)
        self.add_dry = add_dry
        self.scale_fn = scale_fn
        self.partition_size = check_positive_int("partition_size", partition_size)

    def render(
        self, audio: Tensor, ir: Tensor, *, state: PartitionedConvolutionState | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, PartitionedConvolutionState]:
        return _convolution_reverb(audio, ir, self.add_dry, self.partition_size, state, return_state)


class Reverb(_ConvolutionReverb):
    """Convolution reverb with a learned or given impulse response.

    ``trainable=True``: the response is a ``nn.Parameter`` of ``reverb_length`` taps shared
    by the batch (initialised near zero, as in DDSP); call ``reverb(audio)``.
    ``trainable=False``: pass it, ``reverb(audio, ir)`` with ``ir`` ``(batch or 1, ir_size)``.
    The first tap is always zeroed: the dry signal is added separately when ``add_dry``.

    Streaming: the render options ``state`` (a
    :class:`~torchddsp.functional.partitioned.PartitionedConvolutionState`; None: silence
    before) and ``return_state`` run uniformly partitioned convolution with ``partition_size``
    taps per partition: blocks of any size continue one another exactly, with no latency, for a
    cost per block that does not grow with the whole response (see
    :func:`~torchddsp.functional.partitioned_convolution`). The response is fixed while
    streaming: the state keeps its spectra from the first block.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``.

    Example:
        >>> Reverb(trainable=True, reverb_length=800)(torch.randn(2, 1600)).shape
        torch.Size([2, 1600])
        >>> Reverb()(torch.randn(2, 1600), torch.randn(1, 800)).shape
        torch.Size([2, 1600])
        >>> reverb, ir = Reverb(partition_size=128), torch.randn(1, 800)
        >>> first, state = reverb(torch.randn(2, 100), ir, return_state=True)
        >>> second, state = reverb(torch.randn(2, 300), ir, state=state, return_state=True)
        >>> second.shape
        torch.Size([2, 300])
    """

    input_names = ("audio", "ir")

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        add_dry: bool = True,
        seed: int = 0,
        partition_size: int = DEFAULT_PARTITION_SIZE,
    ):
        super().__init__(trainable, add_dry, partition_size)
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.learnable(
            "ir", lambda: torch.randn(self.reverb_length, generator=torch.Generator().manual_seed(seed)) * 1e-6
        )

    def controls(self, audio: Tensor, ir: Tensor | None = None) -> dict[str, Tensor]:
        ir = self.learned_or_given("ir", ir)
        # The learned response, (reverb_length,), is shared by the batch.
        return {"audio": audio, "ir": ir.unsqueeze(0) if "ir" in self.learned else ir}


class ExpDecayReverb(_ConvolutionReverb):
    """Reverb whose impulse response is exponentially decaying noise (DDSP's).

    ``ir(t) = scale_fn(gain) * exp(-(2 + exp(decay)) * t) * noise(t)`` with ``t`` from 0 to 1
    over ``reverb_length`` taps. ``trainable=True`` learns scalar ``gain`` and ``decay``
    (initial 2.0 and 4.0, as in DDSP); otherwise pass them, each ``(batch, 1)``.

    Streaming: as :class:`Reverb`'s (render options ``state`` and ``return_state``,
    ``partition_size``). ``controls`` rebuilds the response per call: compute it once,
    ``ir = reverb.controls(audio, gain, decay)["ir"]``, then ``reverb.render(block, ir,
    state=state, return_state=True)`` per block.
    """

    input_names = ("audio", "gain", "decay")
    noise: Tensor  # buffers: the fixed noise and the time axis, (1, reverb_length) each
    time: Tensor

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        scale_fn: ScaleFn | None = exp_sigmoid,
        add_dry: bool = True,
        seed: int = 0,
        partition_size: int = DEFAULT_PARTITION_SIZE,
    ):
        super().__init__(trainable, add_dry, partition_size, scale_fn)
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.register_buffer("noise", uniform_noise(1, self.reverb_length, seed=seed))
        self.register_buffer("time", torch.linspace(0.0, 1.0, self.reverb_length)[None, :])
        self.learnable("gain", torch.tensor([[2.0]]))
        self.learnable("decay", torch.tensor([[4.0]]))

    def controls(self, audio: Tensor, gain: Tensor | None = None, decay: Tensor | None = None) -> dict[str, Tensor]:
        gain, decay = self.learned_or_given("gain", gain), self.learned_or_given("decay", decay)
        for name, control in (("gain", gain), ("decay", decay)):
            check_rank(name, control, 2, "(batch, 1)")
            if control.shape[-1] != 1:
                raise InputError(f"{name} must have shape (batch, 1), found {tuple(control.shape)}")
        if self.scale_fn is not None:
            gain = self.scale_fn(gain)
        rate = 2.0 + torch.exp(decay)
        ir = gain * torch.exp(-rate * self.time.to(gain.dtype)) * self.noise.to(gain.dtype)
        return {"audio": audio, "ir": ir}


class FilteredNoiseReverb(_ConvolutionReverb):
    """Reverb whose impulse response is noise through a time-varying filter bank (DDSP's).

    The response is ``reverb_length`` taps of fixed noise filtered by ``magnitudes``
    ``(batch, n_frames, n_filter_banks)`` (after ``scale_fn(magnitudes + initial_bias)``): a
    learnable decay per frequency band. ``trainable=True`` learns one set of magnitudes
    ``(n_frames, n_filter_banks)``; otherwise pass them.

    Streaming: as :class:`Reverb`'s (render options ``state`` and ``return_state``,
    ``partition_size``). ``controls`` filters the whole noise per call: compute the response
    once, ``ir = reverb.controls(audio, magnitudes)["ir"]``, then ``reverb.render(block, ir,
    state=state, return_state=True)`` per block.
    """

    input_names = ("audio", "magnitudes")
    noise: Tensor  # buffer (1, reverb_length)

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        window_size: int = 0,
        n_frames: int = 1000,
        n_filter_banks: int = 16,
        scale_fn: ScaleFn | None = exp_sigmoid,
        initial_bias: float = -3.0,
        add_dry: bool = True,
        seed: int = 0,
        partition_size: int = DEFAULT_PARTITION_SIZE,
    ):
        super().__init__(trainable, add_dry, partition_size, scale_fn)
        self.initial_bias = float(initial_bias)
        self.window_size = int(window_size)
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.register_buffer("noise", uniform_noise(1, self.reverb_length, seed=seed))
        if trainable:
            n_frames = check_positive_int("n_frames", n_frames)
            n_filter_banks = check_positive_int("n_filter_banks", n_filter_banks, minimum=2)
        self.learnable(
            "magnitudes",
            lambda: torch.randn(n_frames, n_filter_banks, generator=torch.Generator().manual_seed(seed + 1)) * 1e-2,
        )

    def controls(self, audio: Tensor, magnitudes: Tensor | None = None) -> dict[str, Tensor]:
        magnitudes = self.learned_or_given("magnitudes", magnitudes)
        if "magnitudes" in self.learned:  # (n_frames, n_filter_banks), shared by the batch
            magnitudes = magnitudes.unsqueeze(0)
        check_rank("magnitudes", magnitudes, 3, "(batch, n_frames, n_filter_banks)")
        n_frames = magnitudes.shape[1]
        block = -(-self.reverb_length // n_frames)
        if -(-self.reverb_length // block) != n_frames:
            raise InputError(
                f"magnitudes has {n_frames} frames, which cannot cut reverb_length={self.reverb_length} taps into "
                f"equal blocks; use a frame count such that ceil(reverb_length / n_frames) blocks give n_frames"
            )
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes + self.initial_bias)
        noise = self.noise.to(magnitudes.dtype).expand(magnitudes.shape[0], -1)
        ir = frequency_filter(noise, magnitudes, self.window_size)
        return {"audio": audio, "ir": ir}


class FIRFilter(Processor):
    """Time-varying linear-phase FIR filter from per-frame magnitude responses.

    ``controls``: ``scale_fn`` (default ``exp_sigmoid``) on the raw magnitudes.
    ``render``: :func:`torchddsp.functional.frequency_filter` (delay compensated) with
    ``window_size`` taps (0, the default: ``2 * (n_bins - 1)``).

    Shape:
        ``audio`` ``(batch, n_samples)``, ``magnitudes`` ``(batch, n_frames, n_bins)`` ->
        ``(batch, n_samples)``.

    Example:
        >>> FIRFilter()(torch.randn(2, 1600), torch.zeros(2, 10, 33)).shape
        torch.Size([2, 1600])
        >>> out, state = FIRFilter()(torch.randn(2, 160), torch.zeros(2, 1, 33), return_state=True)
        >>> out.shape, state.shape
        (torch.Size([2, 160]), torch.Size([2, 63]))

    Streaming: the render options ``state`` ``(batch, window_size - 1)`` (the filtered blocks'
    overlap into the samples to come; zeros, at rest, when None) and ``return_state`` give the
    causal output: the offline output delayed by ``window_size // 2`` samples (its latency),
    the block-wise filtering continuing exactly from block to block. Each block is cut into
    its own ``n_frames`` frames, so blocks whose length is a whole number of the offline hop
    (``ceil(n_samples / n_frames)``), each with its frames, continue the offline result; one
    response for all (``magnitudes`` ``(batch, n_bins)``) takes blocks of any size.
    """

    input_names = ("audio", "magnitudes")
    render_options = ("state", "return_state")

    def __init__(self, window_size: int = 0, scale_fn: ScaleFn | None = exp_sigmoid):
        super().__init__()
        self.window_size = int(window_size)
        self.scale_fn = scale_fn

    def controls(self, audio: Tensor, magnitudes: Tensor) -> dict[str, Tensor]:
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes)
        return {"audio": audio, "magnitudes": magnitudes}

    def render(
        self, audio: Tensor, magnitudes: Tensor, *, state: Tensor | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        if state is None and not return_state:
            return frequency_filter(audio, magnitudes, self.window_size)
        check_rank("audio", audio, 2, "(batch, n_samples)")
        responses = frequency_impulse_response(magnitudes, self.window_size)
        overlap = responses.shape[-1] - 1
        dtype = torch.promote_types(audio.dtype, responses.dtype)
        if state is None:
            state = audio.new_zeros(audio.shape[0], overlap, dtype=dtype)
        check_shape("state", state, (audio.shape[0], overlap))
        if audio.shape[-1] == 0:  # an empty block: nothing out, the overlap as it was
            out = audio.new_zeros(audio.shape, dtype=dtype)
            return (out, state) if return_state else out
        # The causal (valid) convolution of the block, plus what earlier blocks ring into it.
        full = fft_convolve(audio, responses, padding="valid")
        full = full + torch.nn.functional.pad(state.to(full.dtype), (0, audio.shape[-1]))
        out, state = full[:, : audio.shape[-1]], full[:, audio.shape[-1] :]
        return (out, state) if return_state else out


class ModDelay(Processor):
    """Modulated delay (chorus, flanger, vibrato) driven by frame-rate controls (DDSP's).

    The delay is ``center_s + depth_s * phase`` seconds with ``phase = phase_scale_fn(raw)`` in
    [0, 1] (sigmoid by default); the wet signal is scaled by ``gain_scale_fn(gain)`` and the
    dry signal added when ``add_dry``. Controls ``(batch, n_frames, 1)`` are upsampled
    linearly to the audio's length; the delay line interpolates fractional delays.

    Streaming: the render options ``state`` (the delay line, ``(batch, capacity)`` samples with
    ``capacity = floor((center_s + depth_s) * sample_rate) + 2`` with linear interpolation,
    ``+ 3`` with cubic: the longest delay's reach and a sample to spare; zeros, at rest, by
    default) and ``return_state`` are those of
    :func:`~torchddsp.functional.fractional_delay`; latency 0. Each block's controls are
    upsampled to that block alone (one frame per sample carries them exactly).

    Example:
        >>> delay = ModDelay(center_s=0.001, depth_s=0.001, sample_rate=16000)
        >>> audio, state = delay(torch.randn(2, 160), torch.zeros(2, 160, 1), torch.zeros(2, 160, 1), return_state=True)
        >>> audio.shape, state.shape
        (torch.Size([2, 160]), torch.Size([2, 34]))
    """

    input_names = ("audio", "gain", "phase")
    render_options = ("state", "return_state")

    def __init__(
        self,
        center_s: float = 0.015,
        depth_s: float = 0.01,
        sample_rate: float = 16000,
        gain_scale_fn: ScaleFn | None = exp_sigmoid,
        phase_scale_fn: ScaleFn | None = torch.sigmoid,
        add_dry: bool = True,
        interpolation: str = "linear",
    ):
        super().__init__()
        if not center_s >= 0 or not depth_s >= 0 or not math.isfinite(center_s + depth_s):
            raise InputError(f"center_s and depth_s must be finite and >= 0, found {center_s}, {depth_s}")
        self.center_s = float(center_s)
        self.depth_s = float(depth_s)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.gain_scale_fn = gain_scale_fn
        self.phase_scale_fn = phase_scale_fn
        self.add_dry = add_dry
        self.interpolation = check_choice("interpolation", interpolation, DELAY_INTERPOLATIONS)

    def controls(self, audio: Tensor, gain: Tensor, phase: Tensor) -> dict[str, Tensor]:
        if self.gain_scale_fn is not None:
            gain = self.gain_scale_fn(gain)
        if self.phase_scale_fn is not None:
            phase = self.phase_scale_fn(phase)
        return {"audio": audio, "gain": gain, "phase": phase}

    def render(
        self, audio: Tensor, gain: Tensor, phase: Tensor, *, state: Tensor | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_rank("gain", gain, 3, "(batch, n_frames, 1)")
        check_rank("phase", phase, 3, "(batch, n_frames, 1)")
        for name, control in (("gain", gain), ("phase", phase)):
            if control.shape[-1] != 1 or control.shape[0] != audio.shape[0]:
                raise InputError(
                    f"{name} must have shape ({audio.shape[0]}, n_frames, 1), found {tuple(control.shape)}"
                )
        check_finite("phase", phase)
        if not bool(((phase >= 0) & (phase <= 1)).all()):
            raise InputError("phase must lie in [0, 1] after phase_scale_fn (it scales depth_s)")
        n_samples = audio.shape[1]
        delay_s = self.center_s + self.depth_s * upsample(phase, n_samples, "linear")[..., 0]
        # The line holds the longest delay the controls can ask for (phase 1) from the start, so
        # the state's size does not depend on the first block's delays.
        longest = (self.center_s + self.depth_s) * self.sample_rate
        wet, state = fractional_delay(
            audio,
            delay_s * self.sample_rate,
            interpolation=self.interpolation,
            state=state,
            return_state=True,
            max_delay_samples=math.floor(longest) + 1,  # + 1: the float32 delay may round above
        )
        wet = wet * upsample(gain, n_samples, "linear")[..., 0]
        out = wet + audio if self.add_dry else wet
        return (out, state) if return_state else out
