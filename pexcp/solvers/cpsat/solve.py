"""Run the CP-SAT scheduler in phases and turn its answer into a plan.

1. Incumbent: the best heuristic plan (optimal order unsplit, and pex-greedy); its arena caps the search.
2. Bound: the model without offsets (order + splits + cumulative) minimises LOAD: a proven lower bound on
   any arena, and a schedule that reaches it.
3. Layout: that schedule laid out best-fit; when it packs at the bound the plan is optimal and we stop.
4. Joint: order, splits and offsets in one model (NoOverlap2D + the redundant cumulative), hinted with
   the best plan so far, bounded below by phase 2, for the rest of the time.
With a budget the objective becomes: fit within it, then fewest extra slices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from pexcp.analysis.liveness import Expanded, Schedule, expand
from pexcp.analysis.partial import Group, candidate_groups
from pexcp.errors import BudgetError
from pexcp.ir import Graph
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.pex_greedy import greedy_schedule
from pexcp.solvers.registry import Progress, SolveOptions
from pexcp.solvers.reorder import optimal_order
from pexcp.units import format_bytes


@dataclass(frozen=True)
class CpsatConfig:
    """What the scheduler may change and which solving aids it uses (for ablations and breakdowns)."""

    split: bool = True  # consider channel splits
    reorder: bool = True  # free execution order (else the file's)
    bound_phase: bool = True  # LOAD lower bound before the joint model
    hint: bool = True  # start the joint model from the best heuristic plan
    layout_shortcut: bool = True  # stop when the bound schedule packs at the bound
    deterministic: bool = True  # interleaved search: same seed + workers, same plan


@dataclass
class Candidate:
    schedule: Schedule
    expanded: Expanded
    offsets: dict[str, int]  # item id -> byte offset

    @property
    def arena(self) -> int:
        return self.expanded.arena(self.offsets)

    def slices(self, groups: dict[str, Group]) -> int:
        return sum((groups[g].option(w).rounds - 1) * len(groups[g].members) for g, w in self.schedule.splits.items())


def _laid_out(graph: Graph, schedule: Schedule, groups: dict[str, Group]) -> Candidate:
    expanded = expand(graph, schedule, groups)
    return Candidate(schedule, expanded, item_offsets(expanded, best_of_items(expanded.items())))


def _solver(options: SolveOptions, seconds: float, config: CpsatConfig) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.05)
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    solver.parameters.interleave_search = config.deterministic
    return solver


class _Reporter(cp_model.CpSolverSolutionCallback):
    """Incumbent and bound over time, at most every half second."""

    def __init__(self, progress: Progress | None, phase: str, show, t0: float):
        super().__init__()
        self.progress, self.phase, self.show, self.t0, self.last = progress, phase, show, t0, -1.0

    def on_solution_callback(self) -> None:
        now = time.perf_counter() - self.t0
        if self.progress and now - self.last >= 0.5:
            self.last = now
            self.progress(
                f"{now:6.1f}s {self.phase}: incumbent {self.show(self.objective_value)}, "
                f"bound {self.show(self.best_objective_bound)}"
            )


def _schedule_from(sm: cm.ScheduleModel, solver: cp_model.CpSolver) -> Schedule:
    order = sorted(sm.pos, key=lambda name: solver.value(sm.pos[name]))
    splits = {gid: width for (gid, width), x in sm.choice.items() if solver.boolean_value(x)}
    return Schedule(order, splits)


def _base_model(graph, groups, unit, capacity_bytes, config: CpsatConfig) -> cm.ScheduleModel:
    sm = cm.ScheduleModel(graph, groups, unit, capacity=-(-capacity_bytes // unit))
    cm.add_order(sm, None if config.reorder else [op.name for op in graph.ops])
    cm.add_split_choices(sm)
    cm.add_lifetimes(sm)
    return sm


def _bytes_shown(weight: int, unit: int):
    return lambda v: f"{int(v // weight) * unit:,} B"


def load_bound(graph, groups, unit, cap_bytes, options, config, seconds, t0) -> tuple[int, bool, Schedule | None]:
    """Phase 2: the smallest LOAD over all orders and splits (cumulative only). Returns (a proven lower
    bound in bytes, whether it is the exact minimum, the best schedule found)."""
    sm = _base_model(graph, groups, unit, cap_bytes, config)
    load = sm.model.new_int_var(0, sm.capacity, "load")
    cm.add_cumulative(sm, load)
    cm.add_objective(sm, load, None)
    solver = _solver(options, seconds, config)
    weight = cm.max_slices(sm) + 1
    status = solver.solve(sm.model, _Reporter(options.progress, "LOAD bound", _bytes_shown(weight, unit), t0))
    bound = int(solver.best_objective_bound // weight) * unit
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return bound, False, None
    return bound, status == cp_model.OPTIMAL, _schedule_from(sm, solver)


def joint(graph, groups, unit, hint: Candidate, lower: int, options, config, seconds, t0) -> tuple[Candidate | None, int, bool]:
    """Phase 4: order, splits and offsets together. Without a budget it minimises the arena (then slices)
    and returns (candidate, proven arena bound, optimal?); with one it minimises slices within the budget."""
    budget_units = None if options.budget is None else options.budget // unit
    capacity = hint.arena if options.budget is None else options.budget
    sm = _base_model(graph, groups, unit, capacity, config)
    arena = cm.add_arena(sm, lower_bound=-(-lower // unit))
    cm.add_cumulative(sm, arena)
    cm.add_no_overlap(sm)
    cm.add_pins(sm)
    cm.add_objective(sm, arena, budget_units)
    if config.hint:
        cm.add_hint(sm, hint.schedule, hint.offsets)
    solver = _solver(options, seconds, config)
    weight = cm.max_slices(sm) + 1
    show = _bytes_shown(weight, unit) if budget_units is None else (lambda v: f"{v:.0f} extra calls")
    status = solver.solve(sm.model, _Reporter(options.progress, "joint", show, t0))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, lower, False
    schedule = _schedule_from(sm, solver)
    offsets = {b.item: solver.value(b.offset) * unit for b in sm.blocks.values() if solver.value(b.present)}
    bound = lower if budget_units is not None else max(lower, int(solver.best_objective_bound // weight) * unit)
    return Candidate(schedule, expand(graph, schedule, groups), offsets), bound, status == cp_model.OPTIMAL


def _bottleneck(graph: Graph, candidate: Candidate) -> str:
    """The step of a schedule with the most live bytes, and what is live there."""
    expanded = candidate.expanded
    live = [0] * len(expanded.steps)
    for b in expanded.blocks:
        for s in range(b.lower, min(b.upper, len(live))):
            live[s] += b.size
    step = live.index(max(live))
    names = sorted(((b.size, b.id) for b in expanded.blocks if b.lower <= step < b.upper), reverse=True)
    shown = ", ".join(f"{bid} ({size:,} B)" for size, bid in names[:4])
    return f"step {step} ({expanded.steps[step].kernel} {expanded.steps[step].op}) holds {shown}"


def _pick(candidates: list[Candidate], groups: dict[str, Group], budget: int | None) -> Candidate:
    """Smallest arena (then fewest slices); with a budget, fewest slices among those that fit."""
    fitting = [c for c in candidates if budget is not None and c.arena <= budget]
    if fitting:
        return min(fitting, key=lambda c: (c.slices(groups), c.arena))
    return min(candidates, key=lambda c: (c.arena, c.slices(groups)))


def plan_cpsat(graph: Graph, options: SolveOptions, config: CpsatConfig = CpsatConfig()) -> Plan:
    t0 = time.perf_counter()
    deadline = t0 + options.timeout
    budget = options.budget
    progress = options.progress or (lambda msg: None)
    groups = {g.id: g for g in candidate_groups(graph)} if config.split else {}
    unit = cm.size_unit(graph, groups)
    dp_seconds = min(10.0, 0.1 * options.timeout)
    order = [op.name for op in (optimal_order(graph, time_limit=dp_seconds).order if config.reorder else graph.ops)]
    unsplit = _laid_out(graph, Schedule(order), groups)
    greedy = _laid_out(graph, greedy_schedule(graph, groups, order, config.reorder, dp_seconds)[0], groups)
    candidates = [unsplit, greedy]
    progress(f"{time.perf_counter() - t0:6.1f}s heuristics: unsplit {unsplit.arena:,} B, pex-greedy {greedy.arena:,} B")

    cap = max(c.arena for c in candidates) if budget is None else max(budget, min(c.arena for c in candidates))
    bound, exact, schedule = 0, False, None
    if config.bound_phase:
        seconds = 0.4 * (deadline - time.perf_counter())
        bound, exact, schedule = load_bound(graph, groups, unit, cap, options, config, seconds, t0)
        progress(f"{time.perf_counter() - t0:6.1f}s LOAD bound {bound:,} B ({'exact' if exact else 'not exact'})")
    if budget is not None and bound > budget:
        witness = _laid_out(graph, schedule, groups) if schedule else min(candidates, key=lambda c: c.arena)
        raise BudgetError(
            f"budget {format_bytes(budget)} cannot be met: every plan needs at least {bound:,} B (proven); "
            f"bottleneck: {_bottleneck(graph, witness)}"
        )
    if schedule is not None:
        candidates.append(_laid_out(graph, schedule, groups))
    best = _pick(candidates, groups, budget)
    fits = budget is not None and best.arena <= budget
    optimal = best.arena <= bound if budget is None else (fits and best.slices(groups) == 0)
    notes: list[str] = []
    if (not optimal or not config.layout_shortcut) and time.perf_counter() < deadline:
        seconds = deadline - time.perf_counter()
        found, bound_joint, proven = joint(graph, groups, unit, best, bound, options, config, seconds, t0)
        if found is not None:
            best = _pick([best, found], groups, budget)
        if budget is None:
            bound = bound_joint
            optimal = best.arena <= bound
        else:
            optimal = proven and best.arena <= budget
        notes.append("joint order+split+offset model: " + ("proved optimal" if proven else "time limit reached"))
    if budget is not None and best.arena > budget:
        raise BudgetError(
            f"no plan within budget {format_bytes(budget)} found in {options.timeout:g} s (best {best.arena:,} B, "
            f"proven lower bound {bound:,} B, so it is not proven impossible); bottleneck: {_bottleneck(graph, best)}"
        )
    notes.insert(0, f"{len(best.schedule.splits)} of {len(groups)} candidate group(s) split, "
                    f"{best.slices(groups)} extra kernel calls")
    if budget is not None:
        notes.append("with a budget the objective is the fewest extra kernel calls that fit; status refers to it")
    plan = make_plan(graph, best.expanded, best.offsets, method="cpsat", status="optimal" if optimal else "feasible",
                     lower_bound=bound, seconds=time.perf_counter() - t0, notes=notes)
    plan.extra = {"seed": options.seed, "workers": options.workers, "unit_bytes": unit, "lower_bound_exact": exact}
    return plan
