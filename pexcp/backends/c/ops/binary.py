"""Add, Sub, Mul, Div, PRelu, Min, Max (of two operands), Pow -> pexcp_binary with broadcasting, as ops (either operand may be a constant)
or as the epilogue of another op's call (a constant operand applied in place to the region it wrote).
int8 QDQ Add of two activations of the same shape (TFLite's ADD) -> pexcp_add_s8."""

from __future__ import annotations

import numpy as np

from pexcp.backends.c import quant
from pexcp.backends.c.memory import Ptr
from pexcp.backends.c.ops.base import (
    NO_CLAMP, RANK, Call, Lowering, check_rank, contiguous_strides, op_dtype, padded, refuse,
)
from pexcp.backends.c.ops.qdq import activation_limits, output_quant, tensor_quant
from pexcp.ir import Graph, Node, Op

OPS = {
    "Add": "PEXCP_ADD", "Sub": "PEXCP_SUB", "Mul": "PEXCP_MUL", "Div": "PEXCP_DIV", "PRelu": "PEXCP_PRELU",
    "Min": "PEXCP_MIN", "Max": "PEXCP_MAX", "Pow": "PEXCP_POW",
}


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return graph.constants[name].shape if name in graph.constants else graph.tensors[name].shape


def broadcast_strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Strides of an operand read along the (rank-4) output axes: 0 where it is broadcast."""
    aligned = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides = [0 if d == 1 and o != 1 else s for d, o, s in zip(aligned, out, contiguous_strides(aligned))]
    return strides + [0] * (RANK - len(strides))


def check_broadcast(node: Op | Node, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> None:
    check_rank(node, out, *shapes)  # type: ignore[arg-type]
    try:
        result = np.broadcast_shapes(*shapes)
    except ValueError:
        raise refuse(node, f"shapes {shapes} do not broadcast") from None
    if tuple(result) != tuple(out):
        raise refuse(node, f"shapes {shapes} broadcast to {tuple(result)}, not to its output {out}")


def _params(call: Call, node: Op | Node, a: tuple[int, ...], b: tuple[int, ...], clamp: tuple[float, float]) -> str:
    out = call.out.shape
    return call.struct("pexcp_binary_params", {
        "op": OPS[node.op_type], "dims": padded(out), "a_strides": broadcast_strides(a, out),
        "b_strides": broadcast_strides(b, out), "act_min": clamp[0], "act_max": clamp[1],
    })


def _operand_quant(graph: Graph, op: Op, name: str) -> tuple[float, int]:
    """(scale, zero point) of an int8 operand: an activation's, or a constant's behind its DequantizeLinear."""
    if name in graph.tensors:
        return tensor_quant(op, name)
    q = graph.quantized.get(name)
    if q is None or q.values.dtype != np.int8 or q.scale.size != 1:
        raise refuse(op, f"its constant {name!r} is not an int8 constant quantized per tensor")
    return float(q.scale.ravel()[0]), int(q.zero_point.ravel()[0])


class BinaryLowering(Lowering):
    op_types = tuple(OPS)
    fuses_clamp = True
    runs_rows = True  # an Add of two activations of its output's shape (OpSpec.rows)
    files = {"f32": ("binary",), "s8": ("add_s8",)}

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        if op.op_type in ("Min", "Max", "PRelu") and op_dtype(graph, op) == "s8":
            return ("prelu_s8",) if op.op_type == "PRelu" else ("minmax_s8",)
        return super().runtime(graph, op)

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        names = op.inputs[:2]
        if len(op.inputs) != 2 or not all(op.inputs):
            raise refuse(op, f"{len(op.inputs)} operands: only two are supported")
        if not any(n in graph.tensors for n in names):
            raise refuse(op, "needs an activation operand")
        check_broadcast(op, [_shape(graph, n) for n in names], graph.tensors[op.outputs[0]].shape)

    def prepare_s8(self, graph: Graph, op: Op) -> quant.AddQuant | dict[str, object]:
        a, b = op.inputs[:2]
        out = graph.tensors[op.outputs[0]]
        if op.op_type in ("Min", "Max", "PRelu"):
            return self._prepare_s8_compare(graph, op)
        if op.op_type != "Add" or a not in graph.tensors or b not in graph.tensors:
            raise refuse(op, "int8 binary ops: Add of two activations, Min, Max, PRelu")
        if graph.tensors[a].shape != out.shape or graph.tensors[b].shape != out.shape:
            raise refuse(op, "int8 Add needs operands of the output's shape (no broadcasting)")
        return quant.add_quant(
            *tensor_quant(op, a), *tensor_quant(op, b), *output_quant(op), activation_limits(graph, op, op.epilogue)
        )

    def _prepare_s8_compare(self, graph: Graph, op: Op) -> dict[str, object]:
        """MAXIMUM / MINIMUM (one scale and zero point everywhere) and PRELU (TFLite Micro's two
        multipliers, s_in / s_out and s_in * s_alpha / s_out in double)."""
        self.prepare_f32(graph, op)
        if op.epilogue:
            raise refuse(op, "an int8 Min, Max or PRelu has no fused activation")
        out = graph.tensors[op.outputs[0]].shape
        a, b = op.inputs[:2]
        shape = {"dims": padded(out), "a_strides": broadcast_strides(_shape(graph, a), out),
                 "b_strides": broadcast_strides(_shape(graph, b), out)}
        (s_a, z_a), (s_b, z_b), (s_out, z_out) = _operand_quant(graph, op, a), _operand_quant(graph, op, b), output_quant(op)
        if op.op_type != "PRelu":
            if not (s_a == s_b == s_out and z_a == z_b == z_out):
                raise refuse(op, "int8 Min/Max need one scale and zero point on operands and output")
            return shape
        if a not in graph.tensors:
            raise refuse(op, "int8 PRelu needs an activation input")
        m_pos, e_pos = quant.quantize_multiplier(float(np.float64(s_a) / np.float64(s_out)))
        m_neg, e_neg = quant.quantize_multiplier(float(np.float64(s_a) * np.float64(s_b) / np.float64(s_out)))
        return {"shape": shape, "in_offset": -z_a, "alpha_offset": -z_b, "out_offset": z_out,
                "mult_pos": m_pos, "shift_pos": e_pos, "mult_neg": m_neg, "shift_neg": e_neg}

    def emit_s8(self, call: Call) -> list[str]:
        if call.op.op_type in ("Min", "Max", "PRelu"):
            c0, c1 = call.out_range
            x, y = (self._operand(call, n) for n in call.op.inputs[:2])
            if call.op.op_type == "PRelu":
                params = call.struct("pexcp_prelu_s8_params", call.data)
                return [f"pexcp_prelu_s8(&{params}, {x}, {y}, {call.output()}, {c0}, {c1});"]
            params = call.struct("pexcp_broadcast_s8_params", call.data)
            kernel = "pexcp_maximum_s8" if call.op.op_type == "Max" else "pexcp_minimum_s8"
            return [f"{kernel}(&{params}, {x}, {y}, {call.output()}, {c0}, {c1});"]
        q = call.data
        params = call.struct("pexcp_add_s8_params", {
            "in1_offset": q.in1_offset, "in2_offset": q.in2_offset, "out_offset": q.out_offset,
            "in1_mult": q.in1_mult, "in2_mult": q.in2_mult, "out_mult": q.out_mult,
            "in1_shift": q.in1_shift, "in2_shift": q.in2_shift, "out_shift": q.out_shift,
            "left_shift": q.left_shift, "act_min": q.act_min, "act_max": q.act_max,
        })
        a, b = call.op.inputs[:2]
        if call.band is not None:
            n = call.band.rows * call.out.shape[3]
            return self._per_channel(call, f"pexcp_add_s8(&{params}, {{a}}, {{b}}, {{out}}, {n});")
        return [f"pexcp_add_s8(&{params}, {call.input(a)}, {call.input(b)}, {call.output()}, {call.out_count()});"]

    def _per_channel(self, call: Call, line: str) -> list[str]:
        """A band of rows of a same-shape Add: one call per channel over its rows, each operand at its own
        channel stride (a window's or a whole tensor's)."""
        band, (a, b) = call.band, call.op.inputs[:2]
        (pa, sa), (pb, sb) = band.inputs[a], band.inputs[b]
        at = lambda p, s: f"{p} + (long)c * {s}"  # noqa: E731
        text = line.format(a=at(pa, sa), b=at(pb, sb), out=at(band.dst, band.out_cs))
        return [f"for (int c = 0; c < {call.out.shape[1]}; ++c) /* a band of rows */", f"    {text}"]

    def _operand(self, call: Call, name: str) -> Ptr:
        """Pointer to the operand at the first output channel of the call (broadcast operands as they are)."""
        shape, out = _shape(call.graph, name), call.out.shape
        stride_c = broadcast_strides(shape, out)[1] if len(out) > 1 else 0
        c0, c1 = call.out_range
        if name in call.graph.constants:
            if call.dtype == "s8":
                return call.const(name, call.graph.quantized[name].values, tag="int8", dtype="int8").shifted(c0 * stride_c)
            return call.const(name).shifted(c0 * stride_c)
        if call.whole_output or stride_c == 0:
            return call.input(name, sliced=False)
        if len(shape) != len(out):
            raise refuse(call.op, f"a channel slice of the lower-rank operand {name!r} is not supported")
        return call.arena.pointer(call.step.index, name, c0, c1)

    def emit_f32(self, call: Call) -> list[str]:
        a, b = call.op.inputs[:2]
        if call.band is not None:
            plane = (1, 1, call.band.rows, call.out.shape[3])
            params = call.struct("pexcp_binary_params", {
                "op": OPS[call.op.op_type], "dims": padded(plane), "a_strides": broadcast_strides(plane, plane),
                "b_strides": broadcast_strides(plane, plane), "act_min": call.clamp[0], "act_max": call.clamp[1],
            })
            return self._per_channel(call, f"pexcp_binary(&{params}, {{a}}, {{b}}, {{out}}, 0, 1);")
        params = _params(call, call.op, _shape(call.graph, a), _shape(call.graph, b), call.clamp)
        c0, c1 = call.out_range
        x, y = self._operand(call, a), self._operand(call, b)
        return [f"pexcp_binary(&{params}, {x}, {y}, {call.output()}, {c0}, {c1});"]

    def epilogue(self, call: Call, node: Node, src: Ptr) -> str:
        """The epilogue `x op constant` on the channels the call completed, reading x at `src`."""
        params = _params(call, node, call.out.shape, _shape(call.graph, node.inputs[1]), NO_CLAMP)
        c0, c1 = call.out_range
        return f"pexcp_binary(&{params}, {src}, {self._operand(call, node.inputs[1])}, {call.output()}, {c0}, {c1});"
