"""Where te_mcunet_vww's savings come from, and what each CP-SAT solving aid buys.

    python benchmarks/bench_cpsat.py [--timeout 60] [--markdown] [--models DIR] [--only breakdown|aids] [--quick]

Breakdown: te_mcunet_vww (int8) planned by cpsat with every combination of graph rewrites (`layout` only, or
all), free operator order (off / on) and channel splits (off / on), then with all rewrites but one; next to
TFLite Micro's arena, with each factor's share of the saving (Shapley: its marginal saving averaged over the
orders in which the three factors can be switched on, so the shares add up to the total).
Aids: for each shared model (float and int8) and a few synthetic ones, the time to proof (or the status and
gap at the timeout) with each solving aid switched off in turn. Every plan is validated.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench_models import default_models_dir, markdown, num, rich_table, shared_models
from synthetic import REPO, mobilenet, nas_dag

sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from pexcp.importer import ALL_REWRITES, load_graph  # noqa: E402
from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.plan.validate import plan_problems  # noqa: E402
from pexcp.solvers.cpsat.solve import plan_cpsat  # noqa: E402
from pexcp.solvers.params import SolverParams  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

SHOWCASE = "te_mcunet_vww"
AIDS = {
    "default": SolverParams(),
    "no decomposition": SolverParams(decompose=False),
    "no bound phase": SolverParams(bound_phase=False),
    "no hint": SolverParams(hint=False),
    "no layout shortcut": SolverParams(layout_shortcut=False),
    "joint only": SolverParams(bound_phase=False, hint=False, layout_shortcut=False, decompose=False),
    "portfolio (not reproducible)": SolverParams(search="portfolio"),
    "unit 4 B": SolverParams(unit=4),
}


@dataclass
class Run:
    plan: Plan | None
    error: str = ""


def run(path: Path, rewrites: tuple[str, ...], config: SolverParams, timeout: float) -> Run:
    """Plan with cpsat and validate; a benchmark reports every failure and carries on."""
    try:
        plan = plan_cpsat(load_graph(path, rewrites=rewrites), SolveOptions(timeout=timeout, params=config))
        problems = plan_problems(plan, path)
        return Run(plan) if not problems else Run(None, f"invalid plan: {problems[0][:100]}")
    except Exception as e:
        return Run(None, f"{type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}")


# ---- breakdown --------------------------------------------------------------------------------------------

FACTORS = ("rewrites", "reorder", "split")


def _rewrites(on: bool) -> tuple[str, ...]:
    return ALL_REWRITES if on else ("layout",)


def breakdown(path: Path, timeout: float, log) -> tuple[dict[tuple[bool, ...], Run], dict[str, Run]]:
    """Runs for every (rewrites, reorder, split) switch combination, and for all rewrites but one."""
    combos = {}
    for switches in itertools.product((False, True), repeat=3):
        log(f"{SHOWCASE}: rewrites={switches[0]} reorder={switches[1]} split={switches[2]}")
        combos[switches] = run(path, _rewrites(switches[0]), SolverParams(reorder=switches[1], split=switches[2]), timeout)
    but_one = {}
    for dropped in ALL_REWRITES:
        log(f"{SHOWCASE}: all rewrites but {dropped}")
        but_one[dropped] = run(path, tuple(r for r in ALL_REWRITES if r != dropped), SolverParams(), timeout)
    return combos, but_one


def _row(label: list[str], r: Run, tflm: int) -> list[str]:
    if r.plan is None:
        return label + ["error", "", r.error, "", ""]
    p = r.plan
    return label + [num(p.arena_bytes), f"{p.arena_bytes / tflm:.1%}", p.status, num(p.lower_bound_bytes),
                    f"{p.solve_seconds:.1f}"]


BREAKDOWN_HEAD = ["rewrites", "reorder", "split", "arena", "% of TFLM", "status", "lower bound", "time (s)"]


def breakdown_rows(combos, but_one, tflm: int) -> list[list[str]]:
    rows = [["TFLite Micro", "—", "—", num(tflm), "100.0%", "measured", "", ""]]
    for (rw, reorder, split), r in combos.items():
        rows.append(_row(["all" if rw else "layout only", "on" if reorder else "off", "on" if split else "off"], r, tflm))
    for dropped, r in but_one.items():
        rows.append(_row([f"all but {dropped}", "on", "on"], r, tflm))
    return rows


def shapley(combos) -> dict[str, float]:
    """Each factor's saving, averaged over the 6 orders of switching the factors on (sums to the total)."""
    arena = {k: r.plan.arena_bytes for k, r in combos.items() if r.plan}
    if len(arena) < 8:
        return {}
    share = dict.fromkeys(FACTORS, 0.0)
    orders = list(itertools.permutations(range(3)))
    for order in orders:
        on = [False] * 3
        for f in order:
            before = arena[tuple(on)]
            on[f] = True
            share[FACTORS[f]] += (before - arena[tuple(on)]) / len(orders)
    return share


