"""Write generated packing instances (pexcp/layout/generate.py) as CSV files, or compare them with A-E.

    python benchmarks/gen_pack_instances.py OUT_DIR [--count 16] [--seed 0]      # the benchmark set
    python benchmarks/gen_pack_instances.py OUT_DIR --buffers 300 --kind tight --seed 5   # one instance
    python benchmarks/gen_pack_instances.py --compare [--dsa ../shared/dsa]        # distributions vs A-E

Files are `id,lower,upper,size` (what `pexcp pack` and MiniMalloc read), named NAME.1048576.csv after the
capacity as MiniMalloc's are; `--placements` also writes NAME.placement.csv with the known offsets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import NormalDist
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pexcp.layout.generate import KINDS, generate, standard_set, write_instance  # noqa: E402
from pexcp.layout.problem import Block, load, read_csv, write_csv  # noqa: E402

PERCENTILES = (5, 25, 50, 75, 95)


def describe(blocks: Sequence[Block]) -> dict[str, float | list[int]]:
    """Size (KiB) and lifetime (1/1024 of the horizon) percentiles, their normal-score correlation, and the
    share of the time x capacity area in use."""
    sizes = np.array([b.size / 1024 for b in blocks])
    horizon = max(b.upper for b in blocks) - min(b.lower for b in blocks)
    lifetimes = np.array([(b.upper - b.lower) * 1024 / horizon for b in blocks])
    used = float((sizes * lifetimes).sum()) / (1024 * 1024)
    return {
        "size": np.percentile(sizes, PERCENTILES).round().astype(int).tolist(),
        "lifetime": np.percentile(lifetimes, PERCENTILES).round().astype(int).tolist(),
        "correlation": _normal_score_correlation(sizes, lifetimes),
        "used": used,
    }


def _normal_score_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the ranks mapped through the inverse normal CDF (robust to the heavy tails)."""
    normal = NormalDist()

    def scores(x: np.ndarray) -> np.ndarray:
        ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
        return np.array([normal.inv_cdf((r + 0.5) / len(x)) for r in ranks])

    return float(np.corrcoef(scores(a), scores(b))[0, 1])


def compare(dsa: Path, count: int, seed: int) -> None:
    rows = []
    pooled: list[Block] = []
    for name in "ABCDE":
        blocks = read_csv(dsa / f"{name}.1048576.csv")
        pooled += blocks
        rows.append((name, len(blocks), load(blocks), describe(blocks)))
    rows.append(("A-E pooled", len(pooled), 0, {**describe(pooled), "used": 0.0}))
    generated: list[Block] = []
    for name, g in standard_set(count, seed):
        generated += g.blocks
        rows.append((name, len(g.blocks), load(g.blocks), describe(g.blocks)))
    rows.append(("generated pooled", len(generated), 0, {**describe(generated), "used": 0.0}))
    print("| instance | buffers | LOAD/capacity | size KiB p5 p25 p50 p75 p95 | lifetime p5 p25 p50 p75 p95 "
          "| correlation | area used |")
    print("|---|---|---|---|---|---|---|")
    for name, n, peak, d in rows:
        ratio = f"{peak / 1048576:.3f}" if peak else "-"
        used = f"{d['used']:.2f}" if d["used"] else "-"
        print(f"| {name} | {n} | {ratio} | {' '.join(map(str, d['size']))} | {' '.join(map(str, d['lifetime']))} "
              f"| {d['correlation']:.2f} | {used} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="folder to write the CSV files to")
    parser.add_argument("--count", type=int, default=16, help="instances in the benchmark set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--buffers", type=int, help="one instance of this many buffers instead of the set")
    parser.add_argument("--kind", choices=KINDS, default="tight")
    parser.add_argument("--placements", action="store_true", help="also write the known placements")
    parser.add_argument("--compare", action="store_true", help="print distributions next to A-E's")
    parser.add_argument("--dsa", type=Path, default=REPO.parent / "shared" / "dsa")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.dsa, args.count, args.seed)
        return
    if args.out is None:
        parser.error("give an output folder (or --compare)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.buffers is not None:
        instances = [(f"g{args.seed:02d}-{args.kind}-{args.buffers}", generate(args.seed, args.buffers, args.kind))]
    else:
        instances = standard_set(args.count, args.seed)
    for name, g in instances:
        write_instance(g.blocks, args.out / f"{name}.{g.capacity}.csv")
        if args.placements:
            write_csv(g.placement, args.out / f"{name}.placement.csv")
        print(f"{args.out / name}: {len(g.blocks)} buffers, LOAD {load(g.blocks):,} B, capacity {g.capacity:,} B")


if __name__ == "__main__":
    main()
