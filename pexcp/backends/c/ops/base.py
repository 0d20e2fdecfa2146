"""What every operator lowering shares: the per-step call context, the constant and parameter pools,
and the checks and attribute decoding several operators need.

A lowering is one small class per ONNX operator (onnx2c style), with a method pair per element type it has
kernels for (`f32`: float32 models, `s8`: int8 QDQ models). As in TFLite Micro's Prepare/Eval split,
`prepare` runs once per op: it refuses what its kernel cannot do (at compile time, with the node's name) and
computes everything the op's calls share (kernel parameters, requantization multipliers, constant arrays);
`emit` turns one plan step into C statements using that data. `runtime` names the runtime files the op's
calls need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pexcp.backends.c.bands import Band
from pexcp.backends.c.cfmt import c_float_array, c_int_array, c_struct
from pexcp.backends.c.memory import CTYPES, ArenaMap, Ptr, channel_size
from pexcp.errors import BadInputError
from pexcp.ir import Graph, Node, Op, Tensor
from pexcp.ops import spec
from pexcp.ops.window import window
from pexcp.plan.plan import Step

RANK = 4  # PEXCP_RANK in the runtime header
INIT, ACT = 1, 2  # PEXCP_INIT, PEXCP_ACT
NO_CLAMP = (-math.inf, math.inf)


@dataclass
class Pools:
    """Everything model.c declares besides the arena: constant arrays and kernel parameter structs, each
    emitted once however many calls use it."""

    arrays: dict[str, str] = field(default_factory=dict)  # key -> C name
    array_text: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)  # struct text -> C name
    params_text: list[str] = field(default_factory=list)
    weight_bytes: int = 0

    def array(self, key: str, values: np.ndarray, comment: str, dtype: str = "float32") -> Ptr:
        if key not in self.arrays:
            name = f"w{len(self.arrays)}"
            self.arrays[key] = name
            if dtype == "float32":
                self.array_text.append(c_float_array(name, values, comment))
            else:
                self.array_text.append(c_int_array(name, values, CTYPES[dtype], comment))
            self.weight_bytes += int(np.size(values)) * np.dtype(dtype).itemsize
        return Ptr(self.arrays[key], 0, dtype)

    def struct(self, ctype: str, fields: dict[str, object]) -> str:
        probe = c_struct(ctype, "@", fields)
        if probe not in self.params:
            name = f"{ctype.removeprefix('pexcp_').removesuffix('_params')}{len(self.params)}"
            self.params[probe] = name
            self.params_text.append(probe.replace("@", name, 1))
        return self.params[probe]


@dataclass
class Call:
    """One plan step being lowered: which output channels it writes, which input channels it reads, the
    accumulation mode, and where everything is at that step."""

    graph: Graph
    op: Op
    step: Step
    arena: ArenaMap
    pools: Pools
    target: str  # the tensor the call writes: the op's output, or the accumulator of a split op
    out_range: tuple[int, int]  # output channels written
    in_range: tuple[int, int] | None  # channels read of sliced inputs (None: whole inputs)
    mode: int  # INIT / ACT bits for accumulating kernels
    clamp: tuple[float, float]  # activation fused into the kernel (float ops)
    data: Any = None  # what the lowering's prepare computed for the op
    band: Band | None = None  # a row step: its pointers and geometry (backends/c/bands.py)

    @property
    def dtype(self) -> str:
        return op_dtype(self.graph, self.op)

    @property
    def out(self) -> Tensor:
        return self.graph.tensors[self.op.outputs[0]]

    def tensor(self, name: str) -> Tensor:
        return self.graph.tensors[name]

    def input(self, name: str, sliced: bool = True) -> Ptr:
        """Pointer to an activation input: at channel in_range[0] when the step reads a slice of it."""
        if self.band is not None and name in self.band.inputs:
            return self.band.inputs[name][0]
        if sliced and self.in_range is not None:
            return self.arena.pointer(self.step.index, name, *self.in_range)
        return self.arena.pointer(self.step.index, name)

    def output(self) -> Ptr:
        if self.band is not None:
            return self.band.dst
        return self.arena.pointer(self.step.index, self.target, *self.out_range, like=self.op.outputs[0])

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A kernel's params struct fields for this call: a band's geometry replaces the whole call's."""
        return fields if self.band is None else {**fields, **self.band.fields}

    @property
    def whole_output(self) -> bool:
        return self.out_range == (0, self.out.channels or 1)

    def out_count(self) -> int:
        """Elements of the output region this call writes."""
        return self.out.numel if self.whole_output else (self.out_range[1] - self.out_range[0]) * channel_size(self.out)

    def const(self, name: str, values: np.ndarray | None = None, tag: str = "", dtype: str = "float32") -> Ptr:
        """A constant as a flash array; `values` overrides the stored one (e.g. transposed weights)."""
        data = self.graph.constants[name] if values is None else values
        return self.pools.array(f"{name}|{tag}|{dtype}", data, f"{name} {tag}".strip(), dtype)

    def struct(self, ctype: str, fields: dict[str, object]) -> str:
        return self.pools.struct(ctype, fields)

    def scratch(self, nbytes: int) -> str:
        """The working memory of a kernel's fast path: the plan's scratch buffer of this op (see
        memory.SCRATCH) when it has one, else 0 (the kernel then runs its portable loops)."""
        ptr = self.arena.scratch(self.step.index, self.op.name, nbytes) if nbytes else None
        return "0" if ptr is None else str(ptr)


