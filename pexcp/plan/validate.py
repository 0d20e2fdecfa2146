"""Check a plan against its ONNX model, independently of every planner.

It reads the model itself and checks, in the model's own node and value names: buffers fit the arena and
never overlap another live buffer; buffer sizes match their tensors; every computing node runs, once, or in
channel slices that cover every channel exactly once; producers run before consumers; every input of a step
and every output it writes is resident at that step, in exactly one buffer. Aliases are of four kinds only:
a view (an op that moves no data) inside its input's bytes, an input of a Concat written in place at its
place in the Concat's output, or an in-place output that takes over the bytes of an input its op reads
element by element, or the output of a depthwise (pointwise) conv the plan runs in place over its input,
channel by channel (pixel by pixel) through a one-channel (one-pixel) `temp:<op>` buffer. Finally it
follows every byte through the schedule: each value a step reads must be the one its producer wrote there,
not overwritten since (by a later write, or by the same step writing over bytes it still reads; an
in-place pointwise step's writes are checked against its pixel-by-pixel access order). Kernel scratch buffers (`scratch:<op>`) are live only at steps running that op's
kernel, overlap nothing live, and hold at least the bytes the int8 kernels' fast paths need for the step's
call, computed here from the node's shapes.

The validator has its own view of ONNX operators (below, in ONNX terms), deliberately independent of the
importer's, the planners' and the backend's, so a mistake in one of those cannot hide here.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pexcp.errors import InvalidPlanError
from pexcp.importer.onnx_reader import read_model, subgraph_inputs
from pexcp.layout.problem import Block, addresses_overlap, layout_problems, live_together
from pexcp.plan.plan import FORMAT, SCRATCH, STATUSES, TEMP, Buffer, Plan, Slice, Step

# ---- the validator's view of ONNX operators ------------------------------------------------------------

# y[i] = f(x[i]) for the first input x; any further inputs are parameters (bounds, scales, zero points)
UNARY = {
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu", "Softplus",
    "Softsign", "ThresholdedRelu", "Gelu", "Mish", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor",
    "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Not", "Cast", "QuantizeLinear", "DequantizeLinear",
    "BatchNormalization",  # inference form: per-channel scale and shift
}
# y[i] = f(a[i], b[i], ...) after numpy broadcasting of every input to the output's shape
BROADCASTING = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "And", "Or", "Xor",
    "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Mod", "BitShift",
}
# the output is the input's bytes, unchanged (a Transpose is one too when it moves no data)
VIEWS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
# output channel c is computed from input channel c alone (a window over its spatial axes)
POOLS = {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
# channel-wise when the axes they work along come after the channels (axis attribute, default per opset)
ALONG_AXIS = {"Gather": 0, "ArgMax": 0, "ArgMin": 0, "Softmax": -1, "LogSoftmax": -1}
REDUCE = {"ReduceMean", "ReduceMax", "ReduceSum"}
# recomputed inside every consumer's kernel, so it may appear in several steps
RECOMPUTED = {"DequantizeLinear"}


def _attr(node: onnx.NodeProto, name: str, default=None):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


@dataclass
class _Model:
    nodes: dict[str, onnx.NodeProto]
    shapes: dict[str, tuple[tuple[int, ...], str]]  # value -> (shape, dtype)
    constants: dict[str, np.ndarray]  # initializers, including values folded from constant subgraphs
    opset: int
    inputs: list[str]
    outputs: list[str]
    sha256: str
    layouts: dict[str, tuple[int, ...]] = field(default_factory=dict)  # values stored permuted (input_layouts)

    @cached_property
    def producer(self) -> dict[str, onnx.NodeProto]:
        return {o: n for n in self.nodes.values() for o in n.output}

    @cached_property
    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.nodes)}

    @cached_property
    def reads(self) -> dict[str, list[str]]:
        """Node -> the values it reads: its inputs and the values its subgraphs read."""
        return {k: [t for t in list(n.input) + subgraph_inputs(n) if t] for k, n in self.nodes.items()}

    @cached_property
    def consumers(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = defaultdict(list)
        for k, ts in self.reads.items():
            for t in dict.fromkeys(ts):
                users[t].append(k)
        return users

    def shape(self, t: str) -> tuple[int, ...]:
        return tuple(self.constants[t].shape) if t in self.constants else self.shapes[t][0]

    @cached_property
    def canonical(self) -> dict[str, str]:
        """Value -> the value whose bytes it is: through views (see `is_view`) to the value that owns them."""
        canon: dict[str, str] = {}
        for k, n in self.nodes.items():
            for o in n.output:
                canon[o] = canon.get(n.input[0], n.input[0]) if is_view(self, n) else o
        return canon


def _read(path: Path, plan: Plan) -> _Model:
    model, sha = read_model(path, {k: tuple(v) for k, v in plan.input_shapes.items()})
    g = model.graph  # constant-folded: folded nodes are gone and their values are initializers
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        shapes[vi.name] = (tuple(d.dim_value for d in tt.shape.dim), dtype)
    constants = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    m = _Model(
        nodes={n.name: n for n in g.node},
        shapes=shapes,
        constants=constants,
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
    shape = m.shape(tensor)
    return shape[1] if len(shape) >= 2 else 1


def _elements(m: _Model, tensor: str) -> int:
    return int(np.prod(m.shape(tensor), dtype=np.int64))


def _out_shape(m: _Model, node: onnx.NodeProto) -> tuple[int, ...] | None:
    return m.shapes[node.output[0]][0] if len(node.output) == 1 and node.output[0] in m.shapes else None


def elementwise_inputs(m: _Model, node: onnx.NodeProto) -> set[str]:
    """Inputs x of `node` such that output element i depends on element i of x alone (x has the output's
    shape): the inputs the output may overwrite in place, reading each element before writing it."""
    out = _out_shape(m, node)
    if out is None or not node.input:
        return set()
    if node.op_type in UNARY or node.op_type in VIEWS:
        candidates = [node.input[0]]
    elif node.op_type in BROADCASTING:
        candidates = list(node.input)
    else:
        return set()
    return {x for x in candidates if x and x not in m.constants and m.shape(x) == out}


def channel_inputs(m: _Model, node: onnx.NodeProto) -> set[str]:
    """Activation inputs x of `node` such that output channel c (axis 1) depends on channel c of x alone:
    computing output channels [c0, c1) needs only channels [c0, c1) of x. Every other input is read whole."""
    out = _out_shape(m, node)
    if out is None or len(out) < 2 or not node.input or node.input[0] in m.constants:
        return set()
    x, t = node.input[0], node.op_type
    same = len(m.shape(x)) == len(out) and m.shape(x)[1] == out[1]
    if t in UNARY or t == "Identity" or t in POOLS:
        return {x} if same else set()
    if t in BROADCASTING:  # an input broadcast along channels (size 1, or lower rank) is read whole
        return {a for a in node.input if a and a not in m.constants and len(m.shape(a)) == len(out)
                and m.shape(a)[1] == out[1]}
    if t in ("Conv", "ConvTranspose"):  # depthwise without a channel multiplier; with one, channel c reads c // multiplier
        return {x} if same and _attr(node, "group", 1) == out[1] else set()
    if t == "Pad":
        return {x} if same and _pads_keep_channels(m, node) else set()
    rank = len(m.shape(x))
    kept = rank >= 3 and m.shape(x)[:2] == out[:2]  # batch and channels pass through (other ranks may go)
    if t in ("Resize", "Upsample"):  # resizes the spatial axes only
        return {x} if same and kept else set()
    if t == "Slice":
        return {x} if same and _slices_channels_whole(m, node, rank) else set()
    if t in REDUCE:
        axes = _attr(node, "axes") or _ints(m, node, 1)
        if not axes:  # all axes, or none with noop_with_empty_axes
            return {x} if kept and same and _attr(node, "noop_with_empty_axes", 0) else set()
        return {x} if kept and all(a % rank >= 2 for a in axes) else set()
    if t in ALONG_AXIS:
        default = 1 if t.endswith("Softmax") and m.opset < 13 else ALONG_AXIS[t]
        return {x} if kept and int(_attr(node, "axis", default)) % rank >= 2 else set()
    return set()


def _ints(m: _Model, node: onnx.NodeProto, index: int) -> list[int] | None:
    """A constant integer input of the node (None when absent or not a constant)."""
    name = node.input[index] if index < len(node.input) else ""
    return [int(v) for v in m.constants[name].ravel()] if name in m.constants else None


def _slices_channels_whole(m: _Model, node: onnx.NodeProto, rank: int) -> bool:
    """A Slice that keeps the channel count takes the channel axis whole; it must also take it forwards."""
    if _attr(node, "starts") is not None:  # opset < 10: no steps
        return True
    starts, axes, steps = _ints(m, node, 1), _ints(m, node, 3), _ints(m, node, 4)
    if starts is None or (len(node.input) > 3 and node.input[3] and axes is None) or (
            len(node.input) > 4 and node.input[4] and steps is None):
        return False
    axes = list(range(len(starts))) if axes is None else axes
    return all(k == 1 for a, k in zip(axes, steps or [1] * len(axes)) if a % rank == 1)


def _pads_keep_channels(m: _Model, node: onnx.NodeProto) -> bool:
    """A Pad adds nothing on the batch and channel axes (constant pads, any mode)."""
    rank = len(m.shape(node.input[0]))
    if _attr(node, "pads") is not None:
        pads, axes = list(_attr(node, "pads")), list(range(rank))
    else:
        if len(node.input) < 2 or node.input[1] not in m.constants:
            return False
        pads = [int(v) for v in m.constants[node.input[1]].reshape(-1)]
        axes = list(range(rank))
        if len(node.input) > 3 and node.input[3]:
            if node.input[3] not in m.constants:
                return False
            axes = [int(a) % rank for a in m.constants[node.input[3]].reshape(-1)]
    half = len(pads) // 2
    return all(not (pads[i] or pads[half + i]) for i, a in enumerate(axes) if a in (0, 1))


def accumulates(m: _Model, node: onnx.NodeProto) -> bool:
    """The node is a sum over its first input's axis 1 (a conv or transposed conv without groups, Gemm or MatMul
    of a matrix), so it can consume that input in channel slices, adding partial sums into its whole output."""
    x = node.input[0] if node.input else ""
    if not x or x in m.constants:
        return False
    if node.op_type in ("Conv", "ConvTranspose"):
        return _attr(node, "group", 1) == 1
    if node.op_type == "Gemm":
        return not _attr(node, "transA", 0)
    return node.op_type == "MatMul" and len(m.shape(x)) == 2


def _moves_no_data(shape: tuple[int, ...], perm: list[int], stored: tuple[int, ...] | None) -> bool:
    """A Transpose by `perm` of a value stored transposed by `stored` (None: as declared) leaves its bytes in
    the order the output is stored in: the axes that are not of size 1 keep their order."""
    real = [a for a in perm if shape[a] != 1]
    return real == [a for a in (stored or range(len(shape))) if shape[a] != 1]


def is_view(m: _Model, node: onnx.NodeProto) -> bool:
    """The node's output is its first input's bytes unchanged: Reshape & co. of the same element type, or a
    Transpose that moves no data (only size-1 axes move, or the input is stored already transposed)."""
    if len(node.output) != 1 or not node.input or node.input[0] in m.constants or node.input[0] not in m.shapes:
        return False
    src, dst = m.shapes[node.input[0]], m.shapes.get(node.output[0])
    if dst is None or src[1] != dst[1]:
        return False
    if node.op_type in VIEWS:
        return True
    if node.op_type == "Transpose":
        perm = list(_attr(node, "perm", list(reversed(range(len(src[0]))))))
        return _moves_no_data(src[0], perm, m.layouts.get(node.input[0]))
    return False


# ---- entry points --------------------------------------------------------------------------------------


def plan_problems(plan: Plan, model_path: Path) -> list[str]:
    """Every way the plan is wrong for this model (empty when it is valid)."""
    problems = _header_problems(plan)
    try:
        m = _read(Path(model_path), plan)
    except Exception as e:  # the model itself is unreadable: nothing more can be checked
        return problems + [f"cannot read model {model_path}: {e}"]
    if plan.model_sha256 != m.sha256:
        problems.append("model_sha256 does not match the model file")
    problems += _layout_input_problems(plan, m)
    problems += _step_problems(plan, m)
    problems += _layout_problems(plan)
    problems += _size_problems(plan, m)
    problems += _scratch_problems(plan, m)
    problems += _in_place_problems(plan, m)
    problems += _alias_problems(plan, m)
    problems += _coverage_problems(plan, m)
    problems += _holder_problems(plan, m)
    problems += _dataflow_problems(plan, m)
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


# ---- input layouts -------------------------------------------------------------------------------------


def _layout_input_problems(plan: Plan, m: _Model) -> list[str]:
    """`input_layouts` says a model input is stored transposed. Only ops that compute each element alone
    (with scalar parameters), and constant Pads, may read such a value (their output is stored the same
    way); a Transpose by the same permutation turns it back into the declared layout without moving data.
    Anything else would read the bytes in the wrong order."""
    problems = []
    for name, perm in plan.input_layouts.items():
        if name not in m.inputs or sorted(perm) != list(range(len(m.shape(name)))):
            problems.append(f"input_layouts: {name!r} is not a model input of that rank, or {perm} is not a "
                            f"permutation")
        else:
            m.layouts[name] = tuple(perm)
    for k, node in m.nodes.items():  # the file's order is topological
        permuted = [t for t in node.input if t in m.layouts]
        if not permuted:
            continue
        perm = m.layouts[permuted[0]]
        params_scalar = all(t in m.constants and m.constants[t].size == 1 for t in node.input[1:] if t)
        if node.op_type in UNARY and params_scalar and len(node.output) == 1:
            m.layouts[node.output[0]] = perm
        elif node.op_type == "Pad" and node.input[0] in m.layouts and all(t in m.constants for t in node.input[1:] if t):
            # the importer stores the pads permuted with the input; the backend pads what is stored
            m.layouts[node.output[0]] = perm
        elif not (node.op_type == "Transpose" and is_view(m, node)):
            problems.append(f"{permuted[0]!r} is stored transposed (input_layouts), but node {k!r} ({node.op_type}) "
                            f"reads it in its declared layout")
    problems += [f"model output {t!r} would be stored transposed (input_layouts)" for t in m.outputs if t in m.layouts]
    return problems


# ---- steps ---------------------------------------------------------------------------------------------


@dataclass
class _Access:
    """What one step reads and writes across its boundary: value -> channels (None: all of it)."""

    reads: dict[str, Slice | None]
    writes: dict[str, Slice | None]


def _union(a: Slice | None, b: Slice | None) -> Slice | None:
    if a is None or b is None:
        return None
    return Slice(min(a.start, b.start), max(a.stop, b.stop), a.axis)


def _read_from_outside(plan: Plan, m: _Model) -> set[str]:
    """Values some step reads without computing them itself: they must be stored between steps."""
    found: set[str] = set()
    for s in plan.steps:
        names = [n for n in s.nodes if n in m.nodes]
        made = {o for n in names for o in m.nodes[n].output}
        found |= {t for n in names for t in m.reads[n]} - made
    return found


ROW = "row"
WINDOWED = {"Conv", "MaxPool", "AveragePool"}  # output row y reads a window of input rows (axis 2)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def row_window(m: _Model, node: onnx.NodeProto) -> tuple[int, int, int, int] | None:
    """(span, stride, top pad, input rows) of a 2-D Conv or pool along axis 2, from its own attributes: output
    row y reads input rows [y stride - pad, y stride - pad + span) clipped to the input. None: not 2-D."""
    x, y = m.shape(node.input[0]), _out_shape(m, node)
    if y is None or len(x) != 4 or len(y) != 4:
        return None
    if node.op_type == "Conv":
        w = m.shape(node.input[1]) if len(node.input) > 1 and node.input[1] in m.constants else None
        if w is None or len(w) != 4:
            return None
        k = w[2]
    else:
        k = list(_attr(node, "kernel_shape", [1, 1]))[0]
    stride = list(_attr(node, "strides", [1, 1]))[0]
    dil = list(_attr(node, "dilations", [1, 1]))[0]
    span = (k - 1) * dil + 1
    auto = _text(_attr(node, "auto_pad", "NOTSET"))
    if auto in ("NOTSET", ""):
        pad = list(_attr(node, "pads", [0, 0, 0, 0]))[0]
    elif auto == "VALID":
        pad = 0
    else:
        total = max(0, (y[2] - 1) * stride + span - x[2])
        pad = total // 2 if auto == "SAME_UPPER" else total - total // 2
    return span, stride, pad, x[2]


def _pad_top(m: _Model, node: onnx.NodeProto) -> int | None:
    """Rows a constant Pad adds above stored axis 2 of a 4-D value (None: pads not constant, or not 4-D)."""
    x = node.input[0]
    if len(m.shape(x)) != 4:
        return None
    axis = m.layouts[x][2] if x in m.layouts else 2  # the declared axis stored as axis 2
    if _attr(node, "pads") is not None:
        return list(_attr(node, "pads"))[axis]
    if len(node.input) > 2 and node.input[2]:
        return None  # explicit axes: not worth following
    if len(node.input) < 2 or node.input[1] not in m.constants:
        return None
    return int(m.constants[node.input[1]].reshape(-1)[axis])


def input_rows(m: _Model, node: onnx.NodeProto, t: str, rows: Slice) -> Slice | None:
    """The rows of input `t` that `node` reads to compute rows `rows` of its output (axis 2); None when it
    does not compute output rows from rows of `t` (then it needs all of `t`)."""
    if len(node.output) != 1 or node.output[0] not in m.shapes:
        return None
    out = stored_shape(m, node.output[0])  # rows are axis 2 of what is stored
    if len(out) != 4 or len(stored_shape(m, t)) != 4:
        return None
    if node.op_type in WINDOWED and t == node.input[0] and t not in m.layouts:
        window = row_window(m, node)
        if window is None:
            return None
        span, stride, pad, height = window
        lo = max(0, rows.start * stride - pad)
        return Slice(lo, max(lo, min(height, (rows.stop - 1) * stride - pad + span)), ROW)
    if node.op_type == "Pad" and t == node.input[0]:
        top = _pad_top(m, node)
        if top is None:
            return None
        height = stored_shape(m, t)[2]
        lo = min(max(0, rows.start - top), height)
        return Slice(lo, max(lo, min(height, rows.stop - top)), ROW)
    if t in elementwise_inputs(m, node) and stored_shape(m, t) == out:
        return rows
    if node.op_type == "Transpose" and t in m.layouts and is_view(m, node) and stored_shape(m, t) == out:
        return rows  # the declared layout of a value stored transposed: its stored rows
    return None


def stored_shape(m: _Model, t: str) -> tuple[int, ...]:
    """The shape of `t` as its bytes hold it: permuted by its `input_layouts` entry, if any."""
    shape = m.shape(t)
    return tuple(shape[i] for i in m.layouts[t]) if t in m.layouts else shape


def _row_access(m: _Model, step: Step, stored: set[str]) -> _Access:
    """`_access` for a step computing rows [a, b) (axis 2) of its outputs: each node needs the rows of its
    inputs its outputs' rows read (`input_rows`), anything else whole."""
    nodes = sorted((m.nodes[n] for n in dict.fromkeys(step.nodes) if n in m.nodes), key=lambda n: m.order[n.name])
    made = {o for n in nodes for o in n.output if o}
    need: dict[str, Slice | None] = {}
    writes: dict[str, Slice | None] = {}
    for node in reversed(nodes):
        region: Slice | None = None
        for o in node.output:
            if o and (o in stored or o in m.outputs or not m.consumers.get(o)):
                writes[o] = step.slice
            for r in ([step.slice] if o in writes else []) + ([need[o]] if o in need else []):
                region = r if region is None else _union(region, r)
        for t in m.reads[node.name]:
            if t in m.constants:
                continue
            r = input_rows(m, node, t, region) if region is not None else None
            need[t] = r if t not in need else (None if r is None or need[t] is None else _union(need[t], r))
    return _Access({t: r for t, r in need.items() if t not in made}, writes)


