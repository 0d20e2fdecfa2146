"""int8 kernels (runtime/*_s8.c) and their prepare-time arithmetic (backends/c/quant.py) against TensorFlow
Lite Micro, bit for bit.

Two oracle routes: (a) every operator of every shared int8 .tflite model, fed the real input TFLite Micro
gave it (all tensors preserved), with weights, biases and quantization read from the flatbuffer; (b)
single-operator .tflite models built here for operators and parameter corners the shared models lack, run
by TFLite Micro, over hypothesis-drawn shapes and quantization (derandomized, few examples). Sliced calls
(output-channel slices, input-channel accumulation + requant_acc) are checked against the whole call,
which is itself checked against TFLite Micro. The library is built with -Wall -Wextra -Werror and UBSan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tflite_oracle as to
from conftest import SHARED_MODELS
from pexcp.backends.c import quant
from s8_kernels import ACT, INIT, STORE, Kernels, build_library

TFLITE = SHARED_MODELS / "tflite"
INT8_TFLITE = sorted(TFLITE.glob("*int8*.tflite")) + [TFLITE / "te_mcunet_vww.tflite"]
VIEWS = {"RESHAPE", "TRANSPOSE"}  # no int8 kernel: views and layout changes the code generator handles
FEW = settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def k() -> Kernels:
    return Kernels(build_library())


def nchw(a: np.ndarray) -> np.ndarray:
    """1 x H x W x C (TFLite) -> C x H x W"""
    return np.ascontiguousarray(a[0].transpose(2, 0, 1))


# ---- (a) every operator of the shared int8 models ---------------------------------------------------------


def _conv_layer(k: Kernels, m, op, run: to.Run, depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
    sg = m.subgraphs[0]
    x_t, w_t, out_t = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]], sg.tensors[op.outputs[0]]
    o = op.builtinOptions
    x = nchw(run.tensor(op.inputs[0]))
    w = to.const(m, w_t)
    w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
    group = x.shape[0] if depthwise else x.shape[0] // w.shape[1]
    bias = to.const(m, sg.tensors[op.inputs[2]]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    s_in, zp_in = to.scale_zp(x_t)
    s_out, zp_out = to.scale_zp(out_t)
    q = quant.conv_quant(s_in, zp_in, to.quant(w_t)[0], s_out, zp_out, w.shape[0], to.ACT[o.fusedActivationFunction])
    dil = (o.dilationHFactor, o.dilationWFactor)
    _, pt, pb = to.same_padding(x.shape[1], w.shape[2], o.strideH, dil[0], o.padding)
    _, pl, pr = to.same_padding(x.shape[2], w.shape[3], o.strideW, dil[1], o.padding)
    y, _ = k.conv(x, w, bias, q, stride=(o.strideH, o.strideW), dil=dil, pads=(pt, pl, pb, pr), group=group)
    return y, nchw(run.tensor(op.outputs[0]))


def _layer(k: Kernels, m, op, run: to.Run) -> tuple[np.ndarray, np.ndarray]:
    """(pexcp's output, TFLite Micro's) for one operator on the input TFLite Micro gave it."""
    sg = m.subgraphs[0]
    kind = to.op_type(m, op)
    ins = [sg.tensors[i] for i in op.inputs if i >= 0]
    out_t = sg.tensors[op.outputs[0]]
    want = run.tensor(op.outputs[0])
    x = run.tensor(op.inputs[0])
    o = op.builtinOptions
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return _conv_layer(k, m, op, run, kind == "DEPTHWISE_CONV_2D")
    if kind == "FULLY_CONNECTED":
        w = to.const(m, ins[1])
        bias = to.const(m, ins[2]) if len(ins) > 2 else None
        s_in, zp_in = to.scale_zp(ins[0])
        s_out, zp_out = to.scale_zp(out_t)
        q = quant.fully_connected_quant(s_in, zp_in, to.quant(ins[1])[0], s_out, zp_out, w.shape[0],
                                        to.ACT[o.fusedActivationFunction])
        y, _ = k.fully_connected(x.reshape(-1, w.shape[1]), w, bias, q)
        return y.reshape(want.shape), want
    if kind == "ADD":
        q = quant.add_quant(*to.scale_zp(ins[0]), *to.scale_zp(ins[1]), *to.scale_zp(out_t),
                            to.ACT[o.fusedActivationFunction])
        return k.add(x, run.tensor(op.inputs[1]), q), want
    if kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        xc = nchw(x)
        oh, pt, pb = to.same_padding(xc.shape[1], o.filterHeight, o.strideH, 1, o.padding)
        ow, pl, pr = to.same_padding(xc.shape[2], o.filterWidth, o.strideW, 1, o.padding)
        act = quant.pool_quant(*to.scale_zp(ins[0]), *to.scale_zp(out_t), to.ACT[o.fusedActivationFunction])
        y = k.pool("average" if kind.startswith("AVERAGE") else "max", xc, (o.filterHeight, o.filterWidth),
                   (o.strideH, o.strideW), (pt, pl, pb, pr), act)
        return y, nchw(want)
    if kind == "SOFTMAX":
        q = quant.softmax_quant(to.scale_zp(ins[0])[0], o.beta)
        n = x.shape[-1]
        return k.softmax(x, q, x.size // n, n, 1), want
    if kind == "MEAN":
        axes = sorted(int(a) % x.ndim for a in to.const(m, ins[1]).reshape(-1))
        assert axes == list(range(axes[0], axes[-1] + 1)), "mean over non-adjacent axes"
        outer = int(np.prod(x.shape[: axes[0]]))
        reduce = int(np.prod([x.shape[a] for a in axes]))
        q = quant.mean_quant(*to.scale_zp(ins[0]), *to.scale_zp(out_t), reduce)
        return k.mean(x, outer, reduce, x.size // outer // reduce, q).reshape(want.shape), want
    if kind == "PAD":
        pads = to.const(m, ins[1]).reshape(4, 2)[[0, 3, 1, 2]]  # NHWC -> NCHW order
        value = to.scale_zp(out_t)[1]
        y = k.pad(x.transpose(0, 3, 1, 2), pads[:, 0].tolist(), pads[:, 1].tolist(), value)
        return y, want.transpose(0, 3, 1, 2)
    if kind == "QUANTIZE" and ins[0].type == to.T.FLOAT32:
        return k.quantize(x, quant.boundary_quant(*to.scale_zp(out_t))), want
    if kind == "QUANTIZE":
        return k.requantize(x, quant.requantize_quant(*to.scale_zp(ins[0]), *to.scale_zp(out_t))), want
    if kind == "DEQUANTIZE":
        got = k.dequantize(x, quant.boundary_quant(*to.scale_zp(ins[0])))
        return got.view(np.int32), want.view(np.int32)  # bit patterns
    raise AssertionError(f"no int8 kernel check for {kind}")


def _random_input(t, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(int(d) for d in t.shape)
    if t.type == to.T.INT8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


@pytest.mark.parametrize("path", INT8_TFLITE, ids=lambda p: p.stem)
def test_shared_model_layers_bit_exact(k: Kernels, path: Path) -> None:
    """Every operator of the model, 3 random model inputs: identical bits to TFLite Micro."""
    data = path.read_bytes()
    m = to.load(data)
    sg = m.subgraphs[0]
    rng = np.random.default_rng(12)
    checked = 0
    for trial in range(3):
        run = to.Run(data, [_random_input(sg.tensors[i], rng) for i in sg.inputs])
        for index, op in enumerate(sg.operators):
            if to.op_type(m, op) in VIEWS:
                continue
            got, want = _layer(k, m, op, run)
            assert got.shape == want.shape
            diff = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
            assert diff.size == 0, (
                f"{path.stem} op {index} {to.op_type(m, op)} (trial {trial}): {diff.size} of {got.size} differ, "
                f"first at {diff[0]}: {got.reshape(-1)[diff[0]]} vs TFLite Micro {want.reshape(-1)[diff[0]]}"
            )
            checked += 1
    assert checked == 3 * sum(to.op_type(m, op) not in VIEWS for op in sg.operators)
