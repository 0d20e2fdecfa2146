"""`compare`: every method on every model, one row each, as a table, CSV, JSON or Markdown.

A row holds the plan's figures, or why the method has none (time-out, refused op, budget): one method
failing never stops the others. Byte figures count the model inputs and outputs inside the arena, and
kernel scratch as planned buffers, as TFLite Micro does.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from rich.table import Table

from pexcp.analysis.inplace import extra_calls as in_place_calls
from pexcp.errors import InvalidPlanError, PexcpError
from pexcp.ir import Graph
from pexcp.pipeline import load_for, over_budget, solve
from pexcp.plan.plan import Plan
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams
from pexcp.solvers.registry import METHODS

FORMATS = ("table", "csv", "json", "md")
COLUMNS = ("model", "method", "status", "arena", "ratio to tflm", "LOAD", "lower bound", "gap", "sliced steps",
           "extra kernel calls", "solve time (s)")


@dataclass
class Row:
    model: str
    method: str
    status: str  # the plan's status, "over budget", or "failed"
    arena: int | None = None
    ratio_to_tflm: float | None = None
    load: int | None = None
    lower_bound: int | None = None
    gap: float | None = None
    sliced_steps: int | None = None
    extra_calls: int | None = None
    seconds: float | None = None
    error: str = ""  # why there is no plan (or why it is over budget)
    bug: bool = False  # a plan failed validation: a pexcp bug

    @property
    def has_plan(self) -> bool:
        return self.arena is not None


@dataclass
class Result:
    """One (model, method) run: its row, and the plan and graph when there is one (for pictures)."""

    row: Row
    plan: Plan | None = None
    graph: Graph | None = None


def extra_calls(plan: Plan, graph: Graph) -> int:
    """Kernel calls beyond one per op: an op run in k channel rounds costs k-1, a depthwise conv run in place
    one per channel but the first."""
    rounds: dict[str, int] = {}
    for step in plan.steps:
        if step.slice is not None:
            rounds[step.op] = rounds.get(step.op, 0) + 1
    in_place = sum(in_place_calls(graph, graph.op(s.op)) for s in plan.steps if s.in_place)
    return sum(k - 1 for k in rounds.values()) + in_place


def run_one(model: Path, method: str, options: SolveOptions) -> Result:
    name = model.name
    try:
        opts = options if method == "cpsat" else replace(options, params=SolverParams(), export_model=None)
        if METHODS[method].fixed_rewrites:  # tflm runs the model as TFLite Micro does, whatever --rewrites says
            opts = replace(opts, rewrites=None)
        graph = load_for(model, method, opts)
        graph, plan = solve(model, method, opts, graph)
    except PexcpError as e:
        status = "over budget" if e.exit_code == 1 else "failed"
        return Result(Row(name, method, status, error=str(e)))
    except InvalidPlanError as e:
        return Result(Row(name, method, "failed", error=f"BUG: {e}", bug=True))
    problem = over_budget(plan)
    row = Row(name, method, "over budget" if problem else plan.status, plan.arena_bytes, None, plan.load_bytes,
              plan.lower_bound_bytes, plan.gap, sum(s.slice is not None for s in plan.steps), extra_calls(plan, graph),
              plan.solve_seconds, str(problem) if problem else "")
    return Result(row, plan, graph)


def compare(models: Sequence[Path], methods: Sequence[str], options: SolveOptions,
            on_start: Callable[[Path, str], None] | None = None) -> list[Result]:
    """Every method on every model (in that order); ratios against the model's tflm row when it has a plan."""
    results = []
    for model in models:
        batch = []
        for method in methods:
            if on_start:
                on_start(model, method)
            batch.append(run_one(model, method, options))
        tflm = next((r.row.arena for r in batch if r.row.method == "tflm" and r.row.has_plan), None)
        for r in batch:
            if tflm and r.row.has_plan:
                r.row.ratio_to_tflm = round(r.row.arena / tflm, 4)
        results += batch
    return results


def _cells(row: Row, short: bool = False) -> list[str]:
    def num(v: int | None) -> str:
        return "" if v is None else f"{v:,}"

    status = row.status if short or not row.error or row.has_plan else f"{row.status}: {row.error}"
    return [row.model.removesuffix(".onnx"), row.method, status, num(row.arena),
            "" if row.ratio_to_tflm is None else f"{row.ratio_to_tflm:.3f}", num(row.load), num(row.lower_bound),
            "" if row.gap is None else f"{row.gap:.1%}", num(row.sliced_steps), num(row.extra_calls),
            "" if row.seconds is None else f"{row.seconds:.2f}"]


SHORT = ("model", "method", "status", "arena", "×tflm", "LOAD", "bound", "gap", "sliced", "+calls", "time s")


def as_table(rows: Sequence[Row]) -> Table:
    table = Table(title="pexcp compare: bytes, model input and output in the arena (as TFLite Micro counts); "
                  "×tflm = arena / tflm's, bound = proven lower bound, +calls = extra kernel calls",
                  title_justify="left")
    for col in SHORT:
        left = col in ("model", "method", "status")
        table.add_column(col, justify="left" if left else "right", no_wrap=True, overflow="fold" if left else "ellipsis")
    for row in rows:
        table.add_row(*_cells(row, short=True), style="red" if not row.has_plan else None)
    failed = [f"{r.model.removesuffix('.onnx')} {r.method}: {r.error}" for r in rows if r.error]
    if failed:
        table.caption, table.caption_justify = "\n".join(failed), "left"
    return table


def as_text(rows: Sequence[Row], fmt: str) -> str:
    """csv, json or md."""
    if fmt == "json":
        return json.dumps([{k: v for k, v in asdict(r).items() if k != "bug"} for r in rows], indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([f.replace(" ", "_").replace("(s)", "s").strip("_") for f in COLUMNS] + ["error"])
        for r in rows:
            values = [r.model, r.method, r.status, r.arena, r.ratio_to_tflm, r.load, r.lower_bound, r.gap,
                      r.sliced_steps, r.extra_calls, r.seconds, r.error]
            writer.writerow(["" if v is None else v for v in values])
        return out.getvalue()
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("---" if c in COLUMNS[:3] else "---:" for c in COLUMNS) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"
