"""Channel analysis of an ONNX model: which output channels can be pruned, and which must move together.

A *coupling group* is a set of channel axes that must keep the same channels: it starts at every layer that
produces channels from constant weights (Conv with group 1, Gemm, MatMul: its *producers*) and follows the
channels through ops that map channel c to channel c (depthwise convs, BatchNormalization, activations,
pools, Pad without channel padding, quantize/dequantize with per-tensor or per-channel-axis-1 parameters,
reshapes of a [1, C, 1, 1] tensor to [1, C] and back). A residual Add (or any elementwise op on equal
shapes) unites its inputs' groups; a channel Concat lays its inputs' groups side by side as segments of its
output's channel axis. Layers reading a tensor (a conv's weight input axis, Gemm/MatMul rows) are cut to
the segments kept. Every stored value's channel axis (axis 1, NCHW / NC) is thus a list of segments, each a
group or a fixed run of channels. A group is fixed (not prunable) when its channels reach a graph output,
meet an op that cannot be followed (Transpose, Softmax, unknown ops, broadcasting that mixes channels), or
a producer whose weights cannot be sliced on their own (shared with another layer).

Importance: for every producer, the L1 norm of each output channel's weights (dequantized for int8
weights), divided by the sum over the layer's channels, so each layer weighs 1 in total whatever its width
or weight scale; a group's channel score is the sum over its producers. Keeping the top-k scores of a group
keeps `kept(k)` importance, a concave function of k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

UNARY = {
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
    "Softsign", "Abs", "Neg", "Exp", "Sqrt", "Identity", "Dropout", "Mish", "Gelu", "Celu", "Erf", "Floor",
    "Ceil", "Round", "Reciprocal",
}
BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu", "Pow"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool"}
REDUCES = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2"}
VIEWS = {"Squeeze", "Unsqueeze", "Flatten", "Reshape"}

Segments = list[tuple[str | None, int]]  # (group id or None for fixed channels, length)


@dataclass
class Cut:
    """Slice a parameter of `node` (its input `index`) along `axis` as the channel segments `segments`."""

    node: str
    index: int
    axis: int
    segments: Segments


@dataclass
class Group:
    id: str  # the first producer's node name
    channels: int
    producers: list[str]
    scores: np.ndarray  # per channel: summed normalised L1 importance of the producers

    def order(self) -> np.ndarray:
        """Channels by decreasing score (ties: lower index first)."""
        return np.argsort(-self.scores, kind="stable")

    def kept(self, k: int) -> np.ndarray:
        """The k channels kept, in their original order."""
        return np.sort(self.order()[:k])

    def importance(self, k: int) -> float:
        return float(np.sort(self.scores)[::-1][:k].sum())


@dataclass
class ChannelMap:
    groups: dict[str, Group]  # prunable groups only
    segments: dict[str, Segments]  # value name -> its channel axis (resolved: fixed groups are None)
    cuts: list[Cut]
    regroup: dict[str, str]  # depthwise conv node -> value whose channel count is its new `group`
    reshapes: dict[str, str]  # Reshape node -> value whose channel count is entry 1 of its new shape
    fixed: dict[str, str] = field(default_factory=dict)  # group id -> why it is not prunable
    layer_of: dict[str, str] = field(default_factory=dict)  # producer node -> group id

    def channels(self, value: str, kept: dict[str, int]) -> int:
        return sum(kept.get(g, n) if g is not None else n for g, n in self.segments[value])


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.why: dict[str, str] = {}

    def add(self, g: str) -> None:
        self.parent[g] = g

    def find(self, g: str) -> str:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            if rb in self.why:
                self.why.setdefault(ra, self.why[rb])

    def poison(self, g: str, why: str) -> None:
        self.why.setdefault(self.find(g), why)


def load_raw(path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> onnx.ModelProto:
    """The model as the file has it (no folding: int8 weights stay int8), nodes named as pexcp names them,
    dynamic input dimensions fixed by `input_shapes` (--input-shape), shapes inferred."""
    from pathlib import Path

    from pexcp.importer.onnx_reader import _fix_input_shapes, _name_nodes

    model = onnx.load(str(path))
    _name_nodes(model)
    _fix_input_shapes(model, input_shapes or {}, Path(path))
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def shapes_of(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    out = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            out[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    for init in model.graph.initializer:
        out[init.name] = tuple(init.dims)
    return out


class _Analysis:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {i.name: i for i in model.graph.initializer}
        self.shapes = shapes_of(model)
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.users: dict[str, list[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for i in dict.fromkeys(n.input):
                self.users.setdefault(i, []).append(n)
        self.uf = _UnionFind()
        self.segs: dict[str, Segments | None] = {}
        self.cuts: list[Cut] = []
        self.regroup: dict[str, str] = {}
        self.reshapes: dict[str, str] = {}
        self.weights: dict[str, np.ndarray] = {}  # producer -> float weights, output channels on axis 0
        self.producers: dict[str, str] = {}  # producer node -> its group

    # ---- constants ------------------------------------------------------------------------------------

    def constant(self, name: str) -> bool:
        if name in self.inits:
            return True
        node = self.producer.get(name)
        if node is None:
            return False
        if node.op_type == "Constant":
            return True
        return node.op_type in ("DequantizeLinear", "Identity", "Cast") and all(
            self.constant(i) for i in node.input if i
        )

    def value(self, name: str) -> np.ndarray:
        """A constant's float value (dequantized)."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer[name]
        if node.op_type == "Constant":
            return numpy_helper.to_array(helper.get_attribute_value(node.attribute[0]))
        if node.op_type in ("Identity", "Cast"):
            return self.value(node.input[0]).astype(np.float32)
        x = self.value(node.input[0]).astype(np.float32)
        scale = self.value(node.input[1]).astype(np.float32)
        zero = self.value(node.input[2]).astype(np.float32) if len(node.input) > 2 and node.input[2] else 0.0
        axis = _attr(node, "axis", 1)
        if np.ndim(scale) == 1 and x.ndim > 1:
            shape = [1] * x.ndim
            shape[axis % x.ndim] = -1
            scale = scale.reshape(shape)
            zero = np.reshape(zero, shape) if np.ndim(zero) == 1 else zero
        return (x - zero) * scale

    def sliceable(self, name: str) -> bool:
        """A parameter the surgery can slice for this one user: an initializer, or a DequantizeLinear of
        initializers that only this user reads."""
        if name in self.inits:
            return True
        node = self.producer.get(name)
        return (
            node is not None
            and node.op_type == "DequantizeLinear"
            and all(i in self.inits for i in node.input if i)
            and len(self.users.get(name, [])) == 1
        )

    # ---- segments -------------------------------------------------------------------------------------

    def fixed(self, value: str) -> Segments | None:
        shape = self.shapes.get(value)
        if shape is None or len(shape) < 2:
            return None
        return [(None, max(shape[1:]) if _vector(shape) else shape[1])]

    def poison(self, value: str, why: str) -> None:
        for g, _ in self.segs.get(value) or []:
            if g is not None:
                self.uf.poison(g, why)

    def unite(self, values: list[str], why: str) -> Segments | None:
        """Elementwise on equal shapes: every input's channel c is the output's channel c."""
        lists = [self.segs.get(v) for v in values]
        shapes = {self.shapes.get(v) for v in values}
        if len(shapes) != 1 or any(s is None for s in lists):
            for v in values:
                self.poison(v, why)
            return None
        first = lists[0]
        if any([n for _, n in s] != [n for _, n in first] for s in lists):
            for v in values:
                self.poison(v, why + " (inputs segmented differently)")
            return None
        result: Segments = []
        for j, (g0, n) in enumerate(first):
            gs = [s[j][0] for s in lists]
            live = [g for g in gs if g is not None]
            if len(live) < len(gs):  # meets fixed channels: the groups are fixed too
                for g in live:
                    self.uf.poison(g, why + " (added to fixed channels)")
            for g in live[1:]:
                self.uf.union(live[0], g)
            result.append((live[0] if live else None, n))
        return result

    def cut(self, node: onnx.NodeProto, index: int, axis: int, segs: Segments | None) -> bool:
        """Record that parameter `index` of `node` follows `segs` along `axis`; False when it cannot be sliced."""
        if segs is None or all(g is None for g, _ in segs):
            return True
        if not self.sliceable(node.input[index]):
            return False
        self.cuts.append(Cut(node.name, index, axis, list(segs)))
        return True

    # ---- the walk -------------------------------------------------------------------------------------

    def run(self) -> None:
        g = self.model.graph
        init_names = set(self.inits)
        for vi in g.input:
            if vi.name not in init_names:
                self.segs[vi.name] = self.fixed(vi.name)
        for node in g.node:
            self.visit(node)
        for o in g.output:
            self.poison(o.name, f"reaches graph output {o.name}")

    def acts(self, node: onnx.NodeProto) -> list[str]:
        return [i for i in node.input if i and not self.constant(i)]

    def opaque(self, node: onnx.NodeProto, why: str | None = None) -> None:
        for v in self.acts(node):
            self.poison(v, why or f"read by {node.op_type} {node.name}, which pruning cannot follow")
        for o in node.output:
            self.segs[o] = self.fixed(o)

    def follow(self, node: onnx.NodeProto, segs: Segments | None) -> None:
        for o in node.output:
            self.segs[o] = segs if segs is not None else self.fixed(o)

    def visit(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        acts = self.acts(node)
        if not acts:  # constant arithmetic
            return
        if any(self.shapes.get(o) is None for o in node.output if o):
            return self.opaque(node, f"{node.name}: output shape unknown")
        handler = getattr(self, f"_{op}", None)
        if handler is not None:
            return handler(node, acts)
        if op in UNARY:
            return self._unary(node, acts)
        if op in BINARY:
            return self._binary(node, acts)
        if op in POOLS:
            return self.follow(node, self.segs.get(acts[0]))
        if op in REDUCES:
            return self._reduce(node, acts)
        if op in VIEWS:
            return self._view(node, acts)
        return self.opaque(node)

    def _unary(self, node: onnx.NodeProto, acts: list[str]) -> None:
        if len(acts) != 1 or any(self.constant(i) and np.size(self.value(i)) != 1 for i in node.input[1:] if i):
            return self.opaque(node)
        self.follow(node, self.segs.get(acts[0]))

    def _binary(self, node: onnx.NodeProto, acts: list[str]) -> None:
        out = node.output[0]
        if len(acts) > 1:
            if all(self.shapes.get(a) == self.shapes.get(out) for a in acts):
                return self.follow(node, self.unite(acts, f"{node.op_type} {node.name}"))
            return self.opaque(node, f"{node.op_type} {node.name} broadcasts between activations")
        segs = self.segs.get(acts[0])
        if self.shapes.get(acts[0]) != self.shapes.get(out):
            return self.opaque(node, f"{node.op_type} {node.name} broadcasts its input")
        rank = len(self.shapes[out])
        for i, name in enumerate(node.input):
            if not name or name == acts[0]:
                continue
            shape = self.shapes.get(name, np.shape(self.value(name)))
            axis = 1 - (rank - len(shape))  # the constant's axis that broadcasts against channels
            if 0 <= axis < len(shape) and shape[axis] > 1 and not self.cut(node, i, axis, segs):
                return self.opaque(node, f"{node.name}: its per-channel constant is shared")
        self.follow(node, segs)

    def _Clip(self, node: onnx.NodeProto, acts: list[str]) -> None:
        self._unary(node, acts)

    def _BatchNormalization(self, node: onnx.NodeProto, acts: list[str]) -> None:
        segs = self.segs.get(acts[0])
        if acts != [node.input[0]] or not all(self.cut(node, i, 0, segs) for i in range(1, 5)):
            return self.opaque(node)
        self.follow(node, segs)

    def _QuantizeLinear(self, node: onnx.NodeProto, acts: list[str]) -> None:
        segs = self.segs.get(acts[0])
        if acts != [node.input[0]]:
            return self.opaque(node)
        if all(np.size(self.value(i)) == 1 for i in node.input[1:] if i):
            return self.follow(node, segs)
        rank = len(self.shapes[acts[0]])
        if _attr(node, "axis", 1) % rank == 1 and all(self.cut(node, i, 0, segs) for i in range(1, len(node.input)) if node.input[i]):
            return self.follow(node, segs)
        self.opaque(node)

    _DequantizeLinear = _QuantizeLinear

    def _Pad(self, node: onnx.NodeProto, acts: list[str]) -> None:
        pads = _attr(node, "pads", None)
        if pads is None and len(node.input) > 1 and node.input[1] and self.constant(node.input[1]):
            pads = self.value(node.input[1]).astype(int).tolist()
        rank = len(self.shapes[acts[0]])
        if acts != [node.input[0]] or pads is None or pads[1] != 0 or pads[rank + 1] != 0:
            return self.opaque(node)
        self.follow(node, self.segs.get(acts[0]))

    def _Concat(self, node: onnx.NodeProto, acts: list[str]) -> None:
        rank = len(self.shapes[node.output[0]])
        lists = [self.segs.get(i) for i in node.input]
        if _attr(node, "axis", 0) % rank != 1 or any(s is None for s in lists) or len(acts) != len(node.input):
            return self.opaque(node)
        self.follow(node, [s for segs in lists for s in segs])

    def _reduce(self, node: onnx.NodeProto, acts: list[str]) -> None:
        axes = _attr(node, "axes", None)
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.value(node.input[1]).astype(int).tolist()
        rank = len(self.shapes[acts[0]])
        if axes is None or any(a % rank in (0, 1) for a in axes):
            return self.opaque(node)
        if not _attr(node, "keepdims", 1) and any(a % rank < 1 for a in axes):
            return self.opaque(node)
        self.follow(node, self.segs.get(acts[0]))

    def _view(self, node: onnx.NodeProto, acts: list[str]) -> None:
        """Reshapes and transposes of a vector ([1, C, 1, 1], [1, 1, 1, C], [1, C]): the channels stay in
        order, whichever axis holds them."""
        src, out = self.shapes[acts[0]], self.shapes[node.output[0]]
        if acts != [node.input[0]] or not (_vector(src) and _vector(out)) or max(src) != max(out):
            return self.opaque(node)
        if node.op_type == "Reshape":
            if not self.constant(node.input[1]):
                return self.opaque(node)
            self.reshapes[node.name] = node.output[0]
        self.follow(node, self.segs.get(acts[0]))

    _Transpose = _view

    def _Conv(self, node: onnx.NodeProto, acts: list[str]) -> None:
        x = node.input[0]
        if acts != [x] or not self.constant(node.input[1]):
            return self.opaque(node)
        w_shape = self.shapes.get(node.input[1]) or np.shape(self.value(node.input[1]))
        c_in, c_out, group = self.shapes[x][1], self.shapes[node.output[0]][1], _attr(node, "group", 1)
        segs = self.segs.get(x)
        has_bias = len(node.input) > 2 and bool(node.input[2])
        if group == 1:
            if not self.cut(node, 1, 1, segs):
                return self.opaque(node, f"{node.name}: its weights are shared")
            return self.produce(node, 1, 0, 2 if has_bias else None, c_out)
        if group == c_in == c_out and w_shape[1] == 1:  # depthwise: follows its input's channels
            if segs is None or not all(self.cut(node, i, 0, segs) for i in ([1, 2] if has_bias else [1])):
                return self.opaque(node)
            if any(g is not None for g, _ in segs):
                self.regroup[node.name] = node.output[0]
            return self.follow(node, segs)
        self.opaque(node, f"grouped conv {node.name} (group {group})")

    def _Gemm(self, node: onnx.NodeProto, acts: list[str]) -> None:
        x = node.input[0]
        if acts != [x] or _attr(node, "transA", 0) or len(self.shapes[x]) != 2 or not self.constant(node.input[1]):
            return self.opaque(node)
        trans_b = _attr(node, "transB", 0)
        n = self.shapes[node.output[0]][1]
        if not self.cut(node, 1, 1 if trans_b else 0, self.segs.get(x)):
            return self.opaque(node, f"{node.name}: its weights are shared")
        bias = None
        if len(node.input) > 2 and node.input[2]:
            c_shape = self.shapes.get(node.input[2]) or np.shape(self.value(node.input[2]))
            bias = 2 if c_shape and c_shape[-1] == n and n > 1 else None
        self.produce(node, 1, 0 if trans_b else 1, bias, n, bias_axis=-1)

    def _MatMul(self, node: onnx.NodeProto, acts: list[str]) -> None:
        x = node.input[0]
        if acts != [x] or len(self.shapes[x]) != 2 or not self.constant(node.input[1]):
            return self.opaque(node)
        if not self.cut(node, 1, 0, self.segs.get(x)):
            return self.opaque(node, f"{node.name}: its weights are shared")
        self.produce(node, 1, 1, None, self.shapes[node.output[0]][1])

    def produce(self, node: onnx.NodeProto, w_index: int, out_axis: int, bias: int | None, channels: int,
                bias_axis: int = 0) -> None:
        """A layer making `channels` new channels: a fresh group, weights (and bias) cut along it."""
        gid = node.name
        self.uf.add(gid)
        segs: Segments = [(gid, channels)]
        ok = self.cut(node, w_index, out_axis, segs) and (bias is None or self.cut(node, bias, bias_axis, segs))
        if not ok:
            self.uf.poison(gid, f"{node.name}: its weights are shared with another layer")
        w = self.value(node.input[w_index]).astype(np.float64)
        self.weights[gid] = np.moveaxis(w, out_axis, 0).reshape(channels, -1)
        self.producers[node.name] = gid
        self.segs[node.output[0]] = segs

    # ---- result ---------------------------------------------------------------------------------------

    def result(self) -> ChannelMap:
        uf = self.uf
        members: dict[str, list[str]] = {}
        for p, g in self.producers.items():
            members.setdefault(uf.find(g), []).append(p)
        groups: dict[str, Group] = {}
        fixed: dict[str, str] = {}
        for root, producers in members.items():
            widths = {self.weights[p].shape[0] for p in producers}
            why = uf.why.get(root)
            if why is None and len(widths) != 1:
                why = "coupled layers of different widths"
            if why is None and min(widths) < 2:
                why = "a single channel"
            if why is not None:
                fixed[producers[0]] = why
                continue
            scores = np.zeros(widths.pop())
            for p in producers:
                l1 = np.abs(self.weights[p]).sum(axis=1)
                scores += l1 / l1.sum() if l1.sum() > 0 else 1.0 / len(l1)
            groups[producers[0]] = Group(producers[0], len(scores), producers, scores)
        name = {root: producers[0] for root, producers in members.items()}

        def resolve(segs: Segments | None) -> Segments | None:
            if segs is None:
                return None
            out: Segments = []
            for g, n in segs:
                gid = name[uf.find(g)] if g is not None else None
                out.append((gid if gid in groups else None, n))
            return out

        segments = {v: s for v, s in ((v, resolve(s)) for v, s in self.segs.items()) if s is not None}
        cuts = [Cut(c.node, c.index, c.axis, resolve(c.segments)) for c in self.cuts]
        cuts = [c for c in cuts if any(g is not None for g, _ in c.segments)]
        prunable = lambda v: any(g is not None for g, _ in segments.get(v, []))  # noqa: E731
        layer_of = {p: name[uf.find(g)] for p, g in self.producers.items() if name[uf.find(g)] in groups}
        return ChannelMap(
            groups=groups,
            segments=segments,
            cuts=cuts,
            regroup={n: v for n, v in self.regroup.items() if prunable(v)},
            reshapes={n: v for n, v in self.reshapes.items() if prunable(v)},
            fixed=fixed,
            layer_of=layer_of,
        )


def _vector(shape: tuple[int, ...]) -> bool:
    """Batch 1 and at most one axis longer than 1."""
    return len(shape) >= 2 and shape[0] == 1 and sum(d > 1 for d in shape) <= 1


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def analyse(model: onnx.ModelProto) -> ChannelMap:
    """Coupling groups, channel segments of every value and the parameter cuts of `model` (shapes inferred)."""
    a = _Analysis(model)
    a.run()
    return a.result()
