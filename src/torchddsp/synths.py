"""Synthesizers as processors: controls from network outputs, audio from ``torchddsp.functional``.

Every synthesizer renders frame-rate controls ``(batch, n_frames, channels)`` to audio
``(batch, n_samples)``; ``n_samples`` is a call argument (a whole number of hops), never a
constructor setting. ``scale_fn`` maps raw network outputs to positive amplitudes
(``exp_sigmoid`` by default, as in DDSP); pass ``scale_fn=None`` to give controls in
physical units directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .functional import exp_sigmoid
from .functional import fm_synthesis
from .functional import frequencies_sigmoid
from .functional import frequency_filter
from .functional import harmonic_synthesis
from .functional import normalize_harmonics
from .functional import oscillator_bank
from .functional import uniform_noise
from .functional import upsample
from .functional import wavetable_synthesis
from .functional.noise import make_generator
from .functional.noise import seeded_noise
from .functional.partials import partial_frequencies
from .functional.resampling import UPSAMPLE_METHODS
from .processors import Processor
from .resonators import KarplusStrong
from .resonators import Modal
from .validation import InputError
from .validation import check_choice
from .validation import check_positive
from .validation import check_rank
from .validation import check_tensor

__all__ = ["Harmonic", "FilteredNoise", "Sinusoidal", "Wavetable", "FM", "Modal", "KarplusStrong"]

ScaleFn = Callable[[Tensor], Tensor]

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .processors import BlockOptions
    from .processors import StreamOptions


class _Oscillating(Processor):
    """What the oscillating synthesizers share: ``sample_rate`` and ``amplitude_upsampling``
    (checked), and the render options :class:`~torchddsp.processors.BlockOptions`."""

    render_options = ("n_samples", "state", "return_state", "add_endpoint")

    def __init__(self, sample_rate: float, amplitude_upsampling: str):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.amplitude_upsampling = check_choice("amplitude_upsampling", amplitude_upsampling, UPSAMPLE_METHODS)

    def pitched(
        self,
        synthesis: Callable[..., Tensor | tuple[Tensor, Tensor]],
        f0_hz: Tensor,
        amplitudes: Tensor,
        shape: Tensor,
        *,
        n_samples: int,
        **blocks: object,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``synthesis(f0_hz, amplitudes, shape, ...)`` with this processor's settings: the render
        of :class:`Harmonic` (``shape`` the harmonic distribution) and :class:`Wavetable`."""
        return synthesis(
            f0_hz,
            amplitudes,
            shape,
            n_samples,
            self.sample_rate,
            amplitude_upsampling=self.amplitude_upsampling,
            **blocks,
        )


