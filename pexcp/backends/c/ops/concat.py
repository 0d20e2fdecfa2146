"""Concat -> one pexcp_concat per input, each copied into its place in the output."""

from __future__ import annotations

import math

from pexcp.backends.c.memory import Ptr, channel_size
from pexcp.backends.c.ops.base import Call, Lowering, check_rank, refuse
from pexcp.ir import Graph, Op


class ConcatLowering(Lowering):
    op_types = ("Concat",)

    def _axis(self, graph: Graph, op: Op) -> int:
        return int(op.attrs["axis"]) % len(graph.tensors[op.outputs[0]].shape)

    def prepare(self, graph: Graph, op: Op, opset: int) -> None:
        if any(name and name not in graph.tensors and name not in graph.constants for name in op.inputs):
            raise refuse(op, "an input is neither an activation nor a constant")
        check_rank(op, graph.tensors[op.outputs[0]].shape, rank=8)

    def produces_slices(self, graph: Graph, op: Op) -> bool:
        return self._axis(graph, op) == 1 and graph.tensors[op.outputs[0]].shape[0] == 1

    def _source(self, call: Call, name: str, lo: int, hi: int, channels: int) -> Ptr:
        """Channels [lo, hi) of one input, constant or activation."""
        if name in call.graph.constants:
            return call.const(name).shifted(lo * channel_size(call.out))
        if (lo, hi) == (0, channels):
            return call.input(name, sliced=False)
        return call.arena.pointer(call.step.index, name, lo, hi)
    def emit(self, call: Call) -> list[str]:
        graph, op = call.graph, call.op
        shapes = [graph.constants[n].shape if n in graph.constants else graph.tensors[n].shape for n in op.inputs if n]
        names = [n for n in op.inputs if n]
        axis = self._axis(graph, op)
        out = call.output()
        lines = []
        if call.whole_output:
            outer, out_block, offset = math.prod(call.out.shape[:axis]), math.prod(call.out.shape[axis:]), 0
            for name, shape in zip(names, shapes):
                block = math.prod(shape[axis:])
                src = call.const(name) if name in graph.constants else call.input(name, sliced=False)
                lines.append(f"pexcp_concat({src}, {out.shifted(offset)}, {outer}, {block}, {out_block});")
                offset += block
            return lines
        c0, c1 = call.out_range  # a channel slice (axis 1, batch 1): copy the overlap of each input
        inner, first = channel_size(call.out), 0
        for name, shape in zip(names, shapes):
            lo, hi = max(c0, first), min(c1, first + shape[1])
            if lo < hi:
                src = self._source(call, name, lo - first, hi - first, shape[1])
                count = (hi - lo) * inner
                lines.append(f"pexcp_concat({src}, {out.shifted((lo - c0) * inner)}, 1, {count}, {count});")
            first += shape[1]
        return lines
