"""What a cpsat plan says about how it was found: notes, which phase proved it, the bottleneck step."""

from __future__ import annotations

from typing import Any

from pexcp.analysis.partial import Group
from pexcp.solvers.cpsat.budget import Clock
from pexcp.solvers.cpsat.part import Candidate, Part


def bottleneck(candidate: Candidate, part: Part) -> str:
    """The step of a part's schedule with the most live bytes, and what is live there."""
    expanded = candidate.expanded
    live = expanded.live_per_step()
    step = live.index(max(live))
    names = sorted(((b.size, b.id) for b in expanded.blocks if b.lower <= step < b.upper), reverse=True)
    shown = ", ".join(f"{bid} ({size:,} B)" for size, bid in names[:4])
    where = f" of {part.label}" if part.label else ""
    return f"step {step}{where} ({expanded.steps[step].kernel} {expanded.steps[step].op}) holds {shown}"


def finished_by(parts: list[Part], bound: int, optimal: bool, window: bool) -> str:
    """Which phase proved the plan optimal (for benchmarks and reports)."""
    if not optimal:
        return "time limit"
    if bound > max(p.load for p in parts):
        return "window proof" if window else "joint model"
    return "LOAD bound, " + ("joint layout" if any(p.joint for p in parts) else "greedy layout")


def notes(parts: list[Part], best: Candidate, groups: dict[str, Group], budget: int | None, clock: Clock,
          objective: str) -> list[str]:
    in_place = f", {len(best.schedule.in_place)} conv(s) in place" if best.schedule.in_place else ""
    if best.schedule.no_scratch:
        in_place += f", {len(best.schedule.no_scratch)} op(s) without kernel scratch"
    result = [f"{len(best.schedule.splits)} of {len(groups)} candidate group(s) split{in_place}, "
              f"{best.slices(groups)} extra kernel calls"]
    if len(parts) > 1:
        result.append(f"decomposed at {len(parts) - 1} cut tensor(s) into {len(parts)} segments solved separately "
                      "(cut tensors at offset 0); lower bound = the largest segment LOAD bound or window bound")
    ran = [p for p in parts if p.joint]
    if len(parts) == 1 and ran:
        result.append(f"joint order+split+offset model: {ran[0].joint}")
    elif ran:
        proved = sum(p.joint == "proved optimal" for p in ran)
        result.append(f"joint order+split+offset model on {len(ran)} segment(s): {proved} proved optimal")
    if budget is not None:
        cost = "least estimated extra instructions" if objective == "instructions" else "fewest extra kernel calls"
        result.append(f"with a budget the objective is the {cost} that fit; status refers to it")
    if clock.by_clock and clock.reproducible:
        result.append("the wall clock stopped a search before its work budget: another run may find another plan")
    return result


def extra(parts: list[Part], bound: int, optimal: bool, window: bool, clock: Clock, seed: int,
          workers: int) -> dict[str, Any]:
    return {"seed": seed, "workers": workers, "unit_bytes": min(p.unit for p in parts),
            "reproducible": clock.reproducible and not clock.by_clock,
            "lower_bound_exact": all(p.exact or p.best.arena <= bound for p in parts), "segments": len(parts),
            "finished_by": finished_by(parts, bound, optimal, window)}
