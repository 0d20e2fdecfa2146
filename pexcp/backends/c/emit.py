"""Lower a validated plan to a self-contained C99 project: model.h (API and sizes), model.c (weights in
flash, one static arena, the schedule as straight-line kernel calls), the runtime kernels it calls, a
Makefile fragment and a README; with `harness`, a test main.c, Makefile, Cortex-M startup and linker script.

Slices (docs/c-backend.md): a step with slice [c0, c1) writes output channels c0..c1 (reading the same input
channels when the op is channel-wise, whole inputs otherwise); an accumulating step reads input channels
c0..c1 and adds partial sums into the whole output, the op's first step starting from the bias. The epilogue
runs once the sums are complete: in the last accumulating step, or, when the plan keeps the pre-activation
sums in an accumulator buffer, in a final unsliced step of the op that reads the accumulator.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import pexcp
from pexcp.analysis.bands import ROW
from pexcp.analysis.partial import accumulator as accumulator_of
from pexcp.backends.c.bands import MOVE_FILE, Windows, band
from pexcp.backends.c.cfmt import c_comment, c_float, c_string
from pexcp.backends.c.loops import Block, fold
from pexcp.backends.c.memory import ARENA, CTYPES, ArenaMap, Ptr
from pexcp.backends.c.ops import LOWERINGS, Call, epilogue_files, epilogue_lines, prepare_op, refuse
from pexcp.backends.c.ops.base import ACT, INIT, NO_CLAMP, Pools, clamp_of, op_dtype
from pexcp.errors import BadInputError, InvalidPlanError
from pexcp.ir import Graph, Op, Scratch
from pexcp.plan.plan import Plan, Step

HERE = Path(__file__).parent
RUNTIME = HERE / "runtime"
TEMPLATES = HERE / "templates"
HEADERS = {"f32": ("pexcp_runtime.h",), "s8": ("pexcp_s8.h", "pexcp_s8_dsp.h")}  # API first, then its helpers
# element type codes of harness.h, in main.c's order
HARNESS_TYPES = {
    "float32": "HARNESS_FLOAT32", "int8": "HARNESS_INT8", "uint8": "HARNESS_UINT8", "bool": "HARNESS_UINT8",
    "int16": "HARNESS_INT16", "int32": "HARNESS_INT32", "int64": "HARNESS_INT64",
}
HARNESS_TEMPLATES = ("main.c", "Makefile", "startup_cortex_m.c", "cortex_m.ld")
# debug lifetime check, compiled in with MODEL_POISON_DEAD (the host harness's default)
_POISON = """\
/* with MODEL_POISON_DEAD defined, the bytes of each tensor are overwritten with NaNs as soon as the
 * plan says it is dead, so reading a tensor after its lifetime shows in the outputs */
#ifdef MODEL_POISON_DEAD
#include <string.h>
static void model_poison(unsigned long offset, unsigned long bytes)
{
    unsigned char *base = (unsigned char *)arena;
    memset(base + offset, 0xFF, bytes);
}
#define MODEL_POISON(offset, bytes) model_poison((offset), (bytes))
#else
#define MODEL_POISON(offset, bytes) ((void)0)
#endif

