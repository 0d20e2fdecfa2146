"""Row-band execution (solver switch `bands`, pexcp/analysis/bands.py): chains of convs and pools run band by
band along the height axis, inner tensors held as windows of rows. The plan says so with row slices and
`window` buffers; the validator checks every row a step reads (independently of the planner); the C backend
runs the bands. Outputs are compared with oracles: onnxruntime (float), the unbanded plan of the same graph
(generated int8 graphs, bit for bit) and TFLite Micro (te_mcunet_vww, bit for bit)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_helpers import compile_and_check, needs_cc, run_plan
from conftest import SHARED_MODELS, Cli
from onnx_builders import GraphBuilder, save
from pexcp.analysis.bands import ROW, candidate_bands
from pexcp.analysis.liveness import Schedule, expand
from pexcp.backends.c.toolchain import missing_tools, qemu_inputs
from pexcp.ir import Graph
from pexcp.layout.pinned import best_of_items
from pexcp.pipeline import load_for, solve
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams

BANDS = SolverParams(bands=True)

Layer = tuple  # ("conv", out_channels, kernel, stride) | ("dw", kernel, stride) | ("max" | "avg", kernel, stride)


LAYER_CHAINS = st.lists(
    st.one_of(
        st.tuples(st.just("conv"), st.integers(2, 8), st.sampled_from([1, 3, 5]), st.integers(1, 2)),
        st.tuples(st.just("dw"), st.sampled_from([3, 5, 7]), st.integers(1, 2)),
        st.tuples(st.sampled_from(["max", "avg"]), st.integers(2, 3), st.integers(1, 2)),
    ),
    min_size=1, max_size=4,
)


def _chain(layers: list[Layer], hw: int = 12, channels: int = 3, qdq: bool = False, seed: int = 0) -> GraphBuilder:
    """A chain of windowed layers with SAME-like pads, then a 1x1 conv to 2 channels."""
    b = GraphBuilder("bands", qdq=qdq, seed=seed)
    x = b.input((1, channels, hw, hw))
    for kind, *args in layers:
        if kind == "conv":
            x = b.conv(x, args[0], kernel=args[1], stride=args[2], act="relu")
        elif kind == "dw":
            x = b.depthwise(x, kernel=args[0], stride=args[1], act="relu6")
        else:
            k, s = args
            pool = b.maxpool if kind == "max" else b.avgpool
            x = pool(x, kernel=k, stride=s, pads=[k // 2, k // 2, (k - 1) // 2, (k - 1) // 2])
    b.output(b.conv(x, 2, kernel=1))
    return b


def band_plan(path: Path, height: int, io: str = "model", first: int = 0, members: int | None = None) -> tuple[Graph, Plan]:
    """The file's order with the largest band group from op `first` (or the one of `members` ops) run in bands
    of `height` rows, laid out greedily."""
    graph = load_for(path, "reorder", SolveOptions(io=io))
    start = graph.ops[first].name
    chains = [g for g in candidate_bands(graph) if g.names[0] == start and (members is None or len(g.members) == members)]
    group = max(chains, key=lambda g: len(g.members))
    expanded = expand(graph, Schedule([op.name for op in graph.ops], {group.id: height}), {group.id: group})
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="reorder", status="heuristic", lower_bound=expanded.load, seconds=0.0)
    plan.io = io
    return graph, plan


# ---- plans and the validator ---------------------------------------------------------------------------

LAYERS = [("conv", 6, 3, 2), ("dw", 3, 1), ("conv", 8, 1, 1), ("dw", 5, 2)]


def test_band_plan_holds_windows_of_rows(tmp_path: Path) -> None:
    """Bands of one row through conv 3x3/2 -> dw 3x3 -> 1x1 -> dw 5x5/2: each inner tensor is a window of
    rows, sized from its shape, as few rows as the validator (its own row rules) accepts: one row fewer in
    any window is refused."""
    path = save(_chain(LAYERS).build(), tmp_path)
    graph, plan = band_plan(path, 1, members=4)
    assert plan_problems(plan, path) == []
    windows = {b.tensor: b for b in plan.buffers if b.window}
    assert sorted(windows) == sorted(op.outputs[0] for op in graph.ops[:3])
    for t, b in windows.items():
        _, c, h, w = graph.tensors[t].shape
        assert b.bytes == c * b.window * w * 4 and b.window < h
        assert any("window" in e for e in _tamper(plan, path, lambda p, i=b.id: _narrow(p, i)))
    rows = [s for s in plan.steps if s.slice is not None and s.slice.axis == ROW]
    assert {s.slice.stop - s.slice.start for s in rows if s.op == graph.ops[3].name} == {1}
    assert Plan.from_dict(plan.to_dict()).buffers[b.id].window == b.window


def _narrow(plan: Plan, buffer: int) -> None:
    """A window one row short."""
    b = plan.buffers[buffer]
    b.bytes = b.bytes // b.window * (b.window - 1)
    b.window -= 1


def _tamper(plan: Plan, path: Path, edit) -> list[str]:
    bad = copy.deepcopy(plan)
    edit(bad)
    return plan_problems(bad, path)


def test_validator_catches_band_tamperings(tmp_path: Path) -> None:
    path = save(_chain(LAYERS).build(), tmp_path)
    graph, plan = band_plan(path, 2)
    assert plan_problems(plan, path) == []
    rows = [s for s in plan.steps if s.slice is not None and s.slice.axis == ROW]
    window = next(b for b in plan.buffers if b.window == 5)  # the 1x1 conv's output, read by the 5x5 dw

    def narrow(p: Plan) -> None:
        _narrow(p, window.id)

    def drop(p: Plan) -> None:  # a band never computed
        p.steps = [s for s in p.steps if s.index != rows[3].index]
        for i, s in enumerate(p.steps):
            s.index = i

    later = next(s for s in rows if s.slice.start > 0)
    feeds = next(i for i, s in enumerate(rows[:-1]) if graph.op(s.op).outputs[0] in graph.op(rows[i + 1].op).inputs)

    def twice(p: Plan) -> None:  # a band that recomputes the row before it
        p.steps[later.index].slice = type(later.slice)(later.slice.start - 1, later.slice.stop, ROW)

    def swap(p: Plan) -> None:  # a consumer's band before its producer's in one round
        a, b = rows[feeds].index, rows[feeds + 1].index
        p.steps[a], p.steps[b] = p.steps[b], p.steps[a]
        p.steps[a].index, p.steps[b].index = a, b

    def overlap(p: Plan) -> None:  # the window moved onto the chain's input, live all the while
        p.buffers[window.id].offset = next(b.offset for b in p.buffers if b.tensor == graph.inputs[0])

    found = {f.__name__: _tamper(plan, path, f) for f in (narrow, drop, twice, swap, overlap)}
    assert any("window" in e for e in found["narrow"]), found["narrow"]
    assert any("never computed" in e for e in found["drop"]), found["drop"]
    assert any("more than once" in e for e in found["twice"]), found["twice"]
    assert any("before step" in e or "does not hold" in e for e in found["swap"]), found["swap"]
    assert any("overlap" in e for e in found["overlap"]), found["overlap"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(layers=LAYER_CHAINS, hw=st.integers(9, 17),
    height=st.integers(1, 5),
)
def test_generated_band_plans_are_valid(layers: list[Layer], hw: int, height: int, tmp_path_factory) -> None:
    """Any chain of windowed layers, any band height: the plan computes every row once, every read row is in
    its window (the validator's own row rules), and no window holds more rows than its tensor has."""
    path = save(_chain(layers, hw=hw).build(), tmp_path_factory.mktemp("bands"))
    graph, plan = band_plan(path, height)
    assert plan_problems(plan, path) == []
    for b in plan.buffers:
        if b.window:
            assert b.window <= graph.tensors[b.tensor].shape[2]


def test_cpsat_bands_lower_the_arena_below_whole_tensors(tmp_path: Path) -> None:
    """A wide first layer over a large input (channel splits off): without bands its output sits whole beside
    the input; with them the optimum is below input + that output, and no lower than input + the model's
    output."""
    b = GraphBuilder("bands_cpsat", seed=3)
    x = b.conv(b.input((1, 3, 24, 24)), 16, kernel=3, stride=1, act="relu")
    x = b.depthwise(x, kernel=3, stride=2, act="relu")
    b.output(b.conv(x, 4, kernel=1))
    path = save(b.build(), tmp_path)
    graph, plan = solve(path, "cpsat", SolveOptions(timeout=30, params=SolverParams(split=False, bands=True)))
    _, plain = solve(path, "cpsat", SolveOptions(timeout=30, params=SolverParams(split=False)))
    size = lambda t: graph.tensors[t].nbytes  # noqa: E731
    first = graph.ops[0]
    assert plan.status == plain.status == "optimal"
    assert plain.arena_bytes >= size(first.inputs[0]) + size(first.outputs[0])
    assert size(first.inputs[0]) + size(graph.outputs[0]) <= plan.arena_bytes < size(first.inputs[0]) + size(first.outputs[0])
    assert any(s.slice is not None and s.slice.axis == ROW for s in plan.steps)
    assert plan.solver["params"]["bands"] is True and plain.solver["params"]["bands"] is False


def _residual(qdq: bool = False, seed: int = 0, stride: int = 1) -> GraphBuilder:
    """x = conv(input); out = relu(x + conv(conv(x))), then a 1x1 conv: the Add reads x, which the first
    conv of its branch also reads."""
    b = GraphBuilder("bands_residual", qdq=qdq, seed=seed)
    x = b.conv(b.input((1, 3, 12, 12)), 6, kernel=3, act="relu")
    y = b.conv(b.conv(x, 6, kernel=3, act="relu"), 6, kernel=3)
    b.output(b.conv(b.add(x, y, act="relu"), 2, kernel=1))
    return b


def test_band_chain_ending_in_a_residual_add_overwrites_its_skip_input(tmp_path: Path) -> None:
    """conv -> conv -> Add(x, .) in bands of two rows: the Add writes each band of its output over the rows
    of x it has read, which the first conv no longer needs. The validator follows x's rows: with the last
    Add moved before the first conv's last band, that band reads rows of x the Add has overwritten."""
    path = save(_residual().build(), tmp_path)
    graph, plan = band_plan(path, 2, first=1, members=3)
    assert plan_problems(plan, path) == []
    add = graph.ops[3]
    out = next(b for b in plan.buffers if b.tensor == add.outputs[0])
    x = next(b for b in plan.buffers if b.id == out.alias_of)
    assert x.tensor == graph.ops[0].outputs[0] and out.offset == x.offset
    rows = [s for s in plan.steps if s.slice is not None and s.slice.axis == ROW]
    last_add = max(s.index for s in rows if s.op == add.name)
    last_conv = max(s.index for s in rows if s.op == graph.ops[1].name)

    def early(p: Plan) -> None:
        p.steps[last_conv], p.steps[last_add] = p.steps[last_add], p.steps[last_conv]
        p.steps[last_conv].index, p.steps[last_add].index = last_conv, last_add

    found = _tamper(plan, path, early)
    assert any(f"reads {x.tensor!r}" in e and f"wrote {out.tensor!r}" in e for e in found), found


def _blocks(qdq: bool = False, seed: int = 0, kernel: int = 3, stride: int = 2, hw: int = 12) -> GraphBuilder:
    """Two residual blocks as in ResNet: y = relu(x + conv(conv(x))) over x = conv(input), then
    relu(shortcut(y) + conv(conv(y))) with a 1x1 shortcut and a first conv of stride `stride`; then a 1x1
    conv. x and y are each read by two ops of the same band group."""
    b = GraphBuilder("bands_blocks", qdq=qdq, seed=seed)
    x = b.conv(b.input((1, 3, hw, hw)), 6, kernel=3, act="relu")
    y = b.add(x, b.conv(b.conv(x, 6, kernel=kernel, act="relu"), 6, kernel=kernel), act="relu")
    z = b.conv(b.conv(y, 8, kernel=3, stride=stride, act="relu"), 8, kernel=3)
    b.output(b.conv(b.add(b.conv(y, 8, kernel=1, stride=stride), z, act="relu"), 2, kernel=1))
    return b


def test_band_groups_span_residual_blocks(tmp_path: Path) -> None:
    """A band group may be a DAG: both blocks (8 ops) run in bands, the tensors read by a conv and by an Add
    or a shortcut held as windows. Each window holds the rows from the lowest any reader still needs to the
    last written: one row fewer in any window of more than one row is refused."""
    path = save(_blocks().build(), tmp_path)
    graph, plan = band_plan(path, 1, members=8)
    assert plan_problems(plan, path) == []
    windows = {b.tensor: b for b in plan.buffers if b.window}
    shared = [t for t in windows if len(graph.consumers[t]) == 2]
    assert len(windows) == 7 and len(shared) == 2
    for b in windows.values():
        if b.window > 1:
                assert any("window" in e for e in _tamper(plan, path, lambda p, i=b.id: _narrow(p, i)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kernel=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), hw=st.integers(9, 17), height=st.integers(1, 5),
       members=st.sampled_from([4, 8]))
def test_generated_block_band_plans_are_valid(kernel: int, stride: int, hw: int, height: int, members: int,
                                             tmp_path_factory) -> None:
    path = save(_blocks(kernel=kernel, stride=stride, hw=hw).build(), tmp_path_factory.mktemp("blocks"))
    graph, plan = band_plan(path, height, members=members)
    assert plan_problems(plan, path) == []


# ---- C backend -----------------------------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("height", [1, 2, 5])
@pytest.mark.parametrize("layers", [LAYERS, [("conv", 4, 5, 1), ("max", 3, 2), ("conv", 5, 3, 2)], [("avg", 3, 1), ("dw", 7, 2)]])
def test_float_bands_match_onnxruntime(layers: list[Layer], height: int, tmp_path: Path) -> None:
    path = save(_chain(layers, hw=13).build(), tmp_path)
    graph, plan = band_plan(path, height)
    assert plan_problems(plan, path) == []
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)
    assert "pexcp_move_rows(" in (tmp_path / "c" / "model.c").read_text() or height > 1


