"""Resize (opset 10-19) and Upsample (opset 7-9) over the spatial axes -> pexcp_resize_nearest (elements of
any size) or pexcp_resize_linear (float32). The coordinate transformation and the nearest rounding are
applied at compile time, in float32 as onnxruntime computes them, into per-row and per-column tables: the
kernels only index. Channel-wise (batch and channels are never resized)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pexcp.backends.c.ops.base import Call, Lowering, check_rank, op_dtype, optional_constant, refuse
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
    coords: str = "asymmetric"


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


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def tflite_bilinear(in_len: int, out_len: int, align: bool, half: bool) -> tuple[np.ndarray, ...]:
    """TFLite's ResizeBilinearInteger along one axis: first and second source index and the 10-bit weight of
    the second (scaled position minus 1024 x first; negative before a half-pixel first row)."""
    scale = ((1 << 10) * in_len + out_len // 2) // out_len
    if align and out_len > 1:
        scale = ((1 << 10) * (in_len - 1) + (out_len - 1) // 2) // (out_len - 1)
    lo, hi, frac = [], [], []
    for v in range(out_len):
        pos = v * scale + scale // 2 - (1 << 9) if half else v * scale
        first = max(_c_div(pos, 1 << 10), 0)
        lo.append(first)
        hi.append(min(_c_div(pos + (1 << 10) - 1, 1 << 10), in_len - 1))
        frac.append(pos - (1 << 10) * first)
    return tuple(np.array(t, dtype=np.int32) for t in (lo, hi, frac))


# ONNX nearest modes as tf2onnx writes TFLite's RESIZE_NEAREST_NEIGHBOR (align_corners, half_pixel_centers)
TF_NEAREST = {
    ("asymmetric", "floor"): (False, False),
    ("tf_half_pixel_for_nn", "floor"): (False, True),
    ("align_corners", "round_prefer_ceil"): (True, False),
}


def tflite_nearest(in_len: int, out_len: int, align: bool, half: bool) -> np.ndarray:
    """TFLite's GetNearestNeighbor: it multiplies by the float32 ratio in / out where ONNX divides by
    out / in, which rounds a position that is exactly an integer differently for some sizes (2 -> 41)."""
    scale = F(in_len - 1) / F(out_len - 1) if align and out_len > 1 else F(in_len) / F(out_len)
    pos = ((np.arange(out_len, dtype=F) + F(0.5 if half else 0.0)) * scale).astype(np.float64)
    idx = np.sign(pos) * np.floor(np.abs(pos) + 0.5) if align else np.floor(pos)
    return np.clip(idx, 0, in_len - 1).astype(np.int32)


class ResizeLowering(Lowering):
    op_types = ("Resize", "Upsample")

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
            return ResizeData(False, fields, [nearest(rows, coords, rounding), nearest(cols, coords, rounding)], coords)
        return ResizeData(True, fields, [*linear(rows, coords), *linear(cols, coords)], coords)

    def prepare_f32(self, graph: Graph, op: Op) -> ResizeData:
        return self.check(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ResizeData:
        """Nearest: the float tables move bytes. Linear: TFLite's RESIZE_BILINEAR integer arithmetic from the
        sizes, its align_corners / half_pixel_centers options being the ONNX coordinate modes tf2onnx writes."""
        check_mover(graph, op)
        data = self.check(graph, op)
        f = data.fields
        rounding = op.attrs.get("nearest_mode", "round_prefer_floor")
        if not data.linear:
            tf_mode = TF_NEAREST.get((data.coords, rounding))
            if tf_mode is None or op.op_type == "Upsample" or graph.opset < 11:
                return data  # no TFLite counterpart: ONNX's mapping
            rows, cols = (tflite_nearest(f[f"in_{a}"], f[f"out_{a}"], *tf_mode) for a in "hw")
            return ResizeData(False, f, [rows, cols], data.coords)
        flags = {"asymmetric": (False, False), "half_pixel": (False, True), "align_corners": (True, False)}
        if data.coords == "pytorch_half_pixel" and min(f["out_h"], f["out_w"]) > 1:
            flags["pytorch_half_pixel"] = (False, True)
        if data.coords not in flags:
            raise refuse(op, f"int8 linear resizing in coordinate mode {data.coords!r} has no TFLite kernel")
        align, half = flags[data.coords]
        rows = tflite_bilinear(f["in_h"], f["out_h"], align, half)
        cols = tflite_bilinear(f["in_w"], f["out_w"], align, half)
        return ResizeData(True, f, [*rows, *cols], data.coords)

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        if op.attrs.get("mode", "nearest") not in ("linear", "bilinear"):
            return ("resize_nearest",)
        return ("resize_bilinear_s8",) if op_dtype(graph, op) == "s8" else ("resize_linear",)


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

    def emit_s8(self, call: Call) -> list[str]:
        d, op = call.data, call.op
        if not d.linear:
            return self.emit_f32(call)
        c0, c1 = call.out_range
        planes = math.prod(call.out.shape[:2]) if call.whole_output else c1 - c0
        names = ("first rows", "second rows", "row weights", "first columns", "second columns", "column weights")
        tables = ", ".join(int_array(call, t, "int32", f"{op.name}: {w} (int8)") for t, w in zip(d.tables, names))
        f = d.fields
        return [
            f"pexcp_resize_bilinear_s8({call.input(op.inputs[0])}, {call.output()}, {f['in_h']}, {f['in_w']}, "
            f"{f['out_h']}, {f['out_w']}, {tables}, {planes});"
        ]
