"""The offset packing engine: the public entry point used by `pexcp pack` and the scheduler.

pack() answers one of three questions about a set of buffers with fixed lifetimes:
- capacity given: does everything fit? (a placement, or a proof that none exists);
- minimize: what is the smallest capacity, with a proof? (anytime: best placement and proven bound so far);
- neither: a good placement, quickly (for hints).

Every answer starts from the best greedy placement and the LOAD lower bound; the portfolio of the
canonical search and CP-SAT (see portfolio.py) decides single capacities. Every placement returned has
passed layout_problems, the validator plans use too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from pexcp.errors import InvalidPlanError
from pexcp.layout.greedy import best_of_greedy
from pexcp.layout.instance import Instance, build_instance
from pexcp.layout.portfolio import place_at
from pexcp.layout.problem import Block, height, layout_problems

QUICK_SECONDS = 2.0  # time limit when neither a capacity nor minimisation is asked for

Progress = Callable[[str], None]


@dataclass
class PackResult:
    blocks: list[Block]  # placed, same order as input; over capacity when status is infeasible/unknown
    capacity: int  # height of the placement (max offset + size)
    lower_bound: int  # proven lower bound on the minimal capacity (>= LOAD)
    status: str  # "optimal", "feasible", "infeasible" (proved none fits) or "unknown" (timed out)
    seconds: float
    method: str  # which engine found the placement (or proved the bound)


@dataclass
class _Best:
    """The state of a solve: best placement so far and what is proven below it."""

    blocks: list[Block]
    method: str
    lower_bound: int  # bytes

    @property
    def height(self) -> int:
        return height(self.blocks)


def pack(
    blocks: Sequence[Block],
    capacity: int | None = None,
    minimize: bool = False,
    timeout: float = 60.0,
    workers: int = 2,
    seed: int = 0,
    progress: Progress | None = None,
) -> PackResult:
    """Give every block an offset (bytes). Existing offsets are ignored. See the module docstring."""
    start = time.monotonic()
    instance = build_instance(blocks)
    best = _Best(_valid(best_of_greedy(instance.blocks), None), "greedy", instance.lower_bound_bytes())
    if capacity is not None and not minimize:
        status = _fit(instance, best, capacity, start + timeout, workers, seed, progress)
    else:
        seconds = timeout if minimize else min(timeout, QUICK_SECONDS)
        status = _minimize(instance, best, capacity, start + seconds, workers, seed, progress)
    return PackResult(best.blocks, best.height, best.lower_bound, status, time.monotonic() - start, best.method)


def _fit(
    instance: Instance, best: _Best, capacity: int, deadline: float, workers: int, seed: int, progress: Progress | None
) -> str:
    """Status of the question "does everything fit in `capacity` bytes?", improving `best` on the way."""
    if best.lower_bound > capacity:
        best.method = "LOAD bound"
        return "infeasible"
    if best.height <= capacity:
        return "optimal"
    outcome, method = _probe(instance, best, instance.capacity_units(capacity), deadline, workers, seed, progress)
    if outcome == "infeasible":
        best.method = method
    return {"found": "optimal", "infeasible": "infeasible"}.get(outcome, "unknown")


def _minimize(
    instance: Instance,
    best: _Best,
    limit: int | None,
    deadline: float,
    workers: int,
    seed: int,
    progress: Progress | None,
) -> str:
    """Lower the height by bisection on capacity until it meets the proven bound or time runs out.

    LOAD is tried first (the MiniMalloc instances and most inference graphs reach it, and reaching it is a
    proof), then the limit if the greedy height exceeds it. A capacity no engine settled in its share of
    time is not tried again, nor anything below it.
    """
    unit = instance.unit
    lowest = best.lower_bound // unit  # smallest capacity (units) still worth trying
    tried_load = False
    while best.height > best.lower_bound and time.monotonic() < deadline:
        within_limit = limit is None or best.height <= limit
        top = best.height // unit - 1 if within_limit else instance.capacity_units(limit)
        if lowest > top:
            break
        if not tried_load:
            target = lowest
        else:
            target = (lowest + top) // 2 if within_limit else top  # first of all: something within the limit
        share = (deadline - time.monotonic()) / (5 if not tried_load else 3)
        # measured: at LOAD, perfect packings are CP-SAT's strength (E); above it the search finds what CP-SAT
        # cannot (D at 995-1000 units), so there CP-SAT gets less of the time
        cp_share = 0.75 if not tried_load else 0.25
        tried_load = True
        outcome, _ = _probe(instance, best, target, time.monotonic() + share, workers, seed, progress, cp_share)
        if outcome != "found":
            lowest = target + 1
    if limit is not None and best.height > limit:
        return "infeasible" if best.lower_bound > limit else "unknown"
    return "optimal" if best.height <= best.lower_bound else "feasible"


def _probe(
    instance: Instance,
    best: _Best,
    target: int,
    deadline: float,
    workers: int,
    seed: int,
    progress: Progress | None,
    cp_share: float = 0.5,
) -> tuple[str, str]:
    """Ask the portfolio about `target` units: "found" (best improved), "infeasible" (a proof) or "unknown",
    and the engine that answered."""
    unit = instance.unit
    if progress:
        progress(f"trying capacity {target * unit:,} B (best {best.height:,} B, bound {best.lower_bound:,} B)")
    started = time.monotonic()
    attempt = place_at(instance, target, deadline, workers, seed, progress, cp_share)
    took = time.monotonic() - started
    if attempt.offsets is not None:
        best.blocks = _valid(instance.placement(attempt.offsets), target * unit)
        best.method = attempt.method
        if progress:
            progress(f"  fits: height {best.height:,} B by {attempt.method} in {took:.1f} s")
        return "found", attempt.method
    if attempt.proven:
        best.lower_bound = max(best.lower_bound, (target + 1) * unit)
        if progress:
            progress(f"  proved infeasible by {attempt.method} in {took:.1f} s")
        return "infeasible", attempt.method
    if progress:
        progress(f"  undecided after {took:.1f} s")
    return "unknown", ""


def _valid(blocks: list[Block], capacity: int | None) -> list[Block]:
    """Every placement leaves through here: a placement failing the validator is a bug, never an answer."""
    problems = layout_problems(blocks, capacity)
    if problems:
        raise InvalidPlanError(problems)
    return blocks
