"""The graph IR every pass works on: stored tensors, constants and operators in execution order.

An `Op` is what one kernel call does. In an int8 QDQ model that is several ONNX nodes (the DequantizeLinear
of each input, the float op, a fused activation, the QuantizeLinear of the output); only the int8 tensors
between ops are stored. `Op.nodes` keeps every ONNX node name the op executes, so plans can speak in the
model's own names. A schedule runs ops as `Step`s, whole or on a channel `Slice`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np


@dataclass
class Tensor:
    """An activation buffer: its static shape and element type fix its size."""

    name: str
    shape: tuple[int, ...]  # as stored: the declared shape permuted by `perm` when a layout was folded
    dtype: str  # numpy name: float32, int8, uint8, int32, int64, bool, ...
    perm: tuple[int, ...] | None = None

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def channels(self) -> int | None:
        """Channel count along axis 1 (NCHW / NC), the axis partial execution slices."""
        return self.shape[1] if len(self.shape) >= 2 else None


@dataclass
class Node:
    """One ONNX node as imported: positional inputs ("" when absent), outputs and decoded attributes;
    `implicit` are the values its subgraphs (If/Loop/Scan bodies) read from the enclosing graph."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    implicit: list[str] = field(default_factory=list)


@dataclass
class Op:
    """One kernel call. `core` is the node that defines the computation; `epilogue` nodes (activations,
    constant bias adds) are applied to its result in the same call. `inputs`/`outputs` name stored tensors
    or constants in the core node's positional order. A `view` op writes no bytes: its output aliases its
    input (Reshape and friends). An `inplace` op writes its output over the named input as it reads it
    (elementwise, output no larger), so the output needs no bytes of its own while the op runs. A Concat with
    `gathered` inputs copies only its other inputs: those were written straight into their places inside its
    output by their producers (see `Graph.carved`).
    """

    name: str
    core: Node
    inputs: list[str]
    outputs: list[str]
    nodes: list[str]
    epilogue: list[Node] = field(default_factory=list)
    view: bool = False
    inplace: str | None = None
    gathered: list[str] = field(default_factory=list)
    requant: str | None = None  # the QuantizeLinear node applied to the output (int8 QDQ kernels)
    quant: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def op_type(self) -> str:
        return self.core.op_type

    @property
    def attrs(self) -> dict[str, Any]:
        return self.core.attrs


SCRATCH = "scratch:"  # plan buffers named scratch:<op> hold the working memory of that op's kernel calls
TEMP = "temp:"  # plan buffers temp:<op> hold one output channel (pixel) of a depthwise (pointwise) conv run in place


@dataclass(frozen=True)
class Scratch:
    """Working memory a kernel call of an op needs besides its tensors (bytes), as the backend the plan is for
    states it (its fast paths' im2col columns, line buffers): `whole` for a call over all its input channels;
    `by_inputs[k - 1]` for a call that accumulates partial sums over k input channels (empty: `whole`);
    `by_rows[r - 1]` for a call computing a band of r output rows (empty: `whole`; a depthwise path may keep
    all rows of a short band, more than its ring for the whole map)."""

    whole: int
    by_inputs: tuple[int, ...] = ()
    by_rows: tuple[int, ...] = ()

    def band_bytes(self, rows: int) -> int:
        """Bytes of a call computing `rows` output rows of all channels."""
        return self.by_rows[rows - 1] if self.by_rows else self.whole

    def bytes(self, inputs: int | None = None) -> int:
        """Bytes of a call reading `inputs` input channels (None: all of them)."""
        return self.whole if inputs is None or not self.by_inputs else self.by_inputs[inputs - 1]

    def split_bytes(self, width: int, channels: int) -> int:
        """Bytes of the largest call of a split accumulating `width` of `channels` input channels a round: the
        last round reads the remainder, and fewer inputs can need more scratch (another fast path)."""
        rest = channels % width
        return max(self.bytes(width), self.bytes(rest) if rest else 0)


@dataclass
class QuantizedConstant:
    """The integers a float constant was dequantized from: int8 QDQ models (tf2onnx) feed int8 weights and
    int32 biases through DequantizeLinear, which import folds into float constants; int8 kernels need the
    originals. real = scale * (values - zero_point), per slice along `axis` when scale has several entries."""

    values: np.ndarray  # int8 / int32, the constant's shape
    scale: np.ndarray  # float32, scalar or one per slice along axis
    zero_point: np.ndarray  # same size as scale
    axis: int | None  # None for per-tensor


