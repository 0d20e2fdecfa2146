"""`pexcp prune` on the shared vision models: budgets at 75 %, 50 % and 25 % of each model's unpruned cpsat
optimum, and midway between it and the smallest arena --max-drop 0.5 reaches; kept channels, MACs, parameters, arena, output fidelity against the unpruned model and solve time;
and the smallest arena pruning can reach with --max-drop 0.5, against TensorFlow Lite Micro's arena.

Bytes: the activation arena of the cpsat plan, model input and output included (as TFLite Micro counts;
kernel scratch included). Fidelity: top-1 agreement / mean cosine similarity of the outputs, on 4 scikit-image
photographs with people, 4 without, and 16 uniform random inputs; it is not accuracy (no labelled data, no
fine-tuning).

    python benchmarks/bench_prune.py [--timeout 60] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pexcp.errors import BudgetError  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.prune.driver import most_pruned, prune  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

SHARED = next(Path(p) for p in (os.environ.get("PEXCP_SHARED_MODELS"), Path(__file__).resolve().parents[2] / "shared"
                                 / "models", "/work/shared/models") if p and (Path(p) / "tflm_baseline.json").exists())
# te_mcunet_vww_dequant's float input takes -1..1: its int8 sibling quantizes the input with scale 1/127.5, zero 0
MODELS = {"onnx/te_mcunet_vww_dequant": (-1.0, 1.0), "onnx_int8/te_mcunet_vww": None,
          "onnx/vww_96_float": None, "onnx_int8/vww_96_int8": None}
SHARES = (0.75, 0.50, 0.25)
MAX_DROP = 0.5
DEEPER = 0.9  # how far the floor moves when pruning may go further


def _fid(result, label: str) -> str:
    f = next((f for f in result.fidelity if f.inputs.startswith(label)), None)
    return "-" if f is None else f"{f.top1:.0%} / {f.cosine_mean:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for each solve")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    tflm = json.loads((SHARED / "tflm_baseline.json").read_text())
    options = SolveOptions(timeout=args.timeout)
    rows, floors = [], []
    for stem, input_range in MODELS.items():
        path = SHARED / f"{stem}.onnx"
        name = Path(stem).name
        optimum = solve(path, "cpsat", options)[1].arena_bytes
        smallest = most_pruned(path, MAX_DROP, options)
        baseline = tflm.get(name, {}).get("tflm_planned_activation_bytes")
        deeper = most_pruned(path, DEEPER, options)
        floors.append([name, f"{optimum:,}", f"{smallest.arena_bytes:,} ({smallest.status})",
                       f"{baseline:,}" if baseline else "-",
                       f"{baseline / smallest.arena_bytes:.2f}x" if baseline else "-",
                       f"{baseline / optimum:.2f}x" if baseline else "-",
                       f"{deeper.arena_bytes:,} ({deeper.status})"])
        budgets = [(f"{share:.0%}", int(optimum * share)) for share in SHARES]
        budgets.append(("midway", (optimum + smallest.arena_bytes) // 2))
        for label, budget in budgets:
            start = time.perf_counter()
            try:
                r, _ = prune(path, budget, MAX_DROP, options, input_range)
            except BudgetError:
                rows.append([name, f"{label} = {budget:,}", "no fit", "-", "-", "-",
                             f"smallest {smallest.arena_bytes:,}", "-", "-", "-", "-", f"{time.perf_counter() - start:.0f}"])
                continue
            before, after = sum(x.before for x in r.layers), sum(x.after for x in r.layers)
            rows.append([name, f"{label} = {budget:,}", r.status, f"{after:,}/{before:,}",
                         f"{r.macs[1] / r.macs[0]:.0%}", f"{r.params[1] / r.params[0]:.0%}", f"{r.arena[1]:,}",
                         _fid(r, "photos with"), _fid(r, "photos without"), _fid(r, "random"),
                         f"{r.importance[0]:.2f}/{r.importance[1]:.0f}", f"{r.seconds:.0f}"])
    _print(["model", "budget (B)", "co-design", "channels kept", "MACs", "params", "arena (B)",
            "people: top-1 / cos", "no people: top-1 / cos", "random: top-1 / cos", "importance", "time (s)"],
           rows, args.markdown)
    print()
    _print(["model", "unpruned cpsat arena", "smallest at --max-drop 0.5", "TFLM arena", "TFLM / smallest",
            "TFLM / unpruned", f"smallest at --max-drop {DEEPER}"], floors, args.markdown)


def _print(head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
