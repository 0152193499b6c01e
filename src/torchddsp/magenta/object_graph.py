"""The object graph a TF2 checkpoint saves beside its tensors (a ``TrackableObjectGraph``
message in the string tensor ``_CHECKPOINTABLE_OBJECT_GRAPH``), parsed without TensorFlow.

Each node is a saved object (a ``tf.Module``, a layer, a variable, an optimizer); node 0 is the
root (the ``tf.train.Checkpoint``). A node lists its children by local name, its serialized
tensors (a variable's value: attribute ``VARIABLE_VALUE`` with its checkpoint key and the
variable's TensorFlow name) and, for an optimizer, its slot variables. A tensor's checkpoint key
is the path of local names from the root to its object, then ``/.ATTRIBUTES/`` and the
attribute name; :func:`object_paths` rebuilds those paths.

Example:
    >>> graph = parse_object_graph(bytes([0x0A, 0x07, 0x0A, 0x05, 0x08, 0x01, 0x12, 0x01, 0x6D, 0x0A, 0x00]))
    >>> graph[0].children, object_paths(graph)
    ((('m', 1),), {0: '', 1: 'm'})
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..validation import InputError
from .protobuf import parse_message

__all__ = ["OBJECT_GRAPH_KEY", "TrackableNode", "parse_object_graph", "object_paths"]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# Field numbers (tensorflow/core/protobuf/trackable_object_graph.proto).
_GRAPH_NODES = 1
_NODE_CHILDREN, _NODE_ATTRIBUTES, _NODE_SLOTS = 1, 2, 3
_REFERENCE_ID, _REFERENCE_NAME = 1, 2
_TENSOR_NAME, _TENSOR_FULL_NAME, _TENSOR_KEY = 1, 2, 3
_SLOT_ORIGINAL, _SLOT_NAME, _SLOT_VARIABLE = 1, 2, 3
_OPTIMIZER_SLOT = ".OPTIMIZER_SLOT"


@dataclass(frozen=True)
class TrackableNode:
    """One saved object of a TF2 checkpoint's object graph.

    Fields: ``children``: ``(local_name, node_id)`` pairs; ``attributes``: ``(name, full_name,
    checkpoint_key)`` triples, e.g. ``("VARIABLE_VALUE", "dense/kernel",
    "model/decoder/kernel/.ATTRIBUTES/VARIABLE_VALUE")``; ``slot_variables``:
    ``(original_variable_node_id, slot_name, slot_variable_node_id)`` triples (optimizers).
    """

    children: tuple[tuple[str, int], ...]
    attributes: tuple[tuple[str, str, str], ...]
    slot_variables: tuple[tuple[int, str, int], ...]


def _text(fields: dict, number: int) -> str:
    value = fields.get(number, [b""])[-1]
    if not isinstance(value, bytes):
        raise InputError(f"malformed object graph: field {number} is not a string")
    return value.decode("utf-8")


def _int(fields: dict, number: int) -> int:
    value = fields.get(number, [0])[-1]
    if not isinstance(value, int):
        raise InputError(f"malformed object graph: field {number} is not an integer")
    return value


def _messages(fields: dict, number: int) -> list[dict]:
    """The parsed sub-messages of a repeated message field."""
    values = fields.get(number, [])
    if not all(isinstance(value, bytes) for value in values):
        raise InputError(f"malformed object graph: field {number} is not a message")
    return [parse_message(value) for value in values]


def _node(data: bytes) -> TrackableNode:
    fields = parse_message(data)
    children = tuple((_text(f, _REFERENCE_NAME), _int(f, _REFERENCE_ID)) for f in _messages(fields, _NODE_CHILDREN))
    attributes = tuple(
        (_text(f, _TENSOR_NAME), _text(f, _TENSOR_FULL_NAME), _text(f, _TENSOR_KEY))
        for f in _messages(fields, _NODE_ATTRIBUTES)
    )
    slots = tuple(
        (_int(f, _SLOT_ORIGINAL), _text(f, _SLOT_NAME), _int(f, _SLOT_VARIABLE)) for f in _messages(fields, _NODE_SLOTS)
    )
    return TrackableNode(children, attributes, slots)


def parse_object_graph(data: bytes) -> list[TrackableNode]:
    """The nodes of a serialized ``TrackableObjectGraph``, node ``i`` at index ``i``.

    Raises:
        InputError: malformed message, or a child or slot that names a node not in the graph.
    """
    raw_nodes = parse_message(data).get(_GRAPH_NODES, [])
    if not all(isinstance(node, bytes) for node in raw_nodes):
        raise InputError("malformed object graph: a node is not a message")
    nodes = [_node(node) for node in raw_nodes if isinstance(node, bytes)]
    for node in nodes:
        ids = [child for _, child in node.children] + [i for slot in node.slot_variables for i in (slot[0], slot[2])]
        if any(not 0 <= i < len(nodes) for i in ids):
            raise InputError(f"malformed object graph: a reference to a node outside 0..{len(nodes) - 1}")
    return nodes


def object_paths(nodes: list[TrackableNode]) -> dict[int, str]:
    """Each reachable node's path from the root, node id -> ``"model/decoder/kernel"`` (the
    shortest path by local names, breadth first, as TensorFlow names checkpoint keys), slot
    variables as ``VARIABLE_PATH/.OPTIMIZER_SLOT/OPTIMIZER_PATH/SLOT_NAME``. The root is ``""``.

    Example:
        >>> root = TrackableNode((("model", 1),), (), ())
        >>> model = TrackableNode((("kernel", 2),), (), ())
        >>> object_paths([root, model, TrackableNode((), (), ())])
        {0: '', 1: 'model', 2: 'model/kernel'}
    """
    paths = {0: ""} if nodes else {}
    queue = deque([0] if nodes else [])
    while queue:
        node_id = queue.popleft()
        for name, child in nodes[node_id].children:
            if child not in paths:
                paths[child] = f"{paths[node_id]}/{name}" if paths[node_id] else name
                queue.append(child)
    for node_id, node in enumerate(nodes):
        for original, slot_name, slot in node.slot_variables:
            if node_id in paths and original in paths and slot not in paths:
                paths[slot] = f"{paths[original]}/{_OPTIMIZER_SLOT}/{paths[node_id]}/{slot_name}"
    return paths