@needs_cc
@pytest.mark.parametrize("height", [1, 3])
def test_float_residual_bands_match_onnxruntime(height: int, tmp_path: Path) -> None:
    path = save(_residual(seed=height).build(), tmp_path)
    graph, plan = band_plan(path, height, first=1, members=3)
    assert plan_problems(plan, path) == []
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


def _equals_unbanded(path: Path, graph: Graph, plan: Plan, workdir: Path, seed: int) -> None:
    """The band plan is valid and gives the unbanded (reorder) plan's bits on two random int8 inputs."""
    assert plan_problems(plan, path) == []
    plain_graph, plain = solve(path, "reorder", SolveOptions(timeout=5))
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-128, 128, size=graph.tensors[graph.inputs[0]].shape, dtype=np.int8) for _ in range(2)]
    got = run_plan(graph, plan, workdir / "bands", inputs)
    want = run_plan(plain_graph, plain, workdir / "plain", inputs)
    for g, w in zip(got, want):
        assert np.array_equal(g, w), f"bands {g.ravel()[:6]} != unbanded {w.ravel()[:6]}"


@needs_cc
def test_int8_residual_bands_equal_unbanded(tmp_path: Path) -> None:
    path = save(_residual(qdq=True, seed=7).build(), tmp_path)
    graph, plan = band_plan(path, 2, first=1, members=3)
    _equals_unbanded(path, graph, plan, tmp_path, 7)