"""
_STRING = "#include <string.h>\n"  # memcpy, for in-place depthwise convs
_CALL = re.compile(r"\bpexcp_([a-z_]+)\(")


@dataclass
class Port:
    """A model input or output as the API exposes it: where it sits in the arena and how it is stored."""

    name: str
    offset: int  # bytes into the arena
    shape: tuple[int, ...]  # stored
    perm: tuple[int, ...] | None  # stored = transpose(declared, perm)
    dtype: str = "float32"
    quant: tuple[float, int] | None = None  # scale, zero point of an int8 port

    @property
    def ctype(self) -> str:
        return CTYPES[self.dtype]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def declared(self) -> tuple[int, ...]:
        if self.perm is None:
            return self.shape
        dims = [0] * len(self.shape)
        for axis, p in enumerate(self.perm):
            dims[p] = self.shape[axis]
        return tuple(dims)


def prepare_graph(graph: Graph) -> dict[str, Any]:
    """Every op's per-op data (TFLite Micro's Prepare); BadInputError if any op of the graph has no kernel."""
    return {op.name: prepare_op(graph, op) for op in graph.ops}


def kernel_scratch(graph: Graph) -> dict[str, Scratch]:
    """The scratch each op's kernel calls need (ops that need none are left out): what the planners reserve
    as buffers `scratch:<op>`, so that the kernels' Cortex-M4 fast paths run. An op the backend has no
    kernel for needs none here (`compile` refuses it; `solve` still plans it)."""
    needs = {}
    for op in graph.ops:
        lowering = LOWERINGS.get(op.op_type)
        if op.view or lowering is None or not lowering.has_scratch:
            continue
        try:
            data = prepare_op(graph, op)
        except BadInputError:
            continue
        scratch = getattr(data, "scratch", None)
        if scratch is not None and scratch.whole:
            needs[op.name] = scratch
    return needs


def check_graph(graph: Graph) -> None:
    """Raise BadInputError if any op of the graph has no kernel (before a long solve, not after)."""
    prepare_graph(graph)


@dataclass
class Project:
    """What `emit` wrote."""

    files: list[Path]
    kernels: list[str]  # runtime files the schedule calls
    weight_bytes: int  # constant arrays (flash)
    calls: int  # kernel calls in model_run


def emit(graph: Graph, plan: Plan, outdir: Path, harness: bool = False) -> Project:
    """Write the C project for `plan` into `outdir`."""
    data = prepare_graph(graph)
    arena = ArenaMap(graph, plan)
    pools = Pools()
    files: set[str] = set()
    body = _schedule(graph, plan, arena, pools, data, files)
    inputs = [_port(graph, arena, t, 0) for t in graph.inputs]
    outputs = [_port(graph, arena, t, len(plan.steps) - 1) for t in graph.outputs]
    kernels = sorted(files)
    dtypes = {op_dtype(graph, op) for op in graph.ops if not op.view}
    # the runtime APIs the calls need: the kernels' own headers (int8 data movement uses the element-size
    # generic movers of pexcp_runtime.h)
    apis = {d for d, hs in HEADERS.items() for k in kernels if f'#include "{hs[0]}"' in (RUNTIME / f"{k}.c").read_text()}
    dtypes_api = sorted(apis or dtypes or {"f32"})
    headers = [h for d in dtypes_api for h in HEADERS[d]]
    libm = "f32" in dtypes or any(p.dtype == "float32" for p in inputs + outputs)
    outdir = Path(outdir)
    (outdir / "runtime").mkdir(parents=True, exist_ok=True)
    files = {
        "model.h": _model_h(graph, plan, inputs, outputs),
        "model.c": _model_c(graph, plan, pools, body, inputs, outputs, [HEADERS[d][0] for d in dtypes_api]),
        "model.mk": _model_mk(kernels, headers, libm),
        "README.md": _readme(graph, plan, inputs, outputs, harness),
    }
    if harness:
        files["harness.h"] = _harness_h(inputs, outputs)
        files.update({name: (TEMPLATES / name).read_text() for name in HARNESS_TEMPLATES})
    written = []
    for name, text in files.items():
        (outdir / name).write_text(text)
        written.append(outdir / name)
    for name in headers + [f"{k}.c" for k in kernels]:
        shutil.copyfile(RUNTIME / name, outdir / "runtime" / name)
        written.append(outdir / "runtime" / name)
    calls = sum(1 for line in body if _CALL.match(line))
    return Project(written, kernels, pools.weight_bytes, calls)


# ---- the schedule --------------------------------------------------------------------------------------


def _schedule(
    graph: Graph, plan: Plan, arena: ArenaMap, pools: Pools, data: dict[str, Any], files: set[str]
) -> list[str]:
    """The body of model_run(); `files` collects the runtime files the calls need."""
    steps_of: dict[str, list[Step]] = {}
    for step in plan.steps:
        steps_of.setdefault(step.op, []).append(step)
    blocks: list[Block] = []
    windows = Windows(graph, arena)
    for step in plan.steps:
        op = graph.op(step.op)
        row = step.slice is not None and step.slice.axis == ROW
        if op.view:
            lines = _view(graph, op, step, arena, files)
        elif row:
            lines = _band_call(graph, op, step, arena, pools, windows, data[op.name], files)
        else:
            lines = _call(graph, op, step, arena, pools, steps_of[op.name], data[op.name], files)
        lines += [f"MODEL_POISON({offset}, {size});" for offset, size in arena.dead_after(step.index)]
        blocks.append(Block(f"/* step {step.index}: {_describe(op, step, steps_of[op.name])} */", tuple(lines), row))
    return fold(blocks)


def _finishes_accumulator(step: Step, steps: list[Step]) -> bool:
    """The unsliced step after an op's accumulating steps: it applies the epilogue to the sums."""
    return not step.accumulate and any(s.accumulate for s in steps)


