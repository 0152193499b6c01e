"""Chunked rendering of an :class:`~torchddsp.models.Autoencoder`: frames in, audio out, state
passed in and given back explicitly, equal to one whole call ``model(f0_hz, loudness_db)``.

    state = start_render(model, seed=0)
    for f0_chunk, loudness_chunk in chunks:            # any number of frames each, >= 1
        out, state = render_chunk(model, state, f0_chunk, loudness_chunk)
        write(out["audio"])
    out, state = finish_render(model, state)           # the samples still held back
    write(out["audio"])

The concatenated outputs equal ``model(f0_hz, loudness_db, seed=seed)``
over all the frames (to float rounding: the GRU, FFTs and phase sums run over other lengths),
whatever the chunk lengths. What carries across a chunk edge, all in :class:`RenderState`:

- the decoder GRU's hidden state;
- the harmonic synthesizer's last frame of controls and its phase: samples between frame
  ``i`` and ``i + 1`` blend both frames, so a chunk's last hop waits for the next chunk's first
  frame (the final hop, after :func:`finish_render`, holds the last frame as the whole call does);
- the noise's position: seeded counter noise (:func:`~torchddsp.functional.noise.seeded_noise`)
  is a pure function of (seed, sample index), so chunked noise is the whole call's noise on
  any device (a chunked render is one signal, batch 1);
- the noise filter's overlap-add tail: each frame's block of noise is convolved with that
  frame's FIR, and the output is the convolution delayed by ``window_size // 2`` (the filter's
  linear-phase delay removed), so noise output lags its frames by that many samples;
- the reverb's partitioned convolution state (:func:`~torchddsp.functional.partitioned_convolution`:
  the impulse response's partition spectra computed once, the input partitions still
  contributing); it adds no latency, and a chunk costs little whatever the response's length.

Rendering runs without gradients (it is for listening, not training). Output therefore lags the input frames (one hop, or the noise filter's half window if longer);
the samples each call returns vary in number, and :func:`finish_render` returns the rest.

A model with a z encoder (``z_dims > 0``) is refused: its instance normalisation takes
statistics over the whole recording, which a chunk cannot know. So is a model whose config
declares another graph than the default one (other synths, an EQ, another reverb kind:
:func:`~torchddsp.models.autoencoder.check_default_graph`): the renderer knows only harmonic
plus filtered noise and the learned reverb.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from typing import TypedDict

import torch
from torch import Tensor
from typing_extensions import Unpack

from ..functional import fft_convolve
from ..functional import frequency_impulse_response
from ..functional import harmonic_synthesis
from ..functional import partitioned_convolution
from ..functional.noise import seeded_noise
from ..functional.partitioned import PartitionedConvolutionState
from ..functional.partitioned import partitioned_convolution_state
from ..synths import FilteredNoise
from ..synths import Harmonic
from ..validation import InputError
from ..validation import check_finite
from ..validation import check_rank
from .autoencoder import Autoencoder
from .autoencoder import check_default_graph
from .autoencoder import check_room

__all__ = [
    "RenderState",
    "start_render",
    "render_chunk",
    "finish_render",
    "render_chunks",
    "render_chunked",
    "RenderOptions",
    "noise_window",
]


class RenderOptions(TypedDict, total=False):
    """How :func:`start_render` starts (see its Args): ``seed``, ``reverb``, ``reverb_ir``;
    taken by :func:`render_chunks` and :func:`render_chunked` too."""

    seed: int
    reverb: bool
    reverb_ir: Tensor | None


@dataclass(frozen=True)
class RenderState:
    """Everything a chunked render carries from one chunk to the next (tensors are not modified
    in place: a state can be kept and rendered from twice).

    Fields: ``frames``: frames consumed; ``samples``: samples returned; ``hidden``: decoder GRU
    state ``(1, 1, rnn_size)`` or None before the first frame; ``last_frame``: the harmonic
    controls of the last frame (``f0_hz``, ``amplitudes``, ``harmonic_distribution``, each
    ``(1, 1, n)``) or None; ``phase``: the fundamental's phase ``(1, 1)`` float64
    radians; ``seed``: of the noise; ``noise_offset``: noise samples drawn so far; ``noise_tail``: the noise
    convolution's overlap-add tail ``(1, window_size - 1)``; ``noise_skip``: leading noise
    samples still to drop (the filter delay); ``harmonic_pending`` / ``noise_pending``: rendered
    samples waiting for the other path, both starting at sample ``samples``; ``reverb_ir``: the
    impulse response in use (first tap zeroed) ``(1, ir_size)``, or None for the dry signal;
    ``reverb``: its partitioned convolution state.
    """

    frames: int
    samples: int
    hidden: Tensor | None
    last_frame: dict[str, Tensor] | None
    phase: Tensor | None
    seed: int
    noise_offset: int
    noise_tail: Tensor | None
    noise_skip: int
    harmonic_pending: Tensor
    noise_pending: Tensor
    reverb_ir: Tensor | None
    reverb: PartitionedConvolutionState | None
    finished: bool = False


#: Taps per partition of the reverb's partitioned convolution (a chunk of 256 samples at 16 kHz
#: costs one 512-point FFT pair and a 256-tap direct head).
REVERB_PARTITION = 256


def _check_model(model: Autoencoder) -> None:
    if not isinstance(model, Autoencoder):
        raise InputError(f"model must be an Autoencoder, found {type(model).__name__}")
    if model.encoder is not None:
        raise InputError(
            "model encodes z from the audio (z_dims > 0): its instance normalisation needs the whole "
            "recording, so it cannot be rendered in chunks; call model(f0_hz, loudness_db, audio) instead"
        )
    check_default_graph(model.config, "render in chunks")


def _reverb_ir(model: Autoencoder, reverb: bool, reverb_ir: Tensor | None, device, dtype) -> Tensor | None:
    """The impulse response the whole call would use, first tap zeroed, ``(1, ir_size)``."""
    check_room(reverb, reverb_ir)
    if not reverb:
        return None
    if reverb_ir is not None:
        ir = reverb_ir.reshape(1, -1).to(device=device, dtype=dtype)
    elif model.reverb is not None:
        ir = model.reverb.learned_or_given("ir", None).detach().reshape(1, -1).to(device=device, dtype=dtype)
    else:
        return None
    check_finite("reverb_ir", ir)
    if ir.shape[1] < 2:
        raise InputError(f"reverb_ir must have at least 2 taps, found {ir.shape[1]}")
    mask = torch.ones_like(ir)
    mask[:, 0] = 0.0  # the dry path is added apart, as Reverb does
    return ir * mask


def start_render(
    model: Autoencoder, *, seed: int = 0, reverb: bool = True, reverb_ir: Tensor | None = None
) -> RenderState:
    """The state before the first chunk.

    Args:
        model: an Autoencoder without z encoder (``z_dims == 0``).
        seed: of the noise, as ``model(..., seed=seed)``.
        reverb, reverb_ir: as :meth:`Autoencoder.forward`.
    """
    _check_model(model)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, found {type(seed).__name__}")
    parameter = next(model.parameters())
    ir = _reverb_ir(model, reverb, reverb_ir, parameter.device, parameter.dtype)
    empty = parameter.new_zeros(1, 0)
    return RenderState(
        frames=0,
        samples=0,
        hidden=None,
        last_frame=None,
        phase=None,
        seed=seed,
        noise_offset=0,
        noise_tail=None,
        noise_skip=noise_window(model) // 2,
        harmonic_pending=empty,
        noise_pending=empty,
        reverb_ir=ir,
        reverb=None if ir is None else partitioned_convolution_state(ir[0], (1,), partition_size=REVERB_PARTITION),
    )


def _synthesizers(model: Autoencoder) -> tuple[Harmonic, FilteredNoise]:
    """The model's harmonic and noise synthesizers (typed: the group holds any processors)."""
    harmonic, noise = (model.synthesizer.processors[name] for name in ("harmonic", "noise"))
    if not isinstance(harmonic, Harmonic) or not isinstance(noise, FilteredNoise):
        raise TypeError(f"the model's synthesizers are {type(harmonic).__name__} and {type(noise).__name__}")
    return harmonic, noise


