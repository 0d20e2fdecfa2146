"""int8 kernels of the new operators, bit for bit against TensorFlow Lite Micro: QDQ ONNX models (one
multi-output model per test, compiled once, int8 in and out) against single-operator .tflite models of
the matching builtin run by the `tflite-micro` package on the same int8 inputs. TFLite's spatial ops are
NHWC: their inputs are fed transposed and their outputs transposed back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tflite_oracle as tfl
from backend_helpers import needs_cc
from onnx_builders import GraphBuilder, save
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import build_host, run_host
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions

fb = tfl.fb
SCALE, ZP = 0.05, 0  # GraphBuilder's QDQ parameters, shared by every tensor
RUNS = 4
pytestmark = needs_cc


def _q(shape: tuple[int, ...], data: np.ndarray | None = None) -> tfl.Tensor:
    return tfl.Tensor(tuple(shape), np.int8, SCALE, ZP) if data is None else tfl.Tensor(tuple(shape), data.dtype.type, data=data)


def _compiled(b: GraphBuilder, tmp: Path, inputs: list[np.ndarray], method: str = "reorder") -> list[list[np.ndarray]]:
    """pexcp's outputs of the QDQ model for each input."""
    path = save(b.build(), tmp)
    graph, plan = solve(path, method, SolveOptions(timeout=10))
    emit(graph, plan, tmp / "c", harness=True)
    build_host(tmp / "c")
    shapes = [graph.tensors[t].shape for t in graph.outputs]
    dtypes = [graph.tensors[t].dtype for t in graph.outputs]
    return [run_host(tmp / "c", [x], shapes, f"_{k}", dtypes) for k, x in enumerate(inputs)]


def _inputs(shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(RUNS)]


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _nchw(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def _compare(got: list[list[np.ndarray]], oracles: list, inputs: list[np.ndarray]) -> None:
    for k, x in enumerate(inputs):
        for j, oracle in enumerate(oracles):
            want = oracle(x)
            assert got[k][j].dtype == want.dtype and np.array_equal(got[k][j], want), (
                f"output {j}, input {k}: {got[k][j].ravel()[:8]} != TFLite Micro {want.ravel()[:8]}"
            )


def _strided_slice(x_shape: tuple[int, ...], starts: list[int], ends: list[int], axes: list[int], steps: list[int]):
    """ONNX Slice as TFLite's STRIDED_SLICE: normalized begins, ends and strides (end_mask where a
    backwards slice runs past index 0)."""
    begin, end, stride, mask = [0] * 4, list(x_shape), [1] * 4, 0
    out = list(x_shape)
    for a, s, e, k in zip(axes, starts, ends, steps):
        a %= 4
        first, _, _ = slice(s, e, k).indices(x_shape[a])
        count = len(range(*slice(s, e, k).indices(x_shape[a])))
        begin[a], stride[a], end[a], out[a] = first, k, first + count * k, count
        if end[a] < 0:
            mask |= 1 << a
    consts = [np.array(v, np.int32) for v in (begin, end, stride)]
    model = tfl.OpModel(
        "STRIDED_SLICE", [_q(x_shape)] + [_q((4,), c) for c in consts], [_q(out)],
        fb.BuiltinOptions.StridedSliceOptions, tfl.options("StridedSliceOptionsT", endMask=mask),
    )
    return lambda x: model.run(x)


def test_int8_slice_split_gather(tmp_path: Path) -> None:
    shape = (1, 6, 5, 7)
    b = GraphBuilder("int8_movers", qdq=True)
    x = b.input(shape)
    slices = [
        ([1, 2], [5, 2**62], [1, 3], [2, 1]),
        ([-1, 0], [-(2**62), 5], [2, 1], [-2, 1]),
        ([4], [0], [-1], [-1]),
    ]
    oracles = []
    for starts, ends, axes, steps in slices:
        consts = [b.const(np.array(v, np.int64)) for v in (starts, ends, axes, steps)]
        oracle = _strided_slice(shape, starts, ends, axes, steps)
        out_shape = oracle(np.zeros(shape, np.int8)).shape
        b.output(b.store(b.node("Slice", [b.float_in(x)] + consts), out_shape))
        oracles.append(oracle)
    for idx, axis in (([3, 0, 5], 1), ([6, -7, 2, 2], 3)):
        out_shape = list(shape)
        out_shape[axis] = len(idx)
        b.output(b.store(b.node("Gather", [b.float_in(x), b.const(np.array(idx, np.int64))], axis=axis), out_shape))
        model = tfl.OpModel(
            "GATHER", [_q(shape), _q((len(idx),), np.array(idx, np.int32) % shape[axis])], [_q(out_shape)],
            fb.BuiltinOptions.GatherOptions, tfl.options("GatherOptionsT", axis=axis),
        )
        oracles.append(lambda x, m=model: m.run(x))
    # Split into three equal parts along the channels, each output quantized by its own QuantizeLinear
    parts = [f"part{i}" for i in range(3)]
    b.nodes.append(__import__("onnx").helper.make_node("Split", [b.float_in(x)], parts, axis=1, name="split"))
    split = tfl.OpModel(
        "SPLIT", [_q((), np.array(1, np.int32)), _q(shape)], [_q((1, 2, 5, 7))] * 3,
        fb.BuiltinOptions.SplitOptions, tfl.options("SplitOptionsT", numSplits=3),
    )
    for i, p in enumerate(parts):
        b.output(b.store(p, (1, 2, 5, 7)))
        oracles.append(lambda x, i=i: tfl.Run(split.build(), [x]).output(i))
    inputs = _inputs(shape)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)


