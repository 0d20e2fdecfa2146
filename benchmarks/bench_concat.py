"""What the `concat` rewrite saves: the cpsat arena of random NAS-like DAGs with all rewrites and with all but
`concat`.

    python benchmarks/bench_concat.py [--timeout 60] [--quick] [--markdown]

DAGs from synthetic.py (branches, skips and concats), 20, 50 and 100 layers, seeds 0-2, int8 QDQ and float.
Columns: Concats, inputs the rewrite gathers into their Concat's output, then arena and status per rewrite set,
and the saving. Every plan is validated.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench_models import num, print_table, synthetic_parser
from synthetic import REPO, nas_dag

sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from pexcp.importer import ALL_REWRITES, load_graph  # noqa: E402
from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

LAYERS = (20, 50, 100)
SEEDS = (0, 1, 2)
WITHOUT = tuple(r for r in ALL_REWRITES if r != "concat")
HEAD = ["model", "concats", "gathered", "arena (all)", "status", "arena (all but concat)", "status", "saving"]


def plan(path: Path, rewrites: tuple[str, ...], timeout: float) -> Plan:
    return solve(path, "cpsat", SolveOptions(timeout=timeout, rewrites=rewrites))[1]  # validated


def row(path: Path, timeout: float) -> list[str]:
    graph = load_graph(path)
    on, off = (plan(path, rewrites, timeout) for rewrites in (ALL_REWRITES, WITHOUT))
    return [
        path.stem,
        str(sum(op.op_type == "Concat" for op in graph.ops)),
        str(len(graph.carved)),
        num(on.arena_bytes),
        on.status,
        num(off.arena_bytes),
        off.status,
        f"{(off.arena_bytes - on.arena_bytes) / off.arena_bytes:.1%}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = synthetic_parser(__doc__, "20 and 50 layers, seed 0").parse_args(argv)
    layers, seeds = (LAYERS[:2], SEEDS[:1]) if args.quick else (LAYERS, SEEDS)
    err = Console(stderr=True)
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for qdq in (True, False):
            for path in (nas_dag(Path(tmp), n, seed, qdq=qdq) for n in layers for seed in seeds):
                err.print(f"[dim]{path.stem}…[/dim]")
                try:
                    rows.append(row(path, args.timeout))
                except Exception as e:  # a benchmark reports every failure and carries on
                    first_line = str(e).splitlines()[0][:100] if str(e) else ""
                    failures.append(f"{path.stem}: {type(e).__name__}: {first_line}")
    print_table(f"cpsat arena with and without the concat rewrite (timeout {args.timeout:g} s, 2 workers)", HEAD,
                rows, args.markdown, width=200)
    for failure in failures:
        err.print(f"[red]{failure}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
