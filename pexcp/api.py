"""The Python API: what the command line does, as functions (re-exported by `import pexcp`).

Errors are raised as pexcp.errors.PexcpError subclasses with the one-line message the CLI prints:
BadInputError (bad model or option), BudgetError (the budget cannot be met); a plan failing validation
(a pexcp bug) raises InvalidPlanError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from pexcp.errors import BadInputError, InvalidPlanError
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph
from pexcp.pipeline import load_for, over_budget, solve as _solve
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.reports.compare import Row, compare as _compare
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams, parse_params
from pexcp.solvers.registry import DEFAULT_METHOD, METHODS
from pexcp.units import parse_bytes


def _options(budget: int | str | None, timeout: float, seed: int, workers: int,
             input_shapes: dict[str, Sequence[int]] | None, rewrites: Sequence[str] | str | None,
             solver: dict[str, Any] | SolverParams | None, export_model: str | Path | None,
             progress: Callable[[str], None] | None) -> SolveOptions:
    if isinstance(budget, str):
        budget = parse_bytes(budget)
    if isinstance(rewrites, str):
        rewrites = ALL_REWRITES if rewrites == "all" else () if rewrites == "none" else tuple(rewrites.split(","))
    unknown = [r for r in rewrites or () if r not in ALL_REWRITES]
    if unknown:
        raise BadInputError(f"unknown rewrite(s) {unknown}; use 'all', 'none' or a list of {', '.join(ALL_REWRITES)}")
    params = solver if isinstance(solver, SolverParams) else parse_params(solver or {})
    return SolveOptions(budget=budget, timeout=timeout, seed=seed, workers=workers,
                        input_shapes={k: tuple(v) for k, v in (input_shapes or {}).items()},
                        rewrites=None if rewrites is None else tuple(rewrites), params=params,
                        export_model=None if export_model is None else Path(export_model), progress=progress)


def load(model: str | Path, input_shapes: dict[str, Sequence[int]] | None = None,
         rewrites: Sequence[str] | str = "all") -> Graph:
    """Import an ONNX model (float32 or int8 QDQ) as pexcp sees it: ops, stored tensors, rewrites applied.

    `input_shapes` fixes dynamic input dimensions ({"x": (1, 96, 96, 3)}); `rewrites` is "all", "none" or a
    list of the rewrite names (pexcp.importer.ALL_REWRITES)."""
    chosen = _options(None, 1, 0, 1, input_shapes, rewrites, None, None, None)
    return load_graph(Path(model), chosen.input_shapes, chosen.rewrites or ())


def solve(model: str | Path, method: str = DEFAULT_METHOD, *, budget: int | str | None = None,
          timeout: float = 60.0, seed: int = 0, workers: int = 2,
          input_shapes: dict[str, Sequence[int]] | None = None, rewrites: Sequence[str] | str | None = None,
          solver: dict[str, Any] | SolverParams | None = None, export_model: str | Path | None = None,
          progress: Callable[[str], None] | None = None) -> Plan:
    """Plan the activation memory of `model` with `method` (tflm, reorder, pex-greedy, cpsat) and return the
    plan, validated against the model. Same options as `pexcp solve`: `budget` in bytes (or "200k"),
    `solver` the cpsat switches ({"decompose": False, "cp.linearization_level": 2}, see SolverParams),
    `export_model` a .pb/.pbtxt name for the CP-SAT models. Raises BudgetError when the plan cannot fit."""
    if method not in METHODS:
        raise BadInputError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    options = _options(budget, timeout, seed, workers, input_shapes, rewrites, solver, export_model, progress)
    if method != "cpsat" and (options.params.changed() or options.export_model is not None):
        raise BadInputError(f"solver switches and export_model apply to method cpsat, not {method}")
    _, plan = _solve(Path(model), method, options)
    problem = over_budget(plan)
    if problem is not None:
        raise problem
    return plan


def validate(model: str | Path, plan: Plan | str | Path) -> list[str]:
    """The problems the independent validator finds in `plan` (a Plan or a plan JSON file) for `model`;
    an empty list means the plan is valid."""
    return plan_problems(plan if isinstance(plan, Plan) else load_plan(plan), Path(model))


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write `plan` as JSON (format pexcp-plan/1, docs/plan-format.md)."""
    plan.save(Path(path))
    return Path(path)