def _describe(op: Op, step: Step, steps: list[Step]) -> str:
    kind = "+".join([op.op_type] + [e.op_type for e in op.epilogue])
    where = ""
    if step.slice is not None:
        what = "input" if step.accumulate else "output"
        where = f", {what} {step.slice.axis}s {step.slice.start}:{step.slice.stop}"
    elif op.view:
        where = " (view: no code)"
    elif op.gathered:
        where = f" ({len(op.gathered)} of {len(op.inputs)} inputs already in place)"
    elif _finishes_accumulator(step, steps):
        where = ", epilogue on the completed accumulator"
    elif step.in_place:
        where = ", over its input"
    return f"{kind} {c_comment(op.name, 70)}{where}"


def _view(graph: Graph, op: Op, step: Step, arena: ArenaMap, files: set[str]) -> list[str]:
    """A view's output shares its input's bytes; copy only if the plan put it elsewhere."""
    src = arena.pointer(step.index, graph.activation_inputs(op)[0])
    dst = arena.pointer(step.index, op.outputs[0])
    if src == dst:
        return []
    files |= set(LOWERINGS["Reshape"].runtime(graph, op))
    whole = (0, graph.tensors[op.outputs[0]].channels or 1)
    call = Call(graph, op, step, arena, Pools(), op.outputs[0], whole, None, INIT | ACT, NO_CLAMP)
    return LOWERINGS["Reshape"].emit(call)


def _call(
    graph: Graph, op: Op, step: Step, arena: ArenaMap, pools: Pools, steps: list[Step], data: Any, files: set[str]
) -> list[str]:
    """The calls of one step. An op split over input channels accumulates into its output, or, when an
    activation follows, into its own accumulator that a final unsliced step activates into the output."""
    lowering = LOWERINGS[op.op_type]
    out = graph.tensors[op.outputs[0]]
    whole = (0, out.channels or 1)
    accumulating = [s.index for s in steps if s.accumulate]
    separate_finish = any(_finishes_accumulator(s, steps) for s in steps)
    accumulator = accumulator_of(graph, op)[0] if separate_finish else op.outputs[0]
    if _finishes_accumulator(step, steps):
        c = Call(graph, op, step, arena, pools, op.outputs[0], whole, None, INIT | ACT, NO_CLAMP, data)
        acc = arena.pointer(step.index, accumulator, like=op.outputs[0])
        if c.dtype != "f32":
            files |= set(lowering.finish_files)
            return lowering.finish(c, acc)
        files |= epilogue_files(graph, op.epilogue)
        return epilogue_lines(c, op.epilogue, acc)
    out_range, in_range, mode, target, finishes = whole, None, INIT | ACT, op.outputs[0], True
    if step.slice is not None:
        span = (step.slice.start, step.slice.stop)
        if out.shape[0] != 1:
            raise refuse(op, "channel slices need batch size 1")
        if step.accumulate:
            if not lowering.accumulates(graph, op):
                raise refuse(op, "this op cannot accumulate partial sums over input-channel slices")
            finishes = step.index == accumulating[-1] and not separate_finish
            mode = (INIT if step.index == accumulating[0] else 0) | (ACT if finishes else 0)
            in_range, target = span, accumulator
        else:
            if not lowering.produces_slices(graph, op):
                raise refuse(op, "this op cannot compute a slice of its output channels")
            out_range = span
            in_range = span if lowering.channelwise(graph, op) else None
    epilogue = list(op.epilogue)
    fused = clamp_of(graph, epilogue[0]) if lowering.fuses_clamp and epilogue else None
    if fused is not None:  # the kernel clamps; the rest of the epilogue runs after it
        epilogue.pop(0)
    c = Call(graph, op, step, arena, pools, target, out_range, in_range, mode, fused or NO_CLAMP, data)
    lines = lowering.emit_in_place(c, arena.temp(step.index, op.name)) if step.in_place else lowering.emit(c)
    files |= set(lowering.runtime(graph, op))
    if finishes and c.dtype == "f32":
        lines += epilogue_lines(c, epilogue, c.output())
        files |= epilogue_files(graph, epilogue)
    return lines


