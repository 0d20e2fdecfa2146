"""`pexcp validate`: check any plan file against its model with the independent validator, so plans
written by other tools (or edited by hand) get the same checks as pexcp's own."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pexcp.cli import app
from pexcp.cli.options import MODEL, read_plan
from pexcp.errors import EXIT_BUDGET
from pexcp.importer.onnx_reader import read_model
from pexcp.plan.validate import plan_problems

SHOWN = 20  # problems listed: a plan for another model would list hundreds


@app.command()
def validate(
    model: Path = MODEL,
    plan: Path = typer.Argument(..., help="Plan JSON (format pexcp-plan/1, see docs/plan-format.md).",
                                show_default=False),
) -> None:
    """Check PLAN (from pexcp or any other tool) against MODEL with the independent validator.

    It checks that buffers live together never overlap and fit the arena, every operator (or every channel
    slice of it) runs once, producers run before consumers, and every input of a step is resident.

    Exit codes: 0 valid, 1 not valid (the problems are listed), 2 unreadable model or plan file.
    """
    loaded = read_plan(plan)
    read_model(model, {k: tuple(v) for k, v in loaded.input_shapes.items()})  # bad model: one line, exit 2
    problems = plan_problems(loaded, model)
    console = Console()
    if not problems:
        console.print(
            f"{plan.name} is valid for {model.name}: method {loaded.method}, status {loaded.status}, "
            f"arena {loaded.arena_bytes:,} B, {len(loaded.steps)} steps, {len(loaded.buffers)} buffers"
        )
        return
    console.print(f"{plan.name} is NOT valid for {model.name} ({len(problems)} problem(s)):", style="bold red")
    for problem in problems[:SHOWN]:
        typer.echo(f"  - {problem}")
    if len(problems) > SHOWN:
        typer.echo(f"  ... and {len(problems) - SHOWN} more")
    raise typer.Exit(EXIT_BUDGET)
