"""Partial-execution analysis and the memory model of split schedules."""

from __future__ import annotations

import pytest

from onnx_builders import GraphBuilder, mbconv_chain, save
from pexcp.analysis.liveness import Schedule, expand
from pexcp.analysis.partial import candidate_groups, region_bytes, split_rule
from pexcp.ops import Rule
from pexcp.importer import load_graph
from pexcp.layout.pinned import best_of_items
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.validate import plan_problems


def _graph(tmp_path, model):
    path = save(model, tmp_path)
    return path, load_graph(path)


def _layers(qdq: bool = False):
    b = GraphBuilder("rules", qdq=qdq)
    x = b.input((1, 4, 8, 8))
    full = b.conv(x, 8, kernel=1, act="relu")
    dw = b.depthwise(full, act="relu6")
    pool = b.maxpool(dw, kernel=3, stride=1, pads=(1, 1, 1, 1))
    flat = b.flatten(b.global_avgpool(pool))
    b.output(b.softmax(b.gemm(flat, 3)))
    return b.build()


@pytest.mark.parametrize("qdq", [False, True])
def test_split_rules_by_op_kind(tmp_path, qdq):
    _, graph = _graph(tmp_path, _layers(qdq))
    rules = {op.op_type: split_rule(graph, op) for op in graph.ops if op.op_type != "Conv"}
    convs = [split_rule(graph, op) for op in graph.ops if op.op_type == "Conv"]
    assert convs == [Rule.FULL, Rule.CHANNELWISE]  # 1x1 conv, then depthwise
    assert rules["MaxPool"] is Rule.CHANNELWISE
    assert rules["GlobalAveragePool"] is Rule.CHANNELWISE
    assert rules["Gemm"] is Rule.FULL
    assert rules["Softmax"] is Rule.OPAQUE
    assert rules["Flatten"] is Rule.OPAQUE  # a view: never split


def test_mbconv_block_is_a_candidate_with_all_slice_widths(tmp_path):
    _, graph = _graph(tmp_path, mbconv_chain(n_blocks=1, channels=4, expand=4, hw=8))
    groups = candidate_groups(graph)
    kinds = {tuple(op.op_type for op in g.members) for g in groups}
    assert ("Conv", "Conv", "Conv") in kinds
    block = next(g for g in groups if len(g.members) == 3 and g.head and g.tail)
    assert block.channels == 16
    assert len(block.inner) == 2 and block.output == block.members[-1].outputs[0]
    widths = [o.width for o in block.options]
    assert len(set(widths)) == len(widths) and max(widths) == 8 and min(widths) == 1
    for option in block.options:
        assert option.rounds == -(-16 // option.width)
        assert option.region_bytes == region_bytes(block.slice_sizes(option.width))


def test_float_tail_without_activation_accumulates_in_its_output(tmp_path):
    _, graph = _graph(tmp_path, mbconv_chain(n_blocks=1))
    block = next(g for g in candidate_groups(graph) if g.head and g.tail and len(g.members) == 3)
    assert block.acc_tensor is None  # the project conv has no activation: it sums straight into its output


def test_int8_tail_accumulates_in_int32(tmp_path):
    _, graph = _graph(tmp_path, mbconv_chain(n_blocks=1, qdq=True))
    block = next(g for g in candidate_groups(graph) if g.head and g.tail and len(g.members) == 3)
    out = graph.tensors[block.output]
    assert block.acc_dtype == "int32" and block.acc_bytes == 4 * out.numel


@pytest.mark.parametrize("qdq", [False, True])
def test_split_schedule_expands_to_a_valid_smaller_plan(tmp_path, qdq):
    path, graph = _graph(tmp_path, mbconv_chain(n_blocks=2, channels=4, expand=6, hw=8, qdq=qdq))
    groups = {g.id: g for g in candidate_groups(graph)}
    blocks = [g for g in groups.values() if g.head and g.tail and len(g.members) == 3]
    order = [op.name for op in graph.ops]
    unsplit = expand(graph, Schedule(order), groups)
    split = Schedule(order, {g.id: 6 for g in blocks})
    expanded = expand(graph, split, groups)
    rounds = -(-blocks[0].channels // 6)
    finish = 1 if qdq else 0
    assert len(expanded.steps) == len(graph.ops) + len(blocks) * (rounds * 3 - 3 + finish)
    assert expanded.load < unsplit.load
    offsets = item_offsets(expanded, best_of_items(expanded.items()))
    plan = make_plan(graph, expanded, offsets, method="cpsat", status="heuristic", lower_bound=0, seconds=0)
    assert plan_problems(plan, path) == []
    sliced = [b for b in plan.buffers if b.slice is not None]
    assert sliced and all(b.bytes < graph.tensors[b.tensor].nbytes for b in sliced)
    if qdq:
        acc = [b for b in plan.buffers if b.dtype == "int32"]
        assert len(acc) == len(blocks)
        outs = [b for b in plan.buffers if b.alias_of in {a.id for a in acc}]
        assert len(outs) == len(blocks) and all(o.offset == plan.buffers[o.alias_of].offset for o in outs)


def _residual(qdq: bool, skip_read_later: bool = False):
    """x -> conv -> conv -> Add(x, .) -> out; optionally x is read again after the Add."""
    b = GraphBuilder("residual", qdq=qdq)
    x = b.conv(b.input((1, 3, 8, 8)), 8, act="relu")
    y = b.add(x, b.conv(b.conv(x, 8, act="relu"), 8), act="relu")
    b.output(b.add(y, x) if skip_read_later else y)
    return b.build()


@pytest.mark.parametrize("qdq", [False, True])
def test_residual_add_group_overwrites_its_skip_input(tmp_path, qdq):
    path, graph = _graph(tmp_path, _residual(qdq))
    groups = {g.id: g for g in candidate_groups(graph)}
    add = next(op for op in graph.ops if op.op_type == "Add")
    skip = next(t for t in graph.activation_inputs(add) if graph.producer[t].op_type == "Conv"
                and graph.producer[t] is graph.ops[0])
    group = next(g for g in groups.values() if [m.op_type for m in g.members] == ["Conv", "Add"])
    assert group.overwrites == skip
    order = [op.name for op in graph.ops]
    whole = expand(graph, Schedule(order), groups)
    split = expand(graph, Schedule(order, {group.id: 2}), groups)
    assert split.load < whole.load  # the Add's output never needs bytes of its own
    offsets = item_offsets(split, best_of_items(split.items()))
    plan = make_plan(graph, split, offsets, method="cpsat", status="heuristic", lower_bound=0, seconds=0)
    assert plan_problems(plan, path) == []
    out = next(b for b in plan.buffers if b.tensor == group.output)
    assert plan.buffers[out.alias_of].tensor == skip and out.offset == plan.buffers[out.alias_of].offset


def test_no_overwrite_when_the_skip_input_is_read_after_the_group(tmp_path):
    _, graph = _graph(tmp_path, _residual(False, skip_read_later=True))
    assert all(g.overwrites is None for g in candidate_groups(graph) if g.members[-1].op_type == "Add"
               and g.members[-1] is graph.ops[3])
