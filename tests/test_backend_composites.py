"""Realistic composite models that use the new operators together, planned with cpsat (order, channel
splits and layout), compiled and compared with onnxruntime on the sanitized host harness: a U-Net-like
decoder (ConvTranspose and bilinear Resize joined to skips by Concat), a keyword-spotting front end (Slice
of frames, ReduceMax over time, LogSoftmax), an SSD-like detection head (per-map class and box convs,
Transpose/Reshape/Concat, Softmax, ArgMax indices), and a super-resolution tail (DepthToSpace, PRelu,
Split, Gather, Pow, Cast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from backend_helpers import Net, check_net, needs_cc

pytestmark = [needs_cc, pytest.mark.slow]


def _conv(n: Net, x: str, c_in: int, c_out: int, k: int = 3, stride: int = 1, act: str | None = "Relu") -> str:
    y = n.op("Conv", [x, n.weight(c_out, c_in, k, k), n.weight(c_out)], strides=[stride, stride], pads=[k // 2] * 4)
    return n.op(act, [y]) if act else y


def test_unet_decoder(tmp_path: Path) -> None:
    n = Net("unet", seed=1)
    x = n.input(1, 3, 16, 16)
    e1 = _conv(n, x, 3, 8)  # 16x16
    e2 = _conv(n, e1, 8, 12, stride=2)  # 8x8
    e3 = _conv(n, e2, 12, 16, stride=2)  # 4x4
    u2 = n.op("Relu", [n.op("ConvTranspose", [e3, n.weight(16, 12, 2, 2), n.weight(12)], strides=[2, 2])])
    d2 = _conv(n, n.op("Concat", [u2, e2], axis=1), 24, 12)
    u1 = n.op("Resize", [d2, n.const(np.zeros(0)), n.const(np.array([1.0, 1, 2, 2]))], mode="linear")
    d1 = _conv(n, n.op("Concat", [_conv(n, u1, 12, 8, k=1), e1], axis=1), 16, 8)
    n.out(n.op("Sigmoid", [_conv(n, d1, 8, 2, k=1, act=None)]))
    plan = check_net(n, tmp_path, method="cpsat")
    assert {s.kernel for s in plan.steps} >= {"ConvTranspose", "Resize", "Concat"}


def test_keyword_spotting_front_end(tmp_path: Path) -> None:
    n = Net("kws_front", seed=2)
    mfcc = n.input(1, 1, 51, 10)
    frames = n.op("Slice", [mfcc, n.const(np.array([1])), n.const(np.array([50])), n.const(np.array([2]))])  # 49 frames
    y = _conv(n, frames, 1, 16, k=3)
    y = n.op("Conv", [y, n.weight(16, 1, 3, 3), n.weight(16)], group=16, pads=[1, 1, 1, 1])
    y = _conv(n, n.op("Relu", [y]), 16, 24, k=1)
    pooled = n.op("ReduceMax", [y], axes=[2], keepdims=0)  # max over time: 1 x 24 x 10
    y = n.op("Gemm", [n.op("Flatten", [pooled]), n.weight(240, 12), n.weight(12)])
    n.out(n.op("LogSoftmax", [y], axis=1))
    plan = check_net(n, tmp_path, method="cpsat")
    assert {s.kernel for s in plan.steps} >= {"Slice", "ReduceMax", "LogSoftmax"}


def test_ssd_like_head(tmp_path: Path) -> None:
    n = Net("ssd_head", seed=3)
    x = n.input(1, 3, 24, 24)
    f1 = _conv(n, _conv(n, x, 3, 8, stride=2), 8, 16, stride=2)  # 6x6
    f2 = _conv(n, f1, 16, 24, stride=2)  # 3x3
    classes, anchors, scores, boxes = 5, 2, [], []
    for f, c, hw in ((f1, 16, 6), (f2, 24, 3)):
        cls = _conv(n, f, c, anchors * classes, act=None)
        box = _conv(n, f, c, anchors * 4, act=None)
        scores.append(n.op("Reshape", [n.op("Transpose", [cls], perm=[0, 2, 3, 1]), n.const(np.array([1, -1, classes]))]))
        boxes.append(n.op("Reshape", [n.op("Transpose", [box], perm=[0, 2, 3, 1]), n.const(np.array([1, -1, 4]))]))
    probs = n.op("Softmax", [n.op("Concat", scores, axis=1)], axis=-1)
    n.out(probs, n.op("Concat", boxes, axis=1))
    n.out(n.op("ArgMax", [probs], axis=-1, keepdims=0), dtype=TensorProto.INT64)
    n.out(n.op("ReduceMax", [probs], axes=[-1], keepdims=0))
    plan = check_net(n, tmp_path, method="cpsat")
    assert {s.kernel for s in plan.steps} >= {"ArgMax", "Softmax", "Concat"}


def test_super_resolution_tail(tmp_path: Path) -> None:
    import onnx

    n = Net("espcn", seed=4)
    x = n.input(1, 1, 12, 12)
    y = n.op("PRelu", [n.op("Conv", [x, n.weight(16, 1, 5, 5), n.weight(16)], pads=[2] * 4), n.weight(16, 1, 1)])
    y = n.op("PRelu", [_conv(n, y, 16, 8, act=None), n.weight(8, 1, 1)])
    up = n.op("DepthToSpace", [_conv(n, y, 8, 4, act=None)], blocksize=2)  # 1 x 1 x 24 x 24
    n.nodes.append(onnx.helper.make_node("Split", [y, n.const(np.array([3, 5]))], ["lo", "hi"], axis=1, name="split"))
    energy = n.op("Pow", [n.op("Gather", ["hi", n.const(np.array([4, 0]))], axis=1), n.const(2.0)])
    n.out(up, n.op("ReduceSum", ["lo", n.const(np.array([1]))]), energy)
    # cast the input, not a computed value: truncating a conv's sum is not stable under summation order
    n.out(n.op("Cast", [n.op("Mul", [x, n.const(255.0)])], to=TensorProto.INT32), dtype=TensorProto.INT32)
    plan = check_net(n, tmp_path, method="cpsat")
    assert {s.kernel for s in plan.steps} >= {"DepthToSpace", "Split", "Gather", "Cast"}
