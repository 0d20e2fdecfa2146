"""Row-band execution: which groups of ops can run band by band along the height axis, and what that holds.

A band group is 2..MAX_BAND_OPS ops, each computing any band of its output rows from a band of rows of its
inputs (convs, depthwise convs, pools, a residual Add: `OpSpec.rows`). It is convex and leaves one tensor
behind, its output; every other output of a member (an inner tensor) is read by members alone, by one (a
chain) or by several (a residual block's input, read by its first conv and its Add or shortcut).

Run with band height h, the group computes its output h rows at a time. For each band, the caps are the rows
of each member's output that the output rows so far need (walking back over readers); the members then run
in sub-rounds, in order: the first member computes its next rows (as many as a later band adds), each other
member every row its inputs' rows so far are enough for, up to its cap. So the first band's long prologue
runs in small steps, and no member runs ahead of what the current band needs; nothing is computed twice, and
the last band computes every row left (those a strided reader skips too).

Each inner tensor is held as a window of R rows, channel-planar with a channel stride of R rows: before rows
[a, b) are written the window drops the rows below max(0, b - R) and moves the rest to its front. R is the
most rows a call writes, or from the lowest row a call reads to the last row written by then, so every row
read is still there. The group's other inputs stay whole and resident until its last round; its output is
whole, written band by band, over an input of a last elementwise op when no later call reads those rows
(`overwrites`).

Band groups become `Group`s with axis "row" (width = band height), so the CP-SAT model chooses among whole
runs, channel splits and band heights with the same variables: only the memory they hold differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from pexcp.analysis.partial import Group, Option
from pexcp.ir import Graph, Op
from pexcp.ops import spec
from pexcp.ops.window import Rows
from pexcp.units import WORD, align_up

MAX_BAND_OPS = 8
ROW = "row"


@dataclass(frozen=True)
class Call:
    """One kernel call of a band round: `op` computes rows [start, stop) of its output."""

    op: Op
    start: int
    stop: int


def row_map(graph: Graph, op: Op) -> Rows | None:
    """How `op` maps output rows to the rows of its inputs, when it can run in row bands: stored batch-1 NCHW
    activation inputs and output, a float op's activation one its kernel applies, its type's row rule
    (pexcp.ops)."""
    if op.view or op.gathered or len(op.outputs) != 1:
        return None
    acts = graph.activation_inputs(op)
    if not acts or any(t not in op.inputs for t in acts):
        return None
    if op.requant is None and (len(op.epilogue) > 1 or op.epilogue and op.epilogue[0].op_type not in ("Relu", "Clip")):
        return None  # a float kernel fuses a clamp; any other activation would be a call over the band
    tensors = [graph.tensors[t] for t in acts + op.outputs]  # (shapes as stored: a folded layout is NCHW too)
    if any(len(t.shape) != 4 or t.shape[0] != 1 for t in tensors) or graph.tensors[op.outputs[0]].perm is not None:
        return None
    return spec(op.op_type).rows(graph, op)


def _needs(graph: Graph, members: list[Op], maps: list[Rows], stop: int) -> list[int]:
    """Rows of each member's output that rows [0, stop) of the last member's read, walking back."""
    producer = {op.outputs[0]: i for i, op in enumerate(members)}
    need = [0] * len(members)
    need[-1] = stop
    for i in range(len(members) - 1, -1, -1):
        if need[i]:
            hi = maps[i].needs(0, need[i])[1]
            for x in graph.activation_inputs(members[i]):
                if x in producer:
                    need[producer[x]] = max(need[producer[x]], hi)
    return need


def rounds(graph: Graph, group: Group, height: int) -> list[list[Call]]:
    """The kernel calls of each round with band height `height` (module docstring); ops with no new rows to
    compute in a round make no call."""
    members = group.members
    maps = [row_map(graph, op) for op in members]
    producer = {op.outputs[0]: i for i, op in enumerate(members)}
    total = [graph.tensors[op.outputs[0]].shape[2] for op in members]
    caps = [_needs(graph, members, maps, stop) for stop in range(height, total[-1], height)] + [total]
    step = max([b[0] - a[0] for a, b in zip(caps, caps[1:-1])] + [1])
    done = [0] * len(members)  # rows of each member's output computed so far
    result = []
    for cap in caps:
        while any(d < c for d, c in zip(done, cap)):
            calls = []
            for i, op in enumerate(members):
                reach = min(done[0] + step, total[0]) if i == 0 else min(
                    maps[i].reach(done[producer[x]], total[i]) for x in graph.activation_inputs(op) if x in producer)
                end = min(cap[i], reach)
                if end > done[i]:
                    calls.append(Call(op, done[i], end))
                    done[i] = end
            if not calls:  # (cannot happen: a member's inputs at their caps are enough for its cap)
                break
            result.append(calls)
    return result


def windows(graph: Graph, group: Group, schedule: list[list[Call]]) -> list[int]:
    """Rows each inner tensor's window holds (its capacity R) when the group runs `schedule` (its `rounds`):
    the most rows one call of its producer writes, and the most rows from the lowest one a call reads to the
    last one written by then (every reader's)."""
    maps = {op.name: row_map(graph, op) for op in group.members}
    index = {t: i for i, t in enumerate(group.inner)}
    written = [0] * len(group.inner)
    most = [0] * len(group.inner)
    for calls in schedule:
        for call in calls:
            lo = maps[call.op.name].needs(call.start, call.stop)[0]
            for x in graph.activation_inputs(call.op):
                if x in index:
                    most[index[x]] = max(most[index[x]], written[index[x]] - lo)
            i = index.get(call.op.outputs[0])
            if i is not None:
                written[i] = call.stop
                most[i] = max(most[i], call.stop - call.start)
    return most


def scratch(graph: Graph, group: Group, height: int) -> dict[str, int]:
    """Kernel scratch of each member with scratch (Graph.scratch): the most any of its band calls needs."""
    most: dict[str, int] = {}
    for calls in rounds(graph, group, height):
        for call in calls:
            need = graph.scratch.get(call.op.name)
            if need is not None:
                most[call.op.name] = max(most.get(call.op.name, 0), need.band_bytes(call.stop - call.start))
    return most


def window_bytes(graph: Graph, tensor: str, rows: int) -> int:
    t = graph.tensors[tensor]
    return t.nbytes // t.shape[2] * rows


def region_bytes(graph: Graph, group: Group, schedule: list[list[Call]], align: int = WORD) -> int:
    """Bytes of all inner windows when the group runs `schedule`: each is live for the whole group."""
    return sum(align_up(window_bytes(graph, t, r), align) for t, r in zip(group.inner, windows(graph, group, schedule)))


ROUNDS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def _heights(rows: int) -> list[int]:
    """Band heights of k rounds for k in ROUNDS and k = rows (bands of one row): lower bands hold less, higher
    ones make fewer calls, and heights between these add little but solver work."""
    return sorted({-(-rows // k) for k in ROUNDS if k < rows} | {1}, reverse=True)


def candidate_bands(graph: Graph, max_ops: int = MAX_BAND_OPS, align: int = WORD, dags: bool = True) -> list[Group]:
    """Every group of 2..max_ops ops that can run in row bands, with its band heights as options. A group
    grows from its first op by the earliest reader (in graph order) of a tensor it leaves to ops outside, so
    it is convex and its members are in execution order; it is a candidate while one tensor leaves it (and
    without `dags`, while each of its inner tensors has one reader: a chain)."""
    maps = {op.name: row_map(graph, op) for op in graph.ops}
    index = {op.name: i for i, op in enumerate(graph.ops)}
    dag = graph.dag()
    groups: list[Group] = []
    for start in graph.ops:
        if maps[start.name] is None:
            continue
        members = [start]
        while len(members) < max_ops:
            names = {op.name for op in members}
            readers = [r for op in members for r in graph.consumers[op.outputs[0]] if r.name not in names]
            if not readers:
                break
            nxt = min(readers, key=lambda r: index[r.name])
            if maps[nxt.name] is None:
                break
            members.append(nxt)
            if not dags and any(len(graph.consumers[op.outputs[0]]) > 1 for op in members[:-1]):
                break
            group = _make_band(graph, dag, list(members), align)
            if group is not None:
                groups.append(group)
    return groups


def _bandable_inner(graph: Graph, members: list[Op]) -> bool:
    """Every member's output but the last is read by members alone and is bytes of its own, so a window can
    hold it."""
    names = {op.name for op in members}
    for op in members[:-1]:
        t = op.outputs[0]
        if (any(r.name not in names for r in graph.consumers[t]) or t in graph.outputs or t in graph.carved
                or graph.storage_root(t) != t or graph.parts(t)):
            return False
    return True


def _overwritable(graph: Graph, dag: nx.DiGraph, group: Group, x: str, schedules: list[list[list[Call]]]) -> bool:
    """The group's last op, elementwise, may write its output over its whole input `x` band by band: the
    same elements, each no larger, bytes of its own (no view, concat part or model output), every other
    reader runs before the group, and at every band height no call reads rows of `x` that the last op has
    written over by then (a residual Add over its skip input, which the group's first conv also reads);
    `schedules`: the group's rounds at each of its band heights."""
    out, t = graph.tensors[group.output], graph.tensors[x]
    if t.shape != out.shape or out.itemsize > t.itemsize or x in graph.outputs or graph.storage_root(x) != x:
        return False
    if graph.parts(x) or x in graph.carved or any(graph.storage_root(v) == x for v in graph.tensors if v != x):
        return False
    before = nx.ancestors(dag, group.names[0])
    if any(r.name not in before and r not in group.members for r in graph.consumers[x]):
        return False
    last = group.members[-1]
    maps = {op.name: row_map(graph, op) for op in group.members}
    for schedule in schedules:
        written = 0  # rows of x the last op has overwritten
        for calls in schedule:
            for call in calls:
                if call.op is last:
                    written = call.stop
                elif x in call.op.inputs and maps[call.op.name].needs(call.start, call.stop)[0] < written:
                    return False
    return True


def _make_band(graph: Graph, dag: nx.DiGraph, members: list[Op], align: int) -> Group | None:
    if not _bandable_inner(graph, members):
        return None
    inner = [op.outputs[0] for op in members[:-1]]
    output = members[-1].outputs[0]
    rows = graph.tensors[output].shape[2]
    if rows < 2:
        return None
    group = Group(
        id="rows:" + "+".join(op.name for op in members),
        members=members,
        channels=rows,
        head=False,
        tail=False,
        inner=inner,
        inputs=list(dict.fromkeys(t for op in members for t in graph.activation_inputs(op) if t not in inner)),
        output=output,
        acc_tensor=None,
        acc_dtype=None,
        acc_bytes=0,
        slice_bytes=[window_bytes(graph, t, 1) for t in inner],
        options=[],
        axis=ROW,
    )
    schedules = {h: rounds(graph, group, h) for h in _heights(rows)}  # each height's rounds, computed once
    group.options = [
        Option(h, -(-rows // h), region_bytes(graph, group, calls, align), sum(map(len, calls)))
        for h, calls in schedules.items()
    ]
    if spec(members[-1].op_type).elementwise:
        skips = [x for x in group.inputs if x in members[-1].inputs]
        group.overwrites = next((x for x in skips if _overwritable(graph, dag, group, x, list(schedules.values()))), None)
    return group
