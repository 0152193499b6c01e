"""Processors and the processor graph.

A :class:`Processor` is an ``nn.Module`` in two steps, as in Magenta's DDSP:

- ``controls(*inputs)`` maps raw inputs (network outputs) to physical controls (Hz, linear
  amplitudes, ...) and returns them as a dict, so they can be inspected and plotted;
- ``render(**controls, **options)`` makes audio from those controls through
  ``torchddsp.functional``. Options are keyword-only: ``n_samples`` for synthesizers that
  render frame-rate controls, ``generator`` for those that draw noise.

``forward(*inputs, **options)`` does both. A :class:`ProcessorGroup` wires processors into a
directed acyclic graph declared as data (node name, processor, where each input comes
from) and keeps every intermediate signal and control.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .functional import upsample
from .validation import check_finite, check_rank
from .validation import InputError

__all__ = ["Processor", "ProcessorGroup", "Node", "Add", "Mix", "RENDER_OPTIONS"]

#: Keyword options a group forwards to the processors whose ``render`` accepts them.
RENDER_OPTIONS = ("n_samples", "generator")


class Processor(nn.Module):
    """Base class: ``controls`` (raw -> physical units) then ``render`` (controls -> audio).

    Subclasses set ``input_names`` (the ports of ``controls``, in order), implement
    ``render`` and, when inputs need scaling, ``controls``.
    """

    #: Names of the inputs of ``controls``, in order; a ProcessorGroup connects them by name.
    input_names: tuple[str, ...] = ()

    def controls(self, *inputs: Tensor) -> dict[str, Tensor]:
        """Map raw inputs to controls; the default passes them through under ``input_names``."""
        if len(inputs) != len(self.input_names):
            raise InputError(
                f"{type(self).__name__} takes {len(self.input_names)} inputs {list(self.input_names)}, "
                f"found {len(inputs)}"
            )
        return dict(zip(self.input_names, inputs))

    def render(self, **controls: Any) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, *inputs: Tensor, **options: Any) -> Tensor:
        return self.render(**self.controls(*inputs), **options)

    def render_options(self) -> tuple[str, ...]:
        """Which of ``RENDER_OPTIONS`` this processor's ``render`` accepts."""
        parameters = inspect.signature(self.render).parameters
        return tuple(name for name in RENDER_OPTIONS if name in parameters)


def _check_same_audio(**signals: Tensor) -> None:
    shapes = {}
    for name, signal in signals.items():
        check_rank(name, signal, 2, "(batch, n_samples)")
        shapes[name] = tuple(signal.shape)
    if len(set(shapes.values())) > 1:
        raise InputError(f"signals must have the same shape ({', '.join(f'{k}: {v}' for k, v in shapes.items())})")


class Add(Processor):
    """Sum of two signals of the same shape ``(batch, n_samples)``."""

    input_names = ("signal_one", "signal_two")

    def render(self, signal_one: Tensor, signal_two: Tensor) -> Tensor:  # type: ignore[override]
        _check_same_audio(signal_one=signal_one, signal_two=signal_two)
        return signal_one + signal_two


