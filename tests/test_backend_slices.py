"""Partial execution in C: split plans (channel slices, accumulation over input channels, accumulators
activated by a final step) on small models, against onnxruntime; and the NaN poisoning that makes a
lifetime bug visible.

Split plans come from the unsplit file order through the planner's own memory model (`expand` with a
slice width per chosen group), so they have exactly the shape cpsat plans have, and each is checked by
the plan validator before it is compiled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from onnx_builders import GraphBuilder, mbconv_chain, save
from pexcp.analysis.partial import Group
from pexcp.backends.c import emit
from pexcp.errors import BadInputError
from pexcp.importer import ALL_REWRITES
from pexcp.plan.plan import Slice
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from backend_helpers import compile_and_check, needs_cc
from plan_helpers import split_plan


def _kinds(g: Group) -> tuple[str, ...]:
    return tuple(op.op_type for op in g.members)


@needs_cc
@pytest.mark.parametrize("width", [1, 5, 8])
def test_inverted_residual_blocks_in_slices(tmp_path: Path, width: int) -> None:
    """expand 1x1 -> depthwise 3x3 -> project 1x1 with accumulation, uneven last slice for width 5."""
    path = save(mbconv_chain(n_blocks=2, channels=4, expand=4, hw=8), tmp_path)
    graph, plan = split_plan(path, lambda g: g.head and g.tail and len(g.members) == 3, width)
    assert any(s.accumulate for s in plan.steps)
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_explicit_pad_inside_a_group(tmp_path: Path) -> None:
    """Without the `pad` rewrite the depthwise conv's Pad is a real channel-wise op run in slices."""
    path = save(mbconv_chain(n_blocks=1, channels=4, expand=3, hw=6, explicit_pad=True), tmp_path)
    no_pad = tuple(r for r in ALL_REWRITES if r != "pad")
    graph, plan = split_plan(path, lambda g: _kinds(g) == ("Conv", "Pad", "Conv", "Conv"), 5, no_pad)
    assert any(s.kernel == "Pad" and s.slice is not None for s in plan.steps)
    compile_and_check(path, graph, plan, tmp_path / "c")


def _activated_tail(tmp_path: Path) -> Path:
    b = GraphBuilder("activated_tail", seed=3)
    x = b.input((1, 3, 6, 7))
    e = b.conv(x, 12, kernel=1, act="relu6")
    d = b.depthwise(e, act="relu6")
    b.output(b.conv(d, 5, kernel=3, act="relu"))
    return save(b.build(), tmp_path)


@needs_cc
def test_tail_with_activation_accumulates_then_activates(tmp_path: Path) -> None:
    """The tail's Relu runs once, in the final unsliced step, on the completed accumulator."""
    path = _activated_tail(tmp_path)
    graph, plan = split_plan(path, lambda g: _kinds(g) == ("Conv", "Conv", "Conv"), 5)
    tail = [s for s in plan.steps if s.accumulate]
    finish = [s for s in plan.steps if s.op == tail[0].op and not s.accumulate]
    assert len(tail) == 3 and len(finish) == 1 and finish[0].slice is None
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_tail_with_a_folded_batchnorm_accumulates_its_output(tmp_path: Path) -> None:
    """conv -> BatchNormalization -> Relu as a tail: the accumulator holds the BatchNormalization's output
    (the BN is folded into the conv), which the final step activates."""
    b = GraphBuilder("bn_tail", seed=4)
    e = b.conv(b.input((1, 3, 6, 5)), 8, kernel=1, act="relu")
    b.output(b.relu(b.batchnorm(b.conv(e, 6, kernel=1, bias=False))))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: _kinds(g) == ("Conv", "Conv"), 3)
    by_id = {buf.id: buf for buf in plan.buffers}
    (output,) = [buf for buf in plan.buffers if buf.tensor == graph.outputs[0]]
    assert by_id[output.alias_of].tensor.startswith("batchnormalization")  # activated in place
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_output_slices_of_a_conv_with_one_input_channel(tmp_path: Path) -> None:
    """A group-1 conv on a single-channel input (kws's first layer) still produces any output slice."""
    b = GraphBuilder("mono", seed=6)
    b.output(b.depthwise(b.conv(b.input((1, 1, 7, 6)), 8, kernel=3, act="relu"), act="relu"))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: _kinds(g) == ("Conv", "Conv"), 3)
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_dense_layers_in_slices(tmp_path: Path) -> None:
    b = GraphBuilder("dense", seed=4)
    x = b.flatten(b.input((1, 3, 2, 2)))
    b.output(b.gemm(b.gemm(x, 10, act="relu"), 6, act="relu"))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: _kinds(g) == ("Gemm", "Gemm"), 3)
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_pooling_and_residual_add_inside_a_group(tmp_path: Path) -> None:
    """Channel-wise members reading a whole group input (the residual) at the slice's channels (without
    the `inplace` rewrite, which would make the Add write over its input and keep it out of groups)."""
    b = GraphBuilder("members", seed=5)
    x = b.input((1, 4, 6, 6))
    skip = b.conv(x, 6, kernel=1)
    y = b.conv(x, 6, kernel=1, act="relu")
    y = b.maxpool(y, kernel=3, stride=1, pads=(1, 1, 1, 1))
    y = b.avgpool(y, kernel=3, stride=1, pads=(1, 1, 1, 1), count_include_pad=1)
    b.output(b.conv(b.add(y, skip), 3, kernel=1))
    path = save(b.build(), tmp_path)
    no_inplace = tuple(r for r in ALL_REWRITES if r != "inplace")
    graph, plan = split_plan(path, lambda g: len(g.members) == 5, 4, no_inplace)
    assert {s.kernel for s in plan.steps if s.slice is not None} >= {"MaxPool", "AveragePool", "Add"}
    compile_and_check(path, graph, plan, tmp_path / "c")


@needs_cc
def test_a_layout_bug_shows_in_the_outputs(tmp_path: Path) -> None:
    """A (corrupted) plan that puts a tensor in bytes another tensor takes over while the first is still
    needed gives wrong outputs: the end-to-end checks do see memory-plan bugs."""
    path = save(mbconv_chain(n_blocks=1, channels=4, expand=2, hw=6), tmp_path)
    graph, plan = solve(path, "tflm", SolveOptions())
    owners = [b for b in plan.buffers if b.alias_of is None]
    victim, intruder = next(
        (v, o) for v in owners for o in owners
        if v.first_step < o.first_step < v.last_step and o.offset + v.bytes <= plan.arena_bytes
    )
    victim.offset = intruder.offset
    with pytest.raises(AssertionError, match="max abs error"):
        compile_and_check(path, graph, plan, tmp_path / "c", runs=1)


def test_slices_an_op_cannot_run_are_refused(tmp_path: Path) -> None:
    b = GraphBuilder("refuse")
    b.output(b.softmax(b.gemm(b.flatten(b.input((1, 2, 2, 2))), 4)))
    path = save(b.build(), tmp_path)
    graph, plan = solve(path, "reorder", SolveOptions())
    softmax = next(s for s in plan.steps if s.kernel == "Softmax")
    softmax.slice = Slice(0, 2)
    with pytest.raises(BadInputError, match="Softmax node .* cannot compute a slice"):
        emit(graph, plan, tmp_path / "c")
    assert not (tmp_path / "c" / "model.c").exists()
