"""Rewrite `concat`: a Concat's inputs written straight into their places in its output. When it applies,
what the memory model saves, that every planner's plan stays valid, what the validator rejects, and that
the C code computes the same outputs as onnxruntime."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from backend_helpers import compile_and_check, needs_cc
from onnx_builders import GraphBuilder, save
from plan_helpers import assert_sound, solve_quick
from pexcp.analysis.liveness import Schedule, expand, lifetimes, live_bytes
from pexcp.analysis.partial import candidate_groups
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph, Op
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Buffer, Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.cpsat.decompose import find_cuts

NO_CONCAT = tuple(r for r in ALL_REWRITES if r != "concat")


def two_branches(qdq: bool = False, axis: int = 1, read_later: bool = False) -> GraphBuilder:
    """x -> conv a, conv c -> Concat(a, c, x) -> conv; with `read_later`, an Add of a and the last conv."""
    b = GraphBuilder("two_branches", qdq=qdq, seed=1)
    x = b.input((1, 3, 6, 6))
    a = b.conv(x, 4, kernel=3, act="relu")
    c = b.conv(x, 5, kernel=1)
    y = b.concat([a, c, x], axis=axis)
    out = b.conv(y, 4, kernel=1)
    b.output(b.add(out, a) if read_later else out)
    return b


def concat_op(graph: Graph) -> Op:
    return next(op for op in graph.ops if op.op_type == "Concat")


def load(b: GraphBuilder, tmp_path: Path, rewrites=ALL_REWRITES) -> tuple[Path, Graph]:
    path = save(b.build(), tmp_path)
    return path, load_graph(path, rewrites=rewrites)


# ---- when it applies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
@pytest.mark.parametrize("axis", [1, -3])
def test_computed_inputs_are_gathered_at_their_byte_offsets(tmp_path: Path, qdq: bool, axis: int) -> None:
    _, graph = load(two_branches(qdq=qdq, axis=axis), tmp_path)
    op = concat_op(graph)
    a, c, x = op.inputs
    assert op.gathered == [a, c]  # the model input is copied by the Concat
    out = op.outputs[0]
    assert graph.carved == {a: (out, 0), c: (out, graph.tensors[a].nbytes)}
    assert graph.storage_root(a) == graph.storage_root(c) == out and graph.storage_root(x) == x
    assert graph.parts(out) == [a, c]


def test_switched_off(tmp_path: Path) -> None:
    _, graph = load(two_branches(), tmp_path, NO_CONCAT)
    assert concat_op(graph).gathered == [] and graph.carved == {}


def test_inputs_that_are_not_contiguous_in_the_output(tmp_path: Path) -> None:
    """Along the height axis each input is 3 runs (one per channel) of the output: no place to write it."""
    b = GraphBuilder("height", seed=2)
    x = b.input((1, 3, 4, 4))
    b.output(b.conv(b.concat([b.conv(x, 3), b.conv(x, 3, kernel=1)], axis=2), 2, kernel=1))
    _, graph = load(b, tmp_path)
    assert concat_op(graph).gathered == []


def test_batch_axis_is_contiguous_too(tmp_path: Path) -> None:
    b = GraphBuilder("batch", seed=2)
    x = b.input((1, 3, 4, 4))
    b.output(b.conv(b.concat([b.conv(x, 3), b.conv(x, 3, kernel=1)], axis=0), 2, kernel=1))
    _, graph = load(b, tmp_path)
    assert len(concat_op(graph).gathered) == 2


def test_requantizing_concat_is_not_gathered(tmp_path: Path) -> None:
    """An int8 Concat whose output scale differs from its inputs' converts every byte: it must run."""
    b = GraphBuilder("requant", qdq=True, seed=3)
    x = b.input((1, 2, 4, 4))
    parts = [b.conv(x, 3), b.conv(x, 2)]
    y = b.node("Concat", [b.float_in(p) for p in parts], axis=1)
    q = b.node("QuantizeLinear", [y, *b._scale(0.1)], kind="quant")
    b.output(b.conv(b.declare(q, (1, 5, 4, 4)), 2))
    _, graph = load(b, tmp_path)
    assert concat_op(graph).gathered == []


