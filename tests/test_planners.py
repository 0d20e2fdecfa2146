"""The baseline planners: `tflm` (TFLite Micro's order and greedy layout) and `reorder` (optimal order)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from conftest import SHARED_MODELS
from onnx_builders import GraphBuilder, chain_model, mbconv_chain, random_dag_model, save
from plan_helpers import assert_sound, solve_quick
from pexcp.analysis.liveness import lifetimes, peak
from pexcp.errors import BadInputError
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph
from pexcp.plan.validate import plan_problems
from pexcp.solvers.registry import METHODS
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.reorder import optimal_order, plan_reorder


def order_load(graph: Graph, names: list[str]) -> int:
    return peak(lifetimes(graph, [graph.op(n) for n in names]), len(names))[0]


def brute_force_load(graph: Graph) -> int:
    """The least LOAD over every topological order of the ops."""
    return min(order_load(graph, list(order)) for order in nx.all_topological_sorts(graph.dag()))


def wide_model(width: int) -> GraphBuilder:
    """One input read by `width` independent convs of different sizes, joined by a concat."""
    b = GraphBuilder(f"wide{width}")
    x = b.input((1, 4, 4, 4))
    b.output(b.concat([b.conv(x, 2 + i % 5, kernel=1) for i in range(width)]))
    return b


# ---- tflm ----------------------------------------------------------------------------------------------


def test_tflm_runs_the_file_order_without_memory_rewrites(tmp_path: Path) -> None:
    path = save(mbconv_chain(batchnorm=True, explicit_pad=True, head=True), tmp_path)
    _, plan = solve_quick(path, "tflm")
    as_tflite = load_graph(path, rewrites=("layout",))  # only the ONNX-only layout transposes go
    assert [s.op for s in plan.steps] == [op.name for op in as_tflite.ops]
    assert plan.rewrites == ["layout"]
    kernels = {s.kernel for s in plan.steps}
    assert {"Pad", "BatchNormalization"} <= kernels
    assert not any(b.alias_of is not None for b in plan.buffers)  # Flatten is a copy, as in TFLite
    assert_sound(path, plan)


def test_tflm_lower_bound_is_the_load_of_the_file_order(tmp_path: Path) -> None:
    path = save(random_dag_model(11, 9), tmp_path)
    _, plan = solve_quick(path, "tflm")
    graph = load_graph(path, rewrites=("layout",))
    assert plan.lower_bound_bytes == order_load(graph, [op.name for op in graph.ops]) <= plan.load_bytes


def test_tflm_places_the_later_of_equal_buffers_first(tmp_path: Path) -> None:
    """TFLM adds buffers tail-first before its stable sort by size: with equal sizes the last-created
    buffer gets offset 0 (this tie-break is what makes vww_96_int8 match its baseline)."""
    path = save(chain_model(channels=(4, 4, 4), in_channels=4, act=None), tmp_path)
    graph, plan = solve_quick(path, "tflm")
    offsets = {b.first_step: b.offset for b in plan.buffers if b.tensor not in graph.inputs}
    size = graph.tensors[graph.outputs[0]].nbytes
    assert offsets[2] == 0 and offsets[1] == size and offsets[0] == 0  # forward ties would give S, 0, S
    assert plan.arena_bytes == 2 * size


def test_tflm_refuses_rewrites(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="rewrites"):
        solve(save(chain_model(), tmp_path), "tflm", SolveOptions(rewrites=("views",)))


# ---- reorder -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_reorder_order_is_as_good_as_brute_force(seed: int, tmp_path: Path) -> None:
    n_ops = 3 + seed % 5
    path = save(random_dag_model(seed, n_ops, qdq=seed % 4 == 3, n_inputs=1 + seed % 2), tmp_path)
    graph = load_graph(path, rewrites=ALL_REWRITES)
    result = optimal_order(graph)
    assert result.exact
    assert nx.is_directed_acyclic_graph(graph.dag())
    names = [op.name for op in result.order]
    assert sorted(names) == sorted(op.name for op in graph.ops)
    assert all(names.index(u) < names.index(v) for u, v in graph.dag().edges)
    assert result.peak == order_load(graph, names) == brute_force_load(graph)


def test_reorder_beats_a_bad_file_order(tmp_path: Path) -> None:
    """The file runs both wide branches before shrinking either; reorder finishes one branch first."""
    b = GraphBuilder("interleaved")
    x = b.input((1, 2, 4, 4))
    big1, big2 = b.conv(x, 16), b.conv(x, 16)
    b.output(b.concat([b.conv(big1, 2), b.conv(big2, 2)]))
    path = save(b.build(), tmp_path)
    _, tflm = solve_quick(path, "tflm")
    _, plan = solve_quick(path, "reorder")
    assert plan.load_bytes < tflm.load_bytes
    assert plan.arena_bytes < tflm.arena_bytes
    assert plan.lower_bound_bytes == plan.load_bytes
    assert any("optimal" in note for note in plan.notes)
    assert_sound(path, plan)


def test_reorder_plan_uses_the_rewrites_and_reaches_its_bound_on_a_chain(tmp_path: Path) -> None:
    path = save(mbconv_chain(batchnorm=True, explicit_pad=True, head=True), tmp_path)
    graph, plan = solve_quick(path, "reorder")
    assert plan.rewrites == list(ALL_REWRITES)
    assert {s.kernel for s in plan.steps}.isdisjoint({"Pad", "BatchNormalization"})
    assert plan.lower_bound_bytes == optimal_order(graph).peak
    assert plan.status in ("heuristic", "feasible", "optimal")
    assert_sound(path, plan)


def test_reorder_cut_off_reports_a_heuristic_order_and_a_sound_bound(tmp_path: Path) -> None:
    path = save(wide_model(10).build(), tmp_path)
    graph = load_graph(path)
    exact = optimal_order(graph)
    cut = optimal_order(graph, max_states=3)
    assert exact.exact and not cut.exact
    assert cut.peak >= exact.peak
    plan = plan_reorder(graph, max_states=3)
    assert plan.status == "heuristic"
    assert any("cut" in note for note in plan.notes)
    assert plan.lower_bound_bytes <= exact.peak  # a bound the true optimum respects
    assert plan_problems(plan, path) == []


def test_reorder_does_not_hang_on_a_wide_graph(tmp_path: Path) -> None:
    """2^60 sets of executed ops: past its time limit the search completes greedily and says so."""
    path = save(wide_model(60).build(), tmp_path)
    _, plan = solve(path, "reorder", SolveOptions(timeout=0.5))
    assert plan.status == "heuristic"
    cut = [float(note.split("cut after ")[1].split(" s")[0]) for note in plan.notes if "cut after " in note]
    assert cut and cut[0] <= 0.5  # the limit left after the import, which --timeout covers too
    assert_sound(path, plan)


def test_reorder_with_no_time_is_a_greedy_topological_order(tmp_path: Path) -> None:
    graph = load_graph(save(random_dag_model(4, 12), tmp_path))
    result = optimal_order(graph, time_limit=0.0)
    assert result.timed_out and not result.exact
    names = [op.name for op in result.order]
    assert sorted(names) == sorted(op.name for op in graph.ops)
    assert all(names.index(u) < names.index(v) for u, v in graph.dag().edges)
    assert result.peak == order_load(graph, names) >= optimal_order(graph).peak


# ---- every registered method ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_plans_float_and_qdq_models(method: str, tmp_path: Path) -> None:
    for qdq in (False, True):
        path = save(mbconv_chain(qdq=qdq, explicit_pad=True, head=True), tmp_path, f"mb_{qdq}")
        graph, plan = solve_quick(path, method)
        assert plan.method == method
        assert plan.model == path.name
        assert_sound(path, plan)


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="unknown method"):
        solve(save(chain_model(), tmp_path), "telepathy", SolveOptions())


def test_pex_greedy_keeps_only_the_splits_its_peak_needs() -> None:
    """kws's peak is two equal tensors no split can shrink: the splits that thinned out other equal peaks
    on the way are undone, so the plan has no extra kernel calls."""
    path = SHARED_MODELS / "onnx" / "kws_ref_model_float32.onnx"
    _, greedy = solve_quick(path, "pex-greedy")
    _, whole = solve_quick(path, "reorder")
    assert greedy.load_bytes == whole.load_bytes
    assert not any(step.slice for step in greedy.steps)
