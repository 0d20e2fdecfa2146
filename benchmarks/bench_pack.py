"""`pexcp pack` on hard static-allocation instances, next to MiniMalloc's own times.

    python benchmarks/bench_pack.py [INSTANCE.csv ...] [--capacity 1048576] [--timeout 60] [--workers 2] [--markdown]

Without paths: the five MiniMalloc "challenging" instances in shared/dsa (A-E). For each instance: buffers,
LOAD, the time to fit the capacity, then --minimize (smallest capacity, proven or with its proven bound) and
its time, and MiniMalloc's time at the capacity from shared/dsa/README.md with our time as a ratio of it.
Every placement is validated. With --models, a second table packs the buffers of every shared model as
TFLite Micro schedules them (file order, 16-byte blocks) and sets the minimum next to TFLM's greedy arena.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pexcp.analysis.liveness import Schedule, expand  # noqa: E402
from pexcp.importer import load_graph  # noqa: E402
from pexcp.layout.pack import PackResult, pack  # noqa: E402
from pexcp.layout.problem import Block, layout_problems, load, read_csv  # noqa: E402
from pexcp.solvers.tflm import REWRITES, TFLM_ALIGN, plan_tflm  # noqa: E402

CAPACITY = 1_048_576
# MiniMalloc built from source (Release), median of 3 runs on this kind of 2-core machine: shared/dsa/README.md
MINIMALLOC_SECONDS = {"A": 4.9, "B": 3.8, "C": 1.2, "D": 5.2, "E": 6.6}
HEADERS = ("instance", "buffers", "LOAD", "fit at capacity", "time", "MiniMalloc", "ratio", "minimum", "status", "time to prove")


@dataclass
class Row:
    name: str
    buffers: int
    load: int
    capacity: int | None
    fit: PackResult | None  # at `capacity`
    minimum: PackResult | None  # --minimize
    minimalloc_seconds: float | None


def shared_dsa() -> Path:
    for folder in (REPO.parent / "shared" / "dsa", Path("/work/shared/dsa")):
        if (folder / "A.1048576.csv").exists():
            return folder
    raise SystemExit("shared/dsa not found: pass instance CSV paths")


def measure(
    name: str,
    blocks: Sequence[Block],
    capacity: int | None,
    timeout: float,
    workers: int = 2,
    minimize: bool = True,
    minimalloc_seconds: float | None = None,
) -> Row:
    """Fit at `capacity` (if given) and minimize, validating both placements."""
    fit = pack(blocks, capacity=capacity, timeout=timeout, workers=workers) if capacity is not None else None
    minimum = pack(blocks, minimize=True, timeout=timeout, workers=workers) if minimize else None
    for result, limit in ((fit, capacity), (minimum, None)):
        if result is not None and result.status in ("optimal", "feasible"):
            problems = layout_problems(result.blocks, limit)
            assert not problems, f"{name}: invalid placement: {problems[:3]}"
    return Row(name, len(blocks), load(blocks), capacity, fit, minimum, minimalloc_seconds)


def cells(row: Row) -> list[str]:
    fit, minimum = row.fit, row.minimum
    fitted = "-" if fit is None else (f"{fit.capacity:,} B" if fit.status == "optimal" else fit.status)
    ratio = "-"
    if fit is not None and fit.status == "optimal" and row.minimalloc_seconds:
        ratio = f"{fit.seconds / row.minimalloc_seconds:.2f}"
    if minimum is None:
        smallest, status, proof = "-", "-", "-"
    else:
        smallest = f"{minimum.capacity:,} B"
        status = minimum.status if minimum.status == "optimal" else f"{minimum.status}, bound {minimum.lower_bound:,} B"
        proof = f"{minimum.seconds:.2f} s" if minimum.status == "optimal" else f"not proven in {minimum.seconds:.0f} s"
    return [
        row.name,
        str(row.buffers),
        f"{row.load:,} B",
        fitted,
        f"{fit.seconds:.2f} s" if fit is not None else "-",
        f"{row.minimalloc_seconds:.1f} s" if row.minimalloc_seconds else "-",
        ratio,
        smallest,
        status,
        proof,
    ]


def table(rows: Sequence[Row], title: str) -> Table:
    result = Table(title=title, title_justify="left")
    for header in HEADERS:
        result.add_column(header, justify="left" if header in ("instance", "status") else "right")
    for row in rows:
        result.add_row(*cells(row))
    return result


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def model_instances(models: Path) -> list[tuple[str, list[Block], int]]:
    """(model, its buffers as TFLite Micro schedules them, TFLM's greedy arena) for every shared model."""
    found = []
    for path in sorted(models.glob("onnx*/*.onnx")):
        graph = load_graph(path, rewrites=REWRITES)
        blocks = expand(graph, Schedule([op.name for op in graph.ops]), unit=TFLM_ALIGN).blocks
        found.append((path.stem, blocks, plan_tflm(graph).arena_bytes))
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="instance CSVs (default: shared/dsa A-E)")
    parser.add_argument("--capacity", type=int, default=CAPACITY)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table too (for docs/pack.md)")
    parser.add_argument("--models", type=Path, nargs="?", const=REPO.parent / "shared" / "models",
                        help="also pack the shared models' TFLM schedules (default folder: ../shared/models)")
    args = parser.parse_args(argv)
    paths = args.paths or [shared_dsa() / f"{name}.{CAPACITY}.csv" for name in "ABCDE"]
    console = Console()
    rows = []
    for path in paths:
        name = path.name.split(".")[0]
        console.print(f"[dim]{name}: fitting {args.capacity:,} B, then minimizing...[/dim]")
        minimalloc = MINIMALLOC_SECONDS.get(name) if args.capacity == CAPACITY and path.parent.name == "dsa" else None
        rows.append(measure(name, read_csv(path), args.capacity, args.timeout, args.workers, True, minimalloc))
    console.print(table(rows, f"pexcp pack, {args.timeout:g} s per run, {args.workers} workers"))
    if args.markdown:
        print(markdown(rows))
    if args.models is not None:
        found = model_instances(args.models)
        model_rows = [measure(name, blocks, None, args.timeout, args.workers) for name, blocks, _ in found]
        console.print(table(model_rows, "the shared models' buffers in TFLite Micro's schedule, packed (--minimize)"))
        greedy = {name: arena for name, _, arena in found}
        for row in model_rows:
            console.print(f"{row.name}: TFLM greedy {greedy[row.name]:,} B, pack {row.minimum.capacity:,} B")
        if args.markdown:
            print(markdown(model_rows))


if __name__ == "__main__":
    main()
