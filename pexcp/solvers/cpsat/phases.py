"""The phases a part goes through, one function each, in order (solve.py runs them):

1. heuristics: the optimal unsplit order, and pex-greedy from it; their plans cap the search;
2. bound: the model without offsets (order + splits + cumulative) minimises LOAD: a proven lower bound on
   any arena, and a schedule reaching it, laid out greedily or by the packing engine (phase 3);
4. joint: order, splits and offsets in one model (NoOverlap2D + the redundant cumulative), hinted with the
   best plan so far and bounded below by phase 2 (switch `address=joint`); or, with `address=pack`, the
   bound schedule packed as low as the packing engine gets it.
`settle` decides after each phase whether the part needs more work.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from pexcp.analysis.liveness import Schedule, expand
from pexcp.errors import BudgetError
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.budget import GREEDY_TRIALS, PACK_SHARE, Allowance
from pexcp.solvers.cpsat.context import Context
from pexcp.solvers.cpsat.part import Candidate, Part, pick
from pexcp.solvers.cpsat.report import bottleneck
from pexcp.solvers.pex_greedy import greedy_schedule
from pexcp.solvers.reorder import optimal_order
from pexcp.units import format_bytes


def _bytes_shown(weight: int, unit: int):
    return lambda v: f"{int(v // weight) * unit:,} B"


def heuristics(ctx: Context, part: Part, allowed: Allowance) -> None:
    """Phase 1: the optimal unsplit order (its state cap bounds its work), and pex-greedy from it (bounded by
    trials); the end of --timeout is only a hard stop (not the part's share: these budgets are not
    deterministic seconds), noted when it ends either."""
    graph, params = part.graph, ctx.params
    half = ctx.clock.left().seconds / 2
    order = [op.name for op in graph.ops]
    if params.reorder:
        found = optimal_order(graph, time_limit=half)
        order, ctx.clock.by_clock = [op.name for op in found.order], ctx.clock.by_clock or found.timed_out
    trials = max(1, int(GREEDY_TRIALS * allowed.work / 2 / part.size))
    schedule, _, timed_out = greedy_schedule(graph, part.groups, order, params.reorder, half, trials)
    ctx.clock.by_clock |= timed_out
    laid_out = (part.laid_out(Schedule(order)), part.laid_out(schedule))
    part.candidates = [c for c in laid_out if c is not None]  # the unsplit one always fits its pins


def load_bound(ctx: Context, part: Part, cap_bytes: int, allowed: Allowance) -> tuple[int, bool, Schedule | None]:
    """The smallest LOAD over all orders and splits (cumulative only). Returns (a proven lower bound in bytes,
    whether it is the exact minimum, the best schedule found)."""
    sm = ctx.base_model(part, cap_bytes)
    load = sm.model.new_int_var(0, sm.capacity, "load")
    cm.add_cumulative(sm, load)
    cm.add_objective(sm, load, None)
    if ctx.params.hint and part.candidates:
        cm.add_hint(sm, min(part.candidates, key=lambda c: c.expanded.load).schedule)
    weight = cm.max_slices(sm) + 1
    out = ctx.search(sm, part, "LOAD bound", allowed, _bytes_shown(weight, part.unit))
    bound = int(out.bound // weight) * part.unit
    if not out.found:
        return bound, False, None
    return bound, out.status == cp_model.OPTIMAL, _schedule_from(sm, out.solver)


def bound(ctx: Context, part: Part, allowed: Allowance) -> None:
    """Phases 2 and 3: the LOAD bound, and the layout of the schedule reaching it. Raises BudgetError when the
    bound exceeds the budget."""
    budget, candidates = ctx.budget, part.candidates
    cap = max(c.arena for c in candidates) if budget is None else max(budget, min(c.arena for c in candidates))
    part.load, part.exact, schedule = load_bound(ctx, part, cap, allowed)
    part.bound = part.load
    if budget is not None and part.bound > budget:
        witness = (part.laid_out(schedule) if schedule else None) or min(candidates, key=lambda c: c.arena)
        raise BudgetError(
            f"budget {format_bytes(budget)} cannot be met: every plan needs at least {part.bound:,} B (proven); "
            f"bottleneck: {bottleneck(witness, part)}"
        )
    found = part.laid_out(schedule) if schedule is not None else None
    if found is not None:
        found, settled = part.packed(found, PACK_SHARE * allowed.seconds, False, ctx.options.seed)
        ctx.clock.by_clock |= not settled
        candidates.append(found)


def settle(part: Part, budget: int | None, floor: int) -> None:
    """The part's best plan so far, and whether it needs no more work: without a budget, an arena within
    `floor` (the model's proven bound: below it there is nothing to gain) with the fewest slices there;
    with one, fits it unsplit."""
    part.best = pick(part.candidates, part.groups, floor if budget is None else budget)
    if budget is None:
        part.optimal = part.best.arena <= max(part.bound, floor)
    else:
        part.optimal = part.best.arena <= budget and part.best.slices(part.groups) == 0


def joint_model(ctx: Context, part: Part, hint: Candidate, allowed: Allowance, floor: int | None = None,
                budget: int | None = None, phase: str = "joint") -> tuple[Candidate | None, int, bool]:
    """Order, splits and offsets together. Without a budget it minimises the arena, counting any arena up to
    `floor` (default: the part's bound) as equal, then slices; it returns (candidate, proven bound on this
    model's arena when floor is the part's bound, search complete?). With a budget it minimises slices (or
    estimated instructions) within it, and a complete search without a candidate proves that nothing fits."""
    unit, params = part.unit, ctx.params
    budget_units = None if budget is None else budget // unit
    sm = ctx.base_model(part, hint.arena if budget is None else budget)
    arena = cm.add_arena(sm, lower_bound=-(-(part.bound if floor is None else floor) // unit))
    if params.cumulative:
        cm.add_cumulative(sm, arena)
    cm.add_no_overlap(sm)
    cm.add_pins(sm)
    cm.add_fixed_offsets(sm, part.pins)
    cm.add_objective(sm, arena, budget_units, by_cost=params.objective == "instructions")
    if params.hint:
        cm.add_hint(sm, hint.schedule, hint.offsets)
    weight = cm.max_slices(sm) + 1
    cost = "estimated extra instructions" if params.objective == "instructions" else "extra calls"
    scale = 100 if params.objective == "instructions" else 1  # costs are in hundredths of an instruction
    show = _bytes_shown(weight, unit) if budget is None else (lambda v: f"{int(v // scale):,} {cost}")
    out = ctx.search(sm, part, phase, allowed, show)
    if not out.found:
        return None, part.bound, out.status == cp_model.INFEASIBLE
    solver = out.solver
    schedule = _schedule_from(sm, solver)
    offsets = {b.item: solver.value(b.offset) * unit for b in sm.blocks.values() if solver.value(b.present)}
    proved = part.bound if budget_units is not None else max(part.bound, int(out.bound // weight) * unit)
    return Candidate(schedule, expand(part.graph, schedule, part.groups), offsets), proved, out.status == cp_model.OPTIMAL


def joint(ctx: Context, part: Part, floor: int, allowed: Allowance) -> None:
    """Phase 4 with `address=joint`."""
    assert part.best is not None
    budget = ctx.budget
    found, proved, proven = joint_model(ctx, part, part.best, allowed, max(floor, part.bound), budget)
    if found is not None:
        part.candidates.append(found)
    if budget is None and not part.pins and floor <= part.bound:  # else it bounds a pinned or floored problem
        part.bound = proved
    settle(part, budget, max(floor, part.bound))
    if budget is not None:
        part.optimal = proven and part.best.arena <= budget
        part.no_fit = proven and found is None
    part.joint = "time limit reached" if not proven else "proved that nothing fits" if part.no_fit else "proved optimal"


def pack_best(ctx: Context, part: Part, floor: int, allowed: Allowance) -> None:
    """Phase 4 with `address=pack`: the schedule of smallest LOAD, placed as low as the packing engine gets
    it in the time allowed (no joint model: offsets never influence the order or splits)."""
    best = min(part.candidates, key=lambda c: (c.expanded.load, c.arena))
    found, settled = part.packed(best, allowed.seconds, True, ctx.options.seed)
    ctx.clock.by_clock |= not settled
    part.candidates.append(found)
    settle(part, ctx.budget, max(floor, part.bound))


def _schedule_from(sm: cm.ScheduleModel, solver: cp_model.CpSolver) -> Schedule:
    order = sorted(sm.pos, key=lambda name: solver.value(sm.pos[name]))
    splits = {gid: width for (gid, width), x in sm.choice.items() if solver.boolean_value(x)}
    return Schedule(order, splits, [name for name, x in sm.in_place.items() if solver.boolean_value(x)],
                    [name for name, x in (sm.no_scratch or {}).items() if solver.boolean_value(x)])
