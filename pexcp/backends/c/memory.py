"""Where each tensor lives at each step: the plan's buffers turned into typed pointers into the arena.

The arena is bytes. A tensor may be held by several buffers over the schedule (whole, or channel slices in
split plans). At a step, channels [lo, hi) of a tensor are in the buffer live at that step whose slice
covers them; in NCHW with batch 1 a channel slice is one contiguous block, so channel `lo` sits
`(lo - slice.start) * H * W` elements after the buffer's offset, elements of the buffer's own dtype (an
int32 accumulator holds the sums of an int8 tensor).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pexcp.errors import BadInputError, InvalidPlanError
from pexcp.ir import SCRATCH, TEMP, Graph, Tensor
from pexcp.plan.plan import Buffer, Plan

CTYPES = {
    "float32": "float", "int8": "int8_t", "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t", "int16": "int16_t",
    "bool": "uint8_t",
}
ARENA = "arena"
ARENA_ALIGN = 16  # the arena's alignment in model.c; plans align buffers to less


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


@dataclass(frozen=True)
class Ptr:
    """A typed pointer in the generated code: `offset` bytes after `base` (the arena or a constant array),
    pointing at `dtype` elements."""

    base: str
    offset: int = 0  # bytes
    dtype: str = "float32"

    @property
    def ctype(self) -> str:
        return CTYPES[self.dtype]

    def shifted(self, elements: int) -> "Ptr":
        return Ptr(self.base, self.offset + elements * itemsize(self.dtype), self.dtype)

    def __str__(self) -> str:
        if self.base == ARENA:  # plans align buffers to 4 bytes: 8-byte elements go through void pointers
            return f"AT({'void' if itemsize(self.dtype) > 4 else self.ctype}, {self.offset})"
        n = self.offset // itemsize(self.dtype)
        return self.base if n == 0 else f"{self.base} + {n}"


def channel_size(t: Tensor) -> int:
    """Elements per channel (per batch item): the product of the axes after axis 1."""
    return math.prod(t.shape[2:])


class ArenaMap:
    """Answers "where are channels [lo, hi) of tensor t at step s" for the code generator."""

    def __init__(self, graph: Graph, plan: Plan):
        self.graph = graph
        self.plan = plan
        self.buffers: dict[str, list[Buffer]] = defaultdict(list)
        for b in plan.buffers:
            if b.dtype not in CTYPES:
                raise BadInputError(f"cannot compile: buffer of {b.tensor!r} is {b.dtype}; the C backend has no kernels for it")
            if b.offset % min(itemsize(b.dtype), 4):  # 8-byte elements are accessed bytewise
                raise BadInputError(f"cannot compile: buffer of {b.tensor!r} is at offset {b.offset}, not {b.dtype}-aligned")
            self.buffers[b.tensor].append(b)

    def pointer(self, step: int, tensor: str, lo: int | None = None, hi: int | None = None, like: str = "") -> Ptr:
        """Pointer to channel `lo` of `tensor` at `step`, in a buffer holding channels [lo, hi) (None: all).
        A tensor the graph does not store (a split op's accumulator) has the shape of the tensor `like`."""
        t = self.graph.tensors[tensor if tensor in self.graph.tensors else like]
        channels = t.channels or 1
        want_lo, want_hi = (0, channels) if lo is None else (lo, hi if hi is not None else channels)
        for b in self.buffers.get(tensor, []):
            if not (b.first_step <= step <= b.last_step):
                continue
            start, stop = (0, channels) if b.slice is None else (b.slice.start, b.slice.stop)
            if start <= want_lo and want_hi <= stop:
                return Ptr(ARENA, b.offset, b.dtype).shifted((want_lo - start) * channel_size(t))
        raise InvalidPlanError([f"step {step} needs channels {want_lo}:{want_hi} of {tensor!r}, no buffer holds them"])

    def holder(self, step: int, tensor: str) -> Buffer:
        """The buffer holding `tensor` whole (or as a window of rows) at `step`."""
        for b in self.buffers.get(tensor, []):
            if b.first_step <= step <= b.last_step and b.slice is None:
                return b
        raise InvalidPlanError([f"step {step} needs rows of {tensor!r}, no buffer holds them"])

    def scratch(self, step: int, op: str, nbytes: int) -> Ptr | None:
        """The op's scratch buffer at `step` if the plan holds one of at least `nbytes` bytes."""
        for b in self.buffers.get(SCRATCH + op, []):
            if b.first_step <= step <= b.last_step and b.bytes >= nbytes:
                return Ptr(ARENA, b.offset, "int8")
        return None

    def temp(self, step: int, op: str) -> Ptr:
        """The one-channel temporary of `op` run in place at `step` (the validator has checked its size)."""
        for b in self.buffers.get(TEMP + op, []):
            if b.first_step <= step <= b.last_step:
                return Ptr(ARENA, b.offset, b.dtype)
        raise InvalidPlanError([f"step {step} runs {op!r} in place without a buffer {TEMP}{op}"])

    def dead_after(self, step: int) -> list[tuple[int, int]]:
        """(offset, bytes) ranges whose contents no later step reads: bytes of buffers that die at `step`,
        minus bytes of any buffer live across the step boundary (an in-place output outlives the input whose
        bytes it took over). Nothing dies after the last step: the outputs are read there."""
        if step == len(self.plan.steps) - 1:
            return []
        dying = sorted((b.offset, b.offset + b.bytes) for b in self.plan.buffers if b.last_step == step and b.bytes)
        kept = sorted(
            (b.offset, b.offset + b.bytes) for b in self.plan.buffers if b.first_step <= step < b.last_step and b.bytes
        )
        ranges: list[tuple[int, int]] = []
        for lo, hi in dying:
            for k_lo, k_hi in kept:
                if k_lo < hi and lo < k_hi:  # cut the kept bytes out, keep what lies before them
                    if lo < k_lo:
                        ranges.append((lo, k_lo))
                    lo = max(lo, k_hi)
            if lo < hi:
                ranges.append((lo, hi))
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return [(lo, hi - lo) for lo, hi in merged]
