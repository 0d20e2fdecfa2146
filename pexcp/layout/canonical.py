"""Exact search over canonical placements, after MiniMalloc (Moffitt, ASPLOS 2023).

Any placement can be pushed down until every buffer rests on address 0 or on the top of a buffer live
with it, so it is enough to search those. The search places buffers in non-decreasing offset order, each
at the lowest address its already placed neighbours leave it, and prunes with:

- dominance: never leave a gap below the current offset that an unplaced buffer would fit in whole;
- section inference: in every segment, the unplaced buffers' sizes must fit between the lowest address any
  of them can still take (the "unallocated floor") and the capacity;
- symmetry: buffers with the same lifetime and size go in a fixed order, and a run of buffers with the same
  lifetime stacked directly on each other is kept in preorder (any run can be re-sorted without effect);
- decomposition: once every buffer crossing a time cut is placed, the two sides are solved independently,
  and solved or failed sides are remembered (a side that failed still fails above higher floors; a side
  that fitted still fits above lower ones).

A search that runs to its end without a placement is a proof that none fits the capacity.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Generator

import numpy as np

from pexcp.layout.instance import Instance

_PLACED = np.int64(1) << 40  # the minimum offset of a placed buffer: never the smallest of anything
_SLICE = 64  # nodes a search runs before yielding to the next one in an interleaved portfolio

Steps = Generator[None, None, bool]  # a search step by step: yields every _SLICE nodes, returns success
Snapshot = tuple[np.ndarray, np.ndarray, list[int], np.ndarray]

# MiniMalloc's preorders: letters name keys compared in turn, all descending.
# W = lifetime width, A = area (size x lifetime), T = the largest segment total the buffer is live in.
ORDERS = ("WAT", "TAW", "TWA")


def preorder(instance: Instance, order: str) -> np.ndarray:
    """Rank of each buffer under a MiniMalloc preorder such as "TAW" (0 = placed first among ties)."""
    loads = instance.segment_loads()
    total = np.array([loads[a:b].max() for a, b in zip(instance.first, instance.stop)], np.int64)
    keys = {"W": instance.lifetimes, "A": instance.sizes * instance.lifetimes, "T": total}
    # lexsort sorts by the last key first; negate for descending; the buffer index breaks remaining ties
    columns = [np.arange(instance.n)] + [-keys[letter] for letter in reversed(order)]
    rank = np.empty(instance.n, np.int64)
    rank[np.lexsort(columns)] = np.arange(instance.n)
    return rank


class CanonicalSearch:
    """One depth-first search at a fixed capacity (units) under one preorder."""

    def __init__(
        self,
        instance: Instance,
        capacity: int,
        order: str = ORDERS[0],
    ):
        self.capacity = capacity
        self.order = order
        self.nodes = 0
        n = instance.n
        self.size = instance.sizes.tolist()
        self.first = instance.first.tolist()
        self.stop = instance.stop.tolist()
        self.sizes = instance.sizes
        self.rank = preorder(instance, order)
        self.ranks = self.rank.tolist()
        overlaps = instance.overlaps()
        self.neighbours = [np.flatnonzero(row) for row in overlaps]
        # adding a buffer's minimum offset to its row gives that offset in its segments and "never" elsewhere
        self.outside = np.where(instance.coverage(), 0, _PLACED).astype(np.int64)
        self._init_symmetry(instance)
        self.min_offset = np.zeros(n, np.int64)
        self.offset = [-1] * n
        self.remaining = instance.segment_loads().astype(np.int64)
        self.crossing = np.zeros(instance.n_segments + 1, np.int64)  # unplaced buffers live on both sides of k
        for a, b in zip(self.first, self.stop):
            self.crossing[a + 1 : b] += 1
        self.n_segments = instance.n_segments
        self.failed: dict[bytes, list[np.ndarray]] = {}
        self.solved: dict[bytes, list[tuple[np.ndarray, list[tuple[int, int]]]]] = {}

    def _init_symmetry(self, instance: Instance) -> None:
        same_life: dict[tuple[int, int], list[int]] = {}
        for i, key in enumerate(zip(self.first, self.stop)):
            same_life.setdefault(key, []).append(i)
        self.twins = [[j for j in same_life[key] if j != i] for i, key in enumerate(zip(self.first, self.stop))]
        self.identical_before = [
            np.array([j for j in self.twins[i] if self.size[j] == self.size[i] and self.ranks[j] < self.ranks[i]], np.int64)
            for i in range(instance.n)
        ]

    def steps(self) -> Generator[None, None, list[int] | None]:
        """Search step by step; returns offsets (units) of a placement within capacity, or None if none exists."""
        if self.n_segments == 0:
            return []
        if int(self.remaining.max()) > self.capacity:
            return None
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(self.size) + 1000))
        everyone = np.arange(len(self.size))
        cuts = [k for k in range(1, self.n_segments) if self.crossing[k] == 0]
        found = yield from self._decompose(everyone, 0, self.n_segments, cuts)
        return list(self.offset) if found else None

    # --- state changes -------------------------------------------------------------------------------

    def _place(self, c: int, offset: int) -> np.ndarray:
        """Put buffer c at offset; returns its neighbours' previous minimum offsets for _unplace."""
        top = offset + self.size[c]
        neighbours = self.neighbours[c]
        previous = self.min_offset[neighbours]
        self.min_offset[neighbours] = np.maximum(previous, top)
        self.min_offset[c] = _PLACED
        self.offset[c] = offset
        self.remaining[self.first[c] : self.stop[c]] -= self.size[c]
        return previous

    def _unplace(self, c: int, offset: int, previous: np.ndarray) -> None:
        self.remaining[self.first[c] : self.stop[c]] += self.size[c]
        self.offset[c] = -1
        self.min_offset[c] = offset
        self.min_offset[self.neighbours[c]] = previous

    def _snapshot(self) -> Snapshot:
        return self.min_offset.copy(), self.remaining.copy(), list(self.offset), self.crossing.copy()

    def _restore(self, snapshot: Snapshot) -> None:
        self.min_offset[:], self.remaining[:], self.offset[:], self.crossing[:] = snapshot

    # --- search --------------------------------------------------------------------------------------

    def _fits(self, members: np.ndarray, outside: np.ndarray, lo: int, hi: int, offset: int) -> bool:
        """Section inference over segments [lo, hi), given that nothing more goes below `offset`."""
        remaining = self.remaining[lo:hi]
        if offset + int(remaining.max()) > self.capacity:
            return False
        floor = (outside + self.min_offset[members][:, None]).min(axis=0)
        np.minimum(floor, self.capacity, out=floor)  # segments with nothing left have remaining 0
        return int((floor + remaining).max()) <= self.capacity

    def _breaks_symmetry(self, c: int, offset: int) -> bool:
        earlier = self.identical_before[c]
        if len(earlier) and bool((self.min_offset[earlier] < _PLACED).any()):
            return True
        for p in self.twins[c]:
            if self.offset[p] >= 0 and self.offset[p] + self.size[p] == offset and self.ranks[p] > self.ranks[c]:
                return True
        return False

    def _candidates(self, members: np.ndarray, offset: int, rank: int) -> list[int]:
        """Unplaced buffers that may go next: canonical order, and no gap an unplaced buffer fits in."""
        lowest = self.min_offset[members]
        unplaced = lowest < _PLACED
        ids = members[unplaced]
        lowest = lowest[unplaced]
        lowest_top = int((lowest + self.sizes[ids]).min())
        ranks = self.rank[ids]
        ok = (lowest < lowest_top) & ((lowest > offset) | ((lowest == offset) & (ranks > rank)))
        chosen = ids[ok]
        return chosen[np.argsort(lowest[ok] * len(self.size) + ranks[ok])].tolist()

    def _search(self, members: np.ndarray, outside: np.ndarray, lo: int, hi: int, offset: int, rank: int) -> Steps:
        self.nodes += 1
        if self.nodes % _SLICE == 0:
            yield
        if not bool((self.min_offset[members] < _PLACED).any()):
            return True
        for c in self._candidates(members, offset, rank):
            at = int(self.min_offset[c])
            if self.twins[c] and self._breaks_symmetry(c, at):
                continue
            previous = self._place(c, at)
            if self._fits(members, outside, lo, hi, at) and (yield from self._descend(c, members, outside, lo, hi, at)):
                return True
            self._unplace(c, at, previous)
        return False

    def _descend(self, c: int, members: np.ndarray, outside: np.ndarray, lo: int, hi: int, offset: int) -> Steps:
        """Continue after placing c: split at the time cuts it was the last to cross, if any."""
        a, b = self.first[c], self.stop[c]
        self.crossing[a + 1 : b] -= 1
        cuts = (np.flatnonzero(self.crossing[a + 1 : b] == 0) + a + 1).tolist()
        cuts = [k for k in cuts if lo < k < hi]
        if cuts:
            found = yield from self._decompose(members, lo, hi, cuts)
        else:
            found = yield from self._search(members, outside, lo, hi, offset, self.ranks[c])
        if not found:
            self.crossing[a + 1 : b] += 1
        return found

    def _decompose(self, members: np.ndarray, lo: int, hi: int, cuts: list[int]) -> Steps:
        """Solve the sides between cuts one by one; all must fit. Known failures are checked first."""
        unplaced = members[self.min_offset[members] < _PLACED]
        first = np.array([self.first[i] for i in unplaced], np.int64)
        stop = np.array([self.stop[i] for i in unplaced], np.int64)
        bounds = [lo] + cuts + [hi]
        sides = []
        for left, right in zip(bounds, bounds[1:]):
            side = unplaced[(first < right) & (stop > left)]
            if len(side):
                if self._known_failure(side):
                    return False
                sides.append((side, left, right))
        snapshot = self._snapshot()
        for side, left, right in sides:
            if not (yield from self._solve_side(side, left, right)):
                self._restore(snapshot)
                return False
        return True

    def _solve_side(self, side: np.ndarray, lo: int, hi: int) -> Steps:
        known = self._known_solution(side)
        if known is not None:
            for c, offset in known:
                self._place(c, offset)
                self.crossing[self.first[c] + 1 : self.stop[c]] -= 1
            return True
        floors = self.min_offset[side].copy()
        outside = self.outside[side, lo:hi]
        if (yield from self._search(side, outside, lo, hi, -1, -1)):
            placed = sorted(((int(c), self.offset[c]) for c in side), key=lambda p: p[1])
            self.solved.setdefault(side.tobytes(), []).append((floors, placed))
            return True
        self.failed.setdefault(side.tobytes(), []).append(floors)
        return False

    def _known_failure(self, side: np.ndarray) -> bool:
        """The same buffers failed before above floors no higher than now."""
        failures = self.failed.get(side.tobytes())
        if failures is None:
            return False
        floors = self.min_offset[side]
        return any(bool((floors >= failed).all()) for failed in failures)

    def _known_solution(self, side: np.ndarray) -> list[tuple[int, int]] | None:
        """A placement found before for the same buffers above floors no lower than now still fits."""
        floors = self.min_offset[side]
        for solved_floors, placed in self.solved.get(side.tobytes(), []):
            if bool((floors <= solved_floors).all()):
                return placed
        return None


@dataclass
class Verdict:
    offsets: list[int] | None  # a placement, or None: then a complete search proved none fits
    order: str  # the preorder whose search decided


class Interleaved:
    """One search per preorder, side by side: a slice of nodes each in turn until one decides.

    The searches are heavy-tailed: the preorder that suits an instance often finishes in a few thousand
    nodes while the others thrash. MiniMalloc restarts each preorder with a doubling node limit; a search
    is deterministic, so a restart only repeats work, and resuming each one where it left off costs at
    most len(orders) times the best one. Deterministic: slices do not depend on the clock.
    """

    def __init__(self, instance: Instance, capacity: int, orders: tuple[str, ...] = ORDERS):
        self._searches = [CanonicalSearch(instance, capacity, order) for order in orders]
        self._runs = [search.steps() for search in self._searches]

    @property
    def nodes(self) -> int:
        return sum(search.nodes for search in self._searches)

    def run(self, should_stop: Callable[[int], bool]) -> Verdict | None:
        """Search until one preorder decides, or return None once should_stop(nodes) says so (resumable)."""
        while not should_stop(self.nodes):
            for search, run in zip(self._searches, self._runs):
                try:
                    next(run)
                except StopIteration as done:
                    return Verdict(done.value, search.order)
        return None
