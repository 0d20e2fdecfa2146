"""`pexcp compare`: every method on every model, one table; pictures side by side on request."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pexcp.cli import app, outputs
from pexcp.cli.options import (
    BUDGET, INPUT_SHAPE, IO, REWRITES, SCRATCH, SEED, SOLVER, TIMEOUT, WORKERS, solve_options,
)
from pexcp.errors import EXIT_BUDGET, EXIT_BUG, BadInputError
from pexcp.reports.compare import FORMATS, as_table, as_text, compare as run_compare
from pexcp.solvers.registry import method_names


def parse_methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in method_names()]
    if unknown or not names:
        raise BadInputError(f"--methods {text!r}: choose a comma list of {', '.join(method_names())}")
    return list(dict.fromkeys(names))


@app.command()
def compare(
    models: list[Path] = typer.Argument(..., metavar="MODEL.onnx...", help="ONNX models (float32 or int8 QDQ).",
                                        show_default=False),
    methods: str = typer.Option(",".join(method_names()), "--methods", metavar="LIST",
                                help="Comma list of methods to run on every model."),
    timeout: float = TIMEOUT,
    budget: Optional[str] = BUDGET,
    fmt: str = typer.Option("table", "--format", "-f", help=f"Output: {', '.join(FORMATS)}."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", metavar="DIR", help="Draw each model's plans side by side on one address scale: DIR/<model>.png."
    ),
    seed: int = SEED,
    workers: int = WORKERS,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
    solver: Optional[list[str]] = SOLVER,
    io: Optional[str] = IO,
    scratch: str = SCRATCH,
) -> None:
    """Plan every MODEL with every method: one row per pair, arena against tflm's, bounds, splits, time.

    Columns: status, arena, ratio to the tflm plan, LOAD, proven lower bound, gap, sliced steps, extra kernel
    calls, solve time (bytes count the model input and output, as TFLite Micro does, and the kernel scratch
    unless --scratch off; TFLite Micro's own figures were measured with reference kernels, which need none).

    A method that fails (time-out, refused operator, budget) is reported in its row; the others go on.
    --rewrites applies to every method but tflm (which runs the model as TFLite Micro does), --solver to cpsat. Progress on stderr.

    Exit codes: 0 every row has a plan (rows over the budget say so in their status), 1 some row has none,
    2 bad usage, 3 a plan failed validation (a pexcp bug, named in its row).
    """
    chosen = parse_methods(methods)
    if fmt not in FORMATS:
        raise BadInputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    missing = [m for m in models if not m.is_file()]
    if missing:
        raise BadInputError(f"no such model file: {missing[0]}")
    if plot is not None:
        outputs.check_folder(plot, "--plot")
    options = solve_options(budget, timeout, seed, workers, input_shape, rewrites, solver, None, io, scratch)
    err = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=True)
    with bar:
        task = bar.add_task("compare", total=len(models) * len(chosen))

        def started(model: Path, method: str) -> None:
            done = bar.tasks[0].completed if bar.tasks[0].description != "compare" else -1
            bar.update(task, description=f"{model.name}: {method}", completed=max(done + 1, 0))

        results = run_compare(models, chosen, options, on_start=started)
        bar.update(task, completed=len(models) * len(chosen))
    rows = [r.row for r in results]
    if fmt == "table":
        out = Console()
        (out if out.is_terminal else Console(width=200)).print(as_table(rows))
    else:
        sys.stdout.write(as_text(rows, fmt))
    if plot is not None:
        from pexcp.reports.plot import save_compare_figures

        written = save_compare_figures(results, plot)
        err.print(f"pictures written: {', '.join(str(p) for p in written)}")
    if any(r.bug for r in rows):
        raise typer.Exit(EXIT_BUG)
    if not all(r.has_plan for r in rows):
        raise typer.Exit(EXIT_BUDGET)
