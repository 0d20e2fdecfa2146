"""Cut-point decomposition: where the cuts are, and that solving the segments separately loses nothing."""

from __future__ import annotations


import pytest

from onnx_builders import GraphBuilder, chain_model, mbconv_chain, save
from pexcp.analysis.partial import candidate_groups
from pexcp.errors import BudgetError
from pexcp.importer import load_graph
from pexcp.layout.pinned import best_of_items
from pexcp.layout.problem import Block, layout_problems
from pexcp.plan.validate import plan_problems
from pexcp.solvers.cpsat.decompose import find_cuts, pinnable_cuts, segments
from pexcp.solvers.cpsat.budget import Clock
from pexcp.solvers.cpsat.context import Context
from pexcp.solvers.cpsat.part import parts as split_parts
from pexcp.solvers.cpsat.solve import plan_cpsat, solve_parts
from pexcp.solvers.params import SolverParams
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions


def _groups(graph):
    return {g.id: g for g in candidate_groups(graph)}


@pytest.fixture(scope="module")
def chain_path(tmp_path_factory):
    return save(mbconv_chain(n_blocks=4, channels=4, expand=6, hw=8, qdq=True), tmp_path_factory.mktemp("d"), "mb4")


@pytest.fixture()
def load_graph_from(tmp_path):
    return lambda model: load_graph(save(model, tmp_path, model.graph.name))


def test_segments_keep_the_models_opset_rewrites_and_input_layouts(chain_path):
    graph = load_graph(chain_path)
    graph.input_layouts = {graph.inputs[0]: (0, 2, 3, 1)}
    pieces = segments(graph, _groups(graph))
    assert len(pieces) > 1
    for piece in pieces:
        assert piece.graph.opset == graph.opset and piece.graph.rewrites == graph.rewrites
    assert pieces[0].graph.input_layouts == graph.input_layouts and pieces[1].graph.input_layouts == {}


def test_mbconv_chain_cuts_at_the_stem_and_every_block_output(chain_path):
    graph = load_graph(chain_path)
    cuts = find_cuts(graph, _groups(graph))
    adds = [i for i, op in enumerate(graph.ops) if op.op_type == "Add"]
    stem = next(i for i, op in enumerate(graph.ops) if op.op_type == "Conv")
    assert cuts == [stem] + adds[:-1]  # the last block's output is the model output: nothing follows it


def test_cuts_live_together_are_dropped_so_segments_can_pin_both_ends_at_zero(chain_path):
    graph = load_graph(chain_path)
    groups = _groups(graph)
    cuts = find_cuts(graph, groups)
    kept = pinnable_cuts(graph, groups, cuts)
    # a residual Add reads its block's input: consecutive block outputs are live together, every other is kept
    assert kept == cuts[::2]
    parts = segments(graph, groups)
    assert [op for s in parts for op in s.graph.ops] == graph.ops
    assert parts[0].graph.inputs == graph.inputs and parts[-1].graph.outputs == graph.outputs
    for before, after in zip(parts, parts[1:]):
        assert before.graph.outputs == after.graph.inputs and len(after.graph.inputs) == 1
        assert before.pins[before.graph.outputs[0]] == 0 == after.pins[after.graph.inputs[0]]
    assert sorted(gid for s in parts for gid in s.groups) == sorted(groups)


def test_no_cut_where_branches_run_side_by_side(load_graph_from):
    b = GraphBuilder("branches")
    x = b.input((1, 4, 8, 8))
    left = b.conv(b.conv(x, 4, act="relu"), 4)
    right = b.depthwise(b.conv(x, 4, kernel=1), act="relu")
    b.output(b.add(left, right))
    graph = load_graph_from(b.build())
    assert find_cuts(graph, _groups(graph)) == []
    assert len(segments(graph, _groups(graph))) == 1


def test_a_tensor_inside_a_candidate_group_is_no_cut(load_graph_from):
    graph = load_graph_from(chain_model(channels=(4, 8, 4), hw=8))
    assert find_cuts(graph, _groups(graph)) == []  # each conv output is inner to a conv->conv group
    assert len(find_cuts(graph, {})) == 2  # without splitting, every conv output but the last is a cut


@pytest.mark.parametrize("qdq", [True, False])
def test_decomposed_plan_validates_and_matches_the_whole_model_optimum(tmp_path, qdq):
    path = save(mbconv_chain(n_blocks=3, channels=4, expand=6, hw=8, qdq=qdq), tmp_path, f"mb3_{qdq}")
    parts = plan_cpsat(load_graph(path), SolveOptions(timeout=30))
    whole = plan_cpsat(load_graph(path), SolveOptions(timeout=30, params=SolverParams(decompose=False)))
    assert parts.extra["segments"] > 1 and whole.extra["segments"] == 1
    assert plan_problems(parts, path) == []
    assert whole.status == "optimal" and parts.status == "optimal"
    assert parts.arena_bytes == whole.arena_bytes == parts.lower_bound_bytes


@pytest.mark.parametrize("shortcut", [True, False])  # greedy layouts only, or the joint model on every segment
def test_segment_plans_keep_cut_tensors_at_offset_zero(chain_path, shortcut):
    graph = load_graph(chain_path)
    params = SolverParams(layout_shortcut=shortcut)
    parts = split_parts(graph, _groups(graph), params)
    solve_parts(Context(SolveOptions(timeout=20, params=params), Clock.start(20, True)), parts, 0.0)
    assert len(parts) == 3
    for part in parts:
        assert part.pins and (shortcut or part.joint)
        expanded, offsets = part.best.expanded, part.best.offsets
        assert {t: offsets[expanded.item_of(t)] for t in part.pins} == part.pins == dict.fromkeys(part.pins, 0)
        placed = [b.placed(offsets[expanded.item_of(b.id)]) for b in expanded.blocks]
        assert layout_problems(placed) == []


def test_greedy_placement_keeps_fixed_items_where_they_are_told():
    items = [[Block("big", 0, 4, 64)], [Block("pinned", 2, 6, 16)], [Block("late", 5, 8, 32)]]
    assert {b.id: b.offset for b in best_of_items(items)}["big"] == 0  # unpinned, the largest block goes lowest
    placed = {b.id: b for b in best_of_items(items, fixed={"pinned": 0})}
    assert placed["pinned"].offset == 0 and placed["big"].offset == 16
    assert layout_problems(list(placed.values())) == []


def test_budget_below_a_segment_bound_names_that_segments_bottleneck(chain_path):
    with pytest.raises(BudgetError) as err:
        solve(chain_path, "cpsat", SolveOptions(timeout=30, budget=64))
    message = str(err.value)
    assert "B (proven); bottleneck: step 0 of segment 1/3 (Conv" in message  # the stem needs its input and output


def test_budget_just_below_the_optimum_is_proven_impossible(chain_path):
    _, best = solve(chain_path, "cpsat", SolveOptions(timeout=30))
    with pytest.raises(BudgetError) as err:  # segments with pinned cut tensors do not fit: the whole model proves it
        solve(chain_path, "cpsat", SolveOptions(timeout=30, budget=best.arena_bytes - 4))
    assert "cannot be met: the joint model proved that no plan fits" in str(err.value)


def test_budget_fits_with_fewest_slices_per_segment(chain_path):
    _, unsplit = solve(chain_path, "reorder", SolveOptions())
    _, roomy = solve(chain_path, "cpsat", SolveOptions(timeout=30, budget=unsplit.arena_bytes))
    assert roomy.status == "optimal" and roomy.extra["segments"] > 1
    assert roomy.arena_bytes <= unsplit.arena_bytes and all(step.slice is None for step in roomy.steps)
