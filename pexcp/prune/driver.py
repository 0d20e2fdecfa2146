"""`pexcp prune`: the most important channels that let a model's plan fit a budget.

1. Analyse channels (channels.py) and plan the model as it is (arena before).
2. If it fits, nothing is pruned. Otherwise plan the most pruned model --max-drop allows: every tensor
   shrinks or stays as channels go, so its arena is the smallest reachable; above the budget (proven by its
   lower bound) nothing can fit: BudgetError with that arena and its bottleneck. (Kernel scratch can grow
   as a call's input channels fall, when another int8 fast path takes over: then a less pruned model may
   need less, a case this step does not search.)
3. Choose the kept channels and the plan together in one CP-SAT model (codesign.py).
4. Build the pruned model (surgery.py) and plan it with the normal pipeline within the budget (its plan
   passes the validator); measure MACs, parameters and output fidelity (fidelity.py, onnxruntime).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import onnx

from pexcp.analysis.partial import candidate_groups
from pexcp.errors import BadInputError, BudgetError
from pexcp.importer.onnx_reader import read_model
from pexcp.pipeline import load_for, solve
from pexcp.plan.plan import Plan
from pexcp.prune import codesign, fidelity, measure
from pexcp.prune.channels import ChannelMap, analyse, load_raw
from pexcp.prune.surgery import prune_model
from pexcp.solvers.options import SolveOptions
from pexcp.units import format_bytes


@dataclass
class Layer:
    name: str  # ONNX node name of the producing layer
    group: str  # coupling group (named after its first producer)
    before: int
    after: int


@dataclass
class Result:
    model: str
    budget: int
    max_drop: float
    layers: list[Layer]
    kept: dict[str, list[int]]  # layer -> kept output channel indices (original numbering)
    macs: tuple[int, int]
    params: tuple[int, int]
    arena: tuple[int, int]  # cpsat arena before (unpruned optimum) and after (plan of the pruned model)
    smallest: int | None  # arena of the most pruned model (None when the model fit unpruned)
    importance: tuple[float, float]  # kept, of the total (each producing layer weighs 1)
    status: str  # of the co-design model: optimal, feasible, "not needed"
    bound: float  # proven upper bound on the importance that fits
    seconds: float
    plan: Plan | None = None
    fidelity: list[fidelity.Fidelity] = field(default_factory=list)
    fixed: dict[str, str] = field(default_factory=dict)  # layers not prunable and why
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        return {
            "model": self.model,
            "budget_bytes": self.budget,
            "max_drop": self.max_drop,
            "layers": [vars(layer) for layer in self.layers],
            "macs": {"before": self.macs[0], "after": self.macs[1]},
            "params": {"before": self.params[0], "after": self.params[1]},
            "arena_bytes": {"before": self.arena[0], "after": self.arena[1], "smallest_reachable": self.smallest,
                            "convention": ARENA_CONVENTION},
            "importance": {"kept": self.importance[0], "total": self.importance[1], "bound": self.bound},
            "codesign_status": self.status,
            "seconds": self.seconds,
            "fidelity": [vars(f) for f in self.fidelity],
            "not_prunable": self.fixed,
            "notes": self.notes,
        }


ARENA_CONVENTION = "activation arena of the cpsat plan, model input and output included, as TFLite Micro counts them"
ACCURACY_NOTE = ("fidelity compares outputs with the unpruned model's; it is not accuracy: fine-tune the pruned "
                 "model on your data (kept channels: --kept) and measure accuracy there")


def plan_bottleneck(plan: Plan) -> str:
    """The step where the arena is reached, and the largest buffers live there."""
    own = [b for b in plan.buffers if b.alias_of is None and b.bytes > 0]
    top = {s.index: 0 for s in plan.steps}
    for b in own:
        for s in range(b.first_step, b.last_step + 1):
            top[s] = max(top.get(s, 0), b.offset + b.bytes)
    step = max(top, key=lambda s: (top[s], -s))
    live = sorted((b for b in own if b.first_step <= step <= b.last_step), key=lambda b: -b.bytes)
    shown = ", ".join(f"{b.tensor} ({b.bytes:,} B)" for b in live[:4])
    s = plan.steps[step]
    return f"step {step} ({s.kernel} {s.op}) holds {shown}"


def _kept(cmap: ChannelMap, counts: dict[str, int]) -> dict[str, np.ndarray]:
    return {gid: g.kept(counts[gid]) for gid, g in cmap.groups.items()}


def most_pruned(path: Path, max_drop: float, options: SolveOptions | None = None) -> Plan:
    """The cpsat plan (no budget) of `path` with every group at the fewest channels --max-drop allows: the
    smallest arena pruning can reach."""
    options = options or SolveOptions()
    raw = load_raw(path, options.input_shapes)
    cmap = analyse(raw)
    k_min = {gid: codesign.k_floor(g.channels, max_drop) for gid, g in cmap.groups.items()}
    with tempfile.TemporaryDirectory(prefix="pexcp-prune-") as tmp:
        file = Path(tmp) / "most_pruned.onnx"
        onnx.save(prune_model(raw, cmap, _kept(cmap, k_min)), str(file))
        return solve(file, "cpsat", replace(options, budget=None))[1]


def prune(
    path: Path,
    budget: int,
    max_drop: float = 0.5,
    options: SolveOptions | None = None,
    input_range: tuple[float, float] | None = None,
    progress: Callable[[str], None] | None = None,
    measure_fidelity: bool = True,
) -> tuple[Result, onnx.ModelProto]:
    """Prune `path` to fit `budget` bytes (module docstring). Returns the result and the pruned model."""
    if not 0 <= max_drop < 1:
        raise BadInputError(f"--max-drop {max_drop:g}: expected a fraction in [0, 1)")
    if budget <= 0:
        raise BadInputError("--budget must be positive")
    t0 = time.perf_counter()
    say = progress or (lambda m: None)
    options = replace(options or SolveOptions(), budget=None)
    read_model(path, options.input_shapes)  # every problem with the file, as one line
    raw = load_raw(path, options.input_shapes)
    cmap = analyse(raw)
    graph = load_for(path, "cpsat", options)
    groups = {g.id: g for g in candidate_groups(graph)}
    k_min = {gid: codesign.k_floor(g.channels, max_drop) for gid, g in cmap.groups.items()}
    total = float(sum(g.importance(g.channels) for g in cmap.groups.values()))
    say(f"{len(cmap.groups)} prunable coupling groups, {sum(g.channels for g in cmap.groups.values())} channels; "
        f"{len(cmap.fixed)} fixed")

    with tempfile.TemporaryDirectory(prefix="pexcp-prune-") as tmp:

        def plan_of(model: onnx.ModelProto, name: str, limit: int | None) -> Plan:
            file = Path(tmp) / f"{name}.onnx"
            onnx.save(model, str(file))
            return solve(file, "cpsat", replace(options, budget=limit))[1]

        before = plan_of(raw, "original", None)
        say(f"unpruned: arena {before.arena_bytes:,} B ({before.status})")
        smallest, counts, decision = None, {gid: g.channels for gid, g in cmap.groups.items()}, None
        notes: list[str] = []
        if before.arena_bytes > budget:
            most = most_pruned(path, max_drop, options)
            smallest = most.arena_bytes
            say(f"most pruned (--max-drop {max_drop:g}): arena {smallest:,} B ({most.status})")
            if most.lower_bound_bytes > budget:
                raise BudgetError(_unmet(budget, max_drop, most))
            decision = codesign.solve(graph, groups, cmap, k_min, budget, options.timeout, options.workers,
                                      options.seed, say)
            say(f"co-design: {decision.status}, importance kept {decision.importance:.3f} of {total:.0f} "
                f"(bound {decision.bound:.3f}) in {decision.seconds:.1f} s")
            if decision.kept:
                counts = decision.kept
            elif smallest <= budget:  # its plan needs a cut tensor away from offset 0, or time ran out
                counts = dict(k_min)
                why = "proved that no pinned plan fits" if decision.status == "infeasible" else "found no solution in time"
                notes.append(f"the co-design model {why}: the most pruned model, whose plan fits, is kept")
            elif decision.status == "infeasible":
                raise BudgetError(_unmet(budget, max_drop, most, proven=True))
            else:
                raise BudgetError(f"no pruning within --max-drop {max_drop:g} found to fit {format_bytes(budget)} "
                                  f"in {options.timeout:g} s (smallest arena reached {smallest:,} B, not proven "
                                  "minimal); try a longer --timeout")
        kept = _kept(cmap, counts)
        pruned = prune_model(raw, cmap, kept)
        onnx.checker.check_model(pruned, full_check=True)
        after = plan_of(pruned, "pruned", budget) if decision else before
        if after.arena_bytes > budget:
            raise BudgetError(f"the pruned model's plan needs {after.arena_bytes:,} B, over the budget "
                              f"{format_bytes(budget)}: the co-design's plan was not found again in "
                              f"{options.timeout:g} s; try a longer --timeout")

    layers = [Layer(p, gid, g.channels, counts[gid]) for gid, g in cmap.groups.items() for p in g.producers]
    result = Result(
        model=path.name,
        budget=budget,
        max_drop=max_drop,
        layers=layers,
        kept={p: kept[gid].tolist() for gid, g in cmap.groups.items() for p in g.producers},
        macs=(measure.macs(raw), measure.macs(pruned)),
        params=(measure.params(raw), measure.params(pruned)),
        arena=(before.arena_bytes, after.arena_bytes),
        smallest=smallest,
        importance=(float(sum(cmap.groups[g].importance(k) for g, k in counts.items())), total),
        status=decision.status if decision else "not needed (fits unpruned)",
        bound=decision.bound if decision else total,
        seconds=0.0,
        plan=after,
        fixed=cmap.fixed,
        notes=notes,
    )
    if measure_fidelity and len(fidelity.model_inputs(raw)) == 1:
        result.fidelity = fidelity.measure(raw, pruned, input_range)
    elif measure_fidelity:
        result.notes.append("output fidelity is measured on single-input models only: not measured")
    result.seconds = time.perf_counter() - t0
    return result, pruned


def _unmet(budget: int, max_drop: float, most: Plan, proven: bool = False) -> str:
    why = (f"lower bound {most.lower_bound_bytes:,} B; the co-design model, with cut tensors at offset 0, has no "
           "plan within the budget" if proven else f"proven lower bound {most.lower_bound_bytes:,} B")
    return (f"budget {format_bytes(budget)} cannot be met by pruning within --max-drop {max_drop:g}: the smallest "
            f"arena reachable is {most.arena_bytes:,} B ({why}); bottleneck: {plan_bottleneck(most)}")