def test_views_in_place_outputs_and_repeats_are_not_gathered(tmp_path: Path) -> None:
    b = GraphBuilder("refused", qdq=True, seed=4)  # int8: the Relu is an op of its own, in place
    x = b.input((1, 2, 4, 4))
    v = b.identity(b.conv(x, 2))  # a view
    r = b.relu(b.conv(x, 2, kernel=1))  # in place over its conv's output
    b.output(b.concat([v, r]), b.concat([b.conv(x, 2), b.conv(x, 3)], axis=1))
    twice = b.conv(x, 2, kernel=1)
    b.output(b.concat([twice, twice]))
    _, graph = load(b, tmp_path)
    first, second, third = (op for op in graph.ops if op.op_type == "Concat")
    assert first.gathered == [] and len(second.gathered) == 2 and third.gathered == []


@needs_cc
@pytest.mark.parametrize("method", ["tflm", "reorder", "pex-greedy", "cpsat"])
def test_tensor_concatenated_with_a_view_of_itself(tmp_path: Path, method: str) -> None:
    """Concat(view of c, c): carving c into the output would put the view's bytes inside the output the
    Concat writes while it reads them (found by the random-DAG property test): neither is gathered."""
    b = GraphBuilder("self_view", seed=6)
    x = b.input((1, 2, 4, 4))
    c = b.conv(x, 3, kernel=1)
    b.output(b.concat([b.identity(c), c]), b.conv(c, 2, kernel=1))
    path, graph = load(b, tmp_path)
    assert concat_op(graph).gathered == []
    _, plan = solve_quick(path, method)
    assert_sound(path, plan)
    compile_and_check(path, graph, plan, tmp_path / "c")


def test_nested_concat_gathers_the_inner_one_only(tmp_path: Path) -> None:
    b = GraphBuilder("nested", seed=5)
    x = b.input((1, 2, 4, 4))
    inner = b.concat([b.conv(x, 2), b.conv(x, 3)])
    outer = b.concat([inner, b.conv(x, 4)])
    b.output(b.conv(outer, 2, kernel=1))
    _, graph = load(b, tmp_path)
    inner_op, outer_op = (op for op in graph.ops if op.op_type == "Concat")
    assert len(inner_op.gathered) == 2
    assert outer_op.gathered == [outer_op.inputs[1]]  # the inner output is copied, never carved twice


def test_output_overwritten_in_place_while_an_input_is_read_later(tmp_path: Path) -> None:
    """A Relu over the concat output would overwrite `a`, which the Add still reads: nothing is gathered;
    without the later reader, the inputs are gathered and the Relu still works in place."""
    for read_later in (True, False):
        b = GraphBuilder("overwritten", qdq=True, seed=6)  # int8: the Relu is an op of its own, in place
        x = b.input((1, 2, 4, 4))
        a, c = b.conv(x, 2), b.conv(x, 2, kernel=1)
        y = b.relu(b.concat([a, c]))
        b.output(b.add(b.conv(y, 2, kernel=1), a) if read_later else b.conv(y, 2, kernel=1))
        _, graph = load(b, tmp_path)
        relu = next(op for op in graph.ops if op.op_type == "Relu")
        assert relu.inplace == concat_op(graph).outputs[0]
        assert concat_op(graph).gathered == ([] if read_later else [a, c])


def test_split_group_writing_a_gathered_input_neither_accumulates_nor_overwrites(tmp_path: Path) -> None:
    b = GraphBuilder("groups", qdq=True, seed=7)
    x = b.input((1, 4, 6, 6))
    e = b.conv(x, 8, kernel=1)
    d = b.depthwise(e)
    p = b.conv(d, 4, kernel=1)  # int8: a tail accumulates in int32
    b.output(b.conv(b.concat([d, p]), 2, kernel=1))
    _, graph = load(b, tmp_path)
    assert concat_op(graph).gathered == [d, p]
    groups = candidate_groups(graph)
    assert not any(g.output == p for g in groups)  # its accumulator cannot sit inside the concat output
    assert any(g.output == d for g in groups) and all(g.overwrites is None for g in groups if g.output == d)


