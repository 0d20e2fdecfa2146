"""`pexcp compile`: plan a model and lower the plan to a self-contained C99 project."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pexcp.backends.c import check_graph, emit
from pexcp.cli import app
from pexcp.cli.options import (
    BUDGET, EXPORT_MODEL, INPUT_SHAPE, IO, METHOD, MODEL, REWRITES, SEED, SOLVER, TIMEOUT, WORKERS,
    check_method_switches, read_plan, solve_options,
)
from pexcp.errors import BadInputError
from pexcp.importer import load_graph
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.reports.tables import plan_summary
from pexcp.pipeline import load_for, over_budget, solve as run_solve

OUTPUT = typer.Option(..., "--output", "-o", metavar="DIR", help="Directory of the C project (created if missing).")
HARNESS = typer.Option(
    False,
    "--harness",
    help="Also write a test main.c and a Makefile: `make host` (raw float32 files in and out) and `make qemu` "
    "(Cortex-M4F under qemu-system-arm, prints outputs, RAM and instructions).",
)
PLAN = typer.Option(
    None,
    "--plan",
    metavar="PLAN.json",
    help="Compile this saved plan (`pexcp solve --json`) instead of solving; it is checked against MODEL "
    "first, and its own rewrites and input shapes are used.",
)


def _saved(model: Path, path: Path) -> tuple[Graph, Plan]:
    """A plan from a file, for this model: a plan that fails the validator is the user's input, not a bug."""
    plan = read_plan(path)
    graph = load_graph(model, {k: tuple(v) for k, v in plan.input_shapes.items()}, tuple(plan.rewrites), io=plan.io)
    problems = plan_problems(plan, model)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInputError(
            f"{path} is not a valid plan for {model.name}: {problems[0]}{more}; see `pexcp validate {model} {path}`"
        )
    return graph, plan


@app.command("compile")
def compile_(
    model: Path = MODEL,
    output: Path = OUTPUT,
    budget: Optional[str] = BUDGET,
    timeout: float = TIMEOUT,
    method: str = METHOD,
    seed: int = SEED,
    workers: int = WORKERS,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
    solver: Optional[list[str]] = SOLVER,
    export_model: Optional[Path] = EXPORT_MODEL,
    harness: bool = HARNESS,
    plan_file: Optional[Path] = PLAN,
    io: Optional[str] = IO,
) -> None:
    """Compile MODEL (float32, or int8 QDQ) to C: model.h, model.c (weights in flash, one static arena of
    exactly the plan's size, the schedule as straight-line kernel calls) and the runtime kernels it needs.
    For an int8 model every requantization parameter is computed here, so the code it runs is integer-only.

    Exit codes: 0 project written, 1 the budget cannot be met (nothing is written), 2 bad input or an
    operator without a C kernel.
    """
    if output.exists() and not output.is_dir():
        raise BadInputError(f"{output} exists and is not a directory")
    options = solve_options(budget, timeout, seed, workers, input_shape, rewrites, solver, export_model, io)
    check_method_switches(method, options)
    if plan_file is not None:
        graph, plan = _saved(model, plan_file)
        if io is not None and io != plan.io:
            raise BadInputError(f"--io {io} differs from the saved plan's io {plan.io!r}; solve again with --io {io}")
        plan.budget_bytes = options.budget
        check_graph(graph)
    else:
        graph = load_for(model, method, options)
        check_graph(graph)  # refuse ops without a C kernel before a solver runs for up to --timeout seconds
        err = Console(stderr=True)
        options.progress = lambda msg: err.print(f"[dim]{msg}[/dim]")
        graph, plan = run_solve(model, method, options, graph)
    console = Console()
    console.print(plan_summary(plan))
    problem = over_budget(plan)
    if problem is not None:
        raise problem
    project = emit(graph, plan, output, harness=harness)
    console.print(
        f"C project written to {output}: arena {plan.arena_bytes:,} B, weights {project.weight_bytes:,} B, "
        f"{project.calls} kernel calls, kernels: {', '.join(project.kernels)}"
    )
    console.print("files: " + " ".join(str(p.relative_to(output)) for p in project.files))
    if harness:
        console.print(f"next: make -C {output} host   |   make -C {output} qemu")
