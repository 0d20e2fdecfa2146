"""Shape arithmetic around Reshape (as PyTorch and TF exporters write it) folds away at import, so the
model plans and compiles like one with constant Reshape targets and matches onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from backend_helpers import Net, check_net, needs_cc
from pexcp.importer import load_graph


def _flatten_by_shape(net: Net, x: str) -> str:
    """torch.flatten(x, 1) as exported: Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape."""
    shape = net.op("Shape", [x])
    batch = net.op("Gather", [shape, net.const(np.array(0))], axis=0)
    batch = net.op("Unsqueeze", [batch, net.const(np.array([0]))])
    target = net.op("Concat", [batch, net.const(np.array([-1]))], axis=0)
    return net.op("Reshape", [x, target])


def shape_arithmetic_net() -> Net:
    net = Net("shape_arith")
    x = net.op("Conv", [net.input(1, 3, 6, 6), net.weight(8, 3, 3, 3)], pads=[1, 1, 1, 1])
    x = net.op("Relu", [x])
    # a second branch: Reshape to Shape(x)[0:2] ++ [36] via Slice, and a bias from ConstantOfShape(Shape(...))
    dims = net.op("Slice", [net.op("Shape", [x]), net.const(np.array([0])), net.const(np.array([2]))])
    spatial = net.op("Range", [net.const(np.array(0)), net.const(np.array(1)), net.const(np.array(1))])
    spatial = net.op("Mul", [net.op("Add", [spatial, net.const(np.array(36))]), net.const(np.array(1))])
    y = net.op("Reshape", [x, net.op("Concat", [dims, spatial], axis=0)])
    half = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.5])
    bias = net.op("ConstantOfShape", [net.op("Shape", [y])], value=half)
    y = net.op("Add", [y, bias])
    flat = _flatten_by_shape(net, net.op("Relu", [y]))
    net.out(net.op("Gemm", [flat, net.weight(5, 288), net.weight(5)], transB=1))
    return net


def test_shape_arithmetic_folds_into_constant_reshape_targets(tmp_path: Path) -> None:
    net = shape_arithmetic_net()
    graph = load_graph(net.save(tmp_path))
    kinds = [op.op_type for op in graph.ops]
    for folded in ("Shape", "Gather", "Slice", "Concat", "Range", "ConstantOfShape", "Unsqueeze"):
        assert folded not in kinds, f"{folded} left in {kinds}"
    assert all(t.dtype == "float32" for t in graph.tensors.values())
    names = {n.name for n in onnx.load(str(tmp_path / "shape_arith.onnx")).graph.node}
    executed = {n for op in graph.ops for n in op.nodes}
    assert executed | set(graph.constant_nodes) == names  # every node runs or is folded


@needs_cc
def test_shape_arithmetic_model_compiles_and_matches_onnxruntime(tmp_path: Path) -> None:
    check_net(shape_arithmetic_net(), tmp_path, method="cpsat")
