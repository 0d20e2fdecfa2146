"""What more CP-SAT workers buy: the cpsat plan of a few models for a range of --workers at one timeout.

    python benchmarks/bench_workers.py [--timeout 10] [--workers 1 2 4 16 64] [--markdown]

The CLI caps --workers at the cores pexcp may use; this calls the planner directly, so counts above the
cores are measured too. One row per model and worker count: arena, proven lower bound, status, wall
seconds, and whether the plan is reproducible (every search ended on its work budget, not the clock).
Models: the shipped MCUNet-VWW int8 model, a random 40-layer NAS-like DAG and 24 parallel conv branches
(benchmarks/synthetic.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pexcp.cli.options import usable_cores  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from synthetic import nas_dag, wide  # noqa: E402

HEADER = ["model", "workers", "arena", "lower bound", "status", "wall s", "reproducible"]


def measure(model: Path, workers: int, timeout: float) -> list[str]:
    start = time.perf_counter()
    _, plan = solve(model, "cpsat", SolveOptions(timeout=timeout, workers=workers))
    seconds = time.perf_counter() - start
    return [model.stem, str(workers), f"{plan.arena_bytes:,}", f"{plan.lower_bound_bytes:,}", plan.status,
            f"{seconds:.1f}", "yes" if plan.extra.get("reproducible") else "no"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 16, 64])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        models = [REPO / "models" / "te_mcunet_vww.onnx", nas_dag(Path(tmp), 40, seed=1), wide(Path(tmp))]
        rows = [measure(m, w, args.timeout) for m in models for w in args.workers]
    title = (f"cpsat plans by --workers, --timeout {args.timeout:g}; {usable_cores()} usable cores "
             f"(os.cpu_count() {os.cpu_count()})")
    if args.markdown:
        print(title + "\n")
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join("---" if i < 1 else "---:" for i in range(len(HEADER))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return 0
    table = Table(title=title)
    for h in HEADER:
        table.add_column(h, justify="left" if h == "model" else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
