"""`pexcp fit`: resizing fully convolutional models, and the search for the largest resolution that fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from backend_helpers import check_project, needs_cc
from conftest import SHARED_MODELS, Cli
from onnx_builders import GraphBuilder, save
from pexcp.errors import BadInputError
from pexcp.importer.resize import resize
from pexcp.fit import fit
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams
from test_cli import assert_one_line_error

OPTIONS = SolveOptions(timeout=5, workers=1)


def pooled_net(pool_window: bool = True, qdq: bool = False) -> onnx.ModelProto:
    """Conv body, a pool whose window is its whole 8x8 input (or a Reshape that fixes the spatial size)."""
    b = GraphBuilder("pooled", qdq=qdq)
    x = b.conv(b.input((1, 3, 16, 16)), 8, stride=2, act="relu")
    x = b.conv(x, 16, act="relu")
    if pool_window:
        x = b.flatten(b.avgpool(x, kernel=8, stride=8))
    else:
        x = b.reshape(x, (1, 16 * 8 * 8))
    b.output(b.gemm(x, 4))
    return b.build()


def _run(model: onnx.ModelProto | Path, x: np.ndarray) -> np.ndarray:
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_full_window_pool_becomes_global_and_computes_the_same(tmp_path: Path) -> None:
    path = save(pooled_net(), tmp_path)
    native, pools = resize(path, 16, 16)
    assert pools and [n.op_type for n in native.graph.node if n.name in pools] == ["GlobalAveragePool"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(_run(native, x), _run(path, x), rtol=1e-5, atol=1e-6)
    bigger, _ = resize(path, 40, 24)
    onnx.checker.check_model(bigger)
    y = _run(bigger, np.zeros((1, 3, 40, 24), np.float32))
    assert y.shape == (1, 4)


def test_models_whose_shapes_cannot_follow_the_input_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot resize"):
        resize(save(pooled_net(pool_window=False), tmp_path), 24, 24)


def test_fit_finds_the_largest_resolution_exhaustive_search_finds(tmp_path: Path) -> None:
    path = save(pooled_net(), tmp_path)
    arenas = {}
    for h in range(8, 65, 8):  # brute force: plan every resolution
        model, _ = resize(path, h, h)
        onnx.save(model, str(tmp_path / f"r{h}.onnx"))
        arenas[h] = solve(tmp_path / f"r{h}.onnx", "cpsat", OPTIONS)[1].arena_bytes
    assert list(arenas.values()) == sorted(arenas.values())  # the search's premise, on this model
    for budget in (arenas[16], arenas[24] + 1, arenas[56] - 1, arenas[64]):
        result, model = fit(path, budget, step=8, options=OPTIONS)
        expected = max(h for h, a in arenas.items() if a <= budget)
        assert result.best is not None and result.best.h == expected, (budget, result.points)
        assert result.best.arena == arenas[expected]
        assert model is not None and model.graph.input[0].type.tensor_type.shape.dim[2].dim_value == expected


def test_fit_cli_writes_the_model_and_plot_and_exits_1_when_nothing_fits(cli: Cli, tmp_path: Path) -> None:
    path = save(pooled_net(), tmp_path)
    out, png = tmp_path / "resized.onnx", tmp_path / "fit.png"
    run = cli("fit", path, "--budget", "40k", "-o", out, "--plot", png, "--timeout", "5", "--keep-aspect")
    assert run.code == 0, run.err
    assert "largest resolution that fits" in run.out
    onnx.checker.check_model(onnx.load(str(out)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    run = cli("fit", path, "--budget", "64", "--timeout", "5")  # progress lines on stderr, then the error
    assert run.code == 1 and run.err.strip().splitlines()[-1].startswith("error: no resolution fits")
    assert "Traceback" not in run.err


def test_fit_cli_takes_solver_switches(cli: Cli, tmp_path: Path) -> None:
    """`--solver` reaches every resolution's plan (row bands here) and the table says so; with another method
    it is refused on one line. Brute force: the answer and the next resolution, planned with the switch."""
    path = save(pooled_net(), tmp_path)
    run = cli("fit", path, "--budget", "40k", "--timeout", "5", "--solver", "bands=true")
    assert run.code == 0, run.err
    assert "solver switches bands=true" in " ".join(run.out.split())
    h = int(run.out.split("largest resolution that fits: ")[1].split("x")[0])
    arenas = {}
    for size in (h, h + 8):
        model, _ = resize(path, size, size)
        onnx.save(model, str(tmp_path / f"r{size}.onnx"))
        options = SolveOptions(timeout=5, params=SolverParams(bands=True))
        arenas[size] = solve(tmp_path / f"r{size}.onnx", "cpsat", options)[1].arena_bytes
    assert arenas[h] <= 40 * 1024 < arenas[h + 8]
    refused = cli("fit", path, "--budget", "40k", "--method", "reorder", "--solver", "bands=true")
    assert "apply to method cpsat" in assert_one_line_error(refused)


@pytest.mark.slow
def test_fit_cli_counts_int8_io_when_asked(cli: Cli, tmp_path: Path) -> None:
    """--io int8 plans each resolution without the float input and output (te_mcunet_vww: float I/O around
    an int8 body). Brute force: the resolutions either side of the answer, planned with io=int8."""
    path = SHARED_MODELS / "onnx_int8" / "te_mcunet_vww.onnx"
    run = cli("fit", path, "--budget", "64k", "--io", "int8", "--timeout", "10")
    assert run.code == 0, run.err
    assert "model int8 input" in run.out
    h = int(run.out.split("largest resolution that fits: ")[1].split("x")[0])
    arenas = {}
    for size in (h, h + 8):
        model, _ = resize(path, size, size)
        onnx.save(model, str(tmp_path / f"r{size}.onnx"))
        plan = solve(tmp_path / f"r{size}.onnx", "cpsat", SolveOptions(timeout=10, io="int8"))[1]
        assert plan.status == "optimal"
        arenas[size] = plan.arena_bytes
    assert arenas[h] <= 64 * 1024 < arenas[h + 8]
    float_io = cli("fit", path, "--budget", "64k", "--timeout", "10")
    assert f"largest resolution that fits: {h}x{h}" not in float_io.out  # the float input costs rows


def test_fit_cli_refuses_models_it_cannot_resize_on_one_line(cli: Cli, tmp_path: Path) -> None:
    fixed = save(pooled_net(pool_window=False), tmp_path)
    assert "cannot resize" in assert_one_line_error(cli("fit", fixed, "--budget", "64k"))
    ad = SHARED_MODELS / "onnx" / "ad01_fp32.onnx"
    assert "not a static 4-D image" in assert_one_line_error(cli("fit", ad, "--budget", "64k"))


@needs_cc
@pytest.mark.slow
def test_resized_vww_compiles_and_matches_onnxruntime(cli: Cli, tmp_path: Path) -> None:
    model, _ = resize(SHARED_MODELS / "onnx" / "vww_96_float.onnx", 112, 128)
    path = tmp_path / "vww_112x128.onnx"
    onnx.save(model, str(path))
    run = cli("compile", path, "-o", tmp_path / "c", "--harness", "--timeout", "20")
    assert run.code == 0, run.err
    check_project(path, tmp_path / "c", runs=2)
