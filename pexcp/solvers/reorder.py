"""Method `reorder`: the memory-optimal operator order, then a best-fit layout.

Dynamic programming over the sets of executed ops (Liberis & Lane 2019; Serenity, MLSys 2020): the live
bytes while op v runs depend only on which ops ran before it, so the best peak to reach a set is a
function of the set. Sets are explored level by level (all sets of k executed ops); a level holding more
than `max_states` sets is cut to the most promising ones, and the result is then reported as heuristic.
Past `time_limit` seconds the remaining levels keep only their best set (a greedy completion), so the
search always answers in about the time limit plus O(n^2) steps, however wide the graph.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pexcp.analysis.inplace import temp_bytes
from pexcp.ir import Graph, Op
from pexcp.units import align_up
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import plan_from_order
from pexcp.plan.plan import Plan

MAX_STATES = 20_000
WORK = 10_000_000  # transitions per DP run we allow: the per-level state cap shrinks as n^2 grows


@dataclass
class OrderResult:
    order: list[Op]
    peak: int  # live-bytes peak of `order`
    exact: bool  # True when no level was cut: `peak` is then the minimum over all orders
    timed_out: bool = False  # the time limit passed: later levels were completed greedily


@dataclass
class _Costs:
    """Per-op bitmask facts for O(degree) transitions."""

    preds: list[int]  # ops that must run first
    fresh_bytes: list[int]  # bytes the op allocates while it runs (in-place outputs reuse their input's; kernel scratch)
    out_bytes: list[int]  # bytes of all buffers the op leaves allocated, before freeing
    shared: list[list[tuple[int, int]]]  # (writers mask, bytes) of concat outputs the op may allocate first
    frees: list[list[tuple[int, int]]]  # (users mask, bytes) of buffers the op may be last to read
    dead_out: list[int]  # bytes allocated and unused afterwards (freed right after the op)
    base: int  # bytes of model inputs, live from the start


def _costs(graph: Graph) -> _Costs:
    index = {op.name: i for i, op in enumerate(graph.ops)}
    n = len(graph.ops)
    users: dict[str, int] = {}  # storage root -> mask of ops reading it or any view of it
    for op in graph.ops:
        for t in graph.activation_inputs(op):
            root = graph.storage_root(t)
            users[root] = users.get(root, 0) | (1 << index[op.name])
    outputs = {graph.storage_root(t) for t in graph.outputs}
    preds = [0] * n
    fresh, out_bytes, dead_out = [0] * n, [0] * n, [0] * n
    shared: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for op in graph.ops:  # a concat output is allocated by the first op writing a gathered input
        if op.gathered:
            writers = [index[graph.producer[t].name] for t in op.gathered]
            mask = sum(1 << w for w in writers)
            for w in writers:
                shared[w].append((mask, graph.tensors[op.outputs[0]].nbytes))
    frees: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for op in graph.ops:
        i = index[op.name]
        fresh[i] += scratch_bytes(graph, op)  # live only while the op runs
        for t in graph.activation_inputs(op):
            if t in graph.producer:
                preds[i] |= 1 << index[graph.producer[t].name]
        if not op.view and not op.gathered:
            for t in op.outputs:
                if t in graph.carved:
                    continue
                size = graph.tensors[t].nbytes
                out_bytes[i] += size
                fresh[i] += 0 if op.inplace else size
                if not users.get(t) and t not in outputs:
                    dead_out[i] += size
    for root, mask in users.items():
        if root in outputs:
            continue
        size = graph.tensors[root].nbytes
        for i in range(n):
            if mask >> i & 1:
                frees[i].append((mask, size))
    base = sum(graph.tensors[t].nbytes for t in graph.inputs)
    return _Costs(preds, fresh, out_bytes, shared, frees, dead_out, base)


def optimal_order(graph: Graph, max_states: int = MAX_STATES, time_limit: float | None = None) -> OrderResult:
    n = len(graph.ops)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    timed_out = False
    c = _costs(graph)
    # state: executed-ops mask -> (peak so far, bytes live after, parent mask, last op)
    level: dict[int, tuple[int, int, int, int]] = {0: (0, c.base, -1, -1)}
    history: list[dict[int, tuple[int, int, int, int]]] = [level]
    exact = True
    for _ in range(n):
        nxt: dict[int, tuple[int, int, int, int]] = {}
        for mask, (top, mem, _, _) in level.items():
            for v in range(n):
                bit = 1 << v
                if mask & bit or (c.preds[v] & ~mask):
                    continue
                first = sum(size for writers, size in c.shared[v] if not writers & mask)
                during = mem + c.fresh_bytes[v] + first
                new_mask = mask | bit
                after = mem + c.out_bytes[v] + first - c.dead_out[v] - sum(
                    size for users, size in c.frees[v] if not (users & ~new_mask)
                )
                cand = (max(top, during), after, mask, v)
                old = nxt.get(new_mask)
                if old is None or cand[:2] < old[:2]:
                    nxt[new_mask] = cand
        width = min(max_states, max(4, WORK // (n * n)))  # bounded work on wide graphs
        if deadline is not None and time.perf_counter() > deadline:
            timed_out, width = True, 1
        if len(nxt) > width:
            exact = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: kv[1][:2])[:width])
        level = nxt
        history.append(level)
    (mask, (top, _, _, _)), = level.items()
    order = []
    for depth in range(n, 0, -1):
        _, _, parent, v = history[depth][mask]
        order.append(graph.ops[v])
        mask = parent
    order.reverse()
    return OrderResult(order, top, exact, timed_out)


def plan_reorder(graph: Graph, max_states: int = MAX_STATES, time_limit: float | None = None) -> Plan:
    start = time.perf_counter()
    result = optimal_order(graph, max_states, time_limit)
    notes = []
    if result.exact:
        bound = result.peak
        notes.append("order proven memory-optimal over all topological orders (no splitting)")
    else:
        bound = footprint_bound(graph)
        cut = f"after {time_limit:g} s, then greedily" if result.timed_out else f"at {max_states:,} states per level"
        notes.append(
            f"order search cut {cut}: the order is the best found, not proven; "
            "lower bound = largest single-op footprint"
        )
    return plan_from_order(
        graph,
        result.order,
        best_of_items,
        method="reorder",
        lower_bound=bound,
        seconds=time.perf_counter() - start,
        notes=notes,
    )


def scratch_bytes(graph: Graph, op: Op) -> int:
    """The kernel scratch of an unsliced call of `op` (Graph.scratch), as the memory model aligns it."""
    need = graph.scratch.get(op.name)
    return 0 if need is None else align_up(need.whole)


def footprint_bound(graph: Graph, splittable: frozenset[str] | set[str] = frozenset(),
                    in_place: frozenset[str] | set[str] = frozenset()) -> int:
    """Bytes any schedule needs: all model inputs at the first step, all outputs at the last, and each op
    that must run whole (not in `splittable`) with its inputs, output and kernel scratch at once (views own
    none, and an in-place output lives in its input's bytes; an op that may run `in_place` over its input
    needs only its one-channel temporary besides it)."""
    def total(tensors) -> int:
        return sum(align_up(graph.tensors[t].nbytes) for t in tensors)

    best = max(total(graph.inputs), total({graph.storage_root(t) for t in graph.outputs}))
    for op in graph.ops:
        if op.name in splittable:
            continue
        tensors = {graph.storage_root(t) for t in graph.activation_inputs(op)}
        temp = align_up(temp_bytes(graph, op)) if op.name in in_place else 0
        if not op.view and not op.inplace and not temp:
            tensors |= {graph.storage_root(t) for t in op.outputs}
        best = max(best, total(tensors) + temp + scratch_bytes(graph, op))
    return best
