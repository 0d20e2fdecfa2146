"""ONNX -> graph IR: read and check the file, fold constants, group QDQ nodes into ops, apply rewrites."""

from __future__ import annotations

from pathlib import Path

from pexcp.importer.build import build_graph
from pexcp.importer.onnx_reader import parse_input_shapes, read_model
from pexcp.importer.rewrites import ALL_REWRITES, apply_rewrites
from pexcp.ir import Graph


def load_graph(
    path: str | Path,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    rewrites: tuple[str, ...] | list[str] = ALL_REWRITES,
) -> Graph:
    """Import a model for planning; `rewrites` names the optional graph rewrites to apply (see rewrites.py)."""
    model, sha = read_model(Path(path), input_shapes or {})
    graph = build_graph(model, name=Path(path).name, sha256=sha)
    graph.source = str(path)
    apply_rewrites(graph, rewrites)
    return graph


__all__ = ["load_graph", "parse_input_shapes", "ALL_REWRITES"]
