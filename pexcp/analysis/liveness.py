"""The memory model: the buffers a schedule needs, with sizes and lifetimes, and LOAD (max live bytes).

A schedule is an op order plus a slice width (a band height) for each group it runs in channel slices (see
partial.py; in bands of rows, bands.py), the convs it runs in place, and the ops it runs without scratch.
`expand` turns it into steps and buffers:
- model inputs are live from the first step and outputs until the last, as TFLite Micro counts them;
- a view (Reshape & co.) owns no bytes: it aliases the buffer it views, which stays live while it is used;
- a gathered Concat input (rewrite `concat`) owns no bytes either: it is written straight into its place
  inside the concat output, which owns the bytes from the first step writing any gathered input;
- an in-place output is written over its input during its step and owns its bytes from the next step on,
  at its input's offset (one layout item);
- a split group runs as rounds over channel slices: its inner tensors exist one slice at a time inside a
  region reused every round, its inputs stay live until its last round, its output is allocated at its
  first round, and a tail's partial sums live in an accumulator that the final step requantizes (or
  activates) in place;
- a band group (analysis/bands.py) runs as rounds over bands of rows: its inner tensors are windows of rows
  side by side in its region, live for the whole group; inputs and output as for a split group (its output
  may take over an input's bytes band by band);
- a depthwise conv the schedule runs in place (analysis/inplace.py) writes its output over its input like an
  in-place output, with a one-channel temporary `temp:<op>` live at its step;
- an op whose kernel needs scratch (Graph.scratch) gets a buffer `scratch:<op>` live at exactly its step, or
  at each of its steps in a split group (sized for the largest slice call; one layout item, one offset).
Every buffer that owns bytes is a block of a layout item; blocks of one item share an offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from pexcp.analysis.bands import ROW, rounds, window_bytes, windows
from pexcp.analysis.partial import Group
from pexcp.analysis.inplace import extra_calls, temp_bytes
from pexcp.ir import SCRATCH, TEMP, Graph, Op, Slice, Step
from pexcp.layout.problem import Block, load
from pexcp.units import WORD as ALIGN
from pexcp.units import align_up as align


@dataclass
class Schedule:
    order: list[str]  # op names, each once, a topological order with every split group contiguous
    splits: dict[str, int] = field(default_factory=dict)  # group id -> slice width (channels per round)
    in_place: list[str] = field(default_factory=list)  # depthwise convs run in place (analysis/inplace.py)
    no_scratch: list[str] = field(default_factory=list)  # ops run without their kernel scratch (portable loops)


@dataclass
class Lifetime:
    tensor: str
    bytes: int  # bytes it owns (0 for a view)
    first: int  # step that writes it (0 for model inputs)
    last: int  # last step that reads it (inclusive)
    alias_of: str | None = None  # key of the buffer it views, or (inplace) whose bytes it takes over
    inplace: bool = False
    key: str = ""  # unique buffer name: the tensor, or tensor[c0:c1] for a slice
    dtype: str = ""
    slice: Slice | None = None
    item: str = ""  # layout item holding its bytes
    rel: int = 0  # offset inside the item (slices inside a group's region)
    written_until: int | None = None  # last step writing an in-place output (its first step, unless split)
    window: int = 0  # rows held, for a band group's inner tensor (analysis/bands.py); 0: not a window

    @property
    def owns_from(self) -> int:
        """First step at which its bytes count: an in-place output's bytes are its input's while it is
        being written."""
        if not self.inplace:
            return self.first
        return (self.first if self.written_until is None else self.written_until) + 1


@dataclass
class Expanded:
    steps: list[Step]
    buffers: list[Lifetime]
    blocks: list[Block]  # one per buffer owning bytes, plus one per group region; id = item id
    regions: dict[str, tuple[int, int]]  # group id -> (first step, last step)
    in_place_calls: int = 0  # kernel calls the in-place depthwise convs add (one per channel)

    def item_of(self, block_id: str) -> str:
        """The item (common offset) a block belongs to: its buffer's item, or itself for a region."""
        if not hasattr(self, "_owner"):
            self._owner = {b.key: b.item for b in self.buffers}
        return self._owner.get(block_id, block_id)

    def items(self) -> list[list[Block]]:
        """Blocks grouped by the item they belong to."""
        by_item: dict[str, list[Block]] = {}
        for block in self.blocks:
            by_item.setdefault(self.item_of(block.id), []).append(block)
        return list(by_item.values())

    def arena(self, offsets: dict[str, int]) -> int:
        """Bytes a placement of the items uses: max(offset + size) over blocks."""
        return max((offsets[self.item_of(b.id)] + b.size for b in self.blocks), default=0)

    @property
    def load(self) -> int:
        return load(self.blocks)

    def live_per_step(self) -> list[int]:
        """Bytes of the blocks live at each step: where the peak is, and what a split there can lower."""
        live = [0] * len(self.steps)
        for b in self.blocks:
            for s in range(b.lower, min(b.upper, len(live))):
                live[s] += b.size
        return live