def noise_window(model: Autoencoder) -> int:
    """The noise filter's window in samples: its output lags its frames by half of it."""
    n_fft = 2 * (model.config.n_noise_bands - 1)
    return _synthesizers(model)[1].window_size or n_fft


def _harmonic(
    model: Autoencoder, state: RenderState, controls: dict[str, Tensor] | None, final: bool
) -> tuple[Tensor, dict[str, Tensor] | None, Tensor | None]:
    """Render the hops whose both end frames are known; the last frame waits for the next one
    (``final``: it is held for the last hop, as ``add_endpoint=True`` does, and none waits after).
    Returns the audio, the frame now waiting (or None) and the phase."""
    harmonic = _synthesizers(model)[0]
    hop = model.config.hop_size
    parts = ([state.last_frame] if state.last_frame is not None else []) + ([controls] if controls else [])
    if not parts:
        return state.harmonic_pending[:, :0], None, state.phase
    frames = {k: torch.cat([p[k] for p in parts], dim=1) for k in parts[0]}
    n = frames["f0_hz"].shape[1]
    if n < 2 and not final:
        return state.harmonic_pending[:, :0], frames, state.phase
    audio, phase = harmonic_synthesis(
        frames["f0_hz"],
        frames["amplitudes"],
        frames["harmonic_distribution"],
        (n if final else n - 1) * hop,
        harmonic.sample_rate,
        state=state.phase,
        return_state=True,
        amplitude_upsampling=harmonic.amplitude_upsampling,
        add_endpoint=final,
    )
    return audio, None if final else {k: v[:, -1:] for k, v in frames.items()}, phase


