"""Pad: its pads (an attribute before opset 11, a constant input since), its fill value and mode."""

from __future__ import annotations

from pexcp.ir import Graph, Op
from pexcp.ops.base import OpSpec, same_channels


def pads_of(graph: Graph, op: Op) -> list[int] | None:
    """Begin pads of every axis, then end pads; None when they are not constants of the model."""
    if "pads" in op.attrs:  # opset < 11
        return [int(v) for v in op.attrs["pads"]]
    if len(op.inputs) < 2 or op.inputs[1] not in graph.constants:
        return None
    return [int(v) for v in graph.constants[op.inputs[1]].ravel()]


def pad_value(graph: Graph, op: Op) -> float:
    if "value" in op.attrs:
        return float(op.attrs["value"])
    if len(op.inputs) > 2 and op.inputs[2]:
        return float(graph.constants[op.inputs[2]].ravel()[0])
    return 0.0


def constant_pad(graph: Graph, op: Op) -> bool:
    """A constant-mode Pad whose pads and value are constants, on every axis (no opset-18 `axes` input)."""
    if op.op_type != "Pad" or op.attrs.get("mode", "constant") != "constant":
        return False
    if len(op.inputs) > 3 and op.inputs[3]:
        return False
    return pads_of(graph, op) is not None and all(i in graph.constants for i in op.inputs[2:3] if i)


class Pad(OpSpec):
    op_types = ("Pad",)

    def layout_agnostic(self, graph: Graph, op: Op) -> bool:
        return constant_pad(graph, op)  # the rewrite permutes its pads with the layout

    def channelwise(self, graph: Graph, op: Op) -> bool:
        pads = pads_of(graph, op)
        if pads is None or len(pads) < 4 or len(op.inputs) > 3 and op.inputs[3]:
            return False
        rank = len(pads) // 2
        return not any(pads[a] or pads[rank + a] for a in (0, 1)) and same_channels(graph, op)
