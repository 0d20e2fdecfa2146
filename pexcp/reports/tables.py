"""Rich tables for `pexcp solve` and `pexcp inspect`."""

from __future__ import annotations

from rich.table import Table

from pexcp.analysis.liveness import lifetimes, live_bytes
from pexcp.ir import Graph
from pexcp.plan.plan import Plan


def plan_summary(plan: Plan) -> Table:
    table = Table(title=f"pexcp plan for {plan.model}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("method", plan.method)
    table.add_row("status", plan.status + (f" (gap {plan.gap:.1%})" if plan.status == "feasible" else ""))
    table.add_row("arena", f"{plan.arena_bytes:,} B")
    table.add_row("LOAD (max live bytes)", f"{plan.load_bytes:,} B")
    table.add_row("lower bound", f"{plan.lower_bound_bytes:,} B")
    if plan.budget_bytes is not None:
        over = plan.arena_bytes - plan.budget_bytes
        verdict = "[green]fits[/green]" if over <= 0 else f"[red]over by {over:,} B[/red]"
        table.add_row("budget", f"{plan.budget_bytes:,} B: {verdict}")
    table.add_row("steps / buffers", f"{len(plan.steps)} / {len(plan.buffers)}")
    sliced = sum(1 for s in plan.steps if s.slice is not None)
    if sliced:
        table.add_row("sliced steps", str(sliced))
    table.add_row("rewrites", ", ".join(plan.rewrites) or "none")
    if plan.io != "model":
        table.add_row("model I/O", f"{plan.io} (boundary quantize/dequantize left to the caller)")
    table.add_row("solve time", f"{plan.solve_seconds:.2f} s")
    if plan.notes:
        table.caption = "\n".join(plan.notes)
        table.caption_justify = "left"
    return table


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def graph_steps(graph: Graph) -> Table:
    """Ops in file order with their outputs and the live bytes at each step; the peak row in red."""
    lives = lifetimes(graph, graph.ops)
    per_step = live_bytes(lives, len(graph.ops))
    top = max(per_step, default=0)
    table = Table(title=f"{graph.name}: {len(graph.ops)} ops, peak {top:,} B live", title_justify="left")
    for col, justify in [("step", "right"), ("op", "left"), ("kind", "left"), ("output", "left"),
                         ("dtype", "left"), ("bytes", "right"), ("live bytes", "right")]:
        table.add_column(col, justify=justify)
    for i, op in enumerate(graph.ops):
        kind = "+".join([op.op_type] + [e.op_type for e in op.epilogue])
        kind += " (view)" if op.view else " (gathers)" if op.gathered else ""
        outs = [graph.tensors[t] for t in op.outputs]
        peak_row = per_step[i] == top
        table.add_row(
            str(i),
            op.name if len(op.name) <= 40 else op.name[:18] + "…" + op.name[-21:],
            kind,
            ", ".join(_shape(t.shape) for t in outs),
            ", ".join(t.dtype for t in outs),
            f"{sum(0 if op.view or t.name in graph.carved else t.nbytes for t in outs):,}",  # own bytes
            f"{per_step[i]:,}" + (" ◀ peak" if peak_row else ""),
            style="bold red" if peak_row else None,
        )
    return table
