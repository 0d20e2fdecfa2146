"""In-place depthwise convolution (solver switch `inplace_depthwise`, pexcp/analysis/inplace.py): the plan
marks the step, its output aliases its input's buffer and a one-channel `temp:<op>` buffer is live there; the
validator checks all of it; the C kernels run it channel by channel. Outputs are compared with oracles:
onnxruntime (float), TFLite Micro (the shared int8 models, bit for bit), and the plan of the same graph
without in-place steps (generated int8 graphs, bit for bit), on the host with sanitizers and a poisoned
arena, and under QEMU."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_helpers import check_project, compile_and_check, needs_cc, run_plan
from conftest import SHARED_MODELS, Cli
from int8_oracle import cases
from onnx_builders import GraphBuilder, mbconv_chain, save
from plan_helpers import in_place_tamperings
from pexcp.analysis.inplace import in_place_ops, runs_last
from pexcp.analysis.liveness import Schedule, expand
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import missing_tools
from pexcp.ir import TEMP, Graph
from pexcp.layout.pinned import best_of_items
from pexcp.pipeline import load_for, solve
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams

ON = SolverParams(inplace_depthwise=True)
VWW = SHARED_MODELS / "onnx_int8" / "te_mcunet_vww.onnx" if SHARED_MODELS else None
needs_vww = pytest.mark.skipif(VWW is None or not VWW.exists(), reason="needs the shared model te_mcunet_vww.onnx")


def forced_plan(path: Path, io: str = "model") -> tuple[Graph, Plan]:
    """The file's order with every eligible depthwise conv in place, laid out greedily, validated."""
    graph = load_for(path, "reorder", SolveOptions(io=io))
    order = [op.name for op in graph.ops]
    names = [op.name for op in in_place_ops(graph) if runs_last(graph, order, op)]
    expanded = expand(graph, Schedule(order, {}, names))
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="reorder", status="heuristic", lower_bound=expanded.load,
                     seconds=0.0)
    plan.io = io
    assert plan_problems(plan, path) == []
    return graph, plan


def _dw_net(qdq: bool, stride: int, kernel: int, hw: int, channels: int, seed: int, act: str | None) -> GraphBuilder:
    """1x1 expand -> depthwise (stride, kernel) -> 1x1 project: the depthwise input dies with it."""
    b = GraphBuilder("dw_inplace", qdq=qdq, seed=seed)
    e = b.conv(b.input((1, 3, hw, hw)), channels, kernel=1, act="relu")
    d = b.depthwise(e, kernel=kernel, stride=stride, act=act)
    b.output(b.conv(d, 4, kernel=1))
    return b


# ---- plans and the validator ---------------------------------------------------------------------------


def test_plan_marks_in_place_steps_and_validator_checks_them(tmp_path: Path) -> None:
    path = save(_dw_net(False, 2, 3, 9, 6, 1, "relu").build(), tmp_path)
    graph, plan = forced_plan(path)
    (step,) = [s for s in plan.steps if s.in_place]
    (temp,) = [b for b in plan.buffers if b.tensor == TEMP + step.op]
    out = next(b for b in plan.buffers if b.first_step == step.index and b.alias_of is not None)
    base = next(b for b in plan.buffers if b.id == out.alias_of)
    assert (temp.first_step, temp.last_step, temp.bytes) == (step.index, step.index, 5 * 5 * 4)  # one 5x5 channel
    assert out.offset == base.offset and base.last_step == step.index and out.bytes == 6 * 25 * 4 < base.bytes
    assert Plan.from_dict(plan.to_dict()).steps[step.index].in_place

    problems = in_place_tamperings(plan, path)
    assert any("in place" in e for e in problems["unflag"])
    assert any("one output channel" in e for e in problems["shrink"])
    assert any("temporary buffers" in e for e in problems["drop_temp"])
    assert any("live after it" in e or "overwritten" in e or "wrote" in e for e in problems["keep_input"])
    assert problems["shift_output"]
    assert any("not a whole depthwise conv" in e for e in problems["flag_first"])


def test_eligibility_excludes_inputs_read_again(tmp_path: Path) -> None:
    """A depthwise conv whose input another op still reads (a residual) cannot overwrite it."""
    b = GraphBuilder("dw_residual", seed=2)
    x = b.conv(b.input((1, 3, 6, 6)), 8, kernel=1)
    b.output(b.add(x, b.depthwise(x)))
    graph = load_for(save(b.build(), tmp_path), "reorder", SolveOptions())
    assert in_place_ops(graph) == []


