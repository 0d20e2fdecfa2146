"""ReduceMean -> pexcp_reduce_mean and Softmax -> pexcp_softmax: both see their input as
outer x middle x inner around the axes they work on."""

from __future__ import annotations

import math

from pexcp.backends.c.ops.base import Call, Lowering, optional_constant, refuse
from pexcp.ir import Graph, Op


def _prod(dims: tuple[int, ...] | list[int]) -> int:
    return math.prod(dims)


class ReduceMeanLowering(Lowering):
    op_types = ("ReduceMean",)
    files = {"f32": ("reduce_mean",)}

    def geometry(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        x = graph.tensors[op.inputs[0]].shape
        axes = op.attrs.get("axes")
        if axes is None:
            given = optional_constant(graph, op, 1)  # opset 18: axes is an input
            axes = None if given is None else [int(a) for a in given.ravel()]
        if not axes:
            if op.attrs.get("noop_with_empty_axes", 0):
                return (_prod(x), 1, 1)
            axes = list(range(len(x)))
        axes = sorted({a % len(x) for a in axes})
        big = [a for a in axes if x[a] > 1]
        if not big:
            return (_prod(x), 1, 1)
        lo, hi = big[0], big[-1]
        if any(a not in axes and x[a] > 1 for a in range(lo, hi + 1)):
            raise refuse(op, f"reducing axes {axes} of {x}: only one contiguous run of axes is supported")
        return (_prod(x[:lo]), _prod(x[lo : hi + 1]), _prod(x[hi + 1 :]))

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        return self.geometry(graph, op)

    def emit_f32(self, call: Call) -> list[str]:
        outer, reduce, inner = call.data
        return [f"pexcp_reduce_mean({call.input(call.op.inputs[0])}, {call.output()}, {outer}, {reduce}, {inner});"]


class SoftmaxLowering(Lowering):
    op_types = ("Softmax",)
    files = {"f32": ("softmax",)}

    def geometry(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        opset, x = graph.opset, graph.tensors[op.inputs[0]].shape
        axis = int(op.attrs.get("axis", 1 if opset < 13 else -1)) % max(len(x), 1)
        if opset < 13:  # the input is coerced to 2-D: [prod(x[:axis]), prod(x[axis:])]
            return (_prod(x[:axis]), _prod(x[axis:]), 1)
        return (_prod(x[:axis]), x[axis], _prod(x[axis + 1 :]))

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        return self.geometry(graph, op)

    def emit_f32(self, call: Call) -> list[str]:
        outer, n, inner = call.data
        return [f"pexcp_softmax({call.input(call.op.inputs[0])}, {call.output()}, {outer}, {n}, {inner});"]
