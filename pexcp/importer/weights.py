"""Constant operands checked against the op that reads them, at import.

ONNX's checker and shape inference accept a Conv bias shorter than its output channels, a Gemm bias that
does not broadcast, or a per-channel scale of the wrong length: onnxruntime then refuses the model, and C
generated from it reads past an array. pexcp refuses such a model here with one line naming the node, for
every op whose constants the planners, rewrites or kernels read. Quantisation parameters must also be
constants: an int8 kernel's scale is fixed when it is compiled.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import onnx
from onnx import helper

from pexcp.errors import BadInputError

Shape = tuple[int, ...]


class _Shapes:
    """Static shapes of a shape-inferred model's values, and which of them are constants."""

    def __init__(self, model: onnx.ModelProto):
        self.constants: dict[str, Shape] = {i.name: tuple(i.dims) for i in model.graph.initializer}
        self.values: dict[str, Shape] = dict(self.constants)
        for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
            tt = vi.type.tensor_type
            if vi.name not in self.values and tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tt.shape.dim]
                if all(d > 0 for d in dims) or not dims:
                    self.values[vi.name] = tuple(dims)

    def of(self, node: onnx.NodeProto, index: int) -> Shape | None:
        name = node.input[index] if index < len(node.input) else ""
        return self.values.get(name) if name else None


def _bad(node: onnx.NodeProto, model: str, why: str) -> BadInputError:
    return BadInputError(f"{model}: {node.op_type} node {node.name!r}: {why}")


def _broadcasts_to(small: Shape, big: Shape) -> bool:
    """`small` broadcasts to `big` (numpy rules, one direction only)."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def _conv(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    x, w, b = shapes.of(node, 0), shapes.of(node, 1), shapes.of(node, 2)
    if x is None or w is None:
        return
    group = int(attrs.get("group", 1))
    if len(w) != len(x):
        raise _bad(node, model, f"weight shape {list(w)} does not match its rank-{len(x)} input {list(x)}")
    if group < 1 or w[1] * group != x[1] or w[0] % group:
        raise _bad(node, model, f"weight shape {list(w)} with group {group} does not fit its {x[1]} input "
                                f"channels (needs weight[1] x group = {x[1]} and group dividing {w[0]})")
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != w[2:]:
        raise _bad(node, model, f"kernel_shape {list(attrs['kernel_shape'])} differs from its weight's {list(w[2:])}")
    if b is not None and b != (w[0],):
        raise _bad(node, model, f"bias shape {list(b)} does not match its {w[0]} output channels")


def _conv_transpose(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    x, w, b = shapes.of(node, 0), shapes.of(node, 1), shapes.of(node, 2)
    if x is None or w is None:
        return
    group = int(attrs.get("group", 1))
    if len(w) != len(x) or w[0] != x[1] or group < 1 or x[1] % group:
        raise _bad(node, model, f"weight shape {list(w)} with group {group} does not fit its input {list(x)}")
    if b is not None and b != (w[1] * group,):
        raise _bad(node, model, f"bias shape {list(b)} does not match its {w[1] * group} output channels")


def _gemm(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    a, w, c = shapes.of(node, 0), shapes.of(node, 1), shapes.of(node, 2)
    if a is None or w is None:
        return
    if len(a) != 2 or len(w) != 2:
        raise _bad(node, model, f"operands {list(a)} and {list(w)} must be 2-D")
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else a
    k_b, n = (w[1], w[0]) if attrs.get("transB", 0) else w
    if k != k_b:
        raise _bad(node, model, f"A {list(a)} and B {list(w)} do not multiply (inner sizes {k} and {k_b})")
    if c is not None and not _broadcasts_to(c, (m, n)):
        raise _bad(node, model, f"bias C shape {list(c)} does not broadcast to its {m}x{n} output")


def _per_channel(*params: tuple[int, str]) -> Callable[[onnx.NodeProto, _Shapes, dict, str], None]:
    """Ops whose listed inputs are one value per channel (axis 1 of input 0)."""

    def check(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
        x = shapes.of(node, 0)
        if x is None or len(x) < 2:
            return
        for index, what in params:
            p = shapes.of(node, index)
            if p is not None and p != (x[1],):
                raise _bad(node, model, f"{what} shape {list(p)} does not match its {x[1]} channels")

    return check


def _prelu(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    x, slope = shapes.of(node, 0), shapes.of(node, 1)
    if x is not None and slope is not None and not _broadcasts_to(slope, x):
        raise _bad(node, model, f"slope shape {list(slope)} does not broadcast to its input {list(x)}")


def _clip(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    for index, what in ((1, "min"), (2, "max")):
        p = shapes.of(node, index)
        if p is not None and len(p) > 0 and p != (1,):
            raise _bad(node, model, f"{what} has shape {list(p)}; it must be a single value")


def _quantize(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    for index, what in ((1, "scale"), (2, "zero point")):
        name = node.input[index] if index < len(node.input) else ""
        if name and name not in shapes.constants:
            raise _bad(node, model, f"its {what} {name!r} is not a constant; pexcp needs fixed quantisation "
                                    "parameters (int8 kernels are compiled with them)")
    x, scale, zero = shapes.of(node, 0), shapes.of(node, 1), shapes.of(node, 2)
    if scale is None:
        return
    if len(scale) > 1 or (len(scale) == 1 and x is not None and scale[0] not in (1, _axis_size(x, attrs))):
        raise _bad(node, model, f"scale shape {list(scale)} is neither one value nor one per element of axis "
                                f"{attrs.get('axis', 1)} of {list(x) if x is not None else 'its input'}")
    if zero is not None and zero != scale:
        raise _bad(node, model, f"zero point shape {list(zero)} differs from its scale's {list(scale)}")


def _reshape(node: onnx.NodeProto, shapes: _Shapes, attrs: dict, model: str) -> None:
    """onnx infers a Reshape's output from its shape constant without comparing element counts; the
    planners make it a view of its input, so a larger output would be read past its input's bytes."""
    x, y = shapes.of(node, 0), shapes.values.get(node.output[0])
    if x is not None and y is not None and math.prod(x) != math.prod(y):
        raise _bad(node, model, f"reshapes {list(x)} ({math.prod(x)} elements) to {list(y)} ({math.prod(y)})")


def _axis_size(x: Shape, attrs: dict) -> int:
    axis = int(attrs.get("axis", 1))
    return x[axis] if -len(x) <= axis < len(x) else -1


CHECKS: dict[str, Callable[[onnx.NodeProto, _Shapes, dict, str], None]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "BatchNormalization": _per_channel((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")),
    "InstanceNormalization": _per_channel((1, "scale"), (2, "bias")),
    "PRelu": _prelu,
    "Clip": _clip,
    "QuantizeLinear": _quantize,
    "DequantizeLinear": _quantize,
    "Reshape": _reshape,
}


def check_constants(model: onnx.ModelProto, name: str | Path) -> None:
    """Raise BadInputError for the first node whose constant operands do not fit it (see the docstring).
    Needs a shape-inferred model. Ops with shape rules onnx's strict shape inference already enforces
    (MatMul, elementwise broadcasting, Pad) are not repeated here."""
    shapes = _Shapes(model)
    for node in model.graph.node:
        check = CHECKS.get(node.op_type)
        if check is not None:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            check(node, shapes, attrs, str(name))
