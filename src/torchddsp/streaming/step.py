"""The streaming transfer as one fixed-shape step: a block of ``B`` samples and the state in,
``B`` samples and the new state out, all tensors, for export to TorchScript and ONNX
(:mod:`torchddsp.streaming.export`).

    step = TransferStep(TransferStream("violin"), block=256)
    state = step.initial_state()
    for block in host_blocks:                     # (1, 256) float32 each
        out, *state = step(block, *state)         # (1, 256): TransferStream's output

:class:`TransferStep` gives what :meth:`~torchddsp.streaming.transfer.TransferStream.process`
gives for blocks of ``B`` samples (``B`` a multiple of the model's hop), with the same latency;
:class:`ControlsStep` is its synthesis half (f0 and loudness frames in). The per-frame code is
the eager stream's (YIN, loudness, adjustment, decoder, synthesizer controls, FIR design,
counter noise); only what the eager stream does with Python numbers is written with tensors:

- every block completes ``B / hop`` frames; frame ``i = first + j`` (``first``, an int64
  state, counts frames; the noise offset is ``i * hop``). Frames before the stream (``i < 0``,
  at its start) are computed from the silence before it and masked: the GRU state and the
  harmonic phase do not move, their noise filters are zero, and rendered samples before
  sample 0 are zeroed;
- the harmonic sum is a sum of sines with the phase in float64 (the eager renderer's
  recurrence and its data-dependent Nyquist plan do not export);
- the reverb is a uniformly partitioned convolution with partitions of ``B`` samples (no
  direct head: a block is always whole), its frequency-domain delay line held as real and
  imaginary parts.

Rendered audio lags frame by frame as in the eager renderer; fixed delay lines (``*_delay``
states) line the harmonic and noise paths up and delay the output to the eager stream's
latency.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torch import nn

from ..features.pitch import CONFIDENCE_THRESHOLD
from ..functional.fir import frequency_impulse_response
from ..functional.noise import counter_noise
from ..functional.noise import noise_seed
from ..functional.resampling import block_weights
from ..models.autoencoder import Autoencoder
from ..models.autoencoder import check_default_graph
from ..models.chunked import _reverb_ir
from ..models.chunked import _synthesizers
from ..models.chunked import noise_window
from ..transfer.adjust import Adjustment
from ..validation import InputError
from ..validation import data_checks
from .features import _f0
from .features import _loudness
from .features import _plan
from .transfer import TransferStream

__all__ = ["TransferStep", "ControlsStep"]


def _check_block(block: int, hop: int) -> int:
    if isinstance(block, bool) or not isinstance(block, int) or block < hop or block % hop:
        raise InputError(f"block must be a positive multiple of the model's hop size {hop}, found {block!r}")
    return block


def _delay(signal: Tensor, pending: Tensor) -> tuple[Tensor, Tensor]:
    """A fixed delay line: ``pending`` ``(1, d)`` then ``signal`` ``(1, B)`` -> the first ``B``
    samples, and the last ``d`` as the next ``pending``."""
    joined = torch.cat([pending, signal], dim=1)
    return joined[:, : signal.shape[1]], joined[:, signal.shape[1] :]


class _Synthesis(nn.Module):
    """Frames ``first .. first + F - 1`` (adjusted f0 and loudness) -> rendered samples
    ``[(first - 1) * hop - lag, ... + B)`` (``lag``: the noise filter's half window past one hop),
    as :func:`~torchddsp.models.chunked.render_chunk` renders them."""

    seeds: Tensor
    harmonics: Tensor
    weights: Tensor
    ir_spectra: Tensor

    def __init__(self, model: Autoencoder, block: int, seed: int, reverb: bool, reverb_ir: Tensor | None):
        super().__init__()
        if model.encoder is not None:
            raise InputError("model encodes z from the audio (z_dims > 0): it cannot stream")
        check_default_graph(model.config, "stream")  # the step below renders that graph only
        self.model = model
        self.hop = model.config.hop_size
        self.block = _check_block(block, self.hop)
        self.n_frames = block // self.hop
        self.harmonic, self.noise = _synthesizers(model)
        self.window = noise_window(model)
        half = self.window // 2
        # Harmonic samples are ready up to the last frame; noise up to one hop more, less the
        # filter's delay: the earlier path waits for the later one.
        self.lag = max(0, half - self.hop)
        self.noise_wait = max(0, self.hop - half)
        self.nyquist = float(self.harmonic.sample_rate) / 2.0
        n_harmonics = model.config.n_harmonics
        self.register_buffer("seeds", torch.tensor([noise_seed(seed, 0)], dtype=torch.int64), persistent=False)
        self.register_buffer("harmonics", torch.arange(1, n_harmonics + 1, dtype=torch.float64), persistent=False)
        weights = block_weights(self.hop, self.harmonic.amplitude_upsampling, torch.float32, torch.device("cpu"))
        self.register_buffer("weights", weights, persistent=False)
        parameter = next(model.parameters())
        ir = _reverb_ir(model, reverb, reverb_ir, parameter.device, torch.float32)
        self.reverb = ir is not None
        spectra = torch.zeros(0, block + 1, 2) if ir is None else _partition_spectra(ir[0], block)
        self.register_buffer("ir_spectra", spectra, persistent=False)

    def state_shapes(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Name -> (shape, dtype) of each state tensor, in the forward's order."""
        c = self.model.config
        shapes = {
            "hidden": ((1, 1, c.rnn_size), torch.float32),
            "last_frame": ((1, 1, c.n_harmonics + 2), torch.float32),  # f0, amplitude, distribution
            "phase": ((1, 1), torch.float64),  # the fundamental's phase in cycles
            "noise_tail": ((1, self.window - 1), torch.float32),
        }
        if self.lag:
            shapes["harmonic_delay"] = ((1, self.lag), torch.float32)
        if self.noise_wait:
            shapes["noise_delay"] = ((1, self.noise_wait), torch.float32)
        if self.reverb:
            shapes["reverb_input"] = ((1, self.block), torch.float32)
        if self.ir_spectra.shape[0] > 1:  # the delay line of earlier blocks' spectra
            shapes["reverb_spectra"] = ((1, self.ir_spectra.shape[0] - 1, self.block + 1, 2), torch.float32)
        return shapes

    def forward(
        self, first: Tensor, f0_hz: Tensor, loudness_db: Tensor, state: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``first`` int64 ``()``; ``f0_hz``, ``loudness_db`` ``(1, F)`` -> ``(1, B)`` and the new state."""
        valid = (first + torch.arange(self.n_frames)) >= 0  # (F,): frames of the stream
        raw, hidden = self._decode(f0_hz, loudness_db, state["hidden"], valid)
        controls = self.harmonic.controls(raw["amplitudes"], raw["harmonic_distribution"], f0_hz.unsqueeze(-1))
        frames = torch.cat([controls["f0_hz"], controls["amplitudes"], controls["harmonic_distribution"]], dim=-1)
        frames = torch.cat([state["last_frame"], frames], dim=1)  # (1, F + 1, n + 2)
        # Interval j runs from frame first - 1 + j to first + j.
        harmonic, phase = self._harmonic(frames, state["phase"], first + torch.arange(self.n_frames) - 1 >= 0)
        magnitudes = self.noise.controls(raw["noise_magnitudes"])["magnitudes"] * valid[:, None]
        noise, tail = self._noise(first, magnitudes, state["noise_tail"])
        new = {"hidden": hidden, "last_frame": frames[:, -1:], "phase": phase, "noise_tail": tail}
        if self.lag:
            harmonic, new["harmonic_delay"] = _delay(harmonic, state["harmonic_delay"])
        if self.noise_wait:
            noise, new["noise_delay"] = _delay(noise, state["noise_delay"])
        start = (first - 1) * self.hop - self.lag  # the first rendered sample's index
        dry = torch.where(start + torch.arange(self.block) >= 0, harmonic + noise, torch.zeros_like(noise))
        if self.reverb:
            wet, new["reverb_input"], line = self._reverb(dry, state["reverb_input"], state.get("reverb_spectra"))
            if line is not None:
                new["reverb_spectra"] = line
            dry = dry + wet
        return dry, new

    def _decode(
        self, f0_hz: Tensor, loudness_db: Tensor, hidden: Tensor, valid: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        """The decoder frame by frame: frames before the stream leave the GRU state as it was."""
        f0_scaled, loudness_scaled = self.model.preprocessor(f0_hz, loudness_db)
        outputs = []
        for j in range(self.n_frames):
            raw, new = self.model.decoder(
                loudness_scaled[:, j : j + 1], f0_scaled[:, j : j + 1], hidden=hidden, return_state=True
            )
            hidden = torch.where(valid[j], new, hidden)
            outputs.append(raw)
        return {key: torch.cat([o[key] for o in outputs], dim=1) for key in outputs[0]}, hidden

    def _harmonic(self, frames: Tensor, phase: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """The ``F`` intervals between ``frames`` ``(1, F + 1, n + 2)`` as a sum of sines, the
        phase in float64 cycles (the closed form of the eager renderer); invalid intervals do
        not advance the phase."""
        hop, rate = self.hop, float(self.harmonic.sample_rate)
        f0 = frames[0, :, 0].to(torch.float64)
        f_a, f_b = f0[:-1] * valid, f0[1:] * valid  # (F,)
        totals = (hop * f_a + 0.5 * (hop - 1) * (f_b - f_a)) / rate  # cycles per interval
        before = torch.cumsum(totals, dim=0) - totals + phase[0]
        r = torch.arange(hop, dtype=torch.float64)[:, None]  # (hop, 1)
        turns = before + (r + 1) / rate * f_a + r * (r + 1) / (2 * hop * rate) * (f_b - f_a)  # (hop, F)
        frequency = (f_a + r / hop * (f_b - f_a)).abs()
        k = self.harmonics[:, None, None]  # (n, 1, 1)
        cycles = k * (turns - torch.floor(turns))
        sines = torch.sin(2.0 * math.pi * (cycles - torch.floor(cycles))).to(torch.float32)
        audible = (k * frequency < self.nyquist).to(torch.float32)
        coefficients = frames[0, :, 1:2] * frames[0, :, 2:]  # (F + 1, n): amplitude * distribution
        start, end = coefficients[:-1].T[:, None, :], coefficients[1:].T[:, None, :]  # (n, 1, F)
        amplitude = end + self.weights[None, :, None] * (start - end)  # (n, hop, F)
        audio = (amplitude * audible * sines).sum(0).T.reshape(1, -1)  # interval-major
        last = before[-1] + totals[-1]
        return audio, (last - torch.floor(last)).reshape(1, 1)

    def _noise(self, first: Tensor, magnitudes: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """Counter noise of the frames (offset ``first * hop``), each hop filtered by its frame's
        FIR and overlap-added onto the tail: the ``B`` finished samples and the new tail."""
        hop, n = self.hop, self.window
        noise = counter_noise(self.seeds, self.block, first * hop).reshape(1, self.n_frames, hop)
        ir = frequency_impulse_response(magnitudes, n)  # (1, F, window)
        size = 1 << (hop + n - 2).bit_length()  # >= hop + window - 1: no wrap-around
        pieces = torch.fft.irfft(torch.fft.rfft(noise, n=size) * torch.fft.rfft(ir, n=size), n=size)
        total = self.block + n - 1
        convolved = sum(
            nnf.pad(pieces[:, j, : hop + n - 1], (j * hop, total - j * hop - hop - n + 1)) for j in range(self.n_frames)
        )
        convolved = convolved + nnf.pad(tail, (0, total - tail.shape[1]))
        return convolved[:, : self.block], convolved[:, self.block :]

    def _reverb(self, dry: Tensor, previous: Tensor, line: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Uniformly partitioned overlap-save with partitions of ``B``: the wet block, the block
        (next window's first half) and the delay line of the last ``K - 1`` input spectra."""
        spectrum = torch.fft.rfft(torch.cat([previous, dry], dim=1), n=2 * self.block)  # (1, B + 1)
        current = torch.stack([spectrum.real, spectrum.imag], dim=-1)[:, None]  # (1, 1, B + 1, 2)
        inputs = current if line is None else torch.cat([current, line], dim=1)  # newest first, as ir_spectra
        ir = self.ir_spectra[None]
        real = (inputs[..., 0] * ir[..., 0] - inputs[..., 1] * ir[..., 1]).sum(1)
        imag = (inputs[..., 0] * ir[..., 1] + inputs[..., 1] * ir[..., 0]).sum(1)
        wet = torch.fft.irfft(torch.complex(real, imag), n=2 * self.block)[:, self.block :]
        return wet, dry, None if line is None else inputs[:, : line.shape[1]]


def _partition_spectra(ir: Tensor, block: int) -> Tensor:
    """``rfft`` of the response's partitions of ``block`` taps, zero-padded to ``2 block``, as
    real and imaginary parts: ``(K, block + 1, 2)``, partition 0 first."""
    n_partitions = math.ceil(ir.shape[0] / block)
    parts = nnf.pad(ir, (0, n_partitions * block - ir.shape[0])).reshape(n_partitions, block)
    spectra = torch.fft.rfft(parts.double(), n=2 * block)
    return torch.stack([spectra.real, spectra.imag], dim=-1).float()


class _Adjust(nn.Module):
    """:func:`~torchddsp.transfer.adjust.apply_adjustment` of a fixed plan, its quantile map
    made monotone once here (``cummax`` has no ONNX form) and read by counting the quantiles
    below each value (as ``searchsorted`` does, which neither has). The pitch shift is one
    float64 product by a float64 tensor: the ONNX exporter stores a Python number as float32."""

    source: Tensor
    target: Tensor
    ratio: Tensor

    def __init__(self, plan: Adjustment):
        super().__init__()
        self.plan = plan
        self.mapped = plan.source_db is not None and plan.target_db is not None
        source, target = torch.zeros(2), torch.zeros(2)
        if plan.source_db is not None and plan.target_db is not None:
            nudge = torch.arange(len(plan.source_db), dtype=torch.float64) * 1e-9  # as apply_adjustment
            source = torch.cummax(plan.source_db.double() + nudge, dim=0).values
            target = plan.target_db.double()
        self.register_buffer("source", source, persistent=False)
        self.register_buffer("target", target, persistent=False)
        ratio = torch.tensor(2.0 ** (plan.semitones / 12.0), dtype=torch.float64)  # of the frequencies
        self.register_buffer("ratio", ratio, persistent=False)

    def forward(self, f0_hz: Tensor, loudness_db: Tensor, confidence: Tensor) -> tuple[Tensor, Tensor]:
        plan = self.plan
        if self.mapped:
            values = loudness_db.double().clamp(self.source[0], self.source[-1])
            right = (values[..., None] >= self.source).sum(-1).clamp(1, len(self.source) - 1)
            x0, x1, y0, y1 = self.source[right - 1], self.source[right], self.target[right - 1], self.target[right]
            weight = ((values - x0) / (x1 - x0)).clamp(0.0, 1.0)
            mapped = (y0 + weight * (y1 - y0)).to(loudness_db.dtype)
            loudness_db = torch.where(confidence >= CONFIDENCE_THRESHOLD, mapped, loudness_db - plan.quiet_db)
        if plan.semitones:  # as apply_adjustment: one float64 product, the same bits in every runtime
            f0_hz = (f0_hz.clamp_min(1e-3).double() * self.ratio).to(f0_hz.dtype)
        return f0_hz, loudness_db + plan.loudness_shift


class _Step(nn.Module):
    """What both steps share: the synthesis, state names and shapes, the initial state."""

    synthesis: _Synthesis

    def _shapes(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        return {"frame": ((), torch.int64), **self.synthesis.state_shapes()}

    def state_names(self) -> tuple[str, ...]:
        """The state tensors' names, in the order ``forward`` takes and returns them."""
        return tuple(self._shapes())

    def state_shapes(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Name -> ``(shape, dtype)`` of each state tensor."""
        return self._shapes()

    def initial_state(self) -> tuple[Tensor, ...]:
        """The state before the first block: zeros (silence before the stream), but the frame
        counter, which starts at :attr:`first_frame`."""
        state = [torch.zeros(shape, dtype=dtype) for shape, dtype in self._shapes().values()]
        state[0] = torch.tensor(self.first_frame, dtype=torch.int64)
        return tuple(state)

    def _unpack(self, state: tuple[Tensor, ...]) -> dict[str, Tensor]:
        names = self.state_names()
        if len(state) != len(names):
            raise InputError(f"state must be {len(names)} tensors {names}, found {len(state)}")
        return dict(zip(names, state))

    def _pack(self, out: Tensor, frame: Tensor, new: dict[str, Tensor]) -> tuple[Tensor, ...]:
        return (out, frame, *(new[name] for name in self.state_names()[1:]))


class TransferStep(_Step):
    """:class:`~torchddsp.streaming.transfer.TransferStream` for blocks of exactly ``block``
    samples, in fixed-shape tensor code (see the module docstring).

    Args:
        stream: the stream whose settings (model, f0 method, adjustment, reverb, seed) it runs.
        block: samples per call, a positive multiple of the model's hop size.

    Shape: ``forward(audio (1, block), *state) -> (audio (1, block), *new_state)``, the state
    as :meth:`state_names` / :meth:`state_shapes` list it; :meth:`initial_state` to start.

    Example:
        >>> step = TransferStep(TransferStream("flute"), block=256)
        >>> out, *state = step(torch.zeros(1, 256), *step.initial_state())
        >>> out.shape, step.latency_samples, step.state_names()[:3]
        (torch.Size([1, 256]), 319, ('frame', 'audio_buffer', 'hidden'))
    """

    def __init__(self, stream: TransferStream, block: int = 256):
        super().__init__()
        if not isinstance(stream, TransferStream):
            raise TypeError(f"stream must be a TransferStream, found {type(stream).__name__}")
        model = stream.loaded.model
        hop = model.config.hop_size
        block = _check_block(block, hop)
        self.stream = stream
        self.synthesis = _Synthesis(model, block, stream.seed, stream.reverb, stream.reverb_ir)
        self.settings, self.plan = stream.features, _plan(stream.features)
        self.adjust = _Adjust(stream.adjustment)
        self.block, self.hop, self.n_frames = block, hop, block // hop
        # A block completes the frames whose analysis span has arrived: F of them, the newest
        # ceil(after / hop) frames short of the block's end.
        ahead = math.ceil(self.plan.after / hop)
        self.first_frame = 1 - ahead
        self.context = block + (ahead - 1) * hop + self.plan.before  # samples the frames read
        rendered_lag = ahead * hop + self.synthesis.lag  # samples from render to output
        self.latency_samples = stream.latency_samples
        self.output_wait = self.latency_samples - rendered_lag
        if self.output_wait < 0:  # the eager latency formula makes this impossible
            raise RuntimeError(
                f"the step renders {rendered_lag} samples late, the stream states {self.latency_samples}"
            )

    def _shapes(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        shapes = {"frame": ((), torch.int64), "audio_buffer": ((1, self.context - self.block), torch.float32)}
        shapes.update(self.synthesis.state_shapes())
        if self.output_wait:
            shapes["output_delay"] = ((1, self.output_wait), torch.float32)
        return shapes

    @property
    def sample_rate(self) -> int:
        return self.stream.sample_rate

    def features(self, audio: Tensor) -> dict[str, Tensor]:
        """f0, confidence and loudness of the block's ``F`` frames from ``audio`` ``(1, context)``."""
        plan, hop = self.plan, self.hop
        starts = torch.arange(self.n_frames)[:, None] * hop + plan.before
        f0_cut = audio[:, starts - plan.f0_before + torch.arange(plan.f0_size)]
        f0_hz, confidence = _f0(f0_cut, self.settings, plan)
        loudness_cut = audio[:, starts - plan.n_fft // 2 + torch.arange(plan.n_fft)]
        loudness_db = _loudness(loudness_cut, self.settings, plan.n_fft)
        return {"f0_hz": f0_hz.float(), "confidence": confidence.float(), "loudness_db": loudness_db.float()}

    @torch.no_grad()
    def forward(self, audio: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """One block: ``audio`` ``(1, block)`` float32 and the state -> ``(1, block)`` and the new state."""
        named = self._unpack(state)
        with data_checks(False):  # tensor checks would read values: not in an exported graph
            extended = torch.cat([named["audio_buffer"], audio], dim=1)
            frames = self.features(extended)
            f0_hz, loudness_db = self.adjust(frames["f0_hz"], frames["loudness_db"], frames["confidence"])
            out, new = self.synthesis(named["frame"], f0_hz, loudness_db, named)
        new["audio_buffer"] = extended[:, self.block :]
        if self.output_wait:
            out, new["output_delay"] = _delay(out, named["output_delay"])
        return self._pack(out, named["frame"] + self.n_frames, new)


class ControlsStep(_Step):
    """The synthesis half of :class:`TransferStep`: ``F = block / hop`` frames of f0 and
    loudness in, ``block`` samples out: :func:`~torchddsp.models.chunked.render_chunk`'s audio
    for those frames, :attr:`latency_samples` late (one hop, more when the noise filter's half
    window is longer).

    Args:
        model: an Autoencoder without z encoder; block: a positive multiple of its hop size;
        seed, reverb, reverb_ir: as :func:`~torchddsp.models.chunked.start_render`.

    Shape: ``forward(f0_hz (1, F), loudness_db (1, F), *state) -> (audio (1, block), *new_state)``.

    Example:
        >>> from torchddsp.transfer import load_model
        >>> step = ControlsStep(load_model("flute").model, block=128)
        >>> out, *state = step(torch.full((1, 2), 440.0), torch.full((1, 2), -30.0), *step.initial_state())
        >>> out.shape, step.latency_samples
        (torch.Size([1, 128]), 64)
    """

    def __init__(
        self, model: Autoencoder, block: int = 256, seed: int = 0, reverb: bool = True, reverb_ir: Tensor | None = None
    ):
        super().__init__()
        if not isinstance(model, Autoencoder):
            raise TypeError(f"model must be an Autoencoder, found {type(model).__name__}")
        self.synthesis = _Synthesis(model, block, seed, reverb, reverb_ir)
        self.block, self.hop, self.n_frames = block, model.config.hop_size, block // model.config.hop_size
        self.first_frame = 0
        self.latency_samples = self.hop + self.synthesis.lag
        self.sample_rate = model.config.sample_rate

    @torch.no_grad()
    def forward(self, f0_hz: Tensor, loudness_db: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """``f0_hz``, ``loudness_db`` ``(1, F)`` float32 and the state -> ``(1, block)`` and the new state."""
        named = self._unpack(state)
        with data_checks(False):
            out, new = self.synthesis(named["frame"], f0_hz, loudness_db, named)
        return self._pack(out, named["frame"] + self.n_frames, new)
