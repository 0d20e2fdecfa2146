"""`pexcp solve`: plan a model's activation memory and print (and optionally save) the validated plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pexcp.cli import app
from pexcp.cli.options import (
    BUDGET, EXPORT_MODEL, INPUT_SHAPE, IO, METHOD, MODEL, REWRITES, SEED, SOLVER, TIMEOUT, WORKERS,
    check_method_switches, solve_options,
)
from pexcp.errors import BadInputError
from pexcp.pipeline import over_budget, solve as run_solve
from pexcp.reports.tables import plan_summary

PLOT = typer.Option(
    None, "--plot", metavar="PLAN.png", help="Draw the plan (buffers in step x address, live bytes per step): .png or .svg."
)


def check_picture(path: Optional[Path]) -> None:
    if path is not None and path.suffix.lower() not in (".png", ".svg"):
        raise BadInputError(f"--plot {path}: the name must end in .png or .svg")


@app.command()
def solve(
    model: Path = MODEL,
    budget: Optional[str] = BUDGET,
    timeout: float = TIMEOUT,
    method: str = METHOD,
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="PLAN.json", help="Write the plan as JSON."),
    seed: int = SEED,
    workers: int = WORKERS,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
    solver: Optional[list[str]] = SOLVER,
    export_model: Optional[Path] = EXPORT_MODEL,
    plot: Optional[Path] = PLOT,
    io: Optional[str] = IO,
) -> None:
    """Plan the activation memory of MODEL: schedule + buffer offsets, validated before it is shown.

    Exit codes: 0 plan found (and fits the budget), 1 the budget cannot be met, 2 bad input or usage.
    """
    options = solve_options(budget, timeout, seed, workers, input_shape, rewrites, solver, export_model, io)
    check_method_switches(method, options)
    check_picture(plot)
    err = Console(stderr=True)
    options.progress = lambda msg: err.print(f"[dim]{msg}[/dim]")
    graph, plan = run_solve(model, method, options)
    Console().print(plan_summary(plan))
    if plot is not None:
        from pexcp.reports.plot import save_plan_figure

        save_plan_figure(plan, graph, plot)
        Console().print(f"picture written to {plot}")
    problem = over_budget(plan)
    if problem is not None:
        raise problem
    if json_out is not None:
        plan.save(json_out)
        Console().print(f"plan written to {json_out}")
