"""The plan validator: valid plans pass, and every kind of broken plan is caught and named."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from onnx_builders import mbconv_chain, save
from plan_helpers import solve_quick
from pexcp.errors import InvalidPlanError
from pexcp.ir import Graph
from pexcp.plan.plan import Buffer, Plan, Slice, Step
from pexcp.plan.validate import plan_problems, validate_plan


@pytest.fixture(scope="module", params=[False, True], ids=["float", "qdq"])
def case(request, tmp_path_factory) -> tuple[Path, Graph, Plan]:
    """A valid reorder plan of a small MobileNetV2 block with a classifier head (a Flatten view)."""
    path = save(mbconv_chain(n_blocks=1, head=True, qdq=request.param), tmp_path_factory.mktemp("validator"))
    graph, plan = solve_quick(path, "reorder")
    return path, graph, plan


def problems_of(case: tuple[Path, Graph, Plan], plan: Plan) -> list[str]:
    return plan_problems(plan, case[0])


def broken(plan: Plan) -> Plan:
    return copy.deepcopy(plan)


def buffer_of(plan: Plan, tensor: str) -> Buffer:
    return next(b for b in plan.buffers if b.tensor == tensor)


def activation(plan: Plan, k: int) -> Buffer:
    """The k-th buffer holding a value of the model (not kernel scratch)."""
    return [b for b in plan.buffers if not b.tensor.startswith("scratch:")][k]


def produced_by(graph: Graph, plan: Plan, step: Step) -> Buffer:
    return buffer_of(plan, graph.op(step.op).outputs[0])


def reindex(plan: Plan, steps: list[Step]) -> Plan:
    plan.steps = [replace(s, index=i) for i, s in enumerate(steps)]
    return plan


def depthwise_step(graph: Graph, plan: Plan) -> Step:
    return next(s for s in plan.steps if graph.op(s.op).attrs.get("group", 1) > 1)


def split_step(plan: Plan, index: int, slices: list[tuple[int, int]]) -> Plan:
    """Run step `index` as one step per channel slice, shifting the later steps and the buffers' steps."""
    plan = broken(plan)
    extra = len(slices) - 1
    step = plan.steps[index]
    parts = [replace(step, slice=Slice(a, b), nodes=list(step.nodes)) for a, b in slices]
    reindex(plan, plan.steps[:index] + parts + plan.steps[index + 1 :])
    for b in plan.buffers:
        b.first_step += extra if b.first_step > index else 0
        b.last_step += extra if b.last_step >= index else 0
    return plan


# ---- valid plans ---------------------------------------------------------------------------------------


def test_valid_plan_passes(case) -> None:
    path, _, plan = case
    assert plan_problems(plan, path) == []
    validate_plan(plan, path)


def test_json_round_trip_keeps_the_plan_valid(case, tmp_path: Path) -> None:
    path, _, plan = case
    plan.save(tmp_path / "plan.json")
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["format"] == "pexcp-plan/1"
    for key in ("model", "model_sha256", "method", "status", "arena_bytes", "lower_bound_bytes", "solve_seconds"):
        assert data[key] == getattr(plan, key)
    assert set(data["steps"][0]) >= {"index", "nodes", "slice"}
    assert set(data["buffers"][0]) >= {"id", "tensor", "dtype", "bytes", "offset", "first_step", "last_step",
                                       "slice", "alias_of"}
    loaded = Plan.load(tmp_path / "plan.json")
    assert loaded == plan
    assert plan_problems(loaded, path) == []


def test_plan_with_channel_slices_covering_every_channel_once_passes(case) -> None:
    path, graph, plan = case
    step = depthwise_step(graph, plan)
    channels = graph.tensors[graph.op(step.op).outputs[0]].shape[1]
    sliced = split_step(plan, step.index, [(0, 5), (5, channels - 3), (channels - 3, channels)])
    assert plan_problems(sliced, path) == []


# ---- broken on purpose ---------------------------------------------------------------------------------


def test_overlapping_live_buffers(case) -> None:
    plan = broken(case[2])
    owners = [b for b in plan.buffers if b.alias_of is None]
    a, b = next((a, b) for a in owners for b in owners
                if a.id < b.id and a.first_step <= b.last_step and b.first_step <= a.last_step and a.offset != b.offset)
    b.offset = a.offset
    assert any("overlap" in p and str(a.id) in p and str(b.id) in p for p in problems_of(case, plan))