def _two_readers(tmp_path: Path) -> Path:
    """x feeds a depthwise conv (first in the file) and a 1x1 conv that does not depend on it; their
    branches meet in an Add. In place only if the 1x1 conv runs first."""
    b = GraphBuilder("dw_two_readers", seed=6)
    x = b.conv(b.input((1, 3, 10, 10)), 16, kernel=1, act="relu")
    a = b.conv(b.depthwise(x, act="relu"), 2, kernel=1)
    b.output(b.add(a, b.conv(x, 2, kernel=1)))
    return save(b.build(), tmp_path)


@needs_cc
def test_cpsat_runs_other_readers_first_to_run_in_place(tmp_path: Path) -> None:
    """The solver moves the other reader of the input before the depthwise conv so that it can run in place:
    x (6,400 B) + temporary (400 B) + the other branch (800 B) instead of x + the conv's output (6,400 B) +
    branch; the peak is then the depthwise output with both 800 B branch outputs."""
    path = _two_readers(tmp_path)
    graph = load_for(path, "reorder", SolveOptions())
    (dw,) = in_place_ops(graph)
    assert not runs_last(graph, [op.name for op in graph.ops], dw)
    options = dict(timeout=20, params=SolverParams(split=False, inplace_depthwise=True, inplace_pointwise=False))
    graph, plan = solve(path, "cpsat", SolveOptions(**options))
    _, plain = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(split=False, inplace_pointwise=False)))
    (step,) = [s for s in plan.steps if s.in_place]
    assert plan.status == plain.status == "optimal"
    assert (plan.arena_bytes, plain.arena_bytes) == (8_000, 13_600)
    readers = [s.index for s in plan.steps if s.kernel == "Conv" and s.index != step.index and not s.in_place]
    assert len(readers) == 3  # the first conv, the other branch (before the in-place step), the tail conv
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


def test_cpsat_chooses_in_place_only_where_it_lowers_the_arena(tmp_path: Path) -> None:
    """Off by default; with the switch, the optimum may use it, and never where the arena does not drop."""
    path = save(mbconv_chain(n_blocks=2, channels=4, expand=4, hw=8), tmp_path)
    _, plain = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(split=False)))
    _, inplace = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(split=False, inplace_depthwise=True)))
    assert not any(s.in_place for s in plain.steps)
    assert plain.status == inplace.status == "optimal"
    assert inplace.arena_bytes <= plain.arena_bytes
    if inplace.arena_bytes == plain.arena_bytes:
        assert not any(s.in_place for s in inplace.steps)
    assert inplace.solver["params"]["inplace_depthwise"] is True


@needs_vww
def test_cpsat_in_place_on_mcunet_vww() -> None:
    """te_mcunet_vww --io int8, scratch planned: without in-place runs the first depthwise conv's input and
    output sit side by side; with them the optimum drops below that, to no less than the first conv's input
    and output (sizes from the model's shapes)."""
    _, plain = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8"))
    graph, inplace = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8", params=ON))
    first_conv = graph.ops[0]
    first_dw = next(op for op in graph.ops if op.attrs.get("group", 1) > 1)
    size = lambda t: graph.tensors[t].nbytes  # noqa: E731
    assert plain.status == inplace.status == "optimal"
    assert plain.arena_bytes >= size(first_dw.inputs[0]) + size(first_dw.outputs[0])
    assert size(first_conv.inputs[0]) + size(first_conv.outputs[0]) <= inplace.arena_bytes < plain.arena_bytes
    assert any(s.in_place and s.op == first_dw.name for s in inplace.steps)


@needs_vww
def test_cpsat_budget_with_instruction_objective() -> None:
    """With a budget only in-place execution meets (the in-place optimum, below the plain one), the
    instruction objective still finds a plan."""
    _, plain = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8"))
    _, best = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8", params=ON))
    budget = best.arena_bytes
    assert budget < plain.arena_bytes
    _, plan = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8", budget=budget, params=SolverParams(
        inplace_depthwise=True, objective="instructions")))
    assert plan.arena_bytes <= budget and any(s.in_place for s in plan.steps)


