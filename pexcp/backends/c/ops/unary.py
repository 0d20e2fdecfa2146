"""Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Exp, Log, Sqrt, Abs, Neg, Reciprocal:
elementwise, as ops or as the epilogue
of another op's kernel call (then in place on the region that call wrote)."""

from __future__ import annotations

from pexcp.backends.c.cfmt import c_float
from pexcp.backends.c.memory import Ptr
from pexcp.backends.c.ops.base import Call, Lowering, clamp_of
from pexcp.ir import Graph, Node, Op


# functions without parameters: op type -> kernel (pexcp_<name>) and runtime file (<name>.c)
SIMPLE = {
    "Sigmoid": "sigmoid", "HardSwish": "hard_swish", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
    "Abs": "abs", "Neg": "neg", "Reciprocal": "reciprocal",
}


def unary_call(graph: Graph, node: Node, src: Ptr, dst: Ptr, count: int) -> str:
    head = f"{src}, {dst}, {count}"
    bounds = clamp_of(graph, node)
    if bounds is not None:
        return f"pexcp_clip({head}, {c_float(bounds[0])}, {c_float(bounds[1])});"
    attrs = node.attrs
    if node.op_type == "LeakyRelu":
        return f"pexcp_leaky_relu({head}, {c_float(attrs.get('alpha', 0.01))});"
    if node.op_type == "HardSigmoid":
        return f"pexcp_hard_sigmoid({head}, {c_float(attrs.get('alpha', 0.2))}, {c_float(attrs.get('beta', 0.5))});"
    return f"pexcp_{SIMPLE[node.op_type]}({head});"


def unary_files(graph: Graph, node: Node) -> tuple[str, ...]:
    """The runtime file of a float unary node's kernel."""
    if clamp_of(graph, node) is not None:
        return ("clip",)
    return ({"LeakyRelu": "leaky_relu", "HardSigmoid": "hard_sigmoid", **SIMPLE}[node.op_type],)


class UnaryLowering(Lowering):
    op_types = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", *SIMPLE)

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        clamp_of(graph, op)  # Clip bounds must be constants

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        return unary_files(graph, op.core)

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return True

    def emit_f32(self, call: Call) -> list[str]:
        return [unary_call(call.graph, call.op.core, call.input(call.op.inputs[0]), call.output(), call.out_count())]
