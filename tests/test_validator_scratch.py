"""Kernel scratch as planned buffers: every planner reserves a `scratch:<op>` buffer at each step of an op
whose int8 kernel has a fast path, the validator checks them against its own size rule, and it rejects a
scratch buffer that is too small, live at another op's step, or overlapping a live buffer."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from conftest import INT8_MODELS, model_id
from onnx_builders import mbconv_chain, save
from plan_helpers import solve_quick
from pexcp.analysis.liveness import Schedule, expand
from pexcp.analysis.partial import candidate_groups
from pexcp.ir import SCRATCH
from pexcp.layout.pinned import best_of_items
from pexcp.pipeline import load_for
from pexcp.plan.build import item_offsets, make_plan
from pexcp.plan.plan import Buffer, Plan
from pexcp.plan.validate import _read, plan_problems, scratch_need
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.pex_greedy import contiguous
from pexcp.solvers.registry import METHODS


@pytest.fixture(scope="module")
def qdq_model(tmp_path_factory) -> Path:
    return save(mbconv_chain(n_blocks=1, head=True, qdq=True), tmp_path_factory.mktemp("scratch"))


def scratch_buffers(plan: Plan) -> list[Buffer]:
    return [b for b in plan.buffers if b.tensor.startswith(SCRATCH)]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_planner_reserves_scratch_for_every_fast_kernel_call(qdq_model: Path, method: str) -> None:
    graph, plan = solve_quick(qdq_model, method)
    assert graph.scratch, "the int8 convs and the classifier have fast paths"
    accumulated = {s.op for s in plan.steps if s.accumulate}
    for step in plan.steps:
        held = [b for b in scratch_buffers(plan) if b.first_step <= step.index <= b.last_step]
        finishing = step.slice is None and step.op in accumulated  # requantizes the sums: no conv call
        if step.op in graph.scratch and not finishing:
            assert len(held) == 1 and held[0].tensor == SCRATCH + step.op, step
            width = step.slice.stop - step.slice.start if step.accumulate else None
            assert graph.scratch[step.op].bytes(width) <= held[0].bytes <= graph.scratch[step.op].whole
        else:
            assert not held
    assert plan_problems(plan, qdq_model) == []


@pytest.mark.parametrize("method", ["tflm", "reorder"])
def test_scratch_off_plans_none_and_scratch_costs_at_most_its_bytes(qdq_model: Path, method: str) -> None:
    graph, off = solve_quick(qdq_model, method, scratch=False)
    _, on = solve_quick(qdq_model, method)
    assert not graph.scratch and not scratch_buffers(off)
    assert off.arena_bytes <= on.arena_bytes <= off.arena_bytes + sum(b.bytes for b in scratch_buffers(on))


def test_float_models_need_no_scratch(tmp_path: Path) -> None:
    path = save(mbconv_chain(n_blocks=1, head=True), tmp_path)
    graph, plan = solve_quick(path, "reorder")
    assert not graph.scratch and not scratch_buffers(plan)


def test_split_tail_gets_the_scratch_of_its_slice(qdq_model: Path) -> None:
    """A tail accumulating k input channels per round needs the im2col of k channels only: one buffer per
    round, live at that round's step, all at one offset; the plan is valid."""
    graph = load_for(qdq_model, "cpsat", SolveOptions())
    group = next(g for g in candidate_groups(graph) if g.tail and g.names[-1] in graph.scratch and g.channels >= 4)
    width = group.options[-1].width  # the narrowest slices
    order = contiguous([op.name for op in graph.ops], group)
    expanded = expand(graph, Schedule(order, {group.id: width}), {group.id: group})
    plan = make_plan(graph, expanded, item_offsets(expanded, best_of_items(expanded.items())), method="test",
                     status="heuristic", lower_bound=0, seconds=0)
    tail = group.names[-1]
    rounds = [s.index for s in plan.steps if s.op == tail and s.accumulate]
    held = [b for b in scratch_buffers(plan) if b.tensor == SCRATCH + tail]
    assert sorted(b.first_step for b in held) == rounds and all(b.first_step == b.last_step for b in held)
    assert {b.bytes for b in held} == {graph.scratch[tail].bytes(width)} and len({b.offset for b in held}) == 1
    assert graph.scratch[tail].bytes(width) < graph.scratch[tail].whole
    assert plan_problems(plan, qdq_model) == []


@pytest.fixture(scope="module")
def case(qdq_model: Path) -> tuple[Path, Plan]:
    return qdq_model, solve_quick(qdq_model, "reorder")[1]


def test_scratch_too_small(case) -> None:
    path, plan = case
    plan = copy.deepcopy(plan)
    b = scratch_buffers(plan)[0]
    b.bytes -= 4
    assert any("needs" in p and f"scratch buffer {b.id}" in p for p in plan_problems(plan, path))


def test_scratch_live_at_another_ops_step(case) -> None:
    path, plan = case
    plan = copy.deepcopy(plan)
    b = scratch_buffers(plan)[0]
    other = next(s.index for s in plan.steps if s.op != b.tensor[len(SCRATCH):])
    b.first_step = b.last_step = other
    assert any("does not call" in p for p in plan_problems(plan, path))


def test_scratch_live_one_step_too_long(case) -> None:
    path, plan = case
    plan = copy.deepcopy(plan)
    b = next(b for b in scratch_buffers(plan) if b.last_step + 1 < len(plan.steps))
    b.last_step += 1
    assert any("does not call" in p for p in plan_problems(plan, path))


def test_scratch_overlapping_a_live_buffer(case) -> None:
    path, plan = case
    plan = copy.deepcopy(plan)
    b = scratch_buffers(plan)[0]
    step = plan.steps[b.first_step]
    out = next(o for o in plan.buffers if o.alias_of is None and not o.tensor.startswith(SCRATCH)
               and o.first_step <= step.index <= o.last_step and o.bytes)
    b.offset = out.offset
    assert any("overlap" in p for p in plan_problems(plan, path))


def test_scratch_of_an_op_without_one(case) -> None:
    path, plan = case
    plan = copy.deepcopy(plan)
    b = scratch_buffers(plan)[0]
    op = next(s for s in plan.steps if s.kernel not in ("Conv", "MatMul", "Gemm"))
    b.tensor, b.first_step, b.last_step = SCRATCH + op.op, op.index, op.index
    assert any("has no kernel scratch" in p for p in plan_problems(plan, path))


@pytest.mark.slow
@pytest.mark.parametrize("model", INT8_MODELS, ids=model_id)
def test_validator_rule_agrees_with_the_backend_on_the_shared_models(model: Path) -> None:
    """Two independent statements of the scratch sizes (the kernels' quant.py, the validator's rule) agree on
    every layer with a fast path of the shared int8 models, for whole calls and for every slice width."""
    graph = load_for(model, "reorder", SolveOptions())
    plan = Plan(graph.name, graph.sha256, "test", "heuristic", 0, 0, 0.0, [], [], rewrites=list(graph.rewrites))
    m = _read(model, plan)
    assert graph.scratch
    for name, need in graph.scratch.items():
        node = m.nodes[name]
        assert scratch_need(m, node, None) == need.whole, name
        for k, size in enumerate(need.by_inputs, start=1):
            assert scratch_need(m, node, k) == size, (name, k)
