"""The CP-SAT scheduling model, built one constraint family at a time.

Time is compressed to op positions 0..n-1: each op runs at one position; a split group runs its rounds
while its members hold consecutive positions. Every buffer is a block: a time interval (from the position
that allocates it to the one after its last reader) and, when offsets are modelled, an address interval.
Sizes are in `unit` bytes (the gcd of all aligned sizes) so coordinates stay small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Collection

import networkx as nx
from ortools.sat.python import cp_model

from pexcp.analysis.bands import ROW
from pexcp.analysis.bands import scratch as band_scratch
from pexcp.analysis.inplace import extra_calls, in_place_ops, other_readers, temp_bytes, weight
from pexcp.analysis.liveness import Schedule, align
from pexcp.analysis.partial import Group, Option
from pexcp.ir import SCRATCH, TEMP, Graph, Op

Expr = cp_model.LinearExprT


@dataclass
class BlockVars:
    id: str  # unique: tensor name, region:<group> or acc:<group>
    item: str  # the layout item it becomes when present (analysis.liveness): tensor, region or acc tensor
    start: Expr
    end: Expr
    size: Expr  # units
    present: cp_model.IntVar | int
    time: cp_model.IntervalVar
    offset: cp_model.IntVar | None = None


@dataclass
class ScheduleModel:
    graph: Graph
    groups: dict[str, Group]
    unit: int
    capacity: int  # upper bound on the arena, in units
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    pos: dict[str, cp_model.IntVar] = field(default_factory=dict)
    at: dict[str, dict[int, cp_model.IntVar]] = field(default_factory=dict)  # op -> position -> bool (assignment)
    split: dict[str, cp_model.IntVar] = field(default_factory=dict)
    choice: dict[tuple[str, int], cp_model.IntVar] = field(default_factory=dict)
    region: dict[str, cp_model.IntVar] = field(default_factory=dict)
    whole_op: dict[str, cp_model.IntVar] = field(default_factory=dict)  # in-place ops that may be split
    in_place: dict[str, cp_model.IntVar] = field(default_factory=dict)  # in-place capable conv -> runs over its input
    no_scratch: dict[str, cp_model.IntVar] | None = None  # op -> runs without its scratch (None: not a choice)
    blocks: dict[str, BlockVars] = field(default_factory=dict)
    arena: cp_model.IntVar | None = None
    slices: Expr = 0  # extra kernel calls of the chosen splits (and in-place runs, by their weight)
    cost: Expr = 0  # their estimated extra instructions (objective `instructions`)
    sizes: dict[str, Expr] = field(default_factory=dict)
    """Block sizes (units) that are expressions rather than the graph's fixed sizes, by block id (a tensor or
    acc:<group>): pruning makes them linear in kept-channel counts (pexcp.prune.codesign)."""
    region_rule: Callable[[ScheduleModel, Group], cp_model.IntVar] | None = None
    """Makes a split group's region size from its choice variables, when sizes are not the fixed options'."""

    @property
    def n(self) -> int:
        return len(self.graph.ops)

    def units(self, nbytes: int) -> int:
        return align(nbytes) // self.unit


def size_unit(graph: Graph, groups: dict[str, Group], in_place: Collection[str] = ()) -> int:
    """gcd of every block size the model can use (with the `in_place` kinds, the temporaries of in-place
    convs too): the coarsest grid offsets can live on exactly."""
    sizes = [align(t.nbytes) for t in graph.tensors.values()]
    sizes += [align(temp_bytes(graph, op)) for op in in_place_ops(graph, in_place)] if in_place else []
    for g in groups.values():
        sizes += [o.region_bytes for o in g.options] + ([align(g.acc_bytes)] if g.acc_tensor else [])
    sizes += [align(n) for by_width in scratch_sizes(graph, groups).values() for n in by_width.values()]
    return math.gcd(*[s for s in sizes if s]) or 1


def add_order(sm: ScheduleModel, fixed: list[str] | None = None, formulation: str = "positions",
              windows: bool = False) -> None:
    """A position per op, all different, producers before consumers (or the positions of `fixed`).

    `positions`: an integer per op, AllDifferent. `assignment` (time-indexed): a boolean per op and position,
    exactly one per op and one per position, the position their weighted sum. `windows` limits each op to
    the positions its ancestors and descendants leave it."""
    m, n = sm.model, sm.n
    span = _windows(sm.graph) if windows and not fixed else {op.name: (0, n - 1) for op in sm.graph.ops}
    for op in sm.graph.ops:
        lo, hi = (fixed.index(op.name),) * 2 if fixed else span[op.name]
        sm.pos[op.name] = m.new_int_var(lo, hi, f"pos[{op.name}]")
    if fixed:
        return
    if formulation == "assignment":
        at: dict[int, list[cp_model.IntVar]] = {}
        for op in sm.graph.ops:
            lo, hi = span[op.name]
            xs = {t: m.new_bool_var(f"at[{op.name},{t}]") for t in range(lo, hi + 1)}
            sm.at[op.name] = xs
            m.add_exactly_one(xs.values())
            m.add(sm.pos[op.name] == sum(t * x for t, x in xs.items()))
            for t, x in xs.items():
                at.setdefault(t, []).append(x)
        for t in range(n):
            m.add_exactly_one(at[t])
    else:
        m.add_all_different(list(sm.pos.values()))
    for u, v in sm.graph.dag().edges:
        m.add(sm.pos[u] + 1 <= sm.pos[v])


def _windows(graph: Graph) -> dict[str, tuple[int, int]]:
    """Each op's possible positions: after all its ancestors, before all its descendants."""
    dag, n = graph.dag(), len(graph.ops)
    return {op.name: (len(nx.ancestors(dag, op.name)), n - 1 - len(nx.descendants(dag, op.name))) for op in graph.ops}


