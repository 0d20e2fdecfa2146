"""Helpers shared by the C backend tests: a node-by-node float32 ONNX builder, and building an emitted
project's sanitized host harness and comparing its outputs with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

from pexcp.backends.c import emit
from pexcp.backends.c.toolchain import build_host, missing_tools, run_host
from pexcp.ir import Graph
from pexcp.plan.plan import Plan
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions

TOLERANCE = 1e-4  # of the output's range

needs_cc = pytest.mark.skipif(bool(missing_tools(("cc", "make"))), reason="needs a host C compiler (cc) and make")


class Net:
    """A float32 ONNX model built node by node; output shapes come from ONNX shape inference."""

    def __init__(self, name: str, opset: int = 13, seed: int = 0):
        self.name, self.opset = name, opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[str] = []
        self.out_types: dict[str, int] = {}

    def input(self, *shape: int) -> str:
        name = f"in{len(self.inputs)}"
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def const(self, array: np.ndarray | float) -> str:
        name = f"c{len(self.inits)}"
        arr = np.asarray(array)
        self.inits.append(numpy_helper.from_array(arr.astype(np.int64 if arr.dtype.kind == "i" else np.float32), name))
        return name

    def weight(self, *shape: int) -> str:
        return self.const(self.rng.normal(0, 0.5, shape))

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = f"{op_type.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def out(self, *names: str, dtype: int = TensorProto.FLOAT) -> None:
        self.outputs += names
        self.out_types.update({n: dtype for n in names})

    def save(self, directory: Path) -> Path:
        outputs = [helper.make_tensor_value_info(o, self.out_types[o], None) for o in self.outputs]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        model = shape_inference.infer_shapes(model, strict_mode=True)
        path = directory / f"{self.name}.onnx"
        onnx.save(model, str(path))
        return path


def assert_close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, onnxruntime {ref.shape}"
    scale = float(np.ptp(ref)) or max(float(np.abs(ref).max()), 1.0)
    err = float(np.abs(got.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert err <= TOLERANCE * scale, f"{what}: max abs error {err:.3g} > {TOLERANCE:g} x range {scale:.3g}"


def check_project(model: Path, outdir: Path, runs: int = 3, seed: int = 0) -> None:
    """Build the emitted project's sanitized host harness, compare every output with onnxruntime."""
    build_host(outdir)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    for run in range(runs):
        feeds = {i.name: rng.uniform(-1, 1, i.shape).astype(np.float32) for i in session.get_inputs()}
        ref = session.run(None, feeds)
        got = run_host(outdir, list(feeds.values()), [r.shape for r in ref], f"_{run}", [r.dtype.name for r in ref])
        for o, g, r in zip(session.get_outputs(), got, ref):
            if r.dtype.kind == "f":
                assert_close(g, r, f"{model.stem} output {o.name} (run {run})")
            else:  # indices, casts: exactly
                assert np.array_equal(g, r), f"{model.stem} output {o.name} (run {run}): {g.ravel()[:8]} != {r.ravel()[:8]}"


def run_plan(graph: Graph, plan: Plan, outdir: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Compile `plan` with the harness, build it for the host (sanitizers) and run it on each input: the
    outputs, in order."""
    emit(graph, plan, outdir, harness=True)
    build_host(outdir)
    shapes = [graph.tensors[t].shape for t in graph.outputs]
    dtypes = [graph.tensors[t].dtype for t in graph.outputs]
    return [y for k, x in enumerate(inputs) for y in run_host(outdir, [x], shapes, tag=str(k), output_dtypes=dtypes)]


def compile_and_check(model: Path, graph: Graph, plan: Plan, outdir: Path, runs: int = 3, seed: int = 0) -> None:
    emit(graph, plan, outdir, harness=True)
    check_project(model, outdir, runs, seed)


def check_net(net: Net, tmp_path: Path, method: str = "reorder", runs: int = 2, **options) -> Plan:
    path = net.save(tmp_path)
    graph, plan = solve(path, method, SolveOptions(timeout=10, **options))
    compile_and_check(path, graph, plan, tmp_path / "c", runs=runs)
    return plan
