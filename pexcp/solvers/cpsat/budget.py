"""Time accounting for the cpsat method, and every tuning constant that shares time between its phases.

--timeout buys two things: wall seconds, a hard stop, and deterministic seconds (CP-SAT's measure of
work, about one per second and thread on an idle machine), REPRODUCIBLE_SHARE of --timeout, which every
reproducible budget is cut from. Phases get fractions of the work left (and of the wall time left, for
the portfolio search); a part's share is in proportion to its size, and work a part leaves unused goes to
the parts after it. Budgets built this way never depend on the machine's speed: only the hard stop does,
and a search it ends is noted (Clock.by_clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

REPRODUCIBLE_SHARE = 0.7  # deterministic seconds per second of --timeout
HEURISTICS_SHARE = 0.2  # of the work: the order search and pex-greedy (phase 1) ...
HEURISTICS_CAP = 20.0  # ... but never more than this many deterministic seconds
GREEDY_TRIALS = 20_000  # pex-greedy schedules tried per deterministic second and op
BOUND_SHARE = 0.4  # of the work left: the LOAD bound (phase 2)
PACK_SHARE = 0.25  # of a part's bound-phase wall time: packing its bound schedule at LOAD (phase 3)
PROOF_RESERVE = 0.25  # of the joint phase's work, kept for the decomposition proof when parts are pinned
MAX_WINDOWS = 2  # unpinned windows tried per width in the decomposition proof

P = TypeVar("P")


@dataclass
class Allowance:
    seconds: float  # wall clock: a hard stop
    work: float  # deterministic seconds: where reproducible searches stop (search.py)

    @property
    def empty(self) -> bool:
        return self.seconds <= 0 or self.work <= 0

    def half(self) -> Allowance:
        return Allowance(self.seconds / 2, self.work / 2)


@dataclass
class Clock:
    """Time left: wall seconds until `end`, and deterministic seconds of `total` not yet spent."""

    end: float
    total: float
    reproducible: bool = True
    spent: float = 0.0
    by_clock: bool = False  # some search or heuristic was ended by the wall clock: another run may differ

    @classmethod
    def start(cls, timeout: float, reproducible: bool) -> Clock:
        return cls(time.perf_counter() + timeout, REPRODUCIBLE_SHARE * timeout, reproducible)

    def left(self) -> Allowance:
        return Allowance(max(self.end - time.perf_counter(), 0.0), max(self.total - self.spent, 0.0))

    def heuristics_work(self) -> float:
        return min(HEURISTICS_CAP, HEURISTICS_SHARE * self.total)

    def shares(self, parts: Sequence[P], size: Callable[[P], int], fraction: float,
               needed: Callable[[P], bool] = lambda part: True) -> Iterator[tuple[P, Allowance]]:
        """The parts still `needed` when their turn comes, each with its share of `fraction` of the time left,
        in proportion to its size among the needed ones left. A reproducible search's wall allowance is the
        whole time left (the hard stop); the portfolio's is its share of the wall time too."""
        start = self.left()
        end, spent = time.perf_counter() + fraction * start.seconds, self.spent
        for k, part in enumerate(parts):
            if needed(part):
                share = size(part) / max(sum(size(p) for p in parts[k:] if needed(p)), 1)
                work = max(fraction * start.work - (self.spent - spent), 0.0) * share
                seconds = self.left().seconds if self.reproducible else (end - time.perf_counter()) * share
                yield part, Allowance(max(seconds, 0.0), work)