def add_split_choices(sm: ScheduleModel, costs: SplitCosts | None = None) -> None:
    """One choice per candidate group (unsplit or a slice width); an op is in at most one split group,
    whose members then hold consecutive positions; the group's region size follows its width. `costs`
    prices each choice in estimated extra instructions (sm.cost)."""
    m = sm.model
    per_op: dict[str, list[cp_model.IntVar]] = {}
    slices, cost = [], []
    for g in sm.groups.values():
        b = sm.split[g.id] = m.new_bool_var(f"split[{g.id}]")
        xs = []
        for o in g.options:
            x = sm.choice[(g.id, o.width)] = m.new_bool_var(f"width[{g.id}]={o.width}")
            xs.append(x)
            slices.append(g.extra_calls(o) * x)
            if costs is not None:
                cost.append(costs.extra(sm.graph, g, o) * x)
        m.add(sum(xs) == b)
        if sm.region_rule is not None:
            sm.region[g.id] = sm.region_rule(sm, g)
        else:
            sm.region[g.id] = m.new_int_var(0, max(sm.units(o.region_bytes) for o in g.options), f"region[{g.id}]")
            m.add(sm.region[g.id] == sum(sm.units(o.region_bytes) * sm.choice[(g.id, o.width)] for o in g.options))
        for a, c in zip(g.names, g.names[1:]):
            m.add(sm.pos[c] == sm.pos[a] + 1).only_enforce_if(b)
        for name in g.names:
            per_op.setdefault(name, []).append(b)
    for bs in per_op.values():
        if len(bs) > 1:
            m.add_at_most_one(bs)
    sm.slices = sum(slices)
    sm.cost = sum(cost)


def add_in_place(sm: ScheduleModel, kinds: Collection[str], costs: SplitCosts | None = None) -> None:
    """A choice per conv of one of `kinds` that may run over its input (analysis/inplace.py): only when it
    runs whole and after every other reader of its input; a depthwise conv then makes one kernel call per
    channel (extra calls, and with `costs` their estimated instructions, copies included). Its output's block
    starts after its step at its input's offset (add_pins), and its temporary is live at its step
    (add_lifetimes)."""
    for op in in_place_ops(sm.graph, kinds):
        b = sm.in_place[op.name] = sm.model.new_bool_var(f"in_place[{op.name}]")
        for r in other_readers(sm.graph, op):  # the input dies with the in-place run
            sm.model.add(sm.pos[r.name] + 1 <= sm.pos[op.name]).only_enforce_if(b)
        whole = _whole_op(sm, op.name)
        if not isinstance(whole, int):
            sm.model.add_implication(b, whole)
        sm.slices = sm.slices + weight(sm.graph, op) * b
        if costs is not None:
            sm.cost = sm.cost + costs.in_place(sm.graph, op) * b


