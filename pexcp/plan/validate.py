"""Check a plan against its ONNX model, independently of every planner.

It reads the model itself and checks, in the model's own node and value names: buffers fit the arena and
never overlap another live buffer (views lie inside their base, inputs of a Concat written in place at their
place in its output); buffer sizes match their tensors; every computing node runs, once, or in channel
slices that cover every channel exactly once; producers run before consumers; every input of a step and
every output it writes is resident at that step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pexcp.errors import InvalidPlanError
from pexcp.importer.onnx_reader import read_model
from pexcp.layout.problem import Block, addresses_overlap, layout_problems, live_together
from pexcp.plan.plan import FORMAT, STATUSES, Buffer, Plan, Slice, Step

# ops whose output channel c depends only on input channel c (axis 1)
_CHANNELWISE = {
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus",
    "Add", "Sub", "Mul", "Div", "PRelu", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "QuantizeLinear", "DequantizeLinear", "Pad", "Identity", "Cast", "Min", "Max", "Pow", "Exp", "Log", "Sqrt",
    "Abs", "Neg", "Reciprocal",
}
# channel-wise when the axes they work along come after the channels (axis attribute, default per opset)
_ALONG_AXIS = {"Gather": 0, "ArgMax": 0, "ArgMin": 0, "Softmax": -1, "LogSoftmax": -1}
_REDUCE = {"ReduceMean", "ReduceMax", "ReduceSum"}
# recomputed inside every consumer's kernel, so it may appear in several steps
_RECOMPUTED = {"DequantizeLinear"}
# ops whose output may alias their input as a view of the same bytes (anything else aliasing is in place)
_VIEWS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"}


@dataclass
class _Model:
    nodes: dict[str, onnx.NodeProto]
    shapes: dict[str, tuple[tuple[int, ...], str]]  # value -> (shape, dtype)
    constants: set[str]  # initializers, including values folded from constant subgraphs
    initializers: dict[str, onnx.TensorProto]
    opset: int
    inputs: list[str]
    outputs: list[str]
    sha256: str

    @cached_property
    def producer(self) -> dict[str, onnx.NodeProto]:
        return {o: n for n in self.nodes.values() for o in n.output}


def _read(path: Path, plan: Plan) -> _Model:
    model, sha = read_model(path, {k: tuple(v) for k, v in plan.input_shapes.items()})
    g = model.graph  # constant-folded: folded nodes are gone and their values are initializers
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        shapes[vi.name] = (tuple(d.dim_value for d in tt.shape.dim), dtype)
    constants = {i.name for i in g.initializer}
    m = _Model(
        nodes={n.name: n for n in g.node},
        shapes=shapes,
        constants=constants,
        initializers={i.name: i for i in g.initializer},
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1),
        inputs=[i.name for i in g.input if i.name not in constants],
        outputs=[o.name for o in g.output],
        sha256=sha,
    )
    if plan.io == "int8":
        _caller_quantizes(m)
    return m


def _caller_quantizes(m: _Model) -> None:
    """A plan for `--io int8`: the QuantizeLinear that is the only reader of a float model input and the
    DequantizeLinear that writes a float model output are the caller's; their int8 sides are the model's
    inputs and outputs."""
    for i, name in enumerate(m.inputs):
        readers = [n for n in m.nodes.values() if name in n.input]
        if m.shapes[name][1] == "float32" and len(readers) == 1 and readers[0].op_type == "QuantizeLinear":
            del m.nodes[readers[0].name]
            m.inputs[i] = readers[0].output[0]
    for j, name in enumerate(m.outputs):
        node = m.producer.get(name)
        if m.shapes[name][1] == "float32" and node is not None and node.op_type == "DequantizeLinear":
            del m.nodes[node.name]
            m.outputs[j] = node.input[0]
    m.__dict__.pop("producer", None)


def _channels(m: _Model, tensor: str) -> int:
    shape = m.shapes[tensor][0]
    return shape[1] if len(shape) >= 2 else 1


def _ints(m: _Model, node: onnx.NodeProto, index: int) -> list[int] | None:
    """A constant integer input of the node (None when absent or not a constant)."""
    name = node.input[index] if index < len(node.input) else ""
    if name not in m.initializers:
        return None
    return [int(v) for v in numpy_helper.to_array(m.initializers[name]).ravel()]


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _is_channelwise(m: _Model, node: onnx.NodeProto) -> bool:
    if node.op_type in _CHANNELWISE:
        return True
    rank = len(m.shapes[node.input[0]][0]) if node.input and node.input[0] in m.shapes else 0
    same_channels = node.output[0] in m.shapes and _channels(m, node.output[0]) == _channels(m, node.input[0])
    if node.op_type in ("Conv", "ConvTranspose"):
        group = _attr(node, "group", 1)
        return group > 1 and group == _channels(m, node.input[0]) and same_channels
    if node.op_type in ("Resize", "Upsample"):  # spatial axes only: batch and channels keep their size
        return rank >= 3 and same_channels and m.shapes[node.output[0]][0][0] == m.shapes[node.input[0]][0][0]
    if node.op_type == "Slice":  # the channel axis taken whole and forwards
        if not same_channels:
            return False
        if _attr(node, "starts") is not None:
            return True
        starts, axes, steps = _ints(m, node, 1), _ints(m, node, 3), _ints(m, node, 4)
        axes = list(range(len(starts or []))) if axes is None else axes
        return all(k == 1 for a, k in zip(axes, steps or [1] * len(axes)) if a % rank == 1)
    if node.op_type in _REDUCE:
        axes = _attr(node, "axes") or _ints(m, node, 1)
        if not axes:
            return rank >= 3 and bool(_attr(node, "noop_with_empty_axes", 0))
        return rank >= 3 and all(a % rank >= 2 for a in axes)
    if node.op_type in _ALONG_AXIS:
        default = 1 if node.op_type.endswith("Softmax") and m.opset < 13 else _ALONG_AXIS[node.op_type]
        return rank >= 3 and int(_attr(node, "axis", default)) % rank >= 2
    return False


def plan_problems(plan: Plan, model_path: Path) -> list[str]:
    """Every way the plan is wrong for this model (empty when it is valid)."""
    problems = _header_problems(plan)
    try:
        m = _read(Path(model_path), plan)
    except Exception as e:  # the model itself is unreadable: nothing more can be checked
        return problems + [f"cannot read model {model_path}: {e}"]
    if plan.model_sha256 != m.sha256:
        problems.append("model_sha256 does not match the model file")
    problems += _layout_problems(plan)
    problems += _place_problems(plan, m)
    problems += _size_problems(plan, m)
    problems += _coverage_problems(plan, m)
    problems += _dependency_problems(plan, m)
    problems += _takeover_problems(plan, m)
    return problems


def validate_plan(plan: Plan, model_path: Path) -> None:
    """Raise InvalidPlanError (a bug report, not a user error) unless the plan is valid."""
    problems = plan_problems(plan, model_path)
    if problems:
        raise InvalidPlanError(problems)


def _header_problems(plan: Plan) -> list[str]:
    problems = []
    if plan.format != FORMAT:
        problems.append(f"format is {plan.format!r}, expected {FORMAT!r}")
    if plan.status not in STATUSES:
        problems.append(f"status {plan.status!r} is not one of {STATUSES}")
    if [s.index for s in plan.steps] != list(range(len(plan.steps))):
        problems.append("step indices are not 0..n-1 in order")
    if plan.lower_bound_bytes > plan.arena_bytes:
        problems.append(f"lower bound {plan.lower_bound_bytes} exceeds the arena {plan.arena_bytes}")
    if plan.status == "optimal" and plan.budget_bytes is None and plan.lower_bound_bytes != plan.arena_bytes:
        problems.append("status optimal but the arena is above the lower bound")
    if plan.budget_bytes is not None and plan.status == "optimal" and plan.arena_bytes > plan.budget_bytes:
        problems.append("status optimal with a budget, but the arena does not fit it")
    return problems


def _layout_problems(plan: Plan) -> list[str]:
    """Owners must not overlap while live. An alias (a view, or an in-place output taking over its input's
    bytes) lies inside its base's bytes, starts while the base is live, and must not overlap any buffer
    outside its own family while it is live."""
    problems = []
    by_id = {b.id: b for b in plan.buffers}
    if len(by_id) != len(plan.buffers):
        problems.append("buffer ids are not unique")
    last_step = len(plan.steps) - 1

    def family(b: Buffer) -> int:
        seen = set()
        while b.alias_of is not None and b.alias_of in by_id and b.id not in seen:
            seen.add(b.id)
            b = by_id[b.alias_of]
        return b.id

    for b in plan.buffers:
        if not (0 <= b.first_step <= b.last_step <= last_step):
            problems.append(f"buffer {b.id} ({b.tensor}) has steps [{b.first_step}, {b.last_step}] outside the schedule")
        if b.alias_of is None:
            continue
        base = by_id.get(b.alias_of)
        if base is None or family(b) == b.id:
            problems.append(f"buffer {b.id} is an alias of {b.alias_of}, which is not a buffer it can view")
            continue
        if not (base.offset <= b.offset and b.offset + b.bytes <= base.offset + base.bytes):
            problems.append(f"buffer {b.id} ({b.tensor}) lies outside the bytes of buffer {base.id} it aliases")
        if not (base.first_step <= b.first_step <= base.last_step):
            problems.append(f"buffer {b.id} ({b.tensor}) starts when buffer {base.id} whose bytes it takes is not live")
    blocks = [Block(str(b.id), b.first_step, b.last_step + 1, b.bytes, b.offset) for b in plan.buffers]
    owners = [blk for blk, b in zip(blocks, plan.buffers) if b.alias_of is None]
    for p in layout_problems(owners, plan.arena_bytes):
        problems.append(p.replace("block", "buffer"))
    roots = {b.id: family(b) for b in plan.buffers}
    for blk, b in zip(blocks, plan.buffers):
        if b.alias_of is None:
            continue
        for other, o in zip(blocks, plan.buffers):
            if roots[o.id] != roots[b.id] and live_together(blk, other) and addresses_overlap(blk, other) and blk.size and other.size:
                problems.append(
                    f"buffer {b.id} ({b.tensor}) overlaps buffer {o.id} ({o.tensor}) while both are live"
                )
    return problems


def _joined(m: _Model, tensor: str) -> tuple[list[str], bool] | None:
    """When `tensor` is the output of a Concat (in int8 QDQ models, of its QuantizeLinear): the stored tensors
    it joins, in order, and whether they are contiguous byte ranges of it (every axis before the concat axis
    has size 1). None otherwise."""
    node = m.producer.get(tensor)
    if node is not None and node.op_type == "QuantizeLinear":
        node = m.producer.get(node.input[0])
    if node is None or node.op_type != "Concat":
        return None
    stored = []
    for t in node.input:
        dq = m.producer.get(t)
        stored.append(dq.input[0] if dq is not None and dq.op_type == "DequantizeLinear" else t)
    shape = m.shapes[tensor][0]
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0) % len(shape)
    return stored, all(d == 1 for d in shape[:axis])


def _nbytes(m: _Model, tensor: str) -> int:
    shape, dtype = m.shapes[tensor]
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _place_problems(plan: Plan, m: _Model) -> list[str]:
    """An alias starts `alias_offset` bytes into its base: where the Concat puts it for an input of a Concat
    written in place into its output, at the base's start for any other alias (views, in-place outputs)."""
    problems = []
    by_id = {b.id: b for b in plan.buffers}
    for b in plan.buffers:
        base = by_id.get(b.alias_of) if b.alias_of is not None else None
        if base is None or base.tensor not in m.shapes or b.tensor not in m.shapes:
            continue  # reported by the layout and size checks
        if b.offset != base.offset + b.alias_offset:
            problems.append(f"buffer {b.id} ({b.tensor}) is not at its base's offset + alias_offset {b.alias_offset}")
        joined = _joined(m, base.tensor)
        want = 0
        if joined is not None and b.tensor in joined[0]:
            inputs, contiguous = joined
            if not contiguous:
                problems.append(f"buffer {b.id} ({b.tensor}) aliases a Concat output that interleaves its inputs")
            want = sum(_nbytes(m, t) for t in inputs[: inputs.index(b.tensor)])
        if b.alias_offset != want:
            problems.append(
                f"buffer {b.id} ({b.tensor}) starts {b.alias_offset} bytes into buffer {base.id} ({base.tensor}), "
                f"it belongs {want} bytes in"
            )
    return problems


