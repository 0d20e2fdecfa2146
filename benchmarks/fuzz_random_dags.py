"""Random small DAGs through every planner, and float ones through the C backend, for a fixed time.

    python benchmarks/fuzz_random_dags.py [--seconds 300] [--seed 0] [--compile-seconds 300] [--markdown]

Plans: random DAGs (1-12 layers, float and int8, 1-2 inputs; the property tests' generator) planned by every
method; a plan passes when `solve` returns it (it validates every plan first) and its arena is at least its
LOAD and its lower bound. C: random float DAGs planned by cpsat, pex-greedy or reorder, compiled for the host
with sanitizers and a poisoned arena, and compared with onnxruntime on two random inputs. A model that
onnxruntime itself refuses to load is counted apart: it says nothing about pexcp. Failures are listed with
the seed that reproduces them; the script exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from bench_models import print_table
from synthetic import REPO, compile_and_check, small_dag

sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from pexcp.solvers.registry import METHODS  # noqa: E402
from pexcp.pipeline import solve  # noqa: E402
from pexcp.solvers.options import SolveOptions  # noqa: E402

C_METHODS = ("cpsat", "pex-greedy", "reorder")


def _draw(rng: random.Random, qdq: bool | None) -> tuple[int, int, bool, int]:
    """(seed, layers, int8?, inputs) of one model."""
    return rng.randrange(2**31), rng.randint(1, 12), rng.random() < 0.5 if qdq is None else qdq, rng.randint(1, 2)


def fuzz_plans(seconds: float, rng: random.Random) -> tuple[int, list[str]]:
    checked, failures = 0, []
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < end:
            seed, n_ops, qdq, n_inputs = _draw(rng, None)
            path = small_dag(Path(tmp), seed, n_ops, qdq, n_inputs)
            for method in METHODS:
                try:
                    plan = solve(path, method, SolveOptions(timeout=2))[1]
                    if not plan.arena_bytes >= max(plan.load_bytes, plan.lower_bound_bytes):
                        raise AssertionError(f"arena {plan.arena_bytes} below LOAD or its bound")
                except Exception as e:  # a benchmark reports every failure and carries on
                    failures.append(f"{path.stem} {method}: {type(e).__name__}: {str(e)[:200]}")
            checked += 1
    return checked, failures


def fuzz_c(seconds: float, rng: random.Random) -> tuple[int, int, list[str]]:
    checked, refused, failures = 0, 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seed, n_ops, _, n_inputs = _draw(rng, False)
        method = rng.choice(C_METHODS)
        with tempfile.TemporaryDirectory() as tmp:
            path = small_dag(Path(tmp), seed, max(n_ops, 2), False, n_inputs)
            try:
                ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            except Exception:
                refused += 1
                continue
            try:
                graph, plan = solve(path, method, SolveOptions(timeout=5))
                compile_and_check(path, graph, plan, Path(tmp) / "c", runs=2)
            except Exception as e:
                failures.append(f"{path.stem} {method}: {type(e).__name__}: {str(e)[:200]}")
        checked += 1
    return checked, refused, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="time for the planner checks")
    parser.add_argument("--compile-seconds", type=float, default=300.0, help="time for the C checks (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model draws")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    plans, plan_failures = fuzz_plans(args.seconds, rng)
    compiled, refused, c_failures = fuzz_c(args.compile_seconds, rng) if args.compile_seconds > 0 else (0, 0, [])
    rows = [
        ["plans (every method, validated)", f"{plans:,} models x {len(METHODS)}", str(len(plan_failures)), "—"],
        ["C vs onnxruntime (host, sanitizers)", f"{compiled:,} models", str(len(c_failures)), str(refused)],
    ]
    print_table(f"random DAGs, seed {args.seed}", ["check", "checked", "failed", "onnxruntime refused the model"],
                rows, args.markdown, 120)
    for failure in plan_failures + c_failures:
        print(f"FAILED {failure}")
    return 1 if plan_failures or c_failures else 0


if __name__ == "__main__":
    sys.exit(main())
