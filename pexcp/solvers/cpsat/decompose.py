"""Cut-point decomposition: split a graph where a single tensor is all that flows from one part to the next.

A cut is a tensor t, produced by op v, such that every op is an ancestor of v, v or a descendant of v; the
only buffer live across the boundary is t (model inputs are read only before it, model outputs are produced
only after it, no other tensor produced before is read after); and no candidate group has members on both
sides. (A gathered Concat input is never a cut: its bytes are the concat output's; a concat output is one
only when nothing after it reads its gathered inputs.) The memory problem then falls apart: any schedule of
the whole graph runs the parts one after the other, and at each step only the blocks of the part it belongs
to are live, so the smallest LOAD of the graph is the largest smallest LOAD of its parts, and a plan can be
assembled from plans of the parts if each cut tensor has the same offset on both sides. We pin every cut
tensor at offset 0.

Two consecutive cuts x and y of one segment must then never be live together: that happens when y's
producer reads x (not in place) or belongs to a candidate group that reads x (a split group keeps its
inputs until its last round and allocates its output at its first). Such cuts are dropped, left to
right, which keeps the most cuts (conflicts only link consecutive cuts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pexcp.analysis.partial import Group
from pexcp.ir import Graph, Op


@dataclass
class Segment:
    """A part of the graph between two cuts, as a graph of its own: its inputs are the previous cut tensor
    (or the model inputs), its outputs the next cut tensor (or the model outputs)."""

    graph: Graph
    groups: dict[str, Group]
    pins: dict[str, int] = field(default_factory=dict)  # cut tensor -> offset (0)


def _masks(graph: Graph) -> tuple[list[int], list[int]]:
    """Ancestor and descendant bitmasks (by op position in the file's order, a topological order)."""
    index = {op.name: i for i, op in enumerate(graph.ops)}
    n = len(graph.ops)
    preds: list[list[int]] = [[] for _ in range(n)]
    for i, op in enumerate(graph.ops):
        for t in graph.activation_inputs(op):
            if t in graph.producer:
                preds[i].append(index[graph.producer[t].name])
    anc, desc = [0] * n, [0] * n
    for i in range(n):
        for p in preds[i]:
            anc[i] |= anc[p] | 1 << p
    for i in reversed(range(n)):
        for p in preds[i]:
            desc[p] |= desc[i] | 1 << i
    return anc, desc


def _crossings(graph: Graph, groups: dict[str, Group]) -> list[int]:
    """For each position i, how many buffers and candidate groups straddle the boundary after op i."""
    n = len(graph.ops)
    index = {op.name: i for i, op in enumerate(graph.ops)}
    last: dict[str, int] = {t: -1 for t in graph.inputs}  # storage root -> last position it is needed
    born: dict[str, int] = {t: -1 for t in graph.inputs}
    for i, op in enumerate(graph.ops):
        if not op.view and not op.gathered:  # a gathered input is born with its concat output
            for t in op.outputs:
                root = graph.storage_root(t)
                born.setdefault(root, i)
                last[root] = i
        for t in graph.activation_inputs(op):
            root = graph.storage_root(t)
            last[root] = max(last[root], i)
    for t in graph.outputs:
        last[graph.storage_root(t)] = n
    delta = [0] * (n + 1)
    spans = [(born[t], last[t]) for t in born]
    spans += [(index[g.names[0]], max(index[m] for m in g.names)) for g in groups.values()]
    for lo, hi in spans:  # straddles the boundary after i for lo <= i < hi
        if lo < hi:
            delta[max(lo, 0)] += 1
            delta[hi] -= 1
    crossing, running = [], 0
    for i in range(n):
        running += delta[i]
        crossing.append(running)
    return crossing


def _whole_cut(graph: Graph, op: Op) -> bool:
    """Whether the op's output can be all that flows on: it is not a gathered Concat input, and if it is
    a concat output, nothing after it reads its gathered inputs by their own names."""
    out = op.outputs[0]
    return out not in graph.carved and all(graph.consumers[p] == [op] for p in graph.parts(out))


def find_cuts(graph: Graph, groups: dict[str, Group]) -> list[int]:
    """Positions i (in the file's order) such that the output of op i is a cut tensor (module docstring)."""
    n = len(graph.ops)
    anc, desc = _masks(graph)
    crossing = _crossings(graph, groups)
    outputs = {graph.storage_root(t) for t in graph.outputs}
    cuts = []
    for i, op in enumerate(graph.ops[:-1]):
        if op.view or len(op.outputs) != 1 or op.outputs[0] in outputs or not _whole_cut(graph, op):
            continue
        everything_ordered = anc[i] == (1 << i) - 1 and desc[i] == ((1 << n) - 1) ^ ((1 << (i + 1)) - 1)
        if everything_ordered and crossing[i] == 1:  # the one straddling buffer is op i's output
            cuts.append(i)
    return cuts


def _live_together(graph: Graph, groups: dict[str, Group], anc: list[int], lo: int, hi: int) -> bool:
    """Whether the cut tensor of op lo may be live while the item holding the cut tensor of op hi is: some op
    reading the first need not run before the op that allocates the second's item (or the split group
    around that op; for a concat output, any op writing a gathered input). An in-place chain from one to the
    other makes them one item, which is fine."""
    x, t = graph.ops[lo].outputs[0], graph.ops[hi].outputs[0]
    while (base := graph.producer[t].inplace) is not None:
        if base == x:
            return False
        t = base  # the item starts where the in-place chain does (inside the segment: only x flows in)
    writers = [graph.producer[p].name for p in graph.parts(t)] or [graph.producer[t].name]  # who allocates it
    index = {op.name: i for i, op in enumerate(graph.ops[lo + 1 : hi + 1], start=lo + 1)}
    starts = [index[w] for w in writers]
    starts += [index[g.names[0]] for g in groups.values() for w in writers if w in g.names]
    reads_x = (any(graph.storage_root(a) == x for a in graph.activation_inputs(graph.op(n))) for n in index)
    readers = [i for i, reads in zip(index.values(), reads_x) if reads]
    return any(not anc[s] >> r & 1 for r in readers for s in starts)


def pinnable_cuts(graph: Graph, groups: dict[str, Group], cuts: list[int]) -> list[int]:
    """The cuts kept, left to right, so that no segment has both its cut tensors live at once."""
    anc, _ = _masks(graph)
    kept: list[int] = []
    for i in cuts:
        if not kept or not _live_together(graph, groups, anc, kept[-1], i):
            kept.append(i)
    return kept


def _sub_graph(graph: Graph, ops: list[Op], inputs: list[str], outputs: list[str], name: str) -> Graph:
    tensors = {t: graph.tensors[t] for t in inputs}
    for op in ops:
        for t in [*graph.activation_inputs(op), *op.outputs]:
            tensors[t] = graph.tensors[t]
    layouts = {t: p for t, p in graph.input_layouts.items() if t in inputs}
    return replace(graph, name=name, tensors=tensors, ops=ops, inputs=inputs, outputs=outputs, input_layouts=layouts)


def segments(graph: Graph, groups: dict[str, Group]) -> list[Segment]:
    """The graph cut at every pinnable cut: one segment per part (a single one when there is no cut)."""
    cuts = pinnable_cuts(graph, groups, find_cuts(graph, groups))
    if not cuts:
        return [Segment(graph, groups)]
    bounds = [-1, *cuts, len(graph.ops) - 1]
    result = []
    for a, b in zip(bounds, bounds[1:]):
        ops = graph.ops[a + 1 : b + 1]
        inputs = graph.inputs if a < 0 else [graph.ops[a].outputs[0]]
        outputs = graph.outputs if b == len(graph.ops) - 1 else [graph.ops[b].outputs[0]]
        names = {op.name for op in ops}
        sub = _sub_graph(graph, ops, inputs, outputs, f"{graph.name}[{a + 1}:{b + 1}]")
        pins = {t: 0 for t in (inputs if a >= 0 else []) + (outputs if b < len(graph.ops) - 1 else [])}
        result.append(Segment(sub, {gid: g for gid, g in groups.items() if g.names[0] in names}, pins))
    return result


def join(graph: Graph, parts: list[Graph]) -> Graph:
    """Consecutive segments as one graph, its cut tensors inside free again: a window on the model whose
    smallest arena is a lower bound on the model's."""
    ops = [op for part in parts for op in part.ops]
    return _sub_graph(graph, ops, parts[0].inputs, parts[-1].outputs, f"{parts[0].name}..{parts[-1].name}")
