"""The int8 C backend on the shared int8 models: arenas against TensorFlow Lite Micro's, and the Cortex-M4F
image (QEMU mps2-an386) of the cpsat plan with `--io int8`: static RAM, flash, stack, instructions per
inference and per MAC next to published Cortex-M4 figures, and what partial execution costs.

    python benchmarks/bench_int8.py [--timeout 60] [--opt -O2] [--markdown] [--keep DIR]

Needs tflite-micro (pip, the `test` extra), arm-none-eabi-gcc, libnewlib-arm-none-eabi and qemu-system-arm.
Every plan is validated by `solve`; every image's outputs are compared with TFLite Micro's on the image's
built-in input before its figures are printed (exit code 1 if any differs). Instructions are exact counts
of model_run() (QEMU -icount shift=0, SysTick, 40 per tick); the published figures are cycles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from bench_c_backend import CPU_FLAGS, _table  # noqa: E402
from pexcp.backends.c import emit  # noqa: E402
from pexcp.backends.c.emit import append_scratch  # noqa: E402
from pexcp.backends.c.toolchain import build_qemu, missing_tools, qemu_inputs, run_qemu, section_sizes  # noqa: E402
from pexcp.ir import Graph  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.registry import METHODS  # noqa: E402

SPLIT_METHOD, UNSPLIT_METHOD = "cpsat", "reorder"
# cycles per inference on a Cortex-M4 at 120 MHz, MLPerf Tiny closed division (issue 12):
# TFLite Micro + CMSIS-NN (v0.5 reference submission) and X-CUBE-AI 10.2 (v1.3); TinyEngine on a Cortex-M7
ANCHORS = {
    "vww_96_int8": ("VWW", 72.1e6, 10.7e6),
    "kws_ref_model_int8": ("KWS", 21.8e6, 5.2e6),
    "ic_resnet8_int8": ("ResNet-8", 84.5e6, 19.9e6),
    "ad01_int8": ("AD", 1.21e6, 0.58e6),
    "te_mcunet_vww": ("MCUNet-VWW (TinyEngine, M7: 24.5 M)", None, None),
}


def macs(graph: Graph) -> int:
    """Multiply-accumulates of the convolutions and products (the figure MLPerf Tiny quotes)."""
    total = 0
    for op in graph.ops:
        out = graph.tensors[op.outputs[0]]
        if op.op_type == "Conv":
            w = graph.constants[op.inputs[1]]
            total += out.numel * int(np.prod(w.shape[1:]))
        elif op.op_type in ("Gemm", "MatMul"):
            x = graph.tensors[op.inputs[0]]
            total += out.numel * x.shape[-1]
    return total


@dataclass
class Image:
    arena: int
    static_ram: int
    flash: int
    stack: int
    instructions: int
    macs: int
    sliced_steps: int
    exact: bool


def tflm_reference(model: Path, graph: Graph, tflite: Path, x_int8: np.ndarray) -> np.ndarray:
    """TFLite Micro's int8 output for the image's int8 input. With float model I/O, the input is fed as the
    float value that the model's QUANTIZE maps back to exactly these int8 values, and the float output is
    requantized exactly (the DEQUANTIZE is injective)."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_file(str(tflite), arena_size=1 << 22)
    details = it.get_input_details(0)
    x = x_int8
    if details["dtype"] == np.float32:
        scale, zp = graph.io_quant[graph.inputs[0]]
        x = (np.float32(scale) * (x_int8.astype(np.float32) - np.float32(zp))).astype(np.float32)
    it.set_input(x.reshape(details["shape"]), 0)
    it.invoke()
    y = np.asarray(it.get_output(0)).ravel()
    if y.dtype == np.float32:
        scale, zp = graph.io_quant[graph.outputs[0]]
        return np.round(y / np.float32(scale)).astype(np.int64) + zp
    return y.astype(np.int64)


