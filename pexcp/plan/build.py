"""Assemble a Plan from an unsplit op order and a layout strategy."""

from __future__ import annotations

from typing import Callable, Sequence

from pexcp.analysis.liveness import Lifetime, lifetimes, peak
from pexcp.ir import Graph, Op
from pexcp.layout.pinned import Item
from pexcp.layout.problem import Block, height
from pexcp.plan.plan import Buffer, Plan, Step

Layout = Callable[[list[Item]], list[Block]]


def items_of(lives: Sequence[Lifetime]) -> list[Item]:
    """Layout problem of a schedule: a block per buffer that owns bytes, live on [owns_from, last + 1);
    an in-place output joins its input's item, since it must sit at the same offset."""
    by_name = {l.tensor: l for l in lives}

    def root(life: Lifetime) -> str:
        while life.inplace:
            life = by_name[life.alias_of]
        return life.tensor

    items: dict[str, Item] = {}
    for l in lives:
        if l.alias_of is None or l.inplace:
            items.setdefault(root(l), []).append(Block(l.tensor, l.owns_from, l.last + 1, l.bytes))
    return list(items.values())


def plan_from_order(
    graph: Graph,
    order: Sequence[Op],
    layout: Layout,
    *,
    method: str,
    lower_bound: int,
    seconds: float,
    notes: list[str] | None = None,
) -> Plan:
    """One step per op; buffers from liveness; offsets from `layout`. `lower_bound` is a proven bound over
    the method's own search space (say which in `notes`); such plans are always status heuristic, since
    partial execution can go below it."""
    lives = lifetimes(graph, order)
    load_bytes, _ = peak(lives, len(order))
    placed = {b.id: b for b in layout(items_of(lives))}
    ids = {life.tensor: i for i, life in enumerate(lives)}
    buffers = []
    for life in lives:
        tensor = graph.tensors[life.tensor]
        buffers.append(
            Buffer(
                id=ids[life.tensor],
                tensor=life.tensor,
                dtype=tensor.dtype,
                bytes=tensor.nbytes,
                offset=placed[life.tensor if life.tensor in placed else life.alias_of].offset,
                first_step=life.first,
                last_step=life.last,
                alias_of=ids[life.alias_of] if life.alias_of else None,
            )
        )
    steps = [Step(index=i, op=op.name, kernel=op.op_type, nodes=list(op.nodes)) for i, op in enumerate(order)]
    arena = height(placed.values())
    return Plan(
        model=graph.name,
        model_sha256=graph.sha256,
        method=method,
        status="heuristic",
        arena_bytes=arena,
        lower_bound_bytes=min(lower_bound, arena),
        solve_seconds=round(seconds, 4),
        steps=steps,
        buffers=buffers,
        load_bytes=load_bytes,
        gap=round((arena - lower_bound) / arena, 6) if arena and arena > lower_bound else 0.0,
        rewrites=list(graph.rewrites),
        input_layouts={k: list(v) for k, v in graph.input_layouts.items()},
        notes=list(notes or []),
    )