@dataclass
class Graph:
    """A model ready for planning. `ops` is in the file's order, which is a valid topological order."""

    name: str
    tensors: dict[str, Tensor]
    constants: dict[str, np.ndarray]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    source: str = ""
    sha256: str = ""
    opset: int = 13  # the model's ai.onnx opset: some ops (Softmax, Clip) changed meaning across opsets
    rewrites: list[str] = field(default_factory=list)
    input_layouts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Model inputs whose boundary Transpose was folded: the stored tensor is the declared input permuted
    by this perm, so the caller (or the generated harness) writes it already transposed."""
    constant_nodes: list[str] = field(default_factory=list)
    """ONNX nodes folded into constants at import: they never run."""
    quantized: dict[str, QuantizedConstant] = field(default_factory=dict)
    """Float constants folded from a DequantizeLinear of integer constants: where they came from."""
    io_quant: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Model inputs/outputs that `int8_io` made int8: the scale and zero point of the QuantizeLinear /
    DequantizeLinear it removed (the caller quantizes / dequantizes)."""
    io: str = "model"
    """"model": inputs and outputs have the model's types; "int8": boundary quantize/dequantize removed."""
    scratch: dict[str, Scratch] = field(default_factory=dict)
    """Op -> the kernel scratch its calls need: a planned buffer `scratch:<op>` at each of its steps. Filled
    by the pipeline from the backend (`--scratch on`, the default); empty: plans reserve none."""

    def activation_inputs(self, op: Op) -> list[str]:
        """Stored tensors the op reads, in order, without duplicates: its inputs, then the values its
        subgraphs read (they stay live until the op runs)."""
        return list(dict.fromkeys(t for t in op.inputs + op.core.implicit if t in self.tensors))

    @cached_property
    def producer(self) -> dict[str, Op]:
        return {t: op for op in self.ops for t in op.outputs}

    @cached_property
    def consumers(self) -> dict[str, list[Op]]:
        users: dict[str, list[Op]] = {t: [] for t in self.tensors}
        for op in self.ops:
            for t in self.activation_inputs(op):
                users[t].append(op)
        return users

    @cached_property
    def carved(self) -> dict[str, tuple[str, int]]:
        """Gathered Concat inputs, written into the concat output: tensor -> (output, byte offset in it)."""
        places: dict[str, tuple[str, int]] = {}
        for op in self.ops:
            if not op.gathered:
                continue
            offset = 0
            for t in op.inputs:
                if t in op.gathered:
                    places[t] = (op.outputs[0], offset)
                offset += self.tensors[t].nbytes
        return places

    def parts(self, tensor: str) -> list[str]:
        """The tensors carved out of `tensor` (the gathered inputs of the Concat producing it, if any)."""
        return [t for t, (whole, _) in self.carved.items() if whole == tensor]

    def storage_root(self, tensor: str) -> str:
        """The tensor that owns the bytes `tensor` lives in: the base of a view, the concat output a gathered
        input is carved from, or itself."""
        while True:
            producer = self.producer.get(tensor)
            if producer is not None and producer.view:
                tensor = self.activation_inputs(producer)[0]
            elif tensor in self.carved:
                tensor = self.carved[tensor][0]
            else:
                return tensor

    def op(self, name: str) -> Op:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Op]:
        return {op.name: op for op in self.ops}

    def dag(self) -> nx.DiGraph:
        """Ops as nodes, an edge per stored tensor from producer to consumer."""
        g = nx.DiGraph()
        g.add_nodes_from(op.name for op in self.ops)
        for op in self.ops:
            for t in self.activation_inputs(op):
                if t in self.producer:
                    g.add_edge(self.producer[t].name, op.name, tensor=t)
        return g

    def invalidate(self) -> None:
        """Forget derived maps after a pass edits ops in place."""
        for key in ("producer", "consumers", "_by_name", "carved"):
            self.__dict__.pop(key, None)


@dataclass(frozen=True)
class Slice:
    """Channels [start, stop) of axis 1 (NCHW / NC)."""

    start: int
    stop: int
    axis: str = "channel"

    def covers(self, other: Slice | None, channels: int) -> bool:
        lo, hi = (0, channels) if other is None else (other.start, other.stop)
        return self.start <= lo and hi <= self.stop


@dataclass
class Step:
    index: int
    op: str  # the IR op (its core ONNX node's name)
    kernel: str  # core ONNX op type, e.g. Conv
    nodes: list[str]  # every ONNX node this step executes
    slice: Slice | None = None
    accumulate: bool = False  # consumes input channels `slice` and adds partial sums into a whole output
    in_place: bool = False  # a conv writing its output over its input via temp:<op> (analysis/inplace.py)
