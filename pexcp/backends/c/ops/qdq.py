"""What int8 lowerings read from a QDQ op: the scale and zero point of each int8 tensor it reads or writes
(Op.quant), the integers its constant operands were dequantized from (Graph.quantized), and the real limits
of its fused activation. The arithmetic on them is quant.py's (TFLite Micro's Prepare)."""

from __future__ import annotations

import math

import numpy as np

from pexcp.backends.c import quant
from pexcp.backends.c.memory import Ptr, channel_size
from pexcp.backends.c.ops.base import Call, clamp_of, refuse
from pexcp.ir import Graph, Node, Op, QuantizedConstant

Limits = tuple[float | None, float | None]


def tensor_quant(op: Op, tensor: str) -> tuple[float, int]:
    """(scale, zero point) of an int8 activation the op reads or writes; per-tensor only."""
    q = op.quant.get(tensor)
    if q is None:
        raise refuse(op, f"tensor {tensor!r} has no quantization (not a QDQ group)")
    scale, zp = q
    if np.size(scale) != 1 or np.size(zp) != 1:
        raise refuse(op, f"tensor {tensor!r} is quantized per axis; int8 activations must be per tensor")
    if np.asarray(zp).dtype != np.int8:
        raise refuse(op, f"tensor {tensor!r} is {np.asarray(zp).dtype}; the int8 kernels take int8")
    return float(np.ravel(scale)[0]), int(np.ravel(zp)[0])


def same_quant(op: Op, a: str, b: str) -> bool:
    """Two int8 tensors of an op with the same scale and zero point (bytes move without requantizing)."""
    qa, qb = op.quant.get(a), op.quant.get(b)
    if qa is None or qb is None:
        return qa is None and qb is None
    return all(np.array_equal(x, y) for x, y in zip(qa, qb))


def output_quant(op: Op) -> tuple[float, int]:
    if op.requant is None:
        raise refuse(op, "its output is not quantized by a QuantizeLinear")
    return tensor_quant(op, op.outputs[0])


def quantized(graph: Graph, op: Op, name: str, what: str, dtype: str) -> QuantizedConstant:
    """The integers behind a constant operand (int8 weights, int32 bias), which must be symmetric."""
    q = graph.quantized.get(name)
    if q is None or q.values.dtype != np.dtype(dtype):
        raise refuse(op, f"its {what} is not a {dtype} constant behind a DequantizeLinear")
    if np.any(q.zero_point != 0):
        raise refuse(op, f"its {what} has non-zero zero points (TFLite's int8 kernels need symmetric ones)")
    return q


def activation_limits(graph: Graph, op: Op, nodes: list[Node]) -> Limits:
    """Real limits of the Relu/Clip epilogue nodes a kernel fuses (None: unbounded); anything else is refused."""
    lo, hi = -math.inf, math.inf
    for node in nodes:
        bounds = clamp_of(graph, node)
        if bounds is None:
            raise refuse(op, f"its {node.op_type} epilogue has no int8 kernel")
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return (None if lo == -math.inf else lo, None if hi == math.inf else hi)


def int_array(call: Call, values: np.ndarray | tuple[int, ...], dtype: str, comment: str) -> str:
    """A constant integer array in flash, shared by every call (and op) with the same contents."""
    arr = np.asarray(values).astype(dtype)
    key = f"{dtype}:{arr.shape}:{arr.tobytes().hex()}" if arr.size <= 4096 else f"{dtype}:{comment}"
    return str(call.pools.array(key, arr, comment, dtype))


def requant_arrays(call: Call, q: quant.ConvQuant) -> str:
    """`mult, shift`: the op's per-output-channel requantization arrays in flash."""
    mult = int_array(call, q.mult, "int32", f"{call.op.name}: requantization multipliers")
    shift = int_array(call, q.shift, "int32", f"{call.op.name}: requantization shifts")
    return f"{mult}, {shift}"


def output_and_accumulator(call: Call) -> str:
    """`out, acc` of an accumulating kernel: the int8 output and no accumulator, or, for partial sums into
    the plan's int32 accumulator, that accumulator (`out` then points at its bytes and is never written:
    these calls have no PEXCP_ACT)."""
    out = call.output()
    if out.dtype == "int32":
        return f"{Ptr(out.base, out.offset, 'int8')}, {out}"
    return f"{out}, 0"


def requant_acc(call: Call, acc: Ptr, q: quant.ConvQuant) -> list[str]:
    """The finishing step of an int8 op whose partial sums the plan kept in an int32 accumulator: requantize
    every output channel into the int8 output, which lies over the accumulator's first bytes."""
    out = call.out
    return [
        f"pexcp_requant_acc_s8({acc}, {call.output()}, {channel_size(out)}, {requant_arrays(call, q)}, {q.out_offset}, "
        f"{q.act_min}, {q.act_max}, 0, {out.channels or 1});"
    ]
