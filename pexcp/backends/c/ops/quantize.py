"""QuantizeLinear and DequantizeLinear that run as ops of their own: the float boundary of an int8 model with
float I/O (TFLite's QUANTIZE float -> int8 and DEQUANTIZE int8 -> float, pexcp_quantize_s8 /
pexcp_dequantize_s8), and a QuantizeLinear of a dequantized int8 tensor (TFLite's int8 -> int8 QUANTIZE,
pexcp_requantize_s8). Element-wise, so any channel slice works."""

from __future__ import annotations

from dataclasses import dataclass

from pexcp.backends.c import quant
from pexcp.backends.c.cfmt import c_float
from pexcp.backends.c.ops.base import Call, Lowering, refuse
from pexcp.backends.c.ops.qdq import tensor_quant
from pexcp.ir import Graph, Op


@dataclass
class QuantizeS8:
    kind: str  # quantize, dequantize, requantize
    q: quant.FloatBoundary | quant.RequantizeQuant


def _own_quant(graph: Graph, op: Op) -> tuple[float, int]:
    """The node's own (scale, zero point) operands: per tensor, int8."""
    scale = graph.constants.get(op.inputs[1])
    zp = graph.constants.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else None
    if scale is None or scale.size != 1 or (zp is not None and zp.size != 1):
        raise refuse(op, "needs one constant scale and zero point (per-axis quantization of activations is not supported)")
    if zp is None or zp.dtype.name != "int8":
        raise refuse(op, "only int8 quantization has kernels")
    return float(scale.ravel()[0]), int(zp.ravel()[0])


class QuantizeLowering(Lowering):
    op_types = ("QuantizeLinear", "DequantizeLinear")

    def prepare_s8(self, graph: Graph, op: Op) -> QuantizeS8:
        if op.epilogue:
            raise refuse(op, "no fused activation")
        (src,) = graph.activation_inputs(op)
        scale, zp = _own_quant(graph, op)
        src_dtype = graph.tensors[src].dtype
        if op.op_type == "DequantizeLinear":
            return QuantizeS8("dequantize", quant.boundary_quant(scale, zp))
        if src_dtype == "float32":
            return QuantizeS8("quantize", quant.boundary_quant(scale, zp))
        return QuantizeS8("requantize", quant.requantize_quant(*tensor_quant(op, src), scale, zp))

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        return ("quantize_s8",)

    def emit_s8(self, call: Call) -> list[str]:
        d = call.data
        head = f"{call.input(call.op.inputs[0])}, {call.output()}, {call.out_count()}"
        if d.kind == "requantize":
            q = d.q
            return [f"pexcp_requantize_s8({head}, {q.in_offset}, {q.mult}, {q.shift}, {q.out_offset});"]
        return [f"pexcp_{d.kind}_s8({head}, {c_float(d.q.scale)}, {d.q.zero_point});"]
