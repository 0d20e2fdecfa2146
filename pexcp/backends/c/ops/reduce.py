"""ReduceMean -> pexcp_reduce_mean and Softmax -> pexcp_softmax: both see their input as
outer x middle x inner around the axes they work on. int8 QDQ: TFLite's MEAN (pexcp_mean_s8) and SOFTMAX
(pexcp_softmax_s8, whose output TFLite fixes at scale 1/256, zero point -128)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pexcp.backends.c import quant
from pexcp.backends.c.ops.base import Call, Lowering, optional_constant, refuse
from pexcp.backends.c.ops.qdq import output_quant, tensor_quant
from pexcp.ir import Graph, Op


@dataclass
class ReduceS8:
    geometry: tuple[int, int, int]  # outer, reduced, inner
    q: quant.MeanQuant | quant.SoftmaxQuant


def _prod(dims: tuple[int, ...] | list[int]) -> int:
    return math.prod(dims)


class ReduceMeanLowering(Lowering):
    op_types = ("ReduceMean",)
    files = {"f32": ("reduce_mean",), "s8": ("mean_s8",)}

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

    def prepare_s8(self, graph: Graph, op: Op) -> ReduceS8:
        if op.epilogue:
            raise refuse(op, "an int8 mean has no fused activation")
        outer, reduce, inner = self.geometry(graph, op)
        return ReduceS8((outer, reduce, inner), quant.mean_quant(*tensor_quant(op, op.inputs[0]), *output_quant(op), reduce))

    def emit_s8(self, call: Call) -> list[str]:
        (outer, reduce, inner), q = call.data.geometry, call.data.q
        params = call.struct("pexcp_mean_s8_params", {
            "outer": outer, "reduce": reduce, "inner": inner, "in_zp": q.in_zp, "out_zp": q.out_zp, "mult": q.mult,
            "shift": q.shift,
        })
        return [f"pexcp_mean_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]

    def emit_f32(self, call: Call) -> list[str]:
        outer, reduce, inner = call.data
        return [f"pexcp_reduce_mean({call.input(call.op.inputs[0])}, {call.output()}, {outer}, {reduce}, {inner});"]


class SoftmaxLowering(Lowering):
    op_types = ("Softmax",)
    files = {"f32": ("softmax",), "s8": ("softmax_s8",)}

    def geometry(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        opset, x = graph.opset, graph.tensors[op.inputs[0]].shape
        axis = int(op.attrs.get("axis", 1 if opset < 13 else -1)) % max(len(x), 1)
        if opset < 13:  # the input is coerced to 2-D: [prod(x[:axis]), prod(x[axis:])]
            return (_prod(x[:axis]), _prod(x[axis:]), 1)
        return (_prod(x[:axis]), x[axis], _prod(x[axis + 1 :]))

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        return self.geometry(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ReduceS8:
        if op.epilogue:
            raise refuse(op, "an int8 softmax has no fused activation")
        s_out, zp_out = output_quant(op)
        if s_out != 1.0 / 256 or zp_out != -128:
            raise refuse(op, f"int8 softmax output must have scale 1/256 and zero point -128, not {s_out}, {zp_out}")
        try:
            q = quant.softmax_quant(tensor_quant(op, op.inputs[0])[0])
        except ValueError as e:
            raise refuse(op, str(e)) from None
        return ReduceS8(self.geometry(graph, op), q)

    def emit_s8(self, call: Call) -> list[str]:
        (outer, n, inner), q = call.data.geometry, call.data.q
        params = call.struct("pexcp_softmax_s8_params", {"in_mult": q.in_mult, "in_shift": q.in_shift, "diff_min": q.diff_min})
        return [
            f"pexcp_softmax_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {outer}, {n}, {inner});"
        ]

    def emit_f32(self, call: Call) -> list[str]:
        outer, n, inner = call.data
        return [f"pexcp_softmax({call.input(call.op.inputs[0])}, {call.output()}, {outer}, {n}, {inner});"]
