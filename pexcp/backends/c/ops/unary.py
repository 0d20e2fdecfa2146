"""Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Exp, Log, Sqrt, Abs, Neg, Reciprocal:
elementwise, as ops or as the epilogue of another op's kernel call (then in place on the region that call
wrote). int8 QDQ Sigmoid and HardSwish ops are TFLite's LOGISTIC (pexcp_logistic_s8, output scale 1/256,
zero point -128) and HARD_SWISH (pexcp_hard_swish_s8); int8 Relu and Clip run fused into the kernel before
them."""

from __future__ import annotations

from dataclasses import fields

from pexcp.backends.c import quant
from pexcp.backends.c.cfmt import c_float
from pexcp.backends.c.memory import Ptr
from pexcp.backends.c.ops.base import Call, Lowering, clamp_of, op_dtype, refuse
from pexcp.backends.c.ops.qdq import output_quant, tensor_quant
from pexcp.ir import Graph, Node, Op

_S8 = {"Sigmoid": "logistic_s8", "HardSwish": "hard_swish_s8"}  # int8 kernels by op type (runtime file stem)


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
        if op_dtype(graph, op) == "s8":
            return (_S8[op.op_type],)
        return unary_files(graph, op.core)

    def prepare_s8(self, graph: Graph, op: Op) -> quant.LogisticQuant | quant.HardSwishQuant:
        if op.op_type not in _S8:
            raise refuse(op, "a standalone int8 activation of this type has no kernel (Relu and Clip fuse into "
                         "the op before them)")
        if op.epilogue:
            raise refuse(op, "no fused activation after an int8 activation")
        s_in, zp_in = tensor_quant(op, op.inputs[0])
        s_out, zp_out = output_quant(op)
        if op.op_type == "Sigmoid":
            if s_out != 1.0 / 256 or zp_out != -128:
                raise refuse(op, f"int8 Sigmoid output must have scale 1/256 and zero point -128, not {s_out}, {zp_out}")
            return quant.logistic_quant(s_in, zp_in)
        try:
            return quant.hard_swish_quant(s_in, zp_in, s_out, zp_out)
        except ValueError as e:
            raise refuse(op, str(e)) from None

    def emit_s8(self, call: Call) -> list[str]:
        q = call.data
        kernel = _S8[call.op.op_type]
        params = call.struct(f"pexcp_{kernel}_params", {f.name: getattr(q, f.name) for f in fields(q)})
        return [f"pexcp_{kernel}(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {call.out_count()});"]

    def emit_f32(self, call: Call) -> list[str]:
        return [unary_call(call.graph, call.op.core, call.input(call.op.inputs[0]), call.output(), call.out_count())]
