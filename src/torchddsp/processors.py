"""Processors and the processor graph.

A :class:`Processor` is an ``nn.Module`` in two steps, as in Magenta's DDSP. A subclass writes
only these two methods (the base class's ``forward`` chains them):

- ``controls(*inputs)`` maps raw inputs (network outputs) to physical controls (Hz, linear
  amplitudes, ...) and returns them as a dict, so they can be inspected and plotted;
- ``render(**controls, **options)`` makes audio from those controls through
  ``torchddsp.functional``. Options are keyword-only and declared per class in
  ``render_options`` (``n_samples`` for synthesizers that render frame-rate controls,
  ``generator`` and ``seed`` for those that draw noise).

A control that is *learned or given* is declared once in ``__init__`` with
:meth:`Processor.learnable`: with ``trainable=True`` it is an ``nn.Parameter`` and not an
input; otherwise the caller passes it. ``controls`` reads it with
:meth:`Processor.learned_or_given`. Settings that are *learned or fixed* (never passed in) are
declared with :meth:`Processor.setting`. ``trainable`` defaults to ``False`` everywhere.

A :class:`ProcessorGroup` wires processors into a directed acyclic graph declared as data
(node name, processor, where each input comes from) and keeps every intermediate signal and
control.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import TypeAlias
from typing import TypeVar
from typing import cast

import torch
from torch import Tensor
from torch import nn

from .functional import upsample
from .validation import InputError
from .validation import check_finite
from .validation import check_rank

__all__ = ["Processor", "ProcessorGroup", "Node", "Add", "Mix", "Rendered"]

#: What ``render`` (and so ``forward``) returns: the audio, or ``(audio, state)`` from a
#: streaming render asked ``return_state=True`` (the state's type is the op's own).
Rendered: TypeAlias = Tensor | tuple[Tensor, Any]
StateT = TypeVar("StateT")

if TYPE_CHECKING:  # typing only: generic TypedDicts need Python 3.11 at run time
    from typing_extensions import NotRequired
    from typing_extensions import TypedDict

    class StreamOptions(TypedDict, Generic[StateT], total=False):
        """The streaming render options of a stateful processor (the convention of
        ``docs/design.md``): ``state`` (at rest when None) and ``return_state`` (return
        ``(audio, state)``), passed on to its functional op."""

        state: StateT | None
        return_state: bool

    class BlockOptions(StreamOptions[StateT]):
        """A synthesizer's render options: ``n_samples`` and ``add_endpoint`` (False: the last
        frame is the end point of the block, see :mod:`torchddsp.functional.resampling`) besides
        the streaming ones."""

        n_samples: int
        add_endpoint: NotRequired[bool]


class Processor(nn.Module):
    """Base class: ``controls`` (raw -> physical units) then ``render`` (controls -> audio).

    Subclasses set ``input_names`` (the ports of ``controls``, in order; learned controls drop
    out of an instance's ports), ``render_options`` (the keyword options of ``render``),
    implement ``render`` and, when inputs need scaling, ``controls``.

    Args:
        trainable: learned-or-given controls and learned-or-fixed settings become
            ``nn.Parameter``s (see :meth:`learnable` and :meth:`setting`).

    Example:
        >>> class Gain(Processor):
        ...     input_names = ("audio", "gain")
        ...     def __init__(self, trainable=False):
        ...         super().__init__(trainable)
        ...         self.learnable("gain", torch.ones(1, 1))
        ...     def controls(self, audio, gain=None):
        ...         return {"audio": audio, "gain": self.learned_or_given("gain", gain)}
        ...     def render(self, audio, gain):
        ...         return audio * gain
        >>> Gain()(torch.ones(1, 3), torch.full((1, 1), 2.0)).tolist()
        [[2.0, 2.0, 2.0]]
        >>> learned = Gain(trainable=True)
        >>> learned.input_names, learned(torch.ones(1, 2)).tolist()
        (('audio',), [[1.0, 1.0]])
    """

    #: Names of the inputs of ``controls``, in order; a ProcessorGroup connects them by name.
    input_names: tuple[str, ...] = ()
    #: Keyword options of ``render``; ``forward`` and a ProcessorGroup pass these on.
    render_options: tuple[str, ...] = ()

    def __init__(self, trainable: bool = False):
        super().__init__()
        self.trainable = bool(trainable)
        #: learned control -> the attribute holding its ``nn.Parameter`` (only when trainable).
        self.learned: dict[str, str] = {}

    def learnable(self, port: str, initial: Tensor | Callable[[], Tensor], attribute: str | None = None) -> None:
        """Declare control ``port`` learned or given: when ``trainable``, an ``nn.Parameter``
        named ``attribute`` (default ``port``) starting at ``initial`` (a tensor, or a function
        making one, called only then), and ``port`` leaves ``input_names``; otherwise ``port``
        stays an input the caller passes."""
        if port not in self.input_names:
            raise InputError(f"learnable control {port!r} must be one of input_names {list(self.input_names)}")
        if self.trainable:
            name = port if attribute is None else attribute
            setattr(self, name, nn.Parameter(initial() if callable(initial) else initial))
            self.learned[port] = name
            self.input_names = tuple(p for p in self.input_names if p != port)

    def learned_or_given(self, port: str, value: Tensor | None) -> Tensor:
        """The control ``port`` as ``controls`` should use it: the learned parameter when
        trainable (then ``value`` must be None), else the given ``value`` (then required)."""
        name = type(self).__name__
        if port in self.learned:
            if value is not None:
                raise InputError(f"{port} must not be given to a trainable {name} (it learns its own)")
            return getattr(self, self.learned[port])
        if value is None:
            raise InputError(
                f"{port} is required: this {name} is not trainable (pass it, or build it with "
                "trainable=True to learn it)"
            )
        return value

    def setting(self, name: str, value: Tensor, learned: bool | None = None) -> None:
        """Declare a learned-or-fixed setting: an ``nn.Parameter`` when ``learned`` (default:
        ``trainable``), else a buffer."""
        if self.trainable if learned is None else learned:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def controls(self, *inputs: Any, **named: Any) -> dict[str, Any]:
        """Map raw inputs to controls; the default passes them through under ``input_names``."""
        if named or len(inputs) != len(self.input_names):
            raise InputError(
                f"{type(self).__name__} takes {len(self.input_names)} inputs {list(self.input_names)}, "
                f"found {len(inputs)} positional and {sorted(named)} by name"
            )
        return dict(zip(self.input_names, inputs))

    def render(self, *controls: Any, **options: Any) -> Rendered:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, *inputs: Any, **named: Any) -> Rendered:
        """``render(**controls(*inputs), **options)``: keywords named in ``render_options`` go to
        ``render``, the others (inputs by name) to ``controls``."""
        options = {k: named.pop(k) for k in self.render_options if k in named}
        return self.render(**self.controls(*inputs, **named), **options)


def check_same_audio(**signals: Tensor) -> None:
    """Raise unless every signal is audio ``(batch, n_samples)`` of one shape (named as given)."""
    shapes = {}
    for name, signal in signals.items():
        check_rank(name, signal, 2, "(batch, n_samples)")
        shapes[name] = tuple(signal.shape)
    if len(set(shapes.values())) > 1:
        raise InputError(f"signals must have the same shape ({', '.join(f'{k}: {v}' for k, v in shapes.items())})")


class Add(Processor):
    """Sum of two signals of the same shape ``(batch, n_samples)``."""

    input_names = ("signal_one", "signal_two")

    def render(self, signal_one: Tensor, signal_two: Tensor) -> Tensor:
        check_same_audio(signal_one=signal_one, signal_two=signal_two)
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

    def controls(self, signal_one: Tensor, signal_two: Tensor, mix: Tensor) -> dict[str, Tensor]:
        if self.scale_fn is not None:
            mix = self.scale_fn(mix)
        return {"signal_one": signal_one, "signal_two": signal_two, "mix": mix}

    def render(self, signal_one: Tensor, signal_two: Tensor, mix: Tensor) -> Tensor:
        check_same_audio(signal_one=signal_one, signal_two=signal_two)
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


#: Render options that carry one node's streaming state, never shared by a group's nodes.
STREAMING_OPTIONS = ("state", "return_state", "add_endpoint")


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
    graph inputs it needs. Its ``render_options`` are those its nodes declare (``n_samples``,
    ``generator``, ``seed``, ...), each passed to the nodes that declare it (one ``seed`` seeds
    every noise node alike).

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
                raise InputError(
                    f"node {node.name!r}: processor must be a Processor, found {type(node.processor).__name__}"
                )
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
        # Its options: every option a node declares, each passed to the nodes that declare it.
        # Streaming options are per node (each node's state is its own): a group passes on
        # only the options every node reads the same way; per-node states come with streaming.
        self.render_options = tuple(
            dict.fromkeys(o for n in parsed for o in n.processor.render_options if o not in STREAMING_OPTIONS)
        )
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

    def node(self, name: str) -> Processor:
        """The processor of node ``name``."""
        processor = self.processors[name]
        assert isinstance(processor, Processor)  # checked at construction
        return processor

    def controls(self, *inputs: Any, **named: Any) -> dict[str, Any]:
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
        unknown_options = sorted(set(options) - set(self.render_options))
        if unknown_options:
            raise InputError(
                f"render options must be among {list(self.render_options)} (those its nodes "
                f"declare), found {unknown_options}"
            )
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise InputError(f"missing graph inputs {missing}; the graph needs {list(self.input_names)}")
        shadowing = sorted(set(inputs) & set(self.wiring))
        if shadowing:
            raise InputError(f"graph inputs {shadowing} have the names of nodes; rename them")
        values: dict[str, Tensor] = dict(inputs)
        for name in self.order:
            processor = self.node(name)
            arguments = []
            for port in processor.input_names:
                source = self.wiring[name][port]
                if source not in values:
                    node = source.split("/")[0]
                    known = sorted(k.split("/", 1)[1] for k in values if k.startswith(node + "/"))
                    raise InputError(
                        f"node {name!r}, port {port!r}: node {node!r} has no control "
                        f"{source.split('/', 1)[1]!r}; its controls are {known}"
                    )
                arguments.append(values[source])
            controls = processor.controls(*arguments)
            accepted = {k: v for k, v in options.items() if k in processor.render_options}
            # A group passes no streaming option (STREAMING_OPTIONS), so every node returns
            # its audio alone, never ``(audio, state)``.
            values[name] = cast(Tensor, processor.render(**controls, **accepted))
            for key, value in controls.items():
                values[f"{name}/{key}"] = value
        return values

    def render(self, **inputs: Any) -> Tensor:
        """The output node's signal for graph inputs and render options given by name."""
        options = {k: inputs.pop(k) for k in self.render_options if k in inputs}
        return self.run(inputs, **options)[self.output]
