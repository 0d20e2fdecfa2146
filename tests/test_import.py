"""ONNX -> IR: shapes, dtypes and sizes of activations, QDQ grouping, constant folding, clear refusals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from conftest import FLOAT_MODELS, needs_models
from onnx_builders import GraphBuilder, chain_model, dynamic_input_model, mbconv_chain, random_dag_model, save
from pexcp.errors import BadInputError
from pexcp.importer import load_graph, parse_input_shapes
from pexcp.importer.onnx_reader import read_model


def onnx_node_names(path: Path) -> dict[str, str]:
    """name -> op_type of every node in the file (pexcp names nameless nodes; the builders name all)."""
    return {n.name: n.op_type for n in onnx.load(str(path)).graph.node}


def refusal(path: Path, **kwargs) -> str:
    """The one-line message load_graph refuses `path` with."""
    with pytest.raises(BadInputError) as info:
        load_graph(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---- the builders themselves make models ONNX Runtime accepts ----------------------------------------------


@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
@pytest.mark.parametrize(
    "make",
    [chain_model, lambda qdq: mbconv_chain(qdq=qdq, explicit_pad=True, head=True), lambda qdq: random_dag_model(3, 10, qdq)],
    ids=["chain", "mbconv", "dag"],
)
def test_builder_models_run_in_onnxruntime(make, qdq: bool, tmp_path: Path) -> None:
    model = make(qdq=qdq)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(save(model, tmp_path).read_bytes())
    feeds = {}
    for i in session.get_inputs():
        dtype = np.int8 if i.type == "tensor(int8)" else np.float32
        feeds[i.name] = np.ones(i.shape, dtype)
    outputs = session.run(None, feeds)
    assert all(np.all(np.isfinite(o.astype(np.float32))) for o in outputs)


# ---- float models ----------------------------------------------------------------------------------------


def test_float_chain_activations_have_static_shape_dtype_and_bytes(tmp_path: Path) -> None:
    graph = load_graph(save(chain_model(channels=(4, 8), hw=6), tmp_path))
    assert [op.op_type for op in graph.ops] == ["Conv", "Conv"]
    (x,) = graph.inputs
    assert graph.tensors[x].shape == (1, 3, 6, 6)
    assert [graph.tensors[t].shape for t in graph.outputs] == [(1, 8, 6, 6)]
    for t in graph.tensors.values():
        assert t.dtype == "float32"
        assert t.nbytes == 4 * int(np.prod(t.shape))


def test_relu_after_conv_runs_in_the_conv_kernel(tmp_path: Path) -> None:
    """A fused activation's input is not a buffer: Conv + Relu is one op whose output is the Relu's."""
    path = save(chain_model(channels=(4,), act="relu"), tmp_path)
    graph = load_graph(path, rewrites=())
    (op,) = graph.ops
    names = onnx_node_names(path)
    assert sorted(names[n] for n in op.nodes) == ["Conv", "Relu"]
    assert [e.op_type for e in op.epilogue] == ["Relu"]
    relu_out = next(n.output[0] for n in onnx.load(str(path)).graph.node if n.op_type == "Relu")
    assert op.outputs == [relu_out]
    assert len(graph.tensors) == 2  # input and the Relu's output


# ---- int8 QDQ models -------------------------------------------------------------------------------------


def test_qdq_activations_are_int8_and_float_intermediates_are_not_buffers(tmp_path: Path) -> None:
    path = save(mbconv_chain(qdq=True, n_blocks=1), tmp_path)
    graph = load_graph(path, rewrites=())
    quantized = {n.output[0] for n in onnx.load(str(path)).graph.node if n.op_type == "QuantizeLinear"}
    assert set(graph.tensors) == set(graph.inputs) | quantized
    for t in graph.tensors.values():
        assert t.dtype == "int8"
        assert t.nbytes == int(np.prod(t.shape))  # one byte per element


def test_qdq_ops_execute_their_dequantize_core_activation_and_quantize(tmp_path: Path) -> None:
    path = save(chain_model(channels=(4, 4), qdq=True), tmp_path)
    graph = load_graph(path, rewrites=())
    names = onnx_node_names(path)
    for op in graph.ops:
        kinds = sorted(names[n] for n in op.nodes)
        assert kinds == ["Conv", "DequantizeLinear", "QuantizeLinear", "Relu"], kinds
        assert op.op_type == "Conv"
        (src,) = graph.activation_inputs(op)
        assert src in op.quant and op.outputs[0] in op.quant  # scales of the int8 input and output


def test_per_channel_int8_weights_are_folded_into_float_constants(tmp_path: Path) -> None:
    path = save(chain_model(channels=(4,), qdq=True, act=None), tmp_path)
    model = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    w_dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                and inits[n.input[0]].ndim == 4)
    q, scale = inits[w_dq.input[0]], inits[w_dq.input[1]]
    graph = load_graph(path, rewrites=())
    (op,) = graph.ops
    assert w_dq.name in graph.constant_nodes
    weight = graph.constants[op.inputs[1]]
    assert weight.dtype == np.float32
    np.testing.assert_allclose(weight, q.astype(np.float32) * scale.reshape(-1, 1, 1, 1), rtol=1e-6)


def test_every_onnx_node_is_executed_by_an_op_or_folded(tmp_path: Path) -> None:
    path = save(mbconv_chain(qdq=True, explicit_pad=True, head=True), tmp_path)
    names = onnx_node_names(path)
    graph = load_graph(path)
    executed = [n for op in graph.ops for n in op.nodes]
    assert set(executed) | set(graph.constant_nodes) == set(names)
    assert not set(executed) & set(graph.constant_nodes)
    once = [n for n in executed if names[n] != "DequantizeLinear"]  # a dequantize may serve several ops
    assert len(once) == len(set(once))


# ---- constant folding ------------------------------------------------------------------------------------


def test_constant_fed_subgraph_is_folded_into_weights(tmp_path: Path) -> None:
    """Constant -> Mul(initializer) -> Conv weight, and Constant -> Reshape shape: both folded away."""
    b = GraphBuilder("constfold")
    x = b.input((1, 2, 4, 4))
    base = np.arange(3 * 2 * 3 * 3, dtype=np.float32).reshape(3, 2, 3, 3)
    b.nodes.append(helper.make_node("Constant", [], ["w_raw"], name="make_w", value=onnx.numpy_helper.from_array(base)))
    w = b.node("Mul", ["w_raw", b.const(np.array(0.5, np.float32))], kind="scale_w")
    y = b.node("Conv", [x, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.nodes.append(helper.make_node("Constant", [], ["new_shape"], name="make_shape",
                                    value=onnx.numpy_helper.from_array(np.array([1, -1], np.int64))))
    b.declare(y, (1, 3, 4, 4))
    z = b.node("Reshape", [y, "new_shape"])
    b.declare(z, (1, 48))
    b.output(z)
    graph = load_graph(save(b.build(), tmp_path), rewrites=())
    assert [op.op_type for op in graph.ops] == ["Conv", "Reshape"]
    assert set(graph.constant_nodes) == {"make_w", w.removesuffix("_out"), "make_shape"}
    conv = graph.ops[0]
    np.testing.assert_array_equal(graph.constants[conv.inputs[1]], base * 0.5)
    assert graph.tensors[z].shape == (1, 48)
    assert set(graph.tensors) == {x, y, z}


# ---- model identity and naming ---------------------------------------------------------------------------


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    path = save(chain_model(), tmp_path)
    assert load_graph(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_nameless_and_duplicate_nodes_get_unique_names(tmp_path: Path) -> None:
    model = chain_model(channels=(4, 4, 4), act=None)
    nodes = model.graph.node
    nodes[0].name = ""
    nodes[1].name = nodes[2].name = "same"
    graph = load_graph(save(model, tmp_path), rewrites=())
    names = [op.name for op in graph.ops]
    assert len(set(names)) == 3 and all(names)


# ---- opaque operators ------------------------------------------------------------------------------------


def opaque_model(declare_shape: bool) -> onnx.ModelProto:
    b = GraphBuilder("opaque")
    x = b.conv(b.input((1, 4, 6, 6)), 4)
    y = b.opaque([x], (1, 6, 6, 6), declare_shape=declare_shape)
    b.output(b.conv(y, 4))
    return b.build()


def test_unknown_operator_with_static_shape_is_planned_as_an_opaque_op(tmp_path: Path) -> None:
    graph = load_graph(save(opaque_model(declare_shape=True), tmp_path))
    mystery = next(op for op in graph.ops if op.op_type == "Mystery")
    assert not mystery.view
    assert graph.tensors[mystery.outputs[0]].shape == (1, 6, 6, 6)
    assert graph.tensors[mystery.outputs[0]].nbytes == 4 * 6 * 6 * 6


def test_unknown_operator_without_shape_is_refused(tmp_path: Path) -> None:
    message = refusal(save(opaque_model(declare_shape=False), tmp_path))
    assert "cannot infer the shape" in message and "Mystery" in message


def test_runtime_computed_shape_is_refused(tmp_path: Path) -> None:
    """Reshape to a shape given as a model input: the output shape is not static."""
    b = GraphBuilder("runtime_shape")
    x = b.conv(b.input((1, 4, 4, 4)), 4)
    b.inputs.append(helper.make_tensor_value_info("target_shape", TensorProto.INT64, [2]))
    y = b.node("Reshape", [x, "target_shape"])
    b.declare(y, (1, 64))
    b.dynamic = True  # the declared output has only its rank
    b.output(y)
    message = refusal(save(b.build(), tmp_path))
    assert "Reshape" in message and "dynamic shape" in message


# ---- dynamic inputs and --input-shape --------------------------------------------------------------------


@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
def test_dynamic_input_is_refused_with_a_fix_then_input_shape_fixes_it(qdq: bool, tmp_path: Path) -> None:
    path = save(dynamic_input_model(qdq=qdq), tmp_path)
    message = refusal(path)
    assert "image" in message and "--input-shape image=" in message
    graph = load_graph(path, input_shapes={"image": (1, 3, 10, 12)})
    assert graph.tensors["image"].shape == (1, 3, 10, 12)
    assert [graph.tensors[t].shape for t in graph.outputs] == [(1, 4, 10, 12)]


def test_input_shape_overrides_a_static_input_and_reinfers_every_shape(tmp_path: Path) -> None:
    path = save(chain_model(channels=(4, 8), hw=8), tmp_path)
    graph = load_graph(path, input_shapes={"input_1": (1, 3, 16, 4)})
    assert [graph.tensors[t].shape for t in graph.outputs] == [(1, 8, 16, 4)]


def test_input_shape_naming_an_unknown_input_is_refused(tmp_path: Path) -> None:
    message = refusal(save(dynamic_input_model(), tmp_path), input_shapes={"img": (1, 3, 8, 8)})
    assert "img" in message and "image" in message


@pytest.mark.parametrize(
    "specs, expected",
    [
        (["image=1x96x96x3"], {"image": (1, 96, 96, 3)}),
        (["a=1,3,8,8", "b:0=2x4"], {"a": (1, 3, 8, 8), "b:0": (2, 4)}),
        ([" x=7 "], {"x": (7,)}),
        (None, {}),
    ],
)
def test_parse_input_shapes(specs: list[str] | None, expected: dict) -> None:
    assert parse_input_shapes(specs) == expected


@pytest.mark.parametrize("spec", ["image", "image=", "=1x3", "image=1x3x", "image=1xHx3", "image=-1x3"])
def test_parse_input_shapes_refuses_malformed_specs(spec: str) -> None:
    with pytest.raises(BadInputError, match="--input-shape"):
        parse_input_shapes([spec])


# ---- files that are not usable models --------------------------------------------------------------------


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert "no such file" in refusal(tmp_path / "absent.onnx")


def test_directory_is_refused(tmp_path: Path) -> None:
    assert "directory" in refusal(tmp_path)


@needs_models
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_model_is_refused(fraction: float, tmp_path: Path) -> None:
    data = FLOAT_MODELS[0].read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert "truncated.onnx" in refusal(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"this is a text file, not a model\n", np.random.default_rng(0).bytes(4096), b"\x08\x07"],
    ids=["empty", "text", "random", "model-header-only"],
)
def test_non_onnx_file_is_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    assert "model.onnx" in refusal(path)


def test_invalid_graph_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder("dangling")
    b.input((1, 2, 2, 2))
    y = b.node("Relu", ["undefined_tensor"])
    b.declare(y, (1, 2, 2, 2))
    b.output(y)
    assert "not a valid ONNX model" in refusal(save(b.build(), tmp_path))


def test_read_model_returns_a_fully_inferred_model(tmp_path: Path) -> None:
    model, sha = read_model(save(random_dag_model(5, 6), tmp_path), {})
    shaped = {vi.name for vi in list(model.graph.value_info) + list(model.graph.output)}
    for node in model.graph.node:
        assert set(node.output) <= shaped
    assert len(sha) == 64