@dataclass(frozen=True)
class SplitCosts:
    """Instructions a split adds in the C backend (in hundredths, so the objective stays integral): per extra
    kernel call, and per element accumulated into a tail's partial sums in every round after the first
    (measured by benchmarks/measure_split_costs.py into costs.json); and per extra call of an in-place
    depthwise conv, its channel's copy included (measured by benchmarks/bench_inplace_dw.py)."""

    per_call: int
    per_element: int
    in_place_per_call: int = 0

    def extra(self, graph: Graph, g: Group, o: Option) -> int:
        accumulated = graph.tensors[g.output].numel if g.tail else 0
        return g.extra_calls(o) * self.per_call + (o.rounds - 1) * accumulated * self.per_element

    def in_place(self, graph: Graph, op: Op) -> int:
        """An in-place depthwise conv: a call per channel, each copying its channel out of the temporary."""
        return extra_calls(graph, op) * self.in_place_per_call


def _first(sm: ScheduleModel, g: Group) -> cp_model.IntVar:
    return sm.pos[g.names[0]]


def _last(sm: ScheduleModel, g: Group) -> cp_model.IntVar:
    return sm.pos[g.names[-1]]


def add_lifetimes(sm: ScheduleModel) -> None:
    """A block per buffer: every stored tensor (absent when a split group keeps it as slices), and per
    split group its slice region and its accumulator. Lifetimes follow producers, readers and groups."""
    m, graph = sm.model, sm.graph
    readers: dict[str, dict[str, None]] = {}  # ordered: the model must not depend on string hashes
    for op in graph.ops:
        for t in graph.activation_inputs(op):
            readers.setdefault(graph.storage_root(t), {})[op.name] = None
    for name, tensor in graph.tensors.items():
        if graph.storage_root(name) != name:  # a view, or a gathered Concat input
            continue
        inner_of = [sm.split[g.id] for g in sm.groups.values() if name in g.inner]
        present: cp_model.IntVar | int = 1
        if inner_of:
            present = m.new_bool_var(f"whole[{name}]")
            m.add(present + sum(inner_of) == 1)
        start = _start(sm, name)
        end = _end(sm, name, list(readers.get(name, {})), start)
        size = sm.sizes.get(name, sm.units(tensor.nbytes))
        _block(sm, name, name, start, end, size, present)
    for g in sm.groups.values():
        b = sm.split[g.id]
        end = _last(sm, g) + 1
        _block(sm, f"region:{g.id}", f"region:{g.id}", _first(sm, g), end, sm.region[g.id], b)
        if g.acc_tensor is not None:  # several candidate groups may share a tail: one block each
            size = sm.sizes.get(f"acc:{g.id}", sm.units(g.acc_bytes))
            _block(sm, f"acc:{g.id}", g.acc_tensor, _first(sm, g), end, size, b)
    add_scratch(sm)
    for name, b in sm.in_place.items():  # the temporary of an in-place run (one channel or one pixel)
        start = sm.pos[name]
        _block(sm, TEMP + name, TEMP + name, start, start + 1, sm.units(temp_bytes(graph, graph.op(name))), b)


def scratch_sizes(graph: Graph, groups: dict[str, Group]) -> dict[str, dict[tuple[str, int] | None, int]]:
    """Kernel scratch bytes per op (Graph.scratch): None -> an unsliced call (or an output or channel slice),
    (group, width) -> the largest call of a split tail accumulating `width` input channels, or of a band
    chain member at that band height."""
    sizes: dict[str, dict[tuple[str, int] | None, int]] = {}
    for name, need in graph.scratch.items():
        sizes[name] = {None: need.whole}
        for g in groups.values():
            if g.tail and g.names[-1] == name:
                sizes[name].update({(g.id, o.width): need.split_bytes(o.width, g.channels) for o in g.options})
    for g in groups.values():
        if g.axis == ROW and any(name in graph.scratch for name in g.names):
            for o in g.options:
                for name, nbytes in band_scratch(graph, g, o.width).items():
                    sizes[name][(g.id, o.width)] = nbytes
    return sizes


