"""Ops that work along some axes: reductions, softmax, arg max/min. Channel-wise when every such axis comes
after the channels (the output keeps the channels at axis 1)."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec
from pexcp.ops.movers import const_ints


def after_channels(graph: Graph, op: Op, axes: list[int]) -> bool:
    rank = len(graph.tensors[op.inputs[0]].shape)
    return rank >= 3 and all(a % rank >= 2 for a in axes)


class Reduce(OpSpec):
    op_types = ("ReduceMean", "ReduceMax", "ReduceSum")

    def channelwise(self, graph: Graph, op: Op) -> bool:
        axes = op.attrs.get("axes")
        axes = const_ints(graph, op, 1) if axes is None else list(axes)
        if not axes:  # all axes, or none with noop_with_empty_axes
            return bool(op.attrs.get("noop_with_empty_axes", 0)) and after_channels(graph, op, [])
        return after_channels(graph, op, axes)


class Softmax(OpSpec):
    """Softmax and LogSoftmax; before opset 13 they coerce the input to 2-D from `axis` on, which keeps the
    channels apart when axis >= 2."""

    op_types = ("Softmax", "LogSoftmax")

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return after_channels(graph, op, [int(op.attrs.get("axis", 1 if graph.opset < 13 else -1))])


class ArgMax(OpSpec):
    """ArgMax, ArgMin: int64 indices, so no activation after them."""

    op_types = ("ArgMax", "ArgMin")
    takes_epilogue = False

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return after_channels(graph, op, [int(op.attrs.get("axis", 0))])
