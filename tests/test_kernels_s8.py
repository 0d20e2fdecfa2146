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

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tflite_oracle as to
from conftest import SHARED_MODELS
from pexcp.backends.c import quant
from s8_kernels import ACT, INIT, Kernels, build_library

TFLITE = SHARED_MODELS / "tflite"
INT8_TFLITE = sorted(TFLITE.glob("*int8*.tflite")) + [TFLITE / "te_mcunet_vww.tflite"]
VIEWS = {"RESHAPE"}  # no kernel: a view
FEW = settings(max_examples=int(os.environ.get("PEXCP_S8_EXAMPLES", 12)), derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


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
    if kind == "TRANSPOSE":
        return k.transpose(x, to.const(m, ins[1]).tolist()), want
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


# ---- (b) single-operator models run by TFLite Micro -------------------------------------------------------

BO = to.fb.BuiltinOptions
PADDING = {"SAME": to.fb.Padding.SAME, "VALID": to.fb.Padding.VALID}
ACTIVATIONS = st.sampled_from([0, 1, 3])  # none, ReLU, ReLU6 (fused)


def _q(shape, scale, zp=0, data=None, dim=0) -> to.Tensor:
    dtype = np.int8 if data is None else data.dtype
    return to.Tensor(tuple(shape), dtype, scale, zp, data, dim)


@st.composite
def conv_cases(draw, depthwise: bool):
    c = draw(st.integers(1, 6))
    mult = draw(st.integers(1, 3)) if depthwise else 1
    group = 1 if depthwise else draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    out_c = c * mult if depthwise else group * draw(st.integers(1, 4))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(
        c=c, mult=mult, group=group, out_c=out_c, k=(k_h, k_w),
        hw=(draw(st.integers(k_h, 11)), draw(st.integers(k_w, 11))),
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dil=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        padding=draw(st.sampled_from(["SAME", "VALID"])),
        act=draw(ACTIVATIONS), seed=draw(st.integers(0, 2**31)),
        zp_in=draw(st.integers(-128, 127)), zp_out=draw(st.integers(-128, 127)),
        s_in=draw(st.floats(0.002, 0.2)), out_gain=draw(st.floats(0.3, 3.0)),
    )


def _conv_model(case, depthwise: bool):
    rng = np.random.default_rng(case["seed"])
    c, out_c, (k_h, k_w), (h, w) = case["c"], case["out_c"], case["k"], case["hw"]
    cin_g = 1 if depthwise else c // case["group"]
    s_w = rng.uniform(0.002, 0.05, out_c).astype(np.float32)
    s_out = float(case["s_in"] * s_w.mean() * np.sqrt(cin_g * k_h * k_w) * 64 * 64 / 60 * case["out_gain"])
    weights = rng.integers(-127, 128, size=(out_c, cin_g, k_h, k_w), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=out_c).astype(np.int32)
    s_bias = (np.float32(case["s_in"]) * s_w).astype(np.float32)
    eff = [(k - 1) * d + 1 for k, d in zip(case["k"], case["dil"])]
    if case["padding"] == "VALID" and (h < eff[0] or w < eff[1]):
        h, w = max(h, eff[0]), max(w, eff[1])
    oh = to.same_padding(h, k_h, case["stride"][0], case["dil"][0], PADDING[case["padding"]])[0]
    ow = to.same_padding(w, k_w, case["stride"][1], case["dil"][1], PADDING[case["padding"]])[0]
    if depthwise:
        filt = _q((1, k_h, k_w, out_c), s_w, [0] * out_c, weights[:, 0].transpose(1, 2, 0), dim=3)
        opts = to.options("DepthwiseConv2DOptionsT", padding=PADDING[case["padding"]], strideH=case["stride"][0],
                          strideW=case["stride"][1], depthMultiplier=case["mult"], fusedActivationFunction=case["act"],
                          dilationHFactor=case["dil"][0], dilationWFactor=case["dil"][1])
        op, ot = "DEPTHWISE_CONV_2D", BO.DepthwiseConv2DOptions
    else:
        filt = _q((out_c, k_h, k_w, cin_g), s_w, [0] * out_c, weights.transpose(0, 2, 3, 1))
        opts = to.options("Conv2DOptionsT", padding=PADDING[case["padding"]], strideH=case["stride"][0],
                          strideW=case["stride"][1], fusedActivationFunction=case["act"],
                          dilationHFactor=case["dil"][0], dilationWFactor=case["dil"][1])
        op, ot = "CONV_2D", BO.Conv2DOptions
    model = to.OpModel(op, [_q((1, h, w, c), case["s_in"], case["zp_in"]), filt,
                            _q((out_c,), s_bias, [0] * out_c, bias)],
                       [_q((1, oh, ow, out_c), s_out, case["zp_out"])], ot, opts)
    x = rng.integers(-128, 128, size=(1, h, w, c), dtype=np.int8)
    q = quant.conv_quant(case["s_in"], case["zp_in"], s_w, s_out, case["zp_out"], out_c, to.ACT[case["act"]])
    _, pt, pb = to.same_padding(h, k_h, case["stride"][0], case["dil"][0], PADDING[case["padding"]])
    _, pl, pr = to.same_padding(w, k_w, case["stride"][1], case["dil"][1], PADDING[case["padding"]])
    call = dict(stride=case["stride"], dil=case["dil"], pads=(pt, pl, pb, pr), group=c if depthwise else case["group"])
    return model, x, weights, bias, q, call


def _check_conv(k: Kernels, case, depthwise: bool) -> None:
    model, x, weights, bias, q, call = _conv_model(case, depthwise)
    want = nchw(model.run(x))
    xc = nchw(x)
    whole, _ = k.conv(xc, weights, bias, q, **call)
    assert np.array_equal(whole, want)
    # output-channel slices from the whole input
    out_c, in_c = weights.shape[0], xc.shape[0]
    cut = max(1, out_c // 2)
    for oc in ((0, cut), (cut, out_c)):
        if oc[0] < oc[1]:
            part, _ = k.conv(xc, weights, bias, q, oc=oc, **call)
            assert np.array_equal(part, whole[oc[0]:oc[1]])
    # input-channel accumulation: INIT on the first slice, plain accumulation, ACT on the last; then the
    # same sums finished separately by requant_acc (in place)
    bounds = sorted({0, in_c // 3, (2 * in_c) // 3, in_c})
    slices = list(zip(bounds[:-1], bounds[1:]))
    acc = np.full((out_c,) + whole.shape[1:], 0x7A7A7A7A, dtype=np.int32)
    for i, ic in enumerate(slices):
        last = i == len(slices) - 1
        mode = (INIT if i == 0 else 0) | (ACT if last else 0)
        out, acc = k.conv(xc[ic[0]:ic[1]], weights, bias, q, ic=ic, mode=mode, acc=acc, **call)
    assert np.array_equal(out, whole)
    acc = np.full((out_c,) + whole.shape[1:], 0x7A7A7A7A, dtype=np.int32)
    for i, ic in enumerate(slices):
        _, acc = k.conv(xc[ic[0]:ic[1]], weights, bias, q, ic=ic, mode=INIT if i == 0 else 0, acc=acc, **call)
    assert np.array_equal(k.requant_acc(acc, q, 0, out_c), whole)
    half = out_c // 2
    assert np.array_equal(k.requant_acc(acc[half:], q, half, out_c, in_place=False), whole[half:])


@FEW
@given(case=conv_cases(depthwise=False))
def test_conv_single_op(k: Kernels, case) -> None:
    _check_conv(k, case, depthwise=False)


@FEW
@given(case=conv_cases(depthwise=True))
def test_depthwise_single_op(k: Kernels, case) -> None:
    _check_conv(k, case, depthwise=True)


@FEW
@given(m=st.integers(1, 3), n=st.integers(1, 20), kk=st.integers(1, 40), per_channel=st.booleans(), act=ACTIVATIONS,
       zp_in=st.integers(-128, 127), zp_out=st.integers(-128, 127), s_in=st.floats(0.002, 0.2),
       gain=st.floats(0.3, 3.0), seed=st.integers(0, 2**31))
def test_fully_connected_single_op(k: Kernels, m, n, kk, per_channel, act, zp_in, zp_out, s_in, gain, seed) -> None:
    rng = np.random.default_rng(seed)
    s_w = rng.uniform(0.002, 0.05, n if per_channel else 1).astype(np.float32)
    s_out = float(s_in * s_w.mean() * np.sqrt(kk) * 64 * 64 / 60 * gain)
    w = rng.integers(-127, 128, size=(n, kk), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=n).astype(np.int32)
    s_bias = np.broadcast_to(np.float32(s_in) * s_w, (n,)).astype(np.float32)
    model = to.OpModel("FULLY_CONNECTED", [_q((m, kk), s_in, zp_in), _q((n, kk), s_w, [0] * s_w.size, w),
                                           _q((n,), s_bias if per_channel else s_bias[:1], [0] * (n if per_channel else 1), bias)],
                       [_q((m, n), s_out, zp_out)], BO.FullyConnectedOptions,
                       to.options("FullyConnectedOptionsT", fusedActivationFunction=act))
    x = rng.integers(-128, 128, size=(m, kk), dtype=np.int8)
    want = model.run(x)
    q = quant.fully_connected_quant(s_in, zp_in, s_w, s_out, zp_out, n, to.ACT[act])
    whole, _ = k.fully_connected(x, w, bias, q)
    assert np.array_equal(whole, want)
    if m == 1:  # slices: output columns, and input accumulation finished by requant_acc
        cut = n // 2
        part, _ = k.fully_connected(x, w, bias, q, n=(cut, n))
        assert np.array_equal(part, whole[:, cut:])
        acc = None
        bounds = sorted({0, kk // 2, kk})
        for i, (k0, k1) in enumerate(zip(bounds[:-1], bounds[1:])):
            _, acc = k.fully_connected(x[:, k0:k1], w, bias, q, k=(k0, k1), mode=INIT if i == 0 else 0, acc=acc)
        assert np.array_equal(k.requant_acc(acc.reshape(n, 1), q, 0, n).reshape(1, n), whole)


@FEW
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 7)), s1=st.floats(0.005, 0.5),
       s2=st.floats(0.005, 0.5), s_out=st.floats(0.005, 1.0), z=st.tuples(*[st.integers(-128, 127)] * 3),
       act=ACTIVATIONS, seed=st.integers(0, 2**31))
def test_add_single_op(k: Kernels, shape, s1, s2, s_out, z, act, seed) -> None:
    rng = np.random.default_rng(seed)
    shape = (1,) + shape
    model = to.OpModel("ADD", [_q(shape, s1, z[0]), _q(shape, s2, z[1])], [_q(shape, s_out, z[2])], BO.AddOptions,
                       to.options("AddOptionsT", fusedActivationFunction=act))
    a, b = (rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(2))
    q = quant.add_quant(s1, z[0], s2, z[1], s_out, z[2], to.ACT[act])
    assert np.array_equal(k.add(a, b, q), model.run(a, b))


@FEW
@given(kind=st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]), c=st.integers(1, 4), hw=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["SAME", "VALID"]), act=ACTIVATIONS, zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_pool_single_op(k: Kernels, kind, c, hw, kernel, stride, padding, act, zp, seed) -> None:
    rng = np.random.default_rng(seed)
    h, w = max(hw[0], kernel[0]), max(hw[1], kernel[1])
    oh, pt, pb = to.same_padding(h, kernel[0], stride[0], 1, PADDING[padding])
    ow, pl, pr = to.same_padding(w, kernel[1], stride[1], 1, PADDING[padding])
    model = to.OpModel(kind, [_q((1, h, w, c), 0.05, zp)], [_q((1, oh, ow, c), 0.05, zp)], BO.Pool2DOptions,
                       to.options("Pool2DOptionsT", padding=PADDING[padding], strideH=stride[0], strideW=stride[1],
                                  filterHeight=kernel[0], filterWidth=kernel[1], fusedActivationFunction=act))
    x = rng.integers(-128, 128, size=(1, h, w, c), dtype=np.int8)
    act_range = quant.pool_quant(0.05, zp, 0.05, zp, to.ACT[act])
    name = "average" if kind.startswith("AVERAGE") else "max"
    got = k.pool(name, nchw(x), kernel, stride, (pt, pl, pb, pr), act_range)
    assert np.array_equal(got, nchw(model.run(x)))
    if c > 1:
        assert np.array_equal(k.pool(name, nchw(x)[1:], kernel, stride, (pt, pl, pb, pr), act_range, c=(1, c)), got[1:])


@FEW
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4), data=st.data(), same=st.booleans(),
       s_in=st.floats(0.005, 0.5), s_ratio=st.floats(0.2, 5.0), z=st.tuples(st.integers(-128, 127), st.integers(-128, 127)),
       keep=st.booleans(), seed=st.integers(0, 2**31))