def _band_call(graph: Graph, op: Op, step: Step, arena: ArenaMap, pools: Pools, windows: Windows, data: Any,
               files: set[str]) -> list[str]:
    """A row step (backends/c/bands.py): the moves its output window makes, then the op's kernel over the
    band, its activation fused (the only epilogue band groups take)."""
    lowering = LOWERINGS[op.op_type]
    epilogue = list(op.epilogue)
    fused = clamp_of(graph, epilogue[0]) if lowering.fuses_clamp and epilogue else None
    if not lowering.runs_rows or (op_dtype(graph, op) == "f32" and len(epilogue) > (fused is not None)):
        raise refuse(op, "this op cannot compute a band of its output rows")
    moves, where = band(windows, graph, op, step)
    whole = (0, graph.tensors[op.outputs[0]].channels or 1)
    c = Call(graph, op, step, arena, pools, op.outputs[0], whole, None, INIT | ACT, fused or NO_CLAMP, data, where)
    files |= set(lowering.runtime(graph, op)) | ({MOVE_FILE} if moves else set())
    return moves + lowering.emit(c)


def _port(graph: Graph, arena: ArenaMap, tensor: str, step: int) -> Port:
    t = graph.tensors[tensor]
    try:
        ptr = arena.pointer(step, tensor)
    except InvalidPlanError:
        raise InvalidPlanError([f"model input/output {tensor!r} has no whole buffer at step {step}"]) from None
    return Port(tensor, ptr.offset, t.shape, t.perm, t.dtype, port_quant(graph, tensor) if t.dtype == "int8" else None)


def port_quant(graph: Graph, tensor: str) -> tuple[float, int] | None:
    """Scale and zero point of an int8 model input or output: what the boundary quantize/dequantize that
    `--io int8` removed used, or what the ops reading or writing it use."""
    if tensor in graph.io_quant:
        return graph.io_quant[tensor]
    seen, todo = set(), [tensor]
    while todo:  # the tensor itself, or the same bytes under another name behind views and data movers
        t = todo.pop()
        seen.add(t)
        ops = [graph.producer[t]] if t in graph.producer else []
        for op in ops + graph.consumers.get(t, []):
            q = op.quant.get(t)
            if q is not None and np.size(q[0]) == 1:
                return float(np.ravel(q[0])[0]), int(np.ravel(q[1])[0])
            if not op.quant and op.op_type in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"):
                todo += [u for u in graph.activation_inputs(op) + op.outputs if u not in seen]
    return None


# ---- files ---------------------------------------------------------------------------------------------


