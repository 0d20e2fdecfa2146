"""How `pexcp solve` (cpsat) scales: solve time and optimality gap against graph size, to show where proofs stop.

    python benchmarks/bench_scaling.py [--timeout 60] [--quick] [--markdown] [--only depth|width|DAG] [--no-decompose]

Three families of synthetic int8 models (see synthetic.py):
- depth: MobileNetV2-like inverted residual chains of ~20 to ~1,000 ops, 8 channels (x6 expanded), 16x16
  (and the 1,001-op chain in float too);
- width: the 49-op chain with 8, 16, 32 and 64 channels;
- DAGs: random NAS-like DAGs with branches, skips and concats, 20 to 1,000 layers, three seeds each.
Columns: ops, candidate groups, segments (after cut-point decomposition), status, arena, proven lower bound,
gap, solve time, and the phase that finished the solve. Every plan is validated. `--no-decompose` solves
without cut-point decomposition (`SolverParams(decompose=False)`), to show what it buys.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_models import num, print_table, synthetic_parser
from synthetic import REPO, mobilenet, nas_dag

sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from pexcp.analysis.partial import candidate_groups  # noqa: E402
from pexcp.importer import load_graph  # noqa: E402
from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.plan.validate import validate_plan  # noqa: E402
from pexcp.solvers.cpsat.solve import plan_cpsat  # noqa: E402
from pexcp.solvers.params import SolverParams  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

DEPTHS = (5, 12, 25, 50, 125, 250)  # blocks: 21, 49, 101, 201, 501, 1001 ops
WIDTHS = (8, 16, 32, 64)
DAG_LAYERS = (20, 50, 100, 200, 500, 1000)
SEEDS = (0, 1, 2)


@dataclass
class Case:
    family: str
    params: str
    path: Path


@dataclass
class Result:
    case: Case
    ops: int
    groups: int
    plan: Plan | None
    error: str = ""


def cases(directory: Path, quick: bool) -> list[Case]:
    depths = DEPTHS[:3] if quick else DEPTHS
    widths = WIDTHS[:2] if quick else WIDTHS
    layers, seeds = (DAG_LAYERS[:3], SEEDS[:1]) if quick else (DAG_LAYERS, SEEDS)
    found = [Case("depth", f"{b} blocks, 8 ch", mobilenet(directory, b)) for b in depths]
    if not quick:  # the float chain the int8 one was compared with before decomposition
        found.append(Case("depth", f"{DEPTHS[-1]} blocks, 8 ch, float", mobilenet(directory, DEPTHS[-1], qdq=False)))
    found += [Case("width", f"12 blocks, {c} ch", mobilenet(directory, 12, channels=c)) for c in widths]
    found += [Case("DAG", f"{n} layers, seed {s}", nas_dag(directory, n, s)) for n in layers for s in seeds]
    return found


def measure(case: Case, timeout: float, config: SolverParams | None) -> Result:
    """`pexcp solve` (cpsat), or with a non-default `config` the same planner called directly."""
    graph = load_graph(case.path)
    ops, groups = len(graph.ops), len(candidate_groups(graph))
    try:
        if config is None:
            _, plan = solve(case.path, "cpsat", SolveOptions(timeout=timeout))  # validated
        else:
            start = time.perf_counter()
            plan = plan_cpsat(load_graph(case.path), SolveOptions(timeout=timeout, params=config))
            validate_plan(plan, case.path)
            plan.solve_seconds = time.perf_counter() - start
        return Result(case, ops, groups, plan)
    except Exception as e:  # a benchmark reports every failure and carries on
        return Result(case, ops, groups, None, f"{type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}")


HEAD = ["family", "model", "ops", "groups", "segments", "status", "arena", "lower bound", "gap", "time (s)", "finished by"]


def row(r: Result) -> list[str]:
    head = [r.case.family, r.case.params, str(r.ops), str(r.groups)]
    if r.plan is None:
        return head + ["", "error", "", "", "", "", r.error]
    p = r.plan
    return head + [str(p.extra.get("segments", 1)), p.status, num(p.arena_bytes), num(p.lower_bound_bytes),
                   f"{p.gap:.1%}", f"{p.solve_seconds:.1f}", p.extra.get("finished_by", "")]


def main(argv: list[str] | None = None) -> int:
    parser = synthetic_parser(__doc__, "the smaller half of each family, one DAG seed")
    parser.add_argument("--only", choices=["depth", "width", "DAG"], help="one family")
    parser.add_argument("--no-decompose", action="store_true", help="without cut-point decomposition")
    args = parser.parse_args(argv)
    config = SolverParams(decompose=False) if args.no_decompose else None

    err = Console(stderr=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(Path(tmp), args.quick):
            if args.only and case.family != args.only:
                continue
            err.print(f"[dim]{case.family}: {case.params}…[/dim]")
            results.append(measure(case, args.timeout, config))
    rows = [row(r) for r in results]
    title = (f"cpsat scaling (timeout {args.timeout:g} s, 2 workers{', no decomposition' if config else ''}); "
             "time includes import and validation")
    print_table(title, HEAD, rows, args.markdown, width=250)
    failures = [r for r in results if r.plan is None]
    for r in failures:
        err.print(f"[red]{r.case.family} {r.case.params}: {r.error}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
