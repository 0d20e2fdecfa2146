"""CP-SAT model of offset packing at a fixed capacity, for the instances the canonical search thrashes on.

The time axis is fixed, so the model is one-dimensional: an offset per buffer and one NoOverlap per
section (maximal set of simultaneously live buffers), which is exactly "live together => apart in memory"
and lets CP-SAT's disjunctive reasoning work per section. Its clause learning recovers from early mistakes
that a depth-first search can only undo by exhausting a subtree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ortools.sat.python import cp_model

from pexcp import interrupts
from pexcp.layout.instance import Instance


@dataclass
class CpResult:
    offsets: list[int] | None  # a placement within capacity, or None
    proven: bool  # offsets is None because CP-SAT proved the capacity infeasible


def add_offsets(model: cp_model.CpModel, instance: Instance, capacity: int) -> list[cp_model.IntVar]:
    """An offset per buffer such that it ends within capacity."""
    return [model.new_int_var(0, capacity - int(size), f"offset_{i}") for i, size in enumerate(instance.sizes)]


def add_section_no_overlap(model: cp_model.CpModel, instance: Instance, offsets: Sequence[cp_model.IntVar]) -> None:
    """Buffers live at the same time never share an address: one NoOverlap per maximal section."""
    intervals = [
        model.new_fixed_size_interval_var(offset, int(size), f"address_{i}")
        for i, (offset, size) in enumerate(zip(offsets, instance.sizes))
    ]
    for section in instance.sections():
        model.add_no_overlap([intervals[i] for i in section])


def solve_at(
    instance: Instance,
    capacity: int,
    time_limit: float,
    workers: int = 1,
    seed: int = 0,
    work_limit: float | None = None,
) -> CpResult:
    """Look for a placement within `capacity` units for at most `time_limit` seconds and, if given,
    `work_limit` units of CP-SAT's deterministic time (about a second each, but independent of load)."""
    model = cp_model.CpModel()
    offsets = add_offsets(model, instance, capacity)
    add_section_no_overlap(model, instance, offsets)
    solver = interrupts.new_solver()
    solver.parameters.max_time_in_seconds = max(time_limit, 0.01)
    if work_limit is not None:
        solver.parameters.max_deterministic_time = work_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # measured on MiniMalloc's E (2 workers): symmetry_level 4 beat the default, and ordering identical
    # buffers by hand made it 3-6x slower (9-24 s instead of 2-4 s), so the model has no such constraint
    solver.parameters.symmetry_level = 4
    status = interrupts.solve(solver, model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpResult([solver.value(v) for v in offsets], False)
    return CpResult(None, status == cp_model.INFEASIBLE)
