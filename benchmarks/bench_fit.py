"""`pexcp fit` on the shared vision models: the largest square input resolution whose cpsat plan fits each
budget, and its arena. Bytes: activation arena, model input and output included (as TFLite Micro counts),
kernel scratch included.

    python benchmarks/bench_fit.py [--budgets 64k,128k,256k] [--timeout 60] [--markdown] [--io int8]
                                   [--solver KEY=VALUE ...]

With `--io int8` the int8 models' boundary quantize/dequantize are the caller's (their int8 input is counted);
`--solver` sets cpsat switches (e.g. bands=true) for every resolution tried.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pexcp.errors import PexcpError  # noqa: E402
from pexcp.fit import fit  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402
from pexcp.solvers.params import parse_params  # noqa: E402
from pexcp.units import parse_bytes  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
MODELS = ["onnx_int8/te_mcunet_vww", "onnx/te_mcunet_vww_dequant", "onnx_int8/vww_96_int8", "onnx/vww_96_float"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="64k,128k,256k")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per resolution tried")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--io", choices=["model", "int8"], default="model", help="int8: the int8 models' int8 I/O")
    ap.add_argument("--solver", action="append", default=[], metavar="KEY=VALUE", help="a cpsat switch")
    args = ap.parse_args()
    params = parse_params(args.solver)
    budgets = [parse_bytes(b) for b in args.budgets.split(",")]
    rows = []
    for stem in MODELS:
        for budget in budgets:
            start = time.perf_counter()
            try:
                io = args.io if stem.startswith("onnx_int8") else "model"
                options = SolveOptions(timeout=args.timeout, io=io, params=params)
                result, _ = fit(SHARED / f"{stem}.onnx", budget, options=options)
                best = result.best
                cells = [f"{best.h}x{best.w}", f"{best.arena:,}", best.status] if best else ["none", "-", "-"]
                tried = str(len(result.points))
            except PexcpError as e:
                cells, tried = [f"refused: {e}", "-", "-"], "0"
            rows.append([Path(stem).name, f"{budget // 1024} KiB", *cells, tried, f"{time.perf_counter() - start:.1f}"])
    head = ["model", "budget", "largest fit", "arena (B)", "status", "resolutions tried", "time (s)"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        for r in [head, *rows]:
            print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    main()
