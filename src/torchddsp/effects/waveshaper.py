"""Waveshaper (saturation, clipping, Chebyshev harmonic shaping) as a processor.

Renders through :func:`torchddsp.functional.waveshape` (curves, bias and DC removal,
oversampling are documented there) and adds an output gain and a wet/dry mix::

    out = mix * 10 ** (output_gain_db / 20) * waveshape(audio, ...) + (1 - mix) * audio
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..functional.waveshaping import WAVESHAPE_CURVES
from ..functional.waveshaping import waveshape
from ..processors import Processor
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_finite
from ..validation import check_positive_int
from ..validation import check_rank

__all__ = ["Waveshaper"]

ScaleFn = Callable[[Tensor], Tensor]


class Waveshaper(Processor):
    """Static nonlinearity with drive, asymmetry (bias), optional oversampling, gain and mix.

    ``trainable=True``: ``drive_db``, ``bias``, ``output_gain_db``, ``mix`` (and for
    ``"chebyshev"`` the ``n_terms`` coefficients, initialised to ``T_1`` alone, the identity)
    are ``nn.Parameter`` scalars shared by the batch, starting from the constructor's values;
    call ``shaper(audio)``. ``trainable=False``: output gain and mix are fixed at the
    constructor's values and the curve's settings are controls:
    ``shaper(audio, drive_db, bias)`` (plus ``coefficients`` for ``"chebyshev"``), each mapped
    by its scale function when one is given (default: none, values in dB and linear units).

    Shape:
        ``audio`` ``(batch, n_samples)``; ``drive_db`` and ``bias`` ``(batch, 1)``, per sample
        ``(batch, n_samples)`` or frame rate ``(batch, n_frames, 1)`` (upsampled linearly); ``coefficients`` ``(batch or 1,
        n_terms)`` -> ``(batch, n_samples)``.

    Example:
        >>> Waveshaper()(torch.randn(2, 1600), torch.full((2, 1), 6.0), torch.zeros(2, 1)).shape
        torch.Size([2, 1600])
        >>> _, state = Waveshaper()(torch.randn(2, 64), torch.zeros(2, 64), torch.zeros(2, 64), return_state=True)
        >>> state.shape  # memoryless: nothing to carry
        torch.Size([2, 0])

    Streaming (render options ``state`` and ``return_state``, latency 0): without oversampling
    the curve is memoryless and the state is empty, ``(batch, 0)``, so blocks (each with its
    own per-sample controls) equal one call. With ``oversampling > 1`` streaming is refused:
    the resampling filters are zero-phase (each output reads about 26 samples ahead on the way
    up and as many on the way down), which a block cannot do without a latency this processor
    does not implement.

    Args:
        curve: ``"tanh"``, ``"soft_clip"``, ``"hard_clip"`` or ``"chebyshev"``.
        oversampling: integer factor of the band-limited oversampling (1: none).
        trainable: learn the settings (above) rather than take them as controls.
        drive_db, bias: initial values when trainable.
        n_terms: number of Chebyshev coefficients when trainable (``T_0 .. T_{n_terms - 1}``).
        output_gain_db: gain of the shaped signal in dB (learned when trainable).
        mix: wet proportion, 1 by default (only the shaped signal; learned when trainable;
            not limited to [0, 1]).
        drive_scale_fn, bias_scale_fn, coefficients_scale_fn: optional maps from raw network
            outputs to the controls when not trainable.
    """

    render_options = ("state", "return_state")

    def __init__(
        self,
        curve: str = "tanh",
        oversampling: int = 1,
        trainable: bool = False,
        drive_db: float = 0.0,
        bias: float = 0.0,
        n_terms: int = 4,
        output_gain_db: float = 0.0,
        mix: float = 1.0,
        drive_scale_fn: ScaleFn | None = None,
        bias_scale_fn: ScaleFn | None = None,
        coefficients_scale_fn: ScaleFn | None = None,
    ):
        super().__init__(trainable)
        self.curve = check_choice("curve", curve, WAVESHAPE_CURVES)
        self.oversampling = check_positive_int("oversampling", oversampling)
        for name, value in (("drive_db", drive_db), ("bias", bias), ("output_gain_db", output_gain_db), ("mix", mix)):
            if not math.isfinite(float(value)):
                raise InputError(f"{name} must be a finite number, found {value!r}")
        self.drive_scale_fn = drive_scale_fn
        self.bias_scale_fn = bias_scale_fn
        self.coefficients_scale_fn = coefficients_scale_fn
        chebyshev = curve == "chebyshev"
        self.input_names = ("audio", "drive_db", "bias", "coefficients") if chebyshev else ("audio", "drive_db", "bias")
        self.learnable("drive_db", torch.tensor([[float(drive_db)]]))
        self.learnable("bias", torch.tensor([[float(bias)]]))
        if chebyshev:
            n_terms = check_positive_int("n_terms", n_terms, minimum=2)
            identity = torch.zeros(1, n_terms)
            identity[0, 1] = 1.0  # T_1 alone: the identity
            self.learnable("coefficients", identity)
        self.output_gain_db: Tensor
        self.mix: Tensor
        self.setting("output_gain_db", torch.tensor([[float(output_gain_db)]]))
        self.setting("mix", torch.tensor([[float(mix)]]))

    def controls(
        self,
        audio: Tensor,
        drive_db: Tensor | None = None,
        bias: Tensor | None = None,
        coefficients: Tensor | None = None,
    ) -> dict[str, Tensor]:
        check_rank("audio", audio, 2, "(batch, n_samples)")
        check_finite("audio", audio)  # named as the module's input, not waveshape's x
        if self.curve != "chebyshev" and coefficients is not None:
            raise InputError(f"coefficients are only used by curve='chebyshev', found curve={self.curve!r}")
        drive_db, bias = self.learned_or_given("drive_db", drive_db), self.learned_or_given("bias", bias)
        if self.curve == "chebyshev":
            coefficients = self.learned_or_given("coefficients", coefficients)
        if not self.trainable:
            for name, control in (("drive_db", drive_db), ("bias", bias)):
                check_rank(name, control, (2, 3), "(batch, 1), (batch, n_samples) or (batch, n_frames, 1)")
            if self.drive_scale_fn is not None:
                drive_db = self.drive_scale_fn(drive_db)
            if self.bias_scale_fn is not None:
                bias = self.bias_scale_fn(bias)
            if coefficients is not None and self.coefficients_scale_fn is not None:
                coefficients = self.coefficients_scale_fn(coefficients)
        controls = {
            "audio": audio,
            "drive_db": drive_db,
            "bias": bias,
            "output_gain_db": self.output_gain_db,
            "mix": self.mix,
        }
        if coefficients is not None:
            controls["coefficients"] = coefficients
        return controls

    def render(
        self,
        audio: Tensor,
        drive_db: Tensor,
        bias: Tensor,
        output_gain_db: Tensor,
        mix: Tensor,
        coefficients: Tensor | None = None,
        *,
        state: Tensor | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        streaming = state is not None or return_state
        if streaming and self.oversampling > 1:
            raise InputError(
                f"state and return_state need oversampling=1, found oversampling={self.oversampling}: the "
                "oversampling filters are zero-phase (they read future samples), so this Waveshaper cannot stream"
            )
        empty = audio.new_zeros(audio.shape[0], 0)
        if state is not None and (not isinstance(state, Tensor) or tuple(state.shape) != tuple(empty.shape)):
            found = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise InputError(
                f"state must be the empty ({audio.shape[0]}, 0) tensor (a memoryless curve), found {found}"
            )
        # Settings follow the audio's dtype, so the output has it too (half audio stays half).
        drive_db, bias = drive_db.to(audio.dtype), bias.to(audio.dtype)
        coefficients = None if coefficients is None else coefficients.to(audio.dtype)
        shaped = waveshape(audio, self.curve, drive_db, bias, coefficients, self.oversampling)
        gain = 10.0 ** (output_gain_db.to(audio.dtype) / 20.0)
        weight = mix.to(audio.dtype)
        out = weight * gain * shaped + (1.0 - weight) * audio
        return (out, empty) if return_state else out
