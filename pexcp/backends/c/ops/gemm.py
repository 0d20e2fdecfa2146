"""Gemm and MatMul -> pexcp_gemm (float32; MatMul with batch axes on B, a 1-D operand, or batch axes that
broadcast -> pexcp_matmul) / pexcp_fully_connected_s8 (int8 QDQ: TFLite's FULLY_CONNECTED,
its bias the constant Add epilogue of a MatMul or the C input of a Gemm). Constant B is emitted transposed
(N x K) so the kernel reads both operands of each dot product contiguously; beta * C is folded into one bias
array at compile time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pexcp.backends.c import quant
from pexcp.backends.c.memory import Ptr
from pexcp.backends.c.cfmt import c_float
from pexcp.backends.c.ops.base import NO_CLAMP, Call, Lowering, clamp_of, mode_name, optional_constant, refuse
from pexcp.backends.c.ops.qdq import (
    activation_limits, output_and_accumulator, output_quant, quantized, requant_acc, requant_arrays, tensor_quant,
)
from pexcp.ir import Graph, Op, Scratch


@dataclass
class _Dims:
    m: int
    n: int
    k: int
    trans_a: bool
    trans_b: bool  # B as given is N x K


@dataclass
class _Batched:
    """A MatMul with batch axes: pexcp_matmul's fields."""

    fields: dict[str, object]


