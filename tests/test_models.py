"""End to end: every shared MCU model imports and is planned by every method; TFLM baselines are reproduced;
and on random DAG models every planner's plan validates and respects the LOAD lower bound."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import ALL_MODELS, FLOAT_MODELS, INT8_MODELS, REPO, SHARED_MODELS, model_id, needs_models
from onnx_builders import mbconv_chain, random_dag_model, save
from plan_helpers import assert_sound, plan_graph, solve_quick, unsliced_order
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.importer.onnx_reader import read_model
from pexcp.solvers.registry import METHODS
from pexcp.solvers.reorder import optimal_order

BASELINE = json.loads((SHARED_MODELS / "tflm_baseline.json").read_text()) if SHARED_MODELS else {}
BASELINE_MODELS = [p for p in ALL_MODELS if p.stem in BASELINE]
ISSUE_BASELINES = {"vww_96_int8", "ic_resnet8_int8", "kws_ref_model_int8", "ad01_int8", "te_mcunet_vww"}

def models(test):
    """Run `test` on every shared model (skipped with the reason when they are absent)."""
    return needs_models(pytest.mark.parametrize("path", ALL_MODELS, ids=model_id)(test))


@needs_models
def test_the_shared_models_are_all_there() -> None:
    assert FLOAT_MODELS and INT8_MODELS
    assert ISSUE_BASELINES <= {p.stem for p in BASELINE_MODELS}


# ---- import --------------------------------------------------------------------------------------------


@pytest.mark.slow
@models
@pytest.mark.parametrize("rewrites", [(), ALL_REWRITES], ids=["no-rewrites", "all-rewrites"])
def test_shared_model_imports(path: Path, rewrites: tuple[str, ...]) -> None:
    graph = load_graph(path, rewrites=rewrites)
    assert graph.ops and graph.rewrites == list(rewrites)
    for t in graph.tensors.values():
        assert t.shape and all(isinstance(d, int) and d > 0 for d in t.shape), t
        assert t.nbytes == t.numel * t.itemsize > 0
    if path in INT8_MODELS:  # stored activations are int8; only a float model boundary may stay float
        inner = set(graph.tensors) - set(graph.inputs) - set(graph.outputs)
        assert {graph.tensors[t].dtype for t in inner} == {"int8"}
    position = {op.name: i for i, op in enumerate(graph.ops)}
    for op in graph.ops:  # the file order is a valid schedule
        for t in graph.activation_inputs(op):
            assert t in graph.inputs or position[graph.producer[t].name] < position[op.name]
    # every node of the file runs in some op, or was folded into a constant at import
    folded_model, _ = read_model(path, {})
    executed = {n for op in graph.ops for n in op.nodes}
    assert executed == {n.name for n in folded_model.graph.node}
    assert len(executed) + len(set(graph.constant_nodes)) == len(onnx.load(str(path)).graph.node)


# ---- planning ------------------------------------------------------------------------------------------


@pytest.mark.slow
@models
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_plans_every_shared_model(path: Path, method: str, shared_plan) -> None:
    _, plan = shared_plan(path, method)
    assert plan.model == path.name
    assert_sound(path, plan)


@needs_models
@pytest.mark.slow
@pytest.mark.parametrize("path", BASELINE_MODELS, ids=model_id)
def test_tflm_reproduces_the_tflite_micro_arena(path: Path, shared_plan) -> None:
    """Without kernel scratch, as the baseline was measured (TFLite Micro's reference kernels request none);
    with the C backend's scratch, TFLite Micro's planner places it like any other buffer: never less."""
    _, plan = shared_plan(path, "tflm", scratch=False)
    assert plan.arena_bytes == BASELINE[path.stem]["tflm_planned_activation_bytes"]
    graph, with_scratch = shared_plan(path, "tflm")
    assert with_scratch.arena_bytes >= plan.arena_bytes
    assert bool(graph.scratch) == any(b.tensor.startswith("scratch:") for b in with_scratch.buffers)


@needs_models
@pytest.mark.slow
@pytest.mark.parametrize("stem", ["vww_96_int8", "vww_96_float"])
def test_tflm_greedy_does_not_reach_load_on_vww(stem: str, shared_plan) -> None:
    """Contrary to the baseline README, TFLM's greedy layout needs more than LOAD for vww_96."""
    (path,) = [p for p in ALL_MODELS if p.stem == stem]
    _, plan = shared_plan(path, "tflm")
    assert plan.arena_bytes == BASELINE[stem]["tflm_planned_activation_bytes"] > plan.load_bytes


@pytest.mark.slow
@models
def test_reorder_never_needs_more_than_tflm(path: Path, shared_plan) -> None:
    _, tflm = shared_plan(path, "tflm")
    _, reorder = shared_plan(path, "reorder")
    assert reorder.arena_bytes <= tflm.arena_bytes
    assert reorder.load_bytes <= tflm.load_bytes


# ---- property tests on random DAGs ---------------------------------------------------------------------


def check_every_planner(model: onnx.ModelProto) -> None:
    """Every method's plan validates; its arena is never below its LOAD, its own lower bound, nor (for
    plans that run every op whole) the least LOAD over all op orders of its graph."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp))
        for method in METHODS:
            _, plan = solve_quick(path, method)
            assert_sound(path, plan)
            graph = plan_graph(path, plan)
            if unsliced_order(graph, plan) is not None:
                best = optimal_order(graph)
                assert best.exact
                assert plan.arena_bytes >= plan.load_bytes >= best.peak


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n_ops=st.integers(1, 10), qdq=st.booleans(), n_inputs=st.integers(1, 2))
@example(seed=1480571, n_ops=9, qdq=False, n_inputs=2)  # Concat of a tensor and a view of it
@example(seed=34, n_ops=3, qdq=False, n_inputs=1)  # a pointwise conv in place
def test_every_planner_on_random_dags(seed: int, n_ops: int, qdq: bool, n_inputs: int) -> None:
    check_every_planner(random_dag_model(seed, max(n_ops, n_inputs), qdq=qdq, n_inputs=n_inputs))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_blocks=st.integers(1, 2),
    channels=st.sampled_from([4, 6, 8]),
    expand=st.integers(2, 6),
    hw=st.sampled_from([4, 6, 8]),
    qdq=st.booleans(),
    batchnorm=st.booleans(),
    explicit_pad=st.booleans(),
    head=st.booleans(),
)
@example(n_blocks=2, channels=4, expand=4, hw=4, qdq=True, batchnorm=False, explicit_pad=False, head=False)  # a
# split tail's last round reads fewer inputs and needs more scratch (the int8 pointwise block path)
def test_every_planner_on_random_mobilenet_blocks(**shape) -> None:
    """Inverted residual blocks are where partial execution splits ops into channel slices."""
    check_every_planner(mbconv_chain(**shape))


# ---- the README benchmark ------------------------------------------------------------------------------


@needs_models
@pytest.mark.slow
def test_bench_models_markdown_has_a_row_per_model_with_its_baseline(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_models", REPO / "benchmarks" / "bench_models.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_models", bench)
    spec.loader.exec_module(bench)
    assert bench.main(["--markdown", "--method", "tflm", "--models", str(SHARED_MODELS)]) == 0
    rows = {line.split(" | ")[0].lstrip("| "): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and " tflm " not in line}
    for path in ALL_MODELS:
        base = BASELINE.get(path.stem, {}).get("tflm_planned_activation_bytes")
        assert path.stem in rows
        if base is not None:
            assert rows[path.stem].count(f"{base:,}") == 2  # the baseline and the tflm arena equal to it
