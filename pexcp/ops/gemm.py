"""Gemm and MatMul: full ops over their K axis."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, Rule


class Gemm(OpSpec):
    """Gemm and MatMul with constant weights on one row: a full op over the K axis (axis 1 of a 2-D input)."""

    op_types = ("Gemm", "MatMul")

    def split_rule(self, graph: Graph, op: Op) -> Rule:
        weight = op.inputs[1] if len(op.inputs) > 1 else ""
        plain = not op.attrs.get("transA", 0) and len(graph.tensors[op.outputs[0]].shape) == 2
        return Rule.FULL if len(graph.activation_inputs(op)) == 1 and weight in graph.constants and plain else Rule.OPAQUE
