"""What a model costs to run and store: multiply-accumulates and parameters, from its ONNX shapes.

MACs: Conv = output elements x input channels per group x kernel area; Gemm and MatMul = M x K x N. Other
ops (activations, pools, adds) are not counted. Parameters: elements of the weights, biases and
BatchNormalization parameters these layers read (for int8 QDQ weights, the int8/int32 tensors behind their
DequantizeLinear; scales and zero points are not counted), each stored tensor once.
"""

from __future__ import annotations

import numpy as np
import onnx

from pexcp.prune.channels import shapes_of

LAYERS = ("Conv", "Gemm", "MatMul", "BatchNormalization")


def macs(model: onnx.ModelProto) -> int:
    shapes = shapes_of(model)
    total = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            out, w = shapes[n.output[0]], shapes[n.input[1]]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            a, out = shapes[n.input[0]], shapes[n.output[0]]
            total += int(np.prod(out)) * int(a[-1])
    return total


def params(model: onnx.ModelProto) -> int:
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    counted: set[str] = set()
    for n in model.graph.node:
        if n.op_type not in LAYERS:
            continue
        for name in n.input[1:]:
            if name not in inits and name in producer and producer[name].op_type == "DequantizeLinear":
                name = producer[name].input[0]
            if name in inits:
                counted.add(name)
    return sum(int(np.prod(inits[name].dims)) for name in counted)
