"""Concat -> one pexcp_concat per input, each copied into its place in the output, except inputs the plan
already put there (gathered inputs, rewrite `concat`: their producers wrote them in place). Never sliced:
the partial-execution rules (analysis/partial.py) keep a Concat's inputs whole."""

from __future__ import annotations

import math

from pexcp.backends.c.ops.base import Call, Lowering, check_rank, refuse
from pexcp.ir import Graph, Op


class ConcatLowering(Lowering):
    op_types = ("Concat",)

    def prepare(self, graph: Graph, op: Op) -> None:
        if any(name and name not in graph.tensors and name not in graph.constants for name in op.inputs):
            raise refuse(op, "an input is neither an activation nor a constant")
        check_rank(op, graph.tensors[op.outputs[0]].shape, rank=8)

    def emit(self, call: Call) -> list[str]:
        graph, shape = call.graph, call.out.shape
        axis = int(call.op.attrs["axis"]) % len(shape)
        outer, out_block, offset = math.prod(shape[:axis]), math.prod(shape[axis:]), 0
        out = call.output()
        lines = []
        for name in (n for n in call.op.inputs if n):
            if name in graph.constants:
                src, dims = call.const(name), graph.constants[name].shape
            else:
                src, dims = call.input(name, sliced=False), graph.tensors[name].shape
            block = math.prod(dims[axis:])
            if src != out.shifted(offset):  # a gathered input the plan put in its place is already there
                lines.append(f"pexcp_concat({src}, {out.shifted(offset)}, {outer}, {block}, {out_block});")
            offset += block
        return lines