@needs_cc
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("height", [1, 3])
def test_float_block_bands_match_onnxruntime(stride: int, height: int, tmp_path: Path) -> None:
    path = save(_blocks(seed=height, stride=stride, hw=11).build(), tmp_path)
    graph, plan = band_plan(path, height, members=8)
    assert plan_problems(plan, path) == []
    compile_and_check(path, graph, plan, tmp_path / "c", runs=2)


@needs_cc
@pytest.mark.parametrize("height", [1, 2])
def test_int8_block_bands_equal_unbanded(height: int, tmp_path: Path) -> None:
    path = save(_blocks(qdq=True, seed=5).build(), tmp_path)
    graph, plan = band_plan(path, height, members=8)
    _equals_unbanded(path, graph, plan, tmp_path, height)


@needs_cc
@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=LAYER_CHAINS, hw=st.integers(9, 20),
    height=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_generated_int8_bands_equal_unbanded(layers: list[Layer], hw: int, height: int, seed: int) -> None:
    """Generated int8 chains: the banded plan gives the same bits as the unbanded plan of the same graph."""
    model = _chain(layers, hw=hw, qdq=True, seed=seed).build()
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp))
        graph, plan = band_plan(path, height)
        _equals_unbanded(path, graph, plan, Path(tmp), seed)


