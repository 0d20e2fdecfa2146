"""`pexcp pack` and MiniMalloc side by side: which fits the capacity within the same time limit.

    python benchmarks/bench_pack_vs_minimalloc.py [--minimalloc /tmp/mm/build/minimalloc] [--timeout 10]
        [--count 16] [--seed 0] [--workers 1 2] [--include DIR ...] [--markdown]

The instances: the generated set (pexcp/layout/generate.py, standard_set(count, seed)), then every
*.1048576.csv in each --include folder (for example shared/dsa, or MiniMalloc's benchmarks/challenging).
Each is a fit question at 1 MiB (the capacity in the file name). pexcp runs in this process (pack() with
--timeout and each --workers count; the time is pack()'s own, without Python's start-up); MiniMalloc runs as
a subprocess with --timeout and its default flags (one thread), its time the "Elapsed time" it logs. Both
tools' placements are checked by pexcp's validator. Without --minimalloc the MiniMalloc column is absent.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pexcp.layout.generate import standard_set, write_instance  # noqa: E402
from pexcp.layout.pack import pack  # noqa: E402
from pexcp.layout.problem import Block, layout_problems, load, read_csv  # noqa: E402

CAPACITY = 1_048_576


@dataclass
class Outcome:
    fits: bool
    seconds: float


def run_pexcp(blocks: Sequence[Block], timeout: float, workers: int) -> Outcome:
    result = pack(blocks, capacity=CAPACITY, timeout=timeout, workers=workers)
    fits = result.status == "optimal"
    if fits:
        assert not layout_problems(result.blocks, CAPACITY), "pexcp returned an invalid placement"
    return Outcome(fits, result.seconds)


def run_minimalloc(binary: Path, path: Path, timeout: float, scratch: Path) -> Outcome:
    """MiniMalloc on one file; a fit counts only if its output passes pexcp's validator."""
    output = scratch / "minimalloc-out.csv"
    output.unlink(missing_ok=True)
    done = subprocess.run(
        [str(binary), f"--capacity={CAPACITY}", f"--input={path}", f"--output={output}", f"--timeout={timeout}s"],
        capture_output=True, text=True, timeout=timeout + 30,
    )
    match = re.search(r"Elapsed time ([0-9.]+)s", done.stderr + done.stdout)
    seconds = float(match.group(1)) if match else float("nan")
    if done.returncode != 0 or not output.exists():
        return Outcome(False, seconds)
    placed = read_csv(output)
    problems = layout_problems(placed, CAPACITY)
    assert not problems and len(placed) == len(read_csv(path)), f"MiniMalloc's placement of {path} is invalid"
    return Outcome(True, seconds)


def cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    return f"{outcome.seconds:.2f} s" if outcome.fits else f"no ({outcome.seconds:.0f} s)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimalloc", type=Path, help="MiniMalloc's binary, built from source (docs/pack.md)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per tool per instance")
    parser.add_argument("--count", type=int, default=16, help="generated instances")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="pexcp's worker counts to run")
    parser.add_argument("--include", type=Path, nargs="*", default=[], help="folders of *.1048576.csv to add")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.minimalloc is not None and not args.minimalloc.is_file():
        parser.error(f"--minimalloc {args.minimalloc}: no such file")
    headers = ["instance", "buffers", "LOAD/capacity"] + [f"pexcp w{w}" for w in args.workers]
    headers += ["MiniMalloc (1 thread)"] if args.minimalloc else []
    rows: list[list[str]] = []
    fitted: dict[str, dict[str, int]] = {}  # per group of instances, per column: how many fitted
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        instances: list[tuple[str, str, Path]] = []  # group, name, file
        for name, generated in standard_set(args.count, args.seed):
            path = scratch / f"{name}.{CAPACITY}.csv"
            write_instance(generated.blocks, path)
            instances.append(("generated", name, path))
        for include in args.include:
            instances += [(include.name, p.name.split(".")[0], p) for p in sorted(include.glob(f"*.{CAPACITY}.csv"))]
        for group, name, path in instances:
            blocks = read_csv(path)
            outcomes = [run_pexcp(blocks, args.timeout, w) for w in args.workers]
            if args.minimalloc:
                outcomes.append(run_minimalloc(args.minimalloc, path, args.timeout, scratch))
            counts[group] = counts.get(group, 0) + 1
            for header, outcome in zip(headers[3:], outcomes):
                fitted.setdefault(group, dict.fromkeys(headers[3:], 0))[header] += outcome.fits
            rows.append([name, str(len(blocks)), f"{load(blocks) / CAPACITY:.3f}"] + [cell(o) for o in outcomes])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    for group, count in counts.items():
        rows.append([f"fitted ({group})", str(count), ""] + [f"{fitted[group][h]}/{count}" for h in headers[3:]])
    print(f"fit at {CAPACITY:,} B within {args.timeout:g} s (time to fit, or 'no')")
    if args.markdown:
        print("| " + " | ".join(headers) + " |\n|" + "---|" * len(headers))
        print("\n".join("| " + " | ".join(row) + " |" for row in rows))
    else:
        widths = [max(len(r[k]) for r in [headers, *rows]) for k in range(len(headers))]
        for row in [headers, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