def _access(m: _Model, step: Step, stored: set[str]) -> _Access:
    """The values a step reads and the channels it needs of each, found backwards from what it writes: a
    sliced step writes channels [c0, c1) of its outputs (an accumulating one, whole outputs, reading channels
    [c0, c1) of its core's first input); an input read channel-wise by a node needs the channels the node
    computes, any other input is needed whole."""
    if step.slice is not None and step.slice.axis == ROW:
        return _row_access(m, step, stored)
    nodes = sorted((m.nodes[n] for n in dict.fromkeys(step.nodes) if n in m.nodes), key=lambda n: m.order[n.name])
    made = {o for n in nodes for o in n.output if o}
    written: Slice | None = None if step.accumulate else step.slice
    need: dict[str, Slice | None] = {}
    writes: dict[str, Slice | None] = {}
    for node in reversed(nodes):
        region: Slice | None | bool = False  # False: nothing needed yet
        for o in node.output:
            if not o:
                continue
            if o in stored or o in m.outputs or not m.consumers.get(o):
                writes[o] = written
                region = written if region is False else _union(region, written)
            if o in need:
                region = need[o] if region is False else _union(region, need[o])
        if region is False:
            region = written
        sliced_input = node.input[0] if step.accumulate and node.name == step.op and node.input else None
        channelwise = channel_inputs(m, node) if step.slice is not None else set()
        for t in m.reads[node.name]:
            if t in m.constants:
                continue
            if t == sliced_input:
                r = step.slice
            elif t in channelwise:
                r = region
            else:
                r = None
            need[t] = r if t not in need else _union(need[t], r)
    reads = {t: r for t, r in need.items() if t not in made}
    return _Access(reads, writes)


