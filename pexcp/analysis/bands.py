"""Row-band execution: which chains of ops can run band by band along the height axis, and what that holds.

A band chain is `op_1 -> op_2 -> ... -> op_m` (2..MAX_BAND_OPS ops) where each op computes any band of its
output rows from a band of rows of its one activation input (convs, depthwise convs, pools: `OpSpec.rows`),
and each link tensor is read by the next op alone. Run with band height h, round j computes rows
[j*h, (j+1)*h) of the chain's output; walking back, each op computes the rows of its output up to the last
one the next op's band needs, so nothing is computed twice. Each inner tensor is held as a window of the rows that
are still to be read, channel-planar with a channel stride of R rows: before rows [a, b) are written the
window drops the rows below max(0, b - R) and moves the rest to its front (R is the most rows a call of the
next op reads, or its producer writes, at once: every row it reads is still there). The chain's input and other inputs stay whole
and resident until its last round; its output is whole, written band by band.

Band chains become `Group`s with axis "row" (width = band height), so the CP-SAT model chooses among whole
runs, channel splits and band heights with the same variables: only the memory they hold differs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """How `op` maps output rows to input rows, when it can run in row bands: one stored batch-1 NCHW
    activation input and output, a float op's activation one its kernel applies, its type's row rule
    (pexcp.ops)."""
    if op.view or op.inplace or op.gathered or len(op.outputs) != 1:
        return None
    acts = graph.activation_inputs(op)
    if len(acts) != 1 or acts[0] != op.inputs[0]:
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
            if graph.tensors[users[0].outputs[0]].shape[2] > 1:
                groups.append(_make_band(graph, list(chain), align))
    return groups


def _make_band(graph: Graph, chain: list[Op], align: int) -> Group:
    inner = [op.outputs[0] for op in chain[:-1]]
    output = chain[-1].outputs[0]
    rows = graph.tensors[output].shape[2]
    group = Group(
        id="rows:" + "+".join(op.name for op in chain),
        members=chain,
        channels=rows,
        head=False,
        tail=False,
        inner=inner,
        inputs=[chain[0].inputs[0]],
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
    return group
