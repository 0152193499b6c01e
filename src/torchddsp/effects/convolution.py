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
from typing import Callable

import torch
from torch import Tensor, nn

from ..functional import exp_sigmoid, fft_convolve, fractional_delay, frequency_filter, uniform_noise, upsample
from ..validation import check_choice, check_finite, check_positive, check_positive_int, check_rank
from ..functional.delay import DELAY_INTERPOLATIONS
from ..processors import Processor
from ..validation import InputError

__all__ = ["Reverb", "ExpDecayReverb", "FilteredNoiseReverb", "FIRFilter", "ModDelay"]

ScaleFn = Callable[[Tensor], Tensor]


def _convolution_reverb(audio: Tensor, ir: Tensor, add_dry: bool) -> Tensor:
    """Convolve with ``ir`` whose first tap is forced to zero (the dry path is added apart)."""
    check_rank("audio", audio, 2, "(batch, n_samples)")
    check_rank("ir", ir, 2, "(batch or 1, ir_size)")
    ir = ir.to(audio.dtype)  # a learned float32 response follows the audio (half stays half)
    dry_mask = torch.ones(ir.shape[-1], dtype=ir.dtype, device=ir.device)
    dry_mask[0] = 0.0
    wet = fft_convolve(audio, ir * dry_mask, padding="same", delay_compensation=0)
    return wet + audio if add_dry else wet


