"""In-place pointwise convolution (solver switch `inplace_pointwise`, pexcp/analysis/inplace.py): a 1x1
stride-1 one-group conv with no more output than input channels writes its output over its input pixel by
pixel through a one-pixel `temp:<op>` buffer; the validator checks the plan; the C kernels run it (float, and
int8 through the DSP pair-of-pixels path on Cortex-M or the portable per-pixel loop on the host). Outputs are
compared with oracles: onnxruntime (float), TFLite Micro (the shared int8 models, bit for bit), and the plan
of the same graph without in-place steps (generated int8 graphs, bit for bit), on the host with sanitizers
and a poisoned arena, and under QEMU."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_helpers import check_project, compile_and_check, needs_cc, run_plan
from conftest import SHARED_MODELS, Cli
from int8_oracle import cases
from onnx_builders import GraphBuilder, save
from plan_helpers import in_place_tamperings
from pexcp.analysis.inplace import POINTWISE, in_place_ops, runs_last
from pexcp.analysis.liveness import Schedule, expand
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import build_qemu, missing_tools, qemu_inputs, run_qemu
from pexcp.ir import TEMP, Graph
from pexcp.layout.pinned import best_of_items
from pexcp.pipeline import load_for, solve
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams

BOTH = SolverParams(inplace_depthwise=True, inplace_pointwise=True)
KWS = SHARED_MODELS / "onnx_int8" / "kws_ref_model_int8.onnx" if SHARED_MODELS else None
needs_kws = pytest.mark.skipif(KWS is None or not KWS.exists(), reason="needs the shared model kws_ref_model_int8.onnx")


def forced_plan(path: Path, io: str = "model") -> tuple[Graph, Plan]:
    """The file's order with every eligible pointwise conv in place, laid out greedily, validated."""
    graph = load_for(path, "reorder", SolveOptions(io=io))
    order = [op.name for op in graph.ops]
    names = [op.name for op in in_place_ops(graph, (POINTWISE,)) if runs_last(graph, order, op)]
    expanded = expand(graph, Schedule(order, {}, names))
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="reorder", status="heuristic", lower_bound=expanded.load,
                     seconds=0.0)
    plan.io = io
    assert plan_problems(plan, path) == []
    return graph, plan


def _pw_net(qdq: bool, hw: int, c_in: int, c_out: int, seed: int, act: str | None, w: int | None = None) -> GraphBuilder:
    """3x3 conv -> pointwise c_in -> c_out -> 3x3 conv: the pointwise input dies with it."""
    b = GraphBuilder("pw_inplace", qdq=qdq, seed=seed)
    x = b.conv(b.input((1, 3, hw, w or hw)), c_in, kernel=3, act="relu")
    p = b.conv(x, c_out, kernel=1, act=act)
    b.output(b.conv(p, 2, kernel=3))
    return b


# ---- eligibility, plans and the validator --------------------------------------------------------------


def test_eligibility(tmp_path: Path) -> None:
    """Only 1x1 stride-1 unpadded one-group convs with no more output channels, whose input dies with them."""
    def eligible(build) -> list[str]:
        b = GraphBuilder("pw_elig", seed=3)
        build(b, b.conv(b.input((1, 3, 6, 6)), 8, kernel=3, act="relu"))
        graph = load_for(save(b.build(), tmp_path), "reorder", SolveOptions())
        return [op.op_type for op in in_place_ops(graph, (POINTWISE,))]

    assert eligible(lambda b, x: b.output(b.conv(b.conv(x, 8, kernel=1), 2, kernel=3))) == ["Conv"]
    assert eligible(lambda b, x: b.output(b.conv(b.conv(x, 5, kernel=1), 2, kernel=3))) == ["Conv"]
    assert eligible(lambda b, x: b.output(b.conv(b.conv(x, 9, kernel=1), 2, kernel=3))) == []  # more channels
    assert eligible(lambda b, x: b.output(b.conv(b.conv(x, 4, kernel=1, stride=2), 2, kernel=3))) == []
    assert eligible(lambda b, x: b.output(b.conv(b.conv(x, 4, kernel=1, pads=[1, 1, 1, 1]), 2, kernel=3))) == []
    assert eligible(lambda b, x: b.output(b.add(x, b.conv(x, 8, kernel=1)))) == []  # x read again after it
    assert eligible(lambda b, x: b.output(b.conv(x, 4, kernel=1))) == []  # a model output
    b = GraphBuilder("pw_only_dw", seed=3)
    b.output(b.conv(b.depthwise(b.conv(b.input((1, 3, 6, 6)), 8, kernel=3)), 2, kernel=3))
    graph = load_for(save(b.build(), tmp_path), "reorder", SolveOptions())
    assert in_place_ops(graph, (POINTWISE,)) == [] and len(in_place_ops(graph)) == 1