def _step_problems(plan: Plan, m: _Model) -> list[str]:
    """Each step names its core node (`op`, `kernel`); an accumulating step's core sums over input channels."""
    problems = []
    accumulated = {s.op for s in plan.steps if s.accumulate}
    for step in plan.steps:
        core = m.nodes.get(step.op)
        finishing = step.slice is None and step.op in accumulated  # the epilogue of completed partial sums
        if core is None or (step.op not in step.nodes and not finishing):
            problems.append(f"step {step.index}: op {step.op!r} is not one of the nodes it runs")
            continue
        if step.kernel != core.op_type:
            problems.append(f"step {step.index}: kernel {step.kernel!r}, but node {step.op!r} is a {core.op_type}")
        if step.accumulate and (step.slice is None or not accumulates(m, core)):
            problems.append(f"step {step.index} accumulates, but {step.op!r} ({core.op_type}) cannot sum "
                            f"partial results over slices of its input channels")
        touched = [t for n in step.nodes if n in m.nodes for t in list(m.reads[n]) + list(m.nodes[n].output)]
        if step.slice is not None and step.slice.axis == ROW:
            problems += _row_step_problems(m, step, core)
            continue
        if step.slice is not None and step.slice.axis != "channel":
            problems.append(f"step {step.index} has a slice along {step.slice.axis!r}: only channel and row")
            continue
        if step.slice is not None and any(t in m.layouts for t in touched):
            problems.append(f"step {step.index} runs in channel slices on a value stored transposed")
        if step.slice is not None:
            shape = m.shape(core.input[0] if step.accumulate else core.output[0])
            if len(shape) < 2 or any(d != 1 for d in shape[:1]):
                problems.append(f"step {step.index} slices a value whose channels are not contiguous (batch > 1)")
    return problems


def _row_step_problems(m: _Model, step: Step, core: onnx.NodeProto) -> list[str]:
    """A step computing a band of rows runs whole ops of batch-1 4-D values whose output rows come from rows
    of their inputs (windows, pads, elementwise nodes, a Transpose back from a stored layout)."""
    where = f"step {step.index} computes rows {step.slice.start}:{step.slice.stop}"
    shape = _out_shape(m, core)
    if step.accumulate or step.in_place:
        return [f"{where} and also accumulates or runs in place"]
    if shape is None or len(shape) != 4 or shape[0] != 1:
        return [f"{where} of {core.op_type} {core.name!r}, whose output is not a batch-1 4-D value"]
    if not 0 <= step.slice.start < step.slice.stop <= shape[2]:
        return [f"{where}, outside the {shape[2]} rows of {core.name!r}"]
    for name in step.nodes:
        node = m.nodes.get(name)
        if node is None:
            continue
        rowwise = [t for t in m.reads[name] if t not in m.constants and input_rows(m, node, t, step.slice) is not None]
        if len(rowwise) != len([t for t in m.reads[name] if t not in m.constants]):
            return [f"{where}, but node {name!r} ({node.op_type}) does not compute rows from rows of its inputs"]
    return []