def test_int8_depth_to_space_space_to_depth(tmp_path: Path) -> None:
    shape = (1, 8, 3, 4)
    b = GraphBuilder("int8_d2s", qdq=True)
    x = b.input(shape)
    b.output(b.store(b.node("DepthToSpace", [b.float_in(x)], blocksize=2, mode="DCR"), (1, 2, 6, 8)))
    d2s = tfl.OpModel("DEPTH_TO_SPACE", [_q(_nhwc(np.zeros(shape)).shape)], [_q((1, 6, 8, 2))],
                      fb.BuiltinOptions.DepthToSpaceOptions, tfl.options("DepthToSpaceOptionsT", blockSize=2))
    oracles = [lambda x: _nchw(d2s.run(_nhwc(x)))]
    y = GraphBuilder("int8_s2d", qdq=True)
    z = y.input((1, 3, 4, 6))
    y.output(y.store(y.node("SpaceToDepth", [y.float_in(z)], blocksize=2), (1, 12, 2, 3)))
    s2d = tfl.OpModel("SPACE_TO_DEPTH", [_q((1, 4, 6, 3))], [_q((1, 2, 3, 12))],
                      fb.BuiltinOptions.SpaceToDepthOptions, tfl.options("SpaceToDepthOptionsT", blockSize=2))
    inputs = _inputs(shape)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)
    (tmp_path / "s2d").mkdir()
    inputs = _inputs((1, 3, 4, 6))
    _compare(_compiled(y, tmp_path / "s2d", inputs), [lambda x: _nchw(s2d.run(_nhwc(x)))], inputs)