def _noise(model: Autoencoder, state: RenderState, magnitudes: Tensor | None) -> tuple[Tensor, int, Tensor | None, int]:
    """Filtered noise of new frames: returns the finished output samples, the noise samples
    drawn so far, the overlap-add tail and the samples still to skip. ``magnitudes`` None:
    flush the tail."""
    window = noise_window(model)
    if magnitudes is None:  # the end: nothing more overlaps the tail; the whole call stops at n_frames * hop
        needed = state.frames * model.config.hop_size - state.samples - state.noise_pending.shape[1]
        assert state.noise_tail is not None  # finish_render refuses a render without frames
        return state.noise_tail[:, state.noise_skip : state.noise_skip + needed], state.noise_offset, None, 0
    hop = model.config.hop_size
    n = magnitudes.shape[1] * hop
    noise = seeded_noise(state.seed, 1, n, state.noise_offset, magnitudes.dtype, magnitudes.device)
    ir = frequency_impulse_response(magnitudes, window)
    convolved = fft_convolve(noise.to(magnitudes.device), ir, padding="valid")  # (1, n + window - 1)
    if state.noise_tail is not None:
        overlap = state.noise_tail.shape[1]
        convolved = torch.cat([convolved[:, :overlap] + state.noise_tail, convolved[:, overlap:]], dim=1)
    done, tail = convolved[:, :n], convolved[:, n:]
    skip = min(state.noise_skip, n)
    return done[:, skip:], state.noise_offset + n, tail, state.noise_skip - skip