def measure(
    model: Path, method: str, tflite: Path, timeout: float, opt: str, workdir: Path, scratch: bool = False
) -> Image:
    graph, plan = solve(model, method, SolveOptions(timeout=timeout, io="int8"))
    if scratch:
        plan = append_scratch(graph, plan)
    outdir = workdir / f"{model.stem}-{method}{'-scratch' if scratch else ''}"
    emit(graph, plan, outdir, harness=True)
    elf = build_qemu(outdir, opt)
    run = run_qemu(outdir, timeout=300)
    (x,) = qemu_inputs(graph)
    want = tflm_reference(model, graph, tflite, x)
    sizes = section_sizes(elf)
    return Image(
        arena=plan.arena_bytes,
        static_ram=sizes.get(".data", 0) + sizes.get(".bss", 0),
        flash=sizes.get(".text", 0) + sizes.get(".rodata", 0) + sizes.get(".data", 0),
        stack=run.stack_bytes,
        instructions=run.instructions,
        macs=macs(graph),
        sliced_steps=sum(s.slice is not None for s in plan.steps),
        exact=bool(np.array_equal(run.outputs[0].astype(np.int64), want)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="solver seconds per model and method")
    parser.add_argument("--opt", default="-O2", help="optimisation flag of the Cortex-M build")
    shared = os.environ.get("PEXCP_SHARED_MODELS") or REPO.parent / "shared" / "models"
    parser.add_argument("--models", type=Path, default=Path(shared), help="the shared models folder")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--keep", type=Path, help="keep the generated projects in this directory")
    args = parser.parse_args()
    console = Console(width=220)
    missing = missing_tools()
    if missing:
        console.print(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
        return 1
    models = sorted((args.models / "onnx_int8").glob("*.onnx"))
    baseline = json.loads((args.models / "tflm_baseline.json").read_text())
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pexcp-bench-int8-"))

    rows = []
    for model in models:
        arenas = [solve(model, m, SolveOptions(timeout=args.timeout))[1].arena_bytes for m in METHODS]
        io8 = solve(model, SPLIT_METHOD, SolveOptions(timeout=args.timeout, io="int8"))[1].arena_bytes
        tflm = baseline.get(model.stem, {})
        rows.append([
            model.stem, f"{tflm.get('tflm_planned_activation_bytes', 0):,}", f"{tflm.get('tflm_arena_min_bytes', 0):,}",
            *[f"{a:,}" for a in arenas], f"{io8:,}",
        ])
    _table(
        "activation arena in bytes (model input and output included; int32 accumulators of split tails included; no "
        "kernel scratch: the plans hold none yet, so the kernels run their portable loops). TFLM planned = its "
        "non-persistent arena (activations + scratch); TFLM min arena adds its persistent data",
        ["model", "TFLM planned", "TFLM min arena", *METHODS, f"{SPLIT_METHOD} --io int8"],
        rows, args.markdown, console,
    )

    console.print(
        f"\nCortex-M4F, QEMU mps2-an386 -icount shift=0, arm-none-eabi-gcc {args.opt} -std=c99 {CPU_FLAGS}, "
        "newlib-nano + semihosting, --io int8; instructions of model_run() (SysTick x 40)"
    )
    images: dict[tuple[str, str], Image] = {}
    failed = False
    for model in models:
        tflite = args.models / "tflite" / f"{model.stem}.tflite"
        for method, scratch in ((SPLIT_METHOD, False), (UNSPLIT_METHOD, False), (SPLIT_METHOD, True)):
            key = (model.stem, method + ("+scratch" if scratch else ""))
            try:
                images[key] = img = measure(model, method, tflite, args.timeout, args.opt, workdir, scratch)
            except Exception as e:  # report and go on with the other models
                console.print(f"[red]{key}: {type(e).__name__}: {str(e)[:500]}[/red]")
                failed = True
                continue
            if not img.exact:
                console.print(f"[red]{key}: outputs differ from TFLite Micro[/red]")
                failed = True

    rows = []
    for model in models:
        img = images.get((model.stem, SPLIT_METHOD))
        if img is None:
            continue
        name, cmsis, best = ANCHORS.get(model.stem, (model.stem, None, None))
        rows.append([
            model.stem, f"{img.arena:,}", f"{img.static_ram:,}", f"{img.static_ram - img.arena:,}", f"{img.flash:,}",
            f"{img.stack:,}", f"{img.macs / 1e6:.2f} M", f"{img.instructions / 1e6:.2f} M",
            f"{img.instructions / img.macs:.1f}", name,
            f"{cmsis / 1e6:.1f} M" if cmsis else "-", f"{best / 1e6:.1f} M" if best else "-",
            f"{img.instructions / cmsis:.2f}" if cmsis else "-",
        ])
    _table(
        f"{SPLIT_METHOD} plan, --io int8, on the Cortex-M4F (static RAM = .data + .bss of the whole image; flash = "
        ".text + .rodata + .data; stack = high-water of model_run with one exception frame). Anchors are cycles",
        ["model", "arena B", "static RAM B", "beyond arena B", "flash B", "stack B", "MACs", "instructions",
         "insns/MAC", "anchor", "TFLM+CMSIS-NN cycles", "X-CUBE-AI cycles", "insns/TFLM+CMSIS"],
        rows, args.markdown, console,
    )

    rows = []
    for model in models:
        split, whole = images.get((model.stem, SPLIT_METHOD)), images.get((model.stem, UNSPLIT_METHOD))
        if split is None or whole is None:
            continue
        rows.append([
            model.stem, f"{split.sliced_steps}", f"{whole.arena:,}", f"{split.arena:,}",
            f"{whole.instructions / 1e6:.2f} M", f"{split.instructions / 1e6:.2f} M",
            f"{(split.instructions / whole.instructions - 1) * 100:+.2f}%",
        ])
    _table(
        f"partial execution, --io int8: the {SPLIT_METHOD} plan vs the unsplit {UNSPLIT_METHOD} plan (target < +5%)",
        ["model", "sliced steps", f"{UNSPLIT_METHOD} arena B", f"{SPLIT_METHOD} arena B", f"{UNSPLIT_METHOD} insns",
         f"{SPLIT_METHOD} insns", "extra insns"],
        rows, args.markdown, console,
    )

    rows = []
    for model in models:
        fast, base = images.get((model.stem, SPLIT_METHOD + "+scratch")), images.get((model.stem, SPLIT_METHOD))
        if fast is None or base is None:
            continue
        cmsis = ANCHORS.get(model.stem, ("", None, None))[1]
        rows.append([
            model.stem, f"{fast.arena - base.arena:,}", f"{fast.arena:,}", f"{fast.stack:,}",
            f"{base.instructions / 1e6:.2f} M", f"{fast.instructions / 1e6:.2f} M", f"{fast.instructions / fast.macs:.1f}",
            f"{cmsis / 1e6:.1f} M" if cmsis else "-", f"{fast.instructions / cmsis:.2f}" if cmsis else "-",
        ])
    _table(
        f"experiment: the kernels' DSP fast paths, given a scratch region appended to the {SPLIT_METHOD} --io int8 "
        "arena (the planners do not place kernel scratch yet; without it the kernels run their portable loops)",
        ["model", "scratch B", "arena + scratch B", "stack B", "portable insns", "DSP insns", "DSP insns/MAC",
         "TFLM+CMSIS-NN cycles", "DSP insns/TFLM+CMSIS"],
        rows, args.markdown, console,
    )
    if args.keep is None:
        console.print(f"projects in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
