"""`pexcp solve`: plan a model's activation memory and print (and optionally save) the validated plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pexcp.cli import app, outputs
from pexcp.cli.options import BUDGET, INPUT_SHAPE, METHOD, MODEL, REWRITES, SEED, TIMEOUT, WORKERS, solve_options
from pexcp.reports.tables import plan_summary
from pexcp.solvers.registry import over_budget, solve as run_solve


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
) -> None:
    """Plan the activation memory of MODEL: schedule + buffer offsets, validated before it is shown.

    Exit codes: 0 plan found (and fits the budget), 1 the budget cannot be met, 2 bad input or usage.
    """
    options = solve_options(budget, timeout, seed, workers, input_shape, rewrites)
    if json_out is not None:
        outputs.check_file(json_out, "--json", model)
    err = Console(stderr=True)
    options.progress = lambda msg: err.print(f"[dim]{msg}[/dim]")
    _, plan = run_solve(model, method, options)
    Console().print(plan_summary(plan))
    problem = over_budget(plan)
    if problem is not None:
        raise problem
    if json_out is not None:
        outputs.write_file(json_out, plan.to_json(), "--json")
        Console().print(f"plan written to {json_out}")
