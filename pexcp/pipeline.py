"""Import, plan, validate: the path every plan takes from an ONNX file to a checked plan (CLI and API)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from pexcp.errors import BadInputError, BudgetError
from pexcp.importer import load_graph
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import validate_plan
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.registry import METHODS
from pexcp.units import format_bytes


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
    plan.solver = {"method": method, **options.record()} if method == "cpsat" else {"method": method}
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