@needs_cc
def test_cli_solve_validate_compile_plan(cli: Cli, tmp_path: Path) -> None:
    """`solve --solver inplace_depthwise=true --solver split=false --json`, then `validate` and `compile --plan` of that file."""
    b = GraphBuilder("dw_cli", qdq=True, seed=4)
    e = b.conv(b.input((1, 3, 12, 12)), 16, kernel=1, act="relu")
    b.output(b.conv(b.depthwise(e, act="relu6"), 2, kernel=1))
    path = save(b.build(), tmp_path)
    plan_json = tmp_path / "plan.json"
    assert cli("solve", path, "--solver", "inplace_depthwise=true", "--solver", "split=false", "--json", plan_json).code == 0
    plan = Plan.load(plan_json)
    assert [s.kernel for s in plan.steps if s.in_place] == ["Conv"]
    assert cli("validate", path, plan_json).code == 0
    assert cli("compile", path, "--plan", plan_json, "-o", tmp_path / "c", "--harness").code == 0
    assert "memcpy(" in (tmp_path / "c" / "model.c").read_text()


# ---- C backend -----------------------------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("stride,kernel,act", [(1, 3, "relu"), (2, 3, "relu6"), (1, 5, None), (2, 7, "relu")])
def test_float_in_place_matches_onnxruntime(stride: int, kernel: int, act: str | None, tmp_path: Path) -> None:
    path = save(_dw_net(False, stride, kernel, 11, 5, stride + kernel, act).build(), tmp_path)
    graph, plan = forced_plan(path)
    assert any(s.in_place for s in plan.steps)
    emit(graph, plan, tmp_path / "c", harness=True)
    assert "memcpy(" in (tmp_path / "c" / "model.c").read_text()
    check_project(path, tmp_path / "c", runs=2)


@needs_cc
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stride=st.integers(1, 2), kernel=st.sampled_from([1, 3, 5]), hw=st.integers(3, 9), channels=st.integers(2, 9),
    qdq=st.booleans(), seed=st.integers(0, 2**16),
)
def test_generated_in_place_equals_plain(stride: int, kernel: int, hw: int, channels: int, qdq: bool, seed: int) -> None:
    """Generated expand/depthwise/project graphs, float and int8: the in-place plan gives the same bits as
    the plain plan of the same graph."""
    model = _dw_net(qdq, stride, kernel, hw, channels, seed, "relu6").build()
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp))
        graph, plan = forced_plan(path)
        plain_graph, plain = solve(path, "reorder", SolveOptions(timeout=5))
        assert any(s.in_place for s in plan.steps) and not any(s.in_place for s in plain.steps)
        rng = np.random.default_rng(seed)
        shape = graph.tensors[graph.inputs[0]].shape
        if qdq:
            inputs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(2)]
        else:
            inputs = [rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(2)]
        got = run_plan(graph, plan, Path(tmp) / "inplace", inputs)
        want = run_plan(plain_graph, plain, Path(tmp) / "plain", inputs)
        for g, w in zip(got, want):
            assert np.array_equal(g, w), f"in place {g.ravel()[:6]} != plain {w.ravel()[:6]}"


INT8_DW_MODELS = ["te_mcunet_vww", "vww_96_int8", "kws_ref_model_int8"]


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("name", INT8_DW_MODELS)
def test_shared_int8_every_depthwise_in_place_matches_tflite_micro(name: str, tmp_path: Path) -> None:
    """Every eligible depthwise conv of the shared int8 models in place (strides 1 and 2, 3x3 to 7x7):
    outputs bit-identical to TFLite Micro's."""
    if SHARED_MODELS is None or not (SHARED_MODELS / "onnx_int8" / f"{name}.onnx").exists():
        pytest.skip("needs the shared int8 models")
    path = SHARED_MODELS / "onnx_int8" / f"{name}.onnx"
    graph, plan = forced_plan(path)
    assert sum(s.in_place for s in plan.steps) >= 4
    expected = cases(path)[:4]
    got = run_plan(graph, plan, tmp_path, [c.x for c in expected])
    for g, c in zip(got, expected):
        assert np.array_equal(g, c.y), f"{name}: {g.ravel()[:8]} != {c.y.ravel()[:8]}"


@pytest.mark.qemu
@pytest.mark.slow
@needs_vww
@pytest.mark.skipif(bool(missing_tools()), reason="needs the Arm toolchain and QEMU")
def test_in_place_plan_on_cortex_m(tmp_path: Path) -> None:
    """The cpsat plan with an in-place step on te_mcunet_vww (--io int8) on a Cortex-M4F under QEMU: the
    output is TFLite Micro's, and the static RAM is the smaller arena plus the harness."""
    from test_backend_int8 import check_int8_on_cortex_m

    graph, plan = solve(VWW, "cpsat", SolveOptions(timeout=60, io="int8", params=ON))
    assert any(s.in_place for s in plan.steps)
    check_int8_on_cortex_m(VWW, graph, plan, tmp_path, timeout=180)
