"""Hostile input (issue 13, ../shared/repro "Bad input"): every case ends with one line on stderr and its
documented exit code, never a traceback, never the internal-error exit (5) that marks a pexcp bug; Ctrl-C
ends every command with exit 130; outputs are checked before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pexcp.cli
from conftest import REPO, SHARED_DSA, Cli, Run
from onnx_builders import GraphBuilder, chain_model, dynamic_input_model, save
from pexcp.cli.options import usable_cores
from pexcp.errors import EXIT_INTERNAL, EXIT_INTERRUPTED
from pexcp.importer.onnx_reader import MAX_OPSET, MIN_OPSET
from pexcp.layout.problem import Block, write_csv
from pexcp.plan.plan import Plan

INTERRUPTED = "error: interrupted; nothing was written"


def one_line(run: Run, code: int = 2) -> str:
    """Exit `code` with one `error: ...` line on stderr and no traceback. Returns the line."""
    assert run.code == code, (run.code, run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.err + run.out
    return lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(chain_model(channels=(4, 4), hw=4), tmp_path_factory.mktemp("hostile"), "small")


@pytest.fixture(scope="module")
def small_plan(small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pexcp.pipeline import solve
    from pexcp.solvers.options import SolveOptions

    path = tmp_path_factory.mktemp("plan") / "plan.json"
    solve(small, "reorder", SolveOptions())[1].save(path)
    return path


# ---- usage errors: one line, exit 2 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "-3"], "--timeout"),
        (["--workers", "0"], "--workers"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**63)], "--seed"),
        (["--budget", str(2**63)], "2 GiB"),
        (["--budget", "9" * 400], "2 GiB"),
        (["--frobnicate"], "No such option: --frobnicate"),
        (["--input-shape", "input=1x3x0x4"], "at least 1"),
        (["--input-shape", "input=1x3x99999999999x99999999999"], "2 GiB"),
    ],
)
def test_bad_options_are_one_line_exit_2(args: list[str], expected: str, cli: Cli, small: Path) -> None:
    line = one_line(cli("solve", small, "--method", "reorder", *args))
    assert expected in line
    if not args[0].startswith("--budget") and not args[0].startswith("--input-shape"):  # typer's own checks
        assert line.endswith("(see `pexcp solve --help`)")


@pytest.mark.parametrize("args", [["solve"], ["frobnicate"], ["pack"], ["validate", "x.onnx"]])
def test_missing_arguments_and_unknown_commands(args: list[str], cli: Cli) -> None:
    one_line(cli(*args))


def test_version(cli: Cli) -> None:
    from importlib.metadata import version

    run = cli("--version")
    assert run.code == 0 and run.out.startswith(f"pexcp {version('pexcp')} (ortools ")


def test_workers_are_capped_at_the_cores(cli: Cli, small: Path, tmp_path: Path) -> None:
    run = cli("solve", small, "--workers", "1000", "--timeout", "2", "--json", tmp_path / "p.json")
    assert run.code == 0, run.err
    cores = usable_cores()
    assert f"--workers 1000 capped at {cores}" in run.err
    assert Plan.load(tmp_path / "p.json").extra["workers"] == cores


# ---- the general guard: a bug is one line and exit 5, or a traceback on request ------------------------


def test_an_unexpected_exception_is_one_internal_error_line(cli: Cli, small: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("pexcp.cli.inspect.load_graph", broken)
    run = cli("inspect", small)
    line = one_line(run, EXIT_INTERNAL)
    assert "internal error ZeroDivisionError" in line and "a bug" in line and "PEXCP_TRACEBACK=1" in line
    monkeypatch.setenv("PEXCP_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        pexcp.cli.run(["inspect", str(small)])


# ---- malformed models ---------------------------------------------------------------------------------


def _conv_model(weight: tuple[int, ...] = (4, 3, 3, 3), bias: int | None = 4, group: int = 1,
                opset: int = 13) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(weight).astype(np.float32), "w")]
    inputs = ["x", "w"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.zeros(bias, np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], name="conv", pads=[1, 1, 1, 1], group=group)
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _gemm_model(c: int) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.ones((8, 4), np.float32), "w"),
             numpy_helper.from_array(np.zeros(c, np.float32), "c")]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="fc")], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _qdq_dynamic_scale() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s"], ["q"], name="q"),
         helper.make_node("DequantizeLinear", ["q", "s"], ["y"], name="dq")],
        "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(
    "model, expected",
    [
        (_conv_model(bias=2), "bias shape [2] does not match its 4 output channels"),
        (_conv_model(weight=(4, 2, 3, 3)), "does not fit its 3 input channels"),
        (_conv_model(weight=(4, 1, 3, 3), group=2), "with group 2"),
        (_gemm_model(c=3), "bias C shape [3] does not broadcast to its 1x4 output"),
        (_qdq_dynamic_scale(), "scale 's' is not a constant"),
    ],
    ids=["conv-bias", "conv-weight", "conv-group", "gemm-bias", "qdq-scale"],
)
@pytest.mark.parametrize("command", ["inspect", "compile"])
def test_malformed_weights_are_refused_at_import(model, expected: str, command: str, cli: Cli,
                                                 tmp_path: Path) -> None:
    path = save(model, tmp_path, "bad")
    args = ["-o", tmp_path / "c", "--method", "reorder"] if command == "compile" else []
    assert expected in one_line(cli(command, path, *args))
    assert not (tmp_path / "c").exists()


def _single_node_model(op: str, x: list[int], constants: dict[str, np.ndarray], **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, ["x", *constants], ["y"], name="n", **attrs)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * len(x))],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(
    "model",
    [
        _single_node_model("MatMul", [1, 4], {"w": np.ones((5, 3), np.float32)}),
        _single_node_model("Add", [1, 4], {"w": np.ones(3, np.float32)}),
        _single_node_model("Pad", [1, 4], {"p": np.zeros(3, np.int64)}),
        _single_node_model("BatchNormalization", [1, 4, 2, 2], {k: np.ones(3, np.float32) for k in "sbmv"}),
        _single_node_model("PRelu", [1, 4, 2, 2], {"slope": np.ones(3, np.float32)}),
        _single_node_model("Clip", [1, 4], {"lo": np.zeros(2, np.float32)}),
        _single_node_model("Reshape", [1, 4], {"s": np.array([3, 3], np.int64)}),
    ],
    ids=["matmul", "add", "pad", "batchnorm", "prelu", "clip", "reshape"],
)
def test_other_constants_that_do_not_fit_their_op(model: onnx.ModelProto, cli: Cli, tmp_path: Path) -> None:
    """Refused by pexcp's checks or by onnx's strict shape inference: either way one line, exit 2."""
    assert "node" in one_line(cli("inspect", save(model, tmp_path, "bad")))


def test_an_empty_tensor_is_refused_on_one_line(cli: Cli, tmp_path: Path) -> None:
    """Resize of a 1x1 map by 0.75 floors to 0x0: an empty tensor, not a dynamic shape."""
    model = _single_node_model("Resize", [1, 1, 1, 1], {"roi": np.zeros(0, np.float32),
                                                        "scales": np.array([1, 1, 0.75, 0.75], np.float32)})
    line = one_line(cli("inspect", save(model, tmp_path, "empty")))
    assert "is empty (shape 1x1x0x0)" in line


def test_well_formed_weights_pass(cli: Cli, tmp_path: Path) -> None:
    assert cli("inspect", save(_conv_model(), tmp_path, "good")).code == 0
    assert cli("inspect", save(_gemm_model(c=4), tmp_path, "gemm")).code == 0


@pytest.mark.parametrize("opset", [MIN_OPSET - 1, MAX_OPSET + 1, 99])
def test_opsets_outside_the_supported_range_are_refused(opset: int, cli: Cli, tmp_path: Path) -> None:
    path = save(_conv_model(opset=opset), tmp_path, "old")
    line = one_line(cli("solve", path, "--method", "reorder"))
    assert f"opset {opset}" in line and f"opsets {MIN_OPSET} to {MAX_OPSET}" in line


def test_external_data_is_found_next_to_the_model(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    model = _conv_model()
    weights = numpy_helper.to_array(model.graph.initializer[0]).ravel()
    onnx.save(model, str(folder / "ext.onnx"), save_as_external_data=True, location="ext.data", size_threshold=0)
    assert (folder / "ext.data").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = cli("compile", folder / "ext.onnx", "-o", tmp_path / "c", "--method", "reorder")
    assert run.code == 0, run.err
    assert f"{weights[0]:.9g}"[:6] in (tmp_path / "c" / "model.c").read_text()
    (folder / "ext.data").unlink()
    assert "external data" in one_line(cli("inspect", folder / "ext.onnx"))


@pytest.mark.parametrize("target", ["/dev/zero", "folder"])
def test_a_model_that_is_no_regular_file(target: str, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path if target == "folder" else Path(target)
    one_line(cli("solve", path))


def test_sizes_no_mcu_can_hold(cli: Cli, tmp_path: Path) -> None:
    dyn = save(dynamic_input_model(), tmp_path)
    assert "2 GiB" in one_line(cli("solve", dyn, "--input-shape", "image=1x3x30000x30000"))
    b = GraphBuilder("huge")
    b.output(b.relu(b.input((1, 1, 24576, 16384))))  # 1.5 GiB in and out, both live: a 3 GiB arena
    huge = save(b.build(), tmp_path)
    run = cli("compile", huge, "-o", tmp_path / "c", "--method", "tflm")
    assert "more than 2,147,483,648 B" in one_line(run)
    assert not (tmp_path / "c").exists()


# ---- plan files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("arena_bytes", "lots"), ("arena_bytes", 2**70), ("steps", {}), ("solve_seconds", "soon"),
     ("buffers", [{"id": "x"}]), ("input_shapes", {"x": "1x3"})],
)
@pytest.mark.parametrize("command", ["validate", "compile"])
def test_plan_fields_of_the_wrong_type(field: str, value, command: str, cli: Cli, small: Path,
                                       small_plan: Path, tmp_path: Path) -> None:
    data = json.loads(small_plan.read_text())
    data[field] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    args = ["-o", tmp_path / "c"] if command == "compile" else []
    assert "not a pexcp plan" in one_line(cli(command, small, bad, *args) if command == "validate"
                                          else cli(command, small, "--plan", bad, *args))


@pytest.mark.parametrize("plan", ["/dev/zero", "deep"])
def test_plan_files_that_are_no_plans(plan: str, cli: Cli, small: Path, tmp_path: Path) -> None:
    path = Path(plan)
    if plan == "deep":
        path = tmp_path / "deep.json"
        path.write_text("[" * 100_000 + "]" * 100_000)
    one_line(cli("validate", small, path))


@pytest.mark.parametrize(
    "extra, expected",
    [(["--method", "cpsat"], "--method cpsat"), (["--input-shape", "input=1x3x8x8"], "--input-shape"),
     (["--rewrites", "none"], "--rewrites"), (["--seed", "3"], "--seed"), (["--timeout", "5"], "--timeout")],
)
def test_compile_plan_refuses_options_it_would_ignore(extra: list[str], expected: str, cli: Cli, small: Path,
                                                       small_plan: Path, tmp_path: Path) -> None:
    line = one_line(cli("compile", small, "--plan", small_plan, "-o", tmp_path / "c", *extra))
    assert "--plan compiles the saved plan as it is" in line and expected in line
    assert not (tmp_path / "c").exists()


def test_compile_plan_accepts_options_that_agree_with_it(cli: Cli, small: Path, small_plan: Path,
                                                         tmp_path: Path) -> None:
    run = cli("compile", small, "--plan", small_plan, "-o", tmp_path / "c", "--method", "reorder",
              "--rewrites", "all")
    assert run.code == 0, run.err


# ---- outputs are checked before solving -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/dev/full", "/proc/x.json", "folder", "model", "missing/x.json"])
def test_unwritable_json_is_refused_before_solving(target: str, cli: Cli, small: Path, tmp_path: Path,
                                                   monkeypatch) -> None:
    def must_not_run(*args, **kwargs):
        raise AssertionError("solved before checking the output")

    monkeypatch.setattr("pexcp.cli.solve.run_solve", must_not_run)
    path = {"folder": tmp_path, "model": small, "missing/x.json": tmp_path / "missing" / "x.json"}.get(
        target, Path(target))
    before = small.read_bytes()
    one_line(cli("solve", small, "--json", path))
    assert small.read_bytes() == before


@pytest.mark.parametrize("target", ["/proc/c", "file"])
@pytest.mark.parametrize("command, option, work", [("compile", "-o", "pexcp.cli.compile.run_solve"),
                                                   ("compare", "--plot", "pexcp.cli.compare.run_compare")])
def test_unwritable_output_folder_is_refused_before_solving(command: str, option: str, work: str, target: str,
                                                            cli: Cli, small: Path, tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(work, lambda *a, **k: pytest.fail("solved"))
    path = Path(target) if target.startswith("/") else tmp_path / "file"
    if target == "file":
        path.write_text("")
    one_line(cli(command, small, option, path))


COMMANDS_WITH_OUTPUTS = [  # command, its output option, a file name it accepts, the work that must not start
    ("fit", "-o", "r.onnx", "pexcp.cli.fit.run_fit", ["--budget", "8k"]),
    ("fit", "--plot", "f.png", "pexcp.cli.fit.run_fit", ["--budget", "8k"]),
    ("prune", "-o", "p.onnx", "pexcp.prune.driver.prune", ["--budget", "8k"]),
    ("prune", "--kept", "k.json", "pexcp.prune.driver.prune", ["--budget", "8k"]),
    ("prune", "--json", "r.json", "pexcp.prune.driver.prune", ["--budget", "8k"]),
    ("inspect", "--plot", "i.png", "pexcp.cli.inspect.load_graph", []),
]


@pytest.mark.parametrize(
    "command, option, name, work, extra, target",
    [pytest.param(*c, t, id=f"{c[0]} {c[1]} {t}") for c in COMMANDS_WITH_OUTPUTS
     for t in ("/proc/x", "folder", "missing/x", "model")
     if t != "model" or c[2].endswith(".onnx")],  # the model is refused as an output where it could be one
)
def test_other_commands_refuse_unwritable_outputs_before_work(command: str, option: str, name: str, work: str,
                                                              extra: list[str], target: str, cli: Cli,
                                                              small: Path, tmp_path: Path, monkeypatch) -> None:
    suffix = Path(name).suffix
    monkeypatch.setattr(work, lambda *a, **k: pytest.fail("worked before checking the output"))
    path = {"folder": tmp_path / f"dir{suffix}", "model": small, "missing/x": tmp_path / "missing" / name}.get(
        target, Path(f"/proc/x{suffix}"))
    if target == "folder":  # a folder with the name of an accepted file
        path.mkdir()
    before = small.read_bytes()
    one_line(cli(command, small, *extra, option, path))
    assert small.read_bytes() == before


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    write_csv([Block("a", 0, 2, 4), Block("b", 1, 3, 8)], path)
    return path


@pytest.mark.parametrize("target", ["/dev/full", "/proc/x.csv", "folder", "input"])
def test_unwritable_pack_output_is_refused_before_packing(target: str, cli: Cli, instance: Path,
                                                          monkeypatch) -> None:
    monkeypatch.setattr("pexcp.cli.pack.run_pack", lambda *a, **k: pytest.fail("packed"))
    path = {"folder": instance.parent, "input": instance}.get(target, Path(target))
    before = instance.read_text()
    one_line(cli("pack", instance, "-o", path))
    assert instance.read_text() == before


def test_a_written_plan_replaces_the_old_file_whole(cli: Cli, small: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    out.write_text("old")
    assert cli("solve", small, "--method", "reorder", "--json", out).code == 0
    assert Plan.load(out).method == "reorder"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary file left behind


# ---- pack CSV input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "is empty"),
        (b"id,lower,upper,size\n", "no buffers"),
        (b"id,lower,upper,size\na,0,1e23,5\n", "expected integer"),
        (b"id,lower,upper,size\na,0,100000000000000000000000,5\n", "upper"),
        (b"id,lower,upper,size\na,0,2,99999999999\n", "2 GiB"),
        (b"id,start,end,size\na,0,2,4\n", "lacks column(s) lower, upper"),
        (b"id,lower,upper,size\na,0,2\n", "3 fields"),
    ],
)
def test_bad_pack_csv(content: bytes, expected: str, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    assert expected in one_line(cli("pack", path))


@pytest.mark.parametrize("header", [b"\xef\xbb\xbfid,lower,upper,size", b"Id, Lower ,UPPER,Size"],
                         ids=["bom", "capitals"])
def test_bom_and_capitalised_headers_are_read(header: bytes, cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(header + b"\na,0,2,4\nb,1,3,8\n\n")
    run = cli("pack", path, "-o", tmp_path / "out.csv")
    assert run.code == 0, run.err
    rows = [line.split(",") for line in (tmp_path / "out.csv").read_text().splitlines()[1:]]
    assert [r[:4] for r in rows] == [["a", "0", "2", "4"], ["b", "1", "3", "8"]]
    a, b = int(rows[0][4]), int(rows[1][4])  # live together at time 1: apart in memory, within 12 B
    assert (a + 4 <= b or b + 8 <= a) and max(a + 4, b + 8) == 12


def test_pack_input_that_is_no_regular_file(cli: Cli) -> None:
    assert "not a regular file" in one_line(cli("pack", "/dev/zero"))


# ---- Ctrl-C -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, where",
    [("inspect", "pexcp.cli.inspect.load_graph"), ("validate", "pexcp.cli.validate.plan_problems"),
     ("solve", "pexcp.cli.solve.run_solve"), ("compile", "pexcp.cli.compile.emit"),
     ("pack", "pexcp.cli.pack.run_pack")],
)
def test_ctrl_c_in_every_command_exits_130(command: str, where: str, cli: Cli, small: Path, small_plan: Path,
                                          instance: Path, tmp_path: Path, monkeypatch) -> None:
    """A real SIGINT, sent while the command works: the handler main() installs turns it into exit 130."""
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
        pytest.fail("SIGINT did not interrupt")

    monkeypatch.setattr(where, interrupted)
    args = {"inspect": [small], "validate": [small, small_plan], "solve": [small, "--json", tmp_path / "p.json"],
            "compile": [small, "-o", tmp_path / "c", "--method", "reorder"], "pack": [instance]}[command]
    start = time.monotonic()
    run = cli(command, *args)
    assert run.code == EXIT_INTERRUPTED and run.err.strip().splitlines()[-1] == INTERRUPTED, run.err
    assert time.monotonic() - start < 10
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "c").exists()


def wide_model(branches: int = 24) -> onnx.ModelProto:
    """Parallel expand-depthwise-project branches of one input, concatenated: a free order CP-SAT searches
    for long."""
    b = GraphBuilder("wide")
    x = b.input((1, 8, 24, 24))
    outs = [b.conv(b.conv(b.conv(x, 16, 1, act="relu"), 16, 3, group=16, act="relu"), 4, 1) for _ in range(branches)]
    b.output(b.concat(outs))
    return b.build()


def interrupt_when(args: list[str], ready: str, after: float) -> tuple[subprocess.Popen, str, float]:
    """Run `python -m pexcp ARGS`, send SIGINT `after` seconds after a stderr line containing `ready`, and
    wait. Returns the process, its stderr and the seconds from the signal to its exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    env.pop("PEXCP_TRACEBACK", None)
    proc = subprocess.Popen([sys.executable, "-m", "pexcp", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if ready in line:
            break
    else:
        proc.wait()
        pytest.fail(f"ended before {ready!r}: {''.join(seen)}")
    time.sleep(after)
    assert proc.poll() is None, "ended before the signal"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    return proc, "".join(seen) + rest, time.monotonic() - sent


@pytest.mark.slow
@pytest.mark.parametrize("command", ["solve", "compile"])
def test_ctrl_c_during_cpsat_stops_at_once(command: str, tmp_path: Path) -> None:
    """Today's defect: CP-SAT's own SIGINT handler aborted the process (std::bad_function_call, exit 134)."""
    model = save(wide_model(), tmp_path)
    args = [command, str(model), "--timeout", "30"] + (["-o", str(tmp_path / "c")] if command == "compile" else [])
    proc, err, seconds = interrupt_when(args, "heuristics:", 1.0)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert err.strip().splitlines()[-1] == INTERRUPTED and "Traceback" not in err and "terminate" not in err
    assert seconds < 5
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DSA / "D.1048576.csv").exists(), reason=f"MiniMalloc's D not in {SHARED_DSA}")
def test_ctrl_c_during_pack_minimize_stops_at_once(tmp_path: Path) -> None:
    """Today's defect: pack --minimize ignored Ctrl-C until its timeout."""
    args = ["pack", str(SHARED_DSA / "D.1048576.csv"), "--minimize", "--timeout", "120", "-o", str(tmp_path / "o.csv")]
    for after in (0.5, 3.0):  # in the canonical search's first turn, and in CP-SAT's
        proc, err, seconds = interrupt_when(args, "trying capacity", after)
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert err.strip().splitlines()[-1] == INTERRUPTED and "Traceback" not in err and "terminate" not in err
        assert seconds < 5
        assert not (tmp_path / "o.csv").exists()


# ---- standard output that cannot be written ----------------------------------------------------------------


@pytest.mark.slow  # a new interpreter per command
@pytest.mark.parametrize("args", [["--version"], ["inspect", "SMALL"]])
def test_stdout_on_dev_full(args: list[str], small: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PEXCP_TRACEBACK", None)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "pexcp", *[str(small) if a == "SMALL" else a for a in args]],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: cannot write to standard output: No space left on device"]
