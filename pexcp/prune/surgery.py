"""Build the pruned ONNX model: slice every parameter a channel cut names, fix group counts and reshape
targets, and let ONNX re-infer the shapes.

Parameters are sliced where they are stored: a float initializer, or for int8 QDQ weights the int8 (or
int32 bias) initializer behind a DequantizeLinear together with its per-channel scale and zero point when
the slice runs along the quantization axis. Per-tensor activation quantization is left as it is. Every
sliced parameter becomes a new initializer of its own (initializers such as zero points are often shared
between layers that keep different channels); initializers nothing reads any more are dropped.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pexcp.prune.channels import ChannelMap, Segments


def kept_indices(segments: Segments, kept: dict[str, np.ndarray]) -> np.ndarray:
    """Indices into a channel axis laid out as `segments` that survive when group g keeps `kept[g]`."""
    parts, offset = [], 0
    for g, n in segments:
        parts.append(offset + (kept[g] if g is not None and g in kept else np.arange(n)))
        offset += n
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def prune_model(model: onnx.ModelProto, cmap: ChannelMap, kept: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of `model` (as analysed) keeping, for every group g, the channels `kept[g]`."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    nodes = {n.name: n for n in g.node}
    producer = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    arrays: dict[str, np.ndarray] = {}  # new initializer name -> value
    fresh = _Names({i.name for i in g.initializer} | {o for n in g.node for o in n.output})

    def edit(name: str) -> str:
        """A private copy of initializer `name`, returning the copy's name."""
        new = fresh(name)
        arrays[new] = numpy_helper.to_array(inits[name]) if name in inits else arrays[name]
        return new

    def ndim(name: str) -> int:
        return arrays[name].ndim if name in arrays else len(inits[name].dims)

    private: dict[tuple[str, int], str] = {}  # (node, input) -> private initializer already made

    def sliced(node: onnx.NodeProto, index: int, axis: int, idx: np.ndarray) -> None:
        key = (node.name, index)
        if key not in private:
            private[key] = edit(node.input[index])
            node.input[index] = private[key]
        name = private[key]
        arrays[name] = np.take(arrays[name], idx, axis=axis % max(arrays[name].ndim, 1))

    for cut in cmap.cuts:
        node = nodes[cut.node]
        idx = kept_indices(cut.segments, kept)
        if len(idx) == sum(n for _, n in cut.segments):
            continue
        source = node.input[cut.index]
        if source in inits or source in arrays:
            sliced(node, cut.index, cut.axis, idx)
            continue
        dq = producer[source]  # DequantizeLinear of initializers (checked by the analysis)
        rank = ndim(dq.input[0])
        sliced(dq, 0, cut.axis, idx)
        axis = next((helper.get_attribute_value(a) for a in dq.attribute if a.name == "axis"), 1) % max(rank, 1)
        for j in (1, 2):
            if len(dq.input) > j and dq.input[j] and ndim(dq.input[j]) == 1 and axis == cut.axis % rank:
                sliced(dq, j, 0, idx)

    def count(value: str) -> int:
        return len(kept_indices(cmap.segments[value], kept))

    for name, value in cmap.regroup.items():
        node = nodes[name]
        for a in node.attribute:
            if a.name == "group":
                a.i = count(value)
    for name, value in cmap.reshapes.items():
        node = nodes[name]
        target = numpy_helper.to_array(inits[node.input[1]]).copy() if node.input[1] in inits else None
        if target is None:
            continue
        new = edit(node.input[1])
        target[np.argmax(target)] = count(value) if target.max() > 1 else target.max()
        arrays[new] = target
        node.input[1] = new

    g.initializer.extend(numpy_helper.from_array(a, n) for n, a in arrays.items())
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used or i.name in {o.name for o in g.output}]
    del g.initializer[:]
    g.initializer.extend(keep)
    graph_inputs = [i for i in g.input if i.name not in inits or i.name in used]
    del g.input[:]
    g.input.extend(graph_inputs)
    del g.value_info[:]
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


class _Names:
    def __init__(self, taken: set[str]):
        self.taken = taken

    def __call__(self, base: str) -> str:
        k = 0
        while f"{base}_pruned{k}" in self.taken:
            k += 1
        name = f"{base}_pruned{k}"
        self.taken.add(name)
        return name
