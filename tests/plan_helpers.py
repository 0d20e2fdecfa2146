"""Checks every planner's plan must pass, shared by the planner, model and property tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

from pexcp.analysis.liveness import Schedule, expand, lifetimes, peak
from pexcp.analysis.partial import Group, candidate_groups
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import TEMP, Graph, Op
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.registry import METHODS
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions

QUICK = 2.0  # seconds: enough for every method on the small synthetic models


def solve_quick(path: Path, method: str, timeout: float = QUICK, **options) -> tuple[Graph, Plan]:
    """`solve` with a short timeout (methods that search stop early; the plan is still validated)."""
    return solve(path, method, SolveOptions(timeout=timeout, **options))


def plan_graph(path: Path, plan: Plan) -> Graph:
    """The graph the plan was made for: the model imported with the plan's rewrites and input shapes."""
    shapes = {k: tuple(v) for k, v in plan.input_shapes.items()}
    return load_graph(path, shapes, tuple(plan.rewrites))


def unsliced_order(graph: Graph, plan: Plan) -> list[Op] | None:
    """The op order of a plan that runs every op whole, once, each output in bytes of its own; None for
    plans with sliced or in-place steps (which the plain liveness model of that order does not describe)."""
    if any(step.slice is not None or step.in_place for step in plan.steps):
        return None
    return [graph.op(step.op) for step in plan.steps]


def assert_sound(path: Path, plan: Plan) -> None:
    """The plan validates against the model and its arena is never below any bound it claims; for an
    unsliced plan, the LOAD of its schedule (recomputed here, before any alignment of buffer sizes) is at
    most the LOAD it reports."""
    assert plan_problems(plan, path) == []
    assert plan.method in METHODS
    assert plan.arena_bytes >= plan.lower_bound_bytes
    assert plan.arena_bytes >= plan.load_bytes > 0
    graph = plan_graph(path, plan)
    order = unsliced_order(graph, plan)
    if order is not None:
        assert sorted(op.name for op in order) == sorted(op.name for op in graph.ops)
        load, _ = peak(lifetimes(graph, order), len(order))
        assert load <= plan.load_bytes


def split_plan(
    path: Path, pick: Callable[[Group], bool], width: int, rewrites: tuple[str, ...] = ALL_REWRITES
) -> tuple[Graph, Plan]:
    """The file order of `path`, with every candidate group `pick` accepts run in slices of `width`."""
    graph = load_graph(path, rewrites=rewrites)
    groups = {g.id: g for g in candidate_groups(graph)}
    chosen: list[Group] = []
    for g in groups.values():  # disjoint groups, first come first served
        if pick(g) and not any(set(g.names) & set(c.names) for c in chosen):
            chosen.append(g)
    assert chosen, "no group to split"
    schedule = Schedule([op.name for op in graph.ops], {g.id: width for g in chosen})
    expanded = expand(graph, schedule, groups)
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="cpsat", status="heuristic", lower_bound=0, seconds=0.0)
    assert plan_problems(plan, path) == []
    assert any(s.slice is not None for s in plan.steps)
    return graph, plan


def in_place_tamperings(plan: Plan, path: Path) -> dict[str, list[str]]:
    """The validator's problems with each tampering of a plan's one in-place step (and its temporary, its
    output aliasing its input): the flag dropped, the temporary shrunk or dropped, the input kept alive, the
    output shifted, and the first step flagged instead."""
    (step,) = [s for s in plan.steps if s.in_place]
    (temp,) = [b for b in plan.buffers if b.tensor == TEMP + step.op]
    out = next(b for b in plan.buffers if b.first_step == step.index and b.alias_of is not None)
    base = next(b for b in plan.buffers if b.id == out.alias_of)

    def unflag(p: Plan) -> None:
        p.steps[step.index].in_place = False

    def shrink(p: Plan) -> None:
        p.buffers[temp.id].bytes -= 4

    def drop_temp(p: Plan) -> None:
        p.buffers = [b for b in p.buffers if b.id != temp.id]

    def keep_input(p: Plan) -> None:
        p.buffers[base.id].last_step += 1

    def shift_output(p: Plan) -> None:
        p.buffers[out.id].offset += 4
        p.buffers[out.id].alias_offset = 4

    def flag_first(p: Plan) -> None:
        p.steps[0].in_place = True

    problems = {}
    for edit in (unflag, shrink, drop_temp, keep_input, shift_output, flag_first):
        bad = copy.deepcopy(plan)
        edit(bad)
        problems[edit.__name__] = plan_problems(bad, path)
    return problems
