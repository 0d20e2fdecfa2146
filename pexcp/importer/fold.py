"""Constant folding: any node whose inputs are all constants is evaluated once and becomes a weight."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

FOLDED_NODES_KEY = "pexcp.folded_nodes"
DEQUANTIZED_KEY = "pexcp.dequantized"  # folded DequantizeLinear nodes: output, input, scale, zero point, axis


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy where Constant nodes and constant-fed subgraphs are initializers.

    The names of the folded nodes are kept in the model's metadata so plans can say they never run, and so
    are the operands of folded DequantizeLinear nodes: int8 kernels need the integers, not the floats.
    """
    model = _copy(model)
    graph = model.graph
    values: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept, folded, dequantized = [], [], []
    for node in graph.node:
        if all(name == "" or name in values for name in node.input) and node.op_type not in _NEVER_FOLD:
            try:
                outputs = ReferenceEvaluator(node).run(None, {n: values[n] for n in node.input if n})
            except Exception:  # an op the reference runtime cannot evaluate stays a runtime op
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
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    # drop now-stale value_info of folded values so shape inference trusts the initializers
    folded_values = set(values) - {i.name for i in graph.input}
    keep_vi = [vi for vi in graph.value_info if vi.name not in folded_values]
    del graph.value_info[:]
    graph.value_info.extend(keep_vi)
    entry = model.metadata_props.add()
    entry.key, entry.value = FOLDED_NODES_KEY, "\n".join(folded)
    entry = model.metadata_props.add()
    entry.key, entry.value = DEQUANTIZED_KEY, "\n".join(dequantized)
    return model


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
