"""Concat -> one pexcp_concat per input, each copied into its place in the output, except gathered inputs
(rewrite `concat`): their producers already wrote them there. Never sliced: the partial-execution rules
(analysis/partial.py) keep a Concat's inputs whole."""

from __future__ import annotations

import math

from pexcp.backends.c.ops.base import Call, Lowering, check_rank, refuse
from pexcp.backends.c.ops.qdq import same_quant
from pexcp.ir import Graph, Op


class ConcatLowering(Lowering):
    op_types = ("Concat",)
    files = {"f32": ("concat",), "s8": ("concat_s8",)}

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        if any(name and name not in graph.tensors and name not in graph.constants for name in op.inputs):
            raise refuse(op, "an input is neither an activation nor a constant")
        check_rank(op, graph.tensors[op.outputs[0]].shape, rank=8)

    def prepare_s8(self, graph: Graph, op: Op) -> None:
        self.prepare_f32(graph, op)
        if any(n in graph.constants for n in op.inputs) or op.epilogue:
            raise refuse(op, "an int8 Concat joins activations only")
        if op.quant and not all(same_quant(op, t, op.outputs[0]) for t in graph.activation_inputs(op)):
            raise refuse(op, "an int8 Concat cannot requantize its inputs (they must share the output's scale)")

    def emit_s8(self, call: Call) -> list[str]:
        return self.emit_f32(call)

    def emit_f32(self, call: Call) -> list[str]:
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
            if name not in call.op.gathered:
                kernel = "pexcp_concat" if call.dtype == "f32" else "pexcp_concat_s8"
                lines.append(f"{kernel}({src}, {out.shifted(offset)}, {outer}, {block}, {out_block});")
            offset += block
        return lines