def batched_dims(op: Op, a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> dict[str, object]:
    """numpy matmul: 1-D operands get a unit axis, batch axes broadcast (at most two of them)."""
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    m, k, n = a2[-2], a2[-1], b2[-1]
    if b2[-2] != k:
        raise refuse(op, f"shapes {a} x {b} do not multiply")
    try:
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    except ValueError:
        raise refuse(op, f"batch axes of {a} x {b} do not broadcast") from None
    if len(batch) > 2:
        raise refuse(op, f"{len(batch)} batch axes: at most two are supported")
    if int(np.prod(out)) != int(np.prod(batch)) * m * n:
        raise refuse(op, f"output {out} is not the product of {a} x {b}")

    def strides(dims: tuple[int, ...], matrix: int) -> list[int]:
        aligned = (1,) * (len(batch) - len(dims)) + dims
        result, step = [], matrix
        for d, o in reversed(list(zip(aligned, batch))):
            result.append(0 if d == 1 and o != 1 else step)
            step *= d
        return [0] * (2 - len(batch)) + result[::-1]

    return {
        "batch": [1] * (2 - len(batch)) + list(batch), "a_strides": strides(a2[:-2], m * k),
        "b_strides": strides(b2[:-2], k * n), "m": m, "n": n, "k": k,
    }


@dataclass
class FullyConnectedS8:
    """An int8 fully connected layer's Prepare (TFLite Micro's CalculateOpDataFullyConnected)."""

    fields: dict[str, int]
    weights: np.ndarray  # N x K int8
    bias: np.ndarray | None  # N int32
    bias_name: str
    q: quant.ConvQuant
    scratch: Scratch  # what the Cortex-M4 DSP path works in (quant.fully_connected_scratch_bytes)


class GemmLowering(Lowering):
    op_types = ("Gemm", "MatMul")
    fuses_clamp = True
    files = {"f32": ("gemm",), "s8": ("fully_connected_s8",)}
    has_scratch = True

    def _shapes(self, graph: Graph, op: Op) -> tuple[tuple[int, ...], tuple[int, ...]]:
        a, b = op.inputs[:2]
        return tuple(
            graph.constants[n].shape if n in graph.constants else graph.tensors[n].shape for n in (a, b)
        )  # type: ignore[return-value]

    def _batched(self, graph: Graph, op: Op) -> bool:
        """A MatMul pexcp_gemm cannot run: B has batch axes or is 1-D, or A is 1-D."""
        a, b = self._shapes(graph, op)
        return op.op_type == "MatMul" and (len(a) < 2 or len(b) != 2)

    def _dims(self, graph: Graph, op: Op) -> _Dims:
        a, b = self._shapes(graph, op)
        if op.op_type == "MatMul":
            return _Dims(int(np.prod(a[:-1])), b[1], a[-1], False, False)
        if len(a) != 2 or len(b) != 2:
            raise refuse(op, "Gemm operands must be 2-D")
        trans_a, trans_b = bool(op.attrs.get("transA", 0)), bool(op.attrs.get("transB", 0))
        m, k = (a[1], a[0]) if trans_a else a
        return _Dims(m, b[0] if trans_b else b[1], k, trans_a, trans_b)

    def check(self, graph: Graph, op: Op) -> _Dims:
        if op.inputs[0] not in graph.tensors or self._batched(graph, op):
            raise refuse(op, "only products of an activation A (..., M, K) and a matrix B (K, N) are supported")
        if op.op_type == "Gemm":
            optional_constant(graph, op, 2)
        return self._dims(graph, op)

    def prepare_f32(self, graph: Graph, op: Op) -> _Dims | _Batched:
        if op.op_type == "MatMul" and (op.inputs[0] not in graph.tensors or self._batched(graph, op)):
            a, b = self._shapes(graph, op)
            if op.inputs[0] not in graph.tensors and op.inputs[1] not in graph.tensors:
                raise refuse(op, "needs an activation operand")
            return _Batched(batched_dims(op, a, b, graph.tensors[op.outputs[0]].shape))
        return self.check(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> FullyConnectedS8:
        d = self.check(graph, op)
        if d.trans_a or op.inputs[1] not in graph.constants:
            raise refuse(op, "int8 products need an untransposed activation A and constant weights B")
        if op.op_type == "Gemm" and (op.attrs.get("alpha", 1.0) != 1.0 or op.attrs.get("beta", 1.0) != 1.0):
            raise refuse(op, "int8 Gemm needs alpha = beta = 1")
        s_in, zp_in = tensor_quant(op, op.inputs[0])
        s_out, zp_out = output_quant(op)
        w = quantized(graph, op, op.inputs[1], "weight", "int8")
        per_channel = w.scale.size > 1
        if per_channel and w.axis != (0 if d.trans_b else 1):
            raise refuse(op, f"its weights are quantized along axis {w.axis}, not per output feature")
        weights = w.values if d.trans_b else w.values.T  # TFLite's N x K
        epilogue = list(op.epilogue)
        bias_name = op.inputs[2] if op.op_type == "Gemm" and len(op.inputs) > 2 else ""
        if op.op_type == "MatMul" and epilogue and epilogue[0].op_type == "Add":  # the bias of TFLite's FC
            bias_name = next(i for i in epilogue.pop(0).inputs if i in graph.constants)
        bias = None
        if bias_name:
            bias = quantized(graph, op, bias_name, "bias", "int32").values.reshape(-1)
            if bias.size != d.n:
                raise refuse(op, f"its bias has {bias.size} values for {d.n} outputs")
        q = quant.fully_connected_quant(s_in, zp_in, w.scale, s_out, zp_out, d.n, activation_limits(graph, op, epilogue))
        fields = {
            "m": d.m, "n": d.n, "k": d.k, "in_offset": q.in_offset, "out_offset": q.out_offset,
            "act_min": q.act_min, "act_max": q.act_max,
        }
        sliced = tuple(quant.fully_connected_scratch_bytes(k) for k in range(1, d.k + 1))
        scratch = Scratch(quant.fully_connected_scratch_bytes(d.k), sliced)
        return FullyConnectedS8(fields, np.ascontiguousarray(weights), bias, bias_name, q, scratch)

    def emit_s8(self, call: Call) -> list[str]:
        op, d = call.op, call.data
        params = call.struct("pexcp_fc_s8_params", d.fields)
        w = call.const(op.inputs[1], d.weights, tag="int8, as N x K", dtype="int8")
        bias = call.const(d.bias_name, d.bias, tag="int32", dtype="int32") if d.bias is not None else "0"
        n0, n1 = call.out_range if len(call.out.shape) == 2 else (0, d.fields["n"])
        k0, k1 = call.in_range or (0, d.fields["k"])
        return [
            f"pexcp_fully_connected_s8(&{params}, {call.input(op.inputs[0])}, {output_and_accumulator(call)}, {w}, "
            f"{bias}, {requant_arrays(call, d.q)}, {n0}, {n1}, {k0}, {k1}, {mode_name(call.mode)}, {call.scratch(d.scratch.bytes(k1 - k0))});"
        ]

    def finish(self, call: Call, acc: Ptr) -> list[str]:
        return requant_acc(call, acc, call.data.q)

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        batched = op.op_type == "MatMul" and (op.inputs[0] not in graph.tensors or self._batched(graph, op))
        if batched:  # a fused clamp runs as its own pass
            return ("matmul", "clip") if op.epilogue and clamp_of(graph, op.epilogue[0]) else ("matmul",)
        return super().runtime(graph, op)

    def _single_row(self, graph: Graph, op: Op) -> bool:
        if op.op_type == "MatMul" and (op.inputs[0] not in graph.tensors or self._batched(graph, op)):
            return False
        d = self._dims(graph, op)
        return d.m == 1 and not d.trans_a and len(graph.tensors[op.outputs[0]].shape) == 2

    def produces_slices(self, graph: Graph, op: Op) -> bool:
        return self._single_row(graph, op)

    def accumulates(self, graph: Graph, op: Op) -> bool:
        return self._single_row(graph, op) and len(graph.tensors[op.inputs[0]].shape) == 2

    def emit_f32(self, call: Call) -> list[str]:
        op, graph = call.op, call.graph
        d = call.data
        if isinstance(d, _Batched):
            params = call.struct("pexcp_matmul_params", d.fields)
            a, b = (call.const(n) if n in graph.constants else call.input(n, sliced=False) for n in op.inputs[:2])
            lines = [f"pexcp_matmul(&{params}, {a}, {b}, {call.output()});"]
            if call.clamp != NO_CLAMP:
                out = call.output()
                lines.append(f"pexcp_clip({out}, {out}, {call.out_count()}, {c_float(call.clamp[0])}, {c_float(call.clamp[1])});")
            return lines
        b_name = op.inputs[1]
        if b_name in graph.constants:
            b = graph.constants[b_name]
            b_ptr, trans_b = call.const(b_name, b if d.trans_b else b.T, tag="as N x K"), 1
        else:
            b_ptr, trans_b = call.input(b_name, sliced=False), int(d.trans_b)
        bias, bias_rows = self._bias(call, d)
        params = call.struct("pexcp_gemm_params", {
            "m": d.m, "n": d.n, "k": d.k, "trans_a": int(d.trans_a), "trans_b": trans_b, "bias_rows": bias_rows,
            "alpha": float(op.attrs.get("alpha", 1.0)), "act_min": call.clamp[0], "act_max": call.clamp[1],
        })
        n0, n1 = call.out_range if len(call.out.shape) == 2 else (0, d.n)
        k0, k1 = call.in_range or (0, d.k)
        return [
            f"pexcp_gemm(&{params}, {call.input(op.inputs[0])}, {call.output()}, {b_ptr}, {bias}, "
            f"{n0}, {n1}, {k0}, {k1}, {mode_name(call.mode)});"
        ]

    def _bias(self, call: Call, d: _Dims) -> tuple[object, int]:
        op = call.op
        beta = float(op.attrs.get("beta", 1.0))
        if op.op_type != "Gemm" or len(op.inputs) < 3 or not op.inputs[2] or beta == 0.0:
            return "0", 0
        c = call.graph.constants[op.inputs[2]].astype(np.float32)
        rows = c.ndim == 2 and c.shape[0] != 1 and d.m > 1
        full = np.broadcast_to(c, (d.m, d.n)) * np.float32(beta)
        full = full if rows else full[0]
        tag = "" if beta == 1.0 and c.shape == full.shape else f"beta {beta:g} x, as {'M x N' if rows else 'N'}"
        return call.const(op.inputs[2], full, tag=tag), int(rows)
