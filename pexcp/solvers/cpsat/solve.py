"""Run the CP-SAT scheduler in phases and turn its answer into a plan.

0. Decomposition: where a single tensor is all that flows from one part of the graph to the next, the
   parts are solved separately (decompose.py), each by the phases below, with the cut tensors at offset 0.
1. Incumbent: the best heuristic plan (optimal order unsplit, and pex-greedy); its arena caps the search.
2. Bound: the model without offsets (order + splits + cumulative) minimises LOAD: a proven lower bound on
   any arena, and a schedule that reaches it.
3. Layout: that schedule laid out best-fit (or, when best-fit misses its LOAD, by the packing engine of
   pexcp.layout.pack); when it packs at the bound the plan is optimal and we stop.
4. Joint: order, splits and offsets in one model (NoOverlap2D + the redundant cumulative), hinted with
   the best plan so far, bounded below by phase 2, for the rest of the time.
With a budget the objective becomes: fit within it, then fewest extra slices.
The parts' plans are concatenated. Parts go in order of their heuristic arena, and one within the largest
bound proven so far needs no more search. The lower bound is the largest part's LOAD bound; when the plan
is above it, windows of consecutive segments are solved again without pins (their smallest arena bounds
the model's: _prove), and segments below the final arena are re-solved for fewer slices (_economise).
With a budget, segments that do not fit with their cut tensors pinned fall back to the whole model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from ortools.sat.python import cp_model

from pexcp.analysis.liveness import Expanded, Schedule, expand
from pexcp.analysis.partial import Group, candidate_groups
from pexcp.errors import BudgetError
from pexcp.ir import Graph
from pexcp.layout.pack import pack
from pexcp.layout.pinned import best_of_items
from pexcp.layout.problem import Block
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.decompose import join, segments
from pexcp.solvers.cpsat.search import Outcome, Reporter, search
from pexcp.solvers.pex_greedy import greedy_schedule
from pexcp.solvers.registry import SolveOptions
from pexcp.solvers.reorder import footprint_bound, optimal_order
from pexcp.units import format_bytes


@dataclass(frozen=True)
class CpsatConfig:
    """What the scheduler may change and which solving aids it uses (for ablations and breakdowns)."""

    split: bool = True  # consider channel splits
    reorder: bool = True  # free execution order (else the file's)
    bound_phase: bool = True  # LOAD lower bound before the joint model (decomposed parts need it for proofs)
    hint: bool = True  # start the joint model from the best heuristic plan
    layout_shortcut: bool = True  # stop when the bound schedule packs at the bound
    deterministic: bool = True  # reproducible search (search.py): same seed + workers, same plan
    decompose: bool = True  # solve the parts between cut tensors separately
    unit: int | None = None  # model sizes in this many bytes (a divisor of 4); None: the gcd of all sizes


@dataclass
class Allowance:
    seconds: float  # wall clock: a hard stop
    work: float  # deterministic seconds: where reproducible searches stop (search.py)


@dataclass
class Clock:
    """Time left: wall seconds until `end`, and deterministic seconds of the --timeout not yet spent by the
    searches. Budgets built from the second never depend on the machine's speed."""

    end: float
    total: float
    spent: float = 0.0
    by_clock: bool = False  # some search was ended by the wall clock: another run may differ

    def left(self) -> Allowance:
        return Allowance(max(self.end - time.perf_counter(), 0.0), max(self.total - self.spent, 0.0))


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


@dataclass
class Part:
    """A graph the phases solve: the whole model, or a segment between cut tensors (pinned at `pins`)."""

    graph: Graph
    groups: dict[str, Group]
    pins: dict[str, int]  # tensor -> byte offset it must have
    unit: int
    label: str  # for progress messages
    candidates: list[Candidate] = field(default_factory=list)
    load: int = 0  # phase 2's LOAD bound, in bytes
    bound: int = 0  # proven lower bound on the part's arena without pins, in bytes: it holds for the model
    exact: bool = False  # the bound is the smallest LOAD
    best: Candidate | None = None
    optimal: bool = False  # nothing left to gain (see _settle)
    joint: str = ""  # what the joint model did, when it ran
    no_fit: bool = False  # the joint model proved that no plan of this part (with its pins) fits the budget

    @property
    def size(self) -> int:
        return len(self.graph.ops)

    def laid_out(self, schedule: Schedule, pack_seconds: float = 0.0) -> Candidate | None:
        """The schedule laid out greedily, or by the packing engine when greedy misses the schedule's LOAD and
        `pack_seconds` allow; None when its pinned cut tensors would collide (a split choice that keeps a cut
        tensor alive next to the other one: only the joint model can weigh those)."""
        expanded = expand(self.graph, schedule, self.groups)
        placed = best_of_items(expanded.items(), self.pins)
        if placed is None:
            return None
        offsets = item_offsets(expanded, placed)
        if pack_seconds > 0 and not self.pins and expanded.arena(offsets) > expanded.load:
            offsets = _packed(expanded, pack_seconds) or offsets
        return Candidate(schedule, expanded, offsets)


