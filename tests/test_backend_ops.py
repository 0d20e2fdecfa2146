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
