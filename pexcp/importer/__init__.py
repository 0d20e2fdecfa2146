"""ONNX -> graph IR: read and check the file, fold constants, group QDQ nodes into ops, apply rewrites."""

from __future__ import annotations

from pathlib import Path

from pexcp.errors import BadInputError
from pexcp.importer.build import build_graph
from pexcp.importer.io import IO_MODES, int8_io
from pexcp.importer.onnx_reader import parse_input_shapes, read_model
from pexcp.importer.rewrites import ALL_REWRITES, apply_rewrites
from pexcp.ir import Graph


def load_graph(
    path: str | Path,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    rewrites: tuple[str, ...] | list[str] = ALL_REWRITES,
    io: str = "model",
) -> Graph:
    """Import a model for planning; `rewrites` names the optional graph rewrites to apply (see rewrites.py);
    `io` "int8" removes the quantize/dequantize at a QDQ model's float boundary (see io.py)."""
    if io not in IO_MODES:
        raise BadInputError(f"unknown --io {io!r}; use {' or '.join(IO_MODES)}")
    model, sha = read_model(Path(path), input_shapes or {})
    graph = build_graph(model, name=Path(path).name, sha256=sha)
    graph.source = str(path)
    if io == "int8":
        int8_io(graph)
    apply_rewrites(graph, rewrites)
    return graph


__all__ = ["load_graph", "parse_input_shapes", "ALL_REWRITES", "IO_MODES"]
