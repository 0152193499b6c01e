"""DDSP's ``RnnFcDecoder``: each input through its own MLP, a GRU over time, an MLP over the
GRU's output and the inputs, and one linear layer split into named synthesizer controls."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch import nn

from ..validation import InputError
from .gru import run_gru

__all__ = ["RnnFcDecoder", "fc_stack"]


def fc_stack(in_size: int, hidden_size: int, layers: int, layer_norm_eps: float = 1e-5) -> nn.Sequential:
    """``layers`` x (Linear -> LayerNorm -> LeakyReLU(0.2)), DDSP's ``fc_stack`` (Keras's
    LayerNormalization has ``layer_norm_eps=1e-3``)."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [
            nn.Linear(in_size if i == 0 else hidden_size, hidden_size),
            nn.LayerNorm(hidden_size, eps=layer_norm_eps),
            nn.LeakyReLU(0.2),
        ]
    return nn.Sequential(*blocks)


class RnnFcDecoder(nn.Module):
    """Decoder from per-frame inputs to synthesizer controls.

    Shape: ``inputs`` a sequence of ``(batch, n_frames, size_i)`` tensors -> a dict of
    ``(batch, n_frames, n)`` raw controls, one per ``output_splits`` entry.

    Args:
        input_sizes: feature size of each input (1 for f0 and loudness, z_dims for z).
        output_splits: ``(name, size)`` of each output, e.g. ``(("amplitudes", 1),
            ("harmonic_distribution", 60), ("noise_magnitudes", 65))``.
        hidden_size: width of the MLPs (DDSP's ``ch``).
        rnn_size: GRU width (DDSP's ``rnn_channels``).
        layers_per_stack: layers in each MLP.
        layer_norm_eps: the MLPs' LayerNorm epsilon (1e-3 in Magenta's Keras models).

    Example:
        >>> decoder = RnnFcDecoder([1, 1], [("amplitudes", 1), ("harmonic_distribution", 8)], 16, 16, 1)
        >>> controls = decoder(torch.zeros(2, 10, 1), torch.zeros(2, 10, 1))
        >>> {name: tuple(value.shape) for name, value in controls.items()}
        {'amplitudes': (2, 10, 1), 'harmonic_distribution': (2, 10, 8)}
    """

    def __init__(
        self,
        input_sizes: Sequence[int],
        output_splits: Sequence[tuple[str, int]],
        hidden_size: int = 512,
        rnn_size: int = 512,
        layers_per_stack: int = 3,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        stack = lambda size: fc_stack(size, hidden_size, layers_per_stack, layer_norm_eps)  # noqa: E731
        self.input_stacks = nn.ModuleList(stack(size) for size in input_sizes)
        self.rnn = nn.GRU(hidden_size * len(input_sizes), rnn_size, batch_first=True)
        self.output_stack = stack(hidden_size * len(input_sizes) + rnn_size)
        self.output_splits = tuple((str(name), int(size)) for name, size in output_splits)
        self.output_layer = nn.Linear(hidden_size, sum(size for _, size in self.output_splits))

    def forward(self, *inputs: Tensor, hidden: Tensor | None = None, return_state: bool = False):
        """Decode; with ``return_state=True`` also return the GRU state (block streaming)."""
        if len(inputs) != len(self.input_stacks):
            raise InputError(f"the decoder takes {len(self.input_stacks)} inputs, found {len(inputs)}")
        features = [stack(x) for stack, x in zip(self.input_stacks, inputs)]
        joined = torch.cat(features, dim=-1)
        recurrent, state = run_gru(self.rnn, joined, hidden)  # nn.GRU's values, faster to train
        outputs = self.output_layer(self.output_stack(torch.cat(features + [recurrent], dim=-1)))
        splits = dict(
            zip(
                (name for name, _ in self.output_splits),
                torch.split(outputs, [size for _, size in self.output_splits], dim=-1),
            )
        )
        return (splits, state) if return_state else splits
