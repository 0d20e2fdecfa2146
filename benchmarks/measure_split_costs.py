"""What a channel split costs in instructions on a Cortex-M4F: the per-call and per-element figures that
cpsat's `objective=instructions` switch prices splits with (pexcp/solvers/cpsat/costs.json).

    python benchmarks/measure_split_costs.py [--write] [--opt -O2]

Float MobileNetV2 blocks (1x1 expand, 3x3 depthwise, 1x1 project) of several sizes are compiled with each
candidate group unsplit and split into k rounds (plans built from the schedule, validated, outputs checked
against the unsplit image), and run under QEMU (-icount, exact instruction counts of model_run()). The
extra instructions of every split are fitted by least squares to
    extra = (k - 1) * (members * per_call + accumulated_elements * per_element)
(members: ops in the group; accumulated elements: the tail's output elements, 0 when the tail writes its
slices directly). Prints every measurement, the fit and its worst relative residual; --write stores the fit.
Needs arm-none-eabi-gcc, libnewlib-arm-none-eabi and qemu-system-arm.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from onnx_builders import mbconv_chain, save  # noqa: E402
from pexcp.analysis.liveness import Schedule, expand  # noqa: E402
from pexcp.analysis.partial import candidate_groups  # noqa: E402
from pexcp.backends.c import emit  # noqa: E402
from pexcp.backends.c.toolchain import build_qemu, missing_tools, run_qemu  # noqa: E402
from pexcp.importer import ALL_REWRITES, load_graph  # noqa: E402
from pexcp.layout.pinned import best_of_items  # noqa: E402
from pexcp.plan.build import item_offsets, make_plan  # noqa: E402
from pexcp.plan.validate import validate_plan  # noqa: E402
from pexcp.solvers.pex_greedy import contiguous  # noqa: E402
from pexcp.solvers.reorder import optimal_order  # noqa: E402

COSTS = REPO / "pexcp" / "solvers" / "cpsat" / "costs.json"
SIZES = [(4, 4, 8), (8, 4, 8), (8, 6, 12)]  # (channels, expansion, height = width)


def instructions(graph, schedule: Schedule, groups, path: Path, workdir: Path, opt: str):
    expanded = expand(graph, schedule, groups)
    plan = make_plan(graph, expanded, item_offsets(expanded, best_of_items(expanded.items())), method="cpsat",
                     status="feasible", lower_bound=0, seconds=0)
    validate_plan(plan, path)
    emit(graph, plan, workdir, harness=True)
    build_qemu(workdir, opt)
    run = run_qemu(workdir, timeout=300)
    return run.instructions, run.outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"store the fit in {COSTS.relative_to(REPO)}")
    parser.add_argument("--opt", default="-O2")
    parser.add_argument("--max-rounds", type=int, default=4, help="largest k measured per group")
    args = parser.parse_args()
    console = Console(width=160)
    if missing_tools():
        console.print(f"missing {', '.join(missing_tools())}")
        return 1
    rows, xs, ys = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for channels, expansion, hw in SIZES:
            path = save(mbconv_chain(n_blocks=1, channels=channels, expand=expansion, hw=hw), Path(tmp),
                        f"mb_{channels}_{expansion}_{hw}")
            graph = load_graph(path, {}, ALL_REWRITES)
            groups = {g.id: g for g in candidate_groups(graph)}
            order = [op.name for op in optimal_order(graph).order]
            base, reference = instructions(graph, Schedule(order), groups, path, Path(tmp) / "u", args.opt)
            for g in groups.values():
                by_rounds = {o.rounds: o for o in g.options}
                for k in sorted(r for r in by_rounds if 1 < r <= args.max_rounds):
                    schedule = Schedule(contiguous(order, g), {g.id: by_rounds[k].width})
                    count, outputs = instructions(graph, schedule, groups, path, Path(tmp) / "s", args.opt)
                    error = max(float(np.abs(a - b).max()) for a, b in zip(outputs, reference))
                    elements = graph.tensors[g.output].numel if g.tail else 0
                    members = len(g.members)
                    xs.append([(k - 1) * members, (k - 1) * elements])
                    ys.append(count - base)
                    rows.append((path.stem, "+".join(m.op_type for m in g.members), members, k, elements,
                                 count - base, error))
                    console.print(f"[dim]{path.stem} {rows[-1][1]} k={k}: {count - base:+,} instructions[/dim]")
    (per_call, per_element), *_ = np.linalg.lstsq(np.array(xs, float), np.array(ys, float), rcond=None)
    table = Table(title=f"extra instructions of a split (Cortex-M4F {args.opt}, QEMU icount)", title_justify="left")
    for col in ("model", "group", "members", "rounds", "acc. elements", "extra (measured)", "extra (fit)", "max |out diff|"):
        table.add_column(col, justify="left" if col in ("model", "group") else "right")
    worst = 0.0
    for (model, kind, members, k, elements, extra, error), x in zip(rows, xs):
        fit = x[0] * per_call + x[1] * per_element
        worst = max(worst, abs(fit - extra) / max(abs(extra), 1))
        table.add_row(model, kind, str(members), str(k), f"{elements:,}", f"{extra:,}", f"{fit:,.0f}", f"{error:.2g}")
    console.print(table)
    console.print(f"fit: {per_call:,.1f} instructions per extra call, {per_element:.2f} per accumulated element "
                  f"and extra round; worst relative residual {worst:.1%}")
    if args.write:
        kept = json.loads(COSTS.read_text())  # figures other scripts measured (bench_inplace_dw.py)
        COSTS.write_text(json.dumps({**kept, "per_call": round(per_call, 1), "per_element": round(per_element, 2),
                                     "measured_by": "benchmarks/measure_split_costs.py", "opt": args.opt,
                                     "target": "Cortex-M4F (QEMU mps2-an386, icount)"}, indent=1) + "\n")
        console.print(f"written to {COSTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
