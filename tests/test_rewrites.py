"""The optional rewrites: each one changes memory legitimately, keeps the numbers, and can be turned off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from onnx_builders import GraphBuilder, mbconv_chain, random_dag_model, save
from pexcp.analysis.liveness import lifetimes, peak
from pexcp.errors import BadInputError
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph, Op


def run_onnx(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString()).run(None, feeds)


def conv_as_model(graph: Graph, op: Op, x_shape: tuple[int, ...]) -> onnx.ModelProto:
    """A one-node model computing `op` (a Conv, with its epilogue) from the IR's own weights and attributes."""
    inits = [numpy_helper.from_array(graph.constants[c], c) for c in op.inputs[1:] if c]
    nodes = [helper.make_node("Conv", ["x"] + [c for c in op.inputs[1:] if c], ["y0"], **op.attrs)]
    for i, e in enumerate(op.epilogue):
        extra = [c for c in e.inputs[1:] if c]
        inits += [numpy_helper.from_array(graph.constants[c], c) for c in extra]
        nodes.append(helper.make_node(e.op_type, [f"y{i}"] + extra, [f"y{i + 1}"], **e.attrs))
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x_shape))
    y = helper.make_tensor_value_info(f"y{len(op.epilogue)}", onnx.TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "op", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])


def ops_of(graph: Graph, op_type: str) -> list[Op]:
    return [op for op in graph.ops if op.op_type == op_type]


def without(name: str) -> tuple[str, ...]:
    return tuple(r for r in ALL_REWRITES if r != name)


# ---- switching rewrites ----------------------------------------------------------------------------------


def test_unknown_rewrite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="unknown rewrite"):
        load_graph(save(mbconv_chain(), tmp_path), rewrites=("views", "fold_everything"))


@pytest.mark.parametrize("name", ALL_REWRITES)
def test_each_rewrite_can_be_turned_off(name: str, tmp_path: Path) -> None:
    graph = load_graph(save(mbconv_chain(batchnorm=True, explicit_pad=True, head=True), tmp_path), rewrites=without(name))
    assert graph.rewrites == list(without(name))


def test_no_rewrites_runs_every_pad_and_batchnorm_as_its_own_op(tmp_path: Path) -> None:
    path = save(mbconv_chain(batchnorm=True, explicit_pad=True, head=True), tmp_path)
    graph = load_graph(path, rewrites=())
    assert graph.rewrites == [] and graph.input_layouts == {}
    assert not any(op.view for op in graph.ops)
    cores = {op.core.name for op in graph.ops}
    for node in onnx.load(str(path)).graph.node:
        if node.op_type in ("Pad", "BatchNormalization", "Flatten"):
            assert node.name in cores


@pytest.mark.parametrize("seed", range(8))
def test_rewrites_never_increase_the_file_order_load(seed: int, tmp_path: Path) -> None:
    path = save(random_dag_model(seed, 10, qdq=seed % 2 == 1), tmp_path)

    def file_order_load(rewrites: tuple[str, ...]) -> int:
        graph = load_graph(path, rewrites=rewrites)
        return peak(lifetimes(graph, graph.ops), len(graph.ops))[0]

    assert file_order_load(ALL_REWRITES) <= file_order_load(())


# ---- bn ------------------------------------------------------------------------------------------------


def conv_bn_model(second_reader: bool = False) -> tuple[onnx.ModelProto, str]:
    b = GraphBuilder("conv_bn", seed=1)
    x = b.input((1, 3, 6, 6), name="x")
    y = b.conv(x, 5, bias=True)
    z = b.batchnorm(y)
    b.output(b.relu(z))
    if second_reader:
        b.output(y)
    return b.build(), z