class Harmonic(_Oscillating):
    """Harmonic (additive) synthesizer: a sum of sinusoids at integer multiples of ``f0_hz``.

    ``controls``: ``scale_fn`` maps the raw ``amplitudes`` and ``harmonic_distribution`` to
    positive values; the distribution is normalised to sum to one per frame over the
    harmonics below Nyquist (``normalize_below_nyquist=True``) or over all of them.
    ``render``: :func:`torchddsp.functional.harmonic_synthesis`.

    Call as ``harmonic(amplitudes, harmonic_distribution, f0_hz, n_samples=...)`` (Magenta's
    argument order). Render options: ``n_samples``; ``state`` (the fundamental's phase
    ``(batch, 1)``), ``return_state`` and ``add_endpoint`` to render in blocks (see
    :func:`~torchddsp.functional.harmonic_synthesis`).

    Partials off the series: ``harmonic_shifts=True`` adds an input port ``harmonic_shifts``
    ``(batch, n_frames, n_harmonics)`` (partial ``k`` at ``k f0 (1 + shift_k)``, taken as
    given), ``inharmonicity=True`` a port ``inharmonicity`` (``B >= 0``, ``(batch, 1)`` or
    ``(batch, n_frames, 1)``: ``k f0 sqrt(1 + B k^2)``), in that order after ``f0_hz``; the
    normalisation below Nyquist then mutes the moved partials, and ``state`` holds every
    partial's phase ``(batch, n_harmonics)``.

    Shape:
        ``amplitudes`` ``(batch, n_frames, 1)``, ``harmonic_distribution``
        ``(batch, n_frames, n_harmonics)``, ``f0_hz`` ``(batch, n_frames, 1)`` ->
        ``(batch, n_samples)``.

    Example:
        >>> harmonic = Harmonic(16000)
        >>> f0_hz = torch.full((2, 10, 1), 440.0)
        >>> harmonic(torch.zeros(2, 10, 1), torch.zeros(2, 10, 8), f0_hz, n_samples=640).shape
        torch.Size([2, 640])

    Args:
        sample_rate: output rate in Hz (default 16000).
        scale_fn: raw -> positive amplitude map, or None to take controls as given.
        normalize_below_nyquist: normalise over the audible harmonics only.
        amplitude_upsampling: ``"window"`` (DDSP's default) or ``"linear"``.
        harmonic_shifts, inharmonicity: add those input ports (above).
    """

    input_names: tuple[str, ...] = ("amplitudes", "harmonic_distribution", "f0_hz")

    def __init__(
        self,
        sample_rate: float = 16000,
        scale_fn: ScaleFn | None = exp_sigmoid,
        normalize_below_nyquist: bool = True,
        amplitude_upsampling: str = "window",
        harmonic_shifts: bool = False,
        inharmonicity: bool = False,
    ):
        super().__init__(sample_rate, amplitude_upsampling)
        self.scale_fn = scale_fn
        self.normalize_below_nyquist = normalize_below_nyquist
        extra = ("harmonic_shifts",) * bool(harmonic_shifts) + ("inharmonicity",) * bool(inharmonicity)
        self.input_names = (*type(self).input_names, *extra)

    def controls(
        self, amplitudes: Tensor, harmonic_distribution: Tensor, f0_hz: Tensor, *moved: Tensor, **named: Tensor
    ) -> dict[str, Tensor]:
        check_rank("amplitudes", amplitudes, 3, "(batch, n_frames, 1)")
        check_rank("harmonic_distribution", harmonic_distribution, 3, "(batch, n_frames, n_harmonics)")
        check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
        ports = self.input_names[3:]  # the optional ports this instance was built with, in order
        given = dict(zip(ports, moved)) | named
        if len(moved) > len(ports) or set(given) != set(ports):
            raise InputError(
                f"this Harmonic takes {list(ports)} after f0_hz (harmonic_shifts / inharmonicity are "
                f"inputs only when built with harmonic_shifts=True / inharmonicity=True), found "
                f"{len(moved)} more positional and {sorted(named)} by name"
            )
        harmonic_shifts, inharmonicity = given.get("harmonic_shifts"), given.get("inharmonicity")
        if self.scale_fn is not None:
            amplitudes = self.scale_fn(amplitudes)
            harmonic_distribution = self.scale_fn(harmonic_distribution)
        nyquist_rate = self.sample_rate if self.normalize_below_nyquist else None
        if nyquist_rate is not None and (harmonic_shifts is not None or inharmonicity is not None):
            # Mute the partials the shifts or the stretch move to Nyquist or above.
            frequencies = partial_frequencies(f0_hz, harmonic_distribution.shape[-1], harmonic_shifts, inharmonicity)
            harmonic_distribution = harmonic_distribution * (frequencies.abs() < nyquist_rate / 2)
            nyquist_rate = None
        harmonic_distribution = normalize_harmonics(harmonic_distribution, f0_hz, nyquist_rate)
        controls = {"amplitudes": amplitudes, "harmonic_distribution": harmonic_distribution, "f0_hz": f0_hz}
        return controls | given

    def render(
        self,
        amplitudes: Tensor,
        harmonic_distribution: Tensor,
        f0_hz: Tensor,
        harmonic_shifts: Tensor | None = None,
        inharmonicity: Tensor | None = None,
        **options: Unpack[BlockOptions[Tensor]],
    ) -> Tensor | tuple[Tensor, Tensor]:
        moved = {"harmonic_shifts": harmonic_shifts, "inharmonicity": inharmonicity}
        return self.pitched(harmonic_synthesis, f0_hz, amplitudes, harmonic_distribution, **moved, **options)


