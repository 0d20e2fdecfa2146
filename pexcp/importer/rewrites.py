"""Optional graph rewrites that change memory legitimately. Each can be turned off by name.

- `layout`: Transposes that move no data (they only permute size-1 dims) become views, and a layout
  Transpose at a model input (reached through quantize/pad/activation ops) is folded into the input: the
  caller stores the input already permuted, so no transposed copy is ever made. TFLite has no such
  Transposes at all: they are ONNX conversion artefacts.
- `pad`: an explicit zero Pad before a Conv (or an AveragePool counting pads) becomes the op's own padding.
- `bn`: BatchNormalization after a Conv is folded into the Conv's weights and bias.
- `views`: Reshape/Flatten/Squeeze/Unsqueeze/Identity produce a view of their input, not a new buffer.
- `inplace`: an elementwise op (quantize, activation, residual Add, ...) whose input dies with it writes
  its output over that input: element i is written after element i is read, and it is no larger.
- `concat`: a Concat whose inputs are contiguous byte ranges of its output (every axis before the concat
  axis has size 1) and that moves bytes unchanged gathers its inputs: each input an op of the graph
  computes is written by that op straight into its place inside the output, which owns the bytes from the
  first such write; the Concat copies only the others (model inputs, views, in-place outputs).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from pexcp.errors import BadInputError
from pexcp.ir import Graph, Op
from pexcp.ops import spec
from pexcp.ops.pad import constant_pad, pad_value, pads_of
from pexcp.ops.views import perm_of

ALL_REWRITES = ("layout", "pad", "bn", "views", "inplace", "concat")


def apply_rewrites(graph: Graph, names: Iterable[str]) -> Graph:
    names = list(names)
    unknown = set(names) - set(ALL_REWRITES)
    if unknown:
        raise BadInputError(f"unknown rewrite(s) {sorted(unknown)}; known: {', '.join(ALL_REWRITES)}")
    passes: dict[str, Callable[[Graph], None]] = {
        "layout": fold_layout_transposes,
        "pad": fold_pads,
        "bn": fold_batchnorms,
        "views": mark_views,
        "inplace": mark_inplace,
        "concat": mark_gathers,
    }
    for name in ALL_REWRITES:  # fixed order: layout first so pads can meet their conv
        if name in names:
            passes[name](graph)
            graph.invalidate()
            graph.rewrites.append(name)
    return graph


def _same_quant(graph: Graph, a: Op, ta: str, b: Op, tb: str) -> bool:
    qa, qb = a.quant.get(ta), b.quant.get(tb)
    if qa is None or qb is None:
        return qa is None and qb is None
    return all(np.array_equal(x, y) for x, y in zip(qa, qb))


def _remove(graph: Graph, op: Op, tensor: str | None = None) -> None:
    graph.ops.remove(op)
    if tensor is not None:
        del graph.tensors[tensor]


# ---- layout -------------------------------------------------------------------------------------------


def fold_layout_transposes(graph: Graph) -> None:
    for op in list(graph.ops):
        if op.op_type != "Transpose" or op.view:
            continue
        if spec(op.op_type).moves_no_data(graph, op):
            op.view = True
            continue
        chain = _agnostic_chain_to_input(graph, graph.activation_inputs(op)[0])
        if chain is not None:
            _store_permuted(graph, chain, perm_of(graph, op))
            op.view = True
        graph.invalidate()


def _agnostic_chain_to_input(graph: Graph, tensor: str) -> list[Op | str] | None:
    """Ops (and finally the model input) between a model input and `tensor`, if each only permutes-safely
    maps elements and nothing else reads the intermediate tensors; None otherwise."""
    chain: list[Op | str] = []
    while True:
        if len(graph.consumers[tensor]) != 1 or tensor in graph.outputs:
            return None
        if tensor in graph.inputs:
            return chain + [tensor]
        producer = graph.producer.get(tensor)
        if producer is None or producer.view or len(graph.activation_inputs(producer)) != 1:
            return None
        if not spec(producer.op_type).layout_agnostic(graph, producer):
            return None
        chain.append(producer)
        tensor = graph.activation_inputs(producer)[0]


def _store_permuted(graph: Graph, chain: list[Op | str], perm: list[int]) -> None:
    for item in chain:
        if isinstance(item, str):  # the model input: the caller now provides it permuted
            _permute_tensor(graph, item, perm)
            graph.input_layouts[item] = tuple(perm)
            continue
        _permute_tensor(graph, item.outputs[0], perm)
        if item.op_type == "Pad":
            pads = pads_of(graph, item)
            assert pads is not None  # a constant pad: layout_agnostic checked it
            rank = len(perm)
            new = [pads[p] for p in perm] + [pads[rank + p] for p in perm]
            name = f"{item.name}/pads_permuted"
            graph.constants[name] = np.array(new, dtype=np.int64)
            item.core.inputs[1] = name
            item.inputs[1] = name


def _permute_tensor(graph: Graph, name: str, perm: list[int]) -> None:
    t = graph.tensors[name]
    t.shape = tuple(t.shape[p] for p in perm)
    t.perm = tuple(perm)


# ---- pad ----------------------------------------------------------------------------------------------


def _through_views(graph: Graph, tensor: str) -> tuple[list[Op], Op | None]:
    """Follow `tensor` through single-consumer view ops to the one op that computes from it."""
    views: list[Op] = []
    while len(graph.consumers[tensor]) == 1 and tensor not in graph.outputs:
        user = graph.consumers[tensor][0]
        if not user.view:
            return views, user
        views.append(user)
        tensor = user.outputs[0]
    return views, None


def fold_pads(graph: Graph) -> None:
    for pad in list(graph.ops):
        if not constant_pad(graph, pad) or pad_value(graph, pad) != 0.0:
            continue
        (src,) = graph.activation_inputs(pad)
        padded = pad.outputs[0]
        views, user = _through_views(graph, padded)
        if user is None or not spec(user.op_type).accepts_pads(user):
            continue
        rank = len(graph.tensors[src].shape)
        pads = pads_of(graph, pad) or []
        if rank < 3 or any(pads[a] or pads[rank + a] for a in (0, 1)) or min(pads) < 0:
            continue
        user_in = views[-1].outputs[0] if views else padded
        if not (_same_quant(graph, pad, src, pad, padded) and _same_quant(graph, pad, src, user, user_in)):
            continue
        spatial = rank - 2
        old = list(user.attrs.get("pads", [0] * 2 * spatial))
        user.attrs["pads"] = [old[i] + pads[2 + i] for i in range(spatial)] + [
            old[spatial + i] + pads[rank + 2 + i] for i in range(spatial)
        ]
        for op in (user.core, user):
            op.inputs = [src if i == user_in else i for i in op.inputs]
        if src in pad.quant:
            user.quant[src] = pad.quant[src]
        user.nodes = pad.nodes + [n for v in views for n in v.nodes] + user.nodes
        for v in views:
            _remove(graph, v, v.outputs[0])
        _remove(graph, pad, padded)
        graph.invalidate()


# ---- bn -----------------------------------------------------------------------------------------------


def fold_batchnorms(graph: Graph) -> None:
    for bn in list(graph.ops):
        if bn.op_type != "BatchNormalization":
            continue
        (src,) = graph.activation_inputs(bn)
        conv = graph.producer.get(src)
        params = bn.inputs[1:5]
        if (
            conv is None
            or conv.op_type != "Conv"
            or conv.epilogue
            or conv.quant
            or bn.quant
            or len(graph.consumers[src]) != 1
            or src in graph.outputs
            or not all(p in graph.constants for p in params)
            or conv.inputs[1] not in graph.constants
        ):
            continue
        gamma, beta, mean, var = (graph.constants[p].astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
        weight = graph.constants[conv.inputs[1]]
        bias = graph.constants[conv.inputs[2]] if len(conv.inputs) > 2 and conv.inputs[2] else 0.0
        new_w = (weight * scale.reshape(-1, *[1] * (weight.ndim - 1))).astype(weight.dtype)
        new_b = ((bias - mean) * scale + beta).astype(weight.dtype)
        w_name, b_name = f"{conv.name}/W_bn_folded", f"{conv.name}/B_bn_folded"
        graph.constants[w_name], graph.constants[b_name] = new_w, new_b
        conv.inputs = [conv.inputs[0], w_name, b_name]
        conv.core.inputs = list(conv.inputs)
        conv.outputs = list(bn.outputs)
        conv.epilogue = bn.epilogue
        conv.nodes += bn.nodes
        conv.quant.update(bn.quant)
        _remove(graph, bn, src)
        graph.invalidate()


# ---- views --------------------------------------------------------------------------------------------


def mark_views(graph: Graph) -> None:
    for op in graph.ops:
        # a Transpose that moves no data is the layout rewrite's to make a view
        if op.op_type == "Transpose" or not spec(op.op_type).moves_no_data(graph, op) or op.epilogue:
            continue
        (src,) = graph.activation_inputs(op)
        dst = op.outputs[0]
        same_type = graph.tensors[src].dtype == graph.tensors[dst].dtype
        if same_type and graph.tensors[src].perm is None and _same_quant(graph, op, src, op, dst):
            op.view = True


# ---- inplace ------------------------------------------------------------------------------------------

def mark_inplace(graph: Graph) -> None:
    for op in graph.ops:
        if op.view or not spec(op.op_type).elementwise or len(op.outputs) != 1:
            continue
        out = graph.tensors[op.outputs[0]]
        for name in graph.activation_inputs(op):
            src = graph.tensors[name]
            dies_here = len(graph.consumers[name]) == 1 and name not in graph.outputs
            owns_bytes = not (name in graph.producer and graph.producer[name].view)
            same_elements = src.shape == out.shape and src.perm == out.perm
            if dies_here and owns_bytes and same_elements and out.itemsize <= src.itemsize:
                op.inplace = name
                break


# ---- concat -------------------------------------------------------------------------------------------


def mark_gathers(graph: Graph) -> None:
    for op in graph.ops:
        if op.op_type == "Concat" and _moves_bytes_unchanged(graph, op):
            op.gathered = _gatherable(graph, op)
            graph.invalidate()


def _moves_bytes_unchanged(graph: Graph, op: Op) -> bool:
    """Each input is a contiguous byte range of the output (every axis before the concat axis has size 1),
    copied without conversion or requantization; inputs are distinct activations."""
    out = graph.tensors[op.outputs[0]]
    axis = op.attrs.get("axis", 0) % len(out.shape)
    if op.epilogue or any(d != 1 for d in out.shape[:axis]) or graph.activation_inputs(op) != op.inputs:
        return False
    return all(
        graph.tensors[t].dtype == out.dtype
        and graph.tensors[t].perm is None
        and out.perm is None
        and _same_quant(graph, op, t, op, op.outputs[0])
        for t in op.inputs
    )


def _gatherable(graph: Graph, op: Op) -> list[str]:
    """The inputs whose producer can write them straight into their place in the output: fresh buffers, not
    model inputs or outputs, views, in-place outputs, another Concat's output (no nesting) or input, nor
    bytes another input of the same Concat also lives in (a view of it): the copy of that input would
    read the output it writes. The Concat copies the others. When an op overwrites the output in place,
    an input read by someone else would be overwritten too: then none is gathered."""
    out = op.outputs[0]
    roots = [graph.storage_root(t) for t in op.inputs]
    chosen = []
    for t, root in zip(op.inputs, roots):
        producer = graph.producer.get(t)
        if (
            producer is not None
            and not (producer.view or producer.inplace or producer.op_type == "Concat")
            and len(producer.outputs) == 1
            and t not in graph.outputs
            and t not in graph.carved
            and roots.count(root) == 1
        ):
            chosen.append(t)
    read_elsewhere = any(graph.consumers[t] != [op] for t in chosen)
    return [] if read_elsewhere and any(user.inplace == out for user in graph.consumers[out]) else chosen
