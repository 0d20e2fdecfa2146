"""Slice (opset 1 attributes or opset 10+ inputs: axes, steps, negative indices and steps; StridedSlice as
tf2onnx exports it) and Split -> pexcp_slice, a strided gather on elements of any size (when a Slice is
channel-wise, pexcp.ops.movers, a call covers a range of channels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pexcp.backends.c.ops.base import (
    RANK, Call, Lowering, check_rank, contiguous_strides, optional_constant, padded, refuse,
)
from pexcp.backends.c.ops.qdq import same_quant
from pexcp.ir import Graph, Op


@dataclass
class Strided:
    """One output as a strided view of the input: per axis its first index and step."""

    starts: list[int]
    steps: list[int]
    out_shape: tuple[int, ...]

    def fields(self, in_shape: tuple[int, ...], elem: int) -> dict[str, object]:
        strides = contiguous_strides(in_shape)
        return {
            "out_dims": padded(self.out_shape),
            "in_strides": [s * k for s, k in zip(strides, self.steps)] + [0] * (RANK - len(strides)),
            "in_start": sum(s * i for s, i in zip(strides, self.starts)),
            "elem": elem,
        }


def _ints(values: np.ndarray | list[int] | None) -> list[int] | None:
    return None if values is None else [int(v) for v in np.asarray(values).ravel()]


def slice_ranges(graph: Graph, op: Op) -> Strided:
    """Starts and steps of every axis, normalized as ONNX specifies (negative indices count from the end,
    then clamp; a negative step walks backwards)."""
    x = graph.tensors[op.inputs[0]].shape
    if "starts" in op.attrs:  # opset 1-9
        starts, ends = list(op.attrs["starts"]), list(op.attrs["ends"])
        axes, steps = op.attrs.get("axes"), None
    else:
        starts, ends = _ints(optional_constant(graph, op, 1)), _ints(optional_constant(graph, op, 2))
        axes, steps = _ints(optional_constant(graph, op, 3)), _ints(optional_constant(graph, op, 4))
        if starts is None or ends is None:
            raise refuse(op, "its starts and ends must be constants")
    axes = list(range(len(starts))) if axes is None else [a % len(x) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    first, step = [0] * len(x), [1] * len(x)
    out = list(x)
    for a, s, e, k in zip(axes, starts, ends, steps):
        if k == 0:
            raise refuse(op, "a step of 0")
        begin, _, _ = slice(s, e, k).indices(x[a])
        first[a], step[a], out[a] = begin, k, len(range(*slice(s, e, k).indices(x[a])))
    if tuple(out) != graph.tensors[op.outputs[0]].shape:
        raise refuse(op, f"computed output shape {tuple(out)} differs from {graph.tensors[op.outputs[0]].shape}")
    return Strided(first, step, tuple(out))


def check_mover(graph: Graph, op: Op) -> None:
    """An int8 data mover moves bytes: its input and outputs must share one scale and zero point."""
    if op.epilogue:
        raise refuse(op, "a data-movement op takes no fused activation")
    src = graph.activation_inputs(op)[0]
    kinds = {graph.tensors[t].dtype for t in [src] + [o for o in op.outputs if o]}
    if kinds != {"int8"}:
        raise refuse(op, f"an int8 data-movement op must read and write int8 tensors, not {', '.join(sorted(kinds))}")
    if op.quant:
        if not all(same_quant(op, src, out) for out in op.outputs if out):
            raise refuse(op, "an int8 data-movement op cannot requantize (input and output scales differ)")


class SliceLowering(Lowering):
    op_types = ("Slice",)
    files = {"f32": ("slice",), "s8": ("slice",)}

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, object]:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        x = graph.tensors[op.inputs[0]]
        check_rank(op, x.shape)
        return slice_ranges(graph, op).fields(x.shape, x.itemsize)

    def prepare_s8(self, graph: Graph, op: Op) -> dict[str, object]:
        check_mover(graph, op)
        return self.prepare_f32(graph, op)


    def emit_f32(self, call: Call) -> list[str]:
        params = call.struct("pexcp_slice_params", call.data)
        c0, c1 = call.out_range if len(call.out.shape) > 1 else (0, 1)
        return [f"pexcp_slice(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {c0}, {c1});"]

    emit_s8 = emit_f32


class SplitLowering(Lowering):
    op_types = ("Split",)
    files = {"f32": ("slice",), "s8": ("slice",)}

    def prepare_f32(self, graph: Graph, op: Op) -> list[tuple[str, dict[str, object]]]:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        x = graph.tensors[op.inputs[0]]
        check_rank(op, x.shape)
        axis = int(op.attrs.get("axis", 0)) % len(x.shape)
        parts, start = [], 0
        for name in op.outputs:  # sizes from the outputs' static shapes (split attr, input or num_outputs)
            size = graph.tensors[name].shape[axis] if name in graph.tensors else None
            if size is None:
                raise refuse(op, f"output {name!r} has no static shape")
            starts = [0] * len(x.shape)
            starts[axis] = start
            parts.append((name, Strided(starts, [1] * len(x.shape), graph.tensors[name].shape).fields(x.shape, x.itemsize)))
            start += size
        if start != x.shape[axis]:
            raise refuse(op, f"its outputs cover {start} of the {x.shape[axis]} entries along axis {axis}")
        return parts

    def prepare_s8(self, graph: Graph, op: Op) -> list[tuple[str, dict[str, object]]]:
        check_mover(graph, op)
        return self.prepare_f32(graph, op)

    def emit_f32(self, call: Call) -> list[str]:
        src, lines = call.input(call.op.inputs[0]), []
        for name, fields in call.data:
            params = call.struct("pexcp_slice_params", fields)
            dst = call.arena.pointer(call.step.index, name)
            channels = call.tensor(name).channels or 1
            lines.append(f"pexcp_slice(&{params}, {src}, {dst}, 0, {channels});")
        return lines

    emit_s8 = emit_f32
