"""Cast between float32 and the integer and bool types of float models -> pexcp_cast. Elementwise and
channel-wise."""

from __future__ import annotations

from pexcp.backends.c.ops.base import Call, Lowering, refuse
from pexcp.ir import Graph, Op

TYPES = {
    "float32": "PEXCP_T_F32", "int8": "PEXCP_T_I8", "uint8": "PEXCP_T_U8", "int16": "PEXCP_T_I16",
    "int32": "PEXCP_T_I32", "int64": "PEXCP_T_I64", "bool": "PEXCP_T_BOOL",
}


class CastLowering(Lowering):
    op_types = ("Cast",)
    files = {"f32": ("cast",)}

    def prepare_f32(self, graph: Graph, op: Op) -> tuple[str, str]:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its input must be an activation")
        src, dst = graph.tensors[op.inputs[0]].dtype, graph.tensors[op.outputs[0]].dtype
        for t in (src, dst):
            if t not in TYPES:
                raise refuse(op, f"casts involving {t} are not supported ({', '.join(TYPES)} are)")
        return TYPES[src], TYPES[dst]


    def emit_f32(self, call: Call) -> list[str]:
        src, dst = call.data
        return [f"pexcp_cast({call.input(call.op.inputs[0])}, {src}, {call.output()}, {dst}, {call.out_count()});"]