def _size_problems(plan: Plan, m: _Model) -> list[str]:
    problems = []
    for b in plan.buffers:
        if b.tensor not in m.shapes or b.tensor in m.constants:
            problems.append(f"buffer {b.id}: {b.tensor!r} is not an activation of the model")
            continue
        shape, dtype = m.shapes[b.tensor]
        if b.dtype not in (dtype, "int32"):  # int32: partial-sum accumulator of a quantized op
            problems.append(f"buffer {b.id} ({b.tensor}) has dtype {b.dtype}, the model says {dtype}")
            continue
        numel = int(np.prod(shape, dtype=np.int64))
        if b.slice is not None:
            channels = _channels(m, b.tensor)
            if not (0 <= b.slice.start < b.slice.stop <= channels):
                problems.append(f"buffer {b.id} ({b.tensor}) slice {b.slice.start}:{b.slice.stop} outside 0:{channels}")
                continue
            numel = numel // channels * (b.slice.stop - b.slice.start)
        want = numel * np.dtype(b.dtype).itemsize
        if b.bytes != want:
            problems.append(f"buffer {b.id} ({b.tensor}) has {b.bytes} bytes, needs {want}")
    return problems


def _coverage_problems(plan: Plan, m: _Model) -> list[str]:
    problems = []
    runs: dict[str, list[Step]] = defaultdict(list)
    for step in plan.steps:
        for name in step.nodes:
            if name not in m.nodes and name not in m.constants:
                problems.append(f"step {step.index} runs {name!r}, which is not a node of the model")
            runs[name].append(step)
    for name, node in m.nodes.items():
        steps = runs.get(name, [])
        if not steps:
            problems.append(f"node {name!r} ({node.op_type}) never runs")
            continue
        if node.op_type in _RECOMPUTED:
            continue
        whole = [s for s in steps if s.slice is None]
        if whole and len(steps) > 1:
            problems.append(f"node {name!r} runs {len(steps)} times")
            continue
        if whole:
            continue
        accumulating = {s.accumulate for s in steps}
        if len(accumulating) > 1:
            problems.append(f"node {name!r} mixes accumulating and plain slices")
            continue
        # slices count channels of the step's core node (a folded Pad or BatchNormalization, an epilogue or a
        # quantize runs inside it): its output channels, or for partial sums the input channels it reduces
        core = m.nodes.get(steps[0].op, node)
        tensor = core.input[0] if steps[0].accumulate else core.output[0]
        problems += _partition_problems(name, [s.slice for s in steps], _channels(m, tensor))
    return problems


