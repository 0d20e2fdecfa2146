"""What each memory-model extension of issue 16 buys on the shared int8 models: the cpsat plan with `--io int8`
under the default switches, with each extension alone (`bands`: row-band execution; `band chains`: the
same with `band_dags=false`, band groups that are chains only; `inplace_depthwise`; `drop_scratch`: a kernel
may go without its scratch), with bands and in-place depthwise convs, and with all three; its arena and proof status; and the Cortex-M4F image (QEMU mps2-an386) of the unsplit plan (method
`reorder`) and of each plan but the single in-place and scratch ones: instructions per inference and static
RAM.

    python benchmarks/bench_bands.py [--timeout 60] [--opt -O2] [--markdown] [--models DIR] [--no-images]

Arenas count as TFLite Micro does: the model input and output in the arena, and the kernel scratch of the
DSP fast paths included as planned buffers (`--scratch on`, the default; a kernel that `drop_scratch` runs
without scratch runs its portable loops and needs none). Every plan is validated by `solve`; every image's
output is compared with TFLite Micro's on the image's built-in input before its figures are printed (exit
code 1 if any differs). Instructions are exact counts of model_run() (QEMU -icount shift=0).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from rich.console import Console  # noqa: E402

from bench_c_backend import _table  # noqa: E402
from bench_inplace_dw import Run, image, image_parser  # noqa: E402
from pexcp.backends.c.toolchain import missing_tools  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.params import SolverParams  # noqa: E402

MODELS = ("kws_ref_model_int8", "te_mcunet_vww", "vww_96_int8", "ic_resnet8_int8", "ad01_int8")
SWITCHES = {
    "default": SolverParams(),
    "bands": SolverParams(bands=True),
    "band chains": SolverParams(bands=True, band_dags=False),
    "inplace_depthwise": SolverParams(inplace_depthwise=True),
    "drop_scratch": SolverParams(drop_scratch=True),
    "bands+dw": SolverParams(bands=True, inplace_depthwise=True),
    "all": SolverParams(bands=True, inplace_depthwise=True, drop_scratch=True),
}
IMAGES = ("default", "bands", "bands+dw", "all")
TARGETS = {"kws_ref_model_int8": 8_500, "te_mcunet_vww": 40_960, "vww_96_int8": 36_864, "ic_resnet8_int8": 24_576}


def _status(status: str) -> str:
    return "opt" if status == "optimal" else status



def main() -> int:
    parser = image_parser(__doc__)
    parser.add_argument("--no-images", action="store_true", help="arenas only: no Cortex-M images")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    console = Console(width=240)
    missing = [] if args.no_images else missing_tools()
    if missing:
        console.print(f"missing {', '.join(missing)}: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
        return 1
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pexcp-bench-bands-"))
    failed = False
    rows, insn_rows, figures = [], [], {}
    for name in MODELS:
        model = args.models / "onnx_int8" / f"{name}.onnx"
        tflite = args.models / "tflite" / f"{name}.tflite"
        plans, graphs = {}, {}
        for tag, params in SWITCHES.items():
            graphs[tag], plans[tag] = solve(model, "cpsat", SolveOptions(timeout=args.timeout, io="int8", params=params))
        all_plan = plans["all"]
        band_steps = sum(1 for s in all_plan.steps if s.slice is not None and s.slice.axis == "row")
        target = TARGETS.get(name)
        met = "" if target is None else f"{target:,} ({'met' if all_plan.arena_bytes <= target else 'missed'})"
        rows.append([name] + [f"{p.arena_bytes:,} ({_status(p.status)}, {p.solve_seconds:.1f} s)" for p in plans.values()] + [
            f"{(all_plan.arena_bytes / plans['default'].arena_bytes - 1) * 100:+.1f}%", f"{band_steps}", met])
        figures[name] = {tag: {"arena": p.arena_bytes, "status": p.status, "seconds": p.solve_seconds} for tag, p in plans.items()}
        if args.no_images:
            continue
        runs: dict[str, Run] = {}
        unsplit_graph, unsplit = solve(model, "reorder", SolveOptions(timeout=args.timeout, io="int8"))
        runs["unsplit"] = image(model, unsplit_graph, unsplit, tflite, args.opt, workdir / f"{name}-unsplit")
        for tag in IMAGES:
            runs[tag] = image(model, graphs[tag], plans[tag], tflite, args.opt, workdir / f"{name}-{tag}")
        for tag, r in runs.items():
            if not r.exact:
                console.print(f"[red]{name} ({tag}): outputs differ from TFLite Micro[/red]")
                failed = True
        base = runs["unsplit"].instructions
        insn_rows.append([name, f"{base / 1e6:.3f} M"] + [
            f"{runs[t].instructions / 1e6:.3f} M ({(runs[t].instructions / base - 1) * 100:+.2f}%)" for t in IMAGES
        ] + [f"{runs['unsplit'].static_ram:,}"] + [f"{runs[t].static_ram:,}" for t in IMAGES] + [
            f"{runs[t].flash:,}" for t in ("unsplit",) + IMAGES])
        figures[name]["instructions"] = {t: r.instructions for t, r in runs.items()}
        figures[name]["static_ram"] = {t: r.static_ram for t, r in runs.items()}
    _table(
        "cpsat --io int8 arena B (status, solve time) under the default switches, each extension alone (band "
        "chains: bands with band_dags=false), bands "
        "with in-place depthwise convs, and all three (model input and output in the arena, planned kernel "
        "scratch included; opt = proven optimal)",
        ["model"] + list(SWITCHES) + ["all vs default", "band steps (all)", "issue target (all)"],
        rows, args.markdown, console,
    )
    if insn_rows:
        _table(
            "instructions of model_run() on the Cortex-M4F (QEMU) for the unsplit plan (reorder) and the plans "
            "above (change against unsplit), outputs identical to TFLite Micro's; static RAM = .data + .bss; "
            "flash = .text + .rodata + .data",
            ["model", "insns unsplit"] + [f"insns {t}" for t in IMAGES] + ["static RAM unsplit B"]
            + [f"static RAM {t} B" for t in IMAGES] + ["flash unsplit B"] + [f"flash {t} B" for t in IMAGES],
            insn_rows, args.markdown, console,
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if args.keep is None and not args.no_images:
        console.print(f"projects in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