# float-model ops whose tensors are not all float32: their kernels convert (Cast) or write indices (ArgMax)
MIXED_TYPES = {"Cast", "ArgMax", "ArgMin"}
# data movement whose kernels move elements of any size: on integer tensors of a float model they run as is
ANY_ELEMENT = {"Slice", "Split", "Gather", "DepthToSpace", "SpaceToDepth"}


def op_dtype(graph: Graph, op: Op) -> str:
    """`s8` for the ops of an int8 QDQ model (quantized kernels, the quantize/dequantize at its boundary,
    data movement on int8 tensors), `f32` for float32 ops (and the casts, index outputs and data movement
    on integer tensors of a float model); BadInputError for anything else."""
    if op.quant or op.requant or op.op_type in ("QuantizeLinear", "DequantizeLinear"):
        return "s8"
    dtypes = {graph.tensors[t].dtype for t in graph.activation_inputs(op) + op.outputs if t in graph.tensors}
    if dtypes == {"float32"}:
        return "f32"
    if dtypes == {"int8"}:
        return "s8"
    if dtypes <= set(CTYPES) and (op.op_type in MIXED_TYPES or op.op_type in ANY_ELEMENT and len(dtypes) == 1):
        return "f32"
    raise BadInputError(
        f"cannot compile: node {op.name!r} works on {', '.join(sorted(dtypes))} tensors; the C backend runs "
        "float32 models and int8 QDQ models"
    )


class Lowering:
    """How one ONNX operator becomes kernel calls. Subclasses set `op_types`, implement `prepare_<dtype>`
    and `emit_<dtype>` for each element type they have kernels for, and override what differs."""

    op_types: tuple[str, ...] = ()
    fuses_clamp = False  # the kernel applies a leading Relu/Clip epilogue itself
    has_scratch = False  # some calls may need kernel scratch: its prepare data has a `scratch` (ir.Scratch)
    files: dict[str, tuple[str, ...]] = {}  # runtime files (without .c) per dtype

    def prepare(self, graph: Graph, op: Op) -> Any:
        """Check the op (BadInputError for anything the kernel cannot compute) and return its per-op data."""
        dtype = op_dtype(graph, op)
        method = getattr(self, f"prepare_{dtype}", None)
        if method is None:
            raise refuse(op, f"no {'int8' if dtype == 's8' else 'float32'} kernel")
        return method(graph, op)

    def emit(self, call: Call) -> list[str]:
        return getattr(self, f"emit_{call.dtype}")(call)

    def runtime(self, graph: Graph, op: Op) -> tuple[str, ...]:
        """The runtime files (without .c) the op's calls need."""
        return self.files.get(op_dtype(graph, op), ())

    finish_files: tuple[str, ...] = ("requant_acc_s8",)

    def finish(self, call: Call, acc: Ptr) -> list[str]:
        """The step after an int8 op's accumulating steps when the plan keeps its int32 sums in a separate
        accumulator: requantize them into the int8 output (in place, same start address)."""
        raise refuse(call.op, "cannot finish an accumulator")

    def channelwise(self, graph: Graph, op: Op) -> bool:
        """Output channel c depends only on input channel c, so a slice reads the same input slice: a fact
        about the op type (pexcp.ops), not about its kernel."""
        return spec(op.op_type).channelwise(graph, op)

    def produces_slices(self, graph: Graph, op: Op) -> bool:
        """The op can compute any range of its output channels (from whole inputs unless channel-wise)."""
        return self.channelwise(graph, op)

    def accumulates(self, graph: Graph, op: Op) -> bool:
        """The op can consume a range of its input channels and add partial sums into its whole output."""
        return False

    runs_rows = False  # its kernels compute any band of output rows (backends/c/bands.py)

    def emit_in_place(self, call: Call, temp: Ptr) -> list[str]:
        """A whole call writing the output over its input channel by channel through `temp` (a plan step
        marked `in_place`)."""
        raise refuse(call.op, "cannot run in place over its input")



