"""Pad -> pexcp_pad (constant, reflect, edge). Channel-wise when no pads touch the batch or channels.
int8 QDQ: TFLite's PAD (pexcp_pad_s8), constant mode, the pad value quantized (0 becomes the zero point)."""

from __future__ import annotations

from pexcp.backends.c import quant
from pexcp.backends.c.ops.base import RANK, Call, Lowering, check_rank, optional_constant, padded, refuse
from pexcp.backends.c.ops.qdq import output_quant, same_quant, tensor_quant
from pexcp.ir import Graph, Op

MODES = {"constant": "PEXCP_PAD_CONSTANT", "reflect": "PEXCP_PAD_REFLECT", "edge": "PEXCP_PAD_EDGE"}


class PadLowering(Lowering):
    op_types = ("Pad",)
    files = {"f32": ("pad",), "s8": ("pad_s8",)}

    def _pads(self, graph: Graph, op: Op) -> tuple[list[int], float]:
        """Pads (begins of every axis, then ends) and the constant value."""
        rank = len(graph.tensors[op.inputs[0]].shape)
        if "pads" in op.attrs:  # opset < 11
            pads, value = list(op.attrs["pads"]), float(op.attrs.get("value", 0.0))
        else:
            given = optional_constant(graph, op, 1)
            pads = [] if given is None else [int(p) for p in given.ravel()]
            fill = optional_constant(graph, op, 2)
            value = 0.0 if fill is None else float(fill.ravel()[0]) if fill.size else 0.0
            axes = optional_constant(graph, op, 3)
            if axes is not None:  # opset 18: pads of the listed axes only
                full = [0] * 2 * rank
                for i, a in enumerate(int(a) % rank for a in axes.ravel()):
                    full[a], full[rank + a] = pads[i], pads[len(axes.ravel()) + i]
                pads = full
        return pads, value

    def check(self, graph: Graph, op: Op) -> tuple[list[int], float]:
        mode = op.attrs.get("mode", "constant")
        if mode not in MODES:
            raise refuse(op, f"mode {mode!r} is not supported ({', '.join(MODES)} are)")
        check_rank(op, graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape)
        return self._pads(graph, op)

    def prepare_f32(self, graph: Graph, op: Op) -> dict[str, object]:
        pads, value = self.check(graph, op)
        begin = pads[: len(pads) // 2]
        return {
            "in_dims": padded(graph.tensors[op.inputs[0]].shape), "out_dims": padded(graph.tensors[op.outputs[0]].shape),
            "begin": begin + [0] * (RANK - len(begin)), "mode": MODES[op.attrs.get("mode", "constant")],
            "value": value,
        }

    def prepare_s8(self, graph: Graph, op: Op) -> dict[str, object]:
        pads, value = self.check(graph, op)
        if op.attrs.get("mode", "constant") != "constant" or op.epilogue:
            raise refuse(op, "int8 Pad: constant mode only, no fused activation")
        fields = self.prepare_f32(graph, op)
        (src,) = graph.activation_inputs(op)
        if op.quant:  # a QDQ Pad: the same scale in and out, the real pad value quantized
            s_out, zp_out = output_quant(op)
            if not same_quant(op, src, op.outputs[0]):
                raise refuse(op, "int8 Pad needs the same scale and zero point on input and output")
            tensor_quant(op, src)
            fields["value"] = min(quant.INT8_MAX, max(quant.INT8_MIN, zp_out + round(value / s_out)))
        else:  # padding the int8 tensor itself
            fields["value"] = int(value)
        del fields["mode"]
        return fields

    def emit_s8(self, call: Call) -> list[str]:
        params = call.struct("pexcp_pad_s8_params", call.data)
        c0, c1 = call.out_range
        return [f"pexcp_pad_s8(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {c0}, {c1});"]

    def emit_f32(self, call: Call) -> list[str]:
        params = call.struct("pexcp_pad_params", call.data)
        c0, c1 = call.out_range
        return [f"pexcp_pad(&{params}, {call.input(call.op.inputs[0])}, {call.output()}, {c0}, {c1});"]