def _partition_problems(name: str, slices: list[Slice], channels: int) -> list[str]:
    covered = np.zeros(channels, dtype=np.int64)
    for s in slices:
        if not (0 <= s.start < s.stop <= channels):
            return [f"node {name!r} slice {s.start}:{s.stop} is outside its {channels} channels"]
        covered[s.start : s.stop] += 1
    missing, twice = np.flatnonzero(covered == 0), np.flatnonzero(covered > 1)
    if missing.size:
        return [f"node {name!r}: channel(s) {missing[:4].tolist()} never computed"]
    if twice.size:
        return [f"node {name!r}: channel(s) {twice[:4].tolist()} computed more than once"]
    return []


def _needed(m: _Model, step: Step, node: onnx.NodeProto, tensor: str) -> Slice | None:
    """The channels of `tensor` that `node` reads in `step`: the step's slice for channel-wise nodes and
    accumulating consumers, the whole tensor otherwise."""
    if step.slice is not None and (step.accumulate or _is_channelwise(m, node)):
        return step.slice
    return None


def _dependency_problems(plan: Plan, m: _Model) -> list[str]:
    problems = []
    writes: dict[str, list[Step]] = defaultdict(list)  # value -> steps producing (part of) it
    for step in plan.steps:
        for name in step.nodes:
            node = m.nodes.get(name)
            for o in node.output if node is not None else []:
                writes[o].append(step)
    buffers: dict[str, list[Buffer]] = defaultdict(list)
    for b in plan.buffers:
        buffers[b.tensor].append(b)
    made = {s.index: {o for n in s.nodes if n in m.nodes for o in m.nodes[n].output} for s in plan.steps}
    read_from_outside: set[str] = set()  # values some step reads without computing them itself
    for s in plan.steps:
        read_from_outside |= {t for n in s.nodes if n in m.nodes for t in m.nodes[n].input} - made[s.index]
    for step in plan.steps:
        inside = made[step.index]
        for name in step.nodes:
            node = m.nodes.get(name)
            if node is None:
                continue
            for t in node.input:
                if not t or t in m.constants or t in inside:
                    continue
                need = _needed(m, step, node, t)
                problems += _input_problems(plan, m, step, t, need, writes, buffers)
        for t in sorted(inside):
            if t in read_from_outside or t in m.outputs:
                region = None if step.accumulate else step.slice
                if not any(_holds(b, step.index, region, _channels(m, t)) for b in buffers.get(t, [])):
                    problems.append(f"step {step.index} writes {t!r} but no buffer holds it at that step")
    last = len(plan.steps) - 1
    for t in m.outputs:
        if not any(b.last_step == last for b in buffers.get(t, [])):
            problems.append(f"model output {t!r} is not resident at the last step")
    return problems


