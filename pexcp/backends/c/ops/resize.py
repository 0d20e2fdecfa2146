"""Resize (opset 10-19) and Upsample (opset 7-9) over the spatial axes -> pexcp_resize_nearest (elements of
any size) or pexcp_resize_linear (float32). The coordinate transformation and the nearest rounding are
applied at compile time, in float32 as onnxruntime computes them, into per-row and per-column tables: the
kernels only index. Channel-wise (batch and channels are never resized)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pexcp.backends.c.ops.base import Call, Lowering, check_rank, optional_constant, refuse
from pexcp.backends.c.ops.qdq import int_array
from pexcp.backends.c.ops.slice import check_mover
from pexcp.ir import Graph, Op

F = np.float32
COORDINATES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
ROUNDING = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass
class Axis:
    """One spatial axis: for each output index, the input coordinate it maps to."""

    in_len: int
    out_len: int
    scale: np.float32


@dataclass
class ResizeData:
    linear: bool
    fields: dict[str, int]
    tables: list[np.ndarray]  # nearest: rows, columns; linear: y0, y1, fy, x0, x1, fx


def original(axis: Axis, mode: str) -> np.ndarray:
    """Input coordinates of every output index (ONNX's coordinate_transformation_mode, float32)."""
    x = np.arange(axis.out_len, dtype=F)
    s = axis.scale
    if mode == "half_pixel":
        return (x + F(0.5)) / s - F(0.5)
    if mode == "pytorch_half_pixel":
        return (x + F(0.5)) / s - F(0.5) if axis.out_len > 1 else np.zeros_like(x)
    if mode == "align_corners":
        if axis.out_len == 1:
            return np.zeros_like(x)
        return x * F(axis.in_len - 1) / F(axis.out_len - 1)
    if mode == "tf_half_pixel_for_nn":
        return (x + F(0.5)) / s
    return x / s  # asymmetric


def nearest(axis: Axis, mode: str, rounding: str | None) -> np.ndarray:
    """Source index of every output index; `rounding` None is Resize-10 / Upsample's (floor when upsampling,
    ceil when downsampling)."""
    x = original(axis, mode).astype(np.float64)  # each float32 value exactly; rounding below is exact
    if rounding is None:
        idx = np.ceil(x) if axis.scale < 1 else np.trunc(x)
    elif rounding == "round_prefer_floor":
        idx = np.where(x == np.trunc(x) + 0.5, np.trunc(x), np.sign(x) * np.floor(np.abs(x) + 0.5))
    elif rounding == "round_prefer_ceil":
        idx = np.sign(x) * np.floor(np.abs(x) + 0.5)  # std::round: halves away from zero
    elif rounding == "floor":
        idx = np.floor(x)
    else:
        idx = np.ceil(x)
    return np.clip(idx, 0, axis.in_len - 1).astype(np.int32)


def linear(axis: Axis, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and second source index of every output index and the weight of the second (clamped to the
    edges, where both are the edge)."""
    x = np.clip(original(axis, mode), F(0), F(axis.in_len - 1)).astype(F)
    lo = np.minimum(x.astype(np.int32), axis.in_len - 1)
    hi = np.minimum(lo + 1, axis.in_len - 1)
    return lo.astype(np.int32), hi.astype(np.int32), (x - lo.astype(F)).astype(F)


class ResizeLowering(Lowering):
    op_types = ("Resize", "Upsample")
    files = {"f32": ("resize_nearest",), "s8": ("resize_nearest",)}

    def _scales(self, graph: Graph, op: Op, rank: int) -> list[np.float32] | None:
        """Per-axis scales as given, or None when the op gives output sizes instead."""
        if op.op_type == "Upsample":
            given = op.attrs.get("scales")
            values = given if given is not None else optional_constant(graph, op, 1)
        else:
            index = 1 if graph.opset < 11 else 2
            values = optional_constant(graph, op, index)
            if values is not None and np.size(values) == 0:
                values = None
            if values is None and graph.opset >= 11 and optional_constant(graph, op, 3) is None:
                raise refuse(op, "it needs constant scales or sizes")
        if values is None:
            return None
        values = [F(v) for v in np.asarray(values, dtype=F).ravel()]
        axes = op.attrs.get("axes")
        if axes is not None:  # opset 18: scales of the listed axes only
            full = [F(1)] * rank
            for a, v in zip(axes, values):
                full[int(a) % rank] = v
            values = full
        return values

    def check(self, graph: Graph, op: Op) -> ResizeData:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        check_rank(op, x.shape, y.shape)
        if len(x.shape) not in (3, 4):
            raise refuse(op, "only rank-3 (NCL) and rank-4 (NCHW) inputs are supported")
        if x.shape[:2] != y.shape[:2]:
            raise refuse(op, "resizing the batch or channel axis is not supported")
        mode = op.attrs.get("mode", "nearest")
        mode = "linear" if mode == "bilinear" else mode
        if mode not in ("nearest", "linear"):
            raise refuse(op, f"mode {mode!r} is not supported (nearest and linear are)")
        old = op.op_type == "Upsample" or graph.opset < 11
        coords = "asymmetric" if old else op.attrs.get("coordinate_transformation_mode", "half_pixel")
        if coords not in COORDINATES:
            raise refuse(op, f"coordinate_transformation_mode {coords!r} is not supported ({', '.join(COORDINATES)} are)")
        rounding = None if old else op.attrs.get("nearest_mode", "round_prefer_floor")
        if rounding is not None and rounding not in ROUNDING:
            raise refuse(op, f"nearest_mode {rounding!r} is not supported")
        if op.attrs.get("antialias", 0):
            raise refuse(op, "antialias is not supported")
        if op.attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise refuse(op, "keep_aspect_ratio_policy other than stretch is not supported")
        scales = self._scales(graph, op, len(x.shape))
        if scales is not None and (len(scales) != len(x.shape) or scales[0] != 1 or scales[1] != 1):
            raise refuse(op, f"scales {[float(s) for s in scales]}: only the spatial axes may be resized")
        axes = []
        for a in range(2, len(x.shape)):
            scale = scales[a] if scales is not None else F(y.shape[a]) / F(x.shape[a])
            axes.append(Axis(x.shape[a], y.shape[a], F(scale)))
        if len(axes) == 1:  # NCL: one row
            axes.insert(0, Axis(1, 1, F(1)))
        rows, cols = axes
        fields = {"in_h": rows.in_len, "in_w": cols.in_len, "out_h": rows.out_len, "out_w": cols.out_len,
                  "elem": x.itemsize}
        if mode == "nearest":
            return ResizeData(False, fields, [nearest(rows, coords, rounding), nearest(cols, coords, rounding)])
        return ResizeData(True, fields, [*linear(rows, coords), *linear(cols, coords)])

    def prepare_f32(self, graph: Graph, op: Op) -> ResizeData:
        return self.check(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ResizeData:
        check_mover(graph, op)
        data = self.check(graph, op)
        if data.linear:
            raise refuse(op, "int8 linear resizing has no kernel")
        return data

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        mode = op.attrs.get("mode", "nearest")
        return ("resize_linear",) if mode in ("linear", "bilinear") else ("resize_nearest",)

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return True

    def emit_f32(self, call: Call) -> list[str]:
        d, op = call.data, call.op
        params = call.struct("pexcp_resize_params", d.fields)
        c0, c1 = call.out_range
        planes = math.prod(call.out.shape[:2]) if call.whole_output else c1 - c0
        src, dst = call.input(op.inputs[0]), call.output()
        if not d.linear:
            iy, ix = (int_array(call, t, "int32", f"{op.name}: source {w}") for t, w in zip(d.tables, ("rows", "columns")))
            return [f"pexcp_resize_nearest(&{params}, {src}, {dst}, {iy}, {ix}, {planes});"]
        names = ("first rows", "second rows", "row weights", "first columns", "second columns", "column weights")
        tables = [
            int_array(call, t, "int32", f"{op.name}: {w}") if t.dtype == np.int32
            else str(call.pools.array(f"{op.name}|{w}", t, f"{op.name}: {w}"))
            for t, w in zip(d.tables, names)
        ]
        return [f"pexcp_resize_linear(&{params}, {src}, {dst}, {', '.join(tables)}, {planes});"]

    emit_s8 = emit_f32