class _Builder:
    def __init__(self, graph: Graph, unit: int, in_place: list[str] = (), no_scratch: list[str] = ()):
        self.graph, self.unit = graph, unit
        self.in_place, self.no_scratch = set(in_place), set(no_scratch)
        self.in_place_calls = 0
        self.steps: list[Step] = []
        self.bufs: dict[str, Lifetime] = {}
        self.holder: dict[str, str] = {}  # tensor -> key of the buffer holding it whole
        self.regions: dict[str, tuple[int, int]] = {}
        self.region_bytes: dict[str, int] = {}

    def new(self, key: str, tensor: str, dtype: str, nbytes: int, step: int, **kw) -> Lifetime:
        life = Lifetime(tensor, nbytes, step, step, key=key, dtype=dtype, item=kw.pop("item", key), **kw)
        self.bufs[key] = life
        return life

    def whole(self, tensor: str, step: int, **kw) -> Lifetime:
        t = self.graph.tensors[tensor]
        life = self.new(tensor, tensor, t.dtype, t.nbytes, step, **kw)
        self.holder[tensor] = tensor
        return life

    def fresh(self, tensor: str, step: int) -> Lifetime:
        """A tensor written at `step`: its own buffer, or its place inside the concat output it is carved from
        (allocated by whichever of its inputs is written first)."""
        if tensor not in self.graph.carved:
            return self.whole(tensor, step)
        whole, offset = self.graph.carved[tensor]
        if whole not in self.holder:
            self.whole(whole, step)
        base = self.bufs[whole]
        life = self.whole(tensor, step, alias_of=whole, item=base.item, rel=base.rel + offset)
        life.bytes = 0
        return life

    def read(self, key: str, step: int) -> None:
        life = self.bufs[key]
        life.last = max(life.last, step)
        if life.alias_of is not None and not life.inplace:  # a view keeps its base alive
            self.read(life.alias_of, step)

    def step(self, op: Op, nodes: list[str], sl: Slice | None = None, accumulate: bool = False,
             scratch: int = 0, in_place: bool = False) -> int:
        """A kernel call of `op`, with its `scratch` bytes live during it (one item per op)."""
        self.steps.append(Step(len(self.steps), op.name, op.op_type, nodes, sl, accumulate, in_place))
        s = len(self.steps) - 1
        if scratch:
            item = SCRATCH + op.name
            key = item if sl is None else f"{item}[{sl.start}:{sl.stop}]"
            self.new(key, item, "int8", scratch, s, item=item)
        return s

    def scratch(self, op: Op, split: tuple[int, int] | None = None, rows: int | None = None) -> int:
        """Scratch bytes of the calls of `op`: unsliced, a split tail's `split` = (width, channels), or a band
        of `rows` output rows; none when the schedule runs it without scratch."""
        need = None if op.name in self.no_scratch else self.graph.scratch.get(op.name)
        if need is None:
            return 0
        return need.band_bytes(rows) if rows else need.bytes() if split is None else need.split_bytes(*split)

    def unsplit(self, op: Op) -> None:
        in_place = op.name in self.in_place
        s = self.step(op, list(op.nodes), scratch=self.scratch(op), in_place=in_place)
        for t in self.graph.activation_inputs(op):
            self.read(self.holder[t], s)
        if in_place:
            self.new(TEMP + op.name, TEMP + op.name, self.graph.tensors[op.outputs[0]].dtype, temp_bytes(self.graph, op), s)
            self.in_place_calls += extra_calls(self.graph, op)
        for t in op.outputs:
            if in_place:
                base = self.holder[self.graph.activation_inputs(op)[0]]
                self.whole(t, s, alias_of=base, inplace=True, item=self.bufs[base].item)
            elif op.view:
                base = self.bufs[self.holder[self.graph.activation_inputs(op)[0]]]
                self.whole(t, s, alias_of=base.key, item=base.item, rel=base.rel).bytes = 0
            elif op.inplace:
                base = self.holder[op.inplace]
                self.whole(t, s, alias_of=base, inplace=True, item=self.bufs[base].item)
            elif not op.gathered:  # allocated with its first gathered input
                self.fresh(t, s)

    def bands(self, g: Group, height: int) -> None:
        """A band group's rounds (analysis/bands.py): a window per inner tensor inside the group's region, live
        for the whole group; the output whole from the first round."""
        graph, first = self.graph, len(self.steps)
        region = f"region:{g.id}"
        if g.overwrites is not None:  # band by band over its skip input
            base = self.holder[g.overwrites]
            out = self.whole(g.output, first, alias_of=base, inplace=True, item=self.bufs[base].item)
        else:
            out = self.fresh(g.output, first)
        rel = 0
        schedule = rounds(graph, g, height)
        for t, rows in zip(g.inner, windows(graph, g, schedule)):
            nbytes = window_bytes(graph, t, rows)
            self.new(t, t, graph.tensors[t].dtype, nbytes, first, item=region, rel=rel, window=rows)
            self.holder[t] = t
            rel += align(nbytes)  # as the group's options count it (bands.region_bytes)
        for calls in schedule:
            for call in calls:
                op = call.op
                scratch = self.scratch(op, rows=call.stop - call.start)
                s = self.step(op, list(op.nodes), Slice(call.start, call.stop, ROW), scratch=scratch)
                for t in graph.activation_inputs(op) + op.outputs:
                    self.read(self.holder[t], s)
        if g.overwrites is not None:
            out.written_until = len(self.steps) - 1
        self.regions[g.id] = (first, len(self.steps) - 1)
        self.region_bytes[region] = rel

    def split(self, group: Group, width: int) -> None:
        if group.axis == ROW:
            return self.bands(group, width)
        g, graph = group, self.graph
        first = len(self.steps)
        region = f"region:{g.id}"
        sizes = g.slice_sizes(width, self.unit)
        span = max(sizes) if len(sizes) == 1 else max(a + b for a, b in zip(sizes, sizes[1:]))
        tail = g.members[-1]
        finish = [e.name for e in tail.epilogue] + ([tail.requant] if tail.requant else [])
        if g.acc_tensor is not None:
            written = self.new(g.acc_tensor, g.acc_tensor, g.acc_dtype, g.acc_bytes, first).key
        elif g.overwrites is not None:
            base = self.holder[g.overwrites]
            written = self.whole(g.output, first, alias_of=base, inplace=True, item=self.bufs[base].item).key
        else:
            written = self.fresh(g.output, first).key
        for c0 in range(0, g.channels, width):
            sl = Slice(c0, min(c0 + width, g.channels))
            for j, op in enumerate(g.members):
                accumulate = g.tail and op is tail
                nodes = [n for n in op.nodes if not (accumulate and g.acc_tensor and n in finish)]
                s = self.step(op, nodes, sl, accumulate, self.scratch(op, (width, g.channels) if accumulate else None))
                for t in graph.activation_inputs(op):
                    self.read(f"{t}[{sl.start}:{sl.stop}]" if t in g.inner else self.holder[t], s)
                if op is tail:  # the last member writes (or accumulates into) the group's whole output
                    self.read(written, s)
                    continue
                out = op.outputs[0]
                nbytes = g.slice_bytes[j] * (sl.stop - sl.start)
                rel = 0 if j % 2 == 0 else span - align(nbytes, self.unit)
                key = f"{out}[{sl.start}:{sl.stop}]"
                self.new(key, out, graph.tensors[out].dtype, nbytes, s, slice=sl, item=region, rel=rel)
        last = len(self.steps) - 1
        if g.overwrites is not None:
            self.bufs[written].written_until = last
        if g.acc_tensor is not None:  # requantize / activate the accumulator in place
            s = self.step(tail, finish)
            self.read(g.acc_tensor, s)
            self.whole(g.output, s, alias_of=g.acc_tensor, inplace=True, item=g.acc_tensor)
        self.regions[g.id] = (first, last)
        self.region_bytes[region] = span

    def blocks(self) -> list[Block]:
        blocks = [
            Block(b.key, b.owns_from, b.last + 1, align(b.bytes, self.unit))
            for b in self.bufs.values()
            if b.item == b.key or b.inplace or b.tensor.startswith(SCRATCH)
        ]
        for gid, (first, last) in self.regions.items():
            blocks.append(Block(f"region:{gid}", first, last + 1, self.region_bytes[f"region:{gid}"]))
        return blocks


