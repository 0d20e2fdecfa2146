"""Conv -> pexcp_conv (float32) / pexcp_conv_s8 (int8 QDQ: TFLite's CONV_2D and DEPTHWISE_CONV_2D with
per-channel weights): full, grouped and depthwise 1-D/2-D convolutions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pexcp.analysis.inplace import POINTWISE, kind
from pexcp.backends.c import quant
from pexcp.backends.c.memory import Ptr, channel_size, itemsize
from pexcp.backends.c.ops.base import (
    Call, Lowering, channel_strides, check_rank, mode_name, optional_constant, per_image, refuse, require_constant,
    spatial, window_attrs,
)
from pexcp.backends.c.ops.qdq import (
    activation_limits, output_and_accumulator, output_quant, quantized, requant_acc, requant_arrays, tensor_quant,
)
from pexcp.ir import Graph, Op, Scratch


@dataclass
class ConvS8:
    """An int8 conv's Prepare: the params struct, the int8 weights, the int32 bias and the per-channel
    requantization (TFLite Micro's PopulateConvolutionQuantizationParams)."""

    fields: dict[str, int]
    weights: np.ndarray
    bias: np.ndarray | None
    q: quant.ConvQuant
    scratch: Scratch | None  # what the Cortex-M4 DSP path works in (quant.conv_scratch_bytes); None: no DSP path


class ConvLowering(Lowering):
    op_types = ("Conv",)
    fuses_clamp = True
    runs_rows = True
    files = {"f32": ("conv",), "s8": ("conv_s8",)}
    has_scratch = True

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
        """The conv_params fields every dtype shares: shapes, window (far pads implied by the output size), and
        the channel strides of whole tensors (a row band's call replaces them with its windows')."""
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        w = graph.constants[op.inputs[1]]
        window = window_attrs(op, x, y, list(w.shape[2:]))
        del window["pad_b"], window["pad_r"]  # the output size already fixes the far edge
        (in_h, in_w), (out_h, out_w) = spatial(x), spatial(y)
        return {
            "in_c": x[1], "in_h": in_h, "in_w": in_w, "out_c": y[1], "out_h": out_h, "out_w": out_w,
            **window, "group": self._group(op), **channel_strides(in_h, in_w, out_h, out_w),
        }

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        self.check(graph, op)
        return self.geometry(graph, op)

    def prepare_s8(self, graph: Graph, op: Op) -> ConvS8:
        self.check(graph, op)
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if x.shape[0] != 1:
            raise refuse(op, "int8 convolutions need batch size 1")
        s_in, zp_in = tensor_quant(op, op.inputs[0])
        s_out, zp_out = output_quant(op)
        w = quantized(graph, op, op.inputs[1], "weight", "int8")
        if w.axis not in (None, 0):
            raise refuse(op, f"its weights are quantized along axis {w.axis}, not per output channel")
        bias = None
        if len(op.inputs) > 2 and op.inputs[2]:
            bias = quantized(graph, op, op.inputs[2], "bias", "int32").values
        q = quant.conv_quant(s_in, zp_in, w.scale, s_out, zp_out, y.shape[1], activation_limits(graph, op, op.epilogue))
        fields = {
            **self.geometry(graph, op), "in_offset": q.in_offset, "out_offset": q.out_offset,
            "act_min": q.act_min, "act_max": q.act_max,
        }
        return ConvS8(fields, w.values, bias, q, self._scratch(fields))

    def _scratch(self, f: dict[str, int]) -> Scratch:
        """Scratch of a call over all input channels, (group 1: the convs that accumulate over input-channel
        slices) of a call over k of them, and (depthwise, whose DSP path sizes its lines by the rows it
        computes) of a band of r output rows."""
        def size(in_c: int, group: int, out_h: int = f["out_h"]) -> int:
            return quant.conv_scratch_bytes(
                in_c, f["out_c"], group, f["k_h"], f["k_w"], out_h, f["out_w"], f["stride_h"], f["stride_w"],
                f["dil_h"], f["dil_w"],
            )

        sliced = tuple(size(k, 1) for k in range(1, f["in_c"] + 1)) if f["group"] == 1 else ()
        depthwise = f["group"] == f["in_c"] > 1
        rows = tuple(size(f["in_c"], f["group"], r) for r in range(1, f["out_h"] + 1)) if depthwise else ()
        return Scratch(size(f["in_c"], f["group"]), sliced, rows)

    def emit_s8(self, call: Call) -> list[str]:
        oc0, oc1 = call.out_range
        ic0, ic1 = call.in_range or (0, call.tensor(call.op.inputs[0]).shape[1])
        need = call.data.scratch.bytes(ic1 - ic0) if call.band is None else call.data.scratch.band_bytes(call.band.rows)
        return [self._line_s8(call, call.input(call.op.inputs[0]), output_and_accumulator(call), oc0, oc1, ic0, ic1,
                              call.scratch(need))]

    def _line_s8(self, call: Call, src: object, dst: str, oc0: object, oc1: object, ic0: object, ic1: object,
                 scratch: str) -> str:
        op, d = call.op, call.data
        params = call.struct("pexcp_conv_s8_params", call.fields(d.fields))
        w = call.const(op.inputs[1], d.weights, tag="int8", dtype="int8")
        bias = call.const(op.inputs[2], d.bias, tag="int32", dtype="int32") if d.bias is not None else "0"
        return (
            f"pexcp_conv_s8(&{params}, {src}, {dst}, {w}, {bias}, {requant_arrays(call, d.q)}, "
            f"{oc0}, {oc1}, {ic0}, {ic1}, {mode_name(call.mode)}, {scratch});"
        )

    def emit_in_place(self, call: Call, temp: Ptr) -> list[str]:
        """A whole depthwise conv over its own input (pexcp/analysis/inplace.py): output channel c is computed
        into the one-channel temporary, then copied to its place, which covers input channels <= c only, all
        consumed by then. A pointwise conv runs its in-place kernel, pixel by pixel through the one-pixel
        temporary."""
        if kind(call.graph, call.op) == POINTWISE:
            return [self._pointwise_in_place(call, temp)]
        x, y = call.tensor(call.op.inputs[0]), call.out
        src, dst = call.input(call.op.inputs[0], sliced=False), call.output()
        in_hw, out_hw = channel_size(x), channel_size(y)
        tmp = Ptr(temp.base, temp.offset, dst.dtype)
        at = f"{src} + (long)c * {in_hw}"
        if call.dtype == "s8":
            kernel = self._line_s8(call, at, f"{tmp}, 0", "c", "c + 1", "c", "c + 1", call.scratch(call.data.scratch.whole))
        else:
            kernel = self._line_f32(call).format(src=at, dst=tmp, oc0="c", oc1="c + 1", ic0="c", ic1="c + 1")
        return [
            f"for (int c = 0; c < {y.shape[1]}; ++c) {{ /* in place, channel by channel */",
            f"    {kernel}",
            f"    memcpy({dst} + (long)c * {out_hw}, {tmp}, {out_hw * itemsize(dst.dtype)});",
            "}",
        ]

    def _pointwise_in_place(self, call: Call, temp: Ptr) -> str:
        op, io = call.op, call.output()
        tmp = Ptr(temp.base, temp.offset, io.dtype)
        if call.dtype == "s8":
            d = call.data
            params = call.struct("pexcp_conv_s8_params", d.fields)
            w = call.const(op.inputs[1], d.weights, tag="int8", dtype="int8")
            bias = call.const(op.inputs[2], d.bias, tag="int32", dtype="int32") if d.bias is not None else "0"
            return (f"pexcp_conv_s8_pointwise_in_place(&{params}, {io}, {w}, {bias}, {requant_arrays(call, d.q)}, "
                    f"{tmp}, {call.scratch(d.scratch.whole)});")
        fields = {**call.data, "act_min": call.clamp[0], "act_max": call.clamp[1]}
        params = call.struct(f"{self.kernel_f32}_params", fields)
        bias = call.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "0"
        return f"pexcp_conv_pointwise_in_place(&{params}, {io}, {call.const(op.inputs[1])}, {bias}, {tmp});"

    def finish(self, call: Call, acc: Ptr) -> list[str]:
        return requant_acc(call, acc, call.data.q)

    def _group(self, op: Op) -> int:
        return int(op.attrs.get("group", 1))

    def produces_slices(self, graph: Graph, op: Op) -> bool:
        # a depthwise conv with a channel multiplier reads input channel c // m, not the slice plans assume
        group, c_in = self._group(op), graph.tensors[op.inputs[0]].shape[1]
        return not (1 < group == c_in != graph.tensors[op.outputs[0]].shape[1])

    def accumulates(self, graph: Graph, op: Op) -> bool:
        return self._group(op) == 1

    kernel_f32 = "pexcp_conv"  # its params struct is <kernel>_params

    def emit_f32(self, call: Call) -> list[str]:
        x = call.tensor(call.op.inputs[0])
        oc0, oc1 = call.out_range
        ic0, ic1 = call.in_range or (0, x.shape[1])
        line = self._line_f32(call).format(src="{src}", dst="{dst}", oc0=oc0, oc1=oc1, ic0=ic0, ic1=ic1)
        return per_image(call, line)

    def _line_f32(self, call: Call) -> str:
        """The float kernel call, with {src}, {dst} and the channel ranges left to format."""
        op = call.op
        fields = {**call.fields(call.data), "act_min": call.clamp[0], "act_max": call.clamp[1]}
        params = call.struct(f"{self.kernel_f32}_params", fields)
        bias = call.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "0"
        return (
            f"{self.kernel_f32}(&{params}, {{src}}, {{dst}}, {call.const(op.inputs[1])}, {bias}, "
            f"{{oc0}}, {{oc1}}, {{ic0}}, {{ic1}}, {mode_name(call.mode)});"
        )
