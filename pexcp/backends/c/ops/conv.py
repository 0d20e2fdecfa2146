"""Conv -> pexcp_conv: full, grouped and depthwise 1-D/2-D convolutions."""

from __future__ import annotations

from pexcp.backends.c.ops.base import (
    Call, Lowering, check_rank, mode_name, optional_constant, per_image, refuse, require_constant, spatial, window_attrs,
)
from pexcp.ir import Graph, Op


class ConvLowering(Lowering):
    op_types = ("Conv",)
    fuses_clamp = True
    files = {"f32": ("conv",)}

    def check(self, graph: Graph, op: Op) -> None:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        w = require_constant(graph, op, 1, "weight")
        optional_constant(graph, op, 2)
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        if len(x) not in (3, 4):
            raise refuse(op, f"rank-{len(x)} input: only 1-D and 2-D convolutions are supported")
        check_rank(op, x, y)
        group = int(op.attrs.get("group", 1))
        if x[1] % group or y[1] % group or w.shape[1] * group != x[1]:
            raise refuse(op, f"group {group} does not divide its {x[1]} input / {y[1]} output channels")
        window_attrs(op, x, y, list(w.shape[2:]))

    def geometry(self, graph: Graph, op: Op) -> dict[str, int]:
        """The conv_params fields every dtype shares: shapes, window (far pads implied by the output size)."""
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        w = graph.constants[op.inputs[1]]
        window = window_attrs(op, x, y, list(w.shape[2:]))
        del window["pad_b"], window["pad_r"]  # the output size already fixes the far edge
        (in_h, in_w), (out_h, out_w) = spatial(x), spatial(y)
        return {
            "in_c": x[1], "in_h": in_h, "in_w": in_w, "out_c": y[1], "out_h": out_h, "out_w": out_w,
            **window, "group": self._group(op),
        }

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        self.check(graph, op)
        return self.geometry(graph, op)

    def _group(self, op: Op) -> int:
        return int(op.attrs.get("group", 1))

    def channelwise(self, graph: Graph, op: Op) -> bool:
        channels = graph.tensors[op.inputs[0]].shape[1]
        return self._group(op) == channels == graph.tensors[op.outputs[0]].shape[1]

    def produces_slices(self, graph: Graph, op: Op) -> bool:
        # a depthwise conv with a channel multiplier reads input channel c // m, not the slice plans assume
        group, c_in = self._group(op), graph.tensors[op.inputs[0]].shape[1]
        return not (1 < group == c_in != graph.tensors[op.outputs[0]].shape[1])

    def accumulates(self, graph: Graph, op: Op) -> bool:
        return self._group(op) == 1

    def emit_f32(self, call: Call) -> list[str]:
        op = call.op
        x = call.tensor(op.inputs[0])
        params = call.struct("pexcp_conv_params", {**call.data, "act_min": call.clamp[0], "act_max": call.clamp[1]})
        bias = call.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "0"
        oc0, oc1 = call.out_range
        ic0, ic1 = call.in_range or (0, x.shape[1])
        line = (
            f"pexcp_conv(&{params}, {{src}}, {{dst}}, {call.const(op.inputs[1])}, {bias}, "
            f"{oc0}, {oc1}, {ic0}, {ic1}, {mode_name(call.mode)});"
        )
        return per_image(call, line)
