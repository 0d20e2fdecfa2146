"""DepthToSpace (DCR and CRD) and SpaceToDepth -> pexcp_depth_to_space / pexcp_space_to_depth, per image,
on elements of any size. Channels mix with pixels: never channel-wise."""

from __future__ import annotations

from pexcp.backends.c.ops.base import Call, Lowering, per_image, refuse
from pexcp.backends.c.ops.slice import check_mover
from pexcp.ir import Graph, Op


class DepthToSpaceLowering(Lowering):
    op_types = ("DepthToSpace", "SpaceToDepth")

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        return ("depth_to_space",) if op.op_type == "DepthToSpace" else ("space_to_depth",)

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        x = graph.tensors[op.inputs[0]] if op.inputs[0] in graph.tensors else None
        if x is None or len(x.shape) != 4:
            raise refuse(op, "its input must be a rank-4 (NCHW) activation")
        b = int(op.attrs["blocksize"])
        mode = op.attrs.get("mode", "DCR")
        if op.op_type == "DepthToSpace" and mode not in ("DCR", "CRD"):
            raise refuse(op, f"mode {mode!r} is not supported (DCR and CRD are)")
        if b < 1 or (x.shape[1] % (b * b) if op.op_type == "DepthToSpace" else x.shape[2] % b or x.shape[3] % b):
            raise refuse(op, f"blocksize {b} does not divide its input {x.shape}")
        return {"in_c": x.shape[1], "in_h": x.shape[2], "in_w": x.shape[3], "block": b, "crd": int(mode == "CRD"),
                "elem": x.itemsize}

    def prepare_s8(self, graph: Graph, op: Op) -> dict[str, int]:
        check_mover(graph, op)
        return self.prepare_f32(graph, op)

    def emit_f32(self, call: Call) -> list[str]:
        params = call.struct("pexcp_d2s_params", call.data)
        kernel = "pexcp_depth_to_space" if call.op.op_type == "DepthToSpace" else "pexcp_space_to_depth"
        return per_image(call, f"{kernel}(&{params}, {{src}}, {{dst}});")

    emit_s8 = emit_f32
