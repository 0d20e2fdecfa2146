"""Ops that compute output element i from element i: activations, quantize/dequantize, casts, arithmetic,
math functions."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, per_axis, same_channels
from pexcp.ops.window import Rows


class Activation(OpSpec):
    """Unary activations; fused into the kernel call of the op before them when their parameters are
    constants (TFLite fuses them the same way)."""

    op_types = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus")
    activation = "unary"
    elementwise = True

    def layout_agnostic(self, graph: Graph, op: Op) -> bool:
        return True

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return same_channels(graph, op)


class Convert(OpSpec):
    """Type conversions: QuantizeLinear, DequantizeLinear (per tensor or per axis), Cast."""

    op_types = ("QuantizeLinear", "DequantizeLinear")
    elementwise = True

    def layout_agnostic(self, graph: Graph, op: Op) -> bool:
        return not per_axis(op)

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return not per_axis(op) and same_channels(graph, op)


class Cast(Convert):
    """Its output may be an integer tensor: an activation after it is an op of its own."""

    op_types = ("Cast",)
    takes_epilogue = False


class Arithmetic(OpSpec):
    """Binary arithmetic with broadcasting. With a constant operand it is fused into the call before it; in
    place over an activation operand of the output's shape."""

    op_types = ("Add", "Sub", "Mul", "Div", "PRelu")
    activation = "binary"
    elementwise = True

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return same_channels(graph, op)

    def rows(self, graph: Graph, op: Op) -> Rows | None:
        # an Add of activations of the output's shape (a residual Add) reads the rows it writes
        out = graph.tensors[op.outputs[0]].shape
        acts = graph.activation_inputs(op)
        if op.op_type != "Add" or len(op.inputs) != 2 or acts != list(op.inputs) or len(out) != 4:
            return None
        if any(graph.tensors[t].shape != out for t in acts):
            return None
        return Rows(1, 1, 0, out[2])


class Math(OpSpec):
    """Unary math functions. Not fused as activations (TFLite fuses none of them): their own kernel calls,
    in place over their input."""

    op_types = ("Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal")
    elementwise = True

    def layout_agnostic(self, graph: Graph, op: Op) -> bool:
        return True

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return same_channels(graph, op)


class MinMaxPow(OpSpec):
    """Min, Max (two operands) and Pow with broadcasting: elementwise like Arithmetic, but never fused as an
    epilogue (TFLite's MAXIMUM, MINIMUM and POW are ops of their own)."""

    op_types = ("Min", "Max", "Pow")
    elementwise = True

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return same_channels(graph, op)