class FilteredNoise(Processor):
    """Uniform white noise shaped by a time-varying linear-phase FIR filter.

    Each frame's ``magnitudes`` (``n_bands`` values from 0 Hz to Nyquist) become a
    ``window_size``-tap filter (:func:`torchddsp.functional.frequency_impulse_response`) that
    filters the matching block of noise.

    ``controls``: ``scale_fn(magnitudes + initial_bias)`` (the bias starts training quiet).

    Shape:
        ``magnitudes`` ``(batch, n_frames, n_bands)`` -> ``(batch, n_samples)``, where
        ``ceil(n_samples / n_frames)``-sample blocks must give ``n_frames`` blocks (0 frames:
        ``n_samples=0`` and an empty result).

    Example:
        >>> FilteredNoise()(torch.zeros(2, 10, 65), n_samples=640, seed=0).shape
        torch.Size([2, 640])

    Args:
        window_size: filter taps, at most 2 * (n_bands - 1); 0 (default) for that maximum
            (what DDSP's 257 amounts to for 65 bands).
        scale_fn: raw -> positive magnitude map, or None.
        initial_bias: added to raw magnitudes before ``scale_fn``.

    Randomness: ``render(..., seed=s)`` is counter-based noise
    (:func:`~torchddsp.functional.counter_noise`): row ``b`` is a pure function of
    ``(noise_seed(s, b), noise_offset + n)``, so a stream rendered block by block with
    ``noise_offset`` set to the samples already drawn equals one call, on any device;
    ``generator=g`` draws from ``g``; with neither, from the global RNG (never reseeded).
    """

    input_names = ("magnitudes",)
    render_options = ("n_samples", "generator", "seed", "noise_offset")

    def __init__(self, window_size: int = 0, scale_fn: ScaleFn | None = exp_sigmoid, initial_bias: float = -5.0):
        super().__init__()
        self.window_size = int(window_size)
        self.scale_fn = scale_fn
        self.initial_bias = float(initial_bias)

    def controls(self, magnitudes: Tensor) -> dict[str, Tensor]:
        check_rank("magnitudes", magnitudes, 3, "(batch, n_frames, n_bands)")
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes + self.initial_bias)
        return {"magnitudes": magnitudes}

    def render(
        self,
        magnitudes: Tensor,
        *,
        n_samples: int,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        noise_offset: int = 0,
    ) -> Tensor:
        check_rank("magnitudes", magnitudes, 3, "(batch, n_frames, n_bands)")
        if magnitudes.shape[1] == 0:
            # No frames: no noise, as the library's other ops give an empty result for empty input.
            if n_samples != 0:
                raise InputError(
                    f"magnitudes has 0 frames, which cannot cover n_samples={n_samples}; "
                    "give at least one frame, or n_samples=0 for an empty result"
                )
            return magnitudes.new_zeros(magnitudes.shape[0], 0)
        if seed is not None and generator is not None:
            raise InputError("pass either seed or generator, not both")
        if seed is not None:
            noise = seeded_noise(
                seed, magnitudes.shape[0], n_samples, noise_offset, magnitudes.dtype, magnitudes.device
            )
        else:
            if noise_offset:
                raise InputError("noise_offset applies to seeded noise: give seed too")
            source = make_generator(None, generator, magnitudes.device)
            noise = uniform_noise(
                magnitudes.shape[0], n_samples, generator=source, dtype=magnitudes.dtype, device=magnitudes.device
            )
        return frequency_filter(noise, magnitudes, self.window_size)


class Sinusoidal(_Oscillating):
    """A bank of free sinusoids with per-frame frequencies and amplitudes.

    ``controls``: ``amplitude_scale_fn`` (default ``exp_sigmoid``) on amplitudes and
    ``frequency_scale_fn`` (default :func:`frequencies_sigmoid`, 20 Hz to 8 kHz uniform in pitch)
    on frequencies. ``render``: frequencies upsampled linearly, amplitudes with
    ``amplitude_upsampling``, then :func:`torchddsp.functional.oscillator_bank`.

    Render options: ``n_samples``; ``state`` (the phases ``(batch, n_sinusoids)``),
    ``return_state`` and ``add_endpoint`` to render in blocks, as :class:`Harmonic`.

    Shape:
        ``amplitudes``, ``frequencies_hz`` ``(batch, n_frames, n_sinusoids)`` -> ``(batch, n_samples)``.

    Example:
        >>> Sinusoidal(16000)(torch.zeros(2, 10, 4), torch.zeros(2, 10, 4), n_samples=640).shape
        torch.Size([2, 640])
    """

    input_names = ("amplitudes", "frequencies_hz")

    def __init__(
        self,
        sample_rate: float = 16000,
        amplitude_scale_fn: ScaleFn | None = exp_sigmoid,
        frequency_scale_fn: ScaleFn | None = frequencies_sigmoid,
        amplitude_upsampling: str = "window",
    ):
        super().__init__(sample_rate, amplitude_upsampling)
        self.amplitude_scale_fn = amplitude_scale_fn
        self.frequency_scale_fn = frequency_scale_fn

    def controls(self, amplitudes: Tensor, frequencies_hz: Tensor) -> dict[str, Tensor]:
        check_rank("amplitudes", amplitudes, 3, "(batch, n_frames, n_sinusoids)")
        check_rank("frequencies_hz", frequencies_hz, 3, "(batch, n_frames, n_sinusoids)")
        if self.amplitude_scale_fn is not None:
            amplitudes = self.amplitude_scale_fn(amplitudes)
        if self.frequency_scale_fn is not None:
            # In float64, as the phase it feeds: in float32 a frame's frequency may differ by a
            # rounding step with its place in the tensor (torch.pow's vector loop against its
            # scalar tail), a 6e-8 error that the phase sums over the whole stream.
            frequencies_hz = self.frequency_scale_fn(frequencies_hz.to(torch.float64))
        return {"amplitudes": amplitudes, "frequencies_hz": frequencies_hz}

    def render(
        self,
        amplitudes: Tensor,
        frequencies_hz: Tensor,
        *,
        n_samples: int,
        add_endpoint: bool = True,
        **options: Unpack[StreamOptions[Tensor]],
    ) -> Tensor | tuple[Tensor, Tensor]:
        if amplitudes.shape != frequencies_hz.shape:
            raise InputError(
                f"amplitudes and frequencies_hz must have the same shape, found {tuple(amplitudes.shape)} "
                f"and {tuple(frequencies_hz.shape)}"
            )
        frequency_envelopes = upsample(frequencies_hz.to(torch.float64), n_samples, "linear", add_endpoint)
        amplitude_envelopes = upsample(amplitudes, n_samples, self.amplitude_upsampling, add_endpoint)
        return oscillator_bank(frequency_envelopes, amplitude_envelopes, self.sample_rate, **options)


