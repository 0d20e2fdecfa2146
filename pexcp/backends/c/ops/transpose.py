"""Transpose -> pexcp_transpose, for the transposes that move data (the others are views)."""

from __future__ import annotations

from pexcp.backends.c.ops.base import RANK, Call, Lowering, check_rank, contiguous_strides, padded, refuse
from pexcp.backends.c.ops.qdq import same_quant
from pexcp.ir import Graph, Op


class TransposeLowering(Lowering):
    op_types = ("Transpose",)
    files = {"f32": ("transpose",), "s8": ("transpose_s8",)}

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, list[int]]:
        x = graph.tensors[op.inputs[0]].shape
        check_rank(op, x)
        perm = list(op.attrs.get("perm", reversed(range(len(x)))))
        strides = contiguous_strides(x)
        return {
            "out_dims": padded(graph.tensors[op.outputs[0]].shape),
            "in_strides": [strides[p] for p in perm] + [0] * (RANK - len(perm)),
        }

    def prepare_s8(self, graph: Graph, op: Op) -> dict[str, list[int]]:
        (src,) = graph.activation_inputs(op)
        if op.quant and not same_quant(op, src, op.outputs[0]):
            raise refuse(op, "an int8 Transpose cannot requantize")
        return self.prepare_f32(graph, op)

    def emit_s8(self, call: Call) -> list[str]:
        params = call.struct("pexcp_transpose_s8_params", call.data)
        return [f"pexcp_transpose_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]

    def emit_f32(self, call: Call) -> list[str]:
        params = call.struct("pexcp_transpose_params", call.data)
        return [f"pexcp_transpose(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]
