"""Plans as pictures (matplotlib, no display needed): buffers as rectangles in step x address space, the
live bytes per step beneath, the file order's live-bytes profile, and several plans side by side.

Colours say what a buffer is: a model input or output, a whole tensor, a channel slice of a split group (or
a window of rows of a band group), a split tail's accumulator, or a view / in-place output (drawn as an
outline: its bytes are another buffer's). Only rectangles large enough to hold it carry a name; every name is in the plan JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never a window, works without a display
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, smaller
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from pexcp.analysis.liveness import lifetimes, live_bytes  # noqa: E402
from pexcp.errors import BadInputError  # noqa: E402
from pexcp.ir import SCRATCH, TEMP, Graph  # noqa: E402
from pexcp.plan.plan import Buffer, Plan  # noqa: E402

if TYPE_CHECKING:
    from pexcp.reports.compare import Result

ROLES = {  # role -> (colour, legend text)
    "io": ("#8c8c8c", "model input / output"),
    "whole": ("#4c78a8", "whole tensor"),
    "slice": ("#f58518", "channel slice or window of rows (split group, band group)"),
    "acc": ("#54a24b", "accumulator (partial sums)"),
    "alias": ("#b279a2", "view / in-place output (another buffer's bytes)"),
    "work": ("#e45756", "kernel scratch / in-place depthwise temporary"),
}
SUFFIXES = (".png", ".svg")


def role(buffer: Buffer, graph: Graph | None) -> str:
    if buffer.alias_of is not None:
        return "alias"
    if buffer.slice is not None or buffer.window:
        return "slice"
    if buffer.tensor.startswith((SCRATCH, TEMP)):
        return "work"
    if graph is not None and buffer.tensor not in graph.tensors:
        return "acc"
    if graph is not None and (buffer.tensor in graph.inputs or buffer.tensor in graph.outputs):
        return "io"
    return "whole"


def live_per_step(plan: Plan) -> list[int]:
    """Bytes in use at each step: the union of the address ranges of the buffers live then (a view or an
    in-place output adds nothing over the buffer whose bytes it uses)."""
    ranges: list[list[tuple[int, int]]] = [[] for _ in plan.steps]
    for b in plan.buffers:
        for s in range(b.first_step, min(b.last_step, len(plan.steps) - 1) + 1):
            ranges[s].append((b.offset, b.offset + b.bytes))
    live = []
    for spans in ranges:
        total, reach = 0, -1
        for lo, hi in sorted(spans):
            if hi > reach:
                total += hi - max(lo, reach)
                reach = hi
        live.append(total)
    return live


class Scale:
    """Addresses drawn in KiB when the largest is at least 10 KiB (round ticks), else in bytes."""

    def __init__(self, top: float):
        self.div, self.name = (1024, "KiB") if top >= 10 * 1024 else (1, "B")

    def __call__(self, nbytes: float) -> float:
        return nbytes / self.div


def _rounds(plan: Plan) -> list[tuple[int, int, int]]:
    """(first step, last step, rounds) of each split group's (or band group's) run of sliced steps: rounds
    are the most steps one op of the run takes. A run ends at an unsliced step, or where an op it has not
    run yet follows a completed round (the next group starts)."""
    runs: list[tuple[int, int, int]] = []
    calls: dict[str, int] = {}
    first = -1
    for k, step in enumerate([*plan.steps, None]):
        new_group = step is not None and step.slice is not None and step.op not in calls and max(calls.values(), default=0) > 1
        if first >= 0 and (step is None or step.slice is None or new_group):
            runs.append((first, k - 1, max(calls.values())))
            first, calls = -1, {}
        if step is not None and step.slice is not None:
            first = k if first < 0 else first
            calls[step.op] = calls.get(step.op, 0) + 1
    return runs


def _draw_buffers(ax, plan: Plan, graph: Graph | None, top: int, y: Scale) -> set[str]:
    """The buffers as rectangles, split groups' rounds as shaded bands; returns the roles drawn."""
    n = max(len(plan.steps), 1)
    for k, (first, last, rounds) in enumerate(_rounds(plan)):  # alternate shades: neighbouring groups stay apart
        ax.axvspan(first, last + 1, color="#f58518", alpha=0.07 if k % 2 else 0.16, lw=0)
        if last + 1 - first >= 0.03 * n:
            ax.text((first + last + 1) / 2, y(top) * 1.005, f"{rounds}", ha="center", va="bottom", fontsize=6.5,
                    color="#b35806", clip_on=False)
    filled: dict[str, list[Rectangle]] = {r: [] for r in ROLES}
    for b in plan.buffers:
        if b.bytes <= 0:
            continue
        r = role(b, graph)
        width = b.last_step + 1 - b.first_step
        filled[r].append(Rectangle((b.first_step, y(b.offset)), width, y(b.bytes)))
        if width >= 0.06 * n and b.bytes >= 0.07 * top and r != "alias":  # room for a name
            name = b.tensor if len(b.tensor) <= 22 else "…" + b.tensor[-21:]
            ax.text(b.first_step + width / 2, y(b.offset + b.bytes / 2), name, ha="center", va="center",
                    fontsize=6.5, color="white", clip_on=True)
    crowded = len(plan.buffers) > 150  # white outlines would wash thin rectangles out
    for r, rects in filled.items():
        colour = ROLES[r][0]
        if r == "alias":
            ax.add_collection(PatchCollection(rects, facecolor="none", edgecolor=colour, hatch="///", lw=0.6))
        else:
            ax.add_collection(PatchCollection(rects, facecolor=colour, edgecolor=colour if crowded else "white",
                                              lw=0.2 if crowded else 0.4, alpha=0.9))
    return {r for r, rects in filled.items() if rects}


