"""The new int8 kernels in channel slices: QDQ models whose channel groups contain them (nearest and
bilinear Resize, Max with a constant, PRelu, ReduceMax, Slice, Gather between a head conv and an
accumulating tail conv; an int8 TRANSPOSE_CONV accumulating as a tail) give the same bits in split plans
as in unsliced ones (whose kernels test_backend_int8_ops checks against TFLite Micro)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from backend_helpers import needs_cc
from onnx_builders import GraphBuilder, save
from plan_helpers import split_plan
from test_backend_int8_ops import _int8_const
from test_backend_int8_slices import assert_sliced_equals_unsliced

C = 6
c = lambda b, *v: b.const(np.array(v, np.int64))  # noqa: E731
rng = np.random.default_rng(5)
MEMBERS: dict[str, Callable[[GraphBuilder, str], str]] = {
    "resize_nearest": lambda b, y: b.store(
        b.node("Resize", [b.float_in(y), "", "", c(b, 1, C, 9, 6)], mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor"), (1, C, 9, 6)),
    "resize_bilinear": lambda b, y: b.store(
        b.node("Resize", [b.float_in(y), "", "", c(b, 1, C, 8, 7)], mode="linear",
               coordinate_transformation_mode="half_pixel"), (1, C, 8, 7)),
    "max": lambda b, y: b.store(b.node("Max", [b.float_in(y), _int8_const(b, rng.integers(-128, 128, (C, 1, 1)), 0.05, 0)]),
                                (1, C, 5, 4)),
    "prelu": lambda b, y: b.store(b.node("PRelu", [b.float_in(y), _int8_const(b, rng.integers(-128, 128, (C, 1, 1)), 0.01, 2)]),
                                  (1, C, 5, 4)),
    "reduce_max": lambda b, y: b.store(b.node("ReduceMax", [b.float_in(y)], axes=[3]), (1, C, 5, 1)),
    "slice_gather": lambda b, y: b.store(
        b.node("Gather", [b.float_in(b.store(b.node("Slice", [b.float_in(y), c(b, -1), c(b, -(2**62)), c(b, 2), c(b, -2)]),
                                              (1, C, 3, 4))), c(b, 3, 0, 0)], axis=3), (1, C, 3, 3)),
}


@needs_cc
@pytest.mark.parametrize("kind", sorted(MEMBERS))
def test_int8_new_op_as_a_group_member(tmp_path: Path, kind: str) -> None:
    b = GraphBuilder(f"int8_{kind}", qdq=True, seed=5)
    y = b.conv(b.input((1, 3, 5, 4)), C, kernel=1)
    b.output(b.conv(MEMBERS[kind](b, y), 4, kernel=1))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: g.head and g.tail, 4)
    assert any(s.slice is not None and s.kernel not in ("Conv",) for s in plan.steps)
    assert_sliced_equals_unsliced(path, graph, plan, tmp_path)


@needs_cc
@pytest.mark.parametrize("act", [False, True])
def test_int8_transpose_conv_tail_accumulates(tmp_path: Path, act: bool) -> None:
    """An int8 TRANSPOSE_CONV as a group's tail: int32 partial sums over input-channel slices, requantized
    by its last step, or (with a fused ReLU) by a finishing step over the accumulator."""
    b = GraphBuilder("int8_convt_tail", qdq=True, seed=6)
    y = b.conv(b.input((1, 3, 4, 5)), C, kernel=1, act="relu")
    weights = rng.integers(-127, 128, size=(C, 4, 3, 3))
    s_w = rng.uniform(0.002, 0.01, 4).astype(np.float32)
    wq = b.node("DequantizeLinear", [b.const(weights.astype(np.int8)), b.const(s_w), b.const(np.zeros(4, np.int8))], axis=1)
    z = b.node("ConvTranspose", [b.float_in(y), wq], strides=[2, 2], pads=[1, 1, 0, 0])
    b.output(b.store(b.node("Relu", [z]) if act else z, (1, 4, 8, 10)))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: g.tail and g.members[-1].op_type == "ConvTranspose", 4)
    assert any(s.accumulate and s.kernel == "ConvTranspose" for s in plan.steps)
    assert_sliced_equals_unsliced(path, graph, plan, tmp_path)
