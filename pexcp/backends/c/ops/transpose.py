"""Transpose -> pexcp_transpose, for the transposes that move data (the others are views)."""

from __future__ import annotations

from pexcp.backends.c.ops.base import RANK, Call, Lowering, check_rank, contiguous_strides, padded
from pexcp.ir import Graph, Op


class TransposeLowering(Lowering):
    op_types = ("Transpose",)
    files = {"f32": ("transpose",)}

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, list[int]]:
        x = graph.tensors[op.inputs[0]].shape
        check_rank(op, x)
        perm = list(op.attrs.get("perm", reversed(range(len(x)))))
        strides = contiguous_strides(x)
        return {
            "out_dims": padded(graph.tensors[op.outputs[0]].shape),
            "in_strides": [strides[p] for p in perm] + [0] * (RANK - len(perm)),
        }

    def emit_f32(self, call: Call) -> list[str]:
        params = call.struct("pexcp_transpose_params", call.data)
        return [f"pexcp_transpose(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]
