"""Row-band steps in C: where the rows a band call reads and writes are, and the moves its windows make.

A step with a row slice computes output rows [a, b) of a conv or pool (analysis/bands.py). Its input rows
[lo, hi) and output rows are either in a whole buffer (row y of channel c at (c H + y) W elements) or in a
window of R rows (at (c R + y - base) W). A window follows the plan format's rule: before rows [a, b) are
written, it drops the rows below max(0, b - R) and moves the rows it keeps to its front, one memmove per
channel (`pexcp_move_rows`). The call then sees an input of hi - lo rows with channel stride in_cs, top
padding lo - (a stride - pad), and an output of b - a rows with channel stride out_cs; taps below its last
input row are padding, which happens only in the last band.
"""

from __future__ import annotations

from dataclasses import dataclass

from pexcp.backends.c.memory import ARENA, ArenaMap, Ptr, itemsize
from pexcp.errors import InvalidPlanError
from pexcp.ir import Graph, Op
from pexcp.ops import spec
from pexcp.plan.plan import Buffer, Step

MOVE_FILE = "move_rows"


@dataclass(frozen=True)
class Band:
    """What a band call changes in its op's whole call: pointers (each input's at the first row it reads,
    the output's at row a) with their channel strides, and the geometry fields of a windowed op's params."""

    inputs: dict[str, tuple[Ptr, int]]
    dst: Ptr
    out_cs: int
    rows: int  # output rows [a, b): b - a
    fields: dict[str, int]


class Windows:
    """The rows each window holds as the schedule runs (the code generator visits steps in order)."""

    def __init__(self, graph: Graph, arena: ArenaMap):
        self.graph, self.arena = graph, arena
        self.held: dict[int, tuple[int, int, int]] = {}  # window buffer id -> (base, first row held, end)

    def rows_at(self, step: int, tensor: str, lo: int) -> tuple[Ptr, int, Buffer]:
        """Pointer to row `lo` (channel 0) of `tensor` at `step`, and its channel stride in elements."""
        b = self.arena.holder(step, tensor)
        _, _, h, w = self.graph.tensors[tensor].shape
        base = Ptr(ARENA, b.offset, b.dtype)
        if not b.window:
            return base.shifted(lo * w), h * w, b
        first = self.held.get(b.id, (0, 0, 0))[0]
        if lo < first:
            raise InvalidPlanError([f"step {step} needs row {lo} of {tensor!r}, which its window no longer holds"])
        return base.shifted((lo - first) * w), b.window * w, b

    def write(self, step: int, tensor: str, a: int, stop: int) -> tuple[list[str], Ptr, int]:
        """The moves before rows [a, stop) of `tensor` are written at `step`, where row a goes, and the
        channel stride."""
        b = self.arena.holder(step, tensor)
        if not b.window:
            ptr, cs, _ = self.rows_at(step, tensor, a)
            return [], ptr, cs
        _, c, _, w = self.graph.tensors[tensor].shape
        base, first, end = self.held.get(b.id, (0, 0, 0))
        new_base = max(0, stop - b.window)
        keep_from = max(new_base, first)
        lines = []
        if new_base != base and end > keep_from:
            row = w * itemsize(b.dtype)
            lines.append(
                f"pexcp_move_rows({Ptr(ARENA, b.offset, 'int8')}, {c}, {b.window * row}, "
                f"{(keep_from - base) * row}, {(keep_from - new_base) * row}, {(end - keep_from) * row});"
            )
        self.held[b.id] = (new_base, keep_from if end > keep_from else a, stop)
        ptr, cs, _ = self.rows_at(step, tensor, a)
        return lines, ptr, cs


def band(windows: Windows, graph: Graph, op: Op, step: Step) -> tuple[list[str], Band]:
    """The moves and the band geometry of a row step of `op` (a conv, pool or Add: `OpSpec.rows`)."""
    rows = spec(op.op_type).rows(graph, op)
    if rows is None or step.slice is None:
        raise InvalidPlanError([f"step {step.index}: {op.op_type} {op.name!r} cannot run in row bands"])
    a, b = step.slice.start, step.slice.stop
    lo, hi = rows.needs(a, b)
    inputs = {x: windows.rows_at(step.index, x, lo)[:2] for x in graph.activation_inputs(op)}
    lines, dst, out_cs = windows.write(step.index, op.outputs[0], a, b)
    x = graph.activation_inputs(op)[0]
    fields = {"in_h": hi - lo, "pad_t": lo - (a * rows.stride - rows.pad), "out_h": b - a, "in_cs": inputs[x][1],
              "out_cs": out_cs}
    return lines, Band(inputs, dst, out_cs, b - a, fields)