def load_plan(path: str | Path) -> Plan:
    """Read a plan JSON file (from pexcp or any tool writing the same format)."""
    from pexcp.cli.options import read_plan

    return read_plan(Path(path))


def compare(models: Sequence[str | Path] | str | Path, methods: Sequence[str] = tuple(METHODS), *,
            budget: int | str | None = None, timeout: float = 60.0, seed: int = 0, workers: int = 2,
            input_shapes: dict[str, Sequence[int]] | None = None, rewrites: Sequence[str] | str | None = None,
            solver: dict[str, Any] | SolverParams | None = None, plot: str | Path | None = None) -> list[Row]:
    """Every method on every model, as `pexcp compare`: one Row per (model, method) with status, arena,
    ratio to tflm, LOAD, lower bound, gap, sliced steps, extra kernel calls and solve time (or the error).
    `plot`: a directory for one side-by-side picture per model."""
    paths = [Path(models)] if isinstance(models, (str, Path)) else [Path(m) for m in models]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise BadInputError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    options = _options(budget, timeout, seed, workers, input_shapes, rewrites, solver, None, None)
    results = _compare(paths, list(methods), options)
    if plot is not None:
        from pexcp.reports.plot import save_compare_figures

        save_compare_figures(results, Path(plot))
    return [r.row for r in results]


def plot(plan: Plan, model: str | Path | None, path: str | Path) -> Path:
    """Draw `plan` to `path` (.png or .svg): buffers as rectangles in step x address, coloured by role, the
    arena and budget lines, and the live bytes per step with the peak, LOAD and lower bound. With `model`
    the roles (model I/O, accumulators) are told apart."""
    from pexcp.reports.plot import save_plan_figure

    graph = None if model is None else _graph_of(plan, Path(model))
    return save_plan_figure(plan, graph, Path(path))


def _graph_of(plan: Plan, model: Path) -> Graph:
    return load_graph(model, {k: tuple(v) for k, v in plan.input_shapes.items()}, tuple(plan.rewrites))


def compile(model: str | Path, output: str | Path, plan: Plan | None = None, *, harness: bool = False,
            **solve_options: Any) -> Path:
    """Write a C99 project for `model` to the directory `output` (as `pexcp compile`): the given plan, checked
    against the model first, or one made by `solve(model, **solve_options)`. Returns the directory."""
    from pexcp.backends.c import check_graph, emit

    model = Path(model)
    if plan is None:
        method = solve_options.pop("method", DEFAULT_METHOD)
        options = _options(solve_options.pop("budget", None), solve_options.pop("timeout", 60.0),
                           solve_options.pop("seed", 0), solve_options.pop("workers", 2),
                           solve_options.pop("input_shapes", None), solve_options.pop("rewrites", None),
                           solve_options.pop("solver", None), None, solve_options.pop("progress", None))
        if solve_options:
            raise BadInputError(f"unknown option(s) for compile: {', '.join(solve_options)}")
        graph = load_for(model, method, options)
        check_graph(graph)
        graph, plan = _solve(model, method, options, graph)
        problem = over_budget(plan)
        if problem is not None:
            raise problem
    else:
        problems = plan_problems(plan, model)
        if problems:
            raise BadInputError(f"the plan is not valid for {model.name}: {problems[0]}")
        graph = _graph_of(plan, model)
        check_graph(graph)
    emit(graph, plan, Path(output), harness=harness)
    return Path(output)


__all__ = ["load", "solve", "validate", "save_plan", "load_plan", "compare", "plot", "compile", "Plan", "Graph",
           "Row", "SolverParams", "InvalidPlanError"]
