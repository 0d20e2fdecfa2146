"""Conv and ConvTranspose: a full op (any output channels from the whole input, or partial sums over input channels) with
one group; channel-wise when depthwise without a channel multiplier."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, Rule
from pexcp.ops.window import Rows, rows


class Conv(OpSpec):
    op_types = ("Conv",)

    def channelwise(self, graph: Graph, op: Op) -> bool:
        # with a channel multiplier m, output channel c reads input channel c // m
        c_in = graph.tensors[op.inputs[0]].channels if op.inputs[0] in graph.tensors else None
        return 1 < op.attrs.get("group", 1) == c_in == graph.tensors[op.outputs[0]].channels

    def overwrites_by_channel(self, graph: Graph, op: Op) -> bool:
        # a transposed conv's output channel is larger than its input channel
        if op.op_type != "Conv" or not self.channelwise(graph, op) or op.inputs[0] not in graph.tensors:
            return False
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        return x.itemsize == y.itemsize and y.numel <= x.numel

    def overwrites_by_pixel(self, graph: Graph, op: Op) -> bool:
        # a 1x1 stride-1 unpadded one-group conv; a transposed conv's pixels are not its input's
        if op.op_type != "Conv" or op.attrs.get("group", 1) != 1 or op.inputs[0] not in graph.tensors:
            return False
        w = graph.constants.get(op.inputs[1])
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if w is None or any(k != 1 for k in w.shape[2:]) or any(op.attrs.get("pads", [])):
            return False
        if any(s != 1 for s in op.attrs.get("strides", [])):  # (any auto_pad pads a 1x1 stride-1 window by 0)
            return False
        return x.shape[2:] == y.shape[2:] and x.itemsize == y.itemsize and y.shape[1] <= x.shape[1]

    def rows(self, graph: Graph, op: Op) -> Rows | None:
        w = graph.constants.get(op.inputs[1]) if len(op.inputs) > 1 else None
        if op.op_type != "Conv" or w is None or op.inputs[0] not in graph.tensors:
            return None
        return rows(op, graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape, list(w.shape[2:]))

    def split_rule(self, graph: Graph, op: Op) -> Rule:
        if len(graph.activation_inputs(op)) != 1:
            return Rule.OPAQUE
        if op.attrs.get("group", 1) == 1:
            return Rule.FULL
        return Rule.CHANNELWISE if self.channelwise(graph, op) else Rule.OPAQUE

    def accepts_pads(self, op: Op) -> bool:
        return op.attrs.get("auto_pad", "NOTSET") == "NOTSET"



class ConvTranspose(Conv):
    """Like Conv: full with one group (the kernel produces any output channels from the whole input and sums
    over any input channels), channel-wise when depthwise. Its pads remove output: no Pad folds into it."""

    op_types = ("ConvTranspose",)

    def accepts_pads(self, op: Op) -> bool:
        return False
