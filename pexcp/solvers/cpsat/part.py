"""What the phases work on: a `Part` (the whole model, or a segment between cut tensors) and the
`Candidate` plans found for it (a schedule, its buffers and their offsets)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pexcp.analysis.liveness import Expanded, Schedule, expand
from pexcp.analysis.partial import Group
from pexcp.ir import Graph
from pexcp.layout.pack import pack
from pexcp.layout.pinned import best_of_items
from pexcp.layout.problem import Block
from pexcp.plan.build import item_offsets
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.decompose import segments
from pexcp.solvers.params import SolverParams


@dataclass
class Candidate:
    schedule: Schedule
    expanded: Expanded
    offsets: dict[str, int]  # item id -> byte offset

    @property
    def arena(self) -> int:
        return self.expanded.arena(self.offsets)

    def slices(self, groups: dict[str, Group]) -> int:
        """Extra kernel calls: of split rounds and of in-place depthwise convs."""
        split = sum(groups[g].extra_calls(groups[g].option(w)) for g, w in self.schedule.splits.items())
        return split + self.expanded.in_place_calls


@dataclass
class Part:
    """A graph the phases solve: the whole model, or a segment between cut tensors (pinned at `pins`)."""

    graph: Graph
    groups: dict[str, Group]
    pins: dict[str, int]  # tensor -> byte offset it must have
    unit: int
    label: str  # for progress messages and exported model names ("" for the whole model)
    candidates: list[Candidate] = field(default_factory=list)
    load: int = 0  # phase 2's LOAD bound, in bytes
    bound: int = 0  # proven lower bound on the part's arena without pins, in bytes: it holds for the model
    exact: bool = False  # the bound is the smallest LOAD
    best: Candidate | None = None
    optimal: bool = False  # nothing left to gain (see phases.settle)
    joint: str = ""  # what the joint model did, when it ran
    no_fit: bool = False  # the joint model proved that no plan of this part (with its pins) fits the budget

    @property
    def size(self) -> int:
        return len(self.graph.ops)

    def smallest(self) -> int:
        return min(c.arena for c in self.candidates)

    def laid_out(self, schedule: Schedule) -> Candidate | None:
        """The schedule laid out greedily; None when its pinned cut tensors would collide (a split choice that
        keeps a cut tensor alive next to the other one: only the joint model can weigh those)."""
        expanded = expand(self.graph, schedule, self.groups)
        placed = best_of_items(expanded.items(), self.pins)
        if placed is None:
            return None
        return Candidate(schedule, expanded, item_offsets(expanded, placed))

    def packed(self, candidate: Candidate, seconds: float, minimize: bool, seed: int) -> tuple[Candidate, bool]:
        """The candidate's schedule placed by the packing engine (pexcp.layout.pack), at its LOAD or (minimize)
        as low as it can, when that beats its greedy layout; and whether the engine settled its question
        (else the wall clock ended it: another run may differ). Only for unpinned parts whose items are each
        one block or a same-size in-place chain (the engine has no L-shaped blocks)."""
        expanded = candidate.expanded
        if self.pins or candidate.arena <= expanded.load:
            return candidate, True
        merged = _merged(expanded)
        if merged is None:
            return candidate, True
        result = pack(merged, capacity=None if minimize else expanded.load, minimize=minimize, timeout=seconds,
                      workers=1, seed=seed)
        settled = result.status in ("optimal", "infeasible")
        if result.status in ("optimal", "feasible") and result.capacity < candidate.arena:
            return Candidate(candidate.schedule, expanded, item_offsets(expanded, result.blocks)), settled
        return candidate, settled


def _merged(expanded: Expanded) -> list[Block] | None:
    """Each item as one block over its lifetime's hull (exact for an in-place chain; for a split op's kernel
    scratch, live at its rounds only, a safe over-approximation); None if an item's blocks differ in size."""
    merged = []
    for item in expanded.items():
        blocks = sorted(item, key=lambda b: b.lower)
        if len({b.size for b in blocks}) > 1:
            return None
        merged.append(Block(blocks[0].id, blocks[0].lower, blocks[-1].upper, blocks[0].size))
    return merged


def pick(candidates: list[Candidate], groups: dict[str, Group], budget: int | None) -> Candidate:
    """Smallest arena (then fewest slices); with a budget, fewest slices among those that fit."""
    fitting = [c for c in candidates if budget is not None and c.arena <= budget]
    if fitting:
        return min(fitting, key=lambda c: (c.slices(groups), c.arena))
    return min(candidates, key=lambda c: (c.arena, c.slices(groups)))


def whole(graph: Graph, groups: dict[str, Group], params: SolverParams) -> Part:
    return Part(graph, groups, {}, params.unit or cm.size_unit(graph, groups, params.in_place), "")


def parts(graph: Graph, groups: dict[str, Group], params: SolverParams) -> list[Part]:
    """The segments between cut tensors (decompose.py), or the whole graph."""
    pieces = segments(graph, groups) if params.decompose else []
    if len(pieces) <= 1:
        return [whole(graph, groups, params)]
    return [
        Part(s.graph, s.groups, s.pins, params.unit or cm.size_unit(s.graph, s.groups, params.in_place), f"segment {k + 1}/{len(pieces)}")
        for k, s in enumerate(pieces)
    ]


def combine(graph: Graph, parts: list[Part]) -> tuple[Candidate, dict[str, Group]]:
    """One schedule for the whole graph: the parts' orders one after the other, their splits and offsets."""
    chosen = [p.best for p in parts if p.best is not None]
    if len(parts) == 1:
        return chosen[0], parts[0].groups
    groups = {gid: g for p in parts for gid, g in p.groups.items()}
    schedule = Schedule([name for c in chosen for name in c.schedule.order],
                        {gid: w for c in chosen for gid, w in c.schedule.splits.items()},
                        [name for c in chosen for name in c.schedule.in_place],
                        [name for c in chosen for name in c.schedule.no_scratch])
    offsets = {item: offset for c in chosen for item, offset in c.offsets.items()}
    return Candidate(schedule, expand(graph, schedule, groups), offsets), groups
