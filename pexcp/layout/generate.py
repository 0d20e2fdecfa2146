"""Seeded packing instances with the character of MiniMalloc's A-E, for measuring `pexcp pack` beyond them.

MiniMalloc's public set has eleven instances and the engine was tuned on five (A-E), so this module makes
more of the same kind: 1,024 time slots of 1,024 time units and a capacity of 1 MiB in 1 KiB units, as in
A-E; memory as full as theirs (A-E leave 2-11 % of the time x capacity area empty); buffer sizes and
lifetimes spread like theirs, including the strong negative correlation between the two (big buffers live
briefly; see docs/pack.md for the measured quantiles).

Instances are built by construction so that a placement is known. Guillotine cuts tile the whole
time x memory rectangle: a piece drawn with probability proportional to its area is cut in two at 10-90 %
of its span, across time or across addresses, keeping its parent's direction with probability PERSIST (runs
of cuts in one direction make the tall short-lived and the low long-lived buffers). Pieces are then
dropped at random until FREE of the area is empty, and cut further until there are as many as asked. A
"tight" instance never drops a piece live at one slot chosen at random, so the load there is the capacity:
LOAD == capacity, and the known placement leaves no gap at that slot. A "slack" one drops pieces anywhere:
LOAD <= capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pexcp.layout.problem import Block

SLOTS = 1024  # time slots of TIME_UNIT time units: A-E's times are multiples of 1,024 up to 2^20
TIME_UNIT = 1024
CAPACITY_UNITS = 1024  # 1 MiB in SIZE_UNIT bytes, A-E's capacity; their sizes are multiples of 1 KiB
SIZE_UNIT = 1024
# Calibrated against A-E pooled (bench: gen_pack_instances.py --compare): with these the generated sizes,
# lifetimes and their rank correlation have A-E's medians and spread within about a factor of 1.6
PERSIST = {False: 0.75, True: 0.6}  # a cut keeps its parent's direction (across time?) with this probability
CUT_AT = (0.1, 0.9)  # a cut falls uniformly in this share of the piece's span
FREE = 0.06  # share of the area left empty (A-E: 2-11 %)
KINDS = ("tight", "slack")


@dataclass(frozen=True)
class Generated:
    blocks: list[Block]  # the instance, no offsets
    placement: list[Block]  # the same blocks with the known placement, within the capacity
    capacity: int  # bytes
    kind: str
    seed: int


Piece = tuple[int, int, int, int, bool]  # lower, upper (slots), offset, size (units), last cut across time


def generate(seed: int, buffers: int = 200, kind: str = "tight") -> Generated:
    """`buffers` buffers in 1 MiB ("tight": LOAD == 1 MiB exactly; "slack": LOAD <= 1 MiB). Deterministic."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if buffers < 1:
        raise ValueError("need at least one buffer")
    rng = np.random.default_rng([seed, buffers, KINDS.index(kind)])
    pieces: list[Piece] = [(0, SLOTS, 0, CAPACITY_UNITS, bool(rng.random() < 0.5))]
    _cut(rng, pieces, max(1, round(buffers * (1 - 2 * FREE))))
    full = int(rng.integers(SLOTS)) if kind == "tight" else None
    _drop(rng, pieces, full)
    _cut(rng, pieces, buffers)
    placement = [
        Block(str(i), lower * TIME_UNIT, upper * TIME_UNIT, size * SIZE_UNIT, offset * SIZE_UNIT)
        for i, (lower, upper, offset, size, _) in enumerate(pieces)
    ]
    blocks = [Block(b.id, b.lower, b.upper, b.size) for b in placement]
    return Generated(blocks, placement, CAPACITY_UNITS * SIZE_UNIT, kind, seed)


def _cut(rng: np.random.Generator, pieces: list[Piece], count: int) -> None:
    """Cut pieces in two (each keeps its place in memory) until there are `count`, or none can be cut."""
    while len(pieces) < count:
        areas = np.array([(upper - lower) * size for lower, upper, _, size, _ in pieces], np.float64)
        if areas.max() < 2:
            return
        k = int(rng.choice(len(pieces), p=areas / areas.sum()))
        lower, upper, offset, size, across_time = pieces[k]
        if rng.random() >= PERSIST[across_time]:
            across_time = not across_time
        if (upper - lower if across_time else size) < 2:
            across_time = not across_time
        span = upper - lower if across_time else size
        at = int(np.clip(round(rng.uniform(*CUT_AT) * span), 1, span - 1))
        if across_time:
            halves = [(lower, lower + at, offset, size, True), (lower + at, upper, offset, size, True)]
        else:
            halves = [(lower, upper, offset, at, False), (lower, upper, offset + at, size - at, False)]
        pieces[k : k + 1] = halves


def _drop(rng: np.random.Generator, pieces: list[Piece], full: int | None) -> None:
    """Drop pieces at random until FREE of the area is empty (at most 1.5 x FREE: no piece too large), never
    one live at slot `full` (if given)."""
    target = FREE * SLOTS * CAPACITY_UNITS
    freed = 0
    for k in rng.permutation(len(pieces)).tolist():
        lower, upper, _, size, _ = pieces[k]
        if freed >= target:
            break
        if (full is not None and lower <= full < upper) or freed + (upper - lower) * size > 1.5 * target:
            continue
        freed += (upper - lower) * size
        pieces[k] = (0, 0, 0, 0, False)
    pieces[:] = [p for p in pieces if p[3] > 0]


def write_instance(blocks: list[Block], path: Path) -> None:
    """`id,lower,upper,size` with Unix line ends: what `pexcp pack` reads and MiniMalloc's parser accepts
    (it splits on "\\n" only, so the csv module's "\\r\\n" would leave a "\\r" in every size)."""
    lines = ["id,lower,upper,size"] + [f"{b.id},{b.lower},{b.upper},{b.size}" for b in blocks]
    path.write_text("\n".join(lines) + "\n")


SET_SIZES = (160, 200, 240, 280, 320, 360, 400, 440)  # buffer counts of the benchmark set: A-E's to K's and beyond


def standard_set(count: int = 16, seed: int = 0, sizes: tuple[int, ...] = SET_SIZES) -> list[tuple[str, Generated]]:
    """(name, instance) for the benchmark set: `count` instances, buffer counts cycling through `sizes`, the
    first half tight and the second slack, seeds seed, seed + 1, ..."""
    found = []
    for k in range(count):
        buffers, kind = sizes[k % len(sizes)], KINDS[0] if k < (count + 1) // 2 else KINDS[1]
        found.append((f"g{seed + k:02d}-{kind}-{buffers}", generate(seed + k, buffers, kind)))
    return found