def test_buffer_beyond_the_arena(case) -> None:
    plan = broken(case[2])
    victim = max(plan.buffers, key=lambda b: b.bytes)
    victim.offset = plan.arena_bytes - victim.bytes + 4
    assert any(f"buffer {victim.id} ends at" in p for p in problems_of(case, plan))


def test_negative_offset(case) -> None:
    plan = broken(case[2])
    plan.buffers[0].offset = -4
    assert any("negative offset" in p for p in problems_of(case, plan))


def test_consumer_before_its_producer(case) -> None:
    plan = broken(case[2])
    reindex(plan, [plan.steps[-1]] + plan.steps[:-1])  # the softmax first, before the gemm it reads
    assert any("before step" in p for p in problems_of(case, plan))


def test_missing_slice(case) -> None:
    path, graph, plan = case
    step = depthwise_step(graph, plan)
    channels = graph.tensors[graph.op(step.op).outputs[0]].shape[1]
    gap = split_step(plan, step.index, [(0, 4), (5, channels)])
    assert any("channel(s) [4] never computed" in p for p in problems_of(case, gap))


def test_channel_computed_twice(case) -> None:
    path, graph, plan = case
    step = depthwise_step(graph, plan)
    channels = graph.tensors[graph.op(step.op).outputs[0]].shape[1]
    twice = split_step(plan, step.index, [(0, 6), (4, channels)])
    assert any("channel(s) [4, 5] computed more than once" in p for p in problems_of(case, twice))


def test_slice_outside_the_channels(case) -> None:
    path, graph, plan = case
    step = depthwise_step(graph, plan)
    channels = graph.tensors[graph.op(step.op).outputs[0]].shape[1]
    beyond = split_step(plan, step.index, [(0, 4), (4, channels + 2)])
    assert any("outside its" in p for p in problems_of(case, beyond))


def test_sliced_step_reading_channels_no_buffer_holds(case) -> None:
    """The depthwise conv's second slice needs input channels its (now half-size) input buffer lacks."""
    path, graph, plan = case
    step = depthwise_step(graph, plan)
    src = graph.activation_inputs(graph.op(step.op))[0]
    channels = graph.tensors[src].shape[1]
    half = channels // 2
    sliced = split_step(plan, step.index, [(0, half), (half, channels)])
    held = buffer_of(sliced, src)
    held.slice, held.bytes = Slice(0, half), held.bytes // channels * half
    found = problems_of(case, sliced)
    assert any(f"reads channels {half}:{channels} of {src!r}" in p and "not resident" in p for p in found)


def test_input_not_resident(case) -> None:
    path, graph, plan = case
    plan = broken(plan)
    victim = next(b for b in plan.buffers if b.alias_of is None and b.last_step > b.first_step
                  and b.tensor not in graph.inputs)
    victim.last_step = victim.first_step
    assert any(f"{victim.tensor!r}, which is not resident" in p for p in problems_of(case, plan))


def test_output_not_resident_at_the_last_step(case) -> None:
    path, graph, plan = case
    plan = broken(plan)
    (out,) = graph.outputs
    buffer_of(plan, out).last_step -= 1
    buffer_of(plan, out).first_step = min(buffer_of(plan, out).first_step, buffer_of(plan, out).last_step)
    assert any(f"model output {out!r} is not resident at the last step" in p for p in problems_of(case, plan))


def test_wrong_byte_size(case) -> None:
    plan = broken(case[2])
    victim = activation(plan, 1)
    victim.bytes += 4
    assert any(f"buffer {victim.id} ({victim.tensor}) has {victim.bytes} bytes, needs {victim.bytes - 4}" in p
               for p in problems_of(case, plan))


def test_wrong_dtype(case) -> None:
    plan = broken(case[2])
    activation(plan, 1).dtype = "float16"
    assert any("has dtype float16" in p for p in problems_of(case, plan))


def test_buffer_of_a_tensor_the_model_does_not_have(case) -> None:
    plan = broken(case[2])
    activation(plan, 1).tensor = "no_such_tensor"
    assert any("'no_such_tensor' is not an activation" in p for p in problems_of(case, plan))


