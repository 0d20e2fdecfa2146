"""Gather with constant indices -> pexcp_gather on elements of any size (indices normalized at compile
time). Channel-wise when it gathers along an axis after the channels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pexcp.backends.c.ops.base import Call, Lowering, refuse, sliced_outer
from pexcp.backends.c.ops.qdq import int_array
from pexcp.backends.c.ops.slice import check_mover
from pexcp.ir import Graph, Op


@dataclass
class GatherData:
    outer: int
    axis_len: int
    inner: int
    indices: np.ndarray  # int32, non-negative
    elem: int


class GatherLowering(Lowering):
    op_types = ("Gather",)
    files = {"f32": ("gather",), "s8": ("gather",)}

    def _axis(self, graph: Graph, op: Op) -> int:
        return int(op.attrs.get("axis", 0)) % len(graph.tensors[op.inputs[0]].shape)

    def prepare_f32(self, graph: Graph, op: Op) -> GatherData:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        if op.inputs[1] not in graph.constants:
            raise refuse(op, "its indices must be a constant")
        x = graph.tensors[op.inputs[0]]
        axis = self._axis(graph, op)
        idx = np.asarray(graph.constants[op.inputs[1]]).astype(np.int64)
        n = x.shape[axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise refuse(op, f"an index is outside the {n} entries of axis {axis}")
        idx = np.where(idx < 0, idx + n, idx).astype(np.int32)
        return GatherData(math.prod(x.shape[:axis]), n, math.prod(x.shape[axis + 1 :]), idx.ravel(), x.itemsize)

    def prepare_s8(self, graph: Graph, op: Op) -> GatherData:
        check_mover(graph, op)
        return self.prepare_f32(graph, op)


    def emit_f32(self, call: Call) -> list[str]:
        d = call.data
        idx = int_array(call, d.indices, "int32", f"{call.op.name}: indices")
        return [
            f"pexcp_gather({call.input(call.op.inputs[0])}, {call.output()}, {sliced_outer(call, d.outer)}, "
            f"{d.axis_len}, {d.inner}, {idx}, {d.indices.size}, {d.elem});"
        ]

    emit_s8 = emit_f32