def _draw_plan(ax, ax_live, plan: Plan, graph: Graph | None, top: int, live_top: int, legend: bool,
               figures: bool = True) -> None:
    """One plan on an address axis and a live-bytes axis; `figures`: the legend states this plan's bytes."""
    n = max(len(plan.steps), 1)
    y = Scale(max(top, live_top))
    roles = _draw_buffers(ax, plan, graph, top, y)
    ax.axhline(y(plan.arena_bytes), color="black", lw=1.2)
    def label(name: str, value: int) -> str:
        return f"{name} {value:,} B" if figures else name

    lines = [Line2D([], [], color="black", lw=1.2, label=label("arena", plan.arena_bytes))]
    if plan.budget_bytes is not None:
        ax.axhline(y(plan.budget_bytes), color="crimson", lw=1.2, ls="--")
        lines.append(Line2D([], [], color="crimson", lw=1.2, ls="--", label=label("budget", plan.budget_bytes)))
    ax.set_xlim(0, n)
    ax.set_ylim(0, y(top) * 1.04)
    ax.set_ylabel(f"address ({y.name})")
    live = [y(v) for v in live_per_step(plan)]
    peak = max(range(len(live)), key=live.__getitem__) if live else 0
    xs = list(range(len(live) + 1))
    ax_live.fill_between(xs, live + live[-1:], step="post", color="#4c78a8", alpha=0.35, lw=0)
    ax_live.step(xs, live + live[-1:], where="post", color="#4c78a8", lw=1)
    ax_live.axhline(y(plan.load_bytes), color="black", lw=1, ls=":")
    ax_live.axhline(y(plan.lower_bound_bytes), color="seagreen", lw=1, ls="-.")
    if live:
        step = plan.steps[peak]
        ax_live.plot([peak + 0.5], [live[peak]], "v", color="crimson", ms=6)
        op = step.op if len(step.op) <= 28 else "…" + step.op[-27:]
        ax_live.annotate(f"peak at step {peak}: {step.kernel} {op}", (peak + 0.5, live[peak]),
                         xytext=(0, 5), textcoords="offset points", ha="left" if peak < n / 2 else "right",
                         fontsize=7, color="crimson")
    ax_live.set_xlim(0, n)
    ax_live.set_ylim(0, y(live_top) * 1.3)
    ax_live.set_ylabel(f"live ({y.name})")
    ax_live.set_xlabel("step")
    if legend:
        lines += [Line2D([], [], color="black", lw=1, ls=":", label=label("LOAD", plan.load_bytes)),
                  Line2D([], [], color="seagreen", lw=1, ls="-.", label=label("lower bound", plan.lower_bound_bytes))]
        patches = [Patch(facecolor=c, label=t) if r != "alias" else Patch(facecolor="none", edgecolor=c, hatch="///", label=t)
                   for r, (c, t) in ROLES.items() if r in roles]
        if _rounds(plan):
            patches.append(Patch(facecolor="#f58518", alpha=0.15, label="split group or band group (number: rounds)"))
        ax.legend(handles=patches + lines, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _title(plan: Plan) -> str:
    gap = f", gap {plan.gap:.1%}" if plan.status == "feasible" else ""
    return f"{plan.method}: {plan.arena_bytes:,} B, {plan.status}{gap}"


def _save(fig, path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise BadInputError(f"{path}: a picture's name must end in .png or .svg")
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as e:
        raise BadInputError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return path


def plan_figure(plan: Plan, graph: Graph | None = None):
    """A matplotlib Figure of one plan (see the module docstring)."""
    fig, (ax, ax_live) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top = max(plan.arena_bytes, plan.budget_bytes or 0, 1)
    _draw_plan(ax, ax_live, plan, graph, top, max(max(live_per_step(plan), default=1), plan.load_bytes, 1), True)
    ax.set_title(f"{plan.model} — {_title(plan)}; {len(plan.steps)} steps, {len(plan.buffers)} buffers", fontsize=10)
    return fig


def save_plan_figure(plan: Plan, graph: Graph | None, path: Path) -> Path:
    return _save(plan_figure(plan, graph), path)


def compare_figure(plans: Sequence[tuple[Plan, Graph | None]], title: str):
    """Several plans of one model side by side, on one address scale and one live-bytes scale."""
    k = len(plans)
    fig, axes = plt.subplots(2, k, figsize=(4.6 * k + 2.5, 7), sharey="row", squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    top = max(max(p.arena_bytes, p.budget_bytes or 0) for p, _ in plans) or 1
    live_top = max(max(max(live_per_step(p), default=1), p.load_bytes) for p, _ in plans) or 1
    for j, (plan, graph) in enumerate(plans):
        _draw_plan(axes[0][j], axes[1][j], plan, graph, top, live_top, j == k - 1, figures=False)
        axes[0][j].set_title(f"{_title(plan)}\nLOAD {plan.load_bytes:,} B, lower bound {plan.lower_bound_bytes:,} B",
                             fontsize=9)
        if j:
            axes[0][j].set_ylabel("")
            axes[1][j].set_ylabel("")
    fig.suptitle(title, fontsize=11)
    return fig


def save_compare_figures(results: Sequence[Result], directory: Path) -> list[Path]:
    """One picture per model, DIR/<model>.png, with every method that has a plan."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInputError(f"cannot create {directory}: {e.strerror or e}") from None
    by_model: dict[str, list[tuple[Plan, Graph | None]]] = {}
    for r in results:
        if r.plan is not None:
            by_model.setdefault(r.row.model, []).append((r.plan, r.graph))
    written = []
    for model, plans in by_model.items():
        name = Path(model).stem
        written.append(_save(compare_figure(plans, f"{name}: every method on one address scale"), directory / f"{name}.png"))
    return written


def profile_figure(graph: Graph):
    """Live bytes at each step of the file's order (every op whole), the peak step named."""
    nbytes = live_bytes(lifetimes(graph, graph.ops), len(graph.ops))
    y = Scale(max(nbytes, default=0))
    live = [y(v) for v in nbytes]
    fig, ax = plt.subplots(figsize=(12, 4))
    xs = list(range(len(live) + 1))
    ax.fill_between(xs, live + live[-1:], step="post", color="#4c78a8", alpha=0.35, lw=0)
    ax.step(xs, live + live[-1:], where="post", color="#4c78a8", lw=1)
    if live:
        peak = max(range(len(live)), key=live.__getitem__)
        op = graph.ops[peak]
        name = op.name if len(op.name) <= 40 else "…" + op.name[-39:]
        ax.plot([peak + 0.5], [live[peak]], "v", color="crimson", ms=7)
        ax.annotate(f"peak {nbytes[peak]:,} B at step {peak}: {op.op_type} {name}", (peak + 0.5, live[peak]),
                    xytext=(0, 5), textcoords="offset points", ha="left" if peak < len(live) / 2 else "right",
                    fontsize=8, color="crimson")
        ax.set_ylim(0, max(live) * 1.2)
    ax.set_xlim(0, max(len(live), 1))
    ax.set_xlabel("step (file order, every op whole)")
    ax.set_ylabel(f"live ({y.name})")
    ax.set_title(f"{graph.name}: {len(graph.ops)} ops, live bytes per step (inputs and outputs included)", fontsize=10)
    return fig


def save_profile_figure(graph: Graph, path: Path) -> Path:
    return _save(profile_figure(graph), path)
