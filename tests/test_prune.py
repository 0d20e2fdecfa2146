"""`pexcp prune`: the channel coupling analysis, the model surgery, the co-design model and the command.

Oracles: onnxruntime (the pruned model runs and, where pruned channels are provably dead, computes what the
original computes), the importer (the pruned model's buffer sizes are what the co-design model assumed),
the normal pipeline (the pruned model's plan fits the budget), and brute force over every kept-channel
combination of a small model (the co-design keeps the most importance any fitting combination keeps).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import numpy_helper

from backend_helpers import check_project, needs_cc
from conftest import ALL_MODELS, SHARED_MODELS, Cli, model_id
from onnx_builders import GraphBuilder, chain_model, dynamic_input_model, mbconv_chain, save
from test_cli import assert_one_line_error
from pexcp.analysis.partial import candidate_groups
from pexcp.pipeline import load_for, solve
from pexcp.backends.c.toolchain import build_host, missing_tools, run_host
from pexcp.prune import codesign, fidelity
from pexcp.prune.channels import analyse, load_raw
from pexcp.prune.driver import prune
from pexcp.prune.surgery import prune_model
from pexcp.solvers.options import SolveOptions
from pexcp.units import align_up


def _analyse(model: onnx.ModelProto, tmp_path: Path):
    path = save(model, tmp_path)
    raw = load_raw(path)
    return path, raw, analyse(raw)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _input(model: onnx.ModelProto, seed: int = 0) -> np.ndarray:
    vi = model.graph.input[0]
    shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    x = np.random.default_rng(seed).uniform(-1, 1, shape)
    return (x * 100).astype(dtype) if np.dtype(dtype).kind == "i" else x.astype(dtype)


def _producer_of(model: onnx.ModelProto, value: str) -> str:
    return next(n.name for n in model.graph.node if value in n.output)


# ---- coupling analysis ------------------------------------------------------------------------------------


@pytest.mark.parametrize("qdq", [False, True])
def test_residual_adds_unite_their_inputs_groups_and_depthwise_convs_follow(tmp_path: Path, qdq: bool) -> None:
    _, raw, cmap = _analyse(mbconv_chain(n_blocks=2, channels=8, expand=4, qdq=qdq, head=True), tmp_path)
    sizes = sorted((g.channels, len(g.producers)) for g in cmap.groups.values())
    # the stem and both blocks' projections feed the residual stream: one group of three producers;
    # each block's expansion is a group of its own, its depthwise conv follows it
    assert sizes == [(8, 3), (32, 1), (32, 1)]
    assert len(cmap.regroup) == 2
    (why,) = cmap.fixed.values()  # the Gemm, read by the Softmax that makes the model's output
    assert "Softmax" in why


def test_concat_lays_its_inputs_groups_side_by_side_and_the_consumer_is_cut_per_segment(tmp_path: Path) -> None:
    b = GraphBuilder("concat")
    x = b.input((1, 3, 6, 6))
    a, c = b.conv(x, 4), b.conv(x, 6)
    y = b.concat([a, c])
    b.output(b.conv(y, 5))
    _, raw, cmap = _analyse(b.build(), tmp_path)
    segs = cmap.segments[y]
    assert [n for _, n in segs] == [4, 6] and all(g in cmap.groups for g, _ in segs)
    consumer = [cut for cut in cmap.cuts if cut.axis == 1]
    assert len(consumer) == 1 and consumer[0].segments == segs
    assert [g for g, _ in segs] == [_producer_of(raw, a), _producer_of(raw, c)]


def test_global_pool_flatten_gemm_head_cuts_the_gemm_rows(tmp_path: Path) -> None:
    b = GraphBuilder("head")
    x = b.conv(b.input((1, 3, 8, 8)), 12, act="relu")
    y = b.gemm(b.flatten(b.global_avgpool(x)), 3)
    b.output(y)
    _, raw, cmap = _analyse(b.build(), tmp_path)
    (g,) = cmap.groups.values()
    assert g.channels == 12
    gemm = next(n for n in raw.graph.node if n.op_type == "Gemm")
    assert any(c.node == gemm.name and c.index == 1 and c.axis == 1 for c in cmap.cuts)  # transB=1: rows on axis 1
    assert next(iter(cmap.fixed.values())).startswith("reaches graph output")


def test_ops_pruning_cannot_follow_fix_their_groups_with_the_reason(tmp_path: Path) -> None:
    b = GraphBuilder("opaque")
    x = b.conv(b.input((1, 3, 4, 4)), 6)
    t = b.transpose(x, (0, 2, 3, 1))  # channels leave axis 1 on a non-vector tensor
    b.output(b.conv(b.input((1, 3, 4, 4)), 4), t)
    _, raw, cmap = _analyse(b.build(), tmp_path)
    assert not cmap.groups
    assert any("Transpose" in why for why in cmap.fixed.values())


def test_importance_is_normalised_per_layer_and_summed_over_a_group(tmp_path: Path) -> None:
    _, raw, cmap = _analyse(mbconv_chain(n_blocks=1, channels=4, expand=2, head=True), tmp_path)
    stream = next(g for g in cmap.groups.values() if len(g.producers) == 2)
    assert stream.importance(stream.channels) == pytest.approx(2.0)  # two producers, each weighing 1
    inits = {i.name: numpy_helper.to_array(i) for i in raw.graph.initializer}
    expected = np.zeros(4)
    for p in stream.producers:
        w = inits[next(n for n in raw.graph.node if n.name == p).input[1]]
        l1 = np.abs(w).reshape(4, -1).sum(axis=1)
        expected += l1 / l1.sum()
    np.testing.assert_allclose(stream.scores, expected)
    increments = np.diff([stream.importance(k) for k in range(stream.channels + 1)])
    assert np.all(np.diff(increments) <= 1e-12)  # concave: top-k first


# ---- surgery ----------------------------------------------------------------------------------------------


def _kill(model: onnx.ModelProto, conv: str, channels: list[int], follower: str | None) -> onnx.ModelProto:
    """Zero the weights and bias of `conv`'s output `channels` (and the bias of its depthwise `follower`):
    after ReLU those channels are exactly zero, so pruning them must not change the outputs."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = {i.name: i for i in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    for name, index in [(conv, 1), (conv, 2)] + ([(follower, 2)] if follower else []):
        t = inits[nodes[name].input[index]]
        a = numpy_helper.to_array(t).copy()
        a[channels] = 0
        t.CopyFrom(numpy_helper.from_array(a, t.name))
    return model


