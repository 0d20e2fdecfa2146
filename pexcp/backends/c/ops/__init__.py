"""The operator lowerings by ONNX op type, and the checks that refuse a graph the C backend cannot run."""

from __future__ import annotations

from typing import Any

from pexcp.backends.c.memory import Ptr
from pexcp.backends.c.ops.base import Call, Lowering, clamp_of, op_dtype, refuse
from pexcp.backends.c.ops.binary import BinaryLowering, check_broadcast
from pexcp.backends.c.ops.cast import CastLowering
from pexcp.backends.c.ops.concat import ConcatLowering
from pexcp.backends.c.ops.conv import ConvLowering
from pexcp.backends.c.ops.conv_transpose import ConvTransposeLowering
from pexcp.backends.c.ops.copy import CopyLowering
from pexcp.backends.c.ops.depth_to_space import DepthToSpaceLowering
from pexcp.backends.c.ops.gather import GatherLowering
from pexcp.backends.c.ops.gemm import GemmLowering
from pexcp.backends.c.ops.pad import PadLowering
from pexcp.backends.c.ops.pool import GlobalAveragePoolLowering, PoolLowering
from pexcp.backends.c.ops.quantize import QuantizeLowering
from pexcp.backends.c.ops.reduce import ArgMaxLowering, ReduceMeanLowering, SoftmaxLowering
from pexcp.backends.c.ops.resize import ResizeLowering
from pexcp.backends.c.ops.slice import SliceLowering, SplitLowering
from pexcp.backends.c.ops.transpose import TransposeLowering
from pexcp.backends.c.ops.unary import UnaryLowering, unary_call, unary_files
from pexcp.errors import BadInputError
from pexcp.ir import Graph, Node, Op

_BINARY = BinaryLowering()
LOWERINGS: dict[str, Lowering] = {
    t: lowering
    for lowering in [
        ConvLowering(), GemmLowering(), PoolLowering(), GlobalAveragePoolLowering(), ReduceMeanLowering(),
        SoftmaxLowering(), ConcatLowering(), PadLowering(), TransposeLowering(), CopyLowering(), UnaryLowering(),
        QuantizeLowering(), _BINARY, SliceLowering(), SplitLowering(), GatherLowering(), ResizeLowering(),
        CastLowering(), ArgMaxLowering(), DepthToSpaceLowering(), ConvTransposeLowering(),
    ]
    for t in lowering.op_types
}


def no_kernel(op_type: str, name: str) -> BadInputError:
    return BadInputError(f"cannot compile: operator {op_type} (node {name!r}) has no C kernel")


def prepare_op(graph: Graph, op: Op) -> Any:
    """The op's per-op data (its lowering's prepare); refuses, with the node's name, an op (or an op of its
    epilogue) no kernel computes."""
    dtype = op_dtype(graph, op)
    if op.view:
        return None
    lowering = LOWERINGS.get(op.op_type)
    if lowering is None:
        raise no_kernel(op.op_type, op.name)
    data = lowering.prepare(graph, op)
    if dtype == "f32":
        out = graph.tensors[op.outputs[0]].shape
        for node in op.epilogue:
            if node.op_type in UnaryLowering.op_types:
                clamp_of(graph, node)
            elif node.op_type in BinaryLowering.op_types:
                check_broadcast(node, [out, graph.constants[node.inputs[1]].shape], out)
            else:
                raise no_kernel(node.op_type, node.name)
    return data


def epilogue_files(graph: Graph, nodes: list[Node]) -> set[str]:
    """The runtime files of the float kernels that apply these epilogue nodes."""
    files: set[str] = set()
    for node in nodes:
        files |= set(_BINARY.files["f32"]) if node.op_type in BinaryLowering.op_types else set(unary_files(graph, node))
    return files


def epilogue_lines(call: Call, nodes: list[Node], src: Ptr) -> list[str]:
    """Epilogue nodes applied to the output region the call completed: the first reads `src` (the region
    itself, or a split op's accumulator), the others work in place on the output."""
    lines = []
    for node in nodes:
        out = call.output()
        if node.op_type in BinaryLowering.op_types:
            lines.append(_BINARY.epilogue(call, node, src))
        else:
            lines.append(unary_call(call.graph, node, src, out, call.out_count()))
        src = out
    return lines


__all__ = ["LOWERINGS", "Call", "epilogue_lines", "epilogue_files", "prepare_op", "refuse"]
