"""The planning methods by name, and `solve`: import, plan, validate, check the budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from pexcp.errors import BadInputError, BudgetError
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import validate_plan
from pexcp.units import format_bytes

Progress = Callable[[str], None]


@dataclass
class SolveOptions:
    budget: int | None = None
    timeout: float = 60.0
    seed: int = 0
    workers: int = 2
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    rewrites: tuple[str, ...] | None = None  # None: the method's default
    io: str = "model"  # "int8": no float model inputs/outputs (see importer/io.py)
    progress: Progress | None = None


@dataclass
class Method:
    name: str
    summary: str
    rewrites: tuple[str, ...]  # rewrites the method runs with by default
    run: Callable[[Graph, SolveOptions], Plan]
    fixed_rewrites: bool = False  # True: the method defines its own graph (tflm)


def _tflm(graph: Graph, options: SolveOptions) -> Plan:
    from pexcp.solvers.tflm import plan_tflm

    return plan_tflm(graph)


def _reorder(graph: Graph, options: SolveOptions) -> Plan:
    from pexcp.solvers.reorder import plan_reorder

    return plan_reorder(graph, time_limit=options.timeout)


def _cpsat(graph: Graph, options: SolveOptions) -> Plan:
    from pexcp.solvers.cpsat.solve import plan_cpsat

    return plan_cpsat(graph, options)


def _pex_greedy(graph: Graph, options: SolveOptions) -> Plan:
    from pexcp.solvers.pex_greedy import plan_pex_greedy

    return plan_pex_greedy(graph, time_limit=options.timeout)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("tflm", "TFLite Micro: file order, no rewrites, greedy first-fit-by-size layout", ("layout",), _tflm, True),
        Method("reorder", "memory-optimal operator order (DP), rewrites on, best-fit layout", ALL_REWRITES, _reorder),
        Method("pex-greedy", "greedy partial execution: split the group at the peak while it helps", ALL_REWRITES, _pex_greedy),
        Method("cpsat", "order, channel splits and offsets in one CP-SAT model, optimal with proof", ALL_REWRITES, _cpsat),
    ]
}
DEFAULT_METHOD = "cpsat"


def method_names() -> list[str]:
    return list(METHODS)


def load_for(model: Path, method: str, options: SolveOptions) -> Graph:
    """Import `model` as `method` sees it: with its default rewrites unless the options name others."""
    if method not in METHODS:
        raise BadInputError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    spec = METHODS[method]
    if spec.fixed_rewrites and options.rewrites is not None:
        raise BadInputError(f"method {method} runs the model as TFLite Micro does; --rewrites does not apply")
    rewrites = spec.rewrites if options.rewrites is None else options.rewrites
    return load_graph(model, options.input_shapes, rewrites, io=options.io)


def solve(model: Path, method: str, options: SolveOptions, graph: Graph | None = None) -> tuple[Graph, Plan]:
    """Plan `model` with `method` (on `graph` when the caller already imported it with `load_for`). The
    plan is validated against the model before it is returned; the caller checks the budget
    (`over_budget`), except cpsat, which raises BudgetError itself when no plan can fit."""
    start = time.perf_counter()
    graph = graph or load_for(model, method, options)
    left = options.timeout - (time.perf_counter() - start)  # --timeout covers the import too
    plan = METHODS[method].run(graph, replace(options, timeout=max(left, 0.1 * options.timeout)))
    plan.solve_seconds = round(time.perf_counter() - start, 4)
    plan.budget_bytes = options.budget
    plan.input_shapes = {k: list(v) for k, v in options.input_shapes.items()}
    validate_plan(plan, model)
    return graph, plan


def over_budget(plan: Plan) -> BudgetError | None:
    """The error to report when the plan does not fit its budget, None when it does."""
    if plan.budget_bytes is None or plan.arena_bytes <= plan.budget_bytes:
        return None
    over = plan.arena_bytes - plan.budget_bytes
    return BudgetError(
        f"budget {format_bytes(plan.budget_bytes)} cannot be met by method {plan.method}: its plan needs "
        f"{format_bytes(plan.arena_bytes)} (over by {over:,} B; lower bound for this method "
        f"{plan.lower_bound_bytes:,} B)"
    )
