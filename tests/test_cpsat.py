"""The CP-SAT scheduler: optimal plans that validate, never worse than a heuristic, budgets, determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx_builders import mbconv_chain, random_dag_model, save
from pexcp.analysis.liveness import Schedule, expand
from pexcp.errors import BudgetError
from pexcp.importer import load_graph
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.cpsat.part import Candidate, Part
from pexcp.solvers.cpsat.solve import plan_cpsat
from pexcp.solvers.params import SolverParams
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions

HEURISTICS = ("tflm", "reorder", "pex-greedy")


@pytest.fixture(scope="module")
def mbconv(tmp_path_factory):
    return save(mbconv_chain(n_blocks=2, channels=4, expand=6, hw=8, qdq=True), tmp_path_factory.mktemp("m"))


def test_optimal_and_below_every_heuristic(mbconv):
    _, plan = solve(mbconv, "cpsat", SolveOptions(timeout=30))
    assert plan.status == "optimal" and plan.arena_bytes == plan.lower_bound_bytes
    assert any(step.slice for step in plan.steps)  # splitting pays on inverted residual blocks
    for method in HEURISTICS:
        assert plan.arena_bytes <= solve(mbconv, method, SolveOptions())[1].arena_bytes


def test_joint_model_alone_reaches_the_same_optimum(mbconv):
    graph = load_graph(mbconv)
    full = plan_cpsat(graph, SolveOptions(timeout=30))
    joint_only = SolverParams(bound_phase=False, hint=False, layout_shortcut=False, decompose=False)
    alone = plan_cpsat(load_graph(mbconv), SolveOptions(timeout=30, params=joint_only))
    alone.input_shapes = {}
    assert plan_problems(alone, mbconv) == []
    assert alone.status == "optimal" and alone.arena_bytes == full.arena_bytes


def test_without_splits_it_matches_the_optimal_order(mbconv):
    plan = plan_cpsat(load_graph(mbconv), SolveOptions(timeout=30, params=SolverParams(split=False)))
    assert all(step.slice is None for step in plan.steps)
    assert plan.arena_bytes == solve(mbconv, "reorder", SolveOptions())[1].load_bytes


def test_impossible_budget_names_the_proven_minimum_and_bottleneck(mbconv):
    _, best = solve(mbconv, "cpsat", SolveOptions(timeout=30))
    with pytest.raises(BudgetError) as err:
        solve(mbconv, "cpsat", SolveOptions(timeout=30, budget=best.arena_bytes - 4))
    message = str(err.value)
    assert f"{best.arena_bytes:,} B (proven)" in message and "bottleneck: step" in message
    assert err.value.exit_code == 1


def test_budget_prefers_fewest_slices_that_fit(mbconv):
    _, unsplit = solve(mbconv, "reorder", SolveOptions())
    _, roomy = solve(mbconv, "cpsat", SolveOptions(timeout=30, budget=unsplit.arena_bytes))
    assert roomy.status == "optimal" and all(step.slice is None for step in roomy.steps)
    _, best = solve(mbconv, "cpsat", SolveOptions(timeout=30))
    _, tight = solve(mbconv, "cpsat", SolveOptions(timeout=30, budget=best.arena_bytes))
    assert tight.arena_bytes <= best.arena_bytes
    assert len(tight.steps) <= len(best.steps)


def test_same_seed_and_workers_give_the_same_plan(mbconv):
    plans = [solve(mbconv, "cpsat", SolveOptions(timeout=30, seed=7, workers=2))[1] for _ in range(2)]
    a, b = (replace(p, solve_seconds=0.0) for p in plans)
    assert a.to_dict() == b.to_dict()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_ops=st.integers(3, 9), qdq=st.booleans())
def test_random_dags_cpsat_plan_is_valid_and_never_worse(tmp_path, seed, n_ops, qdq):
    path = save(random_dag_model(seed, n_ops, qdq=qdq), tmp_path, f"dag_{seed}_{n_ops}_{qdq}")
    _, plan = solve(path, "cpsat", SolveOptions(timeout=10))
    assert plan.arena_bytes >= plan.lower_bound_bytes
    assert plan.status in ("optimal", "feasible")
    for method in ("reorder", "pex-greedy"):
        assert plan.arena_bytes <= solve(path, method, SolveOptions())[1].arena_bytes


def test_packing_engine_lays_out_a_schedule_at_its_load_where_best_fit_misses(tmp_path):
    path = save(random_dag_model(0, 8), tmp_path, "packed")  # best-fit needs more than LOAD on this one
    graph = load_graph(path)
    expanded = expand(graph, Schedule([op.name for op in graph.ops]))
    greedy = Candidate(Schedule([op.name for op in graph.ops]), expanded, item_offsets(expanded, best_of_items(expanded.items())))
    packed, settled = Part(graph, {}, {}, 4, "").packed(greedy, 10, False, 0)
    offsets = packed.offsets
    assert settled and expanded.arena(offsets) == expanded.load <= greedy.arena
    plan = make_plan(graph, expanded, offsets, method="cpsat", status="optimal", lower_bound=expanded.load, seconds=0)
    assert plan_problems(plan, path) == []


def test_progress_reports_each_incumbent_and_bound_once(mbconv):
    """Parallel searches share one reporter throttle, so a user never reads the same line twice."""
    lines: list[str] = []
    params = SolverParams(bound_phase=False, hint=False, layout_shortcut=False, decompose=False)
    plan_cpsat(load_graph(mbconv), SolveOptions(timeout=30, progress=lines.append, params=params))
    states = [line.split("s ", 1)[1] for line in lines if "incumbent" in line]
    assert states and "joint: incumbent" in states[0]
    assert all(a != b for a, b in zip(states, states[1:]))