def test_alias_outside_its_base(case) -> None:
    plan = broken(case[2])
    view = next(b for b in plan.buffers if b.tensor.startswith("flatten"))
    base = next(b for b in plan.buffers if b.id == view.alias_of)
    view.offset = base.offset + base.bytes
    assert any(f"buffer {view.id} ({view.tensor}) lies outside the bytes of buffer {base.id}" in p
               for p in problems_of(case, plan))


def test_alias_of_a_missing_buffer(case) -> None:
    plan = broken(case[2])
    view = next(b for b in plan.buffers if b.alias_of is not None)
    view.alias_of = 999
    assert any("alias of 999" in p for p in problems_of(case, plan))


def test_wrong_model_hash(case) -> None:
    plan = broken(case[2])
    plan.model_sha256 = "0" * 64
    assert "model_sha256 does not match the model file" in problems_of(case, plan)


def test_node_that_never_runs(case) -> None:
    plan = broken(case[2])
    dropped = plan.steps[-1]
    reindex(plan, plan.steps[:-1])
    for b in plan.buffers:
        b.last_step = min(b.last_step, len(plan.steps) - 1)
        b.first_step = min(b.first_step, b.last_step)
    assert any(f"node {dropped.nodes[-1]!r}" in p and "never runs" in p for p in problems_of(case, plan))


def test_node_that_runs_twice(case) -> None:
    plan = broken(case[2])
    reindex(plan, plan.steps + [copy.deepcopy(plan.steps[-1])])
    assert any("runs 2 times" in p for p in problems_of(case, plan))


def test_step_running_an_unknown_node(case) -> None:
    plan = broken(case[2])
    plan.steps[0].nodes.append("ghost")
    assert any("'ghost', which is not a node of the model" in p for p in problems_of(case, plan))


def test_bad_step_indices(case) -> None:
    plan = broken(case[2])
    plan.steps[0].index = 5
    assert "step indices are not 0..n-1 in order" in problems_of(case, plan)


def test_buffer_steps_outside_the_schedule(case) -> None:
    plan = broken(case[2])
    plan.buffers[0].last_step = len(plan.steps) + 3
    assert any("outside the schedule" in p for p in problems_of(case, plan))


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"format": "pexcp-plan/0"}, "format is 'pexcp-plan/0'"),
        ({"status": "great"}, "status 'great' is not one of"),
        ({"lower_bound_bytes": 10**9}, "exceeds the arena"),
    ],
)
def test_bad_header(case, change: dict, expected: str) -> None:
    plan = replace(broken(case[2]), **change)
    assert any(expected in p for p in problems_of(case, plan))


def test_optimal_status_with_a_gap(case) -> None:
    plan = replace(broken(case[2]), status="optimal", lower_bound_bytes=case[2].arena_bytes - 4)
    assert "status optimal but the arena is above the lower bound" in problems_of(case, plan)


def test_unreadable_model(case, tmp_path: Path) -> None:
    assert any("cannot read model" in p for p in plan_problems(case[2], tmp_path / "gone.onnx"))


def test_validate_plan_raises_with_every_problem(case) -> None:
    path, _, plan = case
    plan = broken(plan)
    plan.model_sha256 = "0" * 64
    activation(plan, 1).dtype = "float16"
    with pytest.raises(InvalidPlanError) as info:
        validate_plan(plan, path)
    assert len(info.value.problems) == 2
    assert info.value.problems == plan_problems(plan, path)
    assert "plan failed validation" in str(info.value)


def test_in_place_output_whose_base_is_still_read_later(case) -> None:
    path, graph, plan = case
    plan = broken(plan)
    add = next(s for s in plan.steps if s.kernel == "Add")
    skip = set(graph.activation_inputs(graph.op(add.op)))
    expand = next(s for s in plan.steps if s.kernel == "Conv" and skip & set(graph.activation_inputs(graph.op(s.op))))
    (block_input,) = skip & set(graph.activation_inputs(graph.op(expand.op)))  # read by the expand and the Add
    base, out = buffer_of(plan, block_input), produced_by(graph, plan, expand)
    out.alias_of, out.offset = base.id, base.offset  # claims to overwrite the block input from this step
    found = problems_of(case, plan)
    assert any(f"reads {block_input!r} from buffer {base.id}" in p and f"wrote {out.tensor!r} there" in p for p in found)