def test_batchnorm_is_folded_into_the_preceding_conv(tmp_path: Path) -> None:
    model, bn_out = conv_bn_model()
    graph = load_graph(save(model, tmp_path), rewrites=("bn",))
    (conv,) = ops_of(graph, "Conv")
    assert [op.op_type for op in graph.ops] == ["Conv"]
    assert bn_out not in graph.tensors and len(graph.tensors) == 2
    assert [e.op_type for e in conv.epilogue] == ["Relu"]  # the BN's fused activation moves with it
    assert any(n.startswith("batchnormalization") for n in conv.nodes)
    x = np.random.default_rng(0).normal(size=(1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(conv_as_model(graph, conv, x.shape), {"x": x})[0],
                               run_onnx(model, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_batchnorm_stays_when_turned_off_or_when_the_conv_output_has_another_reader(tmp_path: Path) -> None:
    model, _ = conv_bn_model()
    assert len(ops_of(load_graph(save(model, tmp_path, "a"), rewrites=without("bn")), "BatchNormalization")) == 1
    shared, _ = conv_bn_model(second_reader=True)
    assert len(ops_of(load_graph(save(shared, tmp_path, "b")), "BatchNormalization")) == 1


def test_batchnorm_after_a_non_conv_stays(tmp_path: Path) -> None:
    b = GraphBuilder("pool_bn")
    b.output(b.batchnorm(b.maxpool(b.input((1, 4, 6, 6)))))
    assert len(ops_of(load_graph(save(b.build(), tmp_path)), "BatchNormalization")) == 1


# ---- pad -----------------------------------------------------------------------------------------------


def pad_model(consumer: str = "conv", value: float = 0.0, pads: tuple[int, ...] = (0, 0, 1, 2, 0, 0, 2, 0),
              qdq: bool = False, mode: str = "constant", count_include_pad: int = 1) -> onnx.ModelProto:
    b = GraphBuilder("pad", qdq=qdq, seed=2)
    x = b.input((1, 3, 6, 6), name="x")
    padded = b.pad(x, list(pads), value=value, mode=mode)
    if consumer == "conv":
        y = b.conv(padded, 4, kernel=3, pads=[1, 0, 0, 1])
    elif consumer == "maxpool":
        y = b.maxpool(padded, kernel=2, stride=1)
    else:
        y = b.avgpool(padded, kernel=2, stride=1, count_include_pad=count_include_pad)
    b.output(y)
    return b.build()


def test_zero_pad_is_folded_into_the_conv_padding(tmp_path: Path) -> None:
    model = pad_model()
    graph = load_graph(save(model, tmp_path), rewrites=("pad",))
    assert not ops_of(graph, "Pad")
    (conv,) = graph.ops
    assert conv.attrs["pads"] == [1 + 1, 0 + 2, 0 + 2, 1 + 0]  # conv's own + pad's (top, left, bottom, right)
    assert graph.activation_inputs(conv) == ["x"]
    assert len(graph.tensors) == 2  # the padded copy is gone
    assert any(n.startswith("pad") for n in conv.nodes)
    x = np.random.default_rng(0).normal(size=(1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(conv_as_model(graph, conv, x.shape), {"x": x})[0],
                               run_onnx(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_zero_pad_is_folded_in_a_qdq_model(tmp_path: Path) -> None:
    graph = load_graph(save(pad_model(qdq=True), tmp_path), rewrites=("pad",))
    assert not ops_of(graph, "Pad")
    assert ops_of(graph, "Conv")[0].attrs["pads"] == [2, 2, 2, 1]


def test_pad_into_average_pool_counting_pads_is_folded(tmp_path: Path) -> None:
    graph = load_graph(save(pad_model("avgpool", count_include_pad=1), tmp_path))
    assert [op.op_type for op in graph.ops] == ["AveragePool"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"value": 1.0},  # not zero
        {"consumer": "maxpool"},  # max pooling pads with -inf, not zeros
        {"consumer": "avgpool", "count_include_pad": 0},  # the average would change
        {"pads": (0, 1, 0, 0, 0, 1, 0, 0)},  # pads channels
        {"mode": "reflect"},
    ],
    ids=["nonzero", "maxpool", "avgpool-excluding-pads", "channel-axis", "reflect"],
)
def test_pad_that_cannot_be_folded_stays(kwargs: dict, tmp_path: Path) -> None:
    graph = load_graph(save(pad_model(**kwargs), tmp_path))
    assert len(ops_of(graph, "Pad")) == 1


def test_pad_with_two_readers_stays(tmp_path: Path) -> None:
    b = GraphBuilder("pad2")
    padded = b.spatial_pad(b.input((1, 3, 6, 6)), 1, 1, 1, 1)
    b.output(b.conv(padded, 4, pads=[0, 0, 0, 0]), b.conv(padded, 4, pads=[0, 0, 0, 0]))
    graph = load_graph(save(b.build(), tmp_path))
    assert len(ops_of(graph, "Pad")) == 1


def test_pad_stays_when_turned_off(tmp_path: Path) -> None:
    assert len(ops_of(load_graph(save(pad_model(), tmp_path), rewrites=without("pad")), "Pad")) == 1


# ---- views ---------------------------------------------------------------------------------------------


VIEW_LAYERS = {
    "Reshape": lambda b, x: b.reshape(x, (1, 2, 32)),
    "Flatten": lambda b, x: b.flatten(x),
    "Squeeze": lambda b, x: b.squeeze(b.maxpool(x, kernel=8, stride=8), [2, 3]),
    "Unsqueeze": lambda b, x: b.unsqueeze(x, [0]),
    "Identity": lambda b, x: b.identity(x),
}


@pytest.mark.parametrize("qdq", [False, True], ids=["float", "qdq"])
@pytest.mark.parametrize("kind", VIEW_LAYERS)
def test_view_ops_alias_their_input(kind: str, qdq: bool, tmp_path: Path) -> None:
    b = GraphBuilder("view", qdq=qdq)
    x = b.conv(b.input((1, 4, 4, 4)), 4)
    v = VIEW_LAYERS[kind](b, x)
    b.output(b.relu(v))
    path = save(b.build(), tmp_path)
    on, off = load_graph(path), load_graph(path, rewrites=without("views"))
    (view,) = ops_of(on, kind)
    assert view.view
    assert on.storage_root(view.outputs[0]) == on.activation_inputs(view)[0]
    assert not ops_of(off, kind)[0].view
    owned_on = {life.tensor: life.bytes for life in lifetimes(on, on.ops)}
    owned_off = {life.tensor: life.bytes for life in lifetimes(off, off.ops)}
    assert owned_on[view.outputs[0]] == 0 < owned_off[view.outputs[0]] == off.tensors[view.outputs[0]].nbytes


# ---- layout --------------------------------------------------------------------------------------------


def nhwc_input_model(pads: tuple[int, int, int, int] | None = None, extra_reader: bool = False) -> onnx.ModelProto:
    """NHWC model input -> [Pad (NHWC)] -> Transpose to NCHW -> Conv: how tf2onnx converts a TFLite model."""
    b = GraphBuilder("nhwc", seed=3)
    x = b.input((1, 6, 5, 3), name="x")
    t = x
    if pads is not None:
        top, left, bottom, right = pads
        t = b.pad(x, [0, top, left, 0, 0, bottom, right, 0])
    nchw = b.transpose(t, (0, 3, 1, 2))
    b.output(b.conv(nchw, 4, pads=[0, 0, 0, 0] if pads else None))
    if extra_reader:
        b.output(b.relu(x))
    return b.build()


def test_input_layout_transpose_is_folded_into_the_input(tmp_path: Path) -> None:
    graph = load_graph(save(nhwc_input_model(), tmp_path), rewrites=("layout",))
    (transpose,) = ops_of(graph, "Transpose")
    assert transpose.view
    assert graph.input_layouts == {"x": (0, 3, 1, 2)}
    assert graph.tensors["x"].shape == (1, 3, 6, 5)  # stored as the conv reads it
    off = load_graph(save(nhwc_input_model(), tmp_path), rewrites=())
    assert not ops_of(off, "Transpose")[0].view and off.tensors["x"].shape == (1, 6, 5, 3)


def test_input_layout_is_folded_through_a_pad_whose_pads_follow_the_permutation(tmp_path: Path) -> None:
    model = nhwc_input_model(pads=(1, 2, 0, 1))
    graph = load_graph(save(model, tmp_path))
    assert graph.input_layouts == {"x": (0, 3, 1, 2)}
    assert not ops_of(graph, "Pad")  # then folded into the conv
    (conv,) = ops_of(graph, "Conv")
    assert conv.attrs["pads"] == [1, 2, 0, 1]
    x = np.random.default_rng(1).normal(size=(1, 6, 5, 3)).astype(np.float32)
    got = run_onnx(conv_as_model(graph, conv, (1, 3, 6, 5)), {"x": x.transpose(0, 3, 1, 2)})[0]
    np.testing.assert_allclose(got, run_onnx(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


def test_input_layout_is_not_folded_when_the_input_has_another_reader(tmp_path: Path) -> None:
    graph = load_graph(save(nhwc_input_model(extra_reader=True), tmp_path))
    assert graph.input_layouts == {}
    assert not ops_of(graph, "Transpose")[0].view


def test_transpose_moving_only_unit_dims_is_a_view(tmp_path: Path) -> None:
    """[1, C, 1, 1] -> [1, 1, 1, C] before the classifier, as in the float shared models."""
    b = GraphBuilder("head")
    pooled = b.global_avgpool(b.conv(b.input((1, 3, 4, 4)), 8))
    b.output(b.gemm(b.reshape(b.transpose(pooled, (0, 2, 3, 1)), (1, 8)), 2))
    graph = load_graph(save(b.build(), tmp_path), rewrites=("layout",))
    assert ops_of(graph, "Transpose")[0].view
    assert graph.input_layouts == {}


def test_transpose_that_moves_data_stays_an_op(tmp_path: Path) -> None:
    b = GraphBuilder("mid")
    y = b.transpose(b.conv(b.input((1, 3, 4, 4)), 8), (0, 2, 3, 1))
    b.output(b.relu(y))
    graph = load_graph(save(b.build(), tmp_path))
    (transpose,) = ops_of(graph, "Transpose")
    assert not transpose.view
    assert graph.input_layouts == {}
