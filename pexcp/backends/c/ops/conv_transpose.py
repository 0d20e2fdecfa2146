"""ConvTranspose -> pexcp_conv_transpose: 1-D and 2-D, groups, strides, dilations, pads (explicit, from
output_shape, or auto_pad), output_padding; a leading Relu/Clip fused as a clamp. Like Conv it can compute
any range of output channels from the whole input, and (group 1) accumulate partial sums over input
channels; depthwise (group = input = output channels) it is channel-wise."""

from __future__ import annotations

from pexcp.backends.c import quant
from pexcp.backends.c.ops.base import (
    Call, channel_strides, check_rank, mode_name, optional_constant, refuse, require_constant, spatial,
)
from pexcp.backends.c.ops.conv import ConvLowering, ConvS8
from pexcp.backends.c.ops.qdq import (
    activation_limits, output_and_accumulator, output_quant, quantized, requant_arrays, tensor_quant,
)
from pexcp.ir import Graph, Op


def begin_pads(op: Op, x: tuple[int, ...], y: tuple[int, ...], kernel: list[int]) -> list[int]:
    """Begin pads per spatial axis. Without explicit pads (output_shape or auto_pad SAME_*), the total
    padding is what makes the output size come out, split as onnxruntime splits it: the larger half at the
    end for SAME_UPPER, at the beginning otherwise (SAME_LOWER, output_shape)."""
    n = len(kernel)
    strides = list(op.attrs.get("strides", [1] * n))
    dils = list(op.attrs.get("dilations", [1] * n))
    out_pad = list(op.attrs.get("output_padding", [0] * n))
    auto = op.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "") and "output_shape" not in op.attrs:
        return list(op.attrs.get("pads", [0] * 2 * n))[:n]
    if auto == "VALID":
        return [0] * n
    pads = []
    for i in range(n):
        total = strides[i] * (x[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dils[i] + 1 - y[2 + i]
        pads.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
    return pads


class ConvTransposeLowering(ConvLowering):
    op_types = ("ConvTranspose",)
    files = {"f32": ("conv_transpose",), "s8": ("conv_transpose_s8",)}
    kernel_f32 = "pexcp_conv_transpose"
    runs_rows = False

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, int]:
        if op.inputs[0] not in graph.tensors:
            raise refuse(op, "its data input must be an activation")
        w = require_constant(graph, op, 1, "weight")
        optional_constant(graph, op, 2)
        x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
        if len(x) not in (3, 4):
            raise refuse(op, f"rank-{len(x)} input: only 1-D and 2-D transposed convolutions are supported")
        check_rank(op, x, y)
        group = self._group(op)
        if x[1] % group or w.shape[0] != x[1] or w.shape[1] * group != y[1]:
            raise refuse(op, f"weights {w.shape} do not match group {group}, input {x} and output {y}")
        kernel = list(w.shape[2:])
        n = len(kernel)
        strides, dils = list(op.attrs.get("strides", [1] * n)), list(op.attrs.get("dilations", [1] * n))
        pads = begin_pads(op, x, y, kernel)
        if n == 1:
            kernel, strides, dils, pads = [1] + kernel, [1] + strides, [1] + dils, [0] + pads
        if min(strides) < 1 or min(dils) < 1:
            raise refuse(op, "non-positive strides or dilations")
        (in_h, in_w), (out_h, out_w) = spatial(x), spatial(y)
        return {
            "in_c": x[1], "in_h": in_h, "in_w": in_w, "out_c": y[1], "out_h": out_h, "out_w": out_w,
            "k_h": kernel[0], "k_w": kernel[1], "stride_h": strides[0], "stride_w": strides[1],
            "dil_h": dils[0], "dil_w": dils[1], "pad_t": pads[0], "pad_l": pads[1], "group": group,
        }

    def prepare_s8(self, graph: Graph, op: Op) -> ConvS8:
        """TFLite's TRANSPOSE_CONV: one group, no dilation, weights per output channel (axis 1 of ONNX's
        [in, out, kh, kw]), the conv's per-channel requantization."""
        geometry = self.prepare_f32(graph, op)
        if geometry["group"] != 1 or geometry["dil_h"] != 1 or geometry["dil_w"] != 1:
            raise refuse(op, "int8 transposed convolutions have one group and no dilation (TFLite's TRANSPOSE_CONV)")
        if graph.tensors[op.inputs[0]].shape[0] != 1:
            raise refuse(op, "int8 transposed convolutions need batch size 1")
        s_in, zp_in = tensor_quant(op, op.inputs[0])
        s_out, zp_out = output_quant(op)
        w = quantized(graph, op, op.inputs[1], "weight", "int8")
        if w.axis not in (None, 1):
            raise refuse(op, f"its weights are quantized along axis {w.axis}, not per output channel (axis 1)")
        bias = None
        if len(op.inputs) > 2 and op.inputs[2]:
            bias = quantized(graph, op, op.inputs[2], "bias", "int32").values
        out_c = graph.tensors[op.outputs[0]].shape[1]
        q = quant.conv_quant(s_in, zp_in, w.scale, s_out, zp_out, out_c, activation_limits(graph, op, op.epilogue))
        strides = channel_strides(geometry["in_h"], geometry["in_w"], geometry["out_h"], geometry["out_w"])
        fields = {**geometry, **strides, "in_offset": q.in_offset, "out_offset": q.out_offset, "act_min": q.act_min,
                  "act_max": q.act_max}
        return ConvS8(fields, w.values, bias, q, scratch=None)  # the portable loop: no DSP path

    def emit_s8(self, call: Call) -> list[str]:
        op, d = call.op, call.data
        params = call.struct("pexcp_conv_s8_params", d.fields)
        w = call.const(op.inputs[1], d.weights, tag="int8", dtype="int8")
        bias = call.const(op.inputs[2], d.bias, tag="int32", dtype="int32") if d.bias is not None else "0"
        oc0, oc1 = call.out_range
        ic0, ic1 = call.in_range or (0, call.tensor(op.inputs[0]).shape[1])
        return [
            f"pexcp_conv_transpose_s8(&{params}, {call.input(op.inputs[0])}, {output_and_accumulator(call)}, {w}, "
            f"{bias}, {requant_arrays(call, d.q)}, {oc0}, {oc1}, {ic0}, {ic1}, {mode_name(call.mode)});"
        ]



    def produces_slices(self, graph: Graph, op: Op) -> bool:
        return True

