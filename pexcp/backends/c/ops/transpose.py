"""Transpose -> pexcp_transpose, for the transposes that move data (the others are views)."""

from __future__ import annotations

from pexcp.backends.c.ops.base import RANK, Call, Lowering, check_rank, contiguous_strides, padded
from pexcp.ir import Graph, Op


class TransposeLowering(Lowering):
    op_types = ("Transpose",)

    def prepare(self, graph: Graph, op: Op) -> None:
        check_rank(op, graph.tensors[op.inputs[0]].shape)

    def emit(self, call: Call) -> list[str]:
        x = call.tensor(call.op.inputs[0]).shape
        perm = list(call.op.attrs.get("perm", reversed(range(len(x)))))
        strides = contiguous_strides(x)
        params = call.struct("pexcp_transpose_params", {
            "out_dims": padded(call.out.shape),
            "in_strides": [strides[p] for p in perm] + [0] * (RANK - len(perm)),
        })
        return [f"pexcp_transpose(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]