def test_split_group_does_not_overwrite_a_gathered_input(tmp_path: Path) -> None:
    """conv(concat(a, b)) -> depthwise -> Add(., a): the Add could write over its dead input a, but a's bytes
    are part of the concat output, which the group's rounds still read."""
    b = GraphBuilder("overwrite", seed=9)
    x = b.input((1, 3, 6, 6))
    a = b.conv(x, 4, kernel=1)
    h = b.conv(b.concat([a, b.conv(x, 4)]), 4, kernel=1)
    b.output(b.add(b.depthwise(h), a))
    path, graph = load(b, tmp_path)
    assert a in concat_op(graph).gathered
    chain = [g for g in candidate_groups(graph) if g.members[-1].op_type == "Add" and len(g.members) == 3]
    assert chain and all(g.overwrites is None for g in chain)
    off = load_graph(path, rewrites=NO_CONCAT)
    assert any(g.overwrites == a for g in candidate_groups(off) if g.members[-1].op_type == "Add")


# ---- memory model --------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_later", [False, True])
def test_load_drops_by_the_gathered_inputs_at_the_concat(tmp_path: Path, read_later: bool) -> None:
    path, on = load(two_branches(read_later=read_later), tmp_path)
    off = load_graph(path, rewrites=NO_CONCAT)
    step = [op.op_type for op in on.ops].index("Concat")
    live_on = live_bytes(lifetimes(on, on.ops), len(on.ops))
    live_off = live_bytes(lifetimes(off, off.ops), len(off.ops))
    a, c, _ = concat_op(on).inputs
    assert live_off[step] - live_on[step] == on.tensors[a].nbytes + on.tensors[c].nbytes
    lives = {life.tensor: life for life in lifetimes(on, on.ops)}
    out = lives[concat_op(on).outputs[0]]
    assert out.first == 0 and lives[a].bytes == lives[c].bytes == 0  # allocated with the first input written
    assert (lives[a].rel, lives[c].rel) == (0, on.tensors[a].nbytes)
    assert out.last == (len(on.ops) - 1 if read_later else step + 1)  # as long as anyone reads an input


def split_into_concat(tmp_path: Path, width: int) -> tuple[Path, Graph, Plan]:
    """Float: conv -> depthwise, run in slices of `width` channels in the file's order, feeding a Concat."""
    b = GraphBuilder("chain", seed=8)
    x = b.input((1, 3, 6, 6))
    a = b.conv(x, 4, kernel=1)
    d = b.depthwise(b.conv(x, 6, kernel=1, act="relu"), act="relu6")
    b.output(b.conv(b.concat([a, d]), 3, kernel=1))
    path, graph = load(b, tmp_path)
    groups = {g.id: g for g in candidate_groups(graph)}
    group = next(g for g in groups.values() if g.output == d and g.head)
    expanded = expand(graph, Schedule([op.name for op in graph.ops], {group.id: width}), groups)
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="cpsat", status="heuristic", lower_bound=0, seconds=0.0)
    assert plan_problems(plan, path) == [] and any(s.slice is not None for s in plan.steps)
    return path, graph, plan


def test_split_group_writes_its_slices_into_the_concat_output(tmp_path: Path) -> None:
    _, graph, plan = split_into_concat(tmp_path, 2)
    (d,) = [t for t in concat_op(graph).gathered if graph.carved[t][1] > 0]
    out = next(b for b in plan.buffers if b.tensor == d)
    assert out.alias_of is not None and out.alias_offset == graph.carved[d][1]


# ---- planners ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tflm", "reorder", "pex-greedy", "cpsat"])
@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
def test_every_planner_gives_valid_plans_with_and_without(tmp_path: Path, method: str, qdq: bool) -> None:
    path = save(two_branches(qdq=qdq, read_later=True).build(), tmp_path)
    arenas = []
    for rewrites in ([None] if method == "tflm" else [ALL_REWRITES, NO_CONCAT]):
        _, plan = solve_quick(path, method, rewrites=rewrites)
        assert_sound(path, plan)
        arenas.append(plan.arena_bytes)
        gathered = [b for b in plan.buffers if b.alias_offset > 0]
        assert bool(gathered) == (rewrites == ALL_REWRITES)
    assert arenas == sorted(arenas)  # gathering never costs memory here


