"""The planning methods by name: what each does, the rewrites it runs with, and its entry point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pexcp.importer import ALL_REWRITES
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.solvers.cpsat.solve import plan_cpsat
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.pex_greedy import plan_pex_greedy
from pexcp.solvers.reorder import plan_reorder
from pexcp.solvers.tflm import plan_tflm


@dataclass
class Method:
    name: str
    summary: str
    rewrites: tuple[str, ...]  # rewrites the method runs with by default
    run: Callable[[Graph, SolveOptions], Plan]
    fixed_rewrites: bool = False  # True: the method defines its own graph (tflm)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("tflm", "TFLite Micro: file order, no rewrites, greedy first-fit-by-size layout", ("layout",),
               lambda graph, options: plan_tflm(graph), True),
        Method("reorder", "memory-optimal operator order (DP), rewrites on, best-fit layout", ALL_REWRITES,
               lambda graph, options: plan_reorder(graph, time_limit=options.timeout)),
        Method("pex-greedy", "greedy partial execution: split the group at the peak while it helps", ALL_REWRITES,
               lambda graph, options: plan_pex_greedy(graph, time_limit=options.timeout)),
        Method("cpsat", "order, channel splits and offsets in one CP-SAT model, optimal with proof", ALL_REWRITES,
               plan_cpsat),
    ]
}
DEFAULT_METHOD = "cpsat"


def method_names() -> list[str]:
    return list(METHODS)