def _holds(b: Buffer, step: int, region: Slice | None, channels: int) -> bool:
    if not (b.first_step <= step <= b.last_step):
        return False
    return b.slice is None or b.slice.covers(region, channels)


def _input_problems(plan, m, step, tensor, need, writes, buffers) -> list[str]:
    problems = []
    channels = _channels(m, tensor)
    if tensor not in m.inputs:
        producers = writes.get(tensor, [])
        if not producers:
            return [f"step {step.index} reads {tensor!r}, which no step produces"]
        relevant = [p for p in producers if p.accumulate or _overlaps(p.slice, need, channels)]
        late = [p.index for p in relevant if p.index >= step.index]
        if late:
            problems.append(f"step {step.index} reads {tensor!r} before step {late[0]} produces it")
    if not any(_holds(b, step.index, need, channels) for b in buffers.get(tensor, [])):
        what = f"channels {need.start}:{need.stop} of " if need else ""
        problems.append(f"step {step.index} reads {what}{tensor!r}, which is not resident then")
    return problems


def _overlaps(a: Slice | None, b: Slice | None, channels: int) -> bool:
    lo_a, hi_a = (0, channels) if a is None else (a.start, a.stop)
    lo_b, hi_b = (0, channels) if b is None else (b.start, b.stop)
    return lo_a < hi_b and lo_b < hi_a


def _takeover_problems(plan: Plan, m: _Model) -> list[str]:
    """An in-place output overwrites its base while it is written: from its first step on, the base may be
    read only by the steps that write it, and each only where it writes (the same channel slice)."""
    problems = []
    by_id = {b.id: b for b in plan.buffers}
    for b in plan.buffers:
        base = by_id.get(b.alias_of) if b.alias_of is not None else None
        node = m.producer.get(b.tensor)
        if base is None or node is None or node.op_type in _VIEWS:
            continue
        joined = _joined(m, base.tensor)
        if joined is not None and b.tensor in joined[0]:  # written into its place in a concat: no takeover
            continue
        for step in plan.steps[b.first_step : base.last_step + 1]:
            nodes = [m.nodes[n] for n in step.nodes if n in m.nodes]
            readers = [n for n in nodes if base.tensor in n.input]
            if not readers:
                continue
            writes = any(b.tensor in n.output for n in nodes)
            same_slice = all(_needed(m, step, n, base.tensor) == step.slice for n in readers)
            if not writes or not same_slice:
                problems.append(
                    f"step {step.index} reads {base.tensor!r} after buffer {b.id} ({b.tensor}) started to "
                    f"overwrite it"
                )
    return problems