@needs_cc
@pytest.mark.slow
@pytest.mark.parametrize("name", ["te_mcunet_vww", "ic_resnet8_int8"])
def test_band_plans_match_tflite_micro(name: str, tmp_path: Path) -> None:
    """--io int8 with bands: the optimum runs layers in bands (ic_resnet8: a group over two residual blocks,
    windows read by two of its ops), is below the plan without bands, and its outputs are TFLite Micro's, bit
    for bit."""
    model = SHARED_MODELS / "onnx_int8" / f"{name}.onnx" if SHARED_MODELS else None
    if model is None or not model.exists():
        pytest.skip(f"needs the shared model {name}.onnx")
    graph, plan = solve(model, "cpsat", SolveOptions(timeout=60, io="int8", params=BANDS))
    _, plain = solve(model, "cpsat", SolveOptions(timeout=60, io="int8"))
    assert plan.arena_bytes < plain.arena_bytes
    banded = {s.op for s in plan.steps if s.slice is not None and s.slice.axis == ROW}
    first_conv = next(op for op in graph.ops if op.op_type == "Conv")
    assert first_conv.name in banded
    if name == "ic_resnet8_int8":
        assert any(b.window and len(graph.consumers[b.tensor]) == 2 for b in plan.buffers)
    from test_backend_int8 import _int8_reference

    (x,) = qemu_inputs(graph)
    (got,) = run_plan(graph, plan, tmp_path, [x])
    want = _int8_reference(model, x)
    assert np.array_equal(got.ravel(), want), f"{got.ravel()[:8]} != {want[:8]}"


