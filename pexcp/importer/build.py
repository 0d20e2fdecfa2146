"""Group ONNX nodes into ops: QDQ pairs collapse into int8 kernels, activations fuse into their producer.

In an int8 QDQ model (tf2onnx style) `DequantizeLinear -> float op [-> activation] -> QuantizeLinear` is one
int8 kernel: only the int8 tensors between such groups are stored, the float tensors inside are not
buffers. Activations and constant bias adds that directly follow a compute node are applied in the same
kernel call (TFLite fuses them the same way), so their input is not a buffer either.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pexcp.importer.fold import dequantized_constants, folded_node_names
from pexcp.importer.onnx_reader import graph_inputs, subgraph_inputs
from pexcp.ir import Graph, Node, Op, QuantizedConstant, Tensor
from pexcp.ops import spec


def build_graph(model: onnx.ModelProto, name: str, sha256: str) -> Graph:
    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    types = _value_types(model)
    nodes = [_node(n) for n in model.graph.node]
    outputs = [o.name for o in model.graph.output]
    ops = _group(nodes, constants, set(outputs))
    inputs = [i.name for i in graph_inputs(model)]
    stored = list(inputs) + [t for op in ops for t in op.outputs]
    tensors = {t: Tensor(t, *types[t]) for t in dict.fromkeys(stored)}
    return Graph(
        name=name,
        tensors=tensors,
        constants=constants,
        ops=ops,
        inputs=inputs,
        outputs=outputs,
        sha256=sha256,
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1),
        constant_nodes=folded_node_names(model),
        quantized=_quantized(model, constants),
    )


def _quantized(model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> dict[str, QuantizedConstant]:
    """Provenance of float constants folded from DequantizeLinear of integer constants."""
    found = {}
    for out, src, scale, zp, axis in dequantized_constants(model):
        values = constants[src]
        if values.dtype.kind not in "iu":
            continue
        s = constants[scale].astype(np.float32)
        z = constants[zp] if zp else np.zeros(s.shape, dtype=values.dtype)
        per_axis = s.size > 1 or s.ndim == 1
        found[out] = QuantizedConstant(values, s, z, axis % values.ndim if per_axis and values.ndim else None)
    return found


def _value_types(model: onnx.ModelProto) -> dict[str, tuple[tuple[int, ...], str]]:
    types = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shape = tuple(d.dim_value for d in tt.shape.dim)
            types[vi.name] = (shape, np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name)
    return types


def _node(n: onnx.NodeProto) -> Node:
    attrs = {}
    for a in n.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        attrs[a.name] = value
    return Node(n.name, n.op_type, list(n.input), list(n.output), attrs, subgraph_inputs(n))


def _group(nodes: list[Node], constants: dict[str, np.ndarray], graph_outputs: set[str]) -> list[Op]:
    producer = {o: n for n in nodes for o in n.outputs}
    users: dict[str, list[Node]] = {}
    for n in nodes:
        for i in dict.fromkeys(n.inputs):
            users.setdefault(i, []).append(n)

    def only_user(tensor: str, node: Node) -> bool:
        return tensor not in graph_outputs and [u.name for u in users.get(tensor, [])] == [node.name]

    # a DequantizeLinear of an activation is recomputed inside each consumer's kernel
    dequant = {
        n.outputs[0]: n
        for n in nodes
        if n.op_type == "DequantizeLinear" and n.inputs[0] not in constants and n.outputs[0] not in graph_outputs
    }
    ops: list[Op] = []
    owner: dict[str, Op] = {}  # node name -> op that executes it
    last: dict[str, Node] = {}  # op name -> last node of its chain
    closed: set[str] = set()  # ops whose output is already quantized
    for n in nodes:
        if n.op_type == "DequantizeLinear" and n.outputs[0] in dequant:
            continue
        src = producer.get(n.inputs[0]) if n.inputs else None
        host = owner.get(src.name) if src is not None else None
        joinable = (
            host is not None
            and host.name not in closed
            and len(host.outputs) == 1
            and last[host.name] is src
            and src.op_type not in ("QuantizeLinear", "DequantizeLinear")
            and only_user(n.inputs[0], n)
        )
        several = (  # a multi-output op (Split) quantizing one of its outputs: that output becomes int8
            host is not None
            and len(host.outputs) > 1
            and host.op_type != "QuantizeLinear"
            and n.op_type == "QuantizeLinear"
            and last[host.name] is src
            and n.inputs[0] in host.outputs
            and only_user(n.inputs[0], n)
        )
        if several:
            host.outputs[host.outputs.index(n.inputs[0])] = n.outputs[0]
            host.nodes.append(n.name)
            host.quant[n.outputs[0]] = (constants[n.inputs[1]], _zero_point(n, constants))
            host.requant = n.name
            owner[n.name] = host
            continue
        if joinable and n.op_type == "QuantizeLinear":
            host.outputs = [n.outputs[0]]
            host.nodes.append(n.name)
            host.quant[n.outputs[0]] = (constants[n.inputs[1]], _zero_point(n, constants))
            host.requant = n.name
            closed.add(host.name)
            owner[n.name] = host
            continue
        if joinable and spec(host.core.op_type).takes_epilogue and _is_epilogue(n, constants):
            extra = _absorb_dequant(n, dequant, constants, host)
            host.epilogue.append(extra)
            host.nodes.append(n.name)
            host.outputs = list(n.outputs)
            last[host.name] = n
            owner[n.name] = host
            continue
        op = Op(name=n.name, core=n, inputs=[], outputs=list(n.outputs), nodes=[])
        op.core = _absorb_dequant(n, dequant, constants, op)
        op.inputs = list(op.core.inputs)
        op.nodes.append(n.name)
        ops.append(op)
        owner[n.name] = op
        last[op.name] = n
    return ops


def _absorb_dequant(n: Node, dequant: dict[str, Node], constants: dict[str, np.ndarray], op: Op) -> Node:
    """Rewrite n's inputs that come from DequantizeLinear to the int8 tensor, recording its scale/zero point."""
    inputs = []
    for i in n.inputs:
        dq = dequant.get(i)
        if dq is None:
            inputs.append(i)
            continue
        inputs.append(dq.inputs[0])
        op.quant[dq.inputs[0]] = (constants[dq.inputs[1]], _zero_point(dq, constants))
        if dq.name not in op.nodes:
            op.nodes.append(dq.name)
    return Node(n.name, n.op_type, inputs, list(n.outputs), dict(n.attrs), list(n.implicit))


def _zero_point(n: Node, constants: dict[str, np.ndarray]) -> np.ndarray:
    if len(n.inputs) > 2 and n.inputs[2]:
        return constants[n.inputs[2]]
    return np.zeros((), dtype=np.uint8)


def _is_epilogue(n: Node, constants: dict[str, np.ndarray]) -> bool:
    kind = spec(n.op_type).activation
    if kind == "unary":
        return all(i == "" or i in constants for i in n.inputs[1:])  # Clip min/max must be constant
    if kind == "binary" and len(n.inputs) == 2:
        return n.inputs[1] in constants
    return False
