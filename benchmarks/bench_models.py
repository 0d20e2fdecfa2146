"""Arena bytes of every planning method on every shared MCU model, next to TFLite Micro's own figure.

    python benchmarks/bench_models.py [--timeout 60] [--markdown] [--models ../shared/models] [--method cpsat ...]

Prints a summary (one row per model: the TFLM baseline and each method's arena) and the details (one row
per model and method: arena, LOAD, lower bound, status, solve time), as rich tables or, with --markdown,
as Markdown tables to paste into the README. Every plan is validated by `solve` before it is counted.
Exit code 1 if any method failed on any model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.solvers.registry import METHODS  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402


@dataclass
class Result:
    model: Path
    method: str
    plan: Plan | None
    error: str = ""


def default_models_dir() -> Path:
    return Path(os.environ.get("PEXCP_SHARED_MODELS") or REPO.parent / "shared" / "models")


def shared_models(root: Path) -> list[Path]:
    """Float models (onnx/) then int8 models (onnx_int8/), each sorted by name."""
    return sorted((root / "onnx").glob("*.onnx")) + sorted((root / "onnx_int8").glob("*.onnx"))


def run(model: Path, method: str, timeout: float) -> Result:
    try:
        _, plan = solve(model, method, SolveOptions(timeout=timeout))
        return Result(model, method, plan)
    except Exception as e:  # a benchmark reports every failure and carries on
        return Result(model, method, None, f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")


def num(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def summary_rows(models: list[Path], methods: list[str], results: dict, baseline: dict) -> list[list[str]]:
    rows = []
    for model in models:
        base = baseline.get(model.stem, {}).get("tflm_planned_activation_bytes")
        arenas = {m: results[model, m].plan.arena_bytes for m in methods if results[model, m].plan}
        best = min(arenas.values(), default=None)
        cells = [num(arenas.get(m)) if m in arenas else "error" for m in methods]
        reference = base if base is not None else arenas.get("tflm")
        saving = f"{1 - best / reference:.0%}" if best is not None and reference else "—"
        rows.append([model.stem, model.parent.name, num(base), *cells, saving])
    return rows


def detail_rows(models: list[Path], methods: list[str], results: dict, baseline: dict) -> list[list[str]]:
    rows = []
    for model in models:
        base = baseline.get(model.stem, {}).get("tflm_planned_activation_bytes")
        for m in methods:
            r = results[model, m]
            if r.plan is None:
                rows.append([model.stem, num(base), m, "error", "", "", r.error, ""])
                continue
            p = r.plan
            vs = "—" if base is None else f"{p.arena_bytes / base:.0%}"
            sliced = sum(1 for s in p.steps if s.slice is not None)
            status = p.status + (f", {sliced} sliced steps" if sliced else "")
            rows.append([model.stem, num(base), m, num(p.arena_bytes), num(p.load_bytes), num(p.lower_bound_bytes),
                         status, vs, f"{p.solve_seconds:.2f}"])
    return rows


SUMMARY_HEAD = ["model", "set", "TFLM baseline"]
DETAIL_HEAD = ["model", "TFLM baseline", "method", "arena", "LOAD", "lower bound", "status", "vs baseline", "time (s)"]


def markdown(head: list[str], rows: list[list[str]]) -> str:
    right = [i for i, h in enumerate(head) if h not in ("model", "set", "method", "status")]
    rule = ["---:" if i in right else "---" for i in range(len(head))]
    lines = [head, rule] + [row + [""] * (len(head) - len(row)) for row in rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def rich_table(title: str, head: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for h in head:
        table.add_column(h, justify="left" if h in ("model", "set", "method", "status") else "right")
    for row in rows:
        table.add_row(*(row + [""] * (len(head) - len(row))))
    return table


def synthetic_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """The options of the benchmarks on synthetic models; `quick` says what --quick keeps."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    return parser


def print_table(title: str, head: list[str], rows: list[list[str]], as_markdown: bool, width: int) -> None:
    if as_markdown:
        print(f"{title}\n\n{markdown(head, rows)}")
    else:
        Console(width=width).print(rich_table(title, head, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per searching method and model")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for the README)")
    parser.add_argument("--models", type=Path, default=default_models_dir(), help="folder with tflm_baseline.json")
    parser.add_argument("--method", action="append", choices=list(METHODS), help="only these methods (repeatable)")
    args = parser.parse_args(argv)

    models = shared_models(args.models)
    if not models:
        parser.error(f"no ONNX models under {args.models}/onnx or {args.models}/onnx_int8")
    baseline_file = args.models / "tflm_baseline.json"
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else {}
    methods = args.method or list(METHODS)
    err = Console(stderr=True)
    results = {}
    for model in models:
        for m in methods:
            err.print(f"[dim]{model.stem}: {m}…[/dim]")
            results[model, m] = run(model, m, args.timeout)

    summary_head = SUMMARY_HEAD + [f"{m} arena" for m in methods] + ["best saving"]
    summary = summary_rows(models, methods, results, baseline)
    details = detail_rows(models, methods, results, baseline)
    note = (f"Activation arena in bytes (timeout {args.timeout:g} s per method). TFLM baseline: "
            "tflm_planned_activation_bytes measured with TensorFlow Lite Micro; best saving is against it "
            "(or against method tflm where there is none).")
    if args.markdown:
        print(note + "\n")
        print(markdown(summary_head, summary) + "\n")
        print(markdown(DETAIL_HEAD, details))
    else:
        out = Console()
        out.print(rich_table("Arena per method", summary_head, summary))
        out.print(rich_table("Details", DETAIL_HEAD, details))
        out.print(f"[dim]{note}[/dim]")
    failures = [r for r in results.values() if r.plan is None]
    for r in failures:
        err.print(f"[red]{r.model.stem} / {r.method}: {r.error}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