@needs_cc
@pytest.mark.slow
def test_float_resnet_band_plan_matches_onnxruntime(tmp_path: Path) -> None:
    """ic_resnet8_float with bands: its optimum runs residual blocks in one band group (windows read by two
    ops), below the plan without bands; the C project's outputs match onnxruntime's."""
    model = SHARED_MODELS / "onnx" / "ic_resnet8_float.onnx" if SHARED_MODELS else None
    if model is None or not model.exists():
        pytest.skip("needs the shared model ic_resnet8_float.onnx")
    graph, plan = solve(model, "cpsat", SolveOptions(timeout=60, params=BANDS))
    _, plain = solve(model, "cpsat", SolveOptions(timeout=60))
    assert plan.arena_bytes < plain.arena_bytes
    assert any(b.window and len(graph.consumers[b.tensor]) == 2 for b in plan.buffers)
    compile_and_check(model, graph, plan, tmp_path / "c", runs=2)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(bool(missing_tools()), reason="needs the Arm toolchain and QEMU")
@pytest.mark.parametrize("name", ["te_mcunet_vww", "ic_resnet8_int8"])
def test_band_plan_on_cortex_m(name: str, tmp_path: Path) -> None:
    """The band plan (--io int8) on a Cortex-M4F under QEMU: TFLite Micro's output, and the static RAM is the
    arena plus the harness."""
    from test_backend_int8 import check_int8_on_cortex_m

    model = SHARED_MODELS / "onnx_int8" / f"{name}.onnx" if SHARED_MODELS else None
    if model is None or not model.exists():
        pytest.skip(f"needs the shared model {name}.onnx")
    graph, plan = solve(model, "cpsat", SolveOptions(timeout=60, io="int8", params=BANDS))
    check_int8_on_cortex_m(model, graph, plan, tmp_path, timeout=300)


# ---- kernels without their scratch (solver switch drop_scratch) ----------------------------------------


def test_drop_scratch_only_where_it_lowers_the_arena(tmp_path: Path) -> None:
    """An int8 conv over a large input whose scratch sits at the peak: with `drop_scratch` the optimum is the
    plan without any scratch (as low as `--scratch off`), and it drops only what it must."""
    b = GraphBuilder("drop_scratch", qdq=True, seed=5)
    x = b.conv(b.input((1, 16, 16, 16)), 16, kernel=3, act="relu")
    b.output(b.conv(b.conv(x, 8, kernel=3), 4, kernel=1))
    path = save(b.build(), tmp_path)
    switches = dict(split=False, inplace_pointwise=False)
    graph, dropped = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(drop_scratch=True, **switches)))
    _, planned = solve(path, "cpsat", SolveOptions(timeout=20, params=SolverParams(**switches)))
    _, none = solve(path, "cpsat", SolveOptions(timeout=20, scratch=False, params=SolverParams(**switches)))
    assert dropped.status == planned.status == none.status == "optimal"
    assert none.arena_bytes == dropped.arena_bytes < planned.arena_bytes
    with_scratch = {b.tensor for b in dropped.buffers if b.tensor.startswith("scratch:")}
    assert 0 < len(with_scratch) < len(graph.scratch)  # one conv keeps its scratch: it is not at the peak
    assert plan_problems(dropped, path) == []


def test_drop_scratch_refuses_the_instruction_objective(cli: Cli) -> None:
    model = Path(__file__).resolve().parents[1] / "models" / "kws_ref_model_float32.onnx"
    run = cli("solve", model, "--solver", "drop_scratch=true", "--solver", "objective=instructions")
    assert run.code == 2 and "drop_scratch" in run.err and len(run.err.strip().splitlines()) == 1
