"""The C backend on a Cortex-M4F (QEMU mps2-an386): static RAM, stack, flash and instructions per inference
of every shared float model, next to the onnx2c yardstick; and what partial execution costs in instructions.

    python benchmarks/bench_c_backend.py [--method cpsat] [--timeout 60] [--opt -O2] [--markdown] [--keep DIR]

Needs arm-none-eabi-gcc, libnewlib-arm-none-eabi and qemu-system-arm. Every plan is validated by `solve`,
every image's outputs are checked against onnxruntime before its figures are printed (exit code 1 if any
model fails). Instructions are exact counts of model_run() (QEMU -icount shift=0, SysTick, 40 per tick).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pexcp.backends.c import emit  # noqa: E402
from pexcp.backends.c.toolchain import build_qemu, missing_tools, qemu_inputs, run_qemu, section_sizes  # noqa: E402
from pexcp.solvers.registry import DEFAULT_METHOD, METHODS  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

# onnx2c (default options, -O2, Cortex-M4F mps2-an386, QEMU icount) on these models, from the issue:
# activation bytes (model input and output excluded: its caller owns them) and instructions per inference
ONNX2C = {
    "vww_96_float": (294_912, 76.2e6),
    "kws_ref_model_float32": (64_000, 27.5e6),
    "ic_resnet8_float": (196_608, 244.0e6),
    "ad01_fp32": (1_024, 1.61e6),
    "te_mcunet_vww_dequant": (722_688, 116.0e6),
}
UNSPLIT_METHOD = "reorder"  # the same rewrites as the partial-execution methods, every op run whole
CPU_FLAGS = "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard"


@dataclass
class Measure:
    model: str
    method: str
    arena: int
    io_bytes: int  # model inputs + outputs (inside the arena)
    static_ram: int  # .data + .bss of the image
    stack: int
    flash: int  # .text + .rodata + .data
    weights: int
    instructions: int
    sliced_steps: int
    max_rel_error: float


def measure(model: Path, method: str, timeout: float, opt: str, workdir: Path) -> Measure:
    import onnxruntime as ort

    graph, plan = solve(model, method, SolveOptions(timeout=timeout))
    outdir = workdir / f"{model.stem}-{method}"
    project = emit(graph, plan, outdir, harness=True)
    elf = build_qemu(outdir, opt)
    run = run_qemu(outdir, timeout=300)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), qemu_inputs(graph))})
    error = max(float(np.abs(got - r.ravel()).max()) / (float(np.ptp(r)) or 1.0) for got, r in zip(run.outputs, ref))
    sizes = section_sizes(elf)
    return Measure(
        model=model.stem,
        method=method,
        arena=plan.arena_bytes,
        io_bytes=sum(graph.tensors[t].nbytes for t in graph.inputs + graph.outputs),
        static_ram=sizes.get(".data", 0) + sizes.get(".bss", 0),
        stack=run.stack_bytes,
        flash=sizes.get(".text", 0) + sizes.get(".rodata", 0) + sizes.get(".data", 0),
        weights=project.weight_bytes,
        instructions=run.instructions,
        sliced_steps=sum(s.slice is not None for s in plan.steps),
        max_rel_error=error,
    )


def _table(title: str, columns: list[str], rows: list[list[str]], markdown: bool, console: Console) -> None:
    if markdown:
        console.print(f"\n**{title}**\n")
        console.print("| " + " | ".join(columns) + " |")
        console.print("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            console.print("| " + " | ".join(row) + " |")
        return
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=list(METHODS))
    parser.add_argument("--timeout", type=float, default=60.0, help="solver seconds per model")
    parser.add_argument("--opt", default="-O2", help="optimisation flag of the Cortex-M build (onnx2c yardstick: -O2)")
    shared = os.environ.get("PEXCP_SHARED_MODELS") or REPO.parent / "shared" / "models"
    parser.add_argument("--models", type=Path, default=Path(shared), help="the shared models folder")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--keep", type=Path, help="keep the generated projects in this directory")
    args = parser.parse_args()
    console = Console(width=200)
    missing = missing_tools()
    if missing:
        console.print(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
        return 1
    models = sorted((args.models / "onnx").glob("*.onnx"))
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pexcp-bench-c-"))
    console.print(
        f"Cortex-M4F, QEMU mps2-an386 -icount shift=0, arm-none-eabi-gcc {args.opt} -std=c99 -ffp-contract=off "
        f"{CPU_FLAGS}, newlib-nano + semihosting; instructions of model_run() (SysTick x 40)"
    )
    methods = [args.method] + ([UNSPLIT_METHOD] if args.method != UNSPLIT_METHOD else [])
    results: dict[tuple[str, str], Measure] = {}
    failed = False
    for model in models:
        for method in methods:
            try:
                results[(model.stem, method)] = m = measure(model, method, args.timeout, args.opt, workdir)
            except Exception as e:  # report and go on with the other models
                console.print(f"[red]{model.stem} {method}: {type(e).__name__}: {str(e)[:500]}[/red]")
                failed = True
                continue
            if m.max_rel_error > 1e-4:
                error = f"{m.max_rel_error:.2g} of the range"
                console.print(f"[red]{model.stem} {method}: outputs differ from onnxruntime ({error})[/red]")
                failed = True

    rows = []
    for model in models:
        m = results.get((model.stem, args.method))
        if m is None:
            continue
        yard_bytes, yard_insns = ONNX2C.get(m.model, (0, 0.0))
        rows.append([
            m.model, m.method, f"{m.arena:,}", f"{m.io_bytes:,}", f"{m.static_ram:,}", f"{m.static_ram - m.arena:,}",
            f"{m.stack:,}", f"{m.flash:,}", f"{m.weights:,}", f"{m.instructions / 1e6:.2f} M",
            f"{yard_bytes:,}" if yard_bytes else "-", f"{yard_insns / 1e6:.1f} M" if yard_insns else "-",
            f"{m.arena / yard_bytes:.2f}" if yard_bytes else "-",
            f"{m.instructions / yard_insns:.2f}" if yard_insns else "-",
        ])
    _table(
        "pexcp C backend per model (arena includes the model input and output; onnx2c's bytes exclude them)",
        ["model", "method", "arena B", "in+out B", ".data+.bss B", "overhead B", "stack B", "flash B", "weights B",
         "instructions", "onnx2c B", "onnx2c insns", "arena/onnx2c", "insns/onnx2c"],
        rows, args.markdown, console,
    )

    split_rows = []
    for model in models:
        split, whole = results.get((model.stem, args.method)), results.get((model.stem, UNSPLIT_METHOD))
        if split is None or whole is None or split is whole:
            continue
        split_rows.append([
            model.stem, f"{split.sliced_steps}", f"{whole.arena:,}", f"{split.arena:,}",
            f"{whole.instructions / 1e6:.2f} M", f"{split.instructions / 1e6:.2f} M",
            f"{(split.instructions / whole.instructions - 1) * 100:+.1f}%",
        ])
    if split_rows:
        _table(
            f"partial execution: {args.method} plan vs the unsplit {UNSPLIT_METHOD} plan (target: < +5% instructions)",
            ["model", "sliced steps", f"{UNSPLIT_METHOD} arena B", f"{args.method} arena B",
             f"{UNSPLIT_METHOD} insns", f"{args.method} insns", "extra insns"],
            split_rows, args.markdown, console,
        )
    else:
        console.print(f"(no split-vs-unsplit table: method {args.method} is the unsplit method)")
    if args.keep is None:
        console.print(f"projects in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
