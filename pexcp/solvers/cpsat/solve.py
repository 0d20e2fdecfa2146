"""Method `cpsat`: run the phases (phases.py) on each part and assemble the plan.

0. Decomposition: where a single tensor is all that flows from one part of the graph to the next, the
   parts are solved separately (decompose.py), each by the phases, with the cut tensors at offset 0.
1-4. Per part: heuristics, LOAD bound, layout, joint model (phases.py), time shared by size (budget.py).
The parts' plans are concatenated. Parts go in order of their heuristic arena, and one within the largest
bound proven so far needs no more search. The lower bound is the largest part's LOAD bound; when the plan
is above it, windows of consecutive segments are solved again without pins (prove.py), and segments below
the final arena are re-solved for fewer slices. With a budget, segments that do not fit with their cut
tensors pinned fall back to the whole model. Every switch is a field of SolverParams (params.py).
"""

from __future__ import annotations

import time

from pexcp.analysis.bands import candidate_bands
from pexcp.analysis.inplace import in_place_ops
from pexcp.analysis.partial import candidate_groups
from pexcp.errors import BudgetError
from pexcp.ir import Graph
from pexcp.plan.build import make_plan
from pexcp.plan.plan import Plan
from pexcp.solvers.cpsat import phases, prove, report
from pexcp.solvers.cpsat.budget import BOUND_SHARE, PROOF_RESERVE, Clock
from pexcp.solvers.cpsat.context import Context
from pexcp.solvers.cpsat.part import Part, combine, parts as split_parts, whole
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.reorder import footprint_bound
from pexcp.units import format_bytes


def solve_parts(ctx: Context, parts: list[Part], reserve: float) -> None:
    """Phases 1-4 on every part, the time left shared by size; `reserve` (a fraction) of the joint phase's
    time is left for the decomposition proof. Without a budget the parts most likely to set the arena go
    first, and a part whose plan is within the largest bound proven so far needs no more search."""
    params, budget, clock = ctx.params, ctx.budget, ctx.clock
    heuristics = clock.heuristics_work()
    for part, allowed in clock.shares(parts, lambda p: p.size, heuristics / max(clock.total, 1e-9)):
        phases.heuristics(ctx, part, allowed)
    clock.spent += heuristics
    unsplit = max(p.candidates[0].arena for p in parts)
    ctx.progress(f"heuristics: unsplit {unsplit:,} B, best with pex-greedy {max(p.smallest() for p in parts):,} B")

    def floor() -> int:
        return max(p.bound for p in parts) if budget is None else 0

    ranked = sorted(parts, key=Part.smallest, reverse=True) if budget is None else parts
    if params.bound_phase:
        needed = lambda p: budget is not None or p.smallest() > floor()  # noqa: E731
        for part, allowed in clock.shares(ranked, lambda p: p.size, BOUND_SHARE, needed):
            phases.bound(ctx, part, allowed)
        ctx.progress(f"LOAD bound {max(p.bound for p in parts):,} B")
    for part in parts:
        phases.settle(part, budget, floor())
    last = phases.pack_best if params.address == "pack" else phases.joint
    needed = lambda p: not p.optimal or not params.layout_shortcut  # noqa: E731
    for part, allowed in clock.shares(ranked, lambda p: p.size, 1 - reserve, needed):
        if not allowed.empty:
            last(ctx, part, floor(), allowed)


def _check_budget(ctx: Context, part: Part) -> None:
    budget = ctx.budget
    assert part.best is not None
    if budget is not None and part.best.arena > budget and part.no_fit:
        raise BudgetError(
            f"budget {format_bytes(budget)} cannot be met: the joint model proved that no plan fits (best "
            f"plan {part.best.arena:,} B); bottleneck: {report.bottleneck(part.best, part)}"
        )
    if budget is not None and part.best.arena > budget:
        raise BudgetError(
            f"no plan within budget {format_bytes(budget)} found in {ctx.options.timeout:g} s (best "
            f"{part.best.arena:,} B, proven lower bound {part.bound:,} B, so it is not proven impossible); "
            f"bottleneck: {report.bottleneck(part.best, part)}"
        )


def plan_cpsat(graph: Graph, options: SolveOptions) -> Plan:
    """Plan `graph` with the cpsat method under `options` (its switches: options.params)."""
    params = options.params
    ctx = Context(options, Clock.start(options.timeout, params.search == "reproducible"))
    groups = {g.id: g for g in candidate_groups(graph)} if params.split else {}
    groups |= {g.id: g for g in candidate_bands(graph, dags=params.band_dags)} if params.bands else {}
    parts = split_parts(graph, groups, params)
    if len(parts) > 1:
        ctx.progress(f"decomposed into {len(parts)} segments at cut tensors")
    pinned = len(parts) > 1 and options.budget is None  # segments' plans to prove, then economise
    solve_parts(ctx, parts, PROOF_RESERVE if pinned else 0.0)
    if options.budget is not None and len(parts) > 1 and any(p.best.arena > options.budget for p in parts):
        ctx.progress("cut tensors at offset 0 do not fit the budget: whole model")
        parts = [whole(graph, groups, params)]
        solve_parts(ctx, parts, 0.0)
    for part in parts:
        _check_budget(ctx, part)

    best, groups = combine(graph, parts)
    splittable = {name for g in groups.values() for name in g.names}
    in_place = {op.name for op in in_place_ops(graph, params.in_place)}
    bound = max([p.bound for p in parts] + [footprint_bound(graph, splittable, in_place)])
    proof = ""
    if pinned and best.arena > bound and params.address == "joint":
        best, bound, proof = prove.prove(ctx, graph, parts, best, bound)
    if pinned and best.arena == max(p.best.arena for p in parts) and params.address == "joint":
        prove.economise(ctx, parts, best.arena)  # (not replaced by the whole model's plan)
        best, groups = combine(graph, parts)
    optimal = best.arena <= bound if options.budget is None else all(p.optimal for p in parts)
    notes = report.notes(parts, best, groups, options.budget, ctx.clock, params.objective) + ([proof] if proof else [])
    if ctx.exported:
        notes.append(f"CP-SAT models written: {', '.join(p.name for p in ctx.exported)}")
    plan = make_plan(graph, best.expanded, best.offsets, method="cpsat", status="optimal" if optimal else "feasible",
                     lower_bound=bound, seconds=time.perf_counter() - ctx.t0, notes=notes)
    plan.extra = report.extra(parts, bound, optimal, bool(proof), ctx.clock, options.seed, options.workers)
    plan.extra["exported_models"] = [str(p) for p in ctx.exported]
    return plan
