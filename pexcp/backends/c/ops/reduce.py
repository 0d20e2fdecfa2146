"""ReduceMean, ReduceMax, ReduceSum -> pexcp_reduce_<kind>, Softmax and LogSoftmax -> pexcp_(log_)softmax,
ArgMax and ArgMin -> pexcp_arg_max / pexcp_arg_min (int64 indices): all see their input as
outer x middle x inner around the axes they work on, and are channel-wise when those axes come after the
channels (a channel slice is then a slice of `outer`). int8 QDQ: TFLite's MEAN (pexcp_mean_s8) and SOFTMAX
(pexcp_softmax_s8, whose output TFLite fixes at scale 1/256, zero point -128)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pexcp.backends.c import quant
from pexcp.backends.c.ops.base import Call, Lowering, op_dtype, optional_constant, refuse, sliced_outer
from pexcp.backends.c.ops.qdq import output_quant, same_quant, tensor_quant
from pexcp.ir import Graph, Op


@dataclass
class ReduceS8:
    geometry: tuple[int, int, int]  # outer, reduced, inner
    q: quant.MeanQuant | quant.SoftmaxQuant


def _prod(dims: tuple[int, ...] | list[int]) -> int:
    return math.prod(dims)


def reduce_axes(graph: Graph, op: Op) -> list[int]:
    """The axes a Reduce* op reduces (attribute, or input 1 since opset 13 / 18), normalized; empty for a
    no-op (noop_with_empty_axes)."""
    x = graph.tensors[op.inputs[0]].shape
    axes = op.attrs.get("axes")
    if axes is None:
        given = optional_constant(graph, op, 1)
        axes = None if given is None else [int(a) for a in given.ravel()]
    if not axes:
        return [] if op.attrs.get("noop_with_empty_axes", 0) else list(range(len(x)))
    return sorted({a % len(x) for a in axes})


class ReduceMeanLowering(Lowering):
    op_types = ("ReduceMean", "ReduceMax", "ReduceSum")
    files = {"f32": ("reduce_mean",), "s8": ("mean_s8",)}

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        if op.op_type == "ReduceMean":
            return super().runtime(graph, op)
        s8 = "_s8" if op_dtype(graph, op) == "s8" else ""
        return (f"reduce_max{s8}",) if op.op_type == "ReduceMax" else ("reduce_sum",)


    def geometry(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        x = graph.tensors[op.inputs[0]].shape
        axes = reduce_axes(graph, op)
        if not axes:
            return (_prod(x), 1, 1)
        big = [a for a in axes if x[a] > 1]
        if not big:
            return (_prod(x), 1, 1)
        lo, hi = big[0], big[-1]
        if any(a not in axes and x[a] > 1 for a in range(lo, hi + 1)):
            raise refuse(op, f"reducing axes {axes} of {x}: only one contiguous run of axes is supported")
        return (_prod(x[:lo]), _prod(x[lo : hi + 1]), _prod(x[hi + 1 :]))

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        return self.geometry(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ReduceS8 | tuple[int, int, int]:
        if op.op_type == "ReduceMax":  # TFLite Micro's REDUCE_MAX: the input's scale and zero point
            if op.epilogue or not same_quant(op, op.inputs[0], op.outputs[0]):
                raise refuse(op, "int8 ReduceMax needs the input's scale and zero point and no fused activation")
            tensor_quant(op, op.inputs[0])
            return self.geometry(graph, op)
        if op.op_type != "ReduceMean":
            raise refuse(op, "no int8 kernel")
        if op.epilogue:
            raise refuse(op, "an int8 mean has no fused activation")
        outer, reduce, inner = self.geometry(graph, op)
        return ReduceS8((outer, reduce, inner), quant.mean_quant(*tensor_quant(op, op.inputs[0]), *output_quant(op), reduce))

    def emit_s8(self, call: Call) -> list[str]:
        if call.op.op_type == "ReduceMax":
            outer, n, inner = call.data
            src = call.input(call.op.inputs[0])
            return [f"pexcp_reduce_max_s8({src}, {call.output()}, {sliced_outer(call, outer)}, {n}, {inner});"]
        (outer, reduce, inner), q = call.data.geometry, call.data.q
        params = call.struct("pexcp_mean_s8_params", {
            "outer": sliced_outer(call, outer), "reduce": reduce, "inner": inner, "in_zp": q.in_zp, "out_zp": q.out_zp, "mult": q.mult,
            "shift": q.shift,
        })
        return [f"pexcp_mean_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]

    def emit_f32(self, call: Call) -> list[str]:
        outer, reduce, inner = call.data
        kernel = "pexcp_" + {"ReduceMean": "reduce_mean", "ReduceMax": "reduce_max", "ReduceSum": "reduce_sum"}[call.op.op_type]
        return [
            f"{kernel}({call.input(call.op.inputs[0])}, {call.output()}, {sliced_outer(call, outer)}, {reduce}, {inner});"
        ]


class SoftmaxLowering(Lowering):
    op_types = ("Softmax", "LogSoftmax")
    files = {"f32": ("softmax",), "s8": ("softmax_s8",)}

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        return ("log_softmax",) if op.op_type == "LogSoftmax" else super().runtime(graph, op)

    def _axis(self, graph: Graph, op: Op) -> int:
        x = graph.tensors[op.inputs[0]].shape
        return int(op.attrs.get("axis", 1 if graph.opset < 13 else -1)) % max(len(x), 1)


    def geometry(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        opset, x = graph.opset, graph.tensors[op.inputs[0]].shape
        axis = self._axis(graph, op)
        if opset < 13:  # the input is coerced to 2-D: [prod(x[:axis]), prod(x[axis:])]
            return (_prod(x[:axis]), _prod(x[axis:]), 1)
        return (_prod(x[:axis]), x[axis], _prod(x[axis + 1 :]))

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        return self.geometry(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ReduceS8:
        if op.op_type != "Softmax":
            raise refuse(op, "no int8 kernel")
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
            f"pexcp_softmax_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {sliced_outer(call, outer)}, "
            f"{n}, {inner});"
        ]

    def emit_f32(self, call: Call) -> list[str]:
        outer, n, inner = call.data
        kernel = "pexcp_log_softmax" if call.op.op_type == "LogSoftmax" else "pexcp_softmax"
        return [f"{kernel}({call.input(call.op.inputs[0])}, {call.output()}, {sliced_outer(call, outer)}, {n}, {inner});"]


class ArgMaxLowering(Lowering):
    op_types = ("ArgMax", "ArgMin")
    files = {"f32": ("arg_max",), "s8": ("arg_max_s8",)}

    def prepare_s8(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        """TFLite's ARG_MAX / ARG_MIN on int8: a positive scale keeps the order, so the int8 values decide."""
        x = graph.tensors[op.inputs[0]]
        if x.dtype != "int8" or graph.tensors[op.outputs[0]].dtype != "int64":
            raise refuse(op, "only int8 data and int64 indices are supported")
        q = op.quant.get(op.inputs[0])
        if q is not None and float(np.min(q[0])) <= 0:
            raise refuse(op, "its input scale must be positive")
        axis = self._axis(graph, op)
        return (_prod(x.shape[:axis]), x.shape[axis], _prod(x.shape[axis + 1 :]))

    def _axis(self, graph: Graph, op: Op) -> int:
        return int(op.attrs.get("axis", 0)) % len(graph.tensors[op.inputs[0]].shape)

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[int, int, int]:
        x = graph.tensors[op.inputs[0]]
        if x.dtype != "float32" or graph.tensors[op.outputs[0]].dtype != "int64":
            raise refuse(op, "only float32 data and int64 indices are supported")
        axis = self._axis(graph, op)
        return (_prod(x.shape[:axis]), x.shape[axis], _prod(x.shape[axis + 1 :]))

    def emit_f32(self, call: Call) -> list[str]:
        outer, n, inner = call.data
        kernel = ("pexcp_arg_max" if call.op.op_type == "ArgMax" else "pexcp_arg_min") + ("_s8" if call.dtype == "s8" else "")
        last = int(call.op.attrs.get("select_last_index", 0))
        return [
            f"{kernel}({call.input(call.op.inputs[0])}, {call.output()}, {sliced_outer(call, outer)}, {n}, {inner}, {last});"
        ]

    emit_s8 = emit_f32