# ONNX nearest resizing as tf2onnx writes TFLite's RESIZE_NEAREST_NEIGHBOR options
NEAREST = {
    (False, False): {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    (False, True): {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
    (True, False): {"coordinate_transformation_mode": "align_corners", "nearest_mode": "round_prefer_ceil"},
}


@pytest.mark.parametrize("align, half", sorted(NEAREST))
def test_int8_resize_nearest(tmp_path: Path, align: bool, half: bool) -> None:
    """Including sizes where TFLite's float32 arithmetic rounds differently from ONNX's (2 -> 41 rows,
    14 -> 2 columns): the int8 kernel follows TFLite."""
    shape = (1, 3, 2, 14)
    b = GraphBuilder("int8_resize", qdq=True)
    x = b.input(shape)
    oracles = []
    for h, w in ((4, 28), (7, 9), (41, 2), (1, 5), (3, 14)):
        sizes = b.const(np.array([1, 3, h, w], np.int64))
        attrs = dict(mode="nearest", **NEAREST[(align, half)])
        b.output(b.store(b.node("Resize", [b.float_in(x), "", "", sizes], **attrs), (1, 3, h, w)))
        model = tfl.OpModel(
            "RESIZE_NEAREST_NEIGHBOR", [_q((1, 2, 14, 3)), _q((2,), np.array([h, w], np.int32))], [_q((1, h, w, 3))],
            fb.BuiltinOptions.ResizeNearestNeighborOptions,
            tfl.options("ResizeNearestNeighborOptionsT", alignCorners=align, halfPixelCenters=half),
        )
        oracles.append(lambda x, m=model: _nchw(m.run(_nhwc(x))))
    inputs = _inputs(shape)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)


def _requant(b: GraphBuilder, y: str, shape: tuple[int, ...], scale: float, zp: int) -> str:
    q = b.node("QuantizeLinear", [y, b.const(np.array(scale, np.float32)), b.const(np.array(zp, np.int8))])
    return b.declare(q, shape)


def _int8_const(b: GraphBuilder, values: np.ndarray, scale: float, zp: int) -> str:
    inputs = [b.const(values.astype(np.int8)), b.const(np.array(scale, np.float32)), b.const(np.array(zp, np.int8))]
    return b.node("DequantizeLinear", inputs, kind="cdequant")


def test_int8_maximum_minimum_prelu(tmp_path: Path) -> None:
    shape = (1, 4, 3, 5)
    rng = np.random.default_rng(1)
    b = GraphBuilder("int8_compare", qdq=True)
    x = b.input(shape)
    row = rng.integers(-128, 128, size=(5,), dtype=np.int8)
    oracles = []
    for kind, tf_op in (("Max", "MAXIMUM"), ("Min", "MINIMUM")):
        b.output(b.store(b.node(kind, [b.float_in(x), _int8_const(b, row, SCALE, ZP)]), shape))
        model = tfl.OpModel(tf_op, [_q(shape), _q((5,), row)], [_q(shape)])
        oracles.append(lambda x, m=model: m.run(x))
    for alpha_scale, alpha_zp, out_scale, out_zp in ((0.01, 3, 0.08, -5), (0.004, -20, 0.03, 10)):
        alpha = rng.integers(-128, 128, size=(4, 1, 1), dtype=np.int8)
        y = b.node("PRelu", [b.float_in(x), _int8_const(b, alpha, alpha_scale, alpha_zp)])
        b.output(_requant(b, y, shape, out_scale, out_zp))
        model = tfl.OpModel(
            "PRELU", [_q((1, 3, 5, 4)), tfl.Tensor((1, 1, 4), np.int8, alpha_scale, alpha_zp, alpha.reshape(1, 1, 4))],
            [tfl.Tensor((1, 3, 5, 4), np.int8, out_scale, out_zp)],
        )
        oracles.append(lambda x, m=model: _nchw(m.run(_nhwc(x))))
    inputs = _inputs(shape, seed=1)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)


def test_int8_reduce_max_and_arg_max(tmp_path: Path) -> None:
    shape = (1, 4, 6, 5)
    b = GraphBuilder("int8_reduce", qdq=True)
    x = b.input(shape)
    oracles = []
    for axes, keep in (([3], 1), ([2, 3], 0), ([1], 1)):
        out_shape = tuple(1 if a in axes else d for a, d in enumerate(shape) if keep or a not in axes)
        b.output(b.store(b.node("ReduceMax", [b.float_in(x)], axes=axes, keepdims=keep), out_shape))
        model = tfl.OpModel(
            "REDUCE_MAX", [_q(shape), _q((len(axes),), np.array(axes, np.int32))], [_q(out_shape)],
            fb.BuiltinOptions.ReducerOptions, tfl.options("ReducerOptionsT", keepDims=bool(keep)),
        )
        oracles.append(lambda x, m=model: m.run(x))
    for kind, axis in (("ArgMax", 1), ("ArgMax", 3), ("ArgMin", 2)):
        out_shape = tuple(d for a, d in enumerate(shape) if a != axis)
        y = b.node(kind, [b.float_in(x)], axis=axis, keepdims=0)
        b.output(b.declare(y, out_shape, __import__("onnx").TensorProto.INT64))
        # TFLite Micro writes int32 indices only; ONNX's are int64
        options = "ArgMaxOptions" if kind == "ArgMax" else "ArgMinOptions"
        model = tfl.OpModel(
            kind.upper().replace("ARG", "ARG_"), [_q(shape), _q((1,), np.array([axis], np.int32))],
            [tfl.Tensor(out_shape, np.int32)], getattr(fb.BuiltinOptions, options),
            tfl.options(f"{options}T", outputType=fb.TensorType.INT32),
        )
        oracles.append(lambda x, m=model: m.run(x).astype(np.int64))
    inputs = _inputs(shape, seed=2)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)


