"""Reshape, Flatten, Squeeze, Unsqueeze, Identity -> pexcp_copy when the plan gives the output its own
bytes (rewrite `views` off, or TFLite Micro's plan); otherwise they are views and emit nothing."""

from __future__ import annotations

from pexcp.backends.c.ops.base import Call, Lowering, refuse
from pexcp.backends.c.ops.qdq import same_quant
from pexcp.ir import Graph, Op


class CopyLowering(Lowering):
    op_types = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
    files = {"f32": ("copy",), "s8": ("copy_s8",)}

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        return None

    def prepare_s8(self, graph: Graph, op: Op) -> None:
        (src,) = graph.activation_inputs(op)
        if op.quant and op.quant.get(src) is not None and not same_quant(op, src, op.outputs[0]):
            raise refuse(op, "an int8 copy cannot requantize")

    def emit_s8(self, call: Call) -> list[str]:
        return [f"pexcp_copy_s8({call.input(call.op.inputs[0])}, {call.output()}, {call.out_count()});"]

    def emit_f32(self, call: Call) -> list[str]:
        return [f"pexcp_copy({call.input(call.op.inputs[0])}, {call.output()}, {call.out_count()});"]
