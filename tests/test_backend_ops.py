"""The operators beyond the first model set (issue 13), each against onnxruntime: data movement (Slice,
Split, Gather, DepthToSpace, SpaceToDepth), Resize / Upsample in every coordinate and rounding mode, Cast,
the elementwise math functions, Min / Max / Pow, LogSoftmax, reductions, ArgMax, batched MatMul,
ConvTranspose and PRelu. Every model is planned, compiled and run by the sanitized host harness (arena
filled with NaNs, dead tensors poisoned), with outputs compared to onnxruntime (floats within 1e-4 of the
range, integers exactly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from backend_helpers import Net, check_net, needs_cc

BIG = 2**62  # "to the end" as exporters write it


@needs_cc
def test_slice(tmp_path: Path) -> None:
    n = Net("slice")
    x = n.input(1, 6, 7, 9)
    c = lambda *v: n.const(np.array(v))  # noqa: E731
    n.out(n.op("Slice", [x, c(1, 2), c(5, 8), c(2, 3)]))  # axes
    n.out(n.op("Slice", [x, c(0, -1), c(BIG, -BIG), c(1, 3), c(2, -2)]))  # steps, negative step
    n.out(n.op("Slice", [x, c(-2), c(-BIG), c(2), c(-1)]))  # reversed, negative start
    n.out(n.op("Slice", [x, c(0, 1, 0, 0), c(1, 5, 7, 9)]))  # channels, implicit axes
    n.out(n.op("Slice", [x, c(-3), c(BIG), c(-1), c(3)]))  # negative axis
    n.out(n.op("Relu", [n.op("Slice", [x, c(2), c(3), c(1)])]))
    check_net(n, tmp_path)


@needs_cc
def test_slice_opset_9_attributes(tmp_path: Path) -> None:
    n = Net("slice9", opset=9)
    x = n.input(1, 4, 5, 6)
    n.out(n.op("Slice", [x], starts=[1, -3], ends=[3, 100], axes=[1, 3]))
    check_net(n, tmp_path)


@needs_cc
def test_split(tmp_path: Path) -> None:
    n = Net("split")
    x = n.input(1, 6, 5, 4)
    a, b, c = "s0", "s1", "s2"
    n.nodes.append(__import__("onnx").helper.make_node("Split", [x, n.const(np.array([1, 2, 3]))], [a, b, c], axis=1))
    n.out(a, c)
    n.out(n.op("Relu", [b]))
    d, e = "t0", "t1"
    n.nodes.append(__import__("onnx").helper.make_node("Split", [x], [d, e], axis=-1))
    n.out(d, e)
    check_net(n, tmp_path)


@needs_cc
def test_gather_with_constant_indices(tmp_path: Path) -> None:
    n = Net("gather")
    x = n.input(1, 5, 6, 7)
    n.out(n.op("Gather", [x, n.const(np.array([3, -1, 0, 3]))], axis=1))
    n.out(n.op("Gather", [x, n.const(np.array(2))], axis=2))  # scalar index drops the axis
    n.out(n.op("Gather", [x, n.const(np.array([[1, 6], [0, -2]]))], axis=3))  # 2-D indices
    n.out(n.op("Gather", [x, n.const(np.array([0]))], axis=0))
    check_net(n, tmp_path)


@needs_cc
def test_depth_to_space_and_space_to_depth(tmp_path: Path) -> None:
    n = Net("d2s")
    x, y = n.input(1, 8, 3, 5), n.input(1, 3, 6, 4)
    n.out(n.op("DepthToSpace", [x], blocksize=2))  # DCR
    n.out(n.op("DepthToSpace", [x], blocksize=2, mode="CRD"))
    n.out(n.op("SpaceToDepth", [y], blocksize=2))
    n.out(n.op("DepthToSpace", [n.op("SpaceToDepth", [y], blocksize=2)], blocksize=2))
    check_net(n, tmp_path)


COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]
ROUNDS = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


@needs_cc
@pytest.mark.parametrize("coords", COORDS)
def test_resize_nearest_and_linear(tmp_path: Path, coords: str) -> None:
    n = Net(f"resize_{coords}")
    x = n.input(1, 3, 5, 6)
    empty = n.const(np.zeros(0))
    up = n.const(np.array([1, 1, 2, 1.5]))
    down = n.const(np.array([1, 1, 0.6, 0.5]))
    sizes = n.const(np.array([1, 3, 7, 4]))
    for r in ROUNDS:
        n.out(n.op("Resize", [x, empty, up], mode="nearest", coordinate_transformation_mode=coords, nearest_mode=r))
        n.out(n.op("Resize", [x, empty, "", sizes], mode="nearest", coordinate_transformation_mode=coords, nearest_mode=r))
    if coords != "tf_half_pixel_for_nn":  # a nearest-only mode
        n.out(n.op("Resize", [x, empty, up], mode="linear", coordinate_transformation_mode=coords))
        n.out(n.op("Resize", [x, empty, down], mode="linear", coordinate_transformation_mode=coords))
        n.out(n.op("Resize", [x, empty, "", sizes], mode="linear", coordinate_transformation_mode=coords))
    n.out(n.op("Resize", [x, empty, down], mode="nearest", coordinate_transformation_mode=coords))
    check_net(n, tmp_path, runs=1)


@needs_cc
def test_upsample_and_resize_10(tmp_path: Path) -> None:
    n = Net("upsample9", opset=9)
    x = n.input(1, 2, 3, 4)
    n.out(n.op("Upsample", [x, n.const(np.array([1.0, 1, 2, 3]))], mode="nearest"))
    n.out(n.op("Upsample", [x, n.const(np.array([1, 1, 2.5, 1.5]))], mode="linear"))
    check_net(n, tmp_path)
    m = Net("resize10", opset=10)
    y = m.input(1, 2, 3, 4)
    m.out(m.op("Resize", [y, m.const(np.array([1.0, 1, 2, 2]))], mode="nearest"))
    m.out(m.op("Resize", [y, m.const(np.array([1, 1, 0.5, 0.75]))], mode="nearest"))
    m.out(m.op("Resize", [y, m.const(np.array([1, 1, 2, 1.5]))], mode="linear"))
    (tmp_path / "m").mkdir()
    check_net(m, tmp_path / "m")


@needs_cc
def test_cast(tmp_path: Path) -> None:
    n = Net("cast")
    x = n.input(1, 3, 4, 5)
    big = n.op("Mul", [x, n.const(100.0)])
    for to in (TensorProto.INT32, TensorProto.INT64, TensorProto.INT8, TensorProto.BOOL):
        n.out(n.op("Cast", [big], to=to), dtype=to)
    n.out(n.op("Cast", [n.op("Cast", [big], to=TensorProto.INT16)], to=TensorProto.FLOAT))
    n.out(n.op("Cast", [n.op("Cast", [n.op("Relu", [big])], to=TensorProto.UINT8)], to=TensorProto.FLOAT))
    check_net(n, tmp_path)


@needs_cc
def test_math_functions(tmp_path: Path) -> None:
    n = Net("math")
    x = n.input(1, 4, 5, 6)
    pos = n.op("Add", [n.op("Abs", [x]), n.const(0.25)])
    for op in ("Exp", "Abs", "Neg", "Tanh"):
        n.out(n.op(op, [x]))
    for op in ("Log", "Sqrt", "Reciprocal"):
        n.out(n.op(op, [pos]))
    n.out(n.op("Relu", [n.op("Neg", [x])]))  # an activation after them runs in their call
    check_net(n, tmp_path)


@needs_cc
def test_min_max_pow_with_constants(tmp_path: Path) -> None:
    n = Net("minmaxpow")
    x, y = n.input(1, 4, 5, 6), n.input(1, 4, 1, 6)
    n.out(n.op("Min", [x, n.const(0.3)]))
    n.out(n.op("Max", [n.weight(4, 1, 1), x]))  # constant first, per channel
    n.out(n.op("Max", [x, y]))  # two activations, broadcasting
    n.out(n.op("Min", [n.op("Max", [x, n.const(-0.5)]), n.const(0.5)]))
    n.out(n.op("Pow", [x, n.const(2.0)]))
    n.out(n.op("Pow", [n.op("Abs", [x]), n.const(np.array([0.5, 1.5, 3.0, 1.0, 2.0, 0.25]))]))
    n.out(n.op("Pow", [n.const(2.0), x]))
    n.out(n.op("Pow", [x, n.const(np.array(3))]))  # integer exponent
    check_net(n, tmp_path)


@needs_cc
def test_log_softmax_reductions_and_argmax(tmp_path: Path) -> None:
    n = Net("reductions", opset=13)
    x = n.input(1, 4, 5, 6)
    n.out(n.op("LogSoftmax", [x]))
    n.out(n.op("LogSoftmax", [x], axis=1))
    n.out(n.op("ReduceMax", [x], axes=[2, 3]))
    n.out(n.op("ReduceMax", [x], axes=[1], keepdims=0))
    n.out(n.op("ReduceMax", [x]))
    n.out(n.op("ReduceSum", [x, n.const(np.array([-1]))]))
    n.out(n.op("ReduceSum", [x, n.const(np.array([1, 2]))], keepdims=0))
    n.out(n.op("ArgMax", [x], axis=1), dtype=TensorProto.INT64)
    n.out(n.op("ArgMax", [x], axis=-1, keepdims=0), dtype=TensorProto.INT64)
    n.out(n.op("ArgMin", [x], axis=2, select_last_index=1), dtype=TensorProto.INT64)
    check_net(n, tmp_path)
    m = Net("reductions18", opset=18)
    y = m.input(1, 3, 4)
    m.out(m.op("ReduceMax", [y, m.const(np.array([2]))]))
    m.out(m.op("ReduceSum", [y], noop_with_empty_axes=1))
    m.out(m.op("LogSoftmax", [y], axis=1))
    (tmp_path / "m").mkdir()
    check_net(m, tmp_path / "m")


@needs_cc
def test_opset_11_log_softmax(tmp_path: Path) -> None:
    n = Net("logsoftmax11", opset=11)
    n.out(n.op("LogSoftmax", [n.input(1, 3, 4)], axis=1))  # over all axes from 1 on
    check_net(n, tmp_path)


@needs_cc
def test_batched_matmul(tmp_path: Path) -> None:
    n = Net("matmul")
    a, b, c = n.input(2, 3, 4, 5), n.input(2, 3, 5, 6), n.input(3, 5, 2)
    n.out(n.op("MatMul", [a, b]))  # both activations, two batch axes
    n.out(n.op("MatMul", [a, c]))  # batch axes broadcast: (2, 3) with (3,)
    n.out(n.op("MatMul", [a, n.weight(1, 3, 5, 2)]))  # constant B with batch axes
    n.out(n.op("MatMul", [n.weight(4, 2), n.op("Transpose", [c], perm=[0, 2, 1])]))  # constant A
    n.out(n.op("MatMul", [a, n.weight(5)]))  # 1-D B
    n.out(n.op("Relu", [n.op("MatMul", [n.input(5), b])]))  # 1-D A, fused clamp
    check_net(n, tmp_path)


@needs_cc
def test_conv_transpose(tmp_path: Path) -> None:
    n = Net("convtranspose")
    x, line = n.input(1, 4, 5, 6), n.input(1, 4, 7)
    n.out(n.op("ConvTranspose", [x, n.weight(4, 3, 3, 3), n.weight(3)]))
    n.out(n.op("Relu", [n.op("ConvTranspose", [x, n.weight(4, 2, 2, 2), n.weight(2)], strides=[2, 2])]))
    n.out(n.op("ConvTranspose", [x, n.weight(4, 3, 3, 3)], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]))
    n.out(n.op("ConvTranspose", [x, n.weight(4, 2, 3, 2), n.weight(4)], group=2, strides=[2, 3], pads=[1, 0, 0, 1],
               dilations=[2, 1]))
    n.out(n.op("ConvTranspose", [x, n.weight(4, 1, 4, 4)], group=4, strides=[2, 2], pads=[1, 1, 1, 1]))  # depthwise
    n.out(n.op("ConvTranspose", [x, n.weight(4, 2, 3, 3)], strides=[2, 2], output_shape=[10, 12]))
    n.out(n.op("ConvTranspose", [x, n.weight(4, 2, 3, 3)], strides=[2, 2], auto_pad="SAME_UPPER"))
    n.out(n.op("ConvTranspose", [x, n.weight(4, 2, 4, 3)], strides=[3, 2], auto_pad="SAME_LOWER"))
    n.out(n.op("ConvTranspose", [line, n.weight(4, 3, 3), n.weight(3)], strides=[2]))  # 1-D
    check_net(n, tmp_path)


@needs_cc
def test_prelu_per_channel(tmp_path: Path) -> None:
    n = Net("prelu")
    x = n.input(1, 4, 5, 6)
    n.out(n.op("PRelu", [x, n.weight(4, 1, 1)]))
    n.out(n.op("PRelu", [n.op("Conv", [x, n.weight(4, 4, 1, 1)]), n.weight(4, 1, 1)]))  # the conv's epilogue
    n.out(n.op("PRelu", [x, n.const(np.array([0.25]))]))
    check_net(n, tmp_path)


@needs_cc
def test_int64_output_at_a_4_byte_aligned_offset(tmp_path: Path) -> None:
    """Plans align buffers to 4 bytes: an int64 tensor after a 12-byte input sits at offset 12, and the
    kernels, API and harness reach it bytewise (UBSan checks every access)."""
    n = Net("int64_offset")
    x = n.input(1, 3, 1, 1)
    n.out(n.op("ArgMax", [x], axis=1), dtype=TensorProto.INT64)
    n.out(n.op("Cast", [n.op("Cast", [x], to=TensorProto.INT64)], to=TensorProto.FLOAT))
    plan = check_net(n, tmp_path)
    assert any(b.dtype == "int64" and b.offset % 8 for b in plan.buffers)
