"""Fuzzing the validator: random mutants of valid plans (tests/plan_fuzz.py) on small float models. Each
mutant is either rejected by the validator, or compiled to C, built for the host with sanitizers and a
poisoned arena (NaNs everywhere at start and in every dead buffer), and run against onnxruntime with the
backend tests' tolerance. A mutant the validator accepts whose C differs (or that the backend cannot place)
is a validator bug.

Seeded and small by default (about 20 s of CPU: 30 mutants per base plan, 4 builds per model);
PEXCP_FUZZ_MUTANTS=<n per base plan> (which also lifts the build cap, PEXCP_FUZZ_BUILDS) and
PEXCP_FUZZ_SEED=<seed> run a longer or different campaign, e.g.
`PEXCP_FUZZ_MUTANTS=400 .venv/bin/python -m pytest -q -s tests/test_plan_fuzz.py`.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from backend_helpers import check_project, needs_cc
from onnx_builders import GraphBuilder, mbconv_chain, random_dag_model, save
from plan_fuzz import mutate
from pexcp.backends.c import check_graph, emit
from pexcp.cli.compile import _kernel_problem
from pexcp.errors import BadInputError
from pexcp.importer import load_graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.pipeline import load_for, solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams, parse_params

MUTANTS = int(os.environ.get("PEXCP_FUZZ_MUTANTS", "30"))  # per base plan
SEED = int(os.environ.get("PEXCP_FUZZ_SEED", "0"))
BUILDS = int(os.environ.get("PEXCP_FUZZ_BUILDS", "4" if "PEXCP_FUZZ_MUTANTS" not in os.environ else "100000"))


def concat_model():
    """Two convs gathered into a Concat (written in place into its output), then a conv and a residual."""
    b = GraphBuilder("concat", seed=1)
    x = b.input((1, 2, 4, 4))
    y = b.conv(b.concat([b.conv(x, 2, act="relu"), b.conv(x, 2, kernel=1)]), 4, act="relu")
    b.output(b.add(y, b.conv(x, 4, kernel=1)))
    return b.build()


def views_model():
    """Pad + MaxPool, a data-moving Transpose, Reshape and Flatten views, a Gemm head with a Relu (its partial
    sums accumulate apart from its output when split), and a size-1 Transpose (a view)."""
    b = GraphBuilder("views", seed=2)
    x = b.conv(b.input((1, 4, 4, 4)), 6, act="relu")
    p = b.maxpool(b.spatial_pad(x, 1, 1, 1, 1), kernel=3, stride=1)
    t = b.reshape(b.transpose(p, [0, 2, 3, 1]), [1, 96])
    g = b.gemm(t, 8, act="relu")
    u = b.transpose(b.reshape(b.global_avgpool(x), [1, 6, 1, 1]), [0, 2, 1, 3])
    b.output(b.softmax(g), b.flatten(u))
    return b.build()


def bands_model():
    """A wide first conv over the input, a strided depthwise conv and a residual block: the cpsat plan runs
    them in row bands."""
    b = GraphBuilder("bands", seed=2)
    x = b.depthwise(b.conv(b.input((1, 3, 10, 10)), 8, act="relu"), stride=2, act="relu")
    b.output(b.add(x, b.conv(b.conv(x, 8, act="relu"), 8), act="relu"))
    return b.build()


def band_block_model():
    """A residual block over a wide first conv, then a 1x1 conv: the cpsat plan runs all five ops as one band
    group, the first conv's output a window read by the block's first conv and by its Add."""
    b = GraphBuilder("bands_block", seed=2)
    x = b.conv(b.input((1, 3, 10, 10)), 12, act="relu")
    y = b.add(x, b.conv(b.conv(x, 8, act="relu"), 12), act="relu")
    b.output(b.conv(y, 2, kernel=1))
    return b.build()


MODELS = {
    "mbconv": lambda: mbconv_chain(n_blocks=1, channels=4, expand=2, hw=4, head=True),
    "bands": bands_model,
    "band_block": band_block_model,
    "dag": lambda: random_dag_model(seed=3, n_ops=7, hw=4, channels=(2, 4)),
    "concat": concat_model,
    "views": views_model,
}
# (method, budget as a fraction of reorder's, solver switches); cpsat unsplit with in-place depthwise and
# pointwise convs, and with row bands
BASES = [("reorder", None, None), ("tflm", None, None), ("pex-greedy", 0.7, None),
         ("cpsat", None, {"split": False, "inplace_depthwise": True, "inplace_pointwise": True}),
         ("cpsat-bands", None, {"split": False, "bands": True})]


def _key(plan: Plan) -> str:
    return json.dumps({"steps": plan.to_dict()["steps"], "buffers": plan.to_dict()["buffers"]}, sort_keys=True)


@needs_cc
@pytest.mark.parametrize("name", list(MODELS))
def test_mutants_are_rejected_or_compute_what_onnxruntime_does(name: str, tmp_path: Path) -> None:
    path = save(MODELS[name](), tmp_path)
    plans = {}
    for method, fraction, switches in BASES:
        budget = None if fraction is None else int(plans["reorder"].arena_bytes * fraction)
        params = parse_params(switches) if switches else SolverParams()
        _, plans[method] = solve(path, method.split("-bands")[0], SolveOptions(timeout=5, budget=budget, params=params))
    rnd = random.Random(f"{SEED}/{name}")
    seen = {_key(p) for p in plans.values()}
    stats: Counter[str] = Counter()
    failures: list[str] = []
    builds = 0
    if name == "bands":
        assert any(s.slice is not None and s.slice.axis == "row" for s in plans["cpsat-bands"].steps)
    if name == "band_block":  # a window read by two ops: the band group is a DAG
        graph = load_for(path, "cpsat", SolveOptions())
        assert any(b.window and len(graph.consumers[b.tensor]) == 2 for b in plans["cpsat-bands"].buffers)
    compilable = {method: _compilable(path, base) for method, base in plans.items()}
    for method, base in plans.items():
        assert plan_problems(base, path) == []
        for _ in range(MUTANTS):
            made = mutate(base, rnd, changes=rnd.choice([1, 1, 2]))
            if made is None:
                continue
            mutant, names = made
            if _key(mutant) in seen:
                stats["repeated"] += 1
                continue
            seen.add(_key(mutant))
            if plan_problems(mutant, path):
                stats["rejected"] += 1
                continue
            stats["accepted"] += 1
            if builds >= BUILDS or not compilable[method]:
                continue
            builds += 1
            what = f"{name}/{method} mutant {'+'.join(names)}"
            failure = _compile_and_run(path, mutant, tmp_path / f"c{builds}", what) or ""
            if failure.startswith("refused"):
                stats[failure] += 1
            elif failure:
                mutant.save(tmp_path / f"failed{builds}.json")
                failures.append(f"{failure} (plan: {tmp_path / f'failed{builds}.json'})")
            else:
                stats["compiled and matched"] += 1
    print(f"\n{name}: {dict(stats)}")
    assert not failures, "validator accepted plans whose C is wrong:\n" + "\n".join(failures)
    assert stats["rejected"] > 0


def _compilable(path: Path, plan: Plan) -> bool:
    """The model, imported with the plan's rewrites, has a C kernel for every op (tflm plans keep
    BatchNormalization unfolded, which has none)."""
    try:
        check_graph(load_graph(path, {k: tuple(v) for k, v in plan.input_shapes.items()}, tuple(plan.rewrites)))
    except BadInputError:
        return False
    return True


def _compile_and_run(path: Path, plan: Plan, outdir: Path, what: str) -> str | None:
    """None when the C matches onnxruntime, 'refused by the backend: why' when a kernel cannot do what the
    plan asks (a slice it cannot compute), else what went wrong."""
    graph = load_graph(path, {k: tuple(v) for k, v in plan.input_shapes.items()}, tuple(plan.rewrites))
    problem = _kernel_problem(graph, plan)
    if problem is not None:
        return f"{what}: compile refuses it: {problem}"
    try:
        emit(graph, plan, outdir, harness=True)
    except BadInputError as e:
        return f"refused by the backend: {str(e).split(': ')[-1][:60]}"
    except Exception as e:  # an InvalidPlanError from the arena mapping: the validator let it through
        return f"{what}: the backend cannot place it: {e}"
    try:
        check_project(path, outdir, runs=1)
    except AssertionError as e:
        return f"{what}: {str(e).splitlines()[0]}"
    except Exception as e:  # sanitizer reports and crashes
        return f"{what}: {type(e).__name__}: {str(e)[-300:]}"
    return None
