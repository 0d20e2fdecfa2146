"""Constant folding: any node whose inputs are all constants is evaluated once and becomes a weight.

Shapes are constants too: a Shape or Size node of a tensor whose shape is static is replaced by its value,
so the shape arithmetic exporters write around Reshape (Shape -> Gather/Slice -> Concat -> Reshape,
ConstantOfShape, Range) folds away and the Reshape gets a constant target. Passes repeat until nothing
more folds (a folded shape can make another shape static). ONNX's own shape inference with data
propagation provides the static shapes; onnx's ReferenceEvaluator computes every folded value, so folding
supports every operator the reference runtime does, without a hand-written rule per operator.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

FOLDED_NODES_KEY = "pexcp.folded_nodes"
DEQUANTIZED_KEY = "pexcp.dequantized"  # folded DequantizeLinear nodes: output, input, scale, zero point, axis
_MAX_PASSES = 20


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy where Constant nodes, constant-fed subgraphs and shapes of static tensors are
    initializers.

    The names of the folded nodes are kept in the model's metadata so plans can say they never run, and so
    are the operands of folded DequantizeLinear nodes: int8 kernels need the integers, not the floats.
    """
    model = _copy(model)
    folded: list[str] = []
    dequantized: list[str] = []
    for _ in range(_MAX_PASSES):
        asks_shapes = any(n.op_type in ("Shape", "Size") for n in model.graph.node)
        done = _fold_pass(model, _static_shapes(model) if asks_shapes else {}, dequantized)
        folded += done
        if not done:
            break
    for key, rows in ((FOLDED_NODES_KEY, folded), (DEQUANTIZED_KEY, dequantized)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, "\n".join(rows)
    return model


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Fully known shapes of the model's values, by ONNX shape inference (none if inference fails: the
    strict inference after folding reports why)."""
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return {}
    g = inferred.graph
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    return shapes


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    """The value of a Shape (with its opset-15 start/end) or Size node over a tensor of `shape`."""
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    return np.array(shape, dtype=np.int64)[attrs.get("start", 0) : attrs.get("end", len(shape))]


def _fold_pass(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], dequantized: list[str]) -> list[str]:
    """Fold every node computable from constants and static shapes, in file order; returns their names and
    appends each folded DequantizeLinear's operands to `dequantized`."""
    graph = model.graph
    values: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept, folded = [], []
    for node in graph.node:
        outputs = None
        if node.op_type in ("Shape", "Size") and node.input[0] not in values and node.input[0] in shapes:
            outputs = [_shape_value(node, shapes[node.input[0]])]
        elif all(name == "" or name in values for name in node.input) and node.op_type not in _NEVER_FOLD:
            try:
                outputs = ReferenceEvaluator(node).run(None, {n: values[n] for n in node.input if n})
            except Exception:  # an op the reference runtime cannot evaluate stays a runtime op
                outputs = None
        if outputs is None:
            kept.append(node)
            continue
        for name, value in zip(node.output, outputs):
            values[name] = np.asarray(value)
            graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        folded.append(node.name or node.output[0])
        if node.op_type == "DequantizeLinear":
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            operands = list(node.input) + [""] * (3 - len(node.input))
            dequantized.append("\t".join([node.output[0], *operands[:3], str(axis)]))
    del graph.node[:]
    graph.node.extend(kept)
    # drop now-stale value_info of folded values so shape inference trusts the initializers
    folded_values = set(values) - {i.name for i in graph.input}
    keep_vi = [vi for vi in graph.value_info if vi.name not in folded_values]
    del graph.value_info[:]
    graph.value_info.extend(keep_vi)
    return folded


# random generators must not be frozen into weights
_NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def dequantized_constants(model: onnx.ModelProto) -> list[tuple[str, str, str, str, int]]:
    """(output, integer input, scale, zero point or "", axis) of every folded DequantizeLinear."""
    for entry in model.metadata_props:
        if entry.key == DEQUANTIZED_KEY:
            rows = [line.split("\t") for line in entry.value.split("\n") if line]
            return [(out, src, scale, zp, int(axis)) for out, src, scale, zp, axis in rows]
    return []


def folded_node_names(model: onnx.ModelProto) -> list[str]:
    for entry in model.metadata_props:
        if entry.key == FOLDED_NODES_KEY:
            return [n for n in entry.value.split("\n") if n]
    return []