def _reverb(state: RenderState, dry: Tensor) -> tuple[Tensor, PartitionedConvolutionState | None]:
    """Causal convolution carried across chunks; the whole call drops what runs past the end."""
    if state.reverb is None or state.reverb_ir is None or dry.shape[1] == 0:
        return dry, state.reverb
    wet, reverb = partitioned_convolution(
        dry, state.reverb_ir[0], partition_size=REVERB_PARTITION, state=state.reverb, return_state=True
    )
    return wet + dry, reverb


def _advance(
    model: Autoencoder, state: RenderState, controls: dict[str, Tensor] | None, magnitudes: Tensor | None, **changes
) -> tuple[dict[str, Tensor], RenderState]:
    """One step of both paths: render what the new frames' harmonic ``controls`` and noise
    ``magnitudes`` complete (both None: the end, which flushes the last hop and the noise tail),
    add the samples both paths have reached, reverberate; return them and the new state
    (``changes``: the caller's own fields)."""
    harmonic, last_frame, phase = _harmonic(model, state, controls, final=magnitudes is None)
    noise, noise_offset, noise_tail, noise_skip = _noise(model, state, magnitudes)
    harmonic = torch.cat([state.harmonic_pending, harmonic], dim=1)
    noise = torch.cat([state.noise_pending, noise], dim=1)
    ready = min(harmonic.shape[1], noise.shape[1])
    dry = harmonic[:, :ready] + noise[:, :ready]
    wet, reverb = _reverb(state, dry)
    new = replace(
        state,
        samples=state.samples + ready,
        last_frame=last_frame,
        phase=phase,
        noise_offset=noise_offset,
        noise_tail=noise_tail,
        noise_skip=noise_skip,
        harmonic_pending=harmonic[:, ready:],
        noise_pending=noise[:, ready:],
        reverb=reverb,
        **changes,
    )
    return {"audio": wet, "audio_dry": dry, "harmonic": harmonic[:, :ready], "noise": noise[:, :ready]}, new


@torch.no_grad()
def render_chunk(
    model: Autoencoder, state: RenderState, f0_hz: Tensor, loudness_db: Tensor
) -> tuple[dict[str, Tensor], RenderState]:
    """Decode and render the next frames; return the audio now complete and the new state.

    Shape: ``f0_hz``, ``loudness_db`` ``(1, n_frames)``, ``n_frames >= 1`` -> ``audio``,
    ``audio_dry`` ``(1, n_out)`` where ``n_out`` is whatever the lag allows (0 at first).

    Example:
        >>> from torchddsp.configs import AutoencoderConfig
        >>> model = Autoencoder(AutoencoderConfig(n_harmonics=8, n_noise_bands=9, reverb_s=0.01,
        ...                                       hidden_size=16, rnn_size=16, layers_per_stack=1))  # hop 64
        >>> state = start_render(model)
        >>> out, state = render_chunk(model, state, torch.full((1, 1), 440.0), torch.full((1, 1), -30.0))
        >>> out["audio"].shape  # the first hop waits for the next frame
        torch.Size([1, 0])
        >>> out, state = render_chunk(model, state, torch.full((1, 9), 440.0), torch.full((1, 9), -30.0))
        >>> out["audio"].shape, out["audio_dry"].shape  # 9 more hops complete
        (torch.Size([1, 576]), torch.Size([1, 576]))
        >>> out, state = finish_render(model, state)
        >>> out["audio"].shape, state.samples  # the last hop; 10 frames * 64 in all
        (torch.Size([1, 64]), 640)
    """
    _check_model(model)
    if not isinstance(state, RenderState):
        raise InputError(f"state must be a RenderState from start_render, found {type(state).__name__}")
    if state.finished:
        raise InputError("state is finished: start a new render with start_render")
    check_rank("f0_hz", f0_hz, 2, "(1, n_frames)")
    check_rank("loudness_db", loudness_db, 2, "(1, n_frames)")
    if f0_hz.shape[0] != 1 or f0_hz.shape[1] < 1:
        raise InputError(f"f0_hz must have shape (1, n_frames >= 1): one signal, found {tuple(f0_hz.shape)}")
    if loudness_db.shape != f0_hz.shape:
        raise InputError(
            f"loudness_db must have the shape of f0_hz {tuple(f0_hz.shape)}, found {tuple(loudness_db.shape)}"
        )
    f0_scaled, loudness_scaled = model.preprocessor(f0_hz, loudness_db)
    raw, hidden = model.decoder(loudness_scaled, f0_scaled, hidden=state.hidden, return_state=True)
    harmonic_synthesizer, noise_synthesizer = _synthesizers(model)
    controls = harmonic_synthesizer.controls(raw["amplitudes"], raw["harmonic_distribution"], f0_hz.unsqueeze(-1))
    magnitudes = noise_synthesizer.controls(raw["noise_magnitudes"])["magnitudes"]
    return _advance(model, state, controls, magnitudes, frames=state.frames + f0_hz.shape[1], hidden=hidden)


