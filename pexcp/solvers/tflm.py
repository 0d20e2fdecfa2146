"""Method `tflm`: what TensorFlow Lite Micro does, to compare against.

The file's operator order (TFLite keeps it), no memory rewrites (TFLite has none; only the ONNX layout
Transposes that TFLite never had are folded away), and TFLM's GreedyMemoryPlanner: buffers sorted by size,
largest first, each at the lowest offset where it fits. TFLM adds its buffers tail-first before a stable
sort, so among equal sizes the later-created buffer is placed first; this matters (vww_96: 73,728 bytes
with that tie-break, 64,512 without).
"""

from __future__ import annotations

import time

from pexcp.ir import Graph
from pexcp.layout.greedy import first_fit
from pexcp.layout.pinned import Item
from pexcp.layout.problem import Block
from pexcp.plan.build import plan_from_order
from pexcp.plan.plan import Plan

REWRITES = ("layout",)
TFLM_ALIGN = 16  # TFLM rounds every buffer up to 16 bytes


def tflm_layout(items: list[Item]) -> list[Block]:
    """First-fit by size, ties broken in reverse creation order, as TFLM's planner does (TFLM has no
    in-place ops, so every item is a single block)."""
    blocks = [block for item in items for block in item]
    return list(reversed(first_fit(list(reversed(blocks)))))


def plan_tflm(graph: Graph) -> Plan:
    start = time.perf_counter()
    return plan_from_order(
        graph,
        graph.ops,
        tflm_layout,
        unit=TFLM_ALIGN,
        method="tflm",
        lower_bound=None,
        seconds=time.perf_counter() - start,
        notes=["file order, TFLite Micro greedy layout; lower bound = LOAD of the file order"],
    )
