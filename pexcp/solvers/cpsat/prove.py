"""After a decomposed solve: prove the pinned segments' plan optimal, and economise kernel calls.

Cut tensors pinned at offset 0 can cost bytes, and a pinned segment's joint bound holds only under its
pins. So windows of consecutive segments are solved again without pins, narrowest first: the smallest
arena of any window bounds the model's (prove). Segments below the model's arena minimised their own
arena; within the model's they may need fewer extra kernel calls (economise).
"""

from __future__ import annotations

from typing import Iterator

from pexcp.ir import Graph
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.budget import MAX_WINDOWS
from pexcp.solvers.cpsat.context import Context
from pexcp.solvers.cpsat.decompose import join
from pexcp.solvers.cpsat.part import Candidate, Part, combine
from pexcp.solvers.cpsat.phases import joint_model


def windows(parts: list[Part], arena: int) -> Iterator[list[Part]]:
    """Runs of consecutive segments holding a segment whose plan sets the arena, narrowest first (a wider
    window can prove more, and costs more), smallest first within a width."""
    n = len(parts)
    hot = [k for k, p in enumerate(parts) if p.best is not None and p.best.arena == arena]
    for width in range(1, n + 1):
        starts = {i for k in hot for i in range(max(0, k - width + 1), min(k, n - width) + 1)}
        by_size = sorted(starts, key=lambda i: (sum(p.size for p in parts[i : i + width]), i))
        for i in by_size[:MAX_WINDOWS]:
            yield parts[i : i + width]


def prove(ctx: Context, graph: Graph, parts: list[Part], best: Candidate, bound: int) -> tuple[Candidate, int, str]:
    """Stops at a proof, or when a window cannot be solved to optimality (a wider one would not be either).
    The window holding every segment is the whole model: its plan may replace the pinned one. Returns (best
    plan, proven bound, what was done)."""
    note = ""
    for window in windows(parts, best.arena):
        left = ctx.clock.left()
        if left.empty:
            break
        sub = join(graph, [p.graph for p in window])
        groups = {gid: g for p in window for gid, g in p.groups.items()}
        label = f"window {parts.index(window[0]) + 1}-{parts.index(window[-1]) + 1}"
        unit = ctx.params.unit or cm.size_unit(sub, groups, ctx.params.in_place)
        part = Part(sub, groups, {}, unit, label, bound=max(p.bound for p in window))
        whole = len(window) == len(parts)
        found, proven_bound, proven = joint_model(ctx, part, combine(sub, window)[0], left if whole else left.half())
        bound = max(bound, proven_bound)
        note = f"unpinned window of {len(window)} segment(s) ({sub.name}) proved a bound of {proven_bound:,} B"
        if whole and found is not None and found.arena < best.arena:
            best = found
        if bound >= best.arena or not proven:
            break
    return best, bound, note


def economise(ctx: Context, parts: list[Part], arena: int) -> None:
    """Segments below the model's arena are re-solved with it as their budget (the arena-then-slices
    objective of the whole)."""
    slack = [p for p in parts if p.best is not None and p.best.arena < arena and p.best.slices(p.groups)]
    for part, allowed in ctx.clock.shares(slack, lambda p: p.size, 1.0):
        found, _, _ = joint_model(ctx, part, part.best, allowed, budget=arena, phase="economise")
        if found is not None and found.slices(part.groups) < part.best.slices(part.groups):
            part.best = found
