"""`pexcp fit`: the largest input resolution whose optimal plan fits the budget, and that resized model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pexcp.cli import app, outputs
from pexcp.cli.options import (
    IO, METHOD, MODEL, SCRATCH, SEED, SOLVER, WORKERS, check_method_switches, existing_file, solve_options,
)
from pexcp.errors import BadInputError, BudgetError
from pexcp.fit import FitResult, fit as run_fit
from pexcp.solvers.options import SolveOptions
from pexcp.units import format_bytes, parse_bytes


def _table(result: FitResult, options: SolveOptions) -> Table:
    table = Table(title=f"arena against input resolution (budget {result.budget:,} B)", title_justify="left")
    for name, justify in (("resolution", "left"), ("arena", "right"), ("lower bound", "right"),
                          ("status", "left"), ("solve", "right"), ("", "left")):
        table.add_column(name, justify=justify)
    for p in result.table():
        verdict = p.verdict(result.budget)
        colour = {"fits": "green", "over": "red", "undecided": "yellow"}[verdict]
        table.add_row(f"{p.h}x{p.w}", f"{p.arena:,} B", f"{p.lower_bound:,} B", p.status, f"{p.seconds:.1f} s",
                      f"[{colour}]{verdict}[/{colour}]")
    io = "int8 " if options.io == "int8" else ""
    scratch = "kernel scratch included" if options.scratch else "no kernel scratch (--scratch off)"
    table.caption = f"bytes: activation arena, model {io}input and output included, {scratch}, as TFLite Micro counts them"
    changed = options.params.changed()
    if changed:
        shown = (f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in changed.items())
        table.caption += "; solver switches " + ", ".join(shown)
    table.caption_justify = "left"
    return table


def plot_fit(result: FitResult, path: Path) -> None:
    """Arena against resolution, with the budget line and the chosen resolution marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result.table()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot([p.h for p in points], [p.arena / 1024 for p in points], "o-", label="arena (KiB)")
    ax.axhline(result.budget / 1024, color="tab:red", linestyle="--", label=f"budget {result.budget / 1024:g} KiB")
    best = result.best
    if best is not None:
        ax.plot([best.h], [best.arena / 1024], "*", markersize=14, color="tab:green", label=f"largest fit {best.h}x{best.w}")
    ax.set_xlabel("input height (pixels)")
    ax.set_ylabel("activation arena (KiB, input and output included)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@app.command()
def fit(
    model: Path = MODEL,
    budget: str = typer.Option(..., "--budget", "-b", metavar="SIZE", help="SRAM budget for activations, e.g. 256k."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="RESIZED.onnx", help="Write the model at the largest resolution that fits."),
    step: int = typer.Option(8, "--step", min=1, help="Resolutions tried are multiples of this many pixels."),
    keep_aspect: bool = typer.Option(False, "--keep-aspect", help="Scale the width with the height (default: square inputs)."),
    timeout: float = typer.Option(60.0, "--timeout", "-t", min=0.1, help="Seconds per resolution tried."),
    method: str = METHOD,
    seed: int = SEED,
    workers: int = WORKERS,
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE.png|svg", help="Draw the arena against resolution."),
    io: Optional[str] = IO,
    scratch: str = SCRATCH,
    solver: Optional[list[str]] = SOLVER,
) -> None:
    """Find the largest input resolution of MODEL whose plan fits BUDGET (fully convolutional models with a
    global pooling head; others are refused with the reason).

    Exit codes: 0 a resolution fits, 1 none fits (down to --step pixels), 2 bad input or usage.
    """
    existing_file(model)
    for path, kinds in ((output, (".onnx",)), (plot, (".png", ".svg"))):
        if path is not None and path.suffix.lower() not in kinds:
            raise BadInputError(f"{path}: expected a {' or '.join(kinds)} file")
    for path, option in ((output, "-o"), (plot, "--plot")):
        if path is not None:
            outputs.check_file(path, option, model)
    limit = parse_bytes(budget)
    err = Console(stderr=True)
    options = solve_options(None, timeout, seed, workers, None, None, solver, io=io, scratch=scratch)
    check_method_switches(method, options)
    result, resized = run_fit(model, limit, step, keep_aspect, method, options, lambda m: err.print(f"[dim]{m}[/dim]"))
    console = Console()
    console.print(_table(result, options))
    if result.pools:
        console.print(f"pooling made global so the head follows the resolution: {', '.join(result.pools)}")
    if plot is not None:
        plot_fit(result, plot)
        console.print(f"plot written to {plot}")
    best = result.best
    if best is None:
        smallest = min(result.points, key=lambda p: p.h)
        raise BudgetError(
            f"no resolution fits {format_bytes(limit)}: at {smallest.h}x{smallest.w} the arena is "
            f"{format_bytes(smallest.arena)}"
        )
    console.print(f"largest resolution that fits: {best.h}x{best.w} (arena {best.arena:,} B, {best.status})")
    if output is not None and resized is not None:
        outputs.write_file(output, resized.SerializeToString(), "-o")
        console.print(f"resized model written to {output}")
