"""MaxPool, AveragePool -> pexcp_max_pool / pexcp_average_pool; GlobalAveragePool. All channel-wise."""

from __future__ import annotations

from pexcp.backends.c.memory import channel_size
from pexcp.backends.c.ops.base import Call, Lowering, check_rank, per_image, refuse, spatial, window_attrs
from pexcp.ir import Graph, Op


class PoolLowering(Lowering):
    op_types = ("MaxPool", "AveragePool")
    files = {"f32": ("pool",)}

    def check(self, graph: Graph, op: Op) -> None:
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        if len(x) not in (3, 4):
            raise refuse(op, f"rank-{len(x)} input: only 1-D and 2-D pooling is supported")
        check_rank(op, x, y)
        if len(op.core.outputs) > 1 and op.core.outputs[1]:
            raise refuse(op, "the Indices output is not supported")
        if op.op_type == "AveragePool" and any(d != 1 for d in op.attrs.get("dilations", [])):
            raise refuse(op, "dilated average pooling is not supported")
        window_attrs(op, x, y, list(op.attrs["kernel_shape"]))

    def geometry(self, graph: Graph, op: Op) -> dict[str, int]:
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        (in_h, in_w), (out_h, out_w) = spatial(x), spatial(y)
        return {
            "in_h": in_h, "in_w": in_w, "out_h": out_h, "out_w": out_w,
            **window_attrs(op, x, y, list(op.attrs["kernel_shape"])),
        }

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        self.check(graph, op)
        return {**self.geometry(graph, op), "count_include_pad": int(op.attrs.get("count_include_pad", 0))}

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return True

    def emit_f32(self, call: Call) -> list[str]:
        op = call.op
        params = call.struct("pexcp_pool_params", call.data)
        kernel = "pexcp_max_pool" if op.op_type == "MaxPool" else "pexcp_average_pool"
        c0, c1 = call.out_range
        return per_image(call, f"{kernel}(&{params}, {{src}}, {{dst}}, {c0}, {c1});")

class GlobalAveragePoolLowering(Lowering):
    op_types = ("GlobalAveragePool",)
    files = {"f32": ("global_average_pool",)}

    def check(self, graph: Graph, op: Op) -> None:
        if len(graph.tensors[op.inputs[0]].shape) < 3:
            raise refuse(op, "its input needs spatial axes")

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        self.check(graph, op)

    def channelwise(self, graph: Graph, op: Op) -> bool:
        return True

    def emit_f32(self, call: Call) -> list[str]:
        c0, c1 = call.out_range
        inner = channel_size(call.tensor(call.op.inputs[0]))
        return per_image(call, f"pexcp_global_average_pool({{src}}, {{dst}}, {inner}, {c0}, {c1});")
