"""Reproduce a CP-SAT defect met while building `pexcp prune`: with presolve on, a hint on some variables can
end a search with OPTIMAL at a worse objective than the true optimum.

The model is prune's co-design model for te_mcunet_vww_dequant at a budget of 134,400 B (75 % of its
unpruned optimum). Solved three ways (2 workers, 90 s each): without hints, with a hint putting every
kept-channel count at its minimum, and the same hint with presolve off. Each answer is checked with the
normal pipeline (the pruned model's proven minimum arena must be within the budget).

    python benchmarks/repro_cpsat_hint.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import onnx
from ortools.sat.python import cp_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pexcp.analysis.partial import candidate_groups  # noqa: E402
from pexcp.pipeline import load_for, solve  # noqa: E402
from pexcp.prune import codesign  # noqa: E402
from pexcp.prune.channels import analyse, load_raw  # noqa: E402
from pexcp.prune.surgery import prune_model  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

from bench_prune import SHARED  # noqa: E402

BUDGET = 134_400


def main() -> None:
    path = SHARED / "onnx" / "te_mcunet_vww_dequant.onnx"
    graph = load_for(path, "cpsat", SolveOptions())
    raw = load_raw(path)
    cmap = analyse(raw)
    groups = {g.id: g for g in candidate_groups(graph)}
    k_min = {gid: codesign.k_floor(g.channels, 0.5) for gid, g in cmap.groups.items()}
    for label, hint, presolve in (("no hint", False, True), ("hint k = k_min", True, True),
                                  ("hint k = k_min, presolve off", True, False)):
        cd = codesign.build(graph, groups, cmap, k_min, BUDGET)
        if hint:
            for gid, var in cd.keep.items():
                cd.model.add_hint(var, k_min[gid])
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = 90
        solver.parameters.num_workers = 2
        solver.parameters.cp_model_presolve = presolve
        status = solver.solve(cd.model)
        line = f"{label:30s} {solver.status_name(status):10s}"
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            kept = {gid: int(solver.value(v)) for gid, v in cd.keep.items()}
            pruned = prune_model(raw, cmap, {g: cmap.groups[g].kept(k) for g, k in kept.items()})
            with tempfile.TemporaryDirectory() as tmp:
                onnx.save(pruned, f"{tmp}/p.onnx")
                plan = solve(Path(f"{tmp}/p.onnx"), "cpsat", SolveOptions(timeout=60))[1]
            line += (f" importance {solver.objective_value / codesign.SCALE:.5f} (bound "
                     f"{solver.best_objective_bound / codesign.SCALE:.5f}); pruned model's arena "
                     f"{plan.arena_bytes:,} B ({plan.status})")
        print(line, flush=True)


if __name__ == "__main__":
    main()
