"""Partial execution along channels: which ops can run on channel slices, and which groups of ops can
run as k rounds over slices (the Pex idea, Liberis & Lane 2022).

Rules, per op (axis 1 = channels, NCHW / NC; each op type states its own in pexcp.ops):
- channel-wise: output channel c needs only input channel c (depthwise conv, pooling, activations,
  elementwise ops on equal shapes, quantize/dequantize, pads that add no channels). Runs on any slice.
- full: a conv with group 1, Gemm or MatMul with constant weights. It can produce any subset of its output
  channels from its whole input (output-partial, a group's head), or consume a subset of its input
  channels and add partial sums into its whole output (input-partial, a group's tail: the accumulator
  stays resident for the whole group and is int32 in quantized models).
- opaque: everything else (views, concat, softmax, reductions, ops pexcp knows nothing about).

A group is a chain `head? -> channel-wise* -> tail?` of at least two ops over one channel count C. Its
inner tensors (between members) exist only as one slice at a time; its inputs stay whole and resident
until the group ends; its output is whole: written slice by slice, or accumulated by the tail. When the
last member is elementwise and one of its inputs is read by nothing after the group (a residual Add's
skip input), the output is written slice by slice over that input instead (`overwrites`).
Concat and residual Add meet groups at their boundaries: Add is a channel-wise member; a Concat's inputs
are whole group outputs. A group whose output is written in place into a concat output (rewrite `concat`)
writes it there slice by slice: it neither accumulates into a separate accumulator nor overwrites an input.
The bytes a group overwrites are its own: not a view, not part of a concat output, and not a concat
output whose inputs someone else reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from pexcp.ir import Graph, Op
from pexcp.ops import Rule, spec
from pexcp.units import WORD, align_up

MAX_GROUP_OPS = 6


def split_rule(graph: Graph, op: Op) -> Rule:
    """How `op` may be split along channels: its type's rule (pexcp.ops), for ops that write one stored
    batch-1 tensor with a channel axis from such tensors."""
    if op.view or len(op.outputs) != 1:
        return Rule.OPAQUE
    acts = graph.activation_inputs(op)
    tensors = [graph.tensors[t] for t in acts + op.outputs]
    if not acts or any(t.perm is not None or len(t.shape) < 2 or t.shape[0] != 1 for t in tensors):
        return Rule.OPAQUE
    return spec(op.op_type).split_rule(graph, op)


@dataclass(frozen=True)
class Option:
    """Running a group in slices of at most `width` channels: `rounds` rounds, `region_bytes` for the
    slices of its inner tensors that are live at once."""

    width: int
    rounds: int
    region_bytes: int
    calls: int = 0  # kernel calls of the whole run, when not every round calls every member (row bands)


@dataclass
class Group:
    id: str
    members: list[Op]  # in execution order; consecutive in any schedule that splits the group
    channels: int
    head: bool  # first member is a full op producing slices from its whole input
    tail: bool  # last member is a full op accumulating partial sums
    inner: list[str]  # tensors that exist only as slices
    inputs: list[str]  # tensors read whole (resident for the whole group)
    output: str  # the stored tensor the group leaves behind
    acc_tensor: str | None  # tensor the tail accumulates into when it differs from `output`
    acc_dtype: str | None
    acc_bytes: int
    slice_bytes: list[int]  # bytes per channel of each inner tensor
    options: list[Option]
    overwrites: str | None = None  # input whose bytes the output takes over, slice by slice
    axis: str = "channel"  # "row": a band group (analysis/bands.py): widths are band heights, `channels` rows

    @cached_property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def option(self, width: int) -> Option:
        return next(o for o in self.options if o.width == width)

    def extra_calls(self, o: Option) -> int:
        """Kernel calls a run with option `o` makes beyond one per member."""
        return (o.calls or o.rounds * len(self.members)) - len(self.members)

    def slice_sizes(self, width: int, align: int = WORD) -> list[int]:
        return [align_up(b * width, align) for b in self.slice_bytes]


def region_bytes(slice_sizes: list[int]) -> int:
    """Live slice bytes of a chain round: each member reads the previous slice and writes the next."""
    if len(slice_sizes) == 1:
        return slice_sizes[0]
    return max(a + b for a, b in zip(slice_sizes, slice_sizes[1:]))


def accumulator(graph: Graph, op: Op) -> tuple[str | None, str | None, int]:
    """(tensor, dtype, bytes) of the partial sums a tail accumulates, None when it writes its output directly.

    Quantized ops accumulate in int32 and requantize at the end; float ops with an activation epilogue
    accumulate the pre-activation value and apply the activation at the end.
    """
    out = graph.tensors[op.outputs[0]]
    if op.requant is not None:
        return op.core.outputs[0], "int32", out.numel * 4
    if op.epilogue:  # the value the epilogue starts from: a folded BatchNormalization's output, if any
        first = op.epilogue[0]
        return next(t for t in first.inputs if t and t not in graph.constants), out.dtype, out.nbytes
    return None, None, 0


def candidate_groups(graph: Graph, max_ops: int = MAX_GROUP_OPS, align: int = WORD) -> list[Group]:
    """Every chain of 2..max_ops ops that can run in channel slices, with its split options."""
    rules = {op.name: split_rule(graph, op) for op in graph.ops}
    dag = graph.dag()
    groups: list[Group] = []
    for start in graph.ops:
        if rules[start.name] is Rule.OPAQUE:
            continue
        chain = [start]
        while len(chain) < max_ops:
            last = chain[-1]
            if len(chain) > 1 and rules[last.name] is Rule.FULL:
                break  # a tail ends the chain
            out = last.outputs[0]
            users = graph.consumers[out]
            if len(users) != 1 or out in graph.outputs or rules[users[0].name] is Rule.OPAQUE:
                break
            chain.append(users[0])
            group = _make_group(graph, dag, chain, rules, align)
            if group is not None:
                groups.append(group)
    return groups


def _channels_of(graph: Graph, chain: list[Op], rules: dict[str, Rule]) -> int | None:
    """The one channel count every link of the chain carries, or None when they differ."""
    c = graph.tensors[chain[0].outputs[0]].channels
    for prev, op in zip(chain, chain[1:]):
        if graph.tensors[prev.outputs[0]].channels != c:
            return None
        if rules[op.name] is Rule.CHANNELWISE and graph.tensors[op.outputs[0]].channels != c:
            return None
    return c


def _widths(channels: int) -> list[int]:
    """Every distinct max slice width of k rounds, k = 2..channels (the last slice may be narrower)."""
    return sorted({-(-channels // k) for k in range(2, channels + 1)}, reverse=True)


def _overwritable(graph: Graph, dag: nx.DiGraph, chain: list[Op], inner: list[str]) -> str | None:
    """An input of the elementwise last member that the output can overwrite, slice by slice: same
    elements, not narrower, read by no other member, and every other reader runs before the group in any
    order (an ancestor of its first member), so the input is dead once its slice is read."""
    last = chain[-1]
    if not spec(last.op_type).elementwise:
        return None
    out = graph.tensors[last.outputs[0]]
    before = nx.ancestors(dag, chain[0].name)
    for x in graph.activation_inputs(last):
        t = graph.tensors[x]
        readers = graph.consumers[x]
        if (
            x not in inner
            and t.shape == out.shape
            and t.perm is None
            and out.itemsize <= t.itemsize
            and x not in graph.outputs
            and graph.storage_root(x) == x
            and all(graph.consumers[part] == [graph.producer[x]] for part in graph.parts(x))
            and all(not r.view and (r is last or r.name in before) for r in readers)
            and not any(x in graph.activation_inputs(m) for m in chain[:-1])
        ):
            return x
    return None


def _make_group(graph: Graph, dag: nx.DiGraph, chain: list[Op], rules: dict[str, Rule], align: int) -> Group | None:
    channels = _channels_of(graph, chain, rules)
    if channels is None or channels < 2:
        return None
    inner = [op.outputs[0] for op in chain[:-1]]
    members = {op.name for op in chain}
    inputs = list(dict.fromkeys(t for op in chain for t in graph.activation_inputs(op) if t not in inner))
    if any(t in graph.producer and graph.producer[t].name in members for t in inputs):
        return None
    tail = rules[chain[-1].name] is Rule.FULL
    acc_tensor, acc_dtype, acc_bytes = accumulator(graph, chain[-1]) if tail else (None, None, 0)
    carved = chain[-1].outputs[0] in graph.carved  # written into a concat output: it cannot sit elsewhere
    if carved and acc_tensor is not None:
        return None
    group = Group(
        id="+".join(op.name for op in chain),
        members=list(chain),
        channels=channels,
        head=rules[chain[0].name] is Rule.FULL,
        tail=tail,
        inner=inner,
        inputs=inputs,
        output=chain[-1].outputs[0],
        acc_tensor=acc_tensor,
        acc_dtype=acc_dtype,
        acc_bytes=acc_bytes,
        slice_bytes=[graph.tensors[t].nbytes // graph.tensors[t].channels for t in inner],
        options=[],
        overwrites=None if tail or carved else _overwritable(graph, dag, chain, inner),
    )
    group.options = [
        Option(w, -(-channels // w), region_bytes(group.slice_sizes(w, align))) for w in _widths(channels)
    ]
    return group
