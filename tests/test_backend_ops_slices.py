"""The new channel-wise operators as members of channel groups: split plans (built with the planner's own
memory model, checked by the validator) run them on channel slices between a head conv that produces
slices and a tail conv that accumulates them; every plan is compiled and compared with onnxruntime. Also
ConvTranspose as a group's head and tail, and each model planned by every method."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from onnx import TensorProto

from backend_helpers import Net, check_net, compile_and_check, needs_cc
from pexcp.analysis.partial import Group
from pexcp.solvers.registry import METHODS
from plan_helpers import split_plan

C = 6  # channels of the split tensors; width 4 leaves an uneven last slice


def _member(name: str, body: Callable[[Net, str], str], hw: tuple[int, int] = (5, 7), opset: int = 13) -> Net:
    """x -> 1x1 conv (head) -> body -> 1x1 conv (tail) -> y."""
    n = Net(name, opset=opset, seed=3)
    x = n.input(1, 3, *hw)
    y = n.op("Conv", [x, n.weight(C, 3, 1, 1), n.weight(C)])
    y = body(n, y)
    n.out(n.op("Conv", [y, n.weight(4, C, 1, 1), n.weight(4)]))
    return n


c = lambda n, *v: n.const(np.array(v))  # noqa: E731
BODIES: dict[str, Callable[[Net, str], str]] = {
    "math": lambda n, y: n.op("Reciprocal", [n.op("Sqrt", [n.op("Exp", [n.op("Abs", [y])])])]),
    "log": lambda n, y: n.op("Log", [n.op("Add", [n.op("Abs", [n.op("Neg", [y])]), n.const(0.5)])]),
    "minmaxpow": lambda n, y: n.op("Pow", [n.op("Min", [n.op("Max", [y, n.const(-0.5)]), n.const(0.7)]), n.const(2.0)]),
    "prelu": lambda n, y: n.op("PRelu", [y, n.weight(C, 1, 1)]),
    "resize_nearest": lambda n, y: n.op("Resize", [y, n.const(np.zeros(0)), c(n, 1.0, 1, 2, 1.5)], mode="nearest"),
    "resize_linear": lambda n, y: n.op(
        "Resize", [y, n.const(np.zeros(0)), "", c(n, 1, C, 9, 4)], mode="linear", coordinate_transformation_mode="align_corners"
    ),
    "slice": lambda n, y: n.op("Slice", [y, c(n, 1, -1), c(n, 2**62, 0), c(n, 2, 3), c(n, 2, -2)]),
    "gather": lambda n, y: n.op("Gather", [y, c(n, 4, 0, 6, 2)], axis=3),
    "reduce_max": lambda n, y: n.op("ReduceMax", [y], axes=[3]),
    "reduce_sum": lambda n, y: n.op("ReduceSum", [y, c(n, 2)]),
    "reduce_mean": lambda n, y: n.op("ReduceMean", [y], axes=[2, 3]),
    "log_softmax": lambda n, y: n.op("LogSoftmax", [y], axis=-1),
    "softmax": lambda n, y: n.op("Softmax", [y], axis=2),
    "argmax": lambda n, y: n.op("Cast", [n.op("ArgMax", [y], axis=3)], to=TensorProto.FLOAT),
    "cast": lambda n, y: n.op("Cast", [n.op("Cast", [n.op("Mul", [y, n.const(10.0)])], to=TensorProto.INT32)],
                              to=TensorProto.FLOAT),
    "conv_transpose_depthwise": lambda n, y: n.op(
        "ConvTranspose", [y, n.weight(C, 1, 3, 3), n.weight(C)], group=C, strides=[2, 2], pads=[1, 1, 1, 1]
    ),
}


@needs_cc
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_new_op_as_a_channel_group_member(tmp_path: Path, kind: str) -> None:
    path = _member(kind, BODIES[kind]).save(tmp_path)
    graph, plan = split_plan(path, lambda g: g.head and g.tail, 4)
    sliced = {s.kernel for s in plan.steps if s.slice is not None and not s.accumulate}
    core = {op.op_type for op in graph.ops} - {"Conv"}
    assert core <= sliced, f"{core - sliced} not run in slices"
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


@needs_cc
def test_conv_transpose_as_head_and_tail(tmp_path: Path) -> None:
    """A U-Net style up-path: ConvTranspose producing channel slices (head), and another accumulating
    partial sums over input-channel slices (tail), with a ReLU epilogue kept in an accumulator."""
    n = Net("up", seed=4)
    x = n.input(1, 4, 4, 5)
    y = n.op("ConvTranspose", [x, n.weight(4, C, 2, 2), n.weight(C)], strides=[2, 2])
    y = n.op("Relu", [y])
    n.out(n.op("Relu", [n.op("ConvTranspose", [y, n.weight(C, 3, 3, 3), n.weight(3)], strides=[2, 2], pads=[1, 1, 1, 1])]))
    path = n.save(tmp_path)
    pick: Callable[[Group], bool] = lambda g: g.head and g.tail  # noqa: E731
    graph, plan = split_plan(path, pick, 4)
    assert {s.kernel for s in plan.steps if s.accumulate} == {"ConvTranspose"}
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


@needs_cc
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_plans_the_new_ops(tmp_path: Path, method: str) -> None:
    n = _member("all", lambda n, y: BODIES["minmaxpow"](n, BODIES["resize_nearest"](n, BODIES["prelu"](n, y))))
    check_net(n, tmp_path, method=method)
