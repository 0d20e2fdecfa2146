"""Assemble a Plan from a schedule's buffers (analysis.liveness.expand) and the offsets of its items."""

from __future__ import annotations

from typing import Callable, Sequence

from pexcp.analysis.liveness import ALIGN, Expanded, Lifetime, Schedule, expand
from pexcp.ir import Graph, Op
from pexcp.layout.pinned import Item
from pexcp.layout.problem import Block
from pexcp.plan.plan import Buffer, Plan

Layout = Callable[[list[Item]], list[Block]]


def buffers_at(graph: Graph, expanded: Expanded, offsets: dict[str, int]) -> list[Buffer]:
    """Plan buffers with offsets: an item's offset plus the buffer's place inside it."""
    ids = {life.key: i for i, life in enumerate(expanded.buffers)}
    lives = {life.key: life for life in expanded.buffers}

    def offset(life: Lifetime) -> int:
        return offsets[life.item] + life.rel

    result = []
    for life in expanded.buffers:
        view = life.alias_of is not None and not life.inplace
        result.append(
            Buffer(
                id=ids[life.key],
                tensor=life.tensor,
                dtype=life.dtype,
                bytes=graph.tensors[life.tensor].nbytes if view else life.bytes,
                offset=offset(life),
                first_step=life.first,
                last_step=life.last,
                slice=life.slice,
                alias_of=ids[life.alias_of] if life.alias_of else None,
                alias_offset=offset(life) - offset(lives[life.alias_of]) if life.alias_of else 0,
                window=life.window,
            )
        )
    return result


def item_offsets(expanded: Expanded, placed: Sequence[Block]) -> dict[str, int]:
    """Offsets by item id from placed blocks (every block of an item has the item's offset)."""
    return {expanded.item_of(b.id): b.offset for b in placed}


def make_plan(
    graph: Graph,
    expanded: Expanded,
    offsets: dict[str, int],
    *,
    method: str,
    status: str,
    lower_bound: int,
    seconds: float,
    notes: list[str] | None = None,
) -> Plan:
    buffers = buffers_at(graph, expanded, offsets)
    arena = expanded.arena(offsets)
    return Plan(
        model=graph.name,
        model_sha256=graph.sha256,
        method=method,
        status=status,
        arena_bytes=arena,
        lower_bound_bytes=min(lower_bound, arena),
        solve_seconds=round(seconds, 4),
        steps=expanded.steps,
        buffers=buffers,
        load_bytes=expanded.load,
        gap=round((arena - lower_bound) / arena, 6) if arena and arena > lower_bound else 0.0,
        rewrites=list(graph.rewrites),
        input_layouts={k: list(v) for k, v in graph.input_layouts.items()},
        io=graph.io,
        notes=list(notes or []),
    )


def plan_from_order(
    graph: Graph,
    order: Sequence[Op],
    layout: Layout,
    *,
    method: str,
    lower_bound: int | None,
    seconds: float,
    notes: list[str] | None = None,
    unit: int = ALIGN,
) -> Plan:
    """One step per op; offsets from a greedy `layout` of the schedule's items. `lower_bound` is a proven
    bound over the method's own search space (say which in `notes`; None: the LOAD of this order); such
    plans are status heuristic, since partial execution can go below it."""
    expanded = expand(graph, Schedule([op.name for op in order]), unit=unit)
    offsets = item_offsets(expanded, layout(expanded.items()))
    bound = expanded.load if lower_bound is None else lower_bound
    return make_plan(
        graph, expanded, offsets, method=method, status="heuristic", lower_bound=bound, seconds=seconds, notes=notes
    )
