"""The same model at another input resolution: what `pexcp fit` plans and writes.

A model can be resized when ONNX shape inference re-derives every shape at the new resolution and its
outputs keep their shapes: fully convolutional bodies with a global pooling head. A pooling layer whose
window covers its whole input at the model's own resolution (MobileNet's final 3x3 AveragePool) is a
global pool by design; it becomes GlobalAveragePool / GlobalMaxPool, which computes the same values at the
native resolution and stays global at others. Everything else is kept as the file has it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper, shape_inference

from pexcp.errors import BadInputError
from pexcp.importer import load_graph
from pexcp.importer.onnx_reader import graph_inputs, read_model

_GLOBAL = {"AveragePool": "GlobalAveragePool", "MaxPool": "GlobalMaxPool"}


@dataclass(frozen=True)
class ImageInput:
    """The model's image input: its name, declared shape and which declared axes are height and width."""

    name: str
    shape: tuple[int, ...]
    h_axis: int
    w_axis: int

    @property
    def resolution(self) -> tuple[int, int]:
        return self.shape[self.h_axis], self.shape[self.w_axis]

    def at(self, h: int, w: int) -> tuple[int, ...]:
        dims = list(self.shape)
        dims[self.h_axis], dims[self.w_axis] = h, w
        return tuple(dims)


def image_input(path: Path, model: onnx.ModelProto) -> ImageInput:
    """The single rank-4 input: NCHW, or another layout when the `layout` rewrite folds a Transpose into it
    (TFLite's NHWC inputs, stored NCHW): its height and width are then the axes the perm moves to 2, 3."""
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise BadInputError(f"cannot resize: the model has {len(inputs)} inputs, resizing needs one image input")
    vi = inputs[0]
    shape = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
    if len(shape) != 4 or min(shape) < 1:
        raise BadInputError(f"cannot resize: input {vi.name!r} has shape {shape}, not a static 4-D image")
    perm = load_graph(path, rewrites=("layout",)).input_layouts.get(vi.name, (0, 1, 2, 3))
    return ImageInput(vi.name, shape, perm[2], perm[3])


def _globalize_full_window_pools(model: onnx.ModelProto) -> list[str]:
    """Replace pools whose unpadded window is their whole input by global pools; returns their names."""
    shapes = {
        vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        for vi in list(model.graph.value_info) + list(model.graph.input)
    }
    changed = []
    for i, node in enumerate(model.graph.node):
        if node.op_type not in _GLOBAL:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        spatial = shapes.get(node.input[0], ())[2:]
        whole = list(attrs.get("kernel_shape", [])) == list(spatial) and not any(attrs.get("pads", []))
        if whole and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", b"VALID", "NOTSET", "VALID") and len(node.output) == 1:
            model.graph.node[i].CopyFrom(
                helper.make_node(_GLOBAL[node.op_type], list(node.input), list(node.output), name=node.name)
            )
            changed.append(node.name)
    return changed


def resize(path: Path, h: int, w: int) -> tuple[onnx.ModelProto, list[str]]:
    """The model of `path` at input resolution h x w, shape-inferred; and the pools made global. Refuses
    (BadInputError) a model whose shapes cannot follow the resolution or whose outputs change shape."""
    native, _ = read_model(path, {})
    model = onnx.load(str(path))
    image = image_input(path, native)
    pools = _globalize_full_window_pools(native)
    by_name = {n.name: n for n in native.graph.node}
    for i, node in enumerate(model.graph.node):
        if node.name in pools:
            model.graph.node[i].CopyFrom(by_name[node.name])
    target = image.at(h, w)
    for vi in graph_inputs(model):
        if vi.name == image.name:
            dims = vi.type.tensor_type.shape.dim
            del dims[:]
            for d in target:
                dims.add().dim_value = d
    del model.graph.value_info[:]
    want = {o.name: tuple(d.dim_value for d in o.type.tensor_type.shape.dim) for o in native.graph.output}
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        model = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:  # InferenceError and friends
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise BadInputError(f"cannot resize {path.name} to {h}x{w}: its shapes do not follow the input ({first})") from None
    _check_reshapes(model, path, h, w)
    got = {o.name: tuple(d.dim_value for d in o.type.tensor_type.shape.dim) for o in model.graph.output}
    changed = [n for n in want if got.get(n) != want[n]]
    if changed:
        raise BadInputError(
            f"cannot resize {path.name}: output {changed[0]!r} would change shape {want[changed[0]]} -> "
            f"{got.get(changed[0])} at {h}x{w} (fit needs a global pooling head)"
        )
    return model, pools


def _check_reshapes(model: onnx.ModelProto, path: Path, h: int, w: int) -> None:
    """ONNX shape inference takes a constant Reshape target as given; at another resolution its element
    count may no longer match the input's."""
    shapes = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    }
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[0] in shapes and node.output[0] in shapes:
            n_in, n_out = math.prod(shapes[node.input[0]]), math.prod(shapes[node.output[0]])
            if n_in != n_out:
                raise BadInputError(
                    f"cannot resize {path.name} to {h}x{w}: Reshape {node.name!r} has a fixed target "
                    f"{shapes[node.output[0]]} for {n_in} elements (fit needs a global pooling head)"
                )
