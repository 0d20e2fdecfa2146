"""Row-band execution: which chains of ops can run band by band along the height axis, and what that holds.

A band chain is `op_1 -> op_2 -> ... -> op_m` (2..MAX_BAND_OPS ops) where each op computes any band of its
output rows from a band of rows of its inputs (convs, depthwise convs, pools, a residual Add: `OpSpec.rows`)
and each link tensor is read by the next op alone. Run with band height h, round j computes rows
[j*h, (j+1)*h) of the chain's output; walking back, each op computes the rows of its output up to the last
one the next op's band needs (in the last round, all rows left), so nothing is computed twice. Each inner
tensor is held as a window of the rows still to be read, channel-planar with a channel stride of R rows:
before rows [a, b) are written the window drops the rows below max(0, b - R) and moves the rest to its front
(R is the most rows a call of the next op reads, or of its producer writes, at once: every row read is still
there). The chain's other inputs stay whole and resident until its last round; its output is whole, written
band by band, over an input of a last elementwise op when no later call reads those rows (`overwrites`).

Band chains become `Group`s with axis "row" (width = band height), so the CP-SAT model chooses among whole
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


def rounds(graph: Graph, group: Group, height: int) -> list[list[Call]]:
    """The kernel calls of each round with band height `height` (module docstring); ops with no new rows to
    compute in a round make no call."""
    maps = [row_map(graph, op) for op in group.members]
    done = [0] * len(group.members)  # rows of each member's output computed so far
    out_rows = graph.tensors[group.output].shape[2]
    result = []
    for a in range(0, out_rows, height):
        need, calls = (a, min(a + height, out_rows)), []
        last = a + height >= out_rows
        for i in range(len(group.members) - 1, -1, -1):
            # every row is computed, those a strided reader skips too (at the end: those no window reads)
            start, stop = done[i], graph.tensors[group.members[i].outputs[0]].shape[2] if last else need[1]
            if stop <= start:
                if last:
                    continue
                break
            calls.append(Call(group.members[i], start, stop))
            done[i] = stop
            need = maps[i].needs(start, stop)
        result.append(calls[::-1])
    return result


def windows(graph: Graph, group: Group, height: int) -> list[int]:
    """Rows each inner tensor's window holds (its capacity R): the most rows one call of its reader reads, or
    of its producer writes."""
    maps = [row_map(graph, op) for op in group.members]
    index = {op.name: i for i, op in enumerate(group.members)}
    most = [0] * len(group.inner)
    for calls in rounds(graph, group, height):
        for call in calls:
            i = index[call.op.name]
            if i < len(most):
                most[i] = max(most[i], call.stop - call.start)
            if i > 0:
                lo, hi = maps[i].needs(call.start, call.stop)
                most[i - 1] = max(most[i - 1], hi - lo)
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


def region_bytes(graph: Graph, group: Group, height: int, align: int = WORD) -> int:
    """Bytes of all inner windows: each is live for the whole chain."""
    return sum(align_up(window_bytes(graph, t, r), align) for t, r in zip(group.inner, windows(graph, group, height)))


ROUNDS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def _heights(rows: int) -> list[int]:
    """Band heights of k rounds for k in ROUNDS and k = rows (bands of one row): lower bands hold less, higher
    ones make fewer calls, and heights between these add little but solver work."""
    return sorted({-(-rows // k) for k in ROUNDS if k < rows} | {1}, reverse=True)


def candidate_bands(graph: Graph, max_ops: int = MAX_BAND_OPS, align: int = WORD) -> list[Group]:
    """Every chain of 2..max_ops ops that can run in row bands, with its band heights as options."""
    maps = {op.name: row_map(graph, op) for op in graph.ops}
    dag = graph.dag()
    groups: list[Group] = []
    for start in graph.ops:
        if maps[start.name] is None:
            continue
        chain = [start]
        while len(chain) < max_ops:
            out = chain[-1].outputs[0]
            users = graph.consumers[out]
            if (len(users) != 1 or maps[users[0].name] is None or out in graph.outputs or out in graph.carved
                    or graph.storage_root(out) != out or graph.parts(out)):
                break
            chain.append(users[0])
            group = _make_band(graph, dag, list(chain), align)
            if group is not None:
                groups.append(group)
    return groups


def _overwritable(graph: Graph, dag: nx.DiGraph, group: Group, x: str) -> bool:
    """The chain's last op, elementwise, may write its output over its whole input `x` band by band: the
    same elements, each no larger, bytes of its own (no view, concat part or model output), every other
    reader runs before the chain, and at every band height no call reads rows of `x` that the last op has
    written over by then (a residual Add over its skip input, which the chain's first conv also reads)."""
    out, t = graph.tensors[group.output], graph.tensors[x]
    if t.shape != out.shape or out.itemsize > t.itemsize or x in graph.outputs or graph.storage_root(x) != x:
        return False
    if graph.parts(x) or x in graph.carved or any(graph.storage_root(v) == x for v in graph.tensors if v != x):
        return False
    before = nx.ancestors(dag, group.names[0])
    if any(r.name not in before and r not in group.members for r in graph.consumers[x]):
        return False
    last = group.members[-1]
    for o in group.options:
        written = 0  # rows of x the last op has overwritten
        for calls in rounds(graph, group, o.width):
            for call in calls:
                if call.op is last:
                    written = call.stop
                elif x in call.op.inputs and row_map(graph, call.op).needs(call.start, call.stop)[0] < written:
                    return False
    return True


def _make_band(graph: Graph, dag: nx.DiGraph, chain: list[Op], align: int) -> Group | None:
    inner = [op.outputs[0] for op in chain[:-1]]
    output = chain[-1].outputs[0]
    rows = graph.tensors[output].shape[2]
    if rows < 2:
        return None
    group = Group(
        id="rows:" + "+".join(op.name for op in chain),
        members=chain,
        channels=rows,
        head=False,
        tail=False,
        inner=inner,
        inputs=list(dict.fromkeys(t for op in chain for t in graph.activation_inputs(op) if t not in inner)),
        output=output,
        acc_tensor=None,
        acc_dtype=None,
        acc_bytes=0,
        slice_bytes=[window_bytes(graph, t, 1) for t in inner],
        options=[],
        axis=ROW,
    )
    group.options = [
        Option(h, -(-rows // h), region_bytes(graph, group, h, align)) for h in _heights(rows)
    ]
    if spec(chain[-1].op_type).elementwise:
        skips = [x for x in group.inputs if x in chain[-1].inputs]
        group.overwrites = next((x for x in skips if _overwritable(graph, dag, group, x)), None)
    return group