def test_pruning_dead_channels_reproduces_the_original_outputs(tmp_path: Path) -> None:
    b = GraphBuilder("dead", seed=3)
    x = b.conv(b.input((1, 3, 8, 8)), 8, act="relu")
    d = b.depthwise(x, act="relu")
    b.output(b.conv(d, 4))
    model = b.build()
    conv, dw = [n.name for n in model.graph.node if n.op_type == "Conv"][:2]
    dead = [1, 5, 6]
    model = _kill(model, conv, dead, dw)
    _, raw, cmap = _analyse(model, tmp_path)
    (g,) = cmap.groups.values()
    kept = {g.id: np.array([c for c in range(8) if c not in dead])}
    pruned = prune_model(raw, cmap, kept)
    onnx.checker.check_model(pruned, full_check=True)
    depthwise = next(n for n in pruned.graph.node if n.name == dw)
    assert next(a.i for a in depthwise.attribute if a.name == "group") == 5
    x = _input(model)
    np.testing.assert_allclose(_run(pruned, x), _run(model, x), rtol=1e-5, atol=1e-5)
    live = prune_model(raw, cmap, {g.id: np.array([0, 1, 2, 3, 4])})  # pruning live channels changes them
    assert not np.allclose(_run(live, x), _run(model, x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("qdq", [False, True])
def test_keeping_every_channel_reproduces_the_model_exactly(tmp_path: Path, qdq: bool) -> None:
    model = mbconv_chain(n_blocks=2, qdq=qdq, head=True, batchnorm=not qdq)
    _, raw, cmap = _analyse(model, tmp_path)
    pruned = prune_model(raw, cmap, {gid: np.arange(g.channels) for gid, g in cmap.groups.items()})
    x = _input(raw)
    assert np.array_equal(_run(pruned, x), _run(raw, x))


def _random_counts(cmap, data) -> dict[str, int]:
    return {gid: data.draw(st.integers(1, g.channels), label=gid) for gid, g in cmap.groups.items()}


def _check_sizes(tmp_path: Path, raw, cmap, counts: dict[str, int], name: str) -> Path:
    """The pruned model is valid, runs, and its buffers have the sizes the co-design model assumes."""
    pruned = prune_model(raw, cmap, {gid: g.kept(counts[gid]) for gid, g in cmap.groups.items()})
    onnx.checker.check_model(pruned, full_check=True)
    out = _run(pruned, _input(raw))
    assert out.shape == _run(raw, _input(raw)).shape
    path = tmp_path / f"{name}.onnx"
    onnx.save(pruned, str(path))
    original = load_for(Path(tmp_path / "original.onnx"), "cpsat", SolveOptions())
    after = load_for(path, "cpsat", SolveOptions())
    for t, tensor in after.tensors.items():
        predicted = codesign.tensor_bytes(original, cmap, t).at(counts)
        assert align_up(predicted) == align_up(tensor.nbytes), t
    return path


def prunable_model(seed: int, qdq: bool = False, blocks: int = 3) -> onnx.ModelProto:
    """A random small CNN with a global-pool + Gemm head, so its body is prunable: inverted residual blocks
    (expand, depthwise, project, residual Add), channel Concats, conv + BatchNormalization + ReLU, explicit
    Pads before depthwise convs, max pools."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"prunable_{seed}", qdq=qdq, seed=seed)
    x = b.conv(b.input((1, 3, 8, 8)), int(rng.integers(2, 7)), act="relu")
    for _ in range(blocks):
        kind = rng.choice(["mbconv", "concat", "bn", "pool", "pad_dw"] if not qdq else ["mbconv", "concat", "pool", "pad_dw"])
        c = b.channels(x)
        if kind == "mbconv":
            d = b.depthwise(b.conv(x, c * int(rng.integers(2, 4)), 1, act="relu6"), act="relu6")
            x = b.add(x, b.conv(d, c, 1))
        elif kind == "concat":
            x = b.concat([b.conv(x, int(rng.integers(2, 5)), 1, act="relu"), b.conv(x, int(rng.integers(2, 5)), 3)])
        elif kind == "bn":
            x = b.relu(b.batchnorm(b.conv(x, int(rng.integers(2, 7)), bias=False)))
        elif kind == "pool" and b.shape(x)[2] >= 4:
            x = b.maxpool(x)
        else:
            x = b.depthwise(b.spatial_pad(x, 1, 1, 1, 1), pads=[0, 0, 0, 0], act="relu")
    b.output(b.gemm(b.flatten(b.global_avgpool(x)), 3))
    return b.build()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), qdq=st.booleans(), data=st.data())
def test_random_models_pruned_at_random_stay_valid_and_match_the_size_model(tmp_path: Path, seed: int, qdq: bool, data) -> None:
    path = save(prunable_model(seed, qdq), tmp_path, "original")
    raw = load_raw(path)
    cmap = analyse(raw)
    assert cmap.groups
    _check_sizes(tmp_path, raw, cmap, _random_counts(cmap, data), "pruned")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), qdq=st.booleans(), share=st.floats(0.0, 1.0))
def test_random_models_pruned_to_a_budget_fit_it(tmp_path: Path, seed: int, qdq: bool, share: float) -> None:
    path = save(prunable_model(seed, qdq), tmp_path, "original")
    raw = load_raw(path)
    cmap = analyse(raw)
    k_min = {gid: codesign.k_floor(g.channels, 0.5) for gid, g in cmap.groups.items()}
    most = tmp_path / "most.onnx"
    onnx.save(prune_model(raw, cmap, {g: cmap.groups[g].kept(k) for g, k in k_min.items()}), str(most))
    low = solve(most, "cpsat", SolveOptions(timeout=10))[1].arena_bytes
    high = solve(path, "cpsat", SolveOptions(timeout=10))[1].arena_bytes
    budget = int(low + share * (high - low))
    result, pruned = prune(path, budget, 0.5, SolveOptions(timeout=10), measure_fidelity=False)
    assert result.arena[1] <= budget and result.plan.arena_bytes <= budget
    assert all(layer.after >= codesign.k_floor(layer.before, 0.5) for layer in result.layers)
    assert _run(pruned, _input(raw)).shape == _run(raw, _input(raw)).shape


# ---- co-design ----------------------------------------------------------------------------------------------


def _brute_force(tmp_path: Path, path: Path, raw, cmap, k_min: dict[str, int], budget: int) -> float:
    best = 0.0
    ids = list(cmap.groups)
    for ks in itertools.product(*[range(k_min[g], cmap.groups[g].channels + 1) for g in ids]):
        counts = dict(zip(ids, ks))
        pruned = prune_model(raw, cmap, {g: cmap.groups[g].kept(k) for g, k in counts.items()})
        p = tmp_path / "candidate.onnx"
        onnx.save(pruned, str(p))
        _, plan = solve(p, "cpsat", SolveOptions(timeout=10))
        assert plan.status == "optimal"
        if plan.arena_bytes <= budget:
            best = max(best, sum(cmap.groups[g].importance(k) for g, k in counts.items()))
    return best


@pytest.mark.parametrize("budget", [1400, 1900])
def test_codesign_keeps_the_most_importance_that_fits_as_brute_force_finds(tmp_path: Path, budget: int) -> None:
    path = save(chain_model(channels=(4, 6, 2), hw=4, in_channels=2), tmp_path, "original")
    raw = load_raw(path)
    cmap = analyse(raw)
    assert sorted(g.channels for g in cmap.groups.values()) == [4, 6]
    k_min = {gid: codesign.k_floor(g.channels, 0.5) for gid, g in cmap.groups.items()}
    graph = load_for(path, "cpsat", SolveOptions())
    groups = {g.id: g for g in candidate_groups(graph)}
    decision = codesign.solve(graph, groups, cmap, k_min, budget, timeout=20)
    expected = _brute_force(tmp_path, path, raw, cmap, k_min, budget)
    assert expected > 0
    assert decision.status == "optimal"
    assert decision.importance == pytest.approx(expected, abs=1e-4)


def test_codesign_proves_a_budget_below_the_most_pruned_arena_infeasible(tmp_path: Path) -> None:
    path = save(chain_model(channels=(4, 6, 2), hw=4, in_channels=2), tmp_path, "original")
    raw = load_raw(path)
    cmap = analyse(raw)
    k_min = {gid: codesign.k_floor(g.channels, 0.5) for gid, g in cmap.groups.items()}
    most = prune_model(raw, cmap, {g: cmap.groups[g].kept(k) for g, k in k_min.items()})
    onnx.save(most, str(tmp_path / "most.onnx"))
    _, plan = solve(tmp_path / "most.onnx", "cpsat", SolveOptions(timeout=10))
    graph = load_for(path, "cpsat", SolveOptions())
    groups = {g.id: g for g in candidate_groups(graph)}
    assert codesign.solve(graph, groups, cmap, k_min, plan.arena_bytes - 4, timeout=10).status == "infeasible"
    assert codesign.solve(graph, groups, cmap, k_min, plan.arena_bytes, timeout=10).status in ("optimal", "feasible")


def test_max_drop_floor() -> None:
    assert [codesign.k_floor(c, 0.5) for c in (1, 2, 3, 8, 9)] == [1, 1, 2, 4, 5]
    assert codesign.k_floor(10, 0.0) == 10 and codesign.k_floor(10, 0.99) == 1


# ---- the command ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mbnet(tmp_path_factory) -> Path:
    return save(mbconv_chain(n_blocks=2, channels=8, expand=4, hw=8, head=True), tmp_path_factory.mktemp("prune"), "mb")


def test_prune_cli_writes_a_model_that_fits_and_its_kept_channels(cli: Cli, mbnet: Path, tmp_path: Path) -> None:
    _, plan = solve(mbnet, "cpsat", SolveOptions(timeout=10))
    budget = plan.arena_bytes * 3 // 4
    out, kept, report = tmp_path / "pruned.onnx", tmp_path / "kept.json", tmp_path / "report.json"
    run = cli("prune", mbnet, "--budget", str(budget), "-o", out, "--kept", kept, "--json", report, "--timeout", "10")
    assert run.code == 0, run.err
    assert "fine-tune" in run.out and "top-1 agreement" in run.out
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    _, after = solve(out, "cpsat", SolveOptions(timeout=10, budget=budget))
    assert after.arena_bytes <= budget
    data = json.loads(report.read_text())
    assert data["arena_bytes"]["after"] <= budget < data["arena_bytes"]["before"]
    assert data["macs"]["after"] < data["macs"]["before"]
    assert {f["inputs"] for f in data["fidelity"]} >= {"photos with people", "photos without people"}
    layers = json.loads(kept.read_text())["layers"]
    raw = onnx.load(str(out))
    weights = {i.name: i for i in raw.graph.initializer}
    for node in raw.graph.node:  # every producer keeps as many output channels as kept.json lists
        if node.name in layers:
            assert weights[node.input[1]].dims[0] == len(layers[node.name])


def test_prune_cli_exits_1_with_the_smallest_arena_and_bottleneck(cli: Cli, mbnet: Path) -> None:
    run = cli("prune", mbnet, "--budget", "256", "--timeout", "5")  # progress lines on stderr, then the error
    assert run.code == 1 and "Traceback" not in run.err
    line = run.err.strip().splitlines()[-1]
    assert line.startswith("error: budget 256 B cannot be met") and "smallest arena reachable" in line
    assert "bottleneck: step" in line


@pytest.mark.parametrize("args, message", [
    (["--max-drop", "1.5"], "--max-drop"),
    (["--budget", "lots"], "cannot read size"),
    (["-o", "pruned.txt"], "expected a .onnx file"),
    (["--input-range", "1:0"], "--input-range"),
])
def test_prune_cli_bad_options_are_one_line_exit_2(cli: Cli, mbnet: Path, args: list[str], message: str) -> None:
    base = ["prune", mbnet, "--budget", "4k"]
    if args[0] == "--budget":
        base = ["prune", mbnet]
    assert message in assert_one_line_error(cli(*base, *args))


def test_prune_cli_missing_model(cli: Cli, tmp_path: Path) -> None:
    assert "no such file" in assert_one_line_error(cli("prune", tmp_path / "none.onnx", "--budget", "4k"))


def test_prune_cli_without_scikit_image_is_a_setup_error(cli: Cli, mbnet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_skimage(name, *args, **kwargs):
        if name == "skimage":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skimage)
    line = assert_one_line_error(cli("prune", mbnet, "--budget", "4k"), code=4)
    assert "scikit-image" in line and "pexcp[prune]" in line


# ---- end to end on the shared models ------------------------------------------------------------------------


@needs_cc
@pytest.mark.slow
def test_pruned_mcunet_float_fits_compiles_and_matches_onnxruntime(cli: Cli, tmp_path: Path) -> None:
    model = SHARED_MODELS / "onnx" / "te_mcunet_vww_dequant.onnx"
    budget = 134_400  # 75 % of its unpruned optimum, 179,200 B
    out, report = tmp_path / "pruned.onnx", tmp_path / "report.json"
    run = cli("prune", model, "--budget", str(budget), "-o", out, "--json", report, "--timeout", "30",
              "--input-range", "-1:1")
    assert run.code == 0, run.err
    data = json.loads(report.read_text())
    assert data["arena_bytes"]["before"] == 179_200 and data["arena_bytes"]["after"] <= budget
    run = cli("compile", out, "-o", tmp_path / "c", "--harness", "--budget", str(budget), "--timeout", "30")
    assert run.code == 0, run.err
    check_project(out, tmp_path / "c", runs=2)


@pytest.mark.slow
def test_pruned_vww_int8_fits_and_runs(cli: Cli, tmp_path: Path) -> None:
    model = SHARED_MODELS / "onnx_int8" / "vww_96_int8.onnx"
    budget = 40_000  # between the most pruned arena (36,864 B) and the unpruned one (46,080 B)
    out = tmp_path / "pruned.onnx"
    run = cli("prune", model, "--budget", str(budget), "-o", out, "--timeout", "30")
    assert run.code == 0, run.err
    pruned = onnx.load(str(out))
    onnx.checker.check_model(pruned, full_check=True)
    raw = onnx.load(str(model))
    x = _input(raw)
    assert _run(pruned, x).shape == _run(raw, x).shape
    weights = [i for i in pruned.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert weights, "int8 weights stay int8"
    _, plan = solve(out, "cpsat", SolveOptions(timeout=30, budget=budget))
    assert plan.arena_bytes <= budget
    run = cli("compile", out, "-o", tmp_path / "c", "--harness", "--budget", str(budget), "--timeout", "30")
    assert run.code == 0, run.err
    if missing_tools(("cc", "make")):
        pytest.skip("needs a host C compiler (cc) and make to run the compiled model")
    build_host(tmp_path / "c")
    spec = fidelity.input_spec(raw)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = fidelity.image_inputs(spec, fidelity.PEOPLE + fidelity.OBJECTS) + fidelity.random_inputs(spec, 4)
    for i, x in enumerate(inputs):  # no TFLite file of a pruned model: onnxruntime within 3 steps
        ref = session.run(None, {session.get_inputs()[0].name: x})[0]
        got = run_host(tmp_path / "c", [x], [ref.shape], tag=f"_{i}", output_dtypes=["int8"])[0]
        assert np.abs(got.astype(int) - ref.astype(int)).max() <= 3, (i, got, ref)


def test_prune_cli_fixes_dynamic_inputs_with_input_shape(cli: Cli, tmp_path: Path) -> None:
    path = save(dynamic_input_model(), tmp_path, "dynamic")
    out = tmp_path / "pruned.onnx"
    run = cli("prune", path, "--budget", "1600", "--input-shape", "image=1x3x8x8", "-o", out, "--timeout", "10")
    assert run.code == 0, run.err
    pruned = onnx.load(str(out))
    assert [d.dim_value for d in pruned.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 8, 8]
    _, plan = solve(out, "cpsat", SolveOptions(timeout=10, budget=1600))
    assert plan.arena_bytes <= 1600


@pytest.mark.slow
@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_every_shared_model_pruned_at_random_is_valid_runs_and_matches_the_size_model(model: Path, tmp_path: Path) -> None:
    raw = load_raw(model)
    cmap = analyse(raw)
    assert cmap.groups, "every shared model has prunable layers"
    rng = np.random.default_rng(len(model.stem))
    counts = {gid: int(rng.integers(1, g.channels + 1)) for gid, g in cmap.groups.items()}
    onnx.save(raw, str(tmp_path / "original.onnx"))
    _check_sizes(tmp_path, raw, cmap, counts, "pruned")
