"""In-place convolutions: which ops may write their output over their input, and how.

Two kinds, each a solver switch (SolverParams.inplace_depthwise, .inplace_pointwise):
- depthwise (TinyEngine's trick): a depthwise conv without a channel multiplier computes output channel c
  from input channel c alone. Run one channel at a time, each output channel computed into a temporary of
  one output channel and then copied to its place, it needs no output buffer of its own: output channel c
  (no larger than an input channel) covers only input channels <= c, which are consumed by then.
- pointwise: a 1x1 stride-1 one-group conv with no more output than input channels computes output pixel p
  from input pixel p alone. Run one pixel at a time, the pixel's outputs computed into a temporary of one
  output pixel and then stored, output element (c, p) lands in channel-planar storage on input element
  (c, p), which pixel p has read already; no other pixel's input is touched.
The input must die at that step: the conv is its last reader in the schedule (every other reader can run
before it: none depends on the conv's output, none writes over the input), it is no model output, and no
view or Concat shares its bytes. The plan says so with the step's `in_place` flag, the output as an alias
of the input's buffer and a buffer `temp:<op>`.
"""

from __future__ import annotations

from typing import Collection

import networkx as nx

from pexcp.ir import Graph, Op
from pexcp.ops import spec

DEPTHWISE, POINTWISE = "depthwise", "pointwise"


def kind(graph: Graph, op: Op) -> str | None:
    """How `op` could write over its input (module docstring), or None."""
    s = spec(op.op_type)
    if s.overwrites_by_channel(graph, op):
        return DEPTHWISE
    return POINTWISE if s.overwrites_by_pixel(graph, op) else None


def temp_bytes(graph: Graph, op: Op) -> int:
    """The temporary of an in-place run: one output channel (depthwise) or one output pixel (pointwise)."""
    out = graph.tensors[op.outputs[0]]
    channels = out.channels or 1
    return (channels if kind(graph, op) == POINTWISE else out.numel // channels) * out.itemsize


def extra_calls(graph: Graph, op: Op) -> int:
    """Kernel calls an in-place run adds: a depthwise conv's one per channel instead of one for all; a
    pointwise conv's in-place kernel is one call."""
    return (graph.tensors[op.outputs[0]].channels or 1) - 1 if kind(graph, op) == DEPTHWISE else 0


def weight(graph: Graph, op: Op) -> int:
    """What an in-place run weighs in the solver's tie-break after the arena: its extra kernel calls, and at
    least one, so that no conv runs in place where that does not lower the arena (or meet a budget)."""
    return max(extra_calls(graph, op), 1)


def other_readers(graph: Graph, op: Op) -> list[Op]:
    """The ops besides `op` that read its input: an in-place run must come after all of them."""
    return [r for r in graph.consumers[graph.activation_inputs(op)[0]] if r.name != op.name]


def runs_last(graph: Graph, order: list[str], op: Op) -> bool:
    """In `order`, `op` is the last reader of its input (it may run in place there)."""
    at = {name: i for i, name in enumerate(order)}
    return all(at[r.name] < at[op.name] for r in other_readers(graph, op))


def in_place_ops(graph: Graph, kinds: Collection[str] = (DEPTHWISE,)) -> list[Op]:
    """The ops of `graph` of one of `kinds` that may run in place in some schedule (module docstring), in the
    graph's order."""
    found = []
    dag = None
    shared = {r for t in graph.tensors if (r := graph.storage_root(t)) != t}  # bytes a view or Concat input shares
    for op in graph.ops:
        acts = graph.activation_inputs(op)
        if op.view or op.inplace or op.gathered or len(acts) != 1 or len(op.outputs) != 1:
            continue
        x, y = acts[0], op.outputs[0]
        if kind(graph, op) not in kinds:
            continue
        tx, ty = graph.tensors[x], graph.tensors[y]
        if tx.shape[0] != 1 or tx.perm is not None or ty.perm is not None:
            continue
        if x in graph.outputs or y in graph.outputs or y in graph.carved:
            continue
        if graph.storage_root(x) != x or x in shared:
            continue
        others = other_readers(graph, op)
        if any(r.inplace == x for r in others):
            continue
        if others:
            dag = dag if dag is not None else graph.dag()
            if any(r.name in nx.descendants(dag, op.name) for r in others):
                continue
        found.append(op)
    return found