def _x(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _origin(graph: Graph, plan: Plan) -> str:
    return (
        f" * Generated by pexcp {pexcp.__version__} from {c_comment(Path(graph.source or graph.name).name, 60)} "
        f"(sha256 {plan.model_sha256[:16]}...)\n"
        f" * plan: method {plan.method}, status {plan.status}, arena {plan.arena_bytes:,} bytes, "
        f"{len(plan.steps)} steps ({sum(s.slice is not None for s in plan.steps)} sliced).\n"
    )


def _port_doc(kind: str, i: int, p: Port) -> str:
    text = f"/* {kind} {i}: {c_comment(p.name, 60)}, {p.dtype} {_x(p.shape)} ({p.size} {p.ctype} values)"
    if p.quant is not None:
        text += f"\n * quantized: real = {p.quant[0]!r} * (q {'-' if p.quant[1] >= 0 else '+'} {abs(p.quant[1])})"
    if p.perm is not None:
        declared = "".join(f"[i{a}]" for a in range(len(p.perm)))
        stored = "".join(f"[i{a}]" for a in p.perm)
        text += (
            f"\n * STORED PERMUTED: declared {_x(p.declared)}, stored {_x(p.shape)} = transpose(declared, "
            f"{tuple(p.perm)}),\n * i.e. stored{stored} = declared{declared}"
        )
    return text + " */\n"


def _port_defines(kind: str, i: int, p: Port) -> str:
    name = f"MODEL_{kind.upper()}_{i}"
    text = f"#define {name}_SIZE {p.size}\n"
    if p.quant is not None:
        text += f"#define {name}_SCALE {c_float(p.quant[0])}\n#define {name}_ZERO_POINT {p.quant[1]}\n"
    return text


def api_type(ports: list[Port]) -> str:
    """The pointer type model_input / model_output return: the ports' element type, void when they differ or
    have 8-byte elements (the arena aligns buffers to 4 bytes: read those with memcpy)."""
    types = {p.ctype for p in ports}
    wide = any(np.dtype(p.dtype).itemsize > 4 for p in ports)
    return f"{types.pop()} *" if len(types) == 1 and not wide else "void *"


def _model_h(graph: Graph, plan: Plan, inputs: list[Port], outputs: list[Port]) -> str:
    ports = "".join(
        _port_doc(kind, i, p) + _port_defines(kind, i, p)
        for kind, group in (("input", inputs), ("output", outputs))
        for i, p in enumerate(group)
    )
    stdint = "#include <stdint.h>\n\n" if any(p.dtype != "float32" for p in inputs + outputs) else ""
    return (
        f"/* model.h: C API of {c_comment(graph.name, 60)}.\n{_origin(graph, plan)} *\n"
        " * Write each input through model_input(i), call model_run(), read model_output(j). Every tensor,\n"
        " * inputs and outputs included, lives in one static arena of MODEL_ARENA_BYTES: an input may share\n"
        " * bytes with an output, so copy the outputs before writing the next inputs. Not reentrant.\n */\n"
        f"#ifndef MODEL_H\n#define MODEL_H\n\n{stdint}#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
        f"#define MODEL_ARENA_BYTES {plan.arena_bytes}\n"
        f"#define MODEL_NUM_INPUTS {len(inputs)}\n#define MODEL_NUM_OUTPUTS {len(outputs)}\n\n{ports}\n"
        f"/* the stored input i (NULL if i is out of range) */\n{api_type(inputs)}model_input(int i);\n"
        "/* output j, valid after model_run() until an input is written (NULL if j is out of range) */\n"
        f"{api_type(outputs)}model_output(int j);\n"
        "/* runs the schedule once: straight-line kernel calls, no allocation */\nvoid model_run(void);\n"
        "/* the arena itself (e.g. to fill it with a pattern when testing) */\nvoid *model_arena(void);\n\n"
        "#ifdef __cplusplus\n}\n#endif\n\n#endif\n"
    )


def _switch(name: str, ports: list[Port]) -> str:
    cases = "".join(f"    case {i}:\n        return {Ptr(ARENA, p.offset, p.dtype)};\n" for i, p in enumerate(ports))
    return f"{api_type(ports)}{name}(int i)\n{{\n    switch (i) {{\n{cases}    default:\n        return 0;\n    }}\n}}\n"


def _model_c(
    graph: Graph, plan: Plan, pools: Pools, body: list[str], inputs: list[Port], outputs: list[Port], headers: list[str]
) -> str:
    run = "".join(f"    {line}\n" for line in body)
    includes = "".join(f'#include "runtime/{h}"\n' for h in headers)
    return (
        f"/* model.c: {c_comment(graph.name, 60)} as straight-line calls of the pexcp runtime.\n{_origin(graph, plan)}"
        " * Layout: the arena, the weights (static const: they stay in flash), the kernel parameters, the API,\n"
        " * and model_run() at the end. Pointers are AT(C type, byte offset into the arena), as in the plan.\n */\n"
        f'#include <stdint.h>\n{_STRING if any("memcpy(" in line for line in body) else ""}\n#include "model.h"\n{includes}\n'
        "#if defined(__GNUC__) || defined(__clang__)\n#define MODEL_ALIGNED __attribute__((aligned(16)))\n"
        "#else\n#define MODEL_ALIGNED\n#endif\n\n"
        f"/* every activation tensor at a fixed offset: {plan.arena_bytes} bytes */\n"
        f"static uint8_t arena[{max(1, plan.arena_bytes)}] MODEL_ALIGNED;\n"
        "#define AT(type, byte_offset) ((type *)(void *)(arena + (byte_offset)))\n\n"
        + (_POISON if any(line.startswith("MODEL_POISON") for line in body) else "")
        + "/* ---- weights ---- */\n" + "\n".join(pools.array_text)
        + "\n/* ---- kernel parameters ---- */\n" + "".join(pools.params_text)
        + "\n/* ---- API ---- */\n" + _switch("model_input", inputs) + "\n" + _switch("model_output", outputs)
        + "\nvoid *model_arena(void)\n{\n    return arena;\n}\n\n"
        + f"/* ---- the schedule ---- */\nvoid model_run(void)\n{{\n{run}}}\n"
    )


def _model_mk(kernels: list[str], headers: list[str], libm: bool) -> str:
    sources = " \\\n    ".join(["$(MODEL_DIR)/model.c"] + [f"$(MODEL_DIR)/runtime/{k}.c" for k in kernels])
    runtime_headers = " ".join(f"$(MODEL_DIR)/runtime/{h}" for h in headers)
    link = "link with $(MODEL_LDLIBS) (-lm)" if libm else "no library needed (integer-only: MODEL_LDLIBS is empty)"
    return (
        f"# model.mk: the generated model's sources; include it from your Makefile; {link}.\n"
        "MODEL_DIR ?= .\n"
        f"MODEL_SRCS = {sources}\n"
        f"MODEL_HEADERS = $(MODEL_DIR)/model.h {runtime_headers}\n"
        f"MODEL_LDLIBS ={' -lm' if libm else ''}\n"
    )


def _readme(graph: Graph, plan: Plan, inputs: list[Port], outputs: list[Port], harness: bool) -> str:
    ports = "".join(
        f"- {kind} {i}: `{p.name}` {p.dtype} {_x(p.shape)}"
        + (f", scale {p.quant[0]!r}, zero point {p.quant[1]}" if p.quant else "")
        + (f", stored permuted: declared {_x(p.declared)}, stored = transpose(declared, {tuple(p.perm)})" if p.perm else "")
        + "\n"
        for kind, group in (("input", inputs), ("output", outputs))
        for i, p in enumerate(group)
    )
    text = (
        f"# {graph.name} in C (generated by pexcp {pexcp.__version__})\n\n"
        f"Plan: method {plan.method}, status {plan.status}, arena {plan.arena_bytes:,} bytes "
        f"(every activation, model input and output included), {len(plan.steps)} steps.\n\n"
        "Files: `model.h` (API and sizes), `model.c` (weights as `static const` arrays, the arena, the schedule as\n"
        "straight-line calls), `runtime/` (the kernels it calls), `model.mk` (sources to build).\n"
        "C99, no allocation, no recursion, no global state besides the arena and constants.\n\n"
        f"{ports}\n"
        "Use: write the inputs through `model_input(i)` (in the stored layout), call `model_run()`, read\n"
        "`model_output(j)`. Build: `include model.mk` in your Makefile, compile `$(MODEL_SRCS)`, link\n"
        "`$(MODEL_LDLIBS)`.\n"
        "Define `MODEL_POISON_DEAD` to overwrite every tensor with NaNs when it dies (a lifetime check).\n"
    )
    if harness:
        text += (
            "\nTest harness (`main.c`, `Makefile`):\n\n"
            "- `make host` builds `model_host`: `./model_host in0.bin [in1.bin ...] -o outdir` reads input i as raw\n"
            "  little-endian values of its type (float32 or int8) in the model's declared layout and writes output j\n"
            "  to `outdir/out<j>.bin` the same way.\n"
            "- `make qemu` builds a Cortex-M4F image (arm-none-eabi-gcc, newlib-nano, semihosting) and runs it on\n"
            "  qemu-system-arm (mps2-an386) with built-in pseudo-random inputs: it prints the outputs, static RAM,\n"
            "  stack high-water mark and instructions per inference (`-icount shift=0` + SysTick).\n"
        )
    return text


def _harness_h(inputs: list[Port], outputs: list[Port]) -> str:
    def rows(ports: list[Port]) -> str:
        out = []
        for p in ports:
            declared = p.declared
            strides = [1] * len(declared)
            for a in range(len(declared) - 2, -1, -1):
                strides[a] = strides[a + 1] * declared[a + 1]
            # stored axis k is declared axis perm[k]: its step in the declared layout
            steps = [strides[p.perm[k]] for k in range(len(p.shape))] if p.perm else strides
            dims = ", ".join(map(str, p.shape)) or "1"
            dtype = HARNESS_TYPES[p.dtype]
            out.append(
                f"    {{{c_string(p.name)}, {dtype}, {max(1, len(p.shape))}, {{{dims}}}, "
                f"{{{', '.join(map(str, steps)) or '1'}}}}},"
            )
        return "\n".join(out)

    return (
        "/* harness.h: the model's inputs and outputs for main.c (generated by pexcp). */\n"
        "#ifndef HARNESS_H\n#define HARNESS_H\n\n#define HARNESS_MAX_RANK 8\n\n"
        + "".join(f"#define {code} {i}\n" for i, code in enumerate(dict.fromkeys(HARNESS_TYPES.values())))
        + "\ntypedef struct {\n    const char *name;\n    int dtype; /* HARNESS_FLOAT32, HARNESS_INT8, ... */\n    int rank;\n    long dims[HARNESS_MAX_RANK];  /* stored */\n"
        "    long steps[HARNESS_MAX_RANK]; /* per stored axis: its stride in the declared layout */\n} harness_port;\n\n"
        f"static const harness_port harness_inputs[] = {{\n{rows(inputs)}\n}};\n"
        f"static const harness_port harness_outputs[] = {{\n{rows(outputs)}\n}};\n\n#endif\n"
    )