@torch.no_grad()
def finish_render(model: Autoencoder, state: RenderState) -> tuple[dict[str, Tensor], RenderState]:
    """Return the samples still held back (the last hop, the noise filter's delay); after it,
    ``state.samples == state.frames * hop_size``, as the whole call."""
    _check_model(model)
    if state.finished:
        raise InputError("state is finished: start a new render with start_render")
    if state.frames == 0:
        raise InputError("state has no frames: render at least one chunk before finish_render")
    return _advance(model, state, None, None, finished=True)


def render_chunks(
    model: Autoencoder, f0_hz: Tensor, loudness_db: Tensor, chunk_frames: int, **options: Unpack[RenderOptions]
) -> Iterator[tuple[dict[str, Tensor], int]]:
    """Render ``(1, n_frames)`` features ``chunk_frames`` frames at a time (each slice moved to
    the model's device): yields each :func:`render_chunk` output with the frames it consumed,
    then :func:`finish_render`'s with 0. The outputs concatenate to the whole call's.
    ``options``: those of :func:`start_render` (:class:`RenderOptions`)."""
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise InputError(f"chunk_frames must be a positive integer, found {chunk_frames!r}")
    check_rank("f0_hz", f0_hz, 2, "(1, n_frames)")
    state = start_render(model, **options)
    device = next(model.parameters()).device
    for start in range(0, f0_hz.shape[1], chunk_frames):
        f0_chunk, loudness_chunk = (x[:, start : start + chunk_frames].to(device) for x in (f0_hz, loudness_db))
        out, state = render_chunk(model, state, f0_chunk, loudness_chunk)
        yield out, f0_chunk.shape[1]
    out, state = finish_render(model, state)
    yield out, 0


def render_chunked(
    model: Autoencoder, f0_hz: Tensor, loudness_db: Tensor, chunk_frames: int, **options: Unpack[RenderOptions]
) -> dict[str, Tensor]:
    """:func:`render_chunks` joined: ``audio``, ``audio_dry``, ``harmonic``, ``noise``, each
    ``(1, n_frames * hop_size)``, as the whole call.

    Example:
        >>> from torchddsp.configs import AutoencoderConfig
        >>> model = Autoencoder(AutoencoderConfig(n_harmonics=8, n_noise_bands=9, reverb_s=0.01,
        ...                                       hidden_size=16, rnn_size=16, layers_per_stack=1))  # hop 64
        >>> out = render_chunked(model, torch.full((1, 10), 440.0), torch.full((1, 10), -30.0), chunk_frames=4)
        >>> {name: tuple(value.shape) for name, value in out.items()}
        {'audio': (1, 640), 'audio_dry': (1, 640), 'harmonic': (1, 640), 'noise': (1, 640)}
    """
    outputs = [out for out, _ in render_chunks(model, f0_hz, loudness_db, chunk_frames, **options)]
    return {key: torch.cat([o[key] for o in outputs], dim=1) for key in ("audio", "audio_dry", "harmonic", "noise")}