def test_plan_marks_in_place_step_and_validator_checks_it(tmp_path: Path) -> None:
    path = save(_pw_net(False, 7, 8, 6, 1, "relu").build(), tmp_path)
    graph, plan = forced_plan(path)
    (step,) = [s for s in plan.steps if s.in_place]
    (temp,) = [b for b in plan.buffers if b.tensor == TEMP + step.op]
    out = next(b for b in plan.buffers if b.first_step == step.index and b.alias_of is not None)
    base = next(b for b in plan.buffers if b.id == out.alias_of)
    assert (temp.first_step, temp.last_step, temp.bytes) == (step.index, step.index, 6 * 4)  # one pixel, 6 floats
    assert out.offset == base.offset and base.last_step == step.index
    assert (out.bytes, base.bytes) == (6 * 49 * 4, 8 * 49 * 4)
    assert Plan.from_dict(plan.to_dict()).steps[step.index].in_place

    problems = in_place_tamperings(plan, path)
    assert any("in place" in e for e in problems["unflag"])
    assert any("one output pixel" in e for e in problems["shrink"])
    assert any("temporary buffers" in e for e in problems["drop_temp"])
    assert any("live after it" in e or "overwritten" in e or "wrote" in e for e in problems["keep_input"])
    assert problems["shift_output"]
    assert any("nor a whole pointwise conv" in e for e in problems["flag_first"])


def test_validator_refuses_a_wider_output_over_its_input(tmp_path: Path) -> None:
    """A pointwise conv with more output than input channels would write past its input's bytes: a plan
    marking it in place (its output aliased to the input, a one-pixel temporary) is refused."""
    path = save(_pw_net(False, 5, 4, 6, 2, None).build(), tmp_path)
    graph = load_for(path, "reorder", SolveOptions())
    assert in_place_ops(graph, (POINTWISE,)) == []
    pw = next(op for op in graph.ops if op.op_type == "Conv" and graph.constants[op.inputs[1]].shape[2:] == (1, 1))
    plain = solve(path, "reorder", SolveOptions())[1]
    bad = copy.deepcopy(plain)
    step = next(s for s in bad.steps if s.op == pw.core.name)
    step.in_place = True
    assert any("nor a whole pointwise conv" in e for e in plan_problems(bad, path))


def test_validator_access_order_of_a_pointwise_step(tmp_path: Path) -> None:
    """The byte check follows the pixel-by-pixel order: an output over its input at the same start passes;
    shifted one element later (output (c, p) over input (c, p + 1), not read yet), one element earlier
    (output (c, 0) over input (c - 1, last pixel), not read yet) or with wider elements (landing on later
    pixels' inputs) it fails."""
    from dataclasses import replace

    from pexcp.plan.validate import _Place, _pixel_order, _read, pw_in_place_values

    path = save(_pw_net(False, 4, 6, 6, 3, None).build(), tmp_path)
    _, plan = forced_plan(path)
    m = _read(path, plan)
    (step,) = [s for s in plan.steps if s.in_place]
    src, dst = pw_in_place_values(m, step)
    base = next(b for b in plan.buffers if b.tensor == src)
    out = next(b for b in plan.buffers if b.tensor == dst)
    r = _Place(src, base, base.offset, base.offset + base.bytes, 0)

    def place(shift: int, dtype: str = "float32") -> _Place:
        b = replace(out, offset=out.offset + shift, dtype=dtype)
        return _Place(dst, b, b.offset, b.offset + b.bytes, 0)

    assert _pixel_order(m, r, place(0))
    assert not _pixel_order(m, r, place(4))
    assert not _pixel_order(m, r, place(-4))
    assert not _pixel_order(m, r, place(0, "float64"))


