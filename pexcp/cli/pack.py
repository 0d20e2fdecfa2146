"""`pexcp pack`: give buffers with fixed lifetimes non-overlapping offsets, MiniMalloc's CSV in and out."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pexcp.cli import app, outputs
from pexcp.cli.options import MAX_SEED, TIMEOUT, WORKERS
from pexcp.errors import BadInputError, BudgetError, InvalidPlanError
from pexcp.layout.pack import PackResult, pack as run_pack
from pexcp.layout.problem import Block, layout_problems, load, read_csv, write_rows
from pexcp.units import parse_bytes


@app.command()
def pack(
    instances: Path = typer.Argument(
        ...,
        metavar="INSTANCES.csv",
        help="CSV with a header and columns id,lower,upper,size: buffer id is live on [lower, upper) and needs "
        "size bytes (an offset column, if any, is ignored).",
        show_default=False,
    ),
    capacity: Optional[str] = typer.Option(
        None,
        "--capacity",
        "-c",
        metavar="SIZE",
        help="Memory to fit in: bytes, or with k/K/KiB (x1024) or M/MiB (x1024^2), e.g. 1M. "
        "With --minimize: an upper limit.",
    ),
    minimize: bool = typer.Option(
        False, "--minimize", help="Find the smallest capacity that fits, with a proof (or the best found and the proven bound)."
    ),
    timeout: float = TIMEOUT,
    workers: int = WORKERS,
    seed: int = typer.Option(
        0,
        "--seed",
        min=0,
        max=MAX_SEED,
        help="Random seed of the search's restarts and of CP-SAT. With --capacity, the same seed and --workers 1 "
        "give the same placement when one is found before the timeout; --minimize stops when time runs out, so "
        "what it reaches depends on the machine.",
    ),
    output: Optional[str] = typer.Option(
        None,
        "--output",
        "-o",
        metavar="OFFSETS.csv",
        help="Write id,lower,upper,size,offset here ('-' for standard output, the summary then goes to stderr). "
        "Without it nothing is written.",
    ),
) -> None:
    """Assign every buffer in INSTANCES.csv an offset so that buffers live at the same time never overlap.

    With --capacity: fit within it. With --minimize: the smallest capacity, proven optimal when time allows. With neither: a good placement, quickly. The placement passes the same validator as plans before it is written; progress goes to stderr.

    Exit codes: 0 placed (within the capacity, if one was given), 1 it does not fit (proved) or nothing within the capacity was found in time, 2 bad input or usage.
    """
    if output is not None and output != "-":
        outputs.check_file(Path(output), "-o", instances)
    try:
        blocks = read_csv(instances)
    except OSError as e:  # a folder, unreadable, ... (a missing file is already a BadInputError)
        raise BadInputError(f"cannot read {instances}: {e.strerror}") from None
    limit = parse_bytes(capacity) if capacity is not None else None
    err = Console(stderr=True)
    result = run_pack(
        blocks, limit, minimize, timeout, workers, seed, progress=lambda msg: err.print(f"[dim]{msg}[/dim]")
    )
    summary_console = err if output == "-" else Console()
    summary_console.print(_summary(instances, blocks, limit, result))
    if result.status in ("infeasible", "unknown"):
        raise BudgetError(_shortfall(blocks, limit, result, timeout))
    problems = layout_problems(result.blocks, limit)
    if problems:  # pack() validates too: reaching this is a bug
        raise InvalidPlanError(problems)
    if output == "-":
        write_rows(result.blocks, sys.stdout)
    elif output is not None:
        text = io.StringIO()
        write_rows(result.blocks, text)
        outputs.write_file(Path(output), text.getvalue(), "-o")
        summary_console.print(f"offsets written to {output}")


def _summary(path: Path, blocks: list[Block], limit: int | None, result: PackResult) -> Table:
    table = Table(title=f"pexcp pack {path.name}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("buffers", str(len(blocks)))
    table.add_row("LOAD (max live bytes)", f"{load(blocks):,} B")
    table.add_row("capacity requested", f"{limit:,} B" if limit is not None else "-")
    table.add_row("capacity used", f"{result.capacity:,} B")
    table.add_row("status", result.status)
    table.add_row("proven lower bound", f"{result.lower_bound:,} B")
    table.add_row("method", result.method)
    table.add_row("time", f"{result.seconds:.2f} s")
    return table


def _shortfall(blocks: list[Block], limit: int | None, result: PackResult, timeout: float) -> str:
    bound = f"LOAD is {load(blocks):,} B, proven minimum >= {result.lower_bound:,} B"
    if result.status == "infeasible":
        return f"the buffers do not fit in {limit:,} B: {bound}"
    return f"no placement within {limit:,} B found in {timeout:g} s (best {result.capacity:,} B; {bound})"
