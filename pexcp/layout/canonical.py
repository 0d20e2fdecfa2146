"""Exact search over canonical placements, after MiniMalloc (Moffitt, ASPLOS 2023), with randomized restarts.

Any placement can be pushed down until every buffer rests on address 0 or on the top of a buffer live with
it, so it is enough to search those. The search places buffers in non-decreasing offset order, each at the
lowest address its already placed neighbours leave it, and prunes with:

- dominance: never leave a gap below the current offset that an unplaced buffer would fit in whole;
- section inference: in every segment, the unplaced buffers' sizes must fit between the lowest address any
  of them can still take (the "unallocated floor") and the capacity;
- symmetry: buffers with the same lifetime and size go in a fixed order, and a run of buffers with the same
  lifetime stacked directly on each other is kept in preorder (any run can be re-sorted without effect);
- decomposition: once every buffer crossing a time cut is placed, the two sides are solved independently,
  and solved or failed sides are remembered (a side that failed still fails above higher floors; a side
  that fitted still fits above lower ones);
- hatless pruning (MiniMalloc's): once a buffer that raised no unplaced neighbour's floor has been tried,
  the other candidates are not (nothing can go below its top, so any placement that put another buffer
  next could move it down to where it was tried).

Ties between buffers at the same offset are broken by a preorder, recomputed for each side of a
decomposition from what is still unplaced there (as MiniMalloc does); symmetry uses the preorder of the
whole instance. Whatever the preorder, a search that runs to its end without a placement is a proof that
none fits the capacity. The
search itself is in C (_canonical.c); this module chooses the preorders and node limits.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pexcp import interrupts
from pexcp.errors import SetupError
from pexcp.layout.instance import Instance

# MiniMalloc's preorders: letters name keys compared in turn, all descending.
# W = lifetime width, A = area (size x lifetime), T = the largest segment total the buffer is live in.
ORDERS = ("WAT", "TAW", "TWA")
NOISE = 0.02  # restarts perturb each rank by Gaussian noise of NOISE x n positions
RUN_NODES_PER_BUFFER = 25  # node limit of a run, per buffer, before the Luby factor


def preorder(instance: Instance, order: str) -> np.ndarray:
    """Rank of each buffer under a MiniMalloc preorder such as "TAW" (0 = placed first among ties), over the
    whole instance: the symmetry rules' order (the search re-ranks each side for ties, see search())."""
    loads = instance.segment_loads()
    total = np.array([loads[a:b].max() for a, b in zip(instance.first, instance.stop)], np.int64)
    keys = {"W": instance.lifetimes, "A": instance.sizes * instance.lifetimes, "T": total}
    # lexsort sorts by the last key first; negate for descending; the buffer index breaks remaining ties
    columns = [np.arange(instance.n)] + [-keys[letter] for letter in reversed(order)]
    rank = np.empty(instance.n, np.int64)
    rank[np.lexsort(columns)] = np.arange(instance.n)
    return rank


