"""Method `pex-greedy`: the heuristic partial-execution planner, to compare against the optimal one.

Start from the memory-optimal unsplit order; repeatedly split the candidate group at the current peak step
that lowers the peak (LOAD) the most, with the fewest rounds among equal peaks; stop when no split lowers
it. Then lay the buffers out best-fit.
"""

from __future__ import annotations

import time

from pexcp.analysis.liveness import Expanded, Schedule, expand
from pexcp.analysis.partial import Group, candidate_groups
from pexcp.ir import Graph
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.solvers.reorder import optimal_order


def contiguous(order: list[str], group: Group) -> list[str]:
    """`order` with the group's members moved next to its last member (valid: members' outside inputs are
    produced before the member that reads them, and inner tensors are read only by members)."""
    members = set(group.names)
    before = sum(1 for name in order[: order.index(group.names[-1])] if name not in members)
    rest = [name for name in order if name not in members]
    return rest[:before] + group.names + rest[before:]


def _peak_step(expanded: Expanded) -> int:
    live = [0] * len(expanded.steps)
    for b in expanded.blocks:
        for s in range(b.lower, min(b.upper, len(live))):
            live[s] += b.size
    return live.index(max(live))


def greedy_schedule(
    graph: Graph, groups: dict[str, Group], order: list[str], reorder: bool = True
) -> tuple[Schedule, Expanded]:
    """Split greedily at the peak. With `reorder` False only groups already contiguous in `order` split."""
    schedule = Schedule(list(order))
    current = expand(graph, schedule, groups)
    while True:
        step = current.steps[_peak_step(current)]
        taken = {name for gid in schedule.splits for name in groups[gid].names}
        best: tuple[tuple[int, int], Schedule, Expanded] | None = None
        for g in groups.values():
            if step.op not in g.names or taken & set(g.names):
                continue
            trial_order = contiguous(schedule.order, g)
            if not reorder and trial_order != schedule.order:
                continue
            for option in g.options:
                trial = Schedule(trial_order, {**schedule.splits, g.id: option.width})
                result = expand(graph, trial, groups)
                key = (result.load, option.rounds)
                if result.load < current.load and (best is None or key < best[0]):
                    best = (key, trial, result)
        if best is None:
            return schedule, current
        _, schedule, current = best


def plan_pex_greedy(graph: Graph) -> Plan:
    start = time.perf_counter()
    groups = {g.id: g for g in candidate_groups(graph)}
    order = [op.name for op in optimal_order(graph).order]
    schedule, expanded = greedy_schedule(graph, groups, order)
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    return make_plan(
        graph,
        expanded,
        offsets,
        method="pex-greedy",
        status="heuristic",
        lower_bound=expanded.load,
        seconds=time.perf_counter() - start,
        notes=[f"{len(schedule.splits)} group(s) split greedily at the peak; lower bound = LOAD of this schedule"],
    )
