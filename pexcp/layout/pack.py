"""The offset packing engine: the public entry point used by `pexcp pack` and the scheduler.

pack() answers one of three questions about a set of buffers with fixed lifetimes:
- capacity given: does everything fit? (a placement, or a proof that none exists);
- minimize: what is the smallest capacity, with a proof? (anytime: best placement and proven bound so far);
- neither: a good placement, quickly (for hints).

Every answer starts from the best greedy placement and the LOAD lower bound; the portfolio of the
canonical search and CP-SAT (see portfolio.py) decides single capacities, and minimisation races
restarting searches at several capacities (_race). Every placement returned has
passed layout_problems, the validator plans use too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from pexcp.errors import InvalidPlanError
from pexcp.layout.canonical import Restarts
from pexcp.layout.greedy import best_of_greedy
from pexcp.layout.instance import Instance, build_instance
from pexcp.layout.portfolio import place_at
from pexcp.layout.problem import Block, height, layout_problems

QUICK_SECONDS = 2.0  # time limit when neither a capacity nor minimisation is asked for
RACE_REPORT_SECONDS = 10.0  # progress while minimizing finds nothing new

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
    """Lower the height until it meets the proven bound or time runs out.

    LOAD is tried first with the whole portfolio (most instances reach it, reaching it is a proof, and perfect
    packings are where CP-SAT helps: MiniMalloc's E), then the limit if the greedy height exceeds it, and then
    restarting searches race at capacities between the bound and the best height (see _race).
    """
    unit = instance.unit
    if limit is not None and limit < best.lower_bound:
        return "infeasible"
    if best.height > best.lower_bound:
        share = (deadline - time.monotonic()) / 5
        _probe(instance, best, best.lower_bound // unit, time.monotonic() + share, workers, seed, progress, 0.75)
    if limit is not None and best.height > limit >= best.lower_bound:
        _probe(instance, best, instance.capacity_units(limit), deadline, workers, seed, progress)
    if limit is not None and best.height > limit:
        return "infeasible" if best.lower_bound > limit else "unknown"
    _race(instance, best, deadline, seed, progress)
    return "optimal" if best.height <= best.lower_bound else "feasible"


def _race(instance: Instance, best: _Best, deadline: float, seed: int, progress: Progress | None) -> None:
    """Restarting canonical searches at best - 1, best - 2, best - 4, ... units (down to the bound), one run
    at a time, by the one that has searched the fewest nodes. A fit lowers the best height and drops the
    capacities at or above it; a search that ends without a fit proves its capacity infeasible and raises
    the bound.

    Why a race and not bisection: how hard a capacity is does not fall smoothly with it. On MiniMalloc's D
    (1 KiB units) restarts fitted 1004 and 1003 within a second of each other after 30 s without a fit at
    1005, and a search that cannot fit a capacity rarely proves it infeasible either, so bisection stalls on
    the first hard midpoint. Low capacities fit less often but gain more; the race hedges between them.
    """
    unit = instance.unit
    racers: dict[int, Restarts] = {}
    if progress and best.height > best.lower_bound:
        progress(f"racing restarting searches below {best.height:,} B (bound {best.lower_bound:,} B)")
    report_at = time.monotonic() + RACE_REPORT_SECONDS
    while best.height > best.lower_bound and time.monotonic() < deadline:
        if progress and time.monotonic() >= report_at:
            report_at += RACE_REPORT_SECONDS
            runs = sum(racer.runs for racer in racers.values())
            progress(f"  still racing below {best.height:,} B: {runs:,} runs at {len(racers)} capacities")
        top, bound = best.height // unit, best.lower_bound // unit
        targets = sorted({max(top - (1 << j), bound) for j in range((top - bound).bit_length())})
        racers = {t: racers.get(t) or Restarts(instance, t, seed) for t in targets}
        target = min(targets, key=lambda t: (racers[t].nodes, t))  # even shares of nodes; new capacities first
        verdict = racers[target].run(1, deadline)
        if verdict is None:
            continue
        if verdict.offsets is not None:
            best.blocks = _valid(instance.placement(verdict.offsets), target * unit)
            best.method = f"canonical search ({verdict.order})"
            if progress:
                progress(f"  fits: height {best.height:,} B by {best.method}")
        else:
            best.lower_bound = max(best.lower_bound, (target + 1) * unit)
            if progress:
                progress(f"  proved {target * unit:,} B infeasible: bound {best.lower_bound:,} B")


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