def _packed(expanded: Expanded, seconds: float) -> dict[str, int] | None:
    """Item offsets from the packing engine (pexcp.layout.pack) at the schedule's LOAD, when every item is one
    block or a same-size in-place chain (one block in time); None when that does not hold or nothing fits."""
    merged = []
    for item in expanded.items():
        blocks = sorted(item, key=lambda b: b.lower)
        if len({b.size for b in blocks}) > 1 or any(a.upper != b.lower for a, b in zip(blocks, blocks[1:])):
            return None  # an in-place output smaller than its input: the engine has no L-shaped blocks
        merged.append(Block(blocks[0].id, blocks[0].lower, blocks[-1].upper, blocks[0].size))
    result = pack(merged, capacity=expanded.load, timeout=seconds)
    return item_offsets(expanded, result.blocks) if result.status == "optimal" else None


def _schedule_from(sm: cm.ScheduleModel, solver: cp_model.CpSolver) -> Schedule:
    order = sorted(sm.pos, key=lambda name: solver.value(sm.pos[name]))
    splits = {gid: width for (gid, width), x in sm.choice.items() if solver.boolean_value(x)}
    return Schedule(order, splits)


def _base_model(part: Part, capacity_bytes: int, config: CpsatConfig) -> cm.ScheduleModel:
    sm = cm.ScheduleModel(part.graph, part.groups, part.unit, capacity=-(-capacity_bytes // part.unit))
    cm.add_order(sm, None if config.reorder else [op.name for op in part.graph.ops])
    cm.add_split_choices(sm)
    cm.add_lifetimes(sm)
    return sm


def _bytes_shown(weight: int, unit: int):
    return lambda v: f"{int(v // weight) * unit:,} B"


def _search(sm: cm.ScheduleModel, options: SolveOptions, config: CpsatConfig, clock: Clock, allowed: Allowance,
            reporter: Callable[[], Reporter]) -> Outcome:
    """Search `sm` within `allowed`, charging the work to `clock` (and noting when the wall clock ended it)."""
    out = search(sm.model, allowed.seconds, allowed.work, options.workers, options.seed, config.deterministic, reporter)
    clock.spent += out.work
    clock.by_clock |= out.by_clock
    return out


def load_bound(part: Part, cap_bytes: int, options, config, clock: Clock, allowed: Allowance, t0) -> tuple[int, bool, Schedule | None]:
    """Phase 2: the smallest LOAD over all orders and splits (cumulative only). Returns (a proven lower
    bound in bytes, whether it is the exact minimum, the best schedule found)."""
    sm = _base_model(part, cap_bytes, config)
    load = sm.model.new_int_var(0, sm.capacity, "load")
    cm.add_cumulative(sm, load)
    cm.add_objective(sm, load, None)
    if config.hint and part.candidates:
        cm.add_hint(sm, min(part.candidates, key=lambda c: c.expanded.load).schedule)
    weight = cm.max_slices(sm) + 1
    show = _bytes_shown(weight, part.unit)
    reporter = Reporter.shared(options.progress, f"{part.label}LOAD bound", show, t0)
    out = _search(sm, options, config, clock, allowed, reporter)
    bound = int(out.bound // weight) * part.unit
    if not out.found:
        return bound, False, None
    return bound, out.status == cp_model.OPTIMAL, _schedule_from(sm, out.solver)


def joint(part: Part, hint: Candidate, options, config, clock: Clock, allowed: Allowance, t0,
          floor: int | None = None) -> tuple[Candidate | None, int, bool]:
    """Phase 4: order, splits and offsets together. Without a budget it minimises the arena, counting any
    arena up to `floor` (default: the part's bound) as equal, then slices; it returns (candidate, proven
    bound on this model's arena when floor is the part's bound, search complete?). With a budget it
    minimises slices within it, and a complete search without a candidate proves that nothing fits."""
    unit = part.unit
    budget_units = None if options.budget is None else options.budget // unit
    capacity = hint.arena if options.budget is None else options.budget
    sm = _base_model(part, capacity, config)
    arena = cm.add_arena(sm, lower_bound=-(-(part.bound if floor is None else floor) // unit))
    cm.add_cumulative(sm, arena)
    cm.add_no_overlap(sm)
    cm.add_pins(sm)
    cm.add_fixed_offsets(sm, part.pins)
    cm.add_objective(sm, arena, budget_units)
    if config.hint:
        cm.add_hint(sm, hint.schedule, hint.offsets)
    weight = cm.max_slices(sm) + 1
    show = _bytes_shown(weight, unit) if budget_units is None else (lambda v: f"{v:.0f} extra calls")
    reporter = Reporter.shared(options.progress, f"{part.label}joint", show, t0)
    out = _search(sm, options, config, clock, allowed, reporter)
    if not out.found:
        return None, part.bound, out.status == cp_model.INFEASIBLE
    solver = out.solver
    schedule = _schedule_from(sm, solver)
    offsets = {b.item: solver.value(b.offset) * unit for b in sm.blocks.values() if solver.value(b.present)}
    bound = part.bound if budget_units is not None else max(part.bound, int(out.bound // weight) * unit)
    return Candidate(schedule, expand(part.graph, schedule, part.groups), offsets), bound, out.status == cp_model.OPTIMAL


def _bottleneck(candidate: Candidate, part: Part) -> str:
    """The step of a part's schedule with the most live bytes, and what is live there."""
    expanded = candidate.expanded
    live = expanded.live_per_step()
    step = live.index(max(live))
    names = sorted(((b.size, b.id) for b in expanded.blocks if b.lower <= step < b.upper), reverse=True)
    shown = ", ".join(f"{bid} ({size:,} B)" for size, bid in names[:4])
    where = f" of {part.label.strip()}" if part.label else ""
    return f"step {step}{where} ({expanded.steps[step].kernel} {expanded.steps[step].op}) holds {shown}"


def _pick(candidates: list[Candidate], groups: dict[str, Group], budget: int | None) -> Candidate:
    """Smallest arena (then fewest slices); with a budget, fewest slices among those that fit."""
    fitting = [c for c in candidates if budget is not None and c.arena <= budget]
    if fitting:
        return min(fitting, key=lambda c: (c.slices(groups), c.arena))
    return min(candidates, key=lambda c: (c.arena, c.slices(groups)))


def _whole(graph: Graph, groups: dict[str, Group], config: CpsatConfig) -> Part:
    return Part(graph, groups, {}, config.unit or cm.size_unit(graph, groups), "")


def _parts(graph: Graph, groups: dict[str, Group], config: CpsatConfig) -> list[Part]:
    """The segments between cut tensors (decompose.py), or the whole graph."""
    pieces = segments(graph, groups) if config.decompose else []
    if len(pieces) <= 1:
        return [_whole(graph, groups, config)]
    return [
        Part(s.graph, s.groups, s.pins, config.unit or cm.size_unit(s.graph, s.groups), f"segment {k + 1}/{len(pieces)} ")
        for k, s in enumerate(pieces)
    ]


def _shares(parts: list[Part], clock: Clock, fraction: float, needed: Callable[[Part], bool] = lambda part: True):
    """The parts still `needed` when their turn comes, each with its share of `fraction` of the time left
    (wall and deterministic), in proportion to its size among the needed ones left: time a part leaves
    unused goes to the others."""
    start = clock.left()
    end, spent = time.perf_counter() + fraction * start.seconds, clock.spent
    for k, part in enumerate(parts):
        if needed(part):
            share = part.size / sum(p.size for p in parts[k:] if needed(p))
            work = fraction * start.work - (clock.spent - spent)
            yield part, Allowance((end - time.perf_counter()) * share, max(work, 0.0) * share)


REPRODUCIBLE_SHARE = 0.7
GREEDY_TRIALS = 20_000  # pex-greedy schedules tried per deterministic second and op: a budget, not a clock


def _heuristics(part: Part, config: CpsatConfig, allowed: Allowance) -> None:
    """Phase 1: the optimal unsplit order, and pex-greedy from it; both bounded by work (the order search by
    its state cap, pex-greedy by trials), the clock only as a hard stop."""
    graph = part.graph
    half = allowed.seconds / 2
    order = [op.name for op in (optimal_order(graph, time_limit=half).order if config.reorder else graph.ops)]
    trials = max(1, int(GREEDY_TRIALS * allowed.work / 2 / part.size))
    schedule = greedy_schedule(graph, part.groups, order, config.reorder, half, trials)[0]
    laid_out = (part.laid_out(Schedule(order)), part.laid_out(schedule))
    part.candidates = [c for c in laid_out if c is not None]  # the unsplit one always fits its pins


def _bound_phase(part: Part, options: SolveOptions, config: CpsatConfig, clock: Clock, allowed: Allowance,
                 t0: float) -> None:
    """Phase 2 and 3: the LOAD bound, and the layout of the schedule reaching it. Raises BudgetError when the
    bound exceeds the budget."""
    budget, candidates = options.budget, part.candidates
    cap = max(c.arena for c in candidates) if budget is None else max(budget, min(c.arena for c in candidates))
    part.load, part.exact, schedule = load_bound(part, cap, options, config, clock, allowed, t0)
    part.bound = part.load
    if budget is not None and part.bound > budget:
        witness = (part.laid_out(schedule) if schedule else None) or min(candidates, key=lambda c: c.arena)
        raise BudgetError(
            f"budget {format_bytes(budget)} cannot be met: every plan needs at least {part.bound:,} B (proven); "
            f"bottleneck: {_bottleneck(witness, part)}"
        )
    found = part.laid_out(schedule, pack_seconds=0.25 * allowed.seconds) if schedule is not None else None
    if found is not None:
        candidates.append(found)


def _settle(part: Part, budget: int | None, floor: int) -> None:
    """The part's best plan so far, and whether it needs no more work: without a budget, an arena within
    `floor` (the model's proven bound: below it there is nothing to gain) with the fewest slices there;
    with one, fits it unsplit."""
    part.best = _pick(part.candidates, part.groups, floor if budget is None else budget)
    if budget is None:
        part.optimal = part.best.arena <= max(part.bound, floor)
    else:
        part.optimal = part.best.arena <= budget and part.best.slices(part.groups) == 0


def _joint_phase(part: Part, options: SolveOptions, config: CpsatConfig, floor: int, clock: Clock,
                 allowed: Allowance, t0: float) -> None:
    assert part.best is not None
    found, bound, proven = joint(part, part.best, options, config, clock, allowed, t0, max(floor, part.bound))
    if found is not None:
        part.candidates.append(found)
    if options.budget is None and not part.pins and floor <= part.bound:  # else it bounds a pinned or floored problem
        part.bound = bound
    _settle(part, options.budget, max(floor, part.bound))
    if options.budget is not None:
        part.optimal = proven and part.best.arena <= options.budget
        part.no_fit = proven and found is None
    part.joint = "time limit reached" if not proven else "proved that nothing fits" if part.no_fit else "proved optimal"


MAX_WINDOWS = 2  # windows tried per width: windows around equal bottlenecks tend to prove equal bounds


def _windows(parts: list[Part], arena: int) -> Iterator[list[Part]]:
    """Runs of consecutive segments holding a segment whose plan sets the arena, narrowest first (a wider
    window can prove more, and costs more), smallest first within a width."""
    n = len(parts)
    hot = [k for k, p in enumerate(parts) if p.best is not None and p.best.arena == arena]
    for width in range(1, n + 1):
        starts = {i for k in hot for i in range(max(0, k - width + 1), min(k, n - width) + 1)}
        by_size = sorted(starts, key=lambda i: sum(p.size for p in parts[i : i + width]))
        for i in by_size[:MAX_WINDOWS]:
            yield parts[i : i + width]


def _prove(graph: Graph, parts: list[Part], best: Candidate, bound: int, options: SolveOptions,
           config: CpsatConfig, clock: Clock, t0: float) -> tuple[Candidate, int, str]:
    """Cut tensors pinned at 0 can cost bytes, and a pinned segment's joint bound holds only under its pins.
    So windows of consecutive segments are solved again without pins, narrowest first: the smallest arena of
    any window bounds the model's. Stops at a proof, or when a window cannot be solved to optimality (a
    wider one would not be either). The window holding every segment is the whole model: its plan may
    replace the pinned one. Returns (best plan, proven bound, what was done)."""
    note = ""
    for window in _windows(parts, best.arena):
        left = clock.left()
        if left.seconds <= 0 or left.work <= 0:
            break
        sub = join(graph, [p.graph for p in window])
        groups = {gid: g for p in window for gid, g in p.groups.items()}
        label = f"window {parts.index(window[0]) + 1}-{parts.index(window[-1]) + 1} "
        part = Part(sub, groups, {}, config.unit or cm.size_unit(sub, groups), label, bound=max(p.bound for p in window))
        whole = len(window) == len(parts)
        allowed = left if whole else Allowance(left.seconds / 2, left.work / 2)
        found, proven_bound, proven = joint(part, _combine(sub, window)[0], options, config, clock, allowed, t0)
        bound = max(bound, proven_bound)
        note = f"unpinned window of {len(window)} segment(s) ({sub.name}) proved a bound of {proven_bound:,} B"
        if whole and found is not None and found.arena < best.arena:
            best = found
        if bound >= best.arena or not proven:
            break
    return best, bound, note


def _economise(parts: list[Part], arena: int, options: SolveOptions, config: CpsatConfig, clock: Clock, t0: float) -> None:
    """Segments below the model's arena minimised their own arena; within the model's they may need fewer
    extra kernel calls: re-solved with it as their budget (the arena-then-slices objective of the whole)."""
    slack = [p for p in parts if p.best is not None and p.best.arena < arena and p.best.slices(p.groups)]
    budgeted = replace(options, budget=arena)
    for part, allowed in _shares(slack, clock, 1.0):
        found, _, _ = joint(part, part.best, budgeted, config, clock, allowed, t0)
        if found is not None and found.slices(part.groups) < part.best.slices(part.groups):
            part.best = found


def _check_budget(part: Part, options: SolveOptions) -> None:
    assert part.best is not None
    if options.budget is not None and part.best.arena > options.budget and part.no_fit:
        raise BudgetError(
            f"budget {format_bytes(options.budget)} cannot be met: the joint model proved that no plan fits (best "
            f"plan {part.best.arena:,} B); bottleneck: {_bottleneck(part.best, part)}"
        )
    if options.budget is not None and part.best.arena > options.budget:
        raise BudgetError(
            f"no plan within budget {format_bytes(options.budget)} found in {options.timeout:g} s (best "
            f"{part.best.arena:,} B, proven lower bound {part.bound:,} B, so it is not proven impossible); "
            f"bottleneck: {_bottleneck(part.best, part)}"
        )


def _combine(graph: Graph, parts: list[Part]) -> tuple[Candidate, dict[str, Group]]:
    """One schedule for the whole graph: the parts' orders one after the other, their splits and offsets."""
    chosen = [p.best for p in parts if p.best is not None]
    if len(parts) == 1:
        return chosen[0], parts[0].groups
    groups = {gid: g for p in parts for gid, g in p.groups.items()}
    schedule = Schedule([name for c in chosen for name in c.schedule.order],
                        {gid: w for c in chosen for gid, w in c.schedule.splits.items()})
    offsets = {item: offset for c in chosen for item, offset in c.offsets.items()}
    return Candidate(schedule, expand(graph, schedule, groups), offsets), groups


def _finished_by(parts: list[Part], bound: int, optimal: bool, window: bool) -> str:
    """Which phase proved the plan optimal (for benchmarks and reports)."""
    if not optimal:
        return "time limit"
    if bound > max(p.load for p in parts):
        return "window proof" if window else "joint model"
    return "LOAD bound, " + ("joint layout" if any(p.joint for p in parts) else "greedy layout")


def _notes(parts: list[Part], best: Candidate, groups: dict[str, Group], budget: int | None) -> list[str]:
    notes = [f"{len(best.schedule.splits)} of {len(groups)} candidate group(s) split, "
             f"{best.slices(groups)} extra kernel calls"]
    if len(parts) > 1:
        notes.append(f"decomposed at {len(parts) - 1} cut tensor(s) into {len(parts)} segments solved separately "
                     "(cut tensors at offset 0); lower bound = the largest segment LOAD bound or window bound")
    ran = [p for p in parts if p.joint]
    if len(parts) == 1 and ran:
        notes.append(f"joint order+split+offset model: {ran[0].joint}")
    elif ran:
        proved = sum(p.joint == "proved optimal" for p in ran)
        notes.append(f"joint order+split+offset model on {len(ran)} segment(s): {proved} proved optimal")
    if budget is not None:
        notes.append("with a budget the objective is the fewest extra kernel calls that fit; status refers to it")
    return notes


def _solve_parts(parts: list[Part], options: SolveOptions, config: CpsatConfig, t0: float, clock: Clock,
                 reserve: float) -> None:
    """Phases 1-4 on every part, the time left shared by size; `reserve` (a fraction) of the joint phase's
    time is left for _prove. Without a budget the parts most likely to set the arena go first, and a part
    whose plan is within the largest bound proven so far needs no more search."""
    progress = options.progress or (lambda msg: None)
    budget = options.budget
    heuristics = 2 * min(10.0, 0.1 * clock.total)  # the order search and pex-greedy
    for part, allowed in _shares(parts, clock, heuristics / max(clock.total, 1e-9)):
        _heuristics(part, config, allowed)
    clock.spent += heuristics
    unsplit = max(p.candidates[0].arena for p in parts)
    best = max(min(c.arena for c in p.candidates) for p in parts)
    progress(f"{time.perf_counter() - t0:6.1f}s heuristics: unsplit {unsplit:,} B, best with pex-greedy {best:,} B")

    def floor() -> int:
        return max(p.bound for p in parts) if budget is None else 0

    def smallest(part: Part) -> int:
        return min(c.arena for c in part.candidates)

    ranked = sorted(parts, key=smallest, reverse=True) if budget is None else parts
    if config.bound_phase:
        for part, allowed in _shares(ranked, clock, 0.4, lambda p: budget is not None or smallest(p) > floor()):
            _bound_phase(part, options, config, clock, allowed, t0)
        progress(f"{time.perf_counter() - t0:6.1f}s LOAD bound {max(p.bound for p in parts):,} B")
    for part in parts:
        _settle(part, budget, floor())
    for part, allowed in _shares(ranked, clock, 1 - reserve, lambda p: not p.optimal or not config.layout_shortcut):
        if allowed.seconds > 0 and allowed.work > 0:
            _joint_phase(part, options, config, floor(), clock, allowed, t0)


def plan_cpsat(graph: Graph, options: SolveOptions, config: CpsatConfig = CpsatConfig()) -> Plan:
    t0 = time.perf_counter()
    # searches get REPRODUCIBLE_SHARE of --timeout in deterministic seconds (about one per second and thread),
    # so they end on that budget, the same on every run, well before the wall clock would stop them
    clock = Clock(end=t0 + options.timeout, total=REPRODUCIBLE_SHARE * options.timeout)
    progress = options.progress or (lambda msg: None)
    groups = {g.id: g for g in candidate_groups(graph)} if config.split else {}
    parts = _parts(graph, groups, config)
    if len(parts) > 1:
        progress(f"{time.perf_counter() - t0:6.1f}s decomposed into {len(parts)} segments at cut tensors")
    pinned = len(parts) > 1 and options.budget is None  # segments' plans to prove, then economise
    _solve_parts(parts, options, config, t0, clock, 0.25 if pinned else 0.0)
    if options.budget is not None and len(parts) > 1 and any(p.best.arena > options.budget for p in parts):
        progress(f"{time.perf_counter() - t0:6.1f}s cut tensors at offset 0 do not fit the budget: whole model")
        parts = [_whole(graph, groups, config)]
        _solve_parts(parts, options, config, t0, clock, 0.0)
    for part in parts:
        _check_budget(part, options)

    best_plan, groups = _combine(graph, parts)
    splittable = {name for g in groups.values() for name in g.names}
    bound = max([p.bound for p in parts] + [footprint_bound(graph, splittable)])
    notes = []
    if pinned and best_plan.arena > bound:
        best_plan, bound, proof = _prove(graph, parts, best_plan, bound, options, config, clock, t0)
        notes += [proof] if proof else []
    if pinned and best_plan.arena == max(p.best.arena for p in parts):  # not replaced by the whole model's
        _economise(parts, best_plan.arena, options, config, clock, t0)
        best_plan, groups = _combine(graph, parts)
    optimal = best_plan.arena <= bound if options.budget is None else all(p.optimal for p in parts)
    plan = make_plan(graph, best_plan.expanded, best_plan.offsets, method="cpsat",
                     status="optimal" if optimal else "feasible", lower_bound=bound,
                     seconds=time.perf_counter() - t0, notes=_notes(parts, best_plan, groups, options.budget) + notes)
    if clock.by_clock and config.deterministic:
        plan.notes.append("the wall clock stopped a search before its work budget: another run may find another plan")
    plan.extra = {"seed": options.seed, "workers": options.workers, "unit_bytes": min(p.unit for p in parts),
                  "reproducible": config.deterministic and not clock.by_clock,
                  "lower_bound_exact": all(p.exact or p.best.arena <= bound for p in parts), "segments": len(parts),
                  "finished_by": _finished_by(parts, bound, optimal, bool(notes))}
    return plan
