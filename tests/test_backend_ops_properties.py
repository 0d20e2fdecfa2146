"""Property tests of the new kernels against onnxruntime: random shapes and attributes (hypothesis) for
Slice, Resize, Gather, ConvTranspose, DepthToSpace / SpaceToDepth and the reductions. Each example is one
model with several such ops (one compile per example), planned, compiled with sanitizers and compared."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto

from backend_helpers import Net, check_net, needs_cc

pytestmark = [needs_cc, pytest.mark.slow]
SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPS_PER_MODEL = 4
shapes = st.tuples(st.just(1), st.integers(1, 5), st.integers(1, 6), st.integers(1, 7))


def _check(n: Net) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_net(n, Path(tmp), runs=1)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_slice_property(shape: tuple[int, ...], data: st.DataObject) -> None:
    n = Net("slice_prop")
    x = n.input(*shape)
    for _ in range(OPS_PER_MODEL):
        axes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True))
        starts, ends, steps = [], [], []
        for a in axes:
            d = shape[a]
            step = data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3]))
            start = data.draw(st.integers(-d - 2, d + 2))
            end = data.draw(st.sampled_from([2**62, -(2**62)]) | st.integers(-d - 2, d + 2))
            if not len(range(*slice(start, end, step).indices(d))):
                start, end = (0, d) if step > 0 else (d - 1, -(2**62))
            starts.append(start), ends.append(end), steps.append(step)
        negative = data.draw(st.booleans())
        axes = [a - 4 if negative else a for a in axes]
        c = [n.const(np.array(v)) for v in (starts, ends, axes, steps)]
        n.out(n.op("Slice", [x, *c]))
    _check(n)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_resize_property(shape: tuple[int, ...], data: st.DataObject) -> None:
    n = Net("resize_prop")
    x = n.input(*shape)
    empty = n.const(np.zeros(0))
    for _ in range(OPS_PER_MODEL):
        mode = data.draw(st.sampled_from(["nearest", "linear"]))
        coords = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]
        coords += ["tf_half_pixel_for_nn"] if mode == "nearest" else []
        attrs = {"mode": mode, "coordinate_transformation_mode": data.draw(st.sampled_from(coords))}
        if mode == "nearest":
            attrs["nearest_mode"] = data.draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]))
        if data.draw(st.booleans()):
            sizes = [1, shape[1], data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))]
            n.out(n.op("Resize", [x, empty, "", n.const(np.array(sizes))], **attrs))
        else:
            scale = st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
            scales = [1.0, 1.0, data.draw(scale), data.draw(scale)]
            if all(int(d * s) >= 1 for d, s in zip(shape, scales)):  # ONNX floors the output size
                n.out(n.op("Resize", [x, empty, n.const(np.array(scales))], **attrs))
    if not n.outputs:
        n.out(n.op("Resize", [x, empty, n.const(np.array([1.0, 1.0, 2.0, 2.0]))]))
    _check(n)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_gather_property(shape: tuple[int, ...], data: st.DataObject) -> None:
    n = Net("gather_prop")
    x = n.input(*shape)
    for _ in range(OPS_PER_MODEL):
        axis = data.draw(st.integers(-4, 3))
        d = shape[axis]
        idx_shape = data.draw(st.lists(st.integers(1, 3), max_size=2))
        idx = data.draw(st.lists(st.integers(-d, d - 1), min_size=int(np.prod(idx_shape)), max_size=int(np.prod(idx_shape))))
        n.out(n.op("Gather", [x, n.const(np.array(idx, dtype=np.int64).reshape(idx_shape))], axis=axis))
    _check(n)


@SETTINGS
@given(data=st.data())
def test_conv_transpose_property(data: st.DataObject) -> None:
    n = Net("convt_prop", seed=data.draw(st.integers(0, 99)))
    group = data.draw(st.sampled_from([1, 1, 2, 3]))
    c_in = group * data.draw(st.integers(1, 2))
    x = n.input(1, c_in, data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))
    h, w = n.inputs[0].type.tensor_type.shape.dim[2].dim_value, n.inputs[0].type.tensor_type.shape.dim[3].dim_value
    for _ in range(OPS_PER_MODEL):
        k = [data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))]
        s = [data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))]
        dil = [data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))]
        pads = [data.draw(st.integers(0, k[i % 2] - 1)) for i in range(4)]
        out_pad = [data.draw(st.integers(0, s[i] - 1)) for i in range(2)]  # onnxruntime: below the stride
        size = [s[i] * (d - 1) + out_pad[i] + (k[i] - 1) * dil[i] + 1 - pads[i] - pads[i + 2] for i, d in enumerate((h, w))]
        if min(size) < 1:
            continue
        c_out = group * data.draw(st.integers(1, 2))
        y = n.op("ConvTranspose", [x, n.weight(c_in, c_out // group, *k), n.weight(c_out)], group=group, strides=s,
                 dilations=dil, pads=pads, output_padding=out_pad)
        n.out(n.op("Relu", [y]) if data.draw(st.booleans()) else y)
    if not n.outputs:
        n.out(n.op("ConvTranspose", [x, n.weight(c_in, 1, 2, 2)]))
    _check(n)


@SETTINGS
@given(data=st.data())
def test_depth_to_space_property(data: st.DataObject) -> None:
    n = Net("d2s_prop")
    b = data.draw(st.integers(1, 3))
    x = n.input(1, b * b * data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    y = n.input(1, data.draw(st.integers(1, 3)), b * data.draw(st.integers(1, 3)), b * data.draw(st.integers(1, 3)))
    n.out(n.op("DepthToSpace", [x], blocksize=b, mode=data.draw(st.sampled_from(["DCR", "CRD"]))))
    n.out(n.op("SpaceToDepth", [y], blocksize=b))
    _check(n)


@SETTINGS
@given(shape=shapes, data=st.data())
def test_reductions_property(shape: tuple[int, ...], data: st.DataObject) -> None:
    n = Net("reduce_prop")
    x = n.input(*shape)
    for _ in range(OPS_PER_MODEL):
        kind = data.draw(st.sampled_from(["ReduceMax", "ReduceSum", "ReduceMean", "ArgMax", "ArgMin", "LogSoftmax"]))
        if kind.startswith("Reduce"):
            first = data.draw(st.integers(0, 3))
            axes = list(range(first, data.draw(st.integers(first + 1, 4))))  # one contiguous run
            keep = data.draw(st.integers(0, 1))
            inputs = [x, n.const(np.array(axes))] if kind == "ReduceSum" else [x]
            attrs = {} if kind == "ReduceSum" else {"axes": axes}
            n.out(n.op(kind, inputs, keepdims=keep, **attrs))
        elif kind.startswith("Arg"):
            attrs = {"axis": data.draw(st.integers(-4, 3)), "keepdims": data.draw(st.integers(0, 1)),
                     "select_last_index": data.draw(st.integers(0, 1))}
            n.out(n.op(kind, [x], **attrs), dtype=TensorProto.INT64)
        else:
            n.out(n.op(kind, [x], axis=data.draw(st.integers(-4, 3))))
    _check(n)
