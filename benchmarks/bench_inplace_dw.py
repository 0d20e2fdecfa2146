"""In-place depthwise convolution (solver switch `inplace_depthwise`) on the shared int8 models: the cpsat
plan with `--io int8` without and with the switch, its arena, proof status and in-place steps, and the
Cortex-M4F image of each (QEMU mps2-an386): instructions per inference and static RAM.

    python benchmarks/bench_inplace_dw.py [--timeout 60] [--opt -O2] [--markdown] [--models DIR]

Arenas count as TFLite Micro does: the model input and output in the arena, and the kernel scratch of the
DSP fast paths included as planned buffers (`--scratch on`, the default). Every plan is validated by
`solve`; every image's output is compared with TFLite Micro's on the image's built-in input before its
figures are printed (exit code 1 if any differs). Instructions are exact counts of model_run() (QEMU
-icount shift=0); the issue's yardstick is the unsplit plan (method reorder). Also printed: the file's order
unsplit, without and with every eligible depthwise conv forced in place (greedy layout), which isolates what
the per-channel calls and copies cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from bench_c_backend import _table  # noqa: E402
from bench_int8 import tflm_reference  # noqa: E402
from pexcp.analysis.inplace import extra_calls, in_place_ops, runs_last  # noqa: E402
from pexcp.analysis.liveness import Schedule, expand  # noqa: E402
from pexcp.backends.c import emit  # noqa: E402
from pexcp.backends.c.toolchain import build_qemu, missing_tools, qemu_inputs, run_qemu, section_sizes  # noqa: E402
from pexcp.ir import Graph  # noqa: E402
from pexcp.layout.pinned import best_of_items  # noqa: E402
from pexcp.pipeline import load_for, solve  # noqa: E402
from pexcp.plan.build import item_offsets, make_plan  # noqa: E402
from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.plan.validate import validate_plan  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.params import SolverParams  # noqa: E402

COSTS = REPO / "pexcp" / "solvers" / "cpsat" / "costs.json"
MODELS = ("te_mcunet_vww", "vww_96_int8", "kws_ref_model_int8", "ic_resnet8_int8")


@dataclass
class Run:
    plan: Plan
    instructions: int
    static_ram: int
    exact: bool
    added_calls: int  # kernel calls its in-place steps add (one per channel instead of one)
    flash: int = 0  # .text + .rodata + .data of the image


def image_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark of Cortex-M images of the shared int8 models takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="solver seconds per model and plan")
    parser.add_argument("--opt", default="-O2", help="optimisation flag of the Cortex-M build")
    shared = os.environ.get("PEXCP_SHARED_MODELS") or REPO.parent / "shared" / "models"
    parser.add_argument("--models", type=Path, default=Path(shared), help="the shared models folder")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--keep", type=Path, help="keep the generated projects in this directory")
    return parser


def file_order(model: Path, in_place: bool) -> tuple[Graph, Plan]:
    """The file's order, unsplit, laid out greedily (validated); with `in_place`, every eligible depthwise
    conv in place."""
    graph = load_for(model, "reorder", SolveOptions(io="int8"))
    order = [op.name for op in graph.ops]
    names = [op.name for op in in_place_ops(graph) if in_place and runs_last(graph, order, op)]
    expanded = expand(graph, Schedule(order, {}, names))
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="reorder", status="heuristic", lower_bound=expanded.load,
                     seconds=0.0)
    validate_plan(plan, model)
    return graph, plan


def image(model: Path, graph: Graph, plan: Plan, tflite: Path, opt: str, outdir: Path) -> Run:
    emit(graph, plan, outdir, harness=True)
    elf = build_qemu(outdir, opt)
    run = run_qemu(outdir, timeout=300)
    (x,) = qemu_inputs(graph)
    want = tflm_reference(model, graph, tflite, x)
    sizes = section_sizes(elf)
    return Run(plan, run.instructions, sizes.get(".data", 0) + sizes.get(".bss", 0),
               bool(np.array_equal(run.outputs[0].astype(np.int64), want)),
               sum(extra_calls(graph, graph.op(s.op)) for s in plan.steps if s.in_place),
               sizes.get(".text", 0) + sizes.get(".rodata", 0) + sizes.get(".data", 0))


def main() -> int:
    parser = image_parser(__doc__)
    parser.add_argument("--write", action="store_true", help=f"store the fitted cost per call in {COSTS.relative_to(REPO)}")
    args = parser.parse_args()
    console = Console(width=220)
    missing = missing_tools()
    if missing:
        console.print(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
        return 1
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pexcp-bench-inplace-"))
    failed = False
    rows, forced_rows = [], []
    added, calls = 0, 0  # instructions and extra kernel calls of the forced in-place runs
    for name in MODELS:
        model = args.models / "onnx_int8" / f"{name}.onnx"
        tflite = args.models / "tflite" / f"{name}.tflite"
        runs: dict[str, Run] = {}
        alone = SolverParams(inplace_pointwise=False)  # depthwise convs alone (bench_inplace_pw.py: both kinds)
        for tag, params in (("off", alone), ("on", replace(alone, inplace_depthwise=True))):
            graph, plan = solve(model, "cpsat", SolveOptions(timeout=args.timeout, io="int8", params=params))
            runs[tag] = image(model, graph, plan, tflite, args.opt, workdir / f"{name}-{tag}")
        graph, plan = solve(model, "reorder", SolveOptions(timeout=args.timeout, io="int8"))
        runs["unsplit"] = image(model, graph, plan, tflite, args.opt, workdir / f"{name}-unsplit")
        for tag in ("file", "forced"):
            graph, plan = file_order(model, tag == "forced")
            runs[tag] = image(model, graph, plan, tflite, args.opt, workdir / f"{name}-{tag}")
        for tag, r in runs.items():
            if not r.exact:
                console.print(f"[red]{name} ({tag}): outputs differ from TFLite Micro[/red]")
                failed = True
        off, on, unsplit, file, all_in = (runs[k] for k in ("off", "on", "unsplit", "file", "forced"))
        eligible = len(in_place_ops(graph))
        rows.append([
            name, f"{off.plan.arena_bytes:,}", off.plan.status, f"{on.plan.arena_bytes:,}", on.plan.status,
            f"{(on.plan.arena_bytes / off.plan.arena_bytes - 1) * 100:+.1f}%",
            f"{sum(s.in_place for s in on.plan.steps)} / {eligible}",
            f"{off.instructions / 1e6:.3f} M", f"{on.instructions / 1e6:.3f} M",
            f"{(on.instructions / off.instructions - 1) * 100:+.2f}%",
            f"{(on.instructions / unsplit.instructions - 1) * 100:+.2f}%", f"{off.static_ram:,}", f"{on.static_ram:,}",
            f"{on.plan.solve_seconds:.1f}",
        ])
        added += all_in.instructions - file.instructions
        calls += all_in.added_calls
        forced_rows.append([
            name, f"{sum(s.in_place for s in all_in.plan.steps)}", f"{file.plan.arena_bytes:,}",
            f"{all_in.plan.arena_bytes:,}", f"{file.instructions / 1e6:.3f} M", f"{all_in.instructions / 1e6:.3f} M",
            f"{(all_in.instructions / file.instructions - 1) * 100:+.2f}%", f"{all_in.added_calls:,}",
            f"{(all_in.instructions - file.instructions) / max(all_in.added_calls, 1):.0f}",
        ])
    _table(
        "cpsat --io int8 --solver inplace_pointwise=false without / with --solver inplace_depthwise=true (arena: "
        "model input and output in the arena, planned kernel scratch included; status: optimal = proven; instructions of model_run() on the "
        "Cortex-M4F, outputs identical to TFLite Micro's)",
        ["model", "arena off B", "status off", "arena on B", "status on", "arena change", "in-place steps / eligible",
         "insns off", "insns on", "insns change", "insns on vs unsplit reorder", "static RAM off B", "static RAM on B", "solve s (on)"],
        rows, args.markdown, console,
    )
    _table(
        "what the per-channel calls and copies cost: the file's order unsplit (greedy layout) without and with "
        "every eligible depthwise conv in place",
        ["model", "in-place steps", "arena without B", "arena with B", "insns without", "insns with", "insns change",
         "extra calls", "insns per extra call"],
        forced_rows, args.markdown, console,
    )
    per_call = added / max(calls, 1)
    console.print(f"fit: {per_call:.1f} instructions per extra call of an in-place depthwise conv, copy included")
    if args.write:
        data = json.loads(COSTS.read_text())
        data.update({"in_place_per_call": round(per_call, 1), "in_place_measured_by": "benchmarks/bench_inplace_dw.py"})
        COSTS.write_text(json.dumps(data, indent=1) + "\n")
        console.print(f"written to {COSTS.relative_to(REPO)}")
    if args.keep is None:
        console.print(f"projects in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
