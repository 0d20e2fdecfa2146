"""`pexcp inspect`: the model as pexcp sees it, op by op, with live bytes and the peak step."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pexcp.cli import app, outputs
from pexcp.errors import BadInputError
from pexcp.cli.options import INPUT_SHAPE, MODEL, REWRITES, parse_rewrites
from pexcp.importer import ALL_REWRITES, load_graph, parse_input_shapes
from pexcp.reports.tables import graph_steps


@app.command()
def inspect(
    model: Path = MODEL,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
    plot: Optional[Path] = typer.Option(
        None, "--plot", metavar="PROFILE.png", help="Draw the live bytes per step of the file order (.png or .svg)."
    ),
) -> None:
    """List MODEL's operators in file order: output shapes, bytes, and live bytes per step (peak in red).

    Use --rewrites none to see the model as TFLite Micro would run it.
    """
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise BadInputError(f"--plot {plot}: the name must end in .png or .svg")
    if plot is not None:
        outputs.check_file(plot, "--plot", model)
    chosen = parse_rewrites(rewrites)
    graph = load_graph(model, parse_input_shapes(input_shape), ALL_REWRITES if chosen is None else chosen)
    console = Console()
    console.print("inputs: " + ", ".join(f"{t} {graph.tensors[t].shape} {graph.tensors[t].dtype}" for t in graph.inputs))
    console.print("outputs: " + ", ".join(f"{t} {graph.tensors[t].shape} {graph.tensors[t].dtype}" for t in graph.outputs))
    console.print(f"rewrites: {', '.join(graph.rewrites) or 'none'}")
    console.print(graph_steps(graph))
    if plot is not None:
        from pexcp.reports.plot import save_profile_figure

        save_profile_figure(graph, plot)
        console.print(f"picture written to {plot}")
