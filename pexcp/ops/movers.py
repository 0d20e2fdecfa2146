"""Ops that move data without computing on it, beyond the views: Slice, Split, Gather with constant
indices, Resize / Upsample, DepthToSpace / SpaceToDepth. They take no fused activation (TFLite fuses none
into them). Channel-wise when the channel axis passes through untouched."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, same_channels


def const_ints(graph: Graph, op: Op, index: int) -> list[int] | None:
    """A constant integer input (None when absent or not a constant)."""
    name = op.inputs[index] if index < len(op.inputs) else ""
    return [int(v) for v in graph.constants[name].ravel()] if name in graph.constants else None


class Slice(OpSpec):
    op_types = ("Slice",)
    takes_epilogue = False

    def channelwise(self, graph: Graph, op: Op) -> bool:
        """The channel axis is taken whole and forwards: as many channels out as in, step 1 on axis 1."""
        if not same_channels(graph, op):
            return False
        if "starts" in op.attrs:  # opset < 10: no steps
            return True
        rank = len(graph.tensors[op.inputs[0]].shape)
        starts, axes, steps = const_ints(graph, op, 1), const_ints(graph, op, 3), const_ints(graph, op, 4)
        axes = list(range(len(starts or []))) if axes is None else axes
        return all(k == 1 for a, k in zip(axes, steps or [1] * len(axes)) if a % rank == 1)


class Gather(OpSpec):
    op_types = ("Gather",)
    takes_epilogue = False

    def channelwise(self, graph: Graph, op: Op) -> bool:
        rank = len(graph.tensors[op.inputs[0]].shape)
        return rank >= 3 and int(op.attrs.get("axis", 0)) % rank >= 2


class Resize(OpSpec):
    """Resize and Upsample over the spatial axes (the C backend refuses any other)."""

    op_types = ("Resize", "Upsample")
    takes_epilogue = False

    def channelwise(self, graph: Graph, op: Op) -> bool:
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        return len(x) >= 3 and x[:2] == y[:2]


class Mover(OpSpec):
    """Split (several outputs: runs whole), DepthToSpace and SpaceToDepth (channels mix with pixels)."""

    op_types = ("Split", "DepthToSpace", "SpaceToDepth")
    takes_epilogue = False