def _dequant(b: GraphBuilder, x: str, scale: float, zp: int) -> str:
    return b.node("DequantizeLinear", [x, b.const(np.array(scale, np.float32)), b.const(np.array(zp, np.int8))])


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_int8_transpose_conv(tmp_path: Path, padding: str) -> None:
    """TRANSPOSE_CONV with per-channel weights, a bias and a fused ReLU, on a nonzero input zero point."""
    rng = np.random.default_rng(3)
    c_in, c_out, h, w, k, s = 3, 4, 4, 5, 3, 2
    s_in, zp_in, s_out, zp_out = 0.04, -3, 0.1, 5
    s_w = rng.uniform(0.002, 0.01, c_out).astype(np.float32)
    weights = rng.integers(-127, 128, size=(c_in, c_out, k, k), dtype=np.int8)
    bias = rng.integers(-2000, 2000, size=c_out).astype(np.int32)
    s_b = (np.float32(s_in) * s_w).astype(np.float32)
    total = max(0, k - s) if padding == "SAME" else 0
    pads = [total // 2, total // 2, total - total // 2, total - total // 2]
    out_h, out_w = (h * s, w * s) if padding == "SAME" else ((h - 1) * s + k, (w - 1) * s + k)
    b = GraphBuilder("int8_convt", qdq=True)
    x = b.input((1, c_in, h, w))
    wq = b.node("DequantizeLinear", [b.const(weights), b.const(s_w), b.const(np.zeros(c_out, np.int8))], axis=1)
    bq = b.node("DequantizeLinear", [b.const(bias), b.const(s_b), b.const(np.zeros(c_out, np.int32))], axis=0)
    y = b.node("ConvTranspose", [_dequant(b, x, s_in, zp_in), wq, bq], strides=[s, s], pads=pads)
    b.output(_requant(b, b.node("Relu", [y]), (1, c_out, out_h, out_w), s_out, zp_out))
    model = tfl.OpModel(
        "TRANSPOSE_CONV",
        [
            tfl.Tensor((4,), np.int32, data=np.array([1, out_h, out_w, c_out], np.int32)),
            tfl.Tensor((c_out, k, k, c_in), np.int8, s_w.tolist(), [0] * c_out, weights.transpose(1, 2, 3, 0)),
            tfl.Tensor((1, h, w, c_in), np.int8, s_in, zp_in),
            tfl.Tensor((c_out,), np.int32, s_b.tolist(), [0] * c_out, bias),
        ],
        [tfl.Tensor((1, out_h, out_w, c_out), np.int8, s_out, zp_out)],
        fb.BuiltinOptions.TransposeConvOptions,
        tfl.options("TransposeConvOptionsT", padding=getattr(fb.Padding, padding), strideW=s, strideH=s,
                    fusedActivationFunction=fb.ActivationFunctionType.RELU),
    )
    inputs = _inputs((1, c_in, h, w), seed=3)
    _compare(_compiled(b, tmp_path, inputs), [lambda x: _nchw(model.run(_nhwc(x)))], inputs)


# ONNX linear resizing as tf2onnx writes TFLite's RESIZE_BILINEAR options
BILINEAR = {(False, False): "asymmetric", (False, True): "half_pixel", (True, False): "align_corners"}


@pytest.mark.parametrize("align, half", sorted(BILINEAR))
def test_int8_resize_bilinear(tmp_path: Path, align: bool, half: bool) -> None:
    shape = (1, 3, 5, 4)
    b = GraphBuilder("int8_bilinear", qdq=True)
    x = b.input(shape)
    oracles = []
    for h, w in ((10, 8), (7, 9), (3, 2), (5, 11), (1, 4)):
        sizes = b.const(np.array([1, 3, h, w], np.int64))
        y = b.node("Resize", [b.float_in(x), "", "", sizes], mode="linear", coordinate_transformation_mode=BILINEAR[(align, half)])
        b.output(b.store(y, (1, 3, h, w)))
        model = tfl.OpModel(
            "RESIZE_BILINEAR", [_q((1, 5, 4, 3)), _q((2,), np.array([h, w], np.int32))], [_q((1, h, w, 3))],
            fb.BuiltinOptions.ResizeBilinearOptions,
            tfl.options("ResizeBilinearOptionsT", alignCorners=align, halfPixelCenters=half),
        )
        oracles.append(lambda x, m=model: _nchw(m.run(_nhwc(x))))
    inputs = _inputs(shape, seed=4)
    _compare(_compiled(b, tmp_path, inputs), oracles, inputs)