# ---- buffers -------------------------------------------------------------------------------------------


def _family_root(by_id: dict[int, Buffer], b: Buffer) -> int:
    seen = set()
    while b.alias_of is not None and b.alias_of in by_id and b.id not in seen:
        seen.add(b.id)
        b = by_id[b.alias_of]
    return b.id


def _layout_problems(plan: Plan) -> list[str]:
    """Owners must not overlap while live. An alias lies inside its base's bytes, starts while the base is
    live, and must not overlap any buffer outside its own family (a base and all its aliases) while live."""
    problems = []
    by_id = {b.id: b for b in plan.buffers}
    if len(by_id) != len(plan.buffers):
        problems.append("buffer ids are not unique")
    last_step = len(plan.steps) - 1
    for b in plan.buffers:
        if not (0 <= b.first_step <= b.last_step <= last_step):
            problems.append(f"buffer {b.id} ({b.tensor}) has steps [{b.first_step}, {b.last_step}] outside the schedule")
        if b.alias_of is None:
            continue
        base = by_id.get(b.alias_of)
        if base is None or _family_root(by_id, b) == b.id:
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
    roots = {b.id: _family_root(by_id, b) for b in plan.buffers}
    for blk, b in zip(blocks, plan.buffers):
        if b.alias_of is None:
            continue
        for other, o in zip(blocks, plan.buffers):
            if roots[o.id] != roots[b.id] and live_together(blk, other) and addresses_overlap(blk, other) and blk.size and other.size:
                problems.append(f"buffer {b.id} ({b.tensor}) overlaps buffer {o.id} ({o.tensor}) while both are live")
    return problems


def _size_problems(plan: Plan, m: _Model) -> list[str]:
    problems = []
    for b in plan.buffers:
        if b.tensor.startswith((SCRATCH, TEMP)):
            continue  # _scratch_problems, _in_place_problems
        if b.tensor not in m.shapes or b.tensor in m.constants:
            problems.append(f"buffer {b.id}: {b.tensor!r} is not an activation of the model")
            continue
        shape, dtype = m.shapes[b.tensor]
        if b.dtype not in (dtype, "int32"):  # int32: partial-sum accumulator of a quantized op
            problems.append(f"buffer {b.id} ({b.tensor}) has dtype {b.dtype}, the model says {dtype}")
            continue
        numel = int(np.prod(shape, dtype=np.int64))
        if b.window:
            if (len(shape) != 4 or shape[0] != 1 or b.tensor in m.layouts
                    or b.slice is not None or b.alias_of is not None):
                problems.append(f"buffer {b.id} ({b.tensor}) is a window of rows of a value that is not batch-1 4-D "
                                f"in its declared layout, or also a slice or an alias")
                continue
            if not 0 < b.window <= shape[2]:
                problems.append(f"buffer {b.id} ({b.tensor}) is a window of {b.window} rows of {shape[2]}")
                continue
            numel = numel // shape[2] * b.window
        elif b.slice is not None:
            channels = _channels(m, b.tensor)
            if not (0 <= b.slice.start < b.slice.stop <= channels):
                problems.append(f"buffer {b.id} ({b.tensor}) slice {b.slice.start}:{b.slice.stop} outside 0:{channels}")
                continue
            if len(shape) < 2 or shape[0] != 1 or b.tensor in m.layouts:
                problems.append(f"buffer {b.id} ({b.tensor}) holds a channel slice, which is not contiguous there")
                continue
            numel = numel // channels * (b.slice.stop - b.slice.start)
        want = numel * np.dtype(b.dtype).itemsize
        if b.bytes != want:
            problems.append(f"buffer {b.id} ({b.tensor}) has {b.bytes} bytes, needs {want}")
    return problems


# ---- kernel scratch ------------------------------------------------------------------------------------

DW_MAX_KH = 16  # the depthwise fast path's tallest window
DW_PLANE_EXTRA = 256  # the bytes beyond its ring it spends to keep all of a small map's rows
PW_MAX_K, PW_MAX_BLOCK = 48, 32  # the pointwise fast path's widest reduction and largest block of pixels


def _ceil4(n: int) -> int:
    return (n + 3) // 4 * 4


def _ceil2(n: int) -> int:
    return (n + 1) // 2 * 2