class Wavetable(_Oscillating):
    """Wavetable synthesizer: a (time-varying) single-cycle waveform played at ``f0_hz``.

    ``controls``: ``scale_fn`` on amplitudes; wavetables are taken as given (waveform
    samples). ``render``: :func:`torchddsp.functional.wavetable_synthesis`.

    Shape:
        ``amplitudes`` ``(batch, n_frames, 1)``, ``wavetables`` ``(batch, table_size)`` or
        ``(batch, n_frames, table_size)``, ``f0_hz`` ``(batch, n_frames, 1)`` -> ``(batch, n_samples)``.

    Example:
        >>> table = torch.sin(torch.linspace(0, 2 * math.pi, 64)).expand(2, 64)
        >>> Wavetable(16000)(torch.zeros(2, 10, 1), table, torch.full((2, 10, 1), 440.0), n_samples=640).shape
        torch.Size([2, 640])

    Render options: ``n_samples``; ``state`` (the phase ``(batch, 1)``), ``return_state`` and
    ``add_endpoint`` to render in blocks, as :class:`Harmonic`.
    """

    input_names = ("amplitudes", "wavetables", "f0_hz")

    def __init__(
        self, sample_rate: float = 16000, scale_fn: ScaleFn | None = exp_sigmoid, amplitude_upsampling: str = "window"
    ):
        super().__init__(sample_rate, amplitude_upsampling)
        self.scale_fn = scale_fn

    def controls(self, amplitudes: Tensor, wavetables: Tensor, f0_hz: Tensor) -> dict[str, Tensor]:
        check_tensor("amplitudes", amplitudes)
        if self.scale_fn is not None:
            amplitudes = self.scale_fn(amplitudes)
        return {"amplitudes": amplitudes, "wavetables": wavetables, "f0_hz": f0_hz}

    def render(
        self, amplitudes: Tensor, wavetables: Tensor, f0_hz: Tensor, **options: Unpack[BlockOptions[Tensor]]
    ) -> Tensor | tuple[Tensor, Tensor]:
        return self.pitched(wavetable_synthesis, f0_hz, amplitudes, wavetables, **options)


def _stack_routing(n_operators: int) -> Tensor:
    """Operator i + 1 modulates operator i: a single stack with operator 0 as the carrier."""
    routing = torch.zeros(n_operators, n_operators)
    for i in range(n_operators - 1):
        routing[i, i + 1] = 1.0
    return routing


