"""The validator is sound: plans whose C would compute wrong results are rejected (each defect of the
../shared/repro reproductions, rebuilt here from small models), while every kind of plan pexcp emits stays
valid. `validate` and `compile --plan` agree on them."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from backend_helpers import Net
from onnx_builders import GraphBuilder, save
from conftest import REPO
from pexcp.ir import Graph
from pexcp.plan.plan import Buffer, Plan, Slice, Step
from pexcp.plan.validate import plan_problems
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.registry import METHODS

REPRO = next((p for p in (REPO.parent / "shared" / "repro", Path("/work/shared/repro")) if p.is_dir()), None)


def solved(path: Path, method: str = "reorder", **options) -> tuple[Graph, Plan]:
    return solve(path, method, SolveOptions(timeout=5, **options))


def hand_plan(path: Path, steps: list[tuple], buffers: list[tuple], rewrites: list[str] | None = None) -> Plan:
    """A plan written by hand: steps (op, kernel, nodes, slice, accumulate), buffers (tensor, bytes, offset,
    first, last, slice, alias_of)."""
    s = [Step(i, op, kernel, nodes, Slice(*sl) if sl else None, acc) for i, (op, kernel, nodes, sl, acc) in enumerate(steps)]
    b = [Buffer(i, t, "float32", n, off, first, last, Slice(*sl) if sl else None, alias)
         for i, (t, n, off, first, last, sl, alias) in enumerate(buffers)]
    arena = max(x.offset + x.bytes for x in b)
    return Plan(path.name, hashlib.sha256(path.read_bytes()).hexdigest(), "reorder", "heuristic", arena, 0, 0.0,
                s, b, rewrites=list(rewrites or []))


def buffer_of(plan: Plan, tensor: str) -> Buffer:
    return next(b for b in plan.buffers if b.tensor == tensor)


def take_over(plan: Plan, out: str, base: str) -> Plan:
    """The same plan, but `out` is declared to take over the bytes of `base` (alias at its offset)."""
    plan = copy.deepcopy(plan)
    o, b = buffer_of(plan, out), buffer_of(plan, base)
    o.alias_of, o.offset, o.alias_offset = b.id, b.offset, 0
    return plan


# ---- in place: only ops that compute element i from element i --------------------------------------------


@pytest.fixture(scope="module")
def convs(tmp_path_factory) -> Path:
    """x -> Conv 3x3 (conv0) -> Conv 3x3 (conv1), add2 = conv1 + conv0: the repro two_convs.onnx plus a
    residual Add (an elementwise op that may work in place)."""
    net = Net("two_convs")
    x = net.input(1, 4, 6, 6)
    c1 = net.op("Conv", [x, net.weight(4, 4, 3, 3), net.weight(4)], pads=[1, 1, 1, 1])
    c2 = net.op("Conv", [c1, net.weight(4, 4, 3, 3), net.weight(4)], pads=[1, 1, 1, 1])
    net.out(net.op("Add", [c2, c1]))
    return net.save(tmp_path_factory.mktemp("convs"))


def test_a_conv_may_not_write_over_its_own_input(convs: Path) -> None:
    _, plan = solved(convs, rewrites=("views", "inplace"))
    bad = take_over(plan, "conv1", "conv0")  # the repro's t40: a 3x3 conv declared to work in place
    found = plan_problems(bad, convs)
    assert any("aliases buffer" in p and "element by element" in p for p in found)
    assert any("writes 'conv1' over 'conv0' while it reads it" in p for p in found)


def test_an_elementwise_op_may_write_over_its_input(convs: Path) -> None:
    """The Add in place over either of its inputs: accepted (pexcp's `inplace` rewrite does this)."""
    _, plan = solved(convs, rewrites=())
    assert all(b.alias_of is None for b in plan.buffers)
    for base in ("conv1", "conv0"):
        assert plan_problems(take_over(plan, "add2", base), convs) == []


def test_in_place_output_while_its_input_is_still_read(tmp_path: Path) -> None:
    """Relu over x in place, but x is read again later (by the Add): the later read sees the Relu's bytes."""
    net = Net("reread")
    x = net.input(1, 2, 4, 4)
    r = net.op("Relu", [x])
    net.out(net.op("Add", [net.op("Conv", [r, net.weight(2, 2, 1, 1)]), x]))
    path = net.save(tmp_path)
    _, plan = solved(path, rewrites=())
    bad = take_over(plan, r, x)
    found = plan_problems(bad, path)
    assert any(f"reads {x!r}" in p and f"wrote {r!r} there" in p for p in found), found


# ---- views: only ops that move no data --------------------------------------------------------------------


def transpose_net(tmp_path: Path, perm: list[int], shape: tuple[int, ...]) -> Path:
    net = Net("transpose")
    c = net.op("Conv", [net.input(*shape), net.weight(shape[1], shape[1], 1, 1)])
    net.out(net.op("Relu", [net.op("Transpose", [c], perm=perm)]))
    return net.save(tmp_path)


def test_a_transpose_that_moves_data_is_not_a_view(tmp_path: Path) -> None:
    """The repro's t41: conv -> Transpose(0,2,3,1) -> Relu with the Transpose's output in its input's bytes."""
    path = transpose_net(tmp_path, [0, 2, 3, 1], (1, 8, 4, 4))
    _, plan = solved(path, rewrites=())
    bad = take_over(plan, "transpose1", "conv0")
    found = plan_problems(bad, path)
    assert any("buffer" in p and "neither a view" in p for p in found)
    assert any("writes 'transpose1' over 'conv0'" in p for p in found)


def test_a_transpose_of_size_one_axes_is_a_view(tmp_path: Path) -> None:
    path = transpose_net(tmp_path, [0, 2, 1, 3], (1, 8, 1, 4))  # moves only the size-1 axis
    _, plan = solved(path, rewrites=("layout", "views"))
    assert buffer_of(plan, "transpose1").alias_of == buffer_of(plan, "conv0").id
    assert plan_problems(plan, path) == []


def test_a_stored_permuted_input_read_by_a_conv_is_refused(tmp_path: Path) -> None:
    net = Net("layout")
    x = net.input(1, 4, 4, 3)
    t = net.op("Transpose", [x], perm=[0, 3, 1, 2])
    net.out(net.op("Conv", [t, net.weight(2, 3, 1, 1)]))
    path = net.save(tmp_path)
    _, plan = solved(path)  # the layout rewrite folds the Transpose into the input
    assert plan.input_layouts == {"in0": [0, 3, 1, 2]} and plan_problems(plan, path) == []
    wrong = copy.deepcopy(plan)
    wrong.input_layouts = {"in0": [0, 2, 3, 1]}
    assert any("is stored transposed (input_layouts), but node 'transpose0'" in p for p in plan_problems(wrong, path))


# ---- channel-wise: only where output channel c reads input channel c ---------------------------------------


def test_depthwise_with_a_channel_multiplier_is_not_channel_wise(tmp_path: Path) -> None:
    """The repro's dw_multiplier.onnx: a (1x1 conv 2->2), dw (group 2, 2->4: channel c reads a's channel
    c // 2). The plan computes a in two slices, each kept only for the dw channels a channel-wise view
    would read it for, and the last dw slice from a whole `a` buffer that nothing wrote `a` into."""
    net = Net("dw_multiplier")
    a = net.op("Conv", [net.input(1, 2, 4, 4), net.weight(2, 2, 1, 1)])
    dw = net.op("Conv", [a, net.weight(4, 1, 3, 3)], group=2, pads=[1, 1, 1, 1])
    net.out(dw)
    path = net.save(tmp_path)
    ch = 4 * 4 * 4  # bytes per channel
    steps = [("conv0", "Conv", ["conv0"], (0, 1), False), ("conv1", "Conv", ["conv1"], (0, 1), False),
             ("conv0", "Conv", ["conv0"], (1, 2), False), ("conv1", "Conv", ["conv1"], (1, 2), False),
             ("conv1", "Conv", ["conv1"], (2, 4), False)]
    buffers = [("in0", 2 * ch, 0, 0, 2, None, None), ("conv0", ch, 2 * ch, 0, 1, (0, 1), None),
               ("conv0", ch, 2 * ch, 2, 3, (1, 2), None), ("conv0", 2 * ch, 0, 4, 4, None, None),
               ("conv1", 4 * ch, 3 * ch, 1, 4, None, None)]
    found = plan_problems(hand_plan(path, steps, buffers), path)
    assert any(p.startswith("step 1 reads 'conv0'") for p in found), found
    assert any("step 4 reads 'conv0' from buffer 3" in p and "the caller wrote 'in0' there" in p for p in found)


def pad_net(tmp_path: Path, pads: list[int]) -> Path:
    net = Net("pad")
    c = net.op("Conv", [net.input(1, 4, 3, 3), net.weight(4, 4, 1, 1)])
    net.out(net.op("Pad", [c, net.const(np.array(pads, np.int64))]))
    return net.save(tmp_path)


@pytest.mark.parametrize("pads, channel_wise", [([0, 0, 1, 1, 0, 0, 1, 1], True), ([0, 1, 0, 0, 0, 1, 0, 0], False)])
def test_a_pad_on_the_channel_axis_is_not_channel_wise(tmp_path: Path, pads: list[int], channel_wise: bool) -> None:
    """conv in two slices, each followed by the Pad's matching slice reading only that conv slice."""
    path = pad_net(tmp_path, pads)
    m = onnx.load(path)
    out_shape = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    per_in, per_out = 9 * 4, out_shape[2] * out_shape[3] * 4
    c_out = out_shape[1]
    steps = [("conv0", "Conv", ["conv0"], (0, 2), False), ("pad1", "Pad", ["pad1"], (0, 2), False),
             ("conv0", "Conv", ["conv0"], (2, 4), False), ("pad1", "Pad", ["pad1"], (2, c_out), False)]
    buffers = [("in0", 4 * per_in, 0, 0, 2, None, None), ("conv0", 2 * per_in, 4 * per_in, 0, 1, (0, 2), None),
               ("conv0", 2 * per_in, 4 * per_in, 2, 3, (2, 4), None),
               ("pad1", c_out * per_out, 6 * per_in, 1, 3, None, None)]
    found = plan_problems(hand_plan(path, steps, buffers), path)
    if channel_wise:
        assert found == []
    else:
        assert any("reads 'conv0', which is not resident" in p for p in found), found


def test_an_input_broadcast_along_channels_is_read_whole(tmp_path: Path) -> None:
    """Add(x [1,4,3,3], g [1,1,3,3]): every output channel reads all of g, whatever slice it computes."""
    net = Net("broadcast")
    x = net.input(1, 4, 3, 3)
    c = net.op("Conv", [x, net.weight(4, 4, 1, 1)])
    g = net.op("Conv", [x, net.weight(1, 4, 1, 1)])
    net.out(net.op("Add", [c, g]))
    path = net.save(tmp_path)
    per = 9 * 4
    steps = [("conv0", "Conv", ["conv0"], None, False), ("conv1", "Conv", ["conv1"], None, False),
             ("add2", "Add", ["add2"], (0, 2), False), ("add2", "Add", ["add2"], (2, 4), False)]
    whole = [("in0", 4 * per, 0, 0, 1, None, None), ("conv0", 4 * per, 4 * per, 0, 3, None, None),
             ("conv1", per, 8 * per, 1, 3, None, None), ("add2", 4 * per, 9 * per, 2, 3, None, None)]
    assert plan_problems(hand_plan(path, steps, whole), path) == []
    short = list(whole)
    short[2] = ("conv1", per, 8 * per, 1, 2, None, None)  # g dropped after the first slice
    assert any("step 3 reads 'conv1', which is not resident" in p for p in plan_problems(hand_plan(path, steps, short), path))


def test_only_sums_over_input_channels_accumulate(convs: Path) -> None:
    _, plan = solved(convs, rewrites=())
    bad = copy.deepcopy(plan)
    sig = next(s for s in bad.steps if s.kernel == "Add")
    sig.slice, sig.accumulate = Slice(0, 4), True
    assert any("cannot sum partial results" in p for p in plan_problems(bad, convs))


# ---- where values are: one holder at a time, inputs from step 0 --------------------------------------------


def test_a_value_is_lost_between_two_buffers(convs: Path) -> None:
    """conv0's value is written into one buffer and read from another that took over later: never written."""
    _, plan = solved(convs, rewrites=())
    bad = copy.deepcopy(plan)
    first = buffer_of(bad, "conv0")
    reader = next(s.index for s in bad.steps if s.op == "conv1")
    second = Buffer(len(bad.buffers), "conv0", "float32", first.bytes, bad.arena_bytes, reader, reader)
    first.last_step = reader - 1
    bad.buffers.append(second)
    bad.arena_bytes += second.bytes
    assert any("reads 'conv0' from buffer" in p and "never written" in p for p in plan_problems(bad, convs))


def test_two_buffers_holding_a_value_at_once(convs: Path) -> None:
    _, plan = solved(convs, rewrites=())
    bad = copy.deepcopy(plan)
    first = buffer_of(bad, "conv0")
    bad.buffers.append(Buffer(len(bad.buffers), "conv0", "float32", first.bytes, bad.arena_bytes, first.first_step,
                              first.last_step))
    bad.arena_bytes += first.bytes
    assert any("both hold channels of 'conv0'" in p for p in plan_problems(bad, convs))


@pytest.fixture(scope="module")
def late_input(tmp_path_factory) -> tuple[Path, Plan]:
    """The repro's late_input.onnx + t46: the second input's buffer starts at step 1, over the first's."""
    net = Net("late_input")
    c = net.op("Conv", [net.input(1, 8, 4, 4), net.weight(8, 8, 3, 3), net.weight(8)], pads=[1, 1, 1, 1])
    net.out(net.op("Add", [c, net.input(1, 8, 4, 4)]))
    path = net.save(tmp_path_factory.mktemp("late"))
    n = 8 * 16 * 4
    steps = [("conv0", "Conv", ["conv0"], None, False), ("add1", "Add", ["add1"], None, False)]
    buffers = [("in0", n, 2 * n, 0, 0, None, None), ("in1", n, 2 * n, 1, 1, None, None),
               ("conv0", n, n, 0, 1, None, None), ("add1", n, n, 1, 1, None, 2)]
    return path, hand_plan(path, steps, buffers, rewrites=["views", "inplace"])


def test_a_model_input_must_be_in_place_before_the_first_step(late_input) -> None:
    path, plan = late_input
    found = plan_problems(plan, path)
    assert "model input 'in1' has no whole buffer live at step 0" in found
    assert any("step 1 reads 'in1'" in p and "the caller wrote 'in0' there" in p for p in found)


def test_validate_and_compile_agree_on_a_users_bad_plan(late_input, cli, tmp_path: Path) -> None:
    path, plan = late_input
    plan.save(tmp_path / "plan.json")
    run = cli("validate", path, tmp_path / "plan.json")
    assert run.code == 1 and "has no whole buffer live at step 0" in run.out
    run = cli("compile", path, "--plan", tmp_path / "plan.json", "-o", tmp_path / "c")
    assert run.code == 2 and "BUG" not in run.err and "is not a valid plan" in run.err
    assert len(run.err.strip().splitlines()) == 1


# ---- subgraphs: values read inside If branches ------------------------------------------------------------


@pytest.fixture(scope="module")
def if_model(tmp_path_factory) -> Path:
    """The repro's if_implicit.onnx: `a` is read only inside the If's branches."""
    vi = helper.make_tensor_value_info
    then = helper.make_graph([helper.make_node("Neg", ["a"], ["t"])], "then", [], [vi("t", TensorProto.FLOAT, [1, 64])])
    other = helper.make_graph([helper.make_node("Relu", ["a"], ["e"])], "else", [], [vi("e", TensorProto.FLOAT, [1, 64])])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r0"), helper.make_node("Exp", ["x"], ["b"], name="exp"),
             helper.make_node("If", ["c"], ["i"], name="if", then_branch=then, else_branch=other),
             helper.make_node("Add", ["i", "b"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "if_implicit", [vi("x", TensorProto.FLOAT, [1, 64]), vi("c", TensorProto.BOOL, [])],
                              [vi("y", TensorProto.FLOAT, [1, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("if") / "if_implicit.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("method", list(METHODS))
def test_values_read_inside_a_subgraph_stay_live_until_it_runs(if_model: Path, method: str) -> None:
    graph, plan = solved(if_model, method)
    assert "a" in graph.activation_inputs(graph.op("if"))
    when = next(s.index for s in plan.steps if s.op == "if")
    assert buffer_of(plan, "a").last_step >= when
    early = copy.deepcopy(plan)
    buffer_of(early, "a").last_step = min(b.first_step for b in early.buffers if b.tensor == "a")
    if buffer_of(early, "a").last_step < when:
        assert any(f"step {when} reads 'a', which is not resident" in p for p in plan_problems(early, if_model))


# ---- the repro files themselves -------------------------------------------------------------------------


@pytest.mark.skipif(REPRO is None, reason="../shared/repro not found")
@pytest.mark.parametrize("model, plan, expected", [
    ("two_convs.onnx", "t40_conv_inplace.json", "element by element"),
    ("conv_transpose.onnx", "t41_transpose_view.json", "neither a view"),
    ("late_input.onnx", "t46_late_input_overlap.json", "no whole buffer live at step 0"),
])
def test_the_repro_plans_are_rejected(model: str, plan: str, expected: str) -> None:
    found = plan_problems(Plan.load(REPRO / plan), REPRO / model)
    assert any(expected in p for p in found), found


# ---- steps name their kernel; Concat parts in place only when no byte changes ------------------------------


def test_a_step_names_one_of_its_nodes_and_its_type(convs: Path) -> None:
    _, plan = solved(convs, rewrites=())
    bad = copy.deepcopy(plan)
    bad.steps[0].kernel = "Relu"
    bad.steps[1].op = "add2"
    found = plan_problems(bad, convs)
    assert "step 0: kernel 'Relu', but node 'conv0' is a Conv" in found
    assert "step 1: op 'add2' is not one of the nodes it runs" in found


def test_a_requantizing_concat_keeps_its_inputs_out_of_its_output(tmp_path: Path) -> None:
    """int8 QDQ Concat whose output scale differs from its inputs': its bytes are not the inputs' bytes."""
    b = GraphBuilder("qconcat", qdq=True)
    x = b.input((1, 2, 4, 4))
    cat = b.concat([b.conv(x, 2), b.conv(x, 2, kernel=1)])
    b.output(b.conv(cat, 2, kernel=1))
    model = b.build()
    quant = next(n for n in model.graph.node if n.op_type == "QuantizeLinear" and "concat" in n.input[0])
    scale = next(i for i in model.graph.initializer if i.name == quant.input[1])
    scale.CopyFrom(numpy_helper.from_array(np.array(0.2, np.float32), scale.name))
    path = save(model, tmp_path)
    graph, plan = solved(path)
    part = graph.op(next(s.op for s in plan.steps if s.kernel == "Concat")).inputs[0]
    whole = buffer_of(plan, quant.output[0])
    assert buffer_of(plan, part).alias_of is None  # pexcp does not gather it
    bad = copy.deepcopy(plan)
    p, w = buffer_of(bad, part), buffer_of(bad, whole.tensor)
    p.alias_of, p.offset, p.alias_offset = w.id, w.offset, 0
    w.first_step = min(w.first_step, p.first_step)
    assert any("a Concat output that interleaves or converts its inputs" in x for x in plan_problems(bad, path))