@needs_cc
def test_cpsat_chooses_pointwise_in_place_where_it_lowers_the_arena(tmp_path: Path) -> None:
    """3x3 conv 3 -> 16 channels, pointwise 16 -> 16, 3x3 conv to 2 channels, on 10x10 float: without the
    switch the pointwise conv holds its input and output (6,400 B each) at once, 12,800 B; in place the peak
    is its input and the one-pixel temporary (64 B), or the first conv's input (1,200 B) and output (6,400 B)."""
    b = GraphBuilder("pw_cpsat", seed=5)
    x = b.conv(b.input((1, 3, 10, 10)), 16, kernel=3, act="relu")
    b.output(b.conv(b.conv(x, 16, kernel=1, act="relu"), 2, kernel=3))
    path = save(b.build(), tmp_path)
    _, plain = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(split=False, inplace_pointwise=False)))
    graph, plan = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(split=False)))
    assert not any(s.in_place for s in plain.steps)
    assert plain.status == plan.status == "optimal"
    assert (plain.arena_bytes, plan.arena_bytes) == (12_800, 7_600)
    assert [s.kernel for s in plan.steps if s.in_place] == ["Conv"]
    assert plan.solver["params"]["inplace_pointwise"] is True
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


@needs_kws
def test_cpsat_kws_with_both_switches() -> None:
    """kws_ref_model_int8 --io int8, scratch planned (sizes from the model's shapes): without in-place convs,
    or with depthwise ones alone, two of its widest tensors are live at once (the pointwise convs' input and
    output); pointwise alone still holds two at a depthwise conv; with both, every depthwise and pointwise
    conv runs in place and the optimum is the first conv's input and output (without scratch: exactly)."""
    off = SolverParams(inplace_pointwise=False)
    graph, plain = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8", params=off))
    _, dw = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8", params=SolverParams(inplace_depthwise=True,
                                                                                      inplace_pointwise=False)))
    _, pw = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8"))  # the default
    _, both = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8", params=BOTH))
    size = lambda t: graph.tensors[t].nbytes  # noqa: E731
    widest = max(size(t) for t in graph.tensors)
    first = next(op for op in graph.ops if op.op_type == "Conv")
    runs = [op for op in graph.ops if op.op_type == "Conv" and op is not first
            and size(op.inputs[0]) == size(op.outputs[0]) == widest]
    assert min(plain.arena_bytes, dw.arena_bytes, pw.arena_bytes) >= 2 * widest
    assert pw.arena_bytes <= plain.arena_bytes
    assert both.status == "optimal" and both.arena_bytes < widest * 1.1
    assert {s.op for s in both.steps if s.in_place} == {op.name for op in runs}
    _, bare = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8", scratch=False, params=BOTH))
    aligned = lambda n: -(-n // 4) * 4  # noqa: E731
    assert bare.status == "optimal"
    assert bare.arena_bytes == aligned(size(first.inputs[0])) + size(first.outputs[0])


@needs_cc
def test_cli_solve_validate_compile_plan(cli: Cli, tmp_path: Path) -> None:
    """`solve --json` (in-place pointwise convs are on by default), then `validate` and `compile --plan` of
    that file."""
    path = save(_pw_net(True, 8, 12, 12, 4, "relu6").build(), tmp_path)
    plan_json = tmp_path / "plan.json"
    assert cli("solve", path, "--solver", "split=false", "--json", plan_json).code == 0  # in place by default
    plan = Plan.load(plan_json)
    assert [s.kernel for s in plan.steps if s.in_place] == ["Conv"]
    assert cli("validate", path, plan_json).code == 0
    assert cli("compile", path, "--plan", plan_json, "-o", tmp_path / "c", "--harness").code == 0
    assert "pexcp_conv_s8_pointwise_in_place(" in (tmp_path / "c" / "model.c").read_text()


# ---- C backend -----------------------------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("hw,w,c_in,c_out,act", [(6, 6, 8, 8, "relu"), (5, 7, 9, 4, "relu6"), (3, 3, 5, 1, None)])
def test_float_in_place_matches_onnxruntime(hw: int, w: int, c_in: int, c_out: int, act: str | None,
                                            tmp_path: Path) -> None:
    path = save(_pw_net(False, hw, c_in, c_out, hw + c_in, act, w).build(), tmp_path)
    graph, plan = forced_plan(path)
    assert any(s.in_place for s in plan.steps)
    emit(graph, plan, tmp_path / "c", harness=True)
    assert "pexcp_conv_pointwise_in_place(" in (tmp_path / "c" / "model.c").read_text()
    check_project(path, tmp_path / "c", runs=2)


@needs_cc
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hw=st.integers(2, 7), c_in=st.integers(1, 12), drop=st.integers(0, 4), qdq=st.booleans(),
       act=st.sampled_from([None, "relu", "relu6"]), seed=st.integers(0, 2**16))
