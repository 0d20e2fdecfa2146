"""C backend: lowers a validated plan to a self-contained C99 project (see docs/c-backend.md)."""

from pexcp.backends.c.emit import check_graph, emit

__all__ = ["check_graph", "emit"]
