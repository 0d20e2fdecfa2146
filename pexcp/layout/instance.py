"""A packing problem in solver form: sizes in units of their gcd, time compressed to segments.

Every engine works on this form. Counting sizes in units of their gcd keeps the numbers small (the MiniMalloc
instances are all multiples of 1 KiB), and compressing time to the segments between consecutive lifetime
ends keeps per-time arrays as short as the number of distinct events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pexcp.errors import BadInputError
from pexcp.layout.problem import Block


@dataclass
class Instance:
    """The buffers the solvers place, indexed 0..n-1. Other blocks have size 0 (they sit at 0) or share a
    placed buffer's offset (`followers`)."""

    blocks: list[Block]
    unit: int  # gcd of the sizes that need space; every solver quantity is counted in these units
    active: np.ndarray  # index into `blocks` of each buffer the solvers place
    sizes: np.ndarray  # size in units
    first: np.ndarray  # first segment the buffer is live in
    stop: np.ndarray  # one past its last segment
    lifetimes: np.ndarray  # upper - lower in the original time units, for ordering heuristics
    n_segments: int
    followers: dict[int, int]  # block index -> buffer whose offset it shares (zero-length lifetimes, see below)

    @property
    def n(self) -> int:
        return len(self.sizes)

    def segment_loads(self) -> np.ndarray:
        """Units live in each segment: the per-time sums that LOAD is the maximum of."""
        loads = np.zeros(self.n_segments + 1, np.int64)
        np.add.at(loads, self.first, self.sizes)
        np.add.at(loads, self.stop, -self.sizes)
        return np.cumsum(loads)[: self.n_segments]

    def load(self) -> int:
        return int(self.segment_loads().max(initial=0))

    def lower_bound_bytes(self) -> int:
        """No placement is lower: every segment's buffers are pairwise live together (a clique)."""
        return self.load() * self.unit

    def coverage(self) -> np.ndarray:
        """n x segments: which segments each buffer is live in."""
        segments = np.arange(self.n_segments)
        return (self.first[:, None] <= segments[None, :]) & (segments[None, :] < self.stop[:, None])

    def sections(self) -> list[np.ndarray]:
        """Buffers live in each maximal set of simultaneously live buffers.

        Two buffers are live together exactly when they share a section, so one NoOverlap per section says
        everything about addresses. Segment k is maximal when a buffer starts at k and another ends right after.
        """
        segments = np.arange(self.n_segments)
        maximal = np.isin(segments, self.first) & np.isin(segments + 1, self.stop)
        coverage = self.coverage()
        return [np.flatnonzero(coverage[:, k]) for k in np.flatnonzero(maximal)]

    def capacity_units(self, capacity: int) -> int:
        """Units that fit under `capacity` bytes (heights are always whole units, so rounding down is exact)."""
        return capacity // self.unit

    def placement(self, offsets: Sequence[int]) -> list[Block]:
        """The input blocks, in input order, with `offsets` (units, per buffer) turned into bytes."""
        placed = [b.placed(0) for b in self.blocks]
        for i, offset in zip(self.active.tolist(), offsets):
            placed[i] = self.blocks[i].placed(int(offset) * self.unit)
        for i, leader in self.followers.items():
            placed[i] = self.blocks[i].placed(placed[leader].offset)
        return placed


def build_instance(blocks: Sequence[Block]) -> Instance:
    """Scale by the gcd of sizes and number the segments between consecutive lifetime ends.

    The validator's notion of "live together" (lower < other.upper and other.lower < upper) makes a block
    with lower == upper == t clash with every block live strictly across t, and with no other such block.
    When there are such blocks, doubling time keeps that exact: [l, u) becomes [2l+1, 2u) and [t, t) the
    instant [2t, 2t+1). Blocks of zero length at the same t clash with the same blocks and not with each
    other, so the largest stands for all of them and the others share its offset. Blocks of size 0 clash
    with nothing and sit at 0.
    """
    blocks = [b if b.offset is None else Block(b.id, b.lower, b.upper, b.size) for b in blocks]
    for b in blocks:
        if b.size < 0 or b.lower > b.upper:
            raise BadInputError(f"buffer {b.id}: need size >= 0 and lower <= upper")
    instants: dict[int, list[int]] = {}
    for i, b in enumerate(blocks):
        if b.size > 0 and b.lower == b.upper:
            instants.setdefault(b.lower, []).append(i)
    followers = {}
    for group in instants.values():
        leader = max(group, key=lambda i: blocks[i].size)
        followers.update({i: leader for i in group if i != leader})
    active = [i for i, b in enumerate(blocks) if b.size > 0 and i not in followers]
    spans = [_lifetime(blocks[i], doubled=bool(instants)) for i in active]
    unit = math.gcd(*(blocks[i].size for i in active)) if active else 1
    times = sorted({t for span in spans for t in span})
    segment_of = {t: k for k, t in enumerate(times)}
    return Instance(
        blocks=blocks,
        unit=unit,
        active=np.array(active, np.int64),
        sizes=np.array([blocks[i].size // unit for i in active], np.int64),
        first=np.array([segment_of[lo] for lo, _ in spans], np.int64),
        stop=np.array([segment_of[hi] for _, hi in spans], np.int64),
        lifetimes=np.array([blocks[i].upper - blocks[i].lower for i in active], np.int64),
        n_segments=max(len(times) - 1, 0),
        followers=followers,
    )


def _lifetime(block: Block, doubled: bool) -> tuple[int, int]:
    if not doubled:  # the usual case: doubling would add a segment at every time some buffers end and others start
        return block.lower, block.upper
    if block.lower == block.upper:
        return 2 * block.lower, 2 * block.lower + 1
    return 2 * block.lower + 1, 2 * block.upper
