"""Ops that only relabel or move data. They take no fused activation, so that they can become views."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, Rule, same_channels


class Reshape(OpSpec):
    """Reshape, Flatten, Squeeze, Unsqueeze, Identity: the same bytes under another shape."""

    op_types = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
    takes_epilogue = False

    def moves_no_data(self, graph: Graph, op: Op) -> bool:
        return len(graph.activation_inputs(op)) == 1

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return op.op_type == "Identity" and same_channels(graph, op)

    def split_rule(self, graph: Graph, op: Op) -> Rule:
        return Rule.OPAQUE  # a view, or a plain copy: nothing for partial execution to gain


def permutes_data(shape: tuple[int, ...], perm: list[int]) -> bool:
    """Transposing `shape` by `perm` reorders bytes: the axes of size above 1 change their order."""
    real = [axis for axis in perm if shape[axis] != 1]
    return real != sorted(real)


class Transpose(OpSpec):
    """Moves data unless only size-1 axes change places."""

    op_types = ("Transpose",)
    takes_epilogue = False

    def moves_no_data(self, graph: Graph, op: Op) -> bool:
        return not permutes_data(graph.tensors[op.inputs[0]].shape, perm_of(graph, op))


def perm_of(graph: Graph, op: Op) -> list[int]:
    return list(op.attrs.get("perm", reversed(range(len(graph.tensors[op.inputs[0]].shape)))))