ATTRIBUTION_HEAD = ["factor", "saving alone", "saving added last", "Shapley share", "share of saving"]


def attribution_rows(combos, tflm: int) -> list[list[str]]:
    share = shapley(combos)
    if not share:
        return []
    arena = {k: r.plan.arena_bytes for k, r in combos.items()}
    none, every = arena[(False,) * 3], arena[(True,) * 3]
    rows = []
    for i, name in enumerate(FACTORS):
        alone = tuple(j == i for j in range(3))
        last = tuple(j != i for j in range(3))
        rows.append([name, num(none - arena[alone]), num(arena[last] - every), num(round(share[name])),
                     f"{share[name] / (none - every):.0%}" if none > every else "—"])
    rows.append(["total", "", "", num(none - every), f"{every:,} B = {every / tflm:.1%} of TFLM"])
    return rows


# ---- solving aids -----------------------------------------------------------------------------------------


def synthetic_models(directory: Path, quick: bool) -> list[Path]:
    chains = [mobilenet(directory, b) for b in ((12,) if quick else (12, 30, 60))]  # 49, 121, 241 ops
    dags = [nas_dag(directory, n, seed=0) for n in ((50,) if quick else (50, 100))]
    return chains + dags


def cell(r: Run, reference: Run) -> str:
    """Seconds to proof; or status, gap and seconds at the timeout; with the arena when it differs."""
    if r.plan is None:
        return f"error: {r.error[:40]}"
    p = r.plan
    text = f"{p.solve_seconds:.1f} s" if p.status == "optimal" else f"{p.status}, gap {p.gap:.0%}, {p.solve_seconds:.0f} s"
    if reference.plan is not None and p.arena_bytes != reference.plan.arena_bytes:
        text += f" [{p.arena_bytes:,} B]"
    return text


def aids(models: list[Path], timeout: float, log) -> dict[tuple[Path, str], Run]:
    results = {}
    for path in models:
        for name, config in AIDS.items():
            log(f"{path.stem}: {name}")
            results[path, name] = run(path, ALL_REWRITES, config, timeout)
    return results


def aids_rows(models: list[Path], results) -> list[list[str]]:
    rows = []
    for path in models:
        default = results[path, "default"]
        arena = num(default.plan.arena_bytes) if default.plan else "—"
        rows.append([path.stem, arena] + [cell(results[path, name], default) for name in AIDS])
    return rows


# ---- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for the README)")
    parser.add_argument("--models", type=Path, default=default_models_dir(), help="folder with tflm_baseline.json")
    parser.add_argument("--only", choices=("breakdown", "aids"), help="run one of the two benchmarks")
    parser.add_argument("--quick", action="store_true", help="aids: int8 shared models and two small synthetic ones")
    args = parser.parse_args(argv)

    err = Console(stderr=True)
    log = lambda msg: err.print(f"[dim]{msg}…[/dim]")  # noqa: E731
    baseline = json.loads((args.models / "tflm_baseline.json").read_text())
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    failures: list[str] = []
    if args.only in (None, "breakdown"):
        path = args.models / "onnx_int8" / f"{SHOWCASE}.onnx"
        tflm = baseline[SHOWCASE]["tflm_planned_activation_bytes"]
        combos, but_one = breakdown(path, args.timeout, log)
        tables.append((f"{SHOWCASE} (int8): arena by rewrites, order and splits (cpsat, {args.timeout:g} s)",
                       BREAKDOWN_HEAD, breakdown_rows(combos, but_one, tflm)))
        tables.append(("Where the saving comes from (bytes)", ATTRIBUTION_HEAD, attribution_rows(combos, tflm)))
        failures += [r.error for r in [*combos.values(), *but_one.values()] if r.plan is None]
    if args.only in (None, "aids"):
        with tempfile.TemporaryDirectory() as tmp:
            shared = shared_models(args.models)
            models = [m for m in shared if not args.quick or m.parent.name == "onnx_int8"]
            models += synthetic_models(Path(tmp), args.quick)
            results = aids(models, args.timeout, log)
        tables.append((f"Solving aids: seconds to proof, or status and gap at the {args.timeout:g} s timeout "
                       "[arena when it differs from the default's]", ["model", "arena", *AIDS], aids_rows(models, results)))
        failures += [r.error for r in results.values() if r.plan is None]

    out = Console(width=250)
    for title, head, rows in tables:
        if args.markdown:
            print(f"{title}\n\n{markdown(head, rows)}\n")
        else:
            out.print(rich_table(title, head, rows))
    for failure in failures:
        err.print(f"[red]{failure}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
