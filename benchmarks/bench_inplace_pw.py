"""In-place pointwise convolution (solver switch `inplace_pointwise`, with and without `inplace_depthwise`) on
the shared int8 models: the cpsat plan with `--io int8` under each combination of the two switches, its
arena, proof status and in-place steps, and the Cortex-M4F image of each (QEMU mps2-an386): instructions
per inference and static RAM.

    python benchmarks/bench_inplace_pw.py [--timeout 60] [--opt -O2] [--markdown] [--models DIR]

Arenas count as TFLite Micro does: the model input and output in the arena, and the kernel scratch of the
DSP fast paths included as planned buffers (`--scratch on`, the default); the last column gives the arena
with both switches and `--scratch off`. Every plan is validated by `solve`; every image's output is
compared with TFLite Micro's on the image's built-in input before its figures are printed (exit code 1 if
any differs). Instructions are exact counts of model_run() (QEMU -icount shift=0). Also printed: the file's
order unsplit, without and with every eligible pointwise conv forced in place (greedy layout), which
isolates what the in-place kernel costs, with the DSP paths and with the portable loops (`-DPEXCP_NO_DSP`,
as on a core without the DSP extension).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from bench_c_backend import _table  # noqa: E402
from bench_inplace_dw import Run, image, image_parser  # noqa: E402
from bench_int8 import tflm_reference  # noqa: E402
from pexcp.analysis.inplace import DEPTHWISE, POINTWISE, in_place_ops, kind, runs_last  # noqa: E402
from pexcp.analysis.liveness import Schedule, expand  # noqa: E402
from pexcp.backends.c import emit  # noqa: E402
from pexcp.backends.c.toolchain import build_qemu, missing_tools, qemu_inputs, run_qemu  # noqa: E402
from pexcp.ir import Graph  # noqa: E402
from pexcp.layout.pinned import best_of_items  # noqa: E402
from pexcp.pipeline import load_for, solve  # noqa: E402
from pexcp.plan.build import item_offsets, make_plan  # noqa: E402
from pexcp.plan.plan import Plan  # noqa: E402
from pexcp.plan.validate import validate_plan  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.params import SolverParams  # noqa: E402

MODELS = ("kws_ref_model_int8", "te_mcunet_vww", "vww_96_int8", "ic_resnet8_int8", "ad01_int8")
SWITCHES = {
    "off": SolverParams(inplace_pointwise=False),
    "dw": SolverParams(inplace_depthwise=True, inplace_pointwise=False),
    "pw": SolverParams(inplace_pointwise=True),
    "both": SolverParams(inplace_depthwise=True, inplace_pointwise=True),
}


def file_order(model: Path, in_place: bool) -> tuple[Graph, Plan]:
    """The file's order, unsplit, laid out greedily (validated); with `in_place`, every eligible pointwise
    conv in place."""
    graph = load_for(model, "reorder", SolveOptions(io="int8"))
    order = [op.name for op in graph.ops]
    names = [op.name for op in in_place_ops(graph, (POINTWISE,)) if in_place and runs_last(graph, order, op)]
    expanded = expand(graph, Schedule(order, {}, names))
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="reorder", status="heuristic", lower_bound=expanded.load,
                     seconds=0.0)
    validate_plan(plan, model)
    return graph, plan


def portable(model: Path, graph: Graph, plan: Plan, tflite: Path, opt: str, outdir: Path) -> tuple[int, bool]:
    """Instructions of model_run() built without the DSP paths, and whether the output is TFLite Micro's."""
    emit(graph, plan, outdir, harness=True)
    build_qemu(outdir, opt, "-DPEXCP_NO_DSP")
    run = run_qemu(outdir, timeout=600)
    (x,) = qemu_inputs(graph)
    return run.instructions, bool(np.array_equal(run.outputs[0].astype(np.int64), tflm_reference(model, graph, tflite, x)))


def _steps(graph: Graph, plan: Plan) -> str:
    """In-place steps as depthwise + pointwise."""
    kinds = [kind(graph, graph.op(s.op)) for s in plan.steps if s.in_place]
    return f"{kinds.count(DEPTHWISE)} + {kinds.count(POINTWISE)}"


