"""One question, "does everything fit in this capacity?", put to the canonical search and CP-SAT in turn.

Measured on the MiniMalloc instances: the canonical search settles all eleven (A-K) in its first turn, in
at most about a second, where CP-SAT alone took 0.6 s to over 60 s on A-E; before the search ranked each
side afresh it thrashed on E, which CP-SAT, whose clause learning recovers from early mistakes, fits in a few
seconds, and it still thrashes on some generated instances (docs/pack.md). Running both at once
on two cores slowed each about twofold (CP-SAT's workers want every core), so they take turns: the search
for a budget of nodes, CP-SAT with all workers for a budget of its deterministic time, then the search for
about as long, then CP-SAT with four times the budget, and so on, the search's restarts continuing where
they stopped. Neither budget depends on the clock, so the turns are the same however loaded the machine
is, and whatever the search settles in its first turn is the same on every run; CP-SAT itself is
deterministic with one worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from pexcp.layout.canonical import ORDERS, RUN_NODES_PER_BUFFER, Restarts
from pexcp.layout.cpsat import solve_at
from pexcp.layout.instance import Instance

# first turn of the search: three rounds of restarts, through the first doubling of the run limit (300 nodes per
# buffer). With each side ranked afresh, A-D fit in 10-70 nodes per buffer, E in 276 (round 3) and
# MiniMalloc's F-K in 4-70, where one round (75 per buffer) sent E to CP-SAT's turn first
SEARCH_NODES_PER_BUFFER = (1 + 1 + 2) * len(ORDERS) * RUN_NODES_PER_BUFFER
# later turns of the search: nodes per buffer per deterministic second of CP-SAT's turn before, so that both
# get at most about the same time (measured: 200-1,400 nodes per buffer per second on A-E, D the slowest)
SEARCH_NODES_PER_CP_WORK = 200
CP_TURN_WORK = 10.0  # CP-SAT's first turn, in its deterministic seconds: it fitted MiniMalloc's E in 3-5.5


@dataclass
class Attempt:
    offsets: list[int] | None  # a placement within capacity, or None
    proven: bool  # offsets is None because an engine proved that nothing fits
    method: str  # the engine that answered, "" when none did


def place_at(
    instance: Instance,
    capacity: int,
    deadline: float,
    workers: int = 2,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    cp_share: float = 0.5,
) -> Attempt:
    """Find a placement within `capacity` units before time.monotonic() reaches `deadline`, or prove none.

    Turns: the search for SEARCH_NODES_PER_BUFFER x n nodes (settles most instances at once), then CP-SAT
    for CP_TURN_WORK (and at most `cp_share` of the time left), then the search for about as long as CP-SAT
    had, then CP-SAT with four times its budget, and so on until one answers. Budgets in nodes and
    deterministic time keep the turns the same however loaded the machine is.
    """
    search = Restarts(instance, capacity, seed)
    nodes = SEARCH_NODES_PER_BUFFER * max(instance.n, 1)
    work = CP_TURN_WORK
    while True:
        verdict = search.run(nodes, deadline)
        if verdict is not None:
            return Attempt(verdict.offsets, verdict.offsets is None, f"canonical search ({verdict.order})")
        if time.monotonic() >= deadline:
            return Attempt(None, False, "")
        if progress:
            progress(f"  canonical search undecided after {search.nodes:,} nodes: CP-SAT's turn")
        seconds = (deadline - time.monotonic()) * cp_share
        result = solve_at(instance, capacity, seconds, workers, seed, work)
        if result.offsets is not None or result.proven:
            return Attempt(result.offsets, result.proven, "CP-SAT")
        nodes, work = round(SEARCH_NODES_PER_CP_WORK * max(instance.n, 1) * work), 4 * work
