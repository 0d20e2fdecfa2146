"""Greedy offset assignment: TFLite Micro's first-fit-by-size and a best-fit variant."""

from __future__ import annotations

from typing import Callable, Sequence

from pexcp.layout.problem import Block, height, live_together

Order = Callable[[Block], tuple]


def _gaps(block: Block, placed: Sequence[Block]):
    """Yield (start, end) of the free address ranges next to buffers live with `block`, lowest first.

    The last gap is open-ended (end None): above every conflicting buffer.
    """
    conflicts = sorted((p for p in placed if p.size > 0 and live_together(p, block)), key=lambda p: p.offset)
    cursor = 0
    for p in conflicts:
        if p.offset > cursor:
            yield cursor, p.offset
        cursor = max(cursor, p.offset + p.size)
    yield cursor, None

def first_fit(blocks: Sequence[Block], order: Order | None = None) -> list[Block]:
    """TFLite Micro's GreedyMemoryPlanner: largest first (stable), each at the lowest offset where it fits.

    Blocks that already carry an offset are kept where they are, as TFLM does with offline-planned ones.
    Returns blocks in the input order.
    """
    key = order or (lambda b: -b.size)
    fixed = [b for b in blocks if b.offset is not None]
    placed: list[Block] = list(fixed)
    result = {b.id: b for b in fixed}
    for b in sorted((b for b in blocks if b.offset is None), key=key):
        offset = next(start for start, end in _gaps(b, placed) if end is None or end - start >= b.size)
        done = b.placed(offset)
        placed.append(done)
        result[b.id] = done
    return [result[b.id] for b in blocks]

def best_fit(blocks: Sequence[Block], order: Order | None = None) -> list[Block]:
    """Like first_fit but each block takes the tightest gap that holds it (the top only when none does).

    Default order: larger first, then longer-lived first, which packs long-lived buffers low.
    """
    key = order or (lambda b: (-b.size, -(b.upper - b.lower), b.lower))
    placed: list[Block] = [b for b in blocks if b.offset is not None]
    result = {b.id: b for b in placed}
    for b in sorted((b for b in blocks if b.offset is None), key=key):
        best: tuple[int, int] | None = None  # (waste, offset)
        top = 0
        for start, end in _gaps(b, placed):
            if end is None:
                top = start
            elif end - start >= b.size and (best is None or end - start - b.size < best[0]):
                best = (end - start - b.size, start)
        done = b.placed(best[1] if best else top)
        placed.append(done)
        result[b.id] = done
    return [result[b.id] for b in blocks]

def best_of_greedy(blocks: Sequence[Block]) -> list[Block]:
    """The lowest of a few greedy orders: cheap, and often at LOAD on inference graphs."""
    orders: list[Order] = [
        lambda b: (-b.size, -(b.upper - b.lower), b.lower),
        lambda b: (-(b.upper - b.lower), -b.size, b.lower),
        lambda b: (-b.size * (b.upper - b.lower), b.lower),
        lambda b: (b.lower, -b.size),
    ]
    candidates = [first_fit(blocks)] + [best_fit(blocks, o) for o in orders]
    return min(candidates, key=height)