def main() -> int:
    parser = image_parser(__doc__)
    args = parser.parse_args()
    console = Console(width=240)
    missing = missing_tools()
    if missing:
        console.print(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
        return 1
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pexcp-bench-inplace-pw-"))
    failed = False
    rows, insn_rows, forced_rows = [], [], []
    for name in MODELS:
        model = args.models / "onnx_int8" / f"{name}.onnx"
        tflite = args.models / "tflite" / f"{name}.tflite"
        runs: dict[str, Run] = {}
        graphs: dict[str, Graph] = {}
        for tag, params in SWITCHES.items():
            graph, plan = solve(model, "cpsat", SolveOptions(timeout=args.timeout, io="int8", params=params))
            graphs[tag] = graph
            runs[tag] = image(model, graph, plan, tflite, args.opt, workdir / f"{name}-{tag}")
        _, no_scratch = solve(model, "cpsat", SolveOptions(timeout=args.timeout, io="int8", scratch=False,
                                                           params=SWITCHES["both"]))
        plain_insns: dict[str, int] = {}
        for tag in ("file", "forced"):
            graph, plan = file_order(model, tag == "forced")
            runs[tag] = image(model, graph, plan, tflite, args.opt, workdir / f"{name}-{tag}")
            plain_insns[tag], exact = portable(model, graph, plan, tflite, args.opt, workdir / f"{name}-{tag}-portable")
            if not exact:
                console.print(f"[red]{name} ({tag}, portable): outputs differ from TFLite Micro[/red]")
                failed = True
        for tag, r in runs.items():
            if not r.exact:
                console.print(f"[red]{name} ({tag}): outputs differ from TFLite Micro[/red]")
                failed = True
        off, both = runs["off"], runs["both"]
        eligible = f"{len(in_place_ops(graph, (DEPTHWISE,)))} + {len(in_place_ops(graph, (POINTWISE,)))}"
        rows.append([name, eligible] + [
            f"{runs[t].plan.arena_bytes:,} ({'opt' if runs[t].plan.status == 'optimal' else runs[t].plan.status})"
            for t in SWITCHES
        ] + [_steps(graphs["both"], both.plan), f"{(both.plan.arena_bytes / off.plan.arena_bytes - 1) * 100:+.1f}%",
             f"{no_scratch.arena_bytes:,} ({'opt' if no_scratch.status == 'optimal' else no_scratch.status})"])
        insn_rows.append([name] + [f"{runs[t].instructions / 1e6:.3f} M" for t in SWITCHES] + [
            f"{(runs['pw'].instructions / off.instructions - 1) * 100:+.2f}%",
            f"{(both.instructions / off.instructions - 1) * 100:+.2f}%", f"{off.static_ram:,}", f"{both.static_ram:,}",
        ])
        file, forced = runs["file"], runs["forced"]
        forced_rows.append([
            name, f"{sum(s.in_place for s in forced.plan.steps)}", f"{file.plan.arena_bytes:,}",
            f"{forced.plan.arena_bytes:,}", f"{file.instructions / 1e6:.4f} M", f"{forced.instructions / 1e6:.4f} M",
            f"{forced.instructions - file.instructions:+,}", f"{plain_insns['file'] / 1e6:.3f} M",
            f"{plain_insns['forced'] / 1e6:.3f} M", f"{(plain_insns['forced'] / plain_insns['file'] - 1) * 100:+.2f}%",
        ])
    _table(
        "cpsat --io int8 arena B (status) with both in-place switches off, inplace_depthwise only (dw), "
        "inplace_pointwise only (pw, the default) and both (model input and output in the arena, planned kernel scratch included; opt = proven optimal)",
        ["model", "eligible dw + pw", "off", "dw", "pw", "both", "in-place steps dw + pw (both)", "both vs off",
         "both, --scratch off"],
        rows, args.markdown, console,
    )
    _table(
        "instructions of model_run() on the Cortex-M4F (QEMU) for the same plans, outputs identical to TFLite "
        "Micro's; static RAM = .data + .bss of the image",
        ["model", "insns off", "insns dw", "insns pw", "insns both", "pw vs off", "both vs off",
         "static RAM off B", "static RAM both B"],
        insn_rows, args.markdown, console,
    )
    _table(
        "what the in-place pointwise kernel costs: the file's order unsplit (greedy layout) without and with "
        "every eligible pointwise conv in place",
        ["model", "in-place steps", "arena without B", "arena with B", "insns without", "insns with", "insns change",
         "portable insns without", "portable insns with", "portable change"],
        forced_rows, args.markdown, console,
    )
    if args.keep is None:
        console.print(f"projects in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
