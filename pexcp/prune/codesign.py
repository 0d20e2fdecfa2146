"""Pruning and planning in one CP-SAT model: how many channels each coupling group keeps, the op order,
split factors and buffer offsets, decided together.

Every kept-channel count k_g is an integer variable in [k_min(g), C_g]. A buffer's bytes are linear in
them: its channel axis is a list of segments (pexcp.prune.channels), each a group's k_g or a fixed count, and
bytes = bytes per channel x channels; a block's size in 4-byte units is an auxiliary integer s with
4s >= bytes >= 4s - 3 (the word alignment every buffer gets, exactly). A tail's accumulator is linear in
its output's channels in the same way.

Split groups (partial execution) are where sizes stop being linear: a round's slice is `width` channels and
width = ceil(k / rounds). Each split option of the unpruned group is kept as an option by its number of
rounds r, with an integer width w_r >= 1, r * w_r >= k (so w_r >= ceil(k / r), the width the pruned
model's option with that many rounds has) and w_r <= the unpruned width; every inner tensor's slice is
s_{r,j} >= ceil(bytes per channel_j * w_r / 4) units and the region is at least the largest sum of two
consecutive slices when option r is chosen. These are upper bounds that the solver may take exactly, so
any plan of this model is a plan of the pruned model with at most these sizes: the arena it proves is an
upper bound on the pruned model's optimum (sound), and equal to it when the bounds are tight (the search
never gains by taking them larger). A split also needs k >= 2 (a one-channel group cannot be split).

Kernel scratch (Graph.scratch) is not monotonic in the channels a call reads: fewer input channels can take
another fast path with a larger working area (the int8 pointwise block path). An op whose input channels
are pruned gets, in this model, the largest scratch of any input count it may end up with, for every call
(split rounds included): an upper bound again, so the plans stay sound.

As cpsat does with a budget, the graph is cut into segments at single-tensor cuts (pexcp.solvers.cpsat
.decompose) with the cut tensors at offset 0; each segment has its own order and offsets, and every
segment's arena must fit the budget. The segments share the k variables, so it is still one model.

Objective: the most importance kept, sum_g kept_g(k_g), where kept_g(k) is the summed normalised L1 score of
the group's top-k channels, encoded exactly by an element constraint on a table (integer, 1e-5 steps);
ties (channels of zero weights score nothing, yet their biases still feed the next layer) go to keeping
more channels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

from ortools.sat.python import cp_model

from pexcp.analysis.partial import Group as SplitGroup
from pexcp.ir import Graph, Scratch
from pexcp.prune.channels import ChannelMap
from pexcp.solvers.cpsat import model as cm
from pexcp.solvers.cpsat.decompose import segments as cut_segments
from pexcp.solvers.cpsat.search import Report, search
from pexcp.units import WORD

SCALE = 100_000  # importance table resolution (per layer weighing 1)
TIE_BREAK_SHARE = 0.2  # of the co-design time: keeping more channels at the importance found


@dataclass
class Linear:
    """bytes = const + sum coeff[g] * k_g."""

    const: int
    coeff: dict[str, int] = field(default_factory=dict)

    def at(self, kept: dict[str, int]) -> int:
        return self.const + sum(c * kept[g] for g, c in self.coeff.items())

    @property
    def fixed(self) -> bool:
        return not self.coeff


def tensor_bytes(graph: Graph, cmap: ChannelMap, tensor: str, factor: int = 1) -> Linear:
    """Bytes of `tensor` (times `factor` per element byte, for int32 accumulators) as a function of k."""
    t = graph.tensors[tensor]
    segs = cmap.segments.get(tensor)
    if not segs or all(g is None for g, _ in segs):
        return Linear(t.nbytes * factor)
    channels = sum(n for _, n in segs)
    per_channel, rest = divmod(t.nbytes * factor, channels)
    assert rest == 0, f"{tensor}: {t.nbytes} B over {channels} channels"
    lin = Linear(0)
    for g, n in segs:
        if g is None:
            lin.const += per_channel * n
        else:
            lin.coeff[g] = lin.coeff.get(g, 0) + per_channel
    return lin


def channel_count(cmap: ChannelMap, tensor: str) -> Linear:
    segs = cmap.segments.get(tensor) or []
    lin = Linear(0)
    for g, n in segs:
        if g is None:
            lin.const += n
        else:
            lin.coeff[g] = lin.coeff.get(g, 0) + 1
    return lin


@dataclass
class Codesign:
    """The model and the variables a solution is read from."""

    model: cp_model.CpModel
    keep: dict[str, cp_model.IntVar]
    kept_importance: cp_model.LinearExpr
    kept_channels: cp_model.LinearExpr
    parts: list[cm.ScheduleModel]


class _Builder:
    def __init__(self, m: cp_model.CpModel, graph: Graph, cmap: ChannelMap, keep: dict[str, cp_model.IntVar]):
        self.m, self.graph, self.cmap, self.keep = m, graph, cmap, keep

    def expr(self, lin: Linear) -> cp_model.LinearExpr:
        return lin.const + sum(c * self.keep[g] for g, c in lin.coeff.items())

    def units(self, lin: Linear, upper: int, name: str) -> cp_model.IntVar:
        """ceil(bytes / WORD) as a variable: exactly the aligned size in units of WORD bytes."""
        s = self.m.new_int_var(0, -(-upper // WORD), name)
        self.m.add(WORD * s >= self.expr(lin))
        self.m.add(WORD * s <= self.expr(lin) + WORD - 1)
        return s

    def sizes(self, sm: cm.ScheduleModel) -> None:
        graph = sm.graph
        for name, t in graph.tensors.items():
            lin = tensor_bytes(self.graph, self.cmap, name)
            if not lin.fixed and graph.storage_root(name) == name:
                sm.sizes[name] = self.units(lin, t.nbytes, f"size[{name}]")
        for g in sm.groups.values():
            if g.acc_tensor is not None:
                lin = tensor_bytes(self.graph, self.cmap, g.output, g.acc_bytes // graph.tensors[g.output].nbytes)
                if not lin.fixed:
                    sm.sizes[f"acc:{g.id}"] = self.units(lin, g.acc_bytes, f"size[acc:{g.id}]")

    def region(self, sm: cm.ScheduleModel, g: SplitGroup) -> cp_model.IntVar:
        """The region of split group g under pruning (module docstring: options by rounds)."""
        m = self.m
        top = max(o.region_bytes for o in g.options)
        region = m.new_int_var(0, -(-top // WORD), f"region[{g.id}]")
        k = self.expr(channel_count(self.cmap, g.inner[0]))
        m.add(k >= 2).only_enforce_if(sm.split[g.id])
        for o in g.options:
            x = sm.choice[(g.id, o.width)]
            w = m.new_int_var(1, o.width, f"width[{g.id},{o.rounds}]")
            m.add(o.rounds * w >= k)
            slices = []
            for j, per_channel in enumerate(g.slice_bytes):
                s = m.new_int_var(0, -(-per_channel * o.width // WORD), f"slice[{g.id},{o.rounds},{j}]")
                m.add(WORD * s >= per_channel * w)
                slices.append(s)
            pairs = [slices[0]] if len(slices) == 1 else [a + b for a, b in zip(slices, slices[1:])]
            for p in pairs:
                m.add(region >= p).only_enforce_if(x)
        return region


def bounded_scratch(graph: Graph, cmap: ChannelMap, k_min: dict[str, int]) -> dict[str, Scratch]:
    """Graph.scratch with each op whose input channels are pruned sized at its largest over the input counts
    it may keep (module docstring)."""
    bounded = dict(graph.scratch)
    for name, need in graph.scratch.items():
        count = channel_count(cmap, graph.activation_inputs(graph.op(name))[0])
        if count.fixed or not need.by_inputs:  # by_inputs empty: the scratch does not depend on the inputs
            continue
        lo = max(1, count.at(k_min))
        bounded[name] = Scratch(max(need.whole, *need.by_inputs[lo - 1:]))
    return bounded


def build(graph: Graph, groups: dict[str, SplitGroup], cmap: ChannelMap, k_min: dict[str, int], budget: int) -> Codesign:
    """The co-design model for `budget` bytes (module docstring)."""
    graph = replace(graph, scratch=bounded_scratch(graph, cmap, k_min))
    m = cp_model.CpModel()
    keep = {gid: m.new_int_var(k_min[gid], g.channels, f"keep[{gid}]") for gid, g in cmap.groups.items()}
    importance = []
    for gid, g in cmap.groups.items():
        lo = k_min[gid]
        table = [round(g.importance(k) * SCALE) for k in range(lo, g.channels + 1)]
        value = m.new_int_var(min(table), max(table), f"importance[{gid}]")
        index = m.new_int_var(0, len(table) - 1, f"index[{gid}]")
        m.add(index == keep[gid] - lo)
        m.add_element(index, table, value)
        importance.append(value)
    b = _Builder(m, graph, cmap, keep)
    parts = []
    capacity = budget // WORD
    for seg in cut_segments(graph, groups):
        sm = cm.ScheduleModel(seg.graph, seg.groups, WORD, capacity, model=m, region_rule=b.region)
        b.sizes(sm)
        cm.add_order(sm)
        cm.add_split_choices(sm)
        cm.add_lifetimes(sm)
        arena = cm.add_arena(sm)
        cm.add_cumulative(sm, arena)
        cm.add_no_overlap(sm)
        cm.add_pins(sm)
        cm.add_fixed_offsets(sm, seg.pins)
        parts.append(sm)
    total = sum(importance)
    m.maximize(total)
    return Codesign(m, keep, total, sum(keep.values()), parts)


@dataclass
class Decision:
    kept: dict[str, int]  # group -> channels kept
    importance: float  # kept importance (sum over groups, each producer's layer weighing 1)
    status: str  # optimal, feasible, infeasible, unknown
    bound: float  # proven upper bound on the importance that can be kept
    seconds: float


def solve(graph: Graph, groups: dict[str, SplitGroup], cmap: ChannelMap, k_min: dict[str, int], budget: int,
          timeout: float, workers: int = 2, seed: int = 0, progress=None) -> Decision:
    """Most importance kept within `budget`, then (tie-break) the most channels at that importance.

    Phase 1 maximises importance in TIE_BREAK_SHARE less than `timeout`; phase 2 fixes the importance found
    and maximises the channels kept, from phase 1's solution. Both run CP-SAT's parallel portfolio search
    (with its large-neighbourhood workers): on this model the single-threaded reproducible searches cpsat
    uses for planning find no solution, or stay at their first one, within a minute (MCUNet at 75 %), so
    the channels kept by a search the time limit ends may differ between runs. A proven optimum does not."""
    t0 = time.perf_counter()
    cd = build(graph, groups, cmap, k_min, budget)
    top = sum(round(g.importance(g.channels) * SCALE) for g in cmap.groups.values())
    cd.model.minimize(top - cd.kept_importance)  # search() minimises: the importance given up
    show = lambda v: f"{(top - v) / SCALE:.3f} importance kept"  # noqa: E731
    first = search(cd.model, (1 - TIE_BREAK_SHARE) * timeout, 0.0, workers, seed, False,
                   Report(progress, "co-design", show, t0))
    if not first.found:
        status = "infeasible" if first.status == cp_model.INFEASIBLE else "unknown"
        return Decision({}, 0.0, status, 0.0 if status == "infeasible" else (top - first.bound) / SCALE,
                        time.perf_counter() - t0)
    solver = first.solver
    kept = {gid: int(solver.value(v)) for gid, v in cd.keep.items()}
    lost = round(first.objective)
    importance, bound = (top - lost) / SCALE, (top - first.bound) / SCALE
    status = "optimal" if first.status == cp_model.OPTIMAL else "feasible"
    cd.model.add(top - cd.kept_importance <= lost)
    cd.model.clear_hints()
    for gid, v in cd.keep.items():
        cd.model.add_hint(v, kept[gid])
    cd.model.minimize(-cd.kept_channels)
    left = max(timeout - (time.perf_counter() - t0), 0.1 * timeout)
    second = search(cd.model, left, 0.0, workers, seed, False, Report(progress, "co-design tie-break",
                                                                      lambda v: f"{-v:.0f} channels kept", t0))
    if second.found:
        kept = {gid: int(second.solver.value(v)) for gid, v in cd.keep.items()}
        importance = sum(cmap.groups[g].importance(k) for g, k in kept.items())
    return Decision(kept, importance, status, bound, time.perf_counter() - t0)


def k_floor(channels: int, max_drop: float) -> int:
    """Fewest channels a group of `channels` may keep: it drops at most max_drop of them, and keeps one."""
    return max(1, channels - math.floor(max_drop * channels + 1e-9))
