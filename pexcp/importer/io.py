"""`--io int8`: the caller passes the int8 tensors the model's boundary QuantizeLinear would produce and
receives the int8 tensors before its final DequantizeLinear, as TFLite's converter does with an int8
inference type. The boundary ops are removed, so no float input or output is ever stored."""

from __future__ import annotations

import numpy as np

from pexcp.errors import BadInputError
from pexcp.ir import Graph, Op

IO_MODES = ("model", "int8")


def _scalar_quant(graph: Graph, op: Op, what: str) -> tuple[float, int]:
    scale = graph.constants.get(op.inputs[1])
    zp = graph.constants.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else np.zeros((), np.int8)
    if scale is None or zp is None or scale.size != 1 or zp.size != 1:
        raise BadInputError(f"--io int8: {what} {op.name!r} must have one constant scale and zero point")
    if zp.dtype != np.int8:
        raise BadInputError(f"--io int8: {what} {op.name!r} is {zp.dtype}, not int8")
    return float(scale.ravel()[0]), int(zp.ravel()[0])


def int8_io(graph: Graph) -> Graph:
    """Remove the QuantizeLinear of each float model input and the DequantizeLinear of each float model
    output; record their scale and zero point in `graph.io_quant`. Inputs and outputs that are int8
    already stay as they are; any other float input or output is refused."""
    for i, name in enumerate(list(graph.inputs)):
        if graph.tensors[name].dtype == "int8":
            continue
        users = graph.consumers[name]
        quantize = users[0] if len(users) == 1 and users[0].op_type == "QuantizeLinear" else None
        if quantize is None or quantize.epilogue or name in graph.outputs:
            raise BadInputError(
                f"--io int8: model input {name!r} ({graph.tensors[name].dtype}) is not quantized by exactly one "
                "QuantizeLinear"
            )
        out = quantize.outputs[0]
        graph.io_quant[out] = _scalar_quant(graph, quantize, "QuantizeLinear")
        graph.ops.remove(quantize)
        del graph.tensors[name]
        graph.inputs[i] = out
        graph.invalidate()
    for j, name in enumerate(list(graph.outputs)):
        if graph.tensors[name].dtype == "int8":
            continue
        dequantize = graph.producer.get(name)
        if dequantize is None or dequantize.op_type != "DequantizeLinear" or graph.consumers[name]:
            raise BadInputError(
                f"--io int8: model output {name!r} ({graph.tensors[name].dtype}) does not come from a "
                "DequantizeLinear"
            )
        (src,) = graph.activation_inputs(dequantize)
        graph.io_quant[src] = _scalar_quant(graph, dequantize, "DequantizeLinear")
        graph.ops.remove(dequantize)
        del graph.tensors[name]
        graph.outputs[j] = src
        graph.invalidate()
    graph.io = "int8"
    return graph
