"""The command line: `pexcp solve` and `pexcp inspect`, their tables, exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Cli, Run
from onnx_builders import GraphBuilder, chain_model, dynamic_input_model, mbconv_chain, save
from pexcp.analysis.liveness import lifetimes, peak
from pexcp.errors import EXIT_BUG, BadInputError
from pexcp.importer import load_graph
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.registry import METHODS
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.units import parse_bytes

def assert_one_line_error(run: Run, code: int = 2) -> str:
    """Exit `code`, and stderr is one `error: ...` line, no traceback. Returns the message."""
    assert run.code == code, (run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.err + run.out
    return lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return save(chain_model(channels=(4, 4), hw=4), tmp_path_factory.mktemp("cli"), "small")


@pytest.fixture(scope="module")
def mbconv(tmp_path_factory) -> Path:
    return save(mbconv_chain(batchnorm=True, explicit_pad=True, head=True), tmp_path_factory.mktemp("cli"))


# ---- solve ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_solve_prints_the_plan_summary(method: str, cli: Cli, mbconv: Path, tmp_path: Path) -> None:
    run = cli("solve", mbconv, "--method", method, "--timeout", "2", "--json", tmp_path / "plan.json")
    assert run.code == 0, run.err
    plan = Plan.load(tmp_path / "plan.json")
    for label in ("method", "status", "arena", "LOAD", "lower bound", "solve time"):
        assert label in run.out
    assert method in run.out and plan.status in run.out
    assert f"{plan.arena_bytes:,} B" in run.out
    assert f"{plan.load_bytes:,} B" in run.out and f"{plan.lower_bound_bytes:,} B" in run.out


def test_solve_json_round_trips_through_the_validator(cli: Cli, mbconv: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    run = cli("solve", mbconv, "--method", "reorder", "--json", out)
    assert run.code == 0 and str(out) in run.out.replace("\n", "")
    plan = Plan.load(out)
    assert plan.method == "reorder" and plan.model == mbconv.name
    assert plan_problems(plan, mbconv) == []


@pytest.mark.parametrize(
    "text, value",
    [("4096", 4096), ("200k", 200 * 1024), ("200K", 200 * 1024), ("64KiB", 64 * 1024), ("1.5k", 1536),
     ("2M", 2 * 1024**2), ("1MiB", 1024**2), ("512 kb", 512 * 1024), ("7B", 7)],
)
def test_budget_suffixes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "k", "12q", "-5", "1.2345", "1e6", "4 GB", "0x100"])
def test_bad_budget_strings_are_refused(text: str) -> None:
    with pytest.raises(BadInputError, match="size"):
        parse_bytes(text)


def test_budget_that_fits_exits_0(cli: Cli, small: Path) -> None:
    run = cli("solve", small, "--method", "reorder", "--budget", "1k")
    assert run.code == 0, run.err
    assert "1,024 B" in run.out and "fits" in run.out


def test_budget_boundary(cli: Cli, small: Path, tmp_path: Path) -> None:
    assert cli("solve", small, "--method", "reorder", "--json", tmp_path / "p.json").code == 0
    arena = Plan.load(tmp_path / "p.json").arena_bytes
    assert cli("solve", small, "--method", "reorder", "--budget", str(arena)).code == 0
    over = cli("solve", small, "--method", "reorder", "--budget", str(arena - 1))
    message = assert_one_line_error(over, code=1)
    assert "over by 1 B" in over.out and "cannot be met" in message


def test_budget_that_cannot_be_met_exits_1_after_showing_the_plan(cli: Cli, mbconv: Path) -> None:
    run = cli("solve", mbconv, "--method", "tflm", "--budget", "1")
    message = assert_one_line_error(run, code=1)
    assert "tflm" in message and "over by" in message
    assert "arena" in run.out and "over by" in run.out


def test_invalid_plan_is_a_loud_bug_not_a_user_error(
    cli: Cli, small: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    method = METHODS["reorder"]
    honest = method.run

    def corrupt(graph, options):
        plan = honest(graph, options)
        plan.buffers[0].bytes += 1
        return plan

    monkeypatch.setattr(method, "run", corrupt)
    run = cli("solve", small, "--method", "reorder", "--json", tmp_path / "plan.json")
    assert run.code == EXIT_BUG
    assert "BUG" in run.err and "bytes, needs" in run.err
    assert "arena" not in run.out  # never shown
    assert not (tmp_path / "plan.json").exists()  # never written


# ---- inspect -------------------------------------------------------------------------------------------


def test_inspect_lists_ops_with_shapes_and_highlights_the_peak(cli: Cli, mbconv: Path) -> None:
    run = cli("inspect", mbconv)
    assert run.code == 0, run.err
    graph = load_graph(mbconv)
    top, at = peak(lifetimes(graph, graph.ops), len(graph.ops))
    assert f"peak {top:,} B live" in run.out
    for op in graph.ops:
        assert op.name in run.out
    rows = [line for line in run.out.splitlines() if "◀ peak" in line]
    assert rows and graph.ops[at].name in rows[0] and f"{top:,}" in rows[0]
    assert "x".join(map(str, graph.tensors[graph.outputs[0]].shape)) in run.out


def test_inspect_without_rewrites_shows_the_ops_tflite_runs(cli: Cli, mbconv: Path) -> None:
    default, raw = cli("inspect", mbconv), cli("inspect", mbconv, "--rewrites", "none")
    assert default.code == raw.code == 0
    assert "BatchNormalization" in raw.out and "Pad" in raw.out
    assert "BatchNormalization" not in default.out
    assert "rewrites: none" in raw.out


# ---- validate ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan_json(small: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("validate") / "plan.json"
    solve(small, "reorder", SolveOptions())[1].save(out)
    return out


def test_validate_accepts_a_valid_plan(cli: Cli, small: Path, plan_json: Path) -> None:
    run = cli("validate", small, plan_json)
    assert run.code == 0, run.err
    assert "is valid" in run.out and f"{Plan.load(plan_json).arena_bytes:,} B" in run.out


def test_validate_lists_what_is_wrong_and_exits_1(cli: Cli, small: Path, plan_json: Path, tmp_path: Path) -> None:
    plan = Plan.load(plan_json)
    owners = [b for b in plan.buffers if b.alias_of is None]
    a, b = owners[0], owners[1]  # the model input and the first activation: live together at step 0
    b.offset = a.offset
    broken = tmp_path / "broken.json"
    plan.save(broken)
    run = cli("validate", small, broken)
    assert run.code == 1
    assert "NOT valid" in run.out and f"buffers {a.id} [{a.offset}, " in run.out and "overlap" in run.out


def test_validate_refuses_unreadable_files_on_one_line(
    cli: Cli, small: Path, plan_json: Path, tmp_path: Path
) -> None:
    assert "no such file" in assert_one_line_error(cli("validate", tmp_path / "nope.onnx", plan_json))
    assert "no such plan file" in assert_one_line_error(cli("validate", small, tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{")
    assert "not JSON" in assert_one_line_error(cli("validate", small, tmp_path / "bad.json"))
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    assert "not a pexcp plan" in assert_one_line_error(cli("validate", small, tmp_path / "other.json"))


# ---- one-line errors, exit code 2 ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["solve", "inspect"])
def test_missing_file(command: str, cli: Cli, tmp_path: Path) -> None:
    assert "no such file" in assert_one_line_error(cli(command, tmp_path / "nope.onnx"))


@pytest.mark.parametrize("command", ["solve", "inspect"])
def test_corrupt_file(command: str, cli: Cli, mbconv: Path, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(mbconv.read_bytes()[:700])
    assert "corrupt.onnx" in assert_one_line_error(cli(command, path))


def test_non_onnx_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("# not a model\nsome text\n")
    assert "notes.txt" in assert_one_line_error(cli("solve", path, "--method", "reorder"))


def test_dynamic_input_suggests_input_shape_which_then_works(cli: Cli, tmp_path: Path) -> None:
    path = save(dynamic_input_model(), tmp_path)
    message = assert_one_line_error(cli("solve", path, "--method", "reorder"))
    assert "--input-shape image=" in message
    fixed = cli("solve", path, "--method", "reorder", "--input-shape", "image=1x3x12x12", "--json", tmp_path / "p.json")
    assert fixed.code == 0, fixed.err
    plan = Plan.load(tmp_path / "p.json")
    assert plan.input_shapes == {"image": [1, 3, 12, 12]}
    assert plan_problems(plan, path) == []
    assert cli("inspect", path, "--input-shape", "image=1x3x12x12").code == 0


def test_shape_that_cannot_be_inferred(cli: Cli, tmp_path: Path) -> None:
    b = GraphBuilder("mystery")
    x = b.conv(b.input((1, 4, 4, 4)), 4)
    b.output(b.conv(b.opaque([x], (1, 4, 4, 4), declare_shape=False), 4))
    message = assert_one_line_error(cli("solve", save(b.build(), tmp_path), "--method", "reorder"))
    assert "cannot infer the shape" in message


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--method", "psychic"], "unknown method 'psychic'"),
        (["--budget", "12q"], "cannot read size '12q'"),
        (["--method", "reorder", "--rewrites", "views,magic"], "unknown rewrite"),
        (["--method", "tflm", "--rewrites", "views"], "--rewrites does not apply"),
        (["--method", "reorder", "--input-shape", "input_1"], "cannot read --input-shape"),
        (["--method", "reorder", "--input-shape", "pixels=1x3x4x4"], "pixels"),
    ],
    ids=["method", "budget", "rewrite", "tflm-rewrites", "shape-spec", "shape-name"],
)
def test_bad_options(args: list[str], expected: str, cli: Cli, small: Path) -> None:
    assert expected in assert_one_line_error(cli("solve", small, *args))


def test_usage_errors_exit_2(cli: Cli, small: Path) -> None:
    assert cli("solve").code == 2
    assert cli("solve", small, "--timeout", "0").code == 2
    assert cli("frobnicate", small).code == 2


# ---- the installed entry point, as a user runs it --------------------------------------------------------


def run_module(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "pexcp", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


def test_python_m_pexcp_exit_codes_and_one_line_errors(small: Path, tmp_path: Path) -> None:
    ok = run_module("solve", small, "--method", "reorder")
    assert ok.returncode == 0 and "arena" in ok.stdout
    over = run_module("solve", small, "--method", "reorder", "--budget", "1")
    assert over.returncode == 1 and len(over.stderr.strip().splitlines()) == 1
    for args in (["solve", tmp_path / "missing.onnx"], ["inspect", tmp_path / "missing.onnx"],
                 ["solve", small, "--budget", "lots"]):
        bad = run_module(*args)
        assert bad.returncode == 2
        assert bad.stderr.strip().startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
        assert "Traceback" not in bad.stderr
    assert run_module("--help").returncode == 0