def test_generated_in_place_equals_plain(hw: int, c_in: int, drop: int, qdq: bool, act: str | None, seed: int) -> None:
    """Generated conv/pointwise/conv graphs, float and int8: the in-place plan gives the same bits as the
    plain plan of the same graph (the per-pixel sums are the plain kernel's, in the same order)."""
    model = _pw_net(qdq, hw, c_in, max(1, c_in - drop), seed, act).build()
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


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_ref_model_int8", "vww_96_int8", "te_mcunet_vww"])
def test_shared_int8_every_pointwise_in_place_matches_tflite_micro(name: str, tmp_path: Path) -> None:
    """Every eligible pointwise conv of the shared int8 models in place (64 -> 64 to 16 -> 8 channels):
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
@needs_kws
@pytest.mark.skipif(bool(missing_tools()), reason="needs the Arm toolchain and QEMU")
def test_kws_both_switches_on_cortex_m(tmp_path: Path) -> None:
    """The cpsat plan of kws_ref_model_int8 (--io int8) with in-place depthwise and pointwise convs on a
    Cortex-M4F under QEMU (the pointwise convs through the DSP path): the output is TFLite Micro's, and the
    static RAM is the arena plus the harness."""
    from test_backend_int8 import check_int8_on_cortex_m

    graph, plan = solve(KWS, "cpsat", SolveOptions(timeout=60, io="int8", params=BOTH))
    assert sum(s.in_place for s in plan.steps) >= 8
    check_int8_on_cortex_m(KWS, graph, plan, tmp_path, timeout=180)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools()), reason="needs the Arm toolchain and QEMU")
def test_float_kws_both_switches_on_cortex_m(tmp_path: Path) -> None:
    """kws_ref_model_float32 with in-place depthwise and pointwise convs: the optimum is the float input
    beside the first conv's output (sizes from the model's shapes), and on the Cortex-M4F its output is
    onnxruntime's."""
    model = SHARED_MODELS / "onnx" / "kws_ref_model_float32.onnx" if SHARED_MODELS else None
    if model is None or not model.exists():
        pytest.skip("needs the shared model kws_ref_model_float32.onnx")
    import onnxruntime as ort

    from backend_helpers import assert_close
    from test_backend_models import RUNTIME_OVERHEAD_LIMIT

    graph, plan = solve(model, "cpsat", SolveOptions(timeout=60, params=BOTH))
    first = next(op for op in graph.ops if op.op_type == "Conv")
    assert plan.status == "optimal"
    assert plan.arena_bytes == sum(graph.tensors[t].nbytes for t in (first.inputs[0], first.outputs[0]))
    assert sum(s.in_place for s in plan.steps) == 8
    emit(graph, plan, tmp_path, harness=True)
    build_qemu(tmp_path)
    run = run_qemu(tmp_path, timeout=180)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ref = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), qemu_inputs(graph))})
    assert_close(run.outputs[0], ref[0].ravel(), "kws float in place on Cortex-M")
    assert plan.arena_bytes <= run.static_ram < plan.arena_bytes + RUNTIME_OVERHEAD_LIMIT