@pytest.mark.parametrize("read_later", [False, True])
def test_concat_output_is_a_cut_only_when_its_inputs_are_not_read_after_it(tmp_path: Path, read_later: bool) -> None:
    _, graph = load(two_branches(read_later=read_later), tmp_path)
    concat = [op.op_type for op in graph.ops].index("Concat")
    assert (concat in find_cuts(graph, {})) == (not read_later)


# ---- validator -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gathered_plan(tmp_path_factory) -> tuple[Path, Plan]:
    path = save(two_branches(read_later=True).build(), tmp_path_factory.mktemp("concat"))
    _, plan = solve_quick(path, "reorder")
    assert plan_problems(plan, path) == []
    return path, plan


def parts_of(plan: Plan) -> tuple[Buffer, Buffer, Buffer]:
    """The first and second gathered inputs and the concat output they alias."""
    second = next(b for b in plan.buffers if b.alias_offset > 0)
    base = next(b for b in plan.buffers if b.id == second.alias_of)
    first = next(b for b in plan.buffers if b.alias_of == base.id and b.alias_offset == 0)
    return first, second, base


def test_gathered_input_sticking_out_of_the_concat_output(gathered_plan) -> None:
    path, plan = gathered_plan
    plan = copy.deepcopy(plan)
    _, second, base = parts_of(plan)
    second.alias_offset = base.bytes - 4
    second.offset = base.offset + second.alias_offset
    problems = "\n".join(plan_problems(plan, path))
    assert f"buffer {second.id} ({second.tensor}) lies outside the bytes of buffer {base.id}" in problems
    assert f"buffer {second.id} ({second.tensor}) starts {second.alias_offset} bytes into" in problems


def test_gathered_inputs_placed_overlapping(gathered_plan) -> None:
    path, plan = gathered_plan
    plan = copy.deepcopy(plan)
    first, second, _ = parts_of(plan)
    want = second.alias_offset
    second.alias_offset, second.offset = 4, first.offset + 4  # inside its base, but over the first input
    assert any(f"buffer {second.id} ({second.tensor}) starts 4 bytes into" in p and f"belongs {want} bytes in" in p
               for p in plan_problems(plan, path))


def test_alias_offset_must_match_the_offsets(gathered_plan) -> None:
    path, plan = gathered_plan
    plan = copy.deepcopy(plan)
    _, second, _ = parts_of(plan)
    second.offset += 4
    assert any(f"buffer {second.id} ({second.tensor}) is not at its base's offset + alias_offset" in p
               for p in plan_problems(plan, path))


def test_plans_without_alias_offset_still_load(gathered_plan) -> None:
    _, plan = gathered_plan
    data = plan.to_dict()
    for b in data["buffers"]:
        del b["alias_offset"]
    assert all(b.alias_offset == 0 for b in Plan.from_dict(data).buffers)


# ---- C backend -----------------------------------------------------------------------------------------


@needs_cc
@pytest.mark.parametrize("method", ["reorder", "cpsat"])
def test_gathered_concat_in_c_matches_onnxruntime(tmp_path: Path, method: str) -> None:
    path, graph = load(two_branches(read_later=True), tmp_path)
    _, plan = solve_quick(path, method)
    assert any(b.alias_offset > 0 for b in plan.buffers)
    compile_and_check(path, graph, plan, tmp_path / "c")
    text = (tmp_path / "c" / "model.c").read_text()
    assert text.count("pexcp_concat(") == 1  # only the model input is copied


@needs_cc
def test_split_group_into_a_concat_in_c_matches_onnxruntime(tmp_path: Path) -> None:
    path, graph, plan = split_into_concat(tmp_path, 4)
    compile_and_check(path, graph, plan, tmp_path / "c")
    assert "pexcp_concat(" not in (tmp_path / "c" / "model.c").read_text()