def test_mean_single_op(k: Kernels, shape, data, same, s_in, s_ratio, z, keep, seed) -> None:
    rng = np.random.default_rng(seed)
    first = data.draw(st.integers(0, len(shape) - 1))
    last = data.draw(st.integers(first, len(shape) - 1))
    axes = list(range(first, last + 1))
    s_out, zp_out = (s_in, z[0]) if same else (s_in * s_ratio, z[1])
    out_shape = [1 if a in axes else d for a, d in enumerate(shape)] if keep else [d for a, d in enumerate(shape) if a not in axes]
    model = to.OpModel("MEAN", [_q(shape, s_in, z[0]), to.Tensor((len(axes),), np.int32, data=np.array(axes, np.int32))],
                       [_q(out_shape or [1], s_out, zp_out)], BO.ReducerOptions, to.options("ReducerOptionsT", keepDims=keep))
    x = rng.integers(-128, 128, size=shape, dtype=np.int8)
    outer = int(np.prod(shape[:first]))
    reduce = int(np.prod(shape[first:last + 1]))
    q = quant.mean_quant(s_in, z[0], s_out, zp_out, reduce)
    got = k.mean(x, outer, reduce, x.size // outer // reduce, q)
    assert np.array_equal(got, model.run(x).reshape(-1))


@FEW
@given(outer=st.integers(1, 3), n=st.integers(1, 40), s_in=st.floats(0.001, 1.0), beta=st.sampled_from([1.0, 0.5, 2.0]),
       zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_softmax_single_op(k: Kernels, outer, n, s_in, beta, zp, seed) -> None:
    rng = np.random.default_rng(seed)
    model = to.OpModel("SOFTMAX", [_q((outer, n), s_in, zp)], [_q((outer, n), 1.0 / 256, -128)], BO.SoftmaxOptions,
                       to.options("SoftmaxOptionsT", beta=beta))
    x = rng.integers(-128, 128, size=(outer, n), dtype=np.int8)
    got = k.softmax(x, quant.softmax_quant(s_in, beta), outer, n, 1)
    assert np.array_equal(got, model.run(x))
    # softmax over a middle axis (NCHW channels) equals the last-axis softmax of the transposed tensor
    got_t = k.softmax(np.ascontiguousarray(x.T), quant.softmax_quant(s_in, beta), 1, n, outer)
    assert np.array_equal(got_t.T, got)


@FEW
@given(s_in=st.floats(0.001, 0.5), zp=st.integers(-128, 127))
def test_logistic_single_op(k: Kernels, s_in, zp) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    model = to.OpModel("LOGISTIC", [_q(x.shape, s_in, zp)], [_q(x.shape, 1.0 / 256, -128)])
    assert np.array_equal(k.logistic(x, quant.logistic_quant(s_in, zp)), model.run(x))


@FEW
@given(s_in=st.floats(0.005, 0.5), zp_in=st.integers(-128, 127), s_ratio=st.floats(0.2, 2.0), zp_out=st.integers(-128, 127))
def test_hard_swish_single_op(k: Kernels, s_in, zp_in, s_ratio, zp_out) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    s_out = s_in * s_ratio
    model = to.OpModel("HARD_SWISH", [_q(x.shape, s_in, zp_in)], [_q(x.shape, s_out, zp_out)])
    assert np.array_equal(k.hard_swish(x, quant.hard_swish_quant(s_in, zp_in, s_out, zp_out)), model.run(x))


@FEW
@given(s_in=st.floats(0.001, 1.0), zp_in=st.integers(-128, 127), s_out=st.floats(0.001, 1.0), zp_out=st.integers(-128, 127))
def test_requantize_single_op(k: Kernels, s_in, zp_in, s_out, zp_out) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    model = to.OpModel("QUANTIZE", [_q(x.shape, s_in, zp_in)], [_q(x.shape, s_out, zp_out)])
    assert np.array_equal(k.requantize(x, quant.requantize_quant(s_in, zp_in, s_out, zp_out)), model.run(x))


@FEW
@given(scale=st.floats(0.001, 1.0), zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_quantize_dequantize_single_op(k: Kernels, scale, zp, seed) -> None:
    rng = np.random.default_rng(seed)
    # values at and around the rounding midpoints, plus random ones and out-of-range ones
    mid = ((np.arange(-140, 140) + 0.5) * np.float32(scale)).astype(np.float32)
    x = np.concatenate([mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf)),
                        rng.uniform(-200 * scale, 200 * scale, 500).astype(np.float32)]).reshape(1, -1)
    q = quant.boundary_quant(scale, zp)
    quantize = to.OpModel("QUANTIZE", [to.Tensor(x.shape, np.float32)], [_q(x.shape, scale, zp)])
    assert np.array_equal(k.quantize(x, q), quantize.run(x))
    xi = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    dequantize = to.OpModel("DEQUANTIZE", [_q(xi.shape, scale, zp)], [to.Tensor(xi.shape, np.float32)])
    assert np.array_equal(k.dequantize(xi, q).view(np.int32), dequantize.run(xi).view(np.int32))


@FEW
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)), pads=st.lists(st.integers(0, 3), min_size=6, max_size=6),
       zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_pad_single_op(k: Kernels, shape, pads, zp, seed) -> None:
    rng = np.random.default_rng(seed)
    h, w, c = shape
    paddings = np.array([[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [pads[4], pads[5]]], dtype=np.int32)
    out_shape = (1, h + pads[0] + pads[1], w + pads[2] + pads[3], c + pads[4] + pads[5])
    model = to.OpModel("PAD", [_q((1, h, w, c), 0.1, zp), to.Tensor((4, 2), np.int32, data=paddings)],
                       [_q(out_shape, 0.1, zp)], BO.PadOptions, to.options("PadOptionsT"))
    x = rng.integers(-128, 128, size=(1, h, w, c), dtype=np.int8)
    p = paddings[[0, 3, 1, 2]]
    got = k.pad(x.transpose(0, 3, 1, 2), p[:, 0].tolist(), p[:, 1].tolist(), zp)
    assert np.array_equal(got, model.run(x).transpose(0, 3, 1, 2))


@FEW
@given(shape=st.lists(st.integers(1, 5), min_size=4, max_size=4), perm=st.permutations(range(4)), axis=st.integers(0, 3),
       seed=st.integers(0, 2**31))
def test_byte_movers(k: Kernels, shape, perm, axis, seed) -> None:
    """transpose, concat and copy against numpy (the TFLite TRANSPOSE of te_mcunet_vww is checked above)"""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=shape, dtype=np.int8)
    assert np.array_equal(k.transpose(x, perm), x.transpose(perm))
    y = rng.integers(-128, 128, size=[d + (i == axis) for i, d in enumerate(shape)], dtype=np.int8)
    assert np.array_equal(k.concat([x, y, x], axis), np.concatenate([x, y, x], axis))
    assert np.array_equal(k.copy(x), x)


def test_kernels_under_address_sanitizer() -> None:
    """The tests above once more with the library built with AddressSanitizer too (loaded into Python with
    LD_PRELOAD, hence a subprocess): no out-of-bounds access in any kernel, sliced calls included."""
    if os.environ.get("PEXCP_S8_ASAN"):
        pytest.skip("already running under AddressSanitizer")
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip("gcc has no AddressSanitizer runtime")
    env = dict(os.environ, PEXCP_S8_ASAN="1", LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__, "-k", "not address_sanitizer"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
