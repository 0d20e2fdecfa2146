"""Method `pex-greedy`: the heuristic partial-execution planner, to compare against the optimal one.

Start from the memory-optimal unsplit order; repeatedly split the candidate group at the current peak step
that lowers the peak (LOAD) the most (or, among equal peaks, leaves fewest steps at it), with the fewest
rounds that do so; stop when no split helps or time runs out; undo the splits the final peak does
not need. Then lay the buffers out best-fit.
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


def _key(live: list[int]) -> tuple[int, int]:
    """Peak live bytes, then how many steps reach it: splitting one of several equal peaks is progress."""
    top = max(live, default=0)
    return top, live.count(top)


def _best_split(graph, groups, schedule, group, current_key):
    """The fewest rounds of `group` that give the lowest key reachable by splitting it (binary search:
    the key barely ever rises with more rounds), or None when no width improves on `current_key`; and how
    many schedules that tried."""
    order = contiguous(schedule.order, group)
    options = sorted(group.options, key=lambda o: o.rounds)

    trials = 0

    def trial(i):
        nonlocal trials
        trials += 1
        s = Schedule(order, {**schedule.splits, group.id: options[i].width})
        e = expand(graph, s, groups)
        return _key(e.live_per_step()), s, e

    finest = trial(len(options) - 1)
    if finest[0] >= current_key:
        return None, trials
    lo, hi, best = 0, len(options) - 1, finest
    while lo < hi:
        mid = (lo + hi) // 2
        result = trial(mid)
        if result[0] <= finest[0]:
            hi, best = mid, result
        else:
            lo = mid + 1
    return best, trials


def greedy_schedule(
    graph: Graph,
    groups: dict[str, Group],
    order: list[str],
    reorder: bool = True,
    time_limit: float | None = None,
    max_trials: int | None = None,
) -> tuple[Schedule, Expanded, bool]:
    """Split greedily at the peak. With `reorder` False only groups already contiguous in `order` split.
    Stops after `max_trials` schedules tried (a reproducible budget) or `time_limit` seconds; says whether
    the time limit stopped it (then another run may differ)."""
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    schedule = Schedule(list(order))
    current = expand(graph, schedule, groups)
    tried, timed_out = 0, False
    while max_trials is None or tried < max_trials:
        if deadline is not None and time.perf_counter() >= deadline:
            timed_out = True
            break
        live = current.live_per_step()
        key = _key(live)
        step = current.steps[live.index(key[0])]
        taken = {name for gid in schedule.splits for name in groups[gid].names}
        best = None
        for g in groups.values():
            if step.op not in g.names or taken & set(g.names):
                continue
            if not reorder and contiguous(schedule.order, g) != schedule.order:
                continue
            found, trials = _best_split(graph, groups, schedule, g, key)
            tried += trials
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        if best is None:
            break
        _, schedule, current = best
    return (*_without_idle_splits(graph, groups, schedule, current), timed_out)


def _without_idle_splits(
    graph: Graph, groups: dict[str, Group], schedule: Schedule, current: Expanded
) -> tuple[Schedule, Expanded]:
    """Undo the splits the final peak does not need: a split that only thinned out one of several equal
    peaks costs extra kernel calls for nothing when another peak stayed."""
    peak = _key(current.live_per_step())[0]
    for gid in list(schedule.splits):
        splits = {k: w for k, w in schedule.splits.items() if k != gid}
        trial = Schedule(schedule.order, splits)
        expanded = expand(graph, trial, groups)
        if _key(expanded.live_per_step())[0] <= peak:
            schedule, current = trial, expanded
    return schedule, current


def plan_pex_greedy(graph: Graph, time_limit: float | None = None) -> Plan:
    start = time.perf_counter()
    groups = {g.id: g for g in candidate_groups(graph)}
    order = [op.name for op in optimal_order(graph, time_limit=time_limit and time_limit / 4).order]
    schedule, expanded, _ = greedy_schedule(graph, groups, order, time_limit=time_limit and time_limit / 2)
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