def refuse(op: Op | Node, why: str) -> BadInputError:
    return BadInputError(f"cannot compile: {op.op_type} node {op.name!r}: {why}")


def require_constant(graph: Graph, op: Op, index: int, what: str) -> np.ndarray:
    name = op.inputs[index] if index < len(op.inputs) else ""
    if name not in graph.constants:
        raise refuse(op, f"its {what} must be a constant")
    return graph.constants[name]


def optional_constant(graph: Graph, node: Op | Node, index: int) -> np.ndarray | None:
    name = node.inputs[index] if index < len(node.inputs) else ""
    if not name:
        return None
    if name not in graph.constants:
        raise refuse(node, f"input {index} must be a constant")
    return graph.constants[name]


def padded(shape: tuple[int, ...], rank: int = RANK) -> list[int]:
    """The shape with trailing 1s up to `rank` axes: same memory layout, axis 1 stays the channel."""
    return list(shape) + [1] * (rank - len(shape))


def contiguous_strides(shape: list[int] | tuple[int, ...]) -> list[int]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def check_rank(op: Op, *shapes: tuple[int, ...], rank: int = RANK) -> None:
    for shape in shapes:
        if len(shape) > rank:
            raise refuse(op, f"rank-{len(shape)} tensors are not supported (at most {rank} axes)")


def clamp_of(graph: Graph, node: Node | Op) -> tuple[float, float] | None:
    """The range a Relu or Clip node clamps to; None for other nodes."""
    if node.op_type == "Relu":
        return (0.0, math.inf)
    if node.op_type != "Clip":
        return None
    if "min" in node.attrs or "max" in node.attrs:  # opset < 11
        return (float(node.attrs.get("min", -math.inf)), float(node.attrs.get("max", math.inf)))
    lo, hi = optional_constant(graph, node, 1), optional_constant(graph, node, 2)
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))


def spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of an NCHW or NCL tensor (1-D data as one row)."""
    return (shape[2], shape[3]) if len(shape) == 4 else (1, shape[2])


def channel_strides(in_h: int, in_w: int, out_h: int, out_w: int) -> dict[str, int]:
    """in_cs / out_cs of the conv and pool params structs for whole (unbanded) tensors: one plane apart."""
    return {"in_cs": in_h * in_w, "out_cs": out_h * out_w}


def window_attrs(op: Op, in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: list[int]) -> dict[str, int]:
    """Strides, dilations and begin/end pads of a Conv or pool window (pexcp.ops.window), refused when no
    kernel computes it."""
    try:
        return window(op, in_shape, out_shape, kernel)
    except ValueError as e:
        raise refuse(op, str(e)) from None


def sliced_outer(call: Call, outer: int) -> int:
    """The `outer` count of an outer x n x inner kernel (outer covering batch and channels) for the call's
    output channels: all of it for a whole call, (c1 - c0) / C of it for a channel slice (batch 1)."""
    if call.whole_output:
        return outer
    c0, c1 = call.out_range
    return outer // (call.out.channels or 1) * (c1 - c0)


def mode_name(mode: int) -> str:
    return {INIT | ACT: "PEXCP_STORE", INIT: "PEXCP_INIT", ACT: "PEXCP_ACT", 0: "0"}[mode]


def per_image(call: Call, line: str) -> list[str]:
    """One kernel call per batch item (`line` formats {src} and {dst}); sliced steps have batch 1."""
    x, y = call.tensor(call.op.inputs[0]), call.out
    src, dst = call.input(call.op.inputs[0]), call.output()
    batch = x.shape[0]
    return [
        line.format(src=src.shifted(n * x.numel // batch), dst=dst.shifted(n * y.numel // batch)) for n in range(batch)
    ]