def jitter(n: int, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """Per buffer, Gaussian noise of `noise` (times the size of the side being ranked, in positions): a nearby
    preorder."""
    return rng.normal(0.0, noise, n)


@dataclass
class Run:
    status: int  # 1 fits, 0 proved that nothing fits, -1 stopped at its node limit or the deadline
    offsets: list[int] | None  # per buffer, in units, when it fits
    nodes: int


@functools.cache
def _library() -> ctypes.CDLL:
    """The compiled search, built next to this file when pexcp is installed (see setup.py). Loaded on first
    use, so that a missing build fails the command that needs it with a one-line error, not every import."""
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if (here / f"_canonical{suffix}").exists():
            library = ctypes.CDLL(str(here / f"_canonical{suffix}"))
            break
    else:
        raise SetupError(
            f"pexcp's compiled search (_canonical*.so) is missing from {here}: install pexcp from this checkout "
            "with `pip install -e .` (it builds pexcp/layout/_canonical.c; needs gcc)"
        )
    i64, i32 = np.ctypeslib.ndpointer(np.int64, flags="C"), np.ctypeslib.ndpointer(np.int32, flags="C")
    library.canonical_search.argtypes = [
        ctypes.c_int, ctypes.c_int, i64, i32, i32, i32, i64, i64, ctypes.c_char_p,
        np.ctypeslib.ndpointer(np.float64, flags="C"), ctypes.c_int64, ctypes.c_int64, ctypes.c_double, i64,
        ctypes.POINTER(ctypes.c_int64),
    ]
    library.canonical_search.restype = ctypes.c_int
    return library


def search(
    instance: Instance, capacity: int, order: str, max_nodes: int, deadline: float, noise: np.ndarray | None = None
) -> Run:
    """One depth-first search at `capacity` units under the preorder `order` (see ORDERS), moved by `noise`
    (see jitter) when given (ctypes releases the GIL).

    As in MiniMalloc, each side of a decomposition is ranked afresh, T counting only what is still unplaced.
    Measured on MiniMalloc's I (374 buffers): TWA so fits it in 1,791 nodes (0.03 s; MiniMalloc's own TWA
    search 0.4 s), and H (316) under TAW in 1,074, where none of the three preorders ranked once at the start
    fitted either within 10 s."""
    offsets = np.zeros(instance.n, np.int64)
    nodes = ctypes.c_int64()
    capacity = min(capacity, int(instance.sizes.sum()))  # more never helps, and offsets stay below 2^40 in C
    library = _library()
    status = interrupts.call_abandonable(lambda: library.canonical_search(
        instance.n,
        instance.n_segments,
        np.ascontiguousarray(instance.sizes, np.int64),
        np.ascontiguousarray(instance.first, np.int32),
        np.ascontiguousarray(instance.stop, np.int32),
        np.ascontiguousarray(preorder(instance, order), np.int32),
        np.ascontiguousarray(instance.lifetimes, np.int64),
        np.ascontiguousarray(instance.sizes * instance.lifetimes, np.int64),
        order.encode(),
        np.ascontiguousarray(np.zeros(instance.n) if noise is None else noise, np.float64),
        capacity,
        max_nodes,
        deadline,
        offsets,
        ctypes.byref(nodes),
    ))  # on a thread, so that Ctrl-C need not wait for the run to end
    if status == -2:
        raise MemoryError("canonical search: out of memory")
    if status == -3:
        raise ValueError("canonical search: malformed instance")
    return Run(status, offsets.tolist() if status == 1 else None, nodes.value)


def luby(i: int) -> int:
    """The i-th term (from 1) of the Luby sequence 1 1 2 1 1 2 4 1 1 2 1 1 2 4 8 ...: restarts with these
    limits waste at most a logarithmic factor over the best fixed limit, which is unknown in advance."""
    k = i.bit_length()  # the smallest k with 2^k - 1 >= i
    if i == (1 << k) - 1:
        return 1 << (k - 1)
    return luby(i - (1 << (k - 1)) + 1)


@dataclass
class Verdict:
    offsets: list[int] | None  # a placement, or None: then a complete search proved none fits
    order: str  # the preorder whose search decided, with "~" and the round when it was perturbed


class Restarts:
    """Searches at one capacity in rounds: round r runs every preorder once with a node limit of
    RUN_NODES_PER_BUFFER x n x luby(r). In rounds 1, 3, 7, 15, ..., where the Luby factor reaches a new
    maximum (1, 2, 4, 8, ...), the preorders are MiniMalloc's own, so each gets MiniMalloc's restarts with
    doubling limits; every other round runs perturbed copies of them (a random draw per run, from `seed`,
    the capacity and the run's number).

    Why: the search is heavy-tailed. A preorder that suits an instance often fits it in a few thousand nodes,
    while an unlucky early decision near the bottom of memory is never revisited by a depth-first search and
    the rest thrashes. Perturbed copies make different early decisions. Measured on MiniMalloc's D (1 KiB
    units): the plain WAT search fits 995 in 43k nodes and nothing below within millions, while of 200
    perturbed TWA runs of 5,000 nodes, 5 fitted 1010, 2 fitted 1000 and 1 fitted 990 (and, in other runs, 985
    and 980). Limits grow without bound, so a capacity that does not fit is eventually proven so.
    Deterministic: the same runs in the same order on every machine; only the deadline depends on the clock.
    """

    def __init__(self, instance: Instance, capacity: int, seed: int = 0):
        self._instance = instance
        self._capacity = capacity
        self._seed = seed
        self.runs = 0
        self.nodes = 0

    def run(self, node_budget: int, deadline: float) -> Verdict | None:
        """Run searches until one decides, or return None once `node_budget` more nodes have been searched
        (the run that crosses it completes) or the deadline passes. Resumable: the next call continues."""
        stop_at = self.nodes + node_budget
        while self.nodes < stop_at and time.monotonic() < deadline:
            round_, which = divmod(self.runs, len(ORDERS))
            plain = (round_ + 2) & (round_ + 1) == 0  # rounds 1, 3, 7, 15, ...: a new largest Luby factor
            rng = np.random.default_rng([self._seed, self._capacity, self.runs])
            noise = None if plain else jitter(self._instance.n, rng)
            limit = RUN_NODES_PER_BUFFER * max(self._instance.n, 1) * luby(round_ + 1)
            outcome = search(self._instance, self._capacity, ORDERS[which], limit, deadline, noise)
            self.nodes += outcome.nodes
            if outcome.status == -1 and time.monotonic() >= deadline:
                return None  # cut short by the clock: this run is repeated if the search resumes
            self.runs += 1
            if outcome.status >= 0:
                return Verdict(outcome.offsets, ORDERS[which] + ("" if plain else f"~{round_ + 1}"))
        return None
