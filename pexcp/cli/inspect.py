"""`pexcp inspect`: the model as pexcp sees it, op by op, with live bytes and the peak step."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console

from pexcp.cli import app
from pexcp.cli.options import INPUT_SHAPE, MODEL, REWRITES, parse_rewrites
from pexcp.importer import ALL_REWRITES, load_graph, parse_input_shapes
from pexcp.reports.tables import graph_steps


@app.command()
def inspect(
    model: Path = MODEL,
    input_shape: Optional[list[str]] = INPUT_SHAPE,
    rewrites: Optional[str] = REWRITES,
) -> None:
    """List MODEL's operators in file order: output shapes, bytes, and live bytes per step (peak in red).

    Use --rewrites none to see the model as TFLite Micro would run it.
    """
    chosen = parse_rewrites(rewrites)
    graph = load_graph(model, parse_input_shapes(input_shape), ALL_REWRITES if chosen is None else chosen)
    console = Console()
    console.print("inputs: " + ", ".join(f"{t} {graph.tensors[t].shape} {graph.tensors[t].dtype}" for t in graph.inputs))
    console.print("outputs: " + ", ".join(f"{t} {graph.tensors[t].shape} {graph.tensors[t].dtype}" for t in graph.outputs))
    console.print(f"rewrites: {', '.join(graph.rewrites) or 'none'}")
    console.print(graph_steps(graph))
