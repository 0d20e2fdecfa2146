"""MaxPool, AveragePool -> pexcp_max_pool / pexcp_average_pool; GlobalAveragePool. All channel-wise.
int8 QDQ: pexcp_max_pool_s8 / pexcp_average_pool_s8 (TFLite's pools: no requantization, taps outside the
input not counted); GlobalAveragePool is TFLite's MEAN over the spatial axes (pexcp_mean_s8)."""

from __future__ import annotations

from pexcp.backends.c import quant
from pexcp.backends.c.memory import channel_size
from pexcp.backends.c.ops.base import (
    Call, Lowering, channel_strides, check_rank, per_image, refuse, spatial, window_attrs,
)
from pexcp.backends.c.ops.qdq import activation_limits, output_quant, tensor_quant
from pexcp.ir import Graph, Op


class PoolLowering(Lowering):
    op_types = ("MaxPool", "AveragePool")
    runs_rows = True
    files = {"f32": ("pool",), "s8": ("pool_s8",)}

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
        """The pool_params fields both dtypes share: shapes, window, channel strides of whole tensors."""
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        (in_h, in_w), (out_h, out_w) = spatial(x), spatial(y)
        return {
            "in_h": in_h, "in_w": in_w, "out_h": out_h, "out_w": out_w,
            **window_attrs(op, x, y, list(op.attrs["kernel_shape"])), **channel_strides(in_h, in_w, out_h, out_w),
        }

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        self.check(graph, op)
        return {**self.geometry(graph, op), "count_include_pad": int(op.attrs.get("count_include_pad", 0))}

    def prepare_s8(self, graph: Graph, op: Op) -> dict[str, int]:
        self.check(graph, op)
        window = self.geometry(graph, op)
        if window.pop("dil_h") != 1 or window.pop("dil_w") != 1:
            raise refuse(op, "int8 pooling has no dilations")
        pads = (window.pop("pad_b"), window.pop("pad_r"), window["pad_t"], window["pad_l"])
        if op.attrs.get("count_include_pad", 0) and any(pads):
            raise refuse(op, "int8 average pooling counts only taps inside the input (count_include_pad = 0)")
        s_in, zp_in = tensor_quant(op, op.inputs[0])
        try:
            act_min, act_max = quant.pool_quant(s_in, zp_in, *output_quant(op), activation_limits(graph, op, op.epilogue))
        except ValueError as e:
            raise refuse(op, str(e)) from None
        return {**window, "act_min": act_min, "act_max": act_max}

    def emit_s8(self, call: Call) -> list[str]:
        params = call.struct("pexcp_pool_s8_params", call.fields(call.data))
        kernel = "pexcp_max_pool_s8" if call.op.op_type == "MaxPool" else "pexcp_average_pool_s8"
        c0, c1 = call.out_range
        return per_image(call, f"{kernel}(&{params}, {{src}}, {{dst}}, {c0}, {c1});")

    def emit_f32(self, call: Call) -> list[str]:
        op = call.op
        params = call.struct("pexcp_pool_params", call.fields(call.data))
        kernel = "pexcp_max_pool" if op.op_type == "MaxPool" else "pexcp_average_pool"
        c0, c1 = call.out_range
        return per_image(call, f"{kernel}(&{params}, {{src}}, {{dst}}, {c0}, {c1});")

class GlobalAveragePoolLowering(Lowering):
    op_types = ("GlobalAveragePool",)
    files = {"f32": ("global_average_pool",), "s8": ("mean_s8",)}

    def check(self, graph: Graph, op: Op) -> None:
        if len(graph.tensors[op.inputs[0]].shape) < 3:
            raise refuse(op, "its input needs spatial axes")

    def prepare_f32(self, graph: Graph, op: Op) -> None:
        self.check(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> quant.MeanQuant:
        self.check(graph, op)
        if op.epilogue:
            raise refuse(op, "an int8 mean has no fused activation")
        reduce = channel_size(graph.tensors[op.inputs[0]])
        return quant.mean_quant(*tensor_quant(op, op.inputs[0]), *output_quant(op), reduce)

    def emit_s8(self, call: Call) -> list[str]:
        q, x = call.data, call.tensor(call.op.inputs[0])
        c0, c1 = call.out_range
        params = call.struct("pexcp_mean_s8_params", {
            "outer": x.shape[0] * (c1 - c0), "reduce": channel_size(x), "inner": 1,
            "in_zp": q.in_zp, "out_zp": q.out_zp, "mult": q.mult, "shift": q.shift,
        })
        return [f"pexcp_mean_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()});"]

    def emit_f32(self, call: Call) -> list[str]:
        c0, c1 = call.out_range
        inner = channel_size(call.tensor(call.op.inputs[0]))
        return per_image(call, f"pexcp_global_average_pool({{src}}, {{dst}}, {inner}, {c0}, {c1});")
