"""Pooling: each output channel is a window (or all) of its own input channel."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, same_channels
from pexcp.ops.window import Rows, rows


class Pool(OpSpec):
    op_types = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return same_channels(graph, op)

    def rows(self, graph: Graph, op: Op) -> Rows | None:
        if op.op_type not in ("MaxPool", "AveragePool") or "kernel_shape" not in op.attrs:
            return None
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        return rows(op, x, y, list(op.attrs["kernel_shape"]))

    def accepts_pads(self, op: Op) -> bool:
        # a zero pad is only the op's own padding when the average counts padded taps
        no_auto = op.attrs.get("auto_pad", "NOTSET") == "NOTSET"
        return op.op_type == "AveragePool" and no_auto and op.attrs.get("count_include_pad", 0) == 1
