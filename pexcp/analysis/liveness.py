"""Buffers and lifetimes for a given op order, and LOAD (max live bytes), the lower bound of any layout.

Model inputs are live from the first step and outputs until the last, as TFLite Micro counts them. A view
(Reshape & co.) owns no bytes: it aliases the buffer it views, which stays live as long as the view is used.
An in-place output is written over its input during its step: it owns its bytes only from the next step,
at its input's offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pexcp.ir import Graph, Op


@dataclass
class Lifetime:
    tensor: str
    bytes: int  # bytes it owns (0 for a view)
    first: int  # step that writes it (0 for model inputs)
    last: int  # last step that reads it (inclusive)
    alias_of: str | None = None  # tensor whose bytes this one views, or (inplace) takes over
    inplace: bool = False

    @property
    def owns_from(self) -> int:
        """First step at which its bytes count: an in-place output's bytes are its input's during its step."""
        return self.first + 1 if self.inplace else self.first


def storage_root(graph: Graph, tensor: str) -> str:
    """The tensor that owns the bytes `tensor` lives in (itself unless it is the output of a view op)."""
    while tensor in graph.producer and graph.producer[tensor].view:
        tensor = graph.activation_inputs(graph.producer[tensor])[0]
    return tensor


def lifetimes(graph: Graph, order: Sequence[Op]) -> list[Lifetime]:
    """One Lifetime per stored tensor for ops executed in `order` (one op per step)."""
    step = {op.name: i for i, op in enumerate(order)}
    last_step = len(order) - 1
    result: dict[str, Lifetime] = {}
    for name in graph.tensors:
        producer = graph.producer.get(name)
        first = step[producer.name] if producer else 0
        users = [step[u.name] for u in graph.consumers[name]]
        last = last_step if name in graph.outputs else max(users, default=first)
        root = storage_root(graph, name)
        if root != name:
            result[name] = Lifetime(name, 0, first, last, alias_of=root)
        elif producer is not None and producer.inplace:
            result[name] = Lifetime(name, graph.tensors[name].nbytes, first, last, producer.inplace, inplace=True)
        else:
            result[name] = Lifetime(name, graph.tensors[name].nbytes, first, last)
    for life in result.values():  # a base must outlive every view of it
        if life.alias_of and not life.inplace:
            base = result[life.alias_of]
            base.last = max(base.last, life.last)
    return list(result.values())


def live_bytes(lives: Sequence[Lifetime], steps: int) -> list[int]:
    """Bytes live at each step (views count nothing: their base is counted)."""
    per_step = [0] * steps
    for life in lives:
        for s in range(life.owns_from, min(life.last, steps - 1) + 1):
            per_step[s] += life.bytes
    return per_step


def peak(lives: Sequence[Lifetime], steps: int) -> tuple[int, int]:
    """(LOAD, step where it occurs)."""
    per_step = live_bytes(lives, steps)
    top = max(per_step, default=0)
    return top, per_step.index(top) if per_step else 0
