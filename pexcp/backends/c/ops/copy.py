"""Reshape, Flatten, Squeeze, Unsqueeze, Identity -> pexcp_copy when the plan gives the output its own
bytes (rewrite `views` off, or TFLite Micro's plan); otherwise they are views and emit nothing."""

from __future__ import annotations

from pexcp.backends.c.ops.base import Call, Lowering
from pexcp.ir import Graph, Op


class CopyLowering(Lowering):
    op_types = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
    files = {"f32": ("copy",)}

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        return None

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return op.op_type == "Identity"

    def emit_f32(self, call: Call) -> list[str]:
        return [f"pexcp_copy({call.input(call.op.inputs[0])}, {call.output()}, {call.out_count()});"]