def expand(graph: Graph, schedule: Schedule, groups: dict[str, Group] | None = None, unit: int = ALIGN) -> Expanded:
    """Steps, buffers and layout blocks of `schedule` (see module docstring)."""
    b = _Builder(graph, unit, schedule.in_place, schedule.no_scratch)
    for t in graph.inputs:
        b.whole(t, 0)
    grouped = {name: groups[gid] for gid in schedule.splits for name in groups[gid].names} if groups else {}
    done: set[str] = set()
    for name in schedule.order:
        if name in done:
            continue
        if name in grouped:
            group = grouped[name]
            b.split(group, schedule.splits[group.id])
            done.update(group.names)
        else:
            b.unsplit(graph.op(name))
            done.add(name)
    end = len(b.steps) - 1
    for t in graph.outputs:
        b.read(b.holder[t], end)
    for life in b.bufs.values():  # a buffer nobody reads is freed right after its step
        life.last = max(life.last, life.first)
    return Expanded(b.steps, list(b.bufs.values()), b.blocks(), b.regions, b.in_place_calls)


def lifetimes(graph: Graph, order: Sequence[Op]) -> list[Lifetime]:
    """Buffers of an unsplit op order."""
    return expand(graph, Schedule([op.name for op in order])).buffers


def live_bytes(lives: Sequence[Lifetime], steps: int) -> list[int]:
    """Bytes live at each step (views count nothing: their base is counted)."""
    per_step = [0] * steps
    for life in lives:
        for s in range(life.owns_from, min(life.last, steps - 1) + 1):
            per_step[s] += life.bytes
    return per_step


def peak(lives: Sequence[Lifetime], steps: int) -> tuple[int, int]:
    """(LOAD, step where it occurs)."""
    per_step = live_bytes(lives, steps)
    top = max(per_step, default=0)
    return top, per_step.index(top) if per_step else 0