class Reverb(Processor):
    """Convolution reverb with a learned or given impulse response.

    ``trainable=True``: the response is a ``nn.Parameter`` of ``reverb_length`` taps shared
    by the batch (initialised near zero, as in DDSP); call ``reverb(audio)``.
    ``trainable=False``: pass it, ``reverb(audio, ir)`` with ``ir`` ``(batch or 1, ir_size)``.
    The first tap is always zeroed: the dry signal is added separately when ``add_dry``.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``.
    """

    def __init__(self, trainable: bool = False, reverb_length: int = 48000, add_dry: bool = True, seed: int = 0):
        super().__init__()
        self.trainable = trainable
        self.add_dry = add_dry
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.input_names = ("audio",) if trainable else ("audio", "ir")
        if trainable:
            generator = torch.Generator().manual_seed(seed)
            self.ir = nn.Parameter(torch.randn(self.reverb_length, generator=generator) * 1e-6)

    def controls(self, audio: Tensor, ir: Tensor | None = None) -> dict[str, Tensor]:  # type: ignore[override]
        if self.trainable:
            if ir is not None:
                raise InputError("ir must not be given to a trainable Reverb (it learns its own)")
            ir = self.ir.unsqueeze(0)
        elif ir is None:
            raise InputError("ir is required: this Reverb is not trainable (pass ir of shape (batch, ir_size))")
        return {"audio": audio, "ir": ir}

    def render(self, audio: Tensor, ir: Tensor) -> Tensor:  # type: ignore[override]
        return _convolution_reverb(audio, ir, self.add_dry)

    def forward(self, audio: Tensor, ir: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.render(**self.controls(audio, ir))


class ExpDecayReverb(Processor):
    """Reverb whose impulse response is exponentially decaying noise (DDSP's).

    ``ir(t) = scale_fn(gain) * exp(-(2 + exp(decay)) * t) * noise(t)`` with ``t`` from 0 to 1
    over ``reverb_length`` taps. ``trainable=True`` learns scalar ``gain`` and ``decay``
    (initial 2.0 and 4.0, as in DDSP); otherwise pass them, each ``(batch, 1)``.
    """

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        scale_fn: ScaleFn | None = exp_sigmoid,
        add_dry: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.trainable = trainable
        self.add_dry = add_dry
        self.scale_fn = scale_fn
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.input_names = ("audio",) if trainable else ("audio", "gain", "decay")
        self.register_buffer("noise", uniform_noise(1, self.reverb_length, seed=seed))
        self.register_buffer("time", torch.linspace(0.0, 1.0, self.reverb_length)[None, :])
        if trainable:
            self.gain = nn.Parameter(torch.tensor([[2.0]]))
            self.decay = nn.Parameter(torch.tensor([[4.0]]))

    def controls(self, audio: Tensor, gain: Tensor | None = None, decay: Tensor | None = None) -> dict[str, Tensor]:  # type: ignore[override]
        if self.trainable:
            if gain is not None or decay is not None:
                raise InputError("gain and decay must not be given to a trainable ExpDecayReverb")
            gain, decay = self.gain, self.decay
        elif gain is None or decay is None:
            raise InputError("gain and decay (each (batch, 1)) are required: this ExpDecayReverb is not trainable")
        for name, control in (("gain", gain), ("decay", decay)):
            check_rank(name, control, 2, "(batch, 1)")
            if control.shape[-1] != 1:
                raise InputError(f"{name} must have shape (batch, 1), found {tuple(control.shape)}")
        if self.scale_fn is not None:
            gain = self.scale_fn(gain)
        rate = 2.0 + torch.exp(decay)
        ir = gain * torch.exp(-rate * self.time.to(gain.dtype)) * self.noise.to(gain.dtype)
        return {"audio": audio, "ir": ir}

    def render(self, audio: Tensor, ir: Tensor) -> Tensor:  # type: ignore[override]
        return _convolution_reverb(audio, ir, self.add_dry)

    def forward(self, audio: Tensor, gain: Tensor | None = None, decay: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.render(**self.controls(audio, gain, decay))


class FilteredNoiseReverb(Processor):
    """Reverb whose impulse response is noise through a time-varying filter bank (DDSP's).

    The response is ``reverb_length`` taps of fixed noise filtered by ``magnitudes``
    ``(batch, n_frames, n_filter_banks)`` (after ``scale_fn(magnitudes + initial_bias)``): a
    learnable decay per frequency band. ``trainable=True`` learns one set of magnitudes
    ``(n_frames, n_filter_banks)``; otherwise pass them.
    """

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
    ):
        super().__init__()
        self.trainable = trainable
        self.add_dry = add_dry
        self.scale_fn = scale_fn
        self.initial_bias = float(initial_bias)
        self.window_size = int(window_size)
        self.reverb_length = check_positive_int("reverb_length", reverb_length, minimum=2)
        self.input_names = ("audio",) if trainable else ("audio", "magnitudes")
        self.register_buffer("noise", uniform_noise(1, self.reverb_length, seed=seed))
        if trainable:
            generator = torch.Generator().manual_seed(seed + 1)
            n_frames = check_positive_int("n_frames", n_frames)
            n_filter_banks = check_positive_int("n_filter_banks", n_filter_banks, minimum=2)
            self.magnitudes = nn.Parameter(torch.randn(n_frames, n_filter_banks, generator=generator) * 1e-2)

    def controls(self, audio: Tensor, magnitudes: Tensor | None = None) -> dict[str, Tensor]:  # type: ignore[override]
        if self.trainable:
            if magnitudes is not None:
                raise InputError("magnitudes must not be given to a trainable FilteredNoiseReverb")
            magnitudes = self.magnitudes.unsqueeze(0)
        elif magnitudes is None:
            raise InputError("magnitudes (batch, n_frames, n_filter_banks) are required: this reverb is not trainable")
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

    def render(self, audio: Tensor, ir: Tensor) -> Tensor:  # type: ignore[override]
        return _convolution_reverb(audio, ir, self.add_dry)

    def forward(self, audio: Tensor, magnitudes: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return self.render(**self.controls(audio, magnitudes))


class FIRFilter(Processor):
    """Time-varying linear-phase FIR filter from per-frame magnitude responses.

    ``controls``: ``scale_fn`` (default ``exp_sigmoid``) on the raw magnitudes.
    ``render``: :func:`torchddsp.functional.frequency_filter` (delay compensated) with
    ``window_size`` taps (0, the default: ``2 * (n_bins - 1)``).

    Shape:
        ``audio`` ``(batch, n_samples)``, ``magnitudes`` ``(batch, n_frames, n_bins)`` ->
        ``(batch, n_samples)``.
    """

    input_names = ("audio", "magnitudes")

    def __init__(self, window_size: int = 0, scale_fn: ScaleFn | None = exp_sigmoid):
        super().__init__()
        self.window_size = int(window_size)
        self.scale_fn = scale_fn

    def controls(self, audio: Tensor, magnitudes: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes)
        return {"audio": audio, "magnitudes": magnitudes}

    def render(self, audio: Tensor, magnitudes: Tensor) -> Tensor:  # type: ignore[override]
        return frequency_filter(audio, magnitudes, self.window_size)

    def forward(self, audio: Tensor, magnitudes: Tensor) -> Tensor:  # type: ignore[override]
        return self.render(**self.controls(audio, magnitudes))


class ModDelay(Processor):
    """Modulated delay (chorus, flanger, vibrato) driven by frame-rate controls (DDSP's).

    The delay is ``center_ms + depth_ms * phase`` with ``phase = phase_scale_fn(raw)`` in
    [0, 1] (sigmoid by default); the wet signal is scaled by ``gain_scale_fn(gain)`` and the
    dry signal added when ``add_dry``. Controls ``(batch, n_frames, 1)`` are upsampled
    linearly to the audio's length; the delay line interpolates fractional delays.
    """

    input_names = ("audio", "gain", "phase")

    def __init__(
        self,
        center_ms: float = 15.0,
        depth_ms: float = 10.0,
        sample_rate: float = 16000,
        gain_scale_fn: ScaleFn | None = exp_sigmoid,
        phase_scale_fn: ScaleFn | None = torch.sigmoid,
        add_dry: bool = True,
        interpolation: str = "linear",
    ):
        super().__init__()
        if not center_ms >= 0 or not depth_ms >= 0 or not math.isfinite(center_ms + depth_ms):
            raise InputError(f"center_ms and depth_ms must be finite and >= 0, found {center_ms}, {depth_ms}")
        self.center_ms = float(center_ms)
        self.depth_ms = float(depth_ms)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.gain_scale_fn = gain_scale_fn
        self.phase_scale_fn = phase_scale_fn
        self.add_dry = add_dry
        self.interpolation = check_choice("interpolation", interpolation, DELAY_INTERPOLATIONS)

    def controls(self, audio: Tensor, gain: Tensor, phase: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        if self.gain_scale_fn is not None:
            gain = self.gain_scale_fn(gain)
        if self.phase_scale_fn is not None:
            phase = self.phase_scale_fn(phase)
        return {"audio": audio, "gain": gain, "phase": phase}

    def render(self, audio: Tensor, gain: Tensor, phase: Tensor) -> Tensor:  # type: ignore[override]
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_rank("gain", gain, 3, "(batch, n_frames, 1)")
        check_rank("phase", phase, 3, "(batch, n_frames, 1)")
        for name, control in (("gain", gain), ("phase", phase)):
            if control.shape[-1] != 1 or control.shape[0] != audio.shape[0]:
                raise InputError(f"{name} must have shape ({audio.shape[0]}, n_frames, 1), found {tuple(control.shape)}")
        check_finite("phase", phase)
        if not bool(((phase >= 0) & (phase <= 1)).all()):
            raise InputError("phase must lie in [0, 1] after phase_scale_fn (it scales depth_ms)")
        n_samples = audio.shape[1]
        delay_ms = self.center_ms + self.depth_ms * upsample(phase, n_samples, "linear")[..., 0]
        wet = fractional_delay(audio, delay_ms * (self.sample_rate / 1000.0), interpolation=self.interpolation)
        wet = wet * upsample(gain, n_samples, "linear")[..., 0]
        return wet + audio if self.add_dry else wet

    def forward(self, audio: Tensor, gain: Tensor, phase: Tensor) -> Tensor:  # type: ignore[override]
        return self.render(**self.controls(audio, gain, phase))