class FM(Processor):
    """FM synthesizer: ``n_operators`` sine operators at fixed ratios of ``f0_hz``.

    The network controls each operator's level per frame; frequency ratios, routing and
    feedback are settings (ratios and feedback may be learnable). Levels are mapped by
    ``scale_fn`` (default ``exp_sigmoid``, in (0, 2)); a modulator's level times
    ``modulation_scale`` (radians) is its modulation index. Carriers are the operators that
    modulate no other (with the default stack routing, operator 0), mixed with equal weight.

    Render options: ``n_samples``; ``state`` (the operators' phases and last outputs, see
    :func:`~torchddsp.functional.fm_synthesis`), ``return_state`` and ``add_endpoint`` to
    render in blocks, as :class:`Harmonic`.

    Shape:
        ``f0_hz`` ``(batch, n_frames, 1)``, ``levels`` ``(batch, n_frames, n_operators)`` ->
        ``(batch, n_samples)``.

    Example:
        >>> FM(16000)(torch.full((2, 10, 1), 220.0), torch.zeros(2, 10, 2), n_samples=640).shape
        torch.Size([2, 640])

    Args:
        sample_rate: output rate in Hz.
        ratios: frequency of each operator relative to ``f0_hz`` (default: 1 and 2).
        routing: ``(n_operators, n_operators)`` strictly upper-triangular matrix,
            ``routing[i, j]`` = how much operator j modulates operator i (default: a stack).
        feedback: self-feedback of each operator in radians (default none); non-zero values
            run a per-sample recursion (slow).
        modulation_scale: radians of modulation index per unit of modulator level.
        trainable_ratios, trainable_feedback: make those ``nn.Parameter``s.
    """

    input_names = ("f0_hz", "levels")
    render_options = ("n_samples", "state", "return_state", "add_endpoint")

    def __init__(
        self,
        sample_rate: float = 16000,
        ratios: Sequence[float] = (1.0, 2.0),
        routing: Tensor | None = None,
        feedback: Sequence[float] | None = None,
        modulation_scale: float = 2 * math.pi,
        scale_fn: ScaleFn | None = exp_sigmoid,
        trainable_ratios: bool = False,
        trainable_feedback: bool = False,
    ):
        super().__init__()
        self.sample_rate = check_positive("sample_rate", sample_rate)
        n_operators = len(ratios)
        if n_operators < 2:
            raise InputError(f"ratios must name at least 2 operators, found {n_operators}")
        ratio_tensor = torch.tensor([float(r) for r in ratios])
        routing = _stack_routing(n_operators) if routing is None else torch.as_tensor(routing, dtype=torch.float32)
        if routing.shape != (n_operators, n_operators):
            raise InputError(f"routing must have shape ({n_operators}, {n_operators}), found {tuple(routing.shape)}")
        if bool((torch.tril(routing) != 0).any()):
            raise InputError("routing must be strictly upper triangular (operator j modulates i only if j > i)")
        feedback_tensor = torch.zeros(n_operators) if feedback is None else torch.tensor([float(f) for f in feedback])
        if feedback_tensor.shape != (n_operators,):
            raise InputError(f"feedback must have {n_operators} values, found {tuple(feedback_tensor.shape)}")
        self.ratios: Tensor
        self.feedback: Tensor
        self.routing: Tensor
        self.output_gains: Tensor
        self.setting("ratios", ratio_tensor, learned=trainable_ratios)
        self.setting("feedback", feedback_tensor, learned=trainable_feedback)
        carriers = (routing != 0).sum(dim=0) == 0  # modulates nobody
        self.register_buffer("routing", routing)
        self.register_buffer("output_gains", carriers.float() / carriers.sum())
        self.modulation_scale = float(modulation_scale)
        self.scale_fn = scale_fn

    def controls(self, f0_hz: Tensor, levels: Tensor) -> dict[str, Tensor]:
        check_rank("f0_hz", f0_hz, 3, "(batch, n_frames, 1)")
        check_rank("levels", levels, 3, f"(batch, n_frames, {self.ratios.shape[0]})")
        if levels.shape[-1] != self.ratios.shape[0]:
            raise InputError(
                f"levels must have {self.ratios.shape[0]} operators in its last dimension, found {levels.shape[-1]}"
            )
        if self.scale_fn is not None:
            levels = self.scale_fn(levels)
        return {"frequencies_hz": f0_hz * self.ratios.to(f0_hz.dtype), "levels": levels}

    def render(
        self,
        frequencies_hz: Tensor,
        levels: Tensor,
        *,
        n_samples: int,
        add_endpoint: bool = True,
        **options: Unpack[StreamOptions[tuple[Tensor, Tensor]]],
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        frequency_envelopes = upsample(frequencies_hz.to(torch.float64), n_samples, "linear", add_endpoint)
        level_envelopes = upsample(levels, n_samples, "window", add_endpoint)
        feedback = self.feedback.to(levels.dtype)
        feedback_envelope = None
        if self.feedback.requires_grad or bool((self.feedback != 0).any()):
            feedback_envelope = feedback.expand(levels.shape[0], 1, -1)
        return fm_synthesis(
            frequency_envelopes,
            level_envelopes,
            self.routing.to(levels.dtype) * self.modulation_scale,
            self.sample_rate,
            feedback=feedback_envelope,
            output_gains=self.output_gains.to(levels.dtype),
            **options,
        )
