"""What every operator type answers about itself, asked by the importer, the rewrites and the analysis.

An `OpSpec` describes one ONNX operator type (or a family that behaves alike) in terms of the questions
pexcp's passes ask: can it be an activation fused into the kernel call before it, does it compute element
i from element i only (so it may write over its input), does it move no data (so it may be a view), does
output channel c depend only on input channel c, and how partial execution may split it. The C backend's
lowerings (pexcp/backends/c/ops) decide only how an op becomes kernel calls; the plan validator keeps its
own, independent view in ONNX terms (a test checks both views agree).
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from pexcp.ir import Graph, Node, Op
from pexcp.ops.window import Rows


class Rule(Enum):
    """How partial execution may split an op along channels (analysis/partial.py)."""

    CHANNELWISE = "channel-wise"  # runs on any channel slice, reading the same slice of its inputs
    FULL = "full"  # produces any output channels from whole inputs, or accumulates over input channels
    OPAQUE = "opaque"  # runs whole


class OpSpec:
    """The default: an operator pexcp knows nothing about runs whole, as its own kernel call."""

    op_types: ClassVar[tuple[str, ...]] = ()
    activation: ClassVar[str | None] = None
    """"unary" or "binary": after a computing op it runs inside that op's kernel call (its epilogue), when
    its other operands are constants."""
    takes_epilogue: ClassVar[bool] = True
    """An activation after it may run inside its kernel call (ops that only move data take none, so that
    they can still become views)."""
    elementwise: ClassVar[bool] = False
    """Output element i is computed from element i of each input of the output's shape, and nothing else of
    them: it may write its output over such an input as it goes (when the output is no larger)."""

    def moves_no_data(self, graph: Graph, op: Op) -> bool:
        """Its output has the bytes of its single input, unchanged: it can be a view of them."""
        return False

    def layout_agnostic(self, graph: Graph, op: Op) -> bool:
        """It computes the same values whatever the axis order of its input (the `layout` rewrite may move a
        model input's Transpose across it)."""
        return False

    def channelwise(self, graph: Graph, op: Op) -> bool:
        """Output channel c (axis 1) depends only on channel c of each activation input."""
        return False

    def overwrites_by_channel(self, graph: Graph, op: Op) -> bool:
        """It may write its output over its input channel by channel through a one-channel temporary (an
        in-place depthwise conv): output channel c depends on input channel c alone and takes no more bytes,
        so writing channel c in its place destroys only input channels already consumed."""
        return False

    def overwrites_by_pixel(self, graph: Graph, op: Op) -> bool:
        """It may write its output over its input pixel by pixel through a one-pixel temporary (an in-place
        pointwise conv): output pixel p depends on input pixel p alone, the spatial size is kept and the
        output has no more channels, so in channel-planar storage output element (c, p) lands on input
        element (c, p), read when pixel p was."""
        return False

    def rows(self, graph: Graph, op: Op) -> Rows | None:
        """How its output rows (axis 2 of batch-1 NCHW) map to rows of its activation inputs, when it can
        compute any band of output rows from a band of input rows (row-band execution, analysis/bands.py)."""
        return None

    def split_rule(self, graph: Graph, op: Op) -> Rule:
        """How partial execution may split it, given that its tensors are batch-1 NC... (checked by the
        caller, analysis.partial.split_rule)."""
        return Rule.CHANNELWISE if self.channelwise(graph, op) else Rule.OPAQUE

    def accepts_pads(self, op: Op) -> bool:
        """A zero Pad before it can become its own `pads` attribute."""
        return False


def per_axis(node: Op | Node) -> bool:
    """A quantize/dequantize node with per-axis parameters: its values depend on the axis order."""
    return node.op_type in ("QuantizeLinear", "DequantizeLinear") and "axis" in node.attrs


def same_channels(graph: Graph, op: Op) -> bool:
    """Every activation input has the output's channel count and, when there are several, its shape."""
    out = graph.tensors[op.outputs[0]]
    acts = [graph.tensors[a] for a in graph.activation_inputs(op)]
    return bool(acts) and all(a.channels == out.channels for a in acts) and (
        len(acts) == 1 or all(a.shape == out.shape for a in acts)
    )
