"""Greedy placement of block groups that must share one offset (an input and its in-place outputs).

An in-place output takes over the bytes of its input from the step after the op: the two blocks follow
each other in time at the same offset. Placing them as one item keeps that pin while letting the smaller
output free the rest of its input's bytes.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from pexcp.layout.problem import Block, addresses_overlap, height, live_together

Item = list[Block]  # blocks placed at one common offset
ItemOrder = Callable[[Item], tuple]


def _lowest_free_offset(item: Item, placed: Sequence[Block]) -> int:
    """Lowest offset o >= 0 at which every block of the item misses every placed block it is live with."""
    forbidden = sorted(
        (p.offset - m.size + 1, p.offset + p.size)  # o in [lo, hi) collides
        for m in item
        for p in placed
        if m.size > 0 and p.size > 0 and live_together(m, p)
    )
    offset = 0
    for lo, hi in forbidden:
        if lo > offset:
            break
        offset = max(offset, hi)
    return offset


def first_fit_items(
    items: Sequence[Item], order: ItemOrder, fixed: Mapping[str, int] | None = None
) -> list[Block] | None:
    """Items in `order`, each at its lowest free offset; an item holding a block of `fixed` (block id ->
    offset) is placed there first, whatever the order. None when two fixed items collide."""
    placed: list[Block] = []
    free = []
    for item in items:
        at = next((fixed[b.id] for b in item if b.id in fixed), None) if fixed else None
        if at is None:
            free.append(item)
            continue
        pinned = [b.placed(at) for b in item]
        if any(b.size and p.size and live_together(b, p) and addresses_overlap(b, p) for b in pinned for p in placed):
            return None
        placed.extend(pinned)
    for item in sorted(free, key=order):
        offset = _lowest_free_offset(item, placed)
        placed.extend(b.placed(offset) for b in item)
    return placed


_ORDERS: list[ItemOrder] = [
    lambda it: (-max(b.size for b in it), -sum(b.upper - b.lower for b in it)),
    lambda it: (-sum(b.upper - b.lower for b in it), -max(b.size for b in it)),
    lambda it: (-sum(b.size * (b.upper - b.lower) for b in it),),
    lambda it: (min(b.lower for b in it), -max(b.size for b in it)),
]


def best_of_items(items: Sequence[Item], fixed: Mapping[str, int] | None = None) -> list[Block] | None:
    """The lowest placement over a few item orders (largest first, longest first, area, start time), with
    the items of `fixed` blocks at their given offsets (None when those collide)."""
    layouts = [layout for order in _ORDERS if (layout := first_fit_items(items, order, fixed)) is not None]
    return min(layouts, key=height) if layouts else None
