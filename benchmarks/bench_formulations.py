"""Every cpsat formulation and switch (pexcp/solvers/params.py) on the shared MCU models and on the scaling
families: time to proof, final gap and arena, as CSV, a summary of what each switch buys, and a plot of
time to proof against size per formulation.

    python benchmarks/bench_formulations.py [--timeout 20] [--quick] [--only NAME ...] [--csv out.csv]
                                            [--plot out.png] [--markdown] [--models ../shared/models]

Each run is `pexcp solve --method cpsat` with the formulation's switches (2 workers, seed 0, reproducible
search unless the formulation says otherwise), validated against its model. Time to proof is the solve
time of a plan proven optimal (import and validation included); a run that ends feasible has a gap and no
time to proof. Scaling families (int8): MobileNetV2-like depth (5-250 blocks, 21-1,001 ops), width (12
blocks, 8 and 32 channels) and random NAS-like DAGs (20-1,000 layers, seed 0).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import REPO, mobilenet, nas_dag  # noqa: E402

sys.path.insert(0, str(REPO))
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pexcp.importer import ALL_REWRITES, load_graph  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.params import parse_params  # noqa: E402

FORMULATIONS: dict[str, dict[str, object]] = {
    "default": {},
    "order=assignment": {"order": "assignment"},
    "order_windows": {"order_windows": True},
    "assignment+windows": {"order": "assignment", "order_windows": True},
    "no cumulative": {"cumulative": False},
    "address=pack": {"address": "pack"},
    "no decomposition": {"decompose": False},
    "no bound phase": {"bound_phase": False},
    "no hint": {"hint": False},
    "no layout shortcut": {"layout_shortcut": False},
    "joint only": {"bound_phase": False, "hint": False, "layout_shortcut": False, "decompose": False},
    "search=portfolio": {"search": "portfolio"},
}
DEPTHS, WIDTHS, DAGS = (5, 25, 125, 250), (8, 32), (20, 100, 500, 1000)
QUICK = ((5, 25), (8,), (20, 100))
FIELDS = ["formulation", "family", "model", "ops", "status", "arena", "lower_bound", "gap", "seconds",
          "time_to_proof", "finished_by", "error"]


@dataclass
class Case:
    family: str  # shared, depth, width, DAG
    name: str
    path: Path
    ops: int


def cases(directory: Path, shared: Path | None, quick: bool) -> list[Case]:
    depths, widths, dags = QUICK if quick else (DEPTHS, WIDTHS, DAGS)
    found = [("shared", p) for p in sorted((shared / "onnx").glob("*.onnx")) + sorted((shared / "onnx_int8").glob("*.onnx"))] if shared else []
    found += [("depth", mobilenet(directory, n)) for n in depths]
    found += [("width", mobilenet(directory, 12, channels=c)) for c in widths]
    found += [("DAG", nas_dag(directory, n, 0)) for n in dags]
    return [Case(family, p.stem, p, len(load_graph(p, {}, ALL_REWRITES).ops)) for family, p in found]


def run(case: Case, name: str, timeout: float) -> dict:
    row = {"formulation": name, "family": case.family, "model": case.name, "ops": case.ops}
    try:
        _, plan = solve(case.path, "cpsat", SolveOptions(timeout=timeout, params=parse_params(FORMULATIONS[name])))
    except Exception as e:  # a benchmark reports every failure and carries on
        return {**row, "status": "error", "error": f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"}
    proved = plan.status == "optimal"
    return {**row, "status": plan.status, "arena": plan.arena_bytes, "lower_bound": plan.lower_bound_bytes,
            "gap": round(plan.gap, 4), "seconds": round(plan.solve_seconds, 2),
            "time_to_proof": round(plan.solve_seconds, 2) if proved else "", "finished_by": plan.extra.get("finished_by", ""),
            "error": ""}


def summary(rows: list[dict], names: list[str]) -> tuple[list[str], list[list[str]]]:
    """Per formulation: proofs, time to proof on the models every formulation proved, worst gap, arenas
    against the default's."""
    models = sorted({r["model"] for r in rows})
    by = {(r["formulation"], r["model"]): r for r in rows}
    common = [m for m in models if all(by.get((n, m), {}).get("status") == "optimal" for n in names)]
    head = ["formulation", "proved", f"time to proof, {len(common)} models all proved (s)", "median (s)",
            "unproved: mean gap", "arena vs default: better / worse", "errors"]
    table = []
    for n in names:
        mine = [by[(n, m)] for m in models if (n, m) in by]
        proved = [r for r in mine if r["status"] == "optimal"]
        times = [float(by[(n, m)]["time_to_proof"]) for m in common]
        open_gaps = [float(r["gap"]) for r in mine if r["status"] == "feasible"]
        better = worse = 0
        for r in mine:
            d = by.get(("default", r["model"]))
            if d and r.get("arena") and d.get("arena"):
                better += r["arena"] < d["arena"]
                worse += r["arena"] > d["arena"]
        table.append([n, f"{len(proved)}/{len(mine)}", f"{sum(times):.1f}", f"{statistics.median(times):.2f}" if times else "",
                      f"{statistics.mean(open_gaps):.1%} ({len(open_gaps)})" if open_gaps else "-",
                      f"{better} / {worse}", str(sum(r["status"] == "error" for r in mine))])
    return head, table


