"""Small synthetic ONNX models for tests: chains and DAGs, float32 or int8 QDQ (tf2onnx style).

`GraphBuilder` tracks every value's shape (NCHW) so weights get the right shapes; each method adds one
layer and returns the name of the stored activation it produces. In QDQ mode (`qdq=True`) activations
are int8 tensors produced by QuantizeLinear; every compute layer reads them through a (shared)
DequantizeLinear, computes in float, optionally applies an activation, and quantizes its result; weights
are int8 initializers behind per-channel DequantizeLinear nodes (axis 0). View-like layers (Reshape,
Transpose, Flatten, ...) work on the int8 tensor directly, as tf2onnx emits them.

Ready-made models: `chain_model`, `mbconv_chain`, `random_dag_model`, `dynamic_input_model`; write one
to disk with `save`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
ACTIVATIONS = ("relu", "relu6", None)


@dataclass
class _Value:
    shape: tuple[int, ...]
    dtype: int  # TensorProto element type


class GraphBuilder:
    """Build an ONNX graph layer by layer. Names are deterministic: `<kind>_<counter>`."""

    def __init__(self, name: str = "synthetic", qdq: bool = False, seed: int = 0, opset: int = OPSET):
        self.name = name
        self.qdq = qdq
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[str] = []
        self.values: dict[str, _Value] = {}
        self._count = 0
        self._dequantized: dict[str, str] = {}  # int8 activation -> its shared DequantizeLinear output
        self.value_info: list[onnx.ValueInfoProto] = []  # declared shapes (of opaque ops' outputs)
        self.dynamic = False  # an input has symbolic dims: graph outputs then declare only their rank
        self.act_dtype = TensorProto.INT8 if qdq else TensorProto.FLOAT

    # ---- bookkeeping ------------------------------------------------------------------------------------

    def fresh(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def shape(self, x: str) -> tuple[int, ...]:
        return self.values[x].shape

    def channels(self, x: str) -> int:
        return self.shape(x)[1]

    def const(self, array: np.ndarray, kind: str = "const") -> str:
        name = self.fresh(kind)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], kind: str | None = None, domain: str = "", **attrs) -> str:
        """Add a node with one output; returns the output name (the node is named after its kind)."""
        name = self.fresh(kind or op_type.lower())
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, domain=domain, **attrs))
        return out

    def declare(self, name: str, shape: Sequence[int], dtype: int | None = None) -> str:
        """Record the shape of value `name` (made by a raw `node` call); returns the name."""
        self.values[name] = _Value(tuple(int(d) for d in shape), self.act_dtype if dtype is None else dtype)
        return name

    # ---- QDQ plumbing -----------------------------------------------------------------------------------

    def _scale(self, value: float = 0.05) -> tuple[str, str]:
        return self.const(np.array(value, np.float32), "scale"), self.const(np.array(0, np.int8), "zero_point")

    def float_in(self, x: str) -> str:
        """The float view of activation x: x itself, or its DequantizeLinear in QDQ mode (one per tensor)."""
        if not self.qdq:
            return x
        if x not in self._dequantized:
            self._dequantized[x] = self.node("DequantizeLinear", [x, *self._scale()], kind="dequant")
        return self._dequantized[x]

    def store(self, y: str, shape: Sequence[int]) -> str:
        """Make float result y a stored activation: quantized in QDQ mode."""
        if self.qdq:
            y = self.node("QuantizeLinear", [y, *self._scale()], kind="quant")
        return self.declare(y, shape)

    def weight(self, array: np.ndarray, kind: str = "W") -> str:
        """A float weight, or in QDQ mode an int8 weight with a per-channel (axis 0) DequantizeLinear."""
        if not self.qdq:
            return self.const(array.astype(np.float32), kind)
        scale = np.maximum(np.abs(array).reshape(array.shape[0], -1).max(axis=1), 1e-3) / 127
        q = np.clip(np.round(array / scale.reshape(-1, *[1] * (array.ndim - 1))), -127, 127).astype(np.int8)
        zero = np.zeros(array.shape[0], np.int8)
        inputs = [self.const(q, kind), self.const(scale.astype(np.float32), "scale"), self.const(zero, "zero_point")]
        return self.node("DequantizeLinear", inputs, kind="wdequant", axis=0)

    def bias(self, n: int) -> str:
        b = self.rng.normal(0, 0.1, n)
        if not self.qdq:
            return self.const(b.astype(np.float32), "B")
        scale = np.full(n, 1e-3, np.float32)
        inputs = [self.const(np.round(b / 1e-3).astype(np.int32), "B"), self.const(scale, "scale"),
                  self.const(np.zeros(n, np.int32), "zero_point")]
        return self.node("DequantizeLinear", inputs, kind="bdequant", axis=0)

    def _activate(self, y: str, act: str | None) -> str:
        if act == "relu":
            return self.node("Relu", [y])
        if act == "relu6":
            return self.node("Clip", [y, self.const(np.array(0, np.float32)), self.const(np.array(6, np.float32))])
        assert act is None, act
        return y

    # ---- inputs and outputs -----------------------------------------------------------------------------

    def input(self, shape: Sequence[int], name: str | None = None, dynamic: Mapping[int, str] | None = None) -> str:
        """A model input; `dynamic` maps axes to symbolic dim names (e.g. {0: "N"})."""
        name = name or self.fresh("input")
        dims: list[int | str] = [(dynamic or {}).get(i, d) for i, d in enumerate(shape)]
        self.dynamic |= bool(dynamic)
        self.inputs.append(helper.make_tensor_value_info(name, self.act_dtype, dims))
        return self.declare(name, shape)

    def output(self, *xs: str) -> None:
        self.outputs.extend(xs)

    # ---- layers -----------------------------------------------------------------------------------------

    def conv(
        self,
        x: str,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        pads: Sequence[int] | None = None,
        group: int = 1,
        bias: bool = True,
        act: str | None = None,
    ) -> str:
        """2-D convolution; pads default to `kernel // 2` on every side."""
        n, c, h, w = self.shape(x)
        pads = list(pads) if pads is not None else [kernel // 2] * 4
        wt = self.rng.normal(0, 0.3, (out_channels, c // group, kernel, kernel))
        inputs = [self.float_in(x), self.weight(wt)] + ([self.bias(out_channels)] if bias else [])
        y = self.node("Conv", inputs, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads, group=group)
        oh = (h + pads[0] + pads[2] - kernel) // stride + 1
        ow = (w + pads[1] + pads[3] - kernel) // stride + 1
        return self.store(self._activate(y, act), (n, out_channels, oh, ow))

    def depthwise(self, x: str, kernel: int = 3, stride: int = 1, pads: Sequence[int] | None = None,
                  act: str | None = None) -> str:
        c = self.channels(x)
        return self.conv(x, c, kernel, stride, pads, group=c, act=act)

    def batchnorm(self, x: str) -> str:
        c = self.channels(x)
        gamma, beta = self.rng.uniform(0.5, 1.5, c), self.rng.normal(0, 0.1, c)
        mean, var = self.rng.normal(0, 0.1, c), self.rng.uniform(0.5, 1.5, c)
        params = [self.const(p.astype(np.float32), "bn") for p in (gamma, beta, mean, var)]
        y = self.node("BatchNormalization", [self.float_in(x), *params], epsilon=1e-5)
        return self.store(y, self.shape(x))

    def unary(self, x: str, act: str) -> str:
        """A standalone activation layer ("relu" or "relu6")."""
        return self.store(self._activate(self.float_in(x), act), self.shape(x))

    def relu(self, x: str) -> str:
        return self.unary(x, "relu")

    def clip(self, x: str) -> str:
        return self.unary(x, "relu6")

    def add(self, a: str, b: str, act: str | None = None) -> str:
        assert self.shape(a) == self.shape(b), (self.shape(a), self.shape(b))
        y = self.node("Add", [self.float_in(a), self.float_in(b)])
        return self.store(self._activate(y, act), self.shape(a))

    def concat(self, xs: Sequence[str], axis: int = 1) -> str:
        shape = list(self.shape(xs[0]))
        shape[axis] = sum(self.shape(x)[axis] for x in xs)
        y = self.node("Concat", [self.float_in(x) for x in xs], axis=axis)
        return self.store(y, shape)

    def maxpool(self, x: str, kernel: int = 2, stride: int = 2, pads: Sequence[int] = (0, 0, 0, 0)) -> str:
        return self._pool("MaxPool", x, kernel, stride, pads, {})

    def avgpool(self, x: str, kernel: int = 2, stride: int = 2, pads: Sequence[int] = (0, 0, 0, 0),
                count_include_pad: int = 0) -> str:
        return self._pool("AveragePool", x, kernel, stride, pads, {"count_include_pad": count_include_pad})

    def _pool(self, op: str, x: str, kernel: int, stride: int, pads: Sequence[int], extra: dict) -> str:
        n, c, h, w = self.shape(x)
        y = self.node(op, [self.float_in(x)], kernel_shape=[kernel, kernel], strides=[stride, stride],
                      pads=list(pads), **extra)
        oh = (h + pads[0] + pads[2] - kernel) // stride + 1
        ow = (w + pads[1] + pads[3] - kernel) // stride + 1
        return self.store(y, (n, c, oh, ow))

    def global_avgpool(self, x: str) -> str:
        n, c = self.shape(x)[:2]
        return self.store(self.node("GlobalAveragePool", [self.float_in(x)]), (n, c, 1, 1))

    def gemm(self, x: str, out_features: int, act: str | None = None) -> str:
        n, k = self.shape(x)
        wt = self.rng.normal(0, 0.3, (out_features, k))
        y = self.node("Gemm", [self.float_in(x), self.weight(wt), self.bias(out_features)], transB=1)
        return self.store(self._activate(y, act), (n, out_features))

    def softmax(self, x: str) -> str:
        return self.store(self.node("Softmax", [self.float_in(x)], axis=-1), self.shape(x))

    def pad(self, x: str, pads: Sequence[int], value: float = 0.0, mode: str = "constant") -> str:
        """Pad with ONNX `pads` (begin of every axis, then end of every axis); DQ -> Pad -> Q in QDQ mode,
        as tf2onnx emits it."""
        shape = [d + pads[i] + pads[len(pads) // 2 + i] for i, d in enumerate(self.shape(x))]
        inputs = [self.float_in(x), self.const(np.array(pads, np.int64), "pads"),
                  self.const(np.array(value, np.float32), "pad_value")]
        return self.store(self.node("Pad", inputs, mode=mode), shape)

    def spatial_pad(self, x: str, top: int, left: int, bottom: int, right: int, value: float = 0.0) -> str:
        return self.pad(x, [0, 0, top, left, 0, 0, bottom, right], value)

    # layers that only relabel stored bytes (or permute them): on the int8 tensor itself in QDQ mode

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        y = self.node("Reshape", [x, self.const(np.array(shape, np.int64), "shape")])
        return self.declare(y, shape)

    def flatten(self, x: str) -> str:
        shape = self.shape(x)
        return self.declare(self.node("Flatten", [x], axis=1), (shape[0], int(np.prod(shape[1:]))))

    def transpose(self, x: str, perm: Sequence[int]) -> str:
        shape = self.shape(x)
        return self.declare(self.node("Transpose", [x], perm=list(perm)), [shape[p] for p in perm])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        shape = [d for i, d in enumerate(self.shape(x)) if i not in axes]
        return self.declare(self.node("Squeeze", [x, self.const(np.array(axes, np.int64), "axes")]), shape)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        shape = list(self.shape(x))
        for a in sorted(axes):
            shape.insert(a, 1)
        return self.declare(self.node("Unsqueeze", [x, self.const(np.array(axes, np.int64), "axes")]), shape)

    def identity(self, x: str) -> str:
        return self.declare(self.node("Identity", [x]), self.shape(x))

    def opaque(self, xs: Sequence[str], out_shape: Sequence[int], op_type: str = "Mystery",
               domain: str = "com.example", declare_shape: bool = True) -> str:
        """A custom-domain operator ONNX knows nothing about. Its output shape is declared in value_info
        (unless declare_shape=False, which leaves it uninferable)."""
        y = self.node(op_type, list(xs), domain=domain)
        self.declare(y, out_shape)
        if declare_shape:
            self.value_info.append(helper.make_tensor_value_info(y, self.act_dtype, list(out_shape)))
        return y

    # ---- result -----------------------------------------------------------------------------------------

    def build(self) -> onnx.ModelProto:
        # with dynamic inputs, outputs keep only their rank (ONNX requires a shape field on graph outputs)
        outputs = [
            helper.make_tensor_value_info(
                o, self.values[o].dtype, [None] * len(self.shape(o)) if self.dynamic else list(self.shape(o))
            )
            for o in self.outputs
        ]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outputs, self.initializers,
                                  value_info=self.value_info)
        opsets = [helper.make_opsetid("", self.opset)]
        domains = {n.domain for n in self.nodes if n.domain}
        opsets += [helper.make_opsetid(d, 1) for d in sorted(domains)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="pexcp-tests")
        model.ir_version = 8
        return model


def save(model: onnx.ModelProto, directory: Path, name: str | None = None) -> Path:
    """Write `model` to `directory/<name or graph name>.onnx` and return the path."""
    path = Path(directory) / f"{name or model.graph.name}.onnx"
    onnx.save(model, str(path))
    return path


# ---- ready-made models ------------------------------------------------------------------------------------


def chain_model(
    channels: Sequence[int] = (4, 8, 4),
    hw: int = 8,
    qdq: bool = False,
    act: str | None = "relu",
    in_channels: int = 3,
    name: str = "chain",
    seed: int = 0,
) -> onnx.ModelProto:
    """input -> Conv3x3(+act) for each entry of `channels` -> output."""
    b = GraphBuilder(name, qdq=qdq, seed=seed)
    x = b.input((1, in_channels, hw, hw))
    for c in channels:
        x = b.conv(x, c, act=act)
    b.output(x)
    return b.build()


def mbconv_chain(
    n_blocks: int = 2,
    channels: int = 8,
    expand: int = 4,
    hw: int = 8,
    qdq: bool = False,
    batchnorm: bool = False,
    explicit_pad: bool = False,
    head: bool = False,
    name: str = "mbconv",
    seed: int = 0,
) -> onnx.ModelProto:
    """MobileNetV2 inverted residual blocks: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project, + residual.

    `batchnorm` puts a BatchNormalization after each conv (instead of a fused bias); `explicit_pad` pads the
    depthwise input with a separate Pad node; `head` adds GlobalAveragePool, Flatten, Gemm, Softmax.
    """
    b = GraphBuilder(name, qdq=qdq, seed=seed)
    x = b.conv(b.input((1, 3, hw, hw)), channels, act="relu6")

    def conv(t: str, c: int, kernel: int, group: int = 1, act: str | None = None, pads=None) -> str:
        if not batchnorm:
            return b.conv(t, c, kernel, group=group, act=act, pads=pads)
        y = b.batchnorm(b.conv(t, c, kernel, group=group, pads=pads, bias=False))
        return b.unary(y, act) if act else y

    for _ in range(n_blocks):
        wide = channels * expand
        e = conv(x, wide, 1, act="relu6")
        if explicit_pad:
            d = conv(b.spatial_pad(e, 1, 1, 1, 1), wide, 3, group=wide, act="relu6", pads=[0, 0, 0, 0])
        else:
            d = conv(e, wide, 3, group=wide, act="relu6")
        x = b.add(x, conv(d, channels, 1))
    if head:
        x = b.softmax(b.gemm(b.flatten(b.global_avgpool(x)), 4))
    b.output(x)
    return b.build()


def dynamic_input_model(dynamic: Mapping[int, str] | None = None, hw: int = 8, qdq: bool = False) -> onnx.ModelProto:
    """A conv chain whose input has symbolic dims (default: batch and both spatial dims)."""
    b = GraphBuilder("dynamic", qdq=qdq)
    x = b.input((1, 3, hw, hw), name="image", dynamic=dynamic or {0: "N", 2: "H", 3: "W"})
    b.output(b.conv(b.conv(x, 4, act="relu"), 4))
    return b.build()


DAG_LAYERS = ("conv", "depthwise", "relu", "add", "concat", "maxpool", "identity", "clip", "pad_conv", "conv_bn")


def random_dag_model(
    seed: int,
    n_ops: int,
    qdq: bool = False,
    n_inputs: int = 1,
    channels: Sequence[int] = (2, 4, 8, 16),
    hw: int = 4,
    layers: Sequence[str] = DAG_LAYERS,
    name: str | None = None,
) -> onnx.ModelProto:
    """A random DAG of `n_ops` layers on `hw`x`hw` feature maps (spatial size never changes).

    Each layer reads one or two earlier activations picked at random (so branches and long-lived tensors
    are common); activations nobody reads become model outputs. Layer kinds come from `layers`.
    """
    assert n_ops >= n_inputs, "every input needs a layer reading it"
    rnd = random.Random(seed)
    b = GraphBuilder(name or f"dag_{seed}_{n_ops}", qdq=qdq, seed=seed)
    pool = [b.input((1, rnd.choice(channels), hw, hw)) for _ in range(n_inputs)]
    used: set[str] = set()
    for i in range(n_ops):
        kind = rnd.choice(list(layers))
        x = pool[i] if i < n_inputs else rnd.choice(pool)  # every input is read
        same = [p for p in pool if p != x and b.shape(p) == b.shape(x)]
        if kind == "add" and not same:
            kind = "conv"
        if kind == "concat" and len(pool) < 2:
            kind = "conv"
        if kind == "conv":
            y = b.conv(x, rnd.choice(channels), kernel=rnd.choice((1, 3)), act=rnd.choice(ACTIVATIONS))
        elif kind == "depthwise":
            y = b.depthwise(x, act=rnd.choice(ACTIVATIONS))
        elif kind == "relu":
            y = b.relu(x)
        elif kind == "clip":
            y = b.clip(x)
        elif kind == "maxpool":
            y = b.maxpool(x, kernel=3, stride=1, pads=(1, 1, 1, 1))
        elif kind == "identity":
            y = b.identity(x)
        elif kind == "pad_conv":  # explicit Pad feeding an unpadded conv
            y = b.conv(b.spatial_pad(x, 1, 1, 1, 1), rnd.choice(channels), pads=[0, 0, 0, 0])
        elif kind == "conv_bn":
            y = b.batchnorm(b.conv(x, rnd.choice(channels), kernel=1, bias=False))
        elif kind == "add":
            other = rnd.choice(same)
            used.add(other)
            y = b.add(x, other, act=rnd.choice(ACTIVATIONS))
        elif kind == "concat":
            other = rnd.choice([p for p in pool if p != x])
            used.add(other)
            y = b.concat([x, other])
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        used.add(x)
        pool.append(y)
    b.output(*[p for p in pool if p not in used and p not in {i.name for i in b.inputs}])
    return b.build()