def add_scratch(sm: ScheduleModel) -> None:
    """A block per op whose kernel needs scratch, live at the op's position only (in a split group, each
    round's call of the op runs there too); a split tail's calls read fewer input channels and need less."""
    for name, by_width in scratch_sizes(sm.graph, sm.groups).items():
        if name not in sm.pos:
            continue
        size: Expr = sm.units(by_width[None])
        variants = [key for key in by_width if key is not None]
        if variants:  # at most one group holding the op is split
            whole = 1 - sum(sm.split[gid] for gid in dict.fromkeys(gid for gid, _ in variants))
            size = sm.model.new_int_var(0, max(sm.units(n) for n in by_width.values()), f"scratch[{name}]")
            sm.model.add(size == sm.units(by_width[None]) * whole + sum(sm.units(by_width[k]) * sm.choice[k] for k in variants))
        start = sm.pos[name]
        present: cp_model.IntVar | int = 1
        if sm.no_scratch is not None:  # SolverParams.drop_scratch: the block is absent when the op goes without
            present = sm.model.new_bool_var(f"has_scratch[{name}]")
            sm.no_scratch[name] = present.negated()
            sm.slices = sm.slices + sm.no_scratch[name]
        _block(sm, SCRATCH + name, SCRATCH + name, start, start + 1, size, present)


def _start(sm: ScheduleModel, name: str) -> Expr:
    """Where the block of `name` starts: when it is written, or for a concat output with gathered inputs,
    when the first of those is."""
    parts = sm.graph.parts(name)
    if not parts:
        return _written(sm, name)
    start = sm.model.new_int_var(0, sm.n, f"start[{name}]")
    sm.model.add_min_equality(start, [_written(sm, t) for t in parts])
    return start


def _written(sm: ScheduleModel, name: str) -> Expr:
    graph, m = sm.graph, sm.model
    producer = graph.producer.get(name)
    if producer is None:
        return 0
    shift = []
    for g in sm.groups.values():
        if g.output == name:  # written from the group's first round, or owning bytes after the group
            after = g.acc_tensor is not None or g.overwrites is not None  # (in place of its accumulator or input)
            shift.append((1 if after else -(len(g.members) - 1)) * sm.split[g.id])
    whole = _whole_op(sm, producer.name) if producer.inplace else 0  # in place: owns bytes from the next step
    whole = sm.in_place.get(producer.name, whole)
    if isinstance(whole, int) and not shift:
        return sm.pos[producer.name] + whole
    start = m.new_int_var(0, sm.n, f"start[{name}]")
    m.add(start == sm.pos[producer.name] + whole + sum(shift))
    return start


def _whole_op(sm: ScheduleModel, name: str) -> Expr:
    """1 when the op runs whole (in no split group), as an expression (a literal for pins)."""
    splits = [sm.split[g.id] for g in sm.groups.values() if name in g.names]
    if not splits:
        return 1
    if name not in sm.whole_op:
        whole = sm.whole_op[name] = sm.model.new_bool_var(f"whole_op[{name}]")
        sm.model.add(whole + sum(splits) == 1)
    return sm.whole_op[name]


def _end(sm: ScheduleModel, name: str, readers: list[str], start: Expr) -> Expr:
    m, n = sm.model, sm.n
    if name in sm.graph.outputs or any(sm.graph.storage_root(t) == name for t in sm.graph.outputs):
        return n
    keeps = [g for g in sm.groups.values() if any(sm.graph.storage_root(t) == name for t in g.inputs)]
    if len(readers) == 1 and not keeps:
        return sm.pos[readers[0]] + 1
    end = m.new_int_var(0, n, f"end[{name}]")
    m.add(end >= start)
    producer = sm.graph.producer.get(name)  # unread: live during the step that writes it (model input: step 0)
    m.add(end >= (sm.pos[producer.name] if producer else 0) + min(1, n))
    for r in readers:
        m.add(end >= sm.pos[r] + 1)
    for g in keeps:  # a group reads its inputs in every round
        m.add(end >= _last(sm, g) + 1).only_enforce_if(sm.split[g.id])
    return end


def _block(sm: ScheduleModel, bid: str, item: str, start: Expr, end: Expr, size: Expr, present) -> None:
    m = sm.model
    length = m.new_int_var(0, sm.n, f"len[{bid}]")
    if isinstance(present, int):
        time = m.new_interval_var(start, length, end, f"time[{bid}]")
    else:
        time = m.new_optional_interval_var(start, length, end, present, f"time[{bid}]")
    sm.blocks[bid] = BlockVars(bid, item, start, end, size, present, time)


def add_cumulative(sm: ScheduleModel, capacity: cp_model.IntVar) -> None:
    """Live units at every position stay within `capacity`: LOAD, the bound any layout must respect."""
    blocks = list(sm.blocks.values())
    sm.model.add_cumulative([b.time for b in blocks], [b.size for b in blocks], capacity)


