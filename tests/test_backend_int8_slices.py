"""Partial execution of int8 QDQ graphs in C: on generated inverted-residual graphs (hypothesis), every
split plan (output-channel slices, int32 partial sums requantized in place by a final step, channel-wise
members, residual adds) gives the same bits as the unsliced plan of the same graph. The unsliced path is
checked against TFLite Micro on the shared models (test_backend_int8.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx_builders import GraphBuilder, mbconv_chain, save
from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import build_host, run_host
from pexcp.importer import ALL_REWRITES
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from backend_helpers import needs_cc
from plan_helpers import split_plan

RUNS = 3


def _outputs(graph: Graph, plan: Plan, outdir: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    emit(graph, plan, outdir, harness=True)
    build_host(outdir)
    shapes = [graph.tensors[t].shape for t in graph.outputs]
    dtypes = [graph.tensors[t].dtype for t in graph.outputs]
    return [
        y for k, x in enumerate(inputs) for y in run_host(outdir, [x], shapes, tag=str(k), output_dtypes=dtypes)
    ]


def assert_sliced_equals_unsliced(path: Path, graph: Graph, plan: Plan, workdir: Path, seed: int = 0) -> None:
    assert any(s.slice is not None for s in plan.steps)
    whole_graph, whole = solve(path, "reorder", SolveOptions(timeout=5, rewrites=tuple(plan.rewrites)))
    assert not any(s.slice is not None for s in whole.steps)
    rng = np.random.default_rng(seed)
    shape = graph.tensors[graph.inputs[0]].shape
    inputs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(RUNS)]
    got = _outputs(graph, plan, workdir / "sliced", inputs)
    want = _outputs(whole_graph, whole, workdir / "whole", inputs)
    for g, w in zip(got, want):
        assert g.dtype == np.int8 and np.array_equal(g, w), f"sliced {g.ravel()[:8]} != unsliced {w.ravel()[:8]}"


@needs_cc
@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.integers(2, 6),
    expand=st.integers(2, 4),
    hw=st.integers(3, 7),
    blocks=st.integers(1, 2),
    explicit_pad=st.booleans(),
    width=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_generated_qdq_blocks_sliced_equal_unsliced(
    channels: int, expand: int, hw: int, blocks: int, explicit_pad: bool, width: int, seed: int
) -> None:
    model = mbconv_chain(blocks, channels, expand, hw, qdq=True, explicit_pad=explicit_pad, seed=seed)
    rewrites = tuple(r for r in ALL_REWRITES if r != "pad") if explicit_pad else ALL_REWRITES
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp))
        wide = channels * expand
        graph, plan = split_plan(path, lambda g: g.channels == wide, min(width, wide - 1), rewrites)
        assert any(s.accumulate for s in plan.steps) or any(s.kernel == "Conv" and s.slice for s in plan.steps)
        assert_sliced_equals_unsliced(path, graph, plan, Path(tmp), seed)


@needs_cc
def test_int8_tail_accumulates_int32_then_requantizes_in_place(tmp_path: Path) -> None:
    """expand -> depthwise -> project (+ReLU): the project conv sums input-channel slices into the plan's
    int32 accumulator, and a final step requantizes it into the int8 output over the same bytes."""
    b = GraphBuilder("int8_tail", qdq=True, seed=3)
    e = b.conv(b.input((1, 3, 6, 7)), 12, kernel=1, act="relu6")
    d = b.depthwise(e, act="relu6")
    b.output(b.conv(d, 5, kernel=3, act="relu"))
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: len(g.members) == 3 and g.tail, 5)
    accumulators = [buf for buf in plan.buffers if buf.dtype == "int32"]
    (out,) = [buf for buf in plan.buffers if buf.tensor == graph.outputs[0]]
    assert len(accumulators) == 1 and out.alias_of == accumulators[0].id and out.offset == accumulators[0].offset
    assert sum(s.accumulate for s in plan.steps) == 3
    assert_sliced_equals_unsliced(path, graph, plan, tmp_path)
    text = (tmp_path / "sliced" / "model.c").read_text()
    assert "PEXCP_INIT, 0);" in text and "pexcp_requant_acc_s8(AT(int32_t, " in text


@needs_cc
def test_int8_dense_and_pool_members_in_slices(tmp_path: Path) -> None:
    """A dense head and tail (fully connected slices and partial sums) and pooling inside a conv group."""
    b = GraphBuilder("int8_members", qdq=True, seed=5)
    y = b.conv(b.input((1, 4, 6, 6)), 6, kernel=1, act="relu")
    y = b.maxpool(y, kernel=3, stride=1, pads=(1, 1, 1, 1))
    y = b.avgpool(y, kernel=3, stride=2, pads=(1, 1, 1, 1))
    y = b.conv(y, 3, kernel=1)
    x = b.gemm(b.gemm(b.flatten(y), 10, act="relu"), 6)
    b.output(x)
    path = save(b.build(), tmp_path)
    graph, plan = split_plan(path, lambda g: len(g.members) >= 2, 2)
    kinds = {s.kernel for s in plan.steps if s.slice is not None}
    assert {"MaxPool", "AveragePool"} <= kinds or "Gemm" in kinds, kinds
    assert_sliced_equals_unsliced(path, graph, plan, tmp_path)