def scratch_need(m: _Model, node: onnx.NodeProto, inputs: int | None, rows: int | None = None) -> int | None:
    """Bytes of scratch the C backend's int8 fast path for `node` works in, for a call over `inputs` of its
    input channels (None: all) computing `rows` rows of its output (None: all of them, out_h below); None for
    a node whose kernel has no scratch. The rule (docs/plan-format.md):
    Conv: depthwise (group = input channels > 1, no dilation, k_h <= 16) 4 k_h ceil(k_w/2) + 4 n + 2 (L + 1) W
    with n = out_w rounded up to even, W = (n - 1) stride_w + 2 ceil(k_w/2), R = (out_h - 1) stride_h + k_h (out_h:
    `rows` when given) and
    L = R if 2 (R - k_h - 1) W <= 256, else k_h; 0 otherwise; full or grouped
    4 ceil4(k k_h k_w / group), and for a 1x1 kernel with group 1 at least B (2 k + 4) where the pointwise
    block B (k a multiple of 4, k <= 48) is the largest multiple of 4 up to 32 with B (2 k + 4) <= 1536.
    MatMul/Gemm: 2 ceil4(k)."""
    if node.op_type == "Conv":
        x, w, y = m.shape(node.input[0]), m.shape(node.input[1]), m.shape(node.output[0])
        k = list(w[2:]) if len(w) > 3 else [1] + list(w[2:])
        k_h, k_w = k[0], k[1]
        group, channels = _attr(node, "group", 1), x[1]
        if group == channels > 1:
            dil = list(_attr(node, "dilations", [1] * (len(w) - 2)))
            if any(d != 1 for d in dil) or k_h > DW_MAX_KH:
                return 0
            strides = list(_attr(node, "strides", [1] * (len(w) - 2)))
            stride_h, stride_w = (strides[0] if len(strides) > 1 else 1), strides[-1]
            pairs = (k_w + 1) // 2
            n = _ceil2(y[-1])
            width = (n - 1) * stride_w + 2 * pairs
            span = ((rows or (y[-2] if len(y) > 3 else 1)) - 1) * stride_h + k_h
            lines = span if 2 * (span - k_h - 1) * width <= DW_PLANE_EXTRA else k_h
            return 4 * k_h * pairs + 4 * n + 2 * (lines + 1) * width
        reduce = (inputs or channels // group) * k_h * k_w
        need = 4 * _ceil4(reduce)
        if group == 1 and k_h == k_w == 1 and reduce % 4 == 0 and reduce <= PW_MAX_K:
            block = min(PW_MAX_BLOCK, 1536 // (2 * reduce + 4) // 4 * 4)
            if block >= 4:
                need = max(need, block * (2 * reduce + 4))
        return need
    if node.op_type in ("MatMul", "Gemm"):
        return 2 * _ceil4(inputs or m.shape(node.input[0])[-1])
    return None


def _scratch_problems(plan: Plan, m: _Model) -> list[str]:
    """A `scratch:<op>` buffer is the working memory of node <op>'s kernel calls: owned (no alias, no slice),
    live only at steps that call that kernel (not the step finishing an accumulator), one per step, and at
    least as large as every call it serves needs (`scratch_need`). Overlaps are checked with every buffer."""
    problems = []
    accumulated = {s.op for s in plan.steps if s.accumulate}
    seen: dict[tuple[str, int], int] = {}
    for b in plan.buffers:
        if not b.tensor.startswith(SCRATCH):
            continue
        name = b.tensor[len(SCRATCH):]
        node = m.nodes.get(name)
        what = f"scratch buffer {b.id} ({b.tensor})"
        if node is None:
            problems.append(f"{what}: {name!r} is not a node of the model")
            continue
        if b.alias_of is not None or b.slice is not None or b.dtype != "int8":
            problems.append(f"{what} aliases another buffer, holds a slice, or is not int8 bytes")
        for s in range(max(b.first_step, 0), min(b.last_step, len(plan.steps) - 1) + 1):
            step = plan.steps[s]
            if step.op != name or (step.slice is None and name in accumulated):
                problems.append(f"{what} is live at step {s}, which does not call {name!r}'s kernel")
                continue
            if (name, s) in seen:
                problems.append(f"{what} and buffer {seen[name, s]} are both {name!r}'s scratch at step {s}")
            seen[name, s] = b.id
            inputs = step.slice.stop - step.slice.start if step.accumulate and step.slice else None
            rows = step.slice.stop - step.slice.start if step.slice is not None and step.slice.axis == ROW else None
            need = scratch_need(m, node, inputs, rows)
            if need is None:
                problems.append(f"{what}: {node.op_type} {name!r} has no kernel scratch")
            elif b.bytes < need:
                problems.append(f"{what} has {b.bytes} bytes, the call at step {s} needs {need}")
    return problems


# ---- in-place depthwise and pointwise convs -----------------------------------------------------------


def _channel_path(m: _Model, names: list[str], src: str, dst: str, pads: bool = False) -> bool:
    """`dst` is `src`, or made from it by a chain of nodes among `names` that keep each channel apart: unary
    nodes (a dequantize, an activation, a quantize) and, with `pads`, Pads that add nothing on the batch or
    channel axes (a folded spatial Pad)."""
    t, seen = src, set()
    while t != dst:
        nxt = [m.nodes[n] for n in names if m.nodes[n].input[:1] == [t] and len(m.nodes[n].output) == 1 and (
            m.nodes[n].op_type in UNARY and _elements(m, m.nodes[n].output[0]) == _elements(m, t)
            or pads and m.nodes[n].op_type == "Pad" and t in channel_inputs(m, m.nodes[n]))]
        if len(nxt) != 1 or t in seen:
            return False
        seen.add(t)
        t = nxt[0].output[0]
    return True


def dw_in_place_values(m: _Model, step: Step) -> tuple[str, str] | None:
    """For a step whose core is a depthwise conv without channel multiplier (group = input channels = output
    channels, batch 1): (the stored value it reads, the stored value it writes), joined to the conv by nodes
    of the step that keep channels apart (unary nodes, and before the conv spatial Pads). None for any other
    step."""
    core = m.nodes.get(step.op)
    if core is None or core.op_type != "Conv" or not core.input or core.input[0] in m.constants:
        return None
    x, y = core.input[0], core.output[0]
    sx, sy = m.shape(x), m.shape(y)
    if len(sx) < 3 or len(sy) != len(sx) or sx[0] != 1 or not (_attr(core, "group", 1) == sx[1] == sy[1]):
        return None
    names = [n for n in dict.fromkeys(step.nodes) if n in m.nodes]
    made = {o for n in names for o in m.nodes[n].output}
    reads = [t for n in names for t in m.reads[n] if t not in made and t not in m.constants]
    src = next((t for t in dict.fromkeys(reads) if _channel_path(m, names, t, x, pads=True)), None)
    dst = next((t for t in made if _channel_path(m, names, y, t) and (t in m.outputs or m.consumers.get(t))
                and not any(_channel_path(m, names, t, u) and u != t for u in made)), None)
    return None if src is None or dst is None else (src, dst)


def pw_in_place_values(m: _Model, step: Step) -> tuple[str, str] | None:
    """For a step whose core is a pointwise conv (1x1 kernel, strides 1, no pads, one group, batch 1) keeping
    the spatial size with no more output than input channels: (the stored value it reads, the stored value it
    writes), joined to the conv by unary nodes of the step. None for any other step."""
    core = m.nodes.get(step.op)
    if core is None or core.op_type != "Conv" or len(core.input) < 2 or core.input[0] in m.constants:
        return None
    x, y, w = core.input[0], core.output[0], core.input[1]
    sx, sy = m.shape(x), m.shape(y)
    kernel = m.constants[w].shape[2:] if w in m.constants else m.shape(w)[2:]
    if (len(sx) < 3 or len(sy) != len(sx) or sx[0] != 1 or _attr(core, "group", 1) != 1 or sx[2:] != sy[2:]
            or sy[1] > sx[1] or any(k != 1 for k in kernel) or any(_attr(core, "pads", []))
            or any(s != 1 for s in _attr(core, "strides", []))):
        return None
    names = [n for n in dict.fromkeys(step.nodes) if n in m.nodes]
    made = {o for n in names for o in m.nodes[n].output}
    reads = [t for n in names for t in m.reads[n] if t not in made and t not in m.constants]
    src = next((t for t in dict.fromkeys(reads) if _channel_path(m, names, t, x)), None)
    dst = next((t for t in made if _channel_path(m, names, y, t) and (t in m.outputs or m.consumers.get(t))
                and not any(_channel_path(m, names, t, u) and u != t for u in made)), None)
    return None if src is None or dst is None else (src, dst)


def in_place_values(m: _Model, step: Step) -> tuple[str, str, str] | None:
    """(read value, written value, "channel" or "pixel": the unit it runs by) of a step that may run in place:
    a depthwise conv channel by channel, a pointwise conv pixel by pixel (a one-channel 1x1 conv is both: it
    runs by pixel, as the planners' memory model has it). None for any other step."""
    pair = pw_in_place_values(m, step)
    if pair is not None:
        return (*pair, "pixel")
    pair = dw_in_place_values(m, step)
    return None if pair is None else (*pair, "channel")


def _in_place_problems(plan: Plan, m: _Model) -> list[str]:
    """A step marked `in_place` is a depthwise conv (no channel multiplier, batch 1, channels contiguous)
    that writes output channel c, computed into the one-channel temporary `temp:<op>`, over its input once
    input channel c is consumed, or a pointwise conv (1x1, stride 1, no pads, one group, no more output than
    input channels) that writes output pixel p, computed into the one-pixel temporary, over its input once
    pixel p is read (with channels planar, output element (c, p) covers input element (c, p) only): its
    output buffer is an alias of its input's buffer (same start, elements of
    the same size, no more bytes), the input dies at that step, and the temporary is an owned buffer live at
    exactly that step holding at least one output channel (pixel). A `temp:` buffer serves such a step only."""
    problems = []
    temps: dict[str, list[Buffer]] = defaultdict(list)
    for b in plan.buffers:
        if b.tensor.startswith(TEMP):
            temps[b.tensor[len(TEMP):]].append(b)
    by_id = {b.id: b for b in plan.buffers}
    served: set[int] = set()
    for step in plan.steps:
        if not step.in_place:
            continue
        what = f"step {step.index} runs {step.op!r} in place"
        found = in_place_values(m, step)
        if found is None or step.slice is not None or step.accumulate:
            problems.append(f"{what}, but it is not a whole depthwise conv without channel multiplier, nor a "
                            "whole pointwise conv with no more output than input channels")
            continue
        src, dst, unit = found
        if src in m.layouts or dst in m.layouts:
            problems.append(f"{what} on a value stored transposed")
            continue
        outs = [b for b in plan.buffers if b.tensor == dst and b.first_step == step.index]
        out = outs[0] if len(outs) == 1 else None
        base = by_id.get(out.alias_of) if out is not None and out.alias_of is not None else None
        if out is None or base is None or base.tensor != src:
            problems.append(f"{what}, but its output {dst!r} is not a buffer aliasing the buffer of its input {src!r}")
            continue
        if (out.alias_offset or out.slice is not None or base.slice is not None or out.bytes > base.bytes
                or np.dtype(out.dtype).itemsize != np.dtype(base.dtype).itemsize):
            problems.append(f"{what}, but its output is not at its input's start with elements of its size and "
                            f"no more bytes")
        if base.last_step != step.index:
            problems.append(f"{what}, but its input {src!r} (buffer {base.id}) is live after it")
        channels = _channels(m, dst)
        need = out.bytes // channels if unit == "channel" else out.bytes // (_elements(m, dst) // channels)
        mine = [t for t in temps.get(step.op, []) if t.first_step <= step.index <= t.last_step]
        if len(mine) != 1:
            problems.append(f"{what} with {len(mine)} temporary buffers {TEMP}{step.op} live there, not one")
            continue
        temp = mine[0]
        served.add(temp.id)
        if temp.first_step != temp.last_step or temp.alias_of is not None or temp.slice is not None:
            problems.append(f"temporary buffer {temp.id} ({temp.tensor}) is not an owned buffer live at one step")
        if temp.bytes < need:
            problems.append(f"temporary buffer {temp.id} ({temp.tensor}) has {temp.bytes} bytes, one output {unit} "
                            f"of {dst!r} needs {need}")
    for bufs in temps.values():
        for b in bufs:
            if b.id not in served:
                problems.append(f"temporary buffer {b.id} ({b.tensor}) serves no step running that node in place")
    return problems


def _joined(m: _Model, tensor: str) -> tuple[list[str], bool] | None:
    """When `tensor` is the output of a Concat (in int8 QDQ models, of its QuantizeLinear): the stored tensors
    it joins, in order, and whether each is an unchanged byte range of it (every axis before the concat axis
    has size 1, and no element changes: same type, and in QDQ models the same scale and zero point on both
    sides). None otherwise."""
    node = m.producer.get(tensor)
    quant = None
    if node is not None and node.op_type == "QuantizeLinear":
        quant, node = node, m.producer.get(node.input[0])
    if node is None or node.op_type != "Concat":
        return None
    stored, unchanged = [], True
    for t in node.input:
        dq = m.producer.get(t)
        if dq is not None and dq.op_type == "DequantizeLinear":
            stored.append(dq.input[0])
            unchanged &= quant is not None and _same_params(m, dq, quant)
        else:
            stored.append(t)
            unchanged &= quant is None
        unchanged &= stored[-1] in m.shapes and m.shapes[stored[-1]][1] == m.shapes[tensor][1]
    shape = m.shapes[tensor][0]
    axis = _attr(node, "axis", 0) % len(shape)
    return stored, unchanged and all(d == 1 for d in shape[:axis])


def _same_params(m: _Model, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Two quantize/dequantize nodes use equal constant scales and zero points (and axis)."""
    pa, pb = list(a.input[1:]), list(b.input[1:])
    if len(pa) != len(pb) or _attr(a, "axis", 1) != _attr(b, "axis", 1):
        return False
    return all(x in m.constants and y in m.constants and np.array_equal(m.constants[x], m.constants[y])
               for x, y in zip(pa, pb) if x or y)


def _nbytes(m: _Model, tensor: str) -> int:
    shape, dtype = m.shapes[tensor]
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _writers(plan: Plan, m: _Model, tensor: str) -> list[Step]:
    return [s for s in plan.steps if any(n in m.nodes and tensor in m.nodes[n].output for n in s.nodes)]


def _derived_elementwise(m: _Model, steps: list[Step], src: str, dst: str) -> bool:
    """`dst` is computed from `src` by nodes of `steps`, each reading its input on the way element by element
    (elementwise, same shape), and every node of those steps that reads `src` or a value derived from it does
    so element by element: the steps may write `dst` over `src`."""
    if not steps:
        return False
    names = {n for s in steps for n in s.nodes if n in m.nodes}
    nodes = sorted((m.nodes[n] for n in names), key=lambda n: m.order[n.name])
    derived = {src}
    for node in nodes:
        reached = derived & set(m.reads[node.name])
        if not reached:
            continue
        if not reached <= elementwise_inputs(m, node) or len(node.output) != 1:
            return False
        derived.add(node.output[0])
    return dst in derived


def _alias_problems(plan: Plan, m: _Model) -> list[str]:
    """Every alias is one of four kinds, at its place in its base (`offset` = base's + `alias_offset`):
    - a view: its value is made by a view op (see `is_view`) from its base's value; the same bytes, offset 0;
    - a part of a Concat's output: an input of the Concat written at its place in the output (the Concat must
      join contiguous byte ranges: every axis before the concat axis has size 1);
    - an in-place output: computed from its base's value element by element (each node on the way reads
      it elementwise, the output has the same elements, each no larger), offset 0;
    - the output of a depthwise or pointwise conv run in place over its input (see `_in_place_problems`).
    """
    problems = []
    by_id = {b.id: b for b in plan.buffers}
    for b in plan.buffers:
        base = by_id.get(b.alias_of) if b.alias_of is not None else None
        if base is None or base.tensor not in m.shapes or b.tensor not in m.shapes:
            continue  # reported by the layout and size checks
        if b.offset != base.offset + b.alias_offset:
            problems.append(f"buffer {b.id} ({b.tensor}) is not at its base's offset + alias_offset {b.alias_offset}")
        joined = _joined(m, base.tensor)
        producer = m.producer.get(b.tensor)
        what = f"buffer {b.id} ({b.tensor}) aliases buffer {base.id} ({base.tensor})"
        if joined is not None and b.tensor in joined[0]:
            inputs, contiguous = joined
            if not contiguous:
                problems.append(f"{what}, a Concat output that interleaves or converts its inputs")
            want = sum(_nbytes(m, t) for t in inputs[: inputs.index(b.tensor)])
            if b.alias_offset != want or b.slice is not None or base.slice is not None:
                problems.append(f"buffer {b.id} ({b.tensor}) starts {b.alias_offset} bytes into buffer {base.id} "
                                f"({base.tensor}), it belongs {want} bytes in (whole)")
        elif producer is not None and is_view(m, producer) and producer.input[0] == base.tensor:
            if b.alias_offset != 0 or b.bytes != base.bytes or b.slice != base.slice or b.dtype != base.dtype:
                problems.append(f"{what} as a view, but not exactly its bytes")
        elif _dw_in_place_alias(plan, m, b, base):
            pass  # checked by _in_place_problems
        elif _derived_elementwise(m, _writers(plan, m, b.tensor), base.tensor, b.tensor):
            if b.alias_offset != 0 or b.slice != base.slice or _elements(m, b.tensor) != _elements(m, base.tensor):
                problems.append(f"{what} in place, but not element for element from its start")
            elif np.dtype(b.dtype).itemsize > np.dtype(base.dtype).itemsize:
                problems.append(f"{what} in place, but its elements are larger")
        else:
            problems.append(f"{what}, but it is neither a view of it, a part of the Concat making it, nor "
                            f"computed from it element by element in place")
    return problems


def _dw_in_place_alias(plan: Plan, m: _Model, b: Buffer, base: Buffer) -> bool:
    """`b` is the output of a step running a conv in place, over `base`, that conv's input."""
    if not 0 <= b.first_step < len(plan.steps):
        return False
    step = plan.steps[b.first_step]
    found = in_place_values(m, step) if step.in_place else None
    return found is not None and found[:2] == (base.tensor, b.tensor)


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
        if node.op_type in RECOMPUTED:
            continue
        whole = [s for s in steps if s.slice is None]
        if whole and len(steps) > 1:
            problems.append(f"node {name!r} runs {len(steps)} times")
            continue
        if whole:
            continue
        if len({s.accumulate for s in steps}) > 1 or len({s.op for s in steps}) > 1:
            problems.append(f"node {name!r} mixes accumulating and plain slices, or runs in steps of different ops")
            continue
        # slices count channels of the step's core node (a folded Pad or BatchNormalization, an epilogue or a
        # quantize runs inside it): its output channels, or for partial sums the input channels it reduces
        core = m.nodes.get(steps[0].op, node)
        axes = {s.slice.axis for s in steps}
        if len(axes) > 1:
            problems.append(f"node {name!r} runs in slices along different axes")
        elif axes == {ROW}:  # rows of the core node's output
            shape = m.shape(core.output[0])
            problems += _partition_problems(name, [s.slice for s in steps], shape[2] if len(shape) == 4 else 1, "row")
        else:
            tensor = core.input[0] if steps[0].accumulate else core.output[0]
            problems += _partition_problems(name, [s.slice for s in steps], _channels(m, tensor))
    return problems


def _partition_problems(name: str, slices: list[Slice], channels: int, unit: str = "channel") -> list[str]:
    covered = np.zeros(channels, dtype=np.int64)
    for s in slices:
        if not (0 <= s.start < s.stop <= channels):
            return [f"node {name!r} slice {s.start}:{s.stop} is outside its {channels} {unit}s"]
        covered[s.start : s.stop] += 1
    missing, twice = np.flatnonzero(covered == 0), np.flatnonzero(covered > 1)
    if missing.size:
        return [f"node {name!r}: {unit}(s) {missing[:4].tolist()} never computed"]
    if twice.size:
        return [f"node {name!r}: {unit}(s) {twice[:4].tolist()} computed more than once"]
    return []


def _span(b: Buffer, channels: int) -> tuple[int, int]:
    return (0, channels) if b.slice is None else (b.slice.start, b.slice.stop)


def _holder_problems(plan: Plan, m: _Model) -> list[str]:
    """At any step, each channel of a value is in at most one live buffer: where a step finds it, and where
    its producer put it, is never ambiguous."""
    problems = []
    by_tensor: dict[str, list[Buffer]] = defaultdict(list)
    for b in plan.buffers:
        if b.tensor in m.shapes:
            by_tensor[b.tensor].append(b)
    for t, bufs in by_tensor.items():
        channels = _channels(m, t)
        for i, a in enumerate(bufs):
            for b in bufs[i + 1 :]:
                (a0, a1), (b0, b1) = _span(a, channels), _span(b, channels)
                if a.first_step <= b.last_step and b.first_step <= a.last_step and a0 < b1 and b0 < a1:
                    problems.append(f"buffers {a.id} and {b.id} both hold channels of {t!r} at the same step")
    return problems


# ---- following the bytes ------------------------------------------------------------------------------


_Label = tuple[str, int]  # (value, arena address of its byte 0)


@dataclass
class _Bytes:
    """Arena bytes [lo, hi) hold the values in `labels` (one, or several that share these bytes: a Concat
    part in place is also part of the Concat's output), last written by step `step` (-1: the caller)."""

    lo: int
    hi: int
    labels: frozenset[_Label]
    step: int

    def cut(self, lo: int, hi: int) -> "_Bytes":
        return _Bytes(max(lo, self.lo), min(hi, self.hi), self.labels, self.step)


class _Arena:
    """What every arena byte holds as the schedule runs: a sorted list of disjoint labelled ranges."""

    def __init__(self) -> None:
        self.ranges: list[_Bytes] = []

    def _meeting(self, lo: int, hi: int) -> tuple[int, int]:
        """Indices [i, j) of the ranges that meet [lo, hi) (binary search: windows cut the arena fine)."""
        i = bisect.bisect_right(self.ranges, lo, key=lambda r: r.hi)
        return i, bisect.bisect_left(self.ranges, hi, lo=i, key=lambda r: r.lo)

    def write(self, lo: int, hi: int, label: _Label, step: int, shared: list[tuple[int, int]] = ()) -> None:
        """Step `step` writes `label` over [lo, hi). Bytes that already hold it keep what they hold (nothing
        moves), and `shared` ranges (Concat parts in place) add it to what they hold."""
        i, j = self._meeting(lo, hi)
        met = self.ranges[i:j]
        edges = ([met[0].cut(met[0].lo, lo)] if met and met[0].lo < lo else [],
                 [met[-1].cut(hi, met[-1].hi)] if met and hi < met[-1].hi else [])
        inside = [r.cut(lo, hi) for r in met]
        cuts = sorted({lo, hi} | {x for r in inside for x in (r.lo, r.hi)} | {x for a, b in shared for x in (a, b) if lo < x < hi})
        new, k = [], 0
        for a, b in zip(cuts, cuts[1:]):
            while k < len(inside) and inside[k].hi <= a:
                k += 1
            old = inside[k] if k < len(inside) and inside[k].lo <= a and b <= inside[k].hi else None
            if old is not None and label in old.labels:
                new.append(old.cut(a, b))
            elif old is not None and any(x <= a and b <= y for x, y in shared):
                new.append(_Bytes(a, b, old.labels | {label}, old.step))
            else:
                new.append(_Bytes(a, b, frozenset([label]), step))
        self.ranges[i:j] = edges[0] + new + edges[1]

    def wrong(self, lo: int, hi: int, label: _Label) -> _Bytes | None:
        """The first range of [lo, hi) that does not hold `label` (a gap: no labels, step -1)."""
        pos = lo
        i, j = self._meeting(lo, hi)
        for r in self.ranges[i:j]:
            if r.lo > pos:
                return _Bytes(pos, r.lo, frozenset(), -1)
            if label not in r.labels:
                return r
            pos = r.hi
        return None if pos >= hi else _Bytes(pos, hi, frozenset(), -1)


def _holder(bufs: list[Buffer], step: int, region: Slice | None, channels: int) -> Buffer | None:
    """The buffer holding channels `region` of a value at `step` (None: none, or channels it does not have)."""
    if region is not None and region.axis != ROW and not (0 <= region.start < region.stop <= channels):
        return None
    if region is not None and region.axis == ROW:  # rows are held by a whole buffer or a window
        return next((b for b in bufs if b.first_step <= step <= b.last_step and b.slice is None), None)
    for b in bufs:
        if (b.first_step <= step <= b.last_step and not b.window
                and (b.slice is None or b.slice.covers(region, channels))):
            return b
    return None


def _overlaps(a: Slice | None, b: Slice | None, channels: int) -> bool:
    if a is None or b is None or a.axis != b.axis:
        return True  # the whole value, or rows and channels of it, always meet
    lo_a, hi_a = (0, channels) if a is None else (a.start, a.stop)
    lo_b, hi_b = (0, channels) if b is None else (b.start, b.stop)
    return lo_a < hi_b and lo_b < hi_a


@dataclass
class _Place:
    """Where channels of a value are at a step: arena bytes [lo, hi), starting `at` bytes into the value."""

    value: str
    buffer: Buffer
    lo: int
    hi: int
    at: int
    tag: str = ""  # " (window)": rows in a window, at slots that move; `origin` is that of the window's rows

    @property
    def origin(self) -> int:
        """The arena address element 0 of the value would have: in-place writes must keep it."""
        return self.lo - self.at

    @property
    def itemsize(self) -> int:
        return np.dtype(self.buffer.dtype).itemsize


def _dataflow_problems(plan: Plan, m: _Model) -> list[str]:
    """Run the schedule over arena bytes labelled with the value they hold (a view's bytes are its base's
    value). Every value a step reads must be where its producer wrote it, unchanged since; a step may write
    over bytes it reads only in place (computed element by element from them, from the same start, elements
    no larger). Model inputs are written before step 0, in buffers live from step 0; model outputs are read
    after the last step. Also: producers run before consumers, and each step's inputs and outputs have a
    buffer at that step."""
    problems: list[str] = []
    buffers: dict[str, list[Buffer]] = defaultdict(list)
    for b in plan.buffers:
        if b.tensor in m.shapes:
            buffers[b.tensor].append(b)
    stored = _read_from_outside(plan, m)
    accesses = [_access(m, s, stored) for s in plan.steps]
    written: dict[str, list[int]] = defaultdict(list)  # value -> steps writing (part of) it
    for s, acc in enumerate(accesses):
        for t in acc.writes:
            written[t].append(s)
    arena = _Arena()

    def place(t: str, step: int, region: Slice | None) -> _Place | None:
        channels = _channels(m, t)
        b = _holder(buffers.get(t, []), step, region, channels)
        if b is None:
            return None
        lo, hi = (0, channels) if region is None else (region.start, region.stop)
        per_channel = _elements(m, t) // channels * np.dtype(b.dtype).itemsize
        start = _span(b, channels)[0]
        return _Place(t, b, b.offset + (lo - start) * per_channel, b.offset + (hi - start) * per_channel, lo * per_channel)

    def label(p: _Place) -> _Label:
        return m.canonical.get(p.value, p.value) + p.tag, p.origin

    windows: dict[int, tuple[int, set[int]]] = {}  # window buffer -> (first row held, rows held)

    def row_places(t: str, b: Buffer, rows: Slice, base: int | None = None) -> list[_Place]:
        """Rows `rows` of `t` in buffer `b`, one range per channel: a whole buffer holds row y of channel c
        at (c H + y) W elements, a window of R rows at (c R + y - base) W."""
        _, c, h, w = stored_shape(m, t)
        size = np.dtype(b.dtype).itemsize
        if not b.window:
            return [_Place(t, b, b.offset + ((k * h + rows.start) * w) * size, b.offset + ((k * h + rows.stop) * w) * size,
                           ((k * h + rows.start) * w) * size) for k in range(c)]
        base = windows.get(b.id, (0, set()))[0] if base is None else base
        origin = b.offset - base * w * size
        return [_Place(t, b, b.offset + ((k * b.window + rows.start - base) * w) * size,
                       b.offset + ((k * b.window + rows.stop - base) * w) * size,
                       b.offset + ((k * b.window + rows.start - base) * w) * size - origin, " (window)") for k in range(c)]

    def slide(s: int, t: str, b: Buffer, rows: Slice) -> None:
        """Before rows [a, b) are written into window `b`: drop rows below max(0, b - R), move the rest to the
        front (each moved row must be intact where it was)."""
        base, held = windows.get(b.id, (0, set()))
        new_base = max(0, rows.stop - b.window)
        if rows.start < new_base:
            problems.append(f"step {s} writes rows {rows.start}:{rows.stop} of {t!r} into a window of {b.window} rows")
        kept = sorted(y for y in held if new_base <= y < rows.start)
        moved = [(y, p) for y in kept for p in row_places(t, b, Slice(y, y + 1, ROW), base) if intact(f"step {s} keeps", p)]
        for y, _ in moved:
            for p in row_places(t, b, Slice(y, y + 1, ROW), new_base):
                arena.write(p.lo, p.hi, label(p), s)
        windows[b.id] = (new_base, {y for y, _ in moved} | set(range(rows.start, rows.stop)))

    def held(s: int, t: str, b: Buffer, rows: Slice) -> bool:
        missing = sorted(set(range(rows.start, rows.stop)) - windows.get(b.id, (0, set()))[1])
        if missing and b.window:
            problems.append(f"step {s} reads row(s) {missing[:4]} of {t!r}, which its window does not hold then")
        return not (missing and b.window)

    def intact(what: str, p: _Place) -> bool:
        bad = arena.wrong(p.lo, p.hi, label(p))
        if bad is None:
            return True
        held = " and ".join(sorted(repr(v) for v, _ in bad.labels))
        by = f"step {bad.step} wrote {held} there" if bad.step >= 0 else (
            f"the caller wrote {held} there" if bad.labels else "it was never written there")
        problems.append(f"{what} {p.value!r} from buffer {p.buffer.id} at bytes {bad.lo}:{bad.hi}, but {by}")
        return False

    def resident(what: str, t: str, step: int, region: Slice | None) -> _Place | None:
        where = place(t, step, region)
        if where is None:
            chans = f"channels {region.start}:{region.stop} of " if region else ""
            problems.append(f"{what} {chans}{t!r}, which is not resident then")
        return where

    for t in m.inputs:  # the caller writes every input before step 0
        p = place(t, 0, None)
        if p is None:
            problems.append(f"model input {t!r} has no whole buffer live at step 0")
        else:
            arena.write(p.lo, p.hi, (t, p.origin), -1)
    first_round: dict[str, int] = {}
    for s, (step, acc) in enumerate(zip(plan.steps, accesses)):
        reads: list[_Place] = []
        for t, region in acc.reads.items():
            if t not in m.inputs and not written.get(t):
                problems.append(f"step {s} reads {t!r}, which no step produces")
                continue
            late = [p for p in written.get(t, []) if p >= s and _overlaps(accesses[p].writes[t], region, _channels(m, t))]
            if late:
                problems.append(f"step {s} reads {t!r} before step {late[0]} produces it")
                continue
            if region is not None and region.axis == ROW:
                b = _holder(buffers.get(t, []), s, region, _channels(m, t))
                if b is None:
                    problems.append(f"step {s} reads rows {region.start}:{region.stop} of {t!r}, which is not resident then")
                elif held(s, t, b, region):
                    reads += [p for p in row_places(t, b, region) if intact(f"step {s} reads", p)]
                continue
            p = resident(f"step {s} reads", t, s, region)
            if p is not None and intact(f"step {s} reads", p):
                reads.append(p)
        if step.accumulate:  # later rounds add to the partial sums the earlier rounds left
            for t in acc.writes:
                if first_round.setdefault(t, s) != s:
                    p = resident(f"step {s} adds partial sums to", t, s, None)
                    if p is not None:
                        intact(f"step {s} adds partial sums to", p)
        writes: list[_Place] = []
        for t, region in acc.writes.items():
            if region is not None and region.axis == ROW:
                b = _holder(buffers.get(t, []), s, region, _channels(m, t))
                if b is None:
                    problems.append(f"step {s} writes rows {region.start}:{region.stop} of {t!r} but no buffer holds it then")
                    continue
                if b.window:
                    slide(s, t, b, region)
                writes += row_places(t, b, region)
                continue
            p = place(t, s, region)
            if p is None:
                chans = f"channels {region.start}:{region.stop} of " if region else ""
                problems.append(f"step {s} writes {chans}{t!r} but no buffer holds it at that step")
            else:
                writes.append(p)
        for w in writes:
            shared = []
            for r in reads:
                if not (w.lo < r.hi and r.lo < w.hi):
                    continue
                if _concat_part_in_place(m, r, w):
                    shared.append((r.lo, r.hi))
                elif not _in_place(m, step, r, w):
                    problems.append(f"step {s} writes {w.value!r} over {r.value!r} while it reads it, and "
                                    f"cannot do so in place")
            arena.write(w.lo, w.hi, label(w), s, shared)
    last = len(plan.steps) - 1
    for t in m.outputs:
        p = place(t, last, None)
        if p is None or p.buffer.last_step != last:
            problems.append(f"model output {t!r} is not resident at the last step")
        elif written.get(t) or t in m.inputs:
            intact("at the end, model output", p)
    return problems


def _concat_part_in_place(m: _Model, r: _Place, w: _Place) -> bool:
    """`r` is a whole input of the Concat making `w`, already at its place in w's bytes: nothing moves."""
    joined = _joined(m, w.value)
    if joined is None or r.value not in joined[0] or not joined[1] or r.at != 0 or w.itemsize != r.itemsize:
        return False
    inputs = joined[0]
    return r.lo == w.origin + sum(_nbytes(m, t) for t in inputs[: inputs.index(r.value)])


def _pixel_order(m: _Model, r: _Place, w: _Place) -> bool:
    """A pointwise conv run pixel by pixel (every input element (c, p) of pixel p read, then every output
    element (k, p) written; channels planar) writes `w` over `r` only on bytes already read: each output
    element's bytes overlap input elements of its own pixel or of earlier pixels (each input element is read
    by its own pixel alone), or no input element at all."""
    sr, sw = m.shape(r.value), m.shape(w.value)
    hw_r, hw_w = int(np.prod(sr[2:], dtype=np.int64)), int(np.prod(sw[2:], dtype=np.int64))
    e = np.arange(_elements(m, w.value), dtype=np.int64)
    start = w.origin - r.origin + e * w.itemsize  # bytes from r's element 0
    first, last = start // r.itemsize, (start + w.itemsize - 1) // r.itemsize
    inside = (last >= 0) & (first < _elements(m, r.value))
    first, last = np.clip(first, 0, None), np.minimum(last, _elements(m, r.value) - 1)
    # the latest pixel an overlapped input element belongs to: a run of elements spans a pixel boundary only
    # within one channel, so the pixel of `last` is the latest unless the run wraps into the next channel
    latest = np.where(last // hw_r > first // hw_r, hw_r - 1, last % hw_r)
    return bool(np.all(~inside | (latest <= e % hw_w)))


def _in_place(m: _Model, step: Step, r: _Place, w: _Place) -> bool:
    """A step may write `w` over bytes of `r` it reads when each element is read before it is overwritten:
    w's value is computed from r's element by element, element i of w starts where element i of r does (or,
    for a view, w is r's bytes where they are), and w's elements are no larger."""
    if w.origin != r.origin:
        return False
    found = in_place_values(m, step) if step.in_place else None
    if found is not None and found[:2] == (r.value, w.value):
        if found[2] == "pixel":
            return _pixel_order(m, r, w)
        # same start, same element size, no more bytes: output channel c lands on input channels <= c
        return w.itemsize == r.itemsize and w.hi - w.lo <= r.hi - r.lo
    if m.canonical.get(w.value, w.value) == m.canonical.get(r.value, r.value) and w.itemsize == r.itemsize:
        return True  # a view where its base is: nothing moves
    return w.itemsize <= r.itemsize and _derived_elementwise(m, [step], r.value, w.value)