class Mix(Processor):
    """Crossfade of two signals: ``mix * signal_one + (1 - mix) * signal_two``.

    ``mix`` is a frame-rate control ``(batch, n_frames, 1)`` mapped by ``scale_fn`` (sigmoid
    by default, so raw network outputs work) and upsampled linearly to the signals' length.
    """

    input_names = ("signal_one", "signal_two", "mix")

    def __init__(self, scale_fn: Callable[[Tensor], Tensor] | None = torch.sigmoid):
        super().__init__()
        self.scale_fn = scale_fn

    def controls(self, signal_one: Tensor, signal_two: Tensor, mix: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        if self.scale_fn is not None:
            mix = self.scale_fn(mix)
        return {"signal_one": signal_one, "signal_two": signal_two, "mix": mix}

    def render(self, signal_one: Tensor, signal_two: Tensor, mix: Tensor) -> Tensor:  # type: ignore[override]
        _check_same_audio(signal_one=signal_one, signal_two=signal_two)
        check_rank("mix", mix, 3, "(batch, n_frames, 1)")
        if mix.shape[-1] != 1 or mix.shape[0] != signal_one.shape[0]:
            raise InputError(f"mix must have shape ({signal_one.shape[0]}, n_frames, 1), found {tuple(mix.shape)}")
        check_finite("mix", mix)
        weight = upsample(mix, signal_one.shape[1], "linear")[..., 0]
        return weight * signal_one + (1.0 - weight) * signal_two


@dataclass(frozen=True)
class Node:
    """One processor in a graph: its ``name``, the ``processor``, and ``inputs``.

    ``inputs`` maps each port of ``processor.input_names`` to a source: the name of a graph
    input, of another node (its output signal), or ``"node/control"`` (one of another node's
    controls). A sequence is matched to the ports in order.
    """

    name: str
    processor: Processor
    inputs: Mapping[str, str] | Sequence[str] = field(default_factory=dict)


class ProcessorGroup(Processor):
    """A DAG of processors declared as data.

    Example::

        group = ProcessorGroup([
            Node("harmonic", Harmonic(16000), ["amps", "harmonic_distribution", "f0_hz"]),
            Node("noise", FilteredNoise(), ["noise_magnitudes"]),
            Node("add", Add(), ["harmonic", "noise"]),
            Node("reverb", Reverb(trainable=True), ["add"]),
        ])
        audio = group({"amps": ..., "harmonic_distribution": ..., "f0_hz": ...,
                       "noise_magnitudes": ...}, n_samples=64000)
        everything = group.run(inputs, n_samples=64000)  # signals and controls by name

    Nodes may be listed in any order; the graph is sorted once at construction and rejects
    cycles, unknown ports and duplicate names with a ``ValueError``. ``input_names`` lists the
    graph inputs it needs. Render options (``n_samples``, ``generator``) go to the nodes whose
    ``render`` accepts them.

    Args:
        nodes: the nodes, as :class:`Node` or ``(name, processor, inputs)`` tuples.
        output: the node whose signal ``forward`` returns (default: the last one listed).
    """

    def __init__(self, nodes: Sequence[Node | tuple], output: str | None = None):
        super().__init__()
        parsed = [n if isinstance(n, Node) else Node(*n) for n in nodes]
        if not parsed:
            raise InputError("nodes must hold at least one node")
        names = [n.name for n in parsed]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"node names must be unique, found duplicates {duplicates}")
        for node in parsed:
            if not isinstance(node.processor, Processor):
                raise InputError(f"node {node.name!r}: processor must be a Processor, found {type(node.processor).__name__}")
            if not node.name or "/" in node.name or "." in node.name:
                raise InputError(f"node names must be non-empty without '/' or '.', found {node.name!r}")
        self.wiring: dict[str, dict[str, str]] = {n.name: self._wire(n) for n in parsed}
        for name, ports in self.wiring.items():
            for port, source in ports.items():
                if "/" in source and source.split("/")[0] not in self.wiring:
                    raise InputError(
                        f"node {name!r}, port {port!r}: source {source!r} names no node "
                        f"('node/control' reads a node's control; nodes are {names})"
                    )
        self.order = self._sort(self.wiring)
        self.output = output if output is not None else names[-1]
        if self.output not in self.wiring:
            raise InputError(f"output must name a node {names}, found {self.output!r}")
        self.processors = nn.ModuleDict({n.name: n.processor for n in parsed})
        self.options_of = {n.name: n.processor.render_options() for n in parsed}
        graph_inputs = []
        for name in self.order:
            for source in self.wiring[name].values():
                if source.split("/")[0] not in self.wiring and source not in graph_inputs:
                    graph_inputs.append(source)
        self.input_names = tuple(graph_inputs)

    @staticmethod
    def _wire(node: Node) -> dict[str, str]:
        ports = node.processor.input_names
        if isinstance(node.inputs, Mapping):
            wiring = dict(node.inputs)
        else:
            sources = list(node.inputs)
            if len(sources) != len(ports):
                raise InputError(
                    f"node {node.name!r}: {type(node.processor).__name__} has ports {list(ports)}, "
                    f"found {len(sources)} sources {sources}"
                )
            wiring = dict(zip(ports, sources))
        unknown = sorted(set(wiring) - set(ports))
        missing = [p for p in ports if p not in wiring]
        if unknown or missing:
            raise InputError(
                f"node {node.name!r}: ports of {type(node.processor).__name__} are {list(ports)}; "
                f"unknown {unknown}, unconnected {missing}"
            )
        return wiring

    @staticmethod
    def _sort(wiring: Mapping[str, Mapping[str, str]]) -> list[str]:
        depends = {
            name: {s.split("/")[0] for s in ports.values() if s.split("/")[0] in wiring}
            for name, ports in wiring.items()
        }
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise InputError(f"the processor graph has a cycle: {' -> '.join(path + (name,))}")
            state[name] = 1
            for dependency in sorted(depends[name]):
                visit(dependency, path + (name,))
            state[name] = 2
            order.append(name)

        for name in wiring:
            visit(name, ())
        return order

    def controls(self, *inputs: Any, **named: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        """Graph inputs by name: a mapping, positional tensors in ``input_names`` order, keyword
        tensors, or a mapping plus keywords."""
        if inputs and isinstance(inputs[0], Mapping):
            if len(inputs) > 1:
                raise InputError("pass the graph inputs as one mapping (plus keywords), not a mapping and positionals")
            return {**dict(inputs[0]), **named}
        if len(inputs) > len(self.input_names):
            raise InputError(
                f"the graph takes {len(self.input_names)} inputs {list(self.input_names)}, found {len(inputs)} positional"
            )
        return {**dict(zip(self.input_names, inputs)), **named}

    def run(self, inputs: Mapping[str, Tensor], **options: Any) -> dict[str, Tensor]:
        """Render every node; return graph inputs, node signals and ``"node/control"`` controls."""
        unknown_options = sorted(set(options) - set(RENDER_OPTIONS))
        if unknown_options:
            raise InputError(f"render options must be among {list(RENDER_OPTIONS)}, found {unknown_options}")
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise InputError(f"missing graph inputs {missing}; the graph needs {list(self.input_names)}")
        shadowing = sorted(set(inputs) & set(self.wiring))
        if shadowing:
            raise InputError(f"graph inputs {shadowing} have the names of nodes; rename them")
        values: dict[str, Tensor] = dict(inputs)
        for name in self.order:
            processor = self.processors[name]
            arguments = []
            for port in processor.input_names:
                source = self.wiring[name][port]
                if source not in values:
                    node = source.split("/")[0]
                    known = sorted(k.split("/", 1)[1] for k in values if k.startswith(node + "/"))
                    raise InputError(f"node {name!r}, port {port!r}: node {node!r} has no control "
                                     f"{source.split('/', 1)[1]!r}; its controls are {known}")
                arguments.append(values[source])
            controls = processor.controls(*arguments)
            accepted = {k: v for k, v in options.items() if k in self.options_of[name]}
            values[name] = processor.render(**controls, **accepted)
            for key, value in controls.items():
                values[f"{name}/{key}"] = value
        return values

    def render(self, **inputs: Any) -> Tensor:  # type: ignore[override]
        options = {k: inputs.pop(k) for k in RENDER_OPTIONS if k in inputs}
        return self.run(inputs, **options)[self.output]

    def forward(self, *inputs: Any, **options: Any) -> Tensor:  # type: ignore[override]
        named = {k: options.pop(k) for k in list(options) if k not in RENDER_OPTIONS}
        return self.render(**self.controls(*inputs, **named), **options)

    def render_options(self) -> tuple[str, ...]:
        return RENDER_OPTIONS