def plot(rows: list[dict], names: list[str], timeout: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    families = ["depth", "DAG"]
    fig, axes = plt.subplots(1, len(families), figsize=(13, 5), sharey=True)
    markers = "os^vD<>phX*P"
    colours = [plt.get_cmap("tab20")(2 * k % 20 + (k >= 10)) for k in range(len(names))]
    for ax, family in zip(axes, families):
        for k, n in enumerate(names):
            mine = sorted((r for r in rows if r["formulation"] == n and r["family"] == family), key=lambda r: r["ops"])
            if not mine:
                continue
            xs = [r["ops"] for r in mine]
            ys = [float(r["time_to_proof"]) if r["status"] == "optimal" else timeout for r in mine]
            line, = ax.plot(xs, ys, "-", lw=2.2 if n == "default" else 1, alpha=0.8, color=colours[k])
            for x, y, r in zip(xs, ys, mine):
                ax.plot([x], [y], markers[k % len(markers)], color=line.get_color(), ms=5,
                        mfc=line.get_color() if r["status"] == "optimal" else "none")
        ax.axhline(timeout, color="grey", ls=":", lw=1)
        ax.text(0.01, timeout * 0.9, "time limit (open markers: not proved)", fontsize=7, color="grey", va="top",
                transform=ax.get_yaxis_transform())
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("operators")
        ax.set_title({"depth": "MobileNetV2-like chains (int8)", "DAG": "random NAS-like DAGs (int8, seed 0)"}[family], fontsize=10)
    axes[0].set_ylabel("time to proof (s, 2 workers)")
    handles = [Line2D([], [], color=colours[k], marker=markers[k % len(markers)], lw=2.2 if n == "default" else 1, label=n)
               for k, n in enumerate(names)]
    axes[-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def measure(names: list[str], args: argparse.Namespace, err: Console) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(Path(tmp), args.models, args.quick):
            for n in names:
                err.print(f"[dim]{case.name} ({case.ops} ops): {n}[/dim]")
                rows.append(run(case, n, args.timeout))
                r = rows[-1]
                err.print(f"[dim]  {r['status']} {r.get('arena', '')} gap {r.get('gap', '')} in {r.get('seconds', '')} s {r['error']}[/dim]")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="the smallest scaling models only")
    parser.add_argument("--only", nargs="+", choices=list(FORMULATIONS), help="these formulations (default: all)")
    parser.add_argument("--csv", type=Path, default=Path("formulations.csv"))
    parser.add_argument("--plot", type=Path, default=Path("formulations.png"))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--from-csv", type=Path, help="no runs: the summary and plot of a CSV this script wrote")
    found = [Path(c) for c in (os.environ.get("PEXCP_SHARED_MODELS"), REPO.parent / "shared" / "models",
                               "/work/shared/models") if c and (Path(c) / "onnx").is_dir()]
    parser.add_argument("--models", type=Path, default=found[0] if found else None, help="the shared models folder")
    args = parser.parse_args(argv)
    names = args.only or list(FORMULATIONS)
    if "default" not in names:
        names = ["default", *names]
    err = Console(stderr=True)
    rows: list[dict] = []
    if args.from_csv:
        rows = [{**r, "ops": int(r["ops"]), "arena": int(r["arena"]) if r["arena"] else None}
                for r in csv.DictReader(args.from_csv.open())]
        names = list(dict.fromkeys(r["formulation"] for r in rows))
    else:
        rows = measure(names, args, err)
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    plot(rows, names, args.timeout, args.plot)
    head, table = summary(rows, names)
    console = Console(width=200)
    if args.markdown:
        console.print("| " + " | ".join(head) + " |")
        console.print("| --- | " + " | ".join("---:" for _ in head[1:]) + " |")
        for row in table:
            console.print("| " + " | ".join(row) + " |")
    else:
        t = Table(title=f"cpsat formulations, timeout {args.timeout:g} s, 2 workers", title_justify="left")
        for h in head:
            t.add_column(h, justify="left" if h == "formulation" else "right")
        for row in table:
            t.add_row(*row)
        console.print(t)
    console.print(f"rows: {args.from_csv or args.csv}, plot: {args.plot}")
    return 1 if any(r["status"] == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