def add_arena(sm: ScheduleModel, lower_bound: int = 0) -> cp_model.IntVar:
    sm.arena = sm.model.new_int_var(lower_bound, sm.capacity, "arena")
    return sm.arena


def add_no_overlap(sm: ScheduleModel) -> None:
    """An offset per block; blocks live at the same time never share an address; all fit the arena."""
    m = sm.model
    xs, ys = [], []
    for b in sm.blocks.values():
        b.offset = m.new_int_var(0, sm.capacity, f"offset[{b.id}]")
        top = m.new_int_var(0, sm.capacity, f"top[{b.id}]")  # = offset + size, enforced by the interval
        if isinstance(b.present, int):
            addr = m.new_interval_var(b.offset, b.size, top, f"addr[{b.id}]")
            m.add(sm.arena >= top)
        else:
            addr = m.new_optional_interval_var(b.offset, b.size, top, b.present, f"addr[{b.id}]")
            m.add(sm.arena >= top).only_enforce_if(b.present)
        xs.append(b.time)
        ys.append(addr)
    m.add_no_overlap_2d(xs, ys)


def add_pins(sm: ScheduleModel) -> None:
    """An in-place output sits at its input's offset (when its op runs whole); a split tail's output at its
    accumulator's, and a split group's output over the input it overwrites."""
    m, graph = sm.model, sm.graph
    for op in graph.ops:
        if op.inplace and not op.view:
            whole = _whole_op(sm, op.name)
            pin = m.add(sm.blocks[op.outputs[0]].offset == sm.blocks[op.inplace].offset)
            if not isinstance(whole, int):
                pin.only_enforce_if(whole)
    for name, b in sm.in_place.items():
        op = graph.op(name)
        m.add(sm.blocks[op.outputs[0]].offset == sm.blocks[graph.activation_inputs(op)[0]].offset).only_enforce_if(b)
    for g in sm.groups.values():
        under = f"acc:{g.id}" if g.acc_tensor is not None else g.overwrites
        if under is not None:
            m.add(sm.blocks[g.output].offset == sm.blocks[under].offset).only_enforce_if(sm.split[g.id])


def add_fixed_offsets(sm: ScheduleModel, offsets: dict[str, int]) -> None:
    """Tensors whose offset (bytes) is decided outside this model: the cut tensors of a decomposed graph."""
    for tensor, offset in offsets.items():
        sm.model.add(sm.blocks[tensor].offset == offset // sm.unit)


def max_slices(sm: ScheduleModel) -> int:
    """The most extra kernel calls any choice of splits and in-place runs makes (in-place runs by their
    tie-break weight)."""
    splits = sum(max(g.extra_calls(o) for o in g.options) for g in sm.groups.values())
    return splits + sum(weight(sm.graph, sm.graph.op(name)) for name in sm.in_place) + len(sm.no_scratch or ())


def add_objective(sm: ScheduleModel, target: cp_model.IntVar, budget_units: int | None, by_cost: bool = False) -> None:
    """Without a budget: smallest `target`, then fewest extra slices. With one: fit, then fewest slices (or
    with `by_cost`, the least estimated extra instructions)."""
    if budget_units is None:
        sm.model.minimize(target * (max_slices(sm) + 1) + sm.slices)
    else:
        sm.model.add(target <= budget_units)
        sm.model.minimize(sm.cost if by_cost else sm.slices)


def add_hint(sm: ScheduleModel, schedule: Schedule, offsets: dict[str, int] | None = None) -> None:
    """Start the search from a known schedule (and its layout, in bytes)."""
    m = sm.model
    m.clear_hints()
    position = {name: i for i, name in enumerate(schedule.order)}
    for name, var in sm.pos.items():
        m.add_hint(var, position[name])
        for t, x in sm.at.get(name, {}).items():
            m.add_hint(x, int(t == position[name]))
    for (gid, width), var in sm.choice.items():
        m.add_hint(var, int(schedule.splits.get(gid) == width))
    for gid, var in sm.split.items():
        m.add_hint(var, int(gid in schedule.splits))
    for name, var in sm.in_place.items():
        m.add_hint(var, int(name in schedule.in_place))
    for name, var in (sm.no_scratch or {}).items():
        m.add_hint(var, int(name in schedule.no_scratch))
    if offsets is not None:
        for b in sm.blocks.values():
            if b.offset is not None:
                used = b.id == b.item or b.id.removeprefix("acc:") in schedule.splits
                m.add_hint(b.offset, offsets.get(b.item, 0) // sm.unit if used else 0)
