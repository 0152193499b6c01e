"""Phaser as a processor: an all-pass cascade swept by an internal LFO or by a frame-rate
control, with feedback and a wet/dry mix.

Renders through :func:`torchddsp.functional.phaser` (structure, notches and stability are
documented there). The internal LFO sweeps the break frequency exponentially, by octaves
around a centre::

    sweep_hz[n] = center_hz * 2 ** (depth_octaves * sin(2 pi rate_hz n / sample_rate + lfo_phase))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import torch
from torch import Tensor

from ..functional import smooth_limit
from ..functional.phaser import phaser
from ..processors import Processor

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..processors import StreamOptions
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["Phaser", "PHASER_SWEEPS"]

ScaleFn = Callable[[Tensor], Tensor]

PHASER_SWEEPS = ("lfo", "control")


class Phaser(Processor):
    """Phaser with ``n_stages`` first-order all-pass sections, feedback and mix.

    ``sweep="lfo"`` (default): the break frequency follows the internal LFO (module
    docstring); call ``phaser(audio)``. ``sweep="control"``: it is a frame-rate control in Hz,
    ``phaser(audio, sweep_hz)`` with ``sweep_hz`` ``(batch, n_frames, 1)`` (after
    ``sweep_scale_fn``, e.g. :func:`~torchddsp.functional.frequencies_sigmoid` for raw network
    outputs; none by default), upsampled linearly.

    ``trainable=True`` makes ``feedback``, ``mix`` and, with the LFO, ``rate_hz``,
    ``depth_octaves`` and the centre ``nn.Parameter`` scalars starting from the constructor's
    values. The feedback is learned through ``feedback = tanh(raw_feedback)``, so it stays in
    (-1, 1) where the phaser is stable; the center as ``log_center_hz``, so it stays positive;
    and the learned sweep is kept between 10 Hz and 0.45 x the sample rate by smooth limits
    (:func:`~torchddsp.functional.smooth_limit` in octaves), so training cannot carry it past
    Nyquist. Otherwise they are fixed buffers. ``controls`` returns the per-sample sweep it renders, so
    the LFO can be inspected.

    Shape:
        ``audio`` ``(batch, n_samples)`` -> ``(batch, n_samples)``.

    Example:
        >>> audio, (cascade, lfo_phase) = Phaser(16000)(torch.randn(2, 1600), return_state=True)
        >>> audio.shape, cascade.shape, lfo_phase.shape, lfo_phase.dtype
        (torch.Size([2, 1600]), torch.Size([2, 5]), torch.Size([2, 1]), torch.float64)

    Streaming (render options ``state`` and ``return_state``, latency 0): with
    ``sweep="control"`` the state is :func:`~torchddsp.functional.phaser`'s, the all-pass
    cascade ``(batch, n_stages + 1)``, and each block brings its own sweep (upsampled to that
    block alone: one frame per sample carries it exactly). With ``sweep="lfo"`` it is the pair
    ``(cascade, lfo_phase)``: the LFO's phase at the block's first sample, ``(batch, 1)``
    radians in ``[0, 2 pi)``, kept in float64 whatever the audio's dtype (a float32 phase
    would drift over long streams); at rest (``state=None``) the LFO starts at ``lfo_phase``.
    ``controls`` gives the LFO of the first block; ``render`` follows the state's phase.

    Args:
        sample_rate: in Hz.
        n_stages: number of all-pass sections (4 by default: two notches).
        sweep: ``"lfo"`` or ``"control"``.
        rate_hz: LFO rate in Hz (>= 0).
        depth_octaves: LFO depth in octaves either side of the centre (>= 0).
        center_hz: LFO centre in Hz; ``center_hz * 2 ** depth_octaves`` must stay below Nyquist.
        lfo_phase: LFO phase at sample 0, radians.
        feedback: ``|feedback| < 1``.
        mix: wet proportion, 0.5 by default (deepest notches).
        trainable: learn the settings (above).
        sweep_scale_fn: map from raw inputs to Hz for ``sweep="control"``.
    """

    render_options = ("state", "return_state")
    # Settings: buffers, or parameters when trainable (``Processor.setting`` in __init__); the
    # last three exist with the LFO only.
    raw_feedback: Tensor
    mix: Tensor
    rate_hz: Tensor
    depth_octaves: Tensor
    log_center_hz: Tensor

    def __init__(
        self,
        sample_rate: float = 16000,
        n_stages: int = 4,
        sweep: str = "lfo",
        rate_hz: float = 0.5,
        depth_octaves: float = 2.0,
        center_hz: float = 800.0,
        lfo_phase: float = 0.0,
        feedback: float = 0.5,
        mix: float = 0.5,
        trainable: bool = False,
        sweep_scale_fn: ScaleFn | None = None,
    ):
        super().__init__(trainable)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.n_stages = check_positive_int("n_stages", n_stages)
        self.sweep = check_choice("sweep", sweep, PHASER_SWEEPS)
        self.sweep_scale_fn = sweep_scale_fn
        self.lfo_phase = float(lfo_phase)
        if not abs(float(feedback)) < 1:
            raise InputError(f"feedback must satisfy |feedback| < 1, found {feedback!r}")
        if not math.isfinite(float(mix)) or not math.isfinite(self.lfo_phase):
            raise InputError(f"mix and lfo_phase must be finite, found {mix!r}, {lfo_phase!r}")
        self.input_names = ("audio",) if sweep == "lfo" else ("audio", "sweep_hz")
        settings = {"raw_feedback": math.atanh(float(feedback)), "mix": float(mix)}
        if sweep == "lfo":
            if not (rate_hz >= 0 and depth_octaves >= 0 and math.isfinite(rate_hz + depth_octaves)):
                raise InputError(
                    f"rate_hz and depth_octaves must be finite and >= 0, found {rate_hz!r}, {depth_octaves!r}"
                )
            center_hz = check_positive("center_hz", center_hz)
            if center_hz * 2.0**depth_octaves >= self.sample_rate / 2:
                raise InputError(
                    f"center_hz * 2 ** depth_octaves must stay below Nyquist ({self.sample_rate / 2} Hz), "
                    f"found {center_hz * 2.0**depth_octaves}"
                )
            settings.update(
                rate_hz=float(rate_hz), depth_octaves=float(depth_octaves), log_center_hz=math.log(center_hz)
            )
        for name, value in settings.items():
            self.setting(name, torch.tensor([[value]]))

    @property
    def feedback(self) -> Tensor:
        """The feedback gain, ``tanh(raw_feedback)``, shape ``(1, 1)``."""
        return torch.tanh(self.raw_feedback)

    def lfo(self, n_samples: int, dtype: torch.dtype = torch.float32, start_phase: Tensor | None = None) -> Tensor:
        """The LFO's break frequency in Hz for ``n_samples`` samples, ``(1, n_samples)``, or
        ``(batch, n_samples)`` from ``start_phase`` ``(batch, 1)`` (radians at the first sample;
        default ``lfo_phase``).

        The phase is computed in float64 (long signals), then cast to ``dtype``.
        Differentiable in the LFO parameters.
        """
        if self.sweep != "lfo":
            raise InputError("this Phaser has no LFO (sweep='control')")
        n_samples = check_positive_int("n_samples", n_samples, minimum=0)
        time = torch.arange(n_samples, dtype=torch.float64, device=self.rate_hz.device) / self.sample_rate
        start = self.lfo_phase if start_phase is None else start_phase.double()
        phase = 2 * math.pi * self.rate_hz.double() * time[None, :] + start
        octaves = self.log_center_hz.double() / math.log(2.0) + self.depth_octaves.double() * torch.sin(phase)
        if self.trainable:
            # Learned centre and depth could carry the sweep past Nyquist (an error in phaser()):
            # smooth limits keep it between 10 Hz and 0.45 x the sample rate (in octaves).
            octaves = smooth_limit(octaves, math.log2(10.0), math.log2(0.45 * self.sample_rate), 0.1)
        return torch.exp2(octaves).to(dtype)

    def controls(self, audio: Tensor, sweep_hz: Tensor | None = None) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)  # named as the module's input, not phaser's x
        if self.sweep == "lfo":
            if sweep_hz is not None:
                raise InputError("sweep_hz must not be given to a Phaser with sweep='lfo' (its LFO makes the sweep)")
            sweep_hz = self.lfo(audio.shape[1], audio.dtype)
        else:
            if sweep_hz is None:
                raise InputError("sweep_hz (batch, n_frames, 1) is required by a Phaser with sweep='control'")
            check_rank("sweep_hz", sweep_hz, 3, "(batch, n_frames, 1)")
            if self.sweep_scale_fn is not None:
                sweep_hz = self.sweep_scale_fn(sweep_hz)
        return {"audio": audio, "sweep_hz": sweep_hz, "feedback": self.feedback, "mix": self.mix}

    def render(
        self, audio: Tensor, sweep_hz: Tensor, feedback: Tensor, mix: Tensor, **options: Unpack[StreamOptions[Any]]
    ) -> Tensor | tuple[Tensor, Any]:
        """The phaser of ``audio``. With the LFO and a ``state``, the sweep is the LFO from the
        state's phase (``controls`` gives the LFO from ``lfo_phase``: that of a stream's first
        block), and the state returned holds the phase after the block."""
        state, lfo_start = options.get("state"), None
        if self.sweep == "lfo" and (state is not None or options.get("return_state", False)):
            if state is None:
                lfo_start = torch.full((audio.shape[0], 1), self.lfo_phase, dtype=torch.float64, device=audio.device)
            else:
                state, lfo_start = self._lfo_state(state, audio)
                sweep_hz = self.lfo(audio.shape[1], audio.dtype, lfo_start)
        # Settings follow the audio's dtype, so the output has it too (half audio stays half).
        out, cascade = phaser(
            audio,
            sweep_hz.to(audio.dtype),
            self.n_stages,
            feedback.to(audio.dtype),
            mix.to(audio.dtype),
            self.sample_rate,
            state=state,
            return_state=True,
        )
        if not options.get("return_state", False):
            return out
        if lfo_start is None:
            return out, cascade
        # Wrapped to [0, 2 pi): the phase stays small, so float64 keeps it exact for any stream length.
        advance = 2 * math.pi * self.rate_hz.double() * (audio.shape[1] / self.sample_rate)
        return out, (cascade, torch.remainder(lfo_start + advance, 2 * math.pi))

    def _lfo_state(self, state: Any, audio: Tensor) -> tuple[Tensor, Tensor]:
        """``state`` of a Phaser with the LFO checked: ``(cascade, lfo_phase (batch, 1))``."""
        if not (isinstance(state, tuple) and len(state) == 2 and all(isinstance(t, Tensor) for t in state)):
            raise InputError(
                "state of a Phaser with sweep='lfo' must be the pair (cascade (batch, n_stages + 1), "
                f"lfo_phase (batch, 1)) it returned, found {type(state).__name__}"
            )
        batch = audio.shape[0]
        if tuple(state[1].shape) != (batch, 1):
            raise InputError(f"state's lfo_phase must have shape ({batch}, 1), found {tuple(state[1].shape)}")
        check_finite("state's lfo_phase", state[1])
        return state[0], state[1]
