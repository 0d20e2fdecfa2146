"""`pexcp compare`, pictures, the solver switches (`--solver`, `--export-model`) and the Python API."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from google.protobuf import text_format
from ortools.sat import cp_model_pb2

from conftest import REPO, SHARED_MODELS
from onnx_builders import mbconv_chain, random_dag_model, save
from pexcp.pipeline import solve
from pexcp.plan.plan import Plan
from pexcp.plan.validate import plan_problems
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.params import SolverParams, parse_params
from pexcp.errors import BadInputError

BASELINE = json.loads((SHARED_MODELS / "tflm_baseline.json").read_text())


@pytest.fixture(scope="module")
def mbconv(tmp_path_factory) -> Path:
    return save(mbconv_chain(n_blocks=2, channels=4, expand=4, hw=8), tmp_path_factory.mktemp("m"), "mb2")


@pytest.fixture(scope="module")
def dag(tmp_path_factory) -> Path:
    return save(random_dag_model(3, 12), tmp_path_factory.mktemp("d"), "dag12")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---- compare ---------------------------------------------------------------------------------------------

def test_compare_every_method_on_every_model_in_every_format(cli, mbconv, dag):
    run = cli("compare", mbconv, dag, "--timeout", "10", "--format", "json")
    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert [(r["model"], r["method"]) for r in rows] == [
        (m, k) for m in ("mb2.onnx", "dag12.onnx") for k in ("tflm", "reorder", "pex-greedy", "cpsat")]
    for model in ("mb2.onnx", "dag12.onnx"):
        mine = {r["method"]: r for r in rows if r["model"] == model}
        tflm = mine["tflm"]["arena"]
        for r in mine.values():  # each row agrees with the plan `solve` makes
            assert r["ratio_to_tflm"] == pytest.approx(r["arena"] / tflm, abs=1e-4)
            assert r["lower_bound"] <= r["arena"] and r["load"] <= r["arena"]
        assert mine["cpsat"]["status"] == "optimal" and mine["cpsat"]["arena"] <= min(r["arena"] for r in mine.values())
    split = next(r for r in rows if r["model"] == "mb2.onnx" and r["method"] == "cpsat")
    _, plan = solve(mbconv, "cpsat", SolveOptions(timeout=10))
    assert split["sliced_steps"] == sum(s.slice is not None for s in plan.steps) > 0
    assert split["extra_calls"] > 0
    csv_run = cli("compare", mbconv, "--timeout", "10", "--format", "csv", "--methods", "tflm,cpsat")
    table = list(csv.DictReader(io.StringIO(csv_run.out)))
    assert [r["method"] for r in table] == ["tflm", "cpsat"] and int(table[1]["arena"]) == split["arena"]
    md = cli("compare", mbconv, "--timeout", "10", "--format", "md", "--methods", "tflm").out.splitlines()
    assert md[0].startswith("| model | method | status |") and md[2].startswith("| mb2 | tflm |")


def test_a_failing_method_is_reported_in_its_row_and_the_others_go_on(cli, mbconv):
    _, unsplit = solve(mbconv, "reorder", SolveOptions())
    _, best = solve(mbconv, "cpsat", SolveOptions(timeout=10))
    run = cli("compare", mbconv, "--timeout", "10", "--format", "json", "--budget", str(best.arena_bytes - 4))
    rows = {r["method"]: r for r in json.loads(run.out)}
    assert run.code == 1  # cpsat proves that nothing fits: that row has no plan
    assert rows["cpsat"]["status"] == "over budget" and rows["cpsat"]["arena"] is None
    assert "cannot be met" in rows["cpsat"]["error"]
    assert rows["reorder"]["arena"] == unsplit.arena_bytes and rows["reorder"]["status"] == "over budget"
    assert "Traceback" not in run.err


def test_compare_usage_errors_are_one_line(cli, mbconv):
    for args in (["--methods", "tflm,magic"], ["--format", "xml"], ["--solver", "nope=1"]):
        run = cli("compare", mbconv, *args)
        assert run.code == 2 and len(run.err.strip().splitlines()) == 1, run.err


@pytest.mark.slow
def test_compare_tflm_rows_reproduce_tflite_micro(cli):
    models = [p for p in sorted((SHARED_MODELS / "onnx").glob("*.onnx")) + sorted((SHARED_MODELS / "onnx_int8").glob("*.onnx"))
              if p.stem in BASELINE]
    run = cli("compare", *models, "--methods", "tflm", "--format", "json", "--scratch", "off")  # as measured
    assert run.code == 0
    for row in json.loads(run.out):
        assert row["arena"] == BASELINE[Path(row["model"]).stem]["tflm_planned_activation_bytes"]


# ---- pictures --------------------------------------------------------------------------------------------

def test_solve_plot_png_and_svg(cli, mbconv, tmp_path):
    png, svg = tmp_path / "plan.png", tmp_path / "plan.svg"
    assert cli("solve", mbconv, "--timeout", "10", "--plot", png).code == 0
    width, height = png_size(png)
    assert 800 <= width <= 3000 and 500 <= height <= 2000 and 10_000 < png.stat().st_size < 2_000_000
    _, best = solve(mbconv, "cpsat", SolveOptions(timeout=10))  # a budget that needs the splits
    assert cli("solve", mbconv, "--timeout", "10", "--plot", svg, "--budget", str(best.arena_bytes)).code == 0
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and 10_000 < svg.stat().st_size < 5_000_000
    text = svg.read_text()
    assert "budget" in text and "channel slice" in text and "peak at step" in text


def test_compare_plot_draws_one_picture_per_model(cli, mbconv, dag, tmp_path):
    run = cli("compare", mbconv, dag, "--timeout", "10", "--plot", tmp_path / "pics", "--methods", "tflm,cpsat")
    assert run.code == 0
    for name in ("mb2", "dag12"):
        width, _ = png_size(tmp_path / "pics" / f"{name}.png")
        assert width > 1000  # two plans side by side


def test_inspect_plot_and_bad_picture_names(cli, mbconv, tmp_path):
    assert cli("inspect", mbconv, "--plot", tmp_path / "p.png").code == 0
    assert png_size(tmp_path / "p.png")[0] > 800
    for command in (["inspect", mbconv], ["solve", mbconv]):
        run = cli(*command, "--plot", tmp_path / "p.jpg")
        assert run.code == 2 and len(run.err.strip().splitlines()) == 1


# ---- solver switches ---------------------------------------------------------------------------------------

SWITCHES = [
    {}, {"order": "assignment"}, {"order_windows": True}, {"order": "assignment", "order_windows": True},
    {"cumulative": False}, {"decompose": False}, {"bound_phase": False}, {"hint": False},
    {"layout_shortcut": False}, {"search": "portfolio"}, {"unit": 4}, {"cp.linearization_level": 2},
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
def test_every_exact_formulation_proves_the_same_optimum(mbconv, switches):
    _, default = solve(mbconv, "cpsat", SolveOptions(timeout=20))
    _, plan = solve(mbconv, "cpsat", SolveOptions(timeout=20, params=parse_params(switches)))
    assert plan.status == "optimal" and plan.arena_bytes == default.arena_bytes
    assert plan.solver["params"] == {**SolverParams().record(), **parse_params(switches).record()}


def test_address_pack_plans_validly_and_never_below_the_optimum(mbconv):
    _, default = solve(mbconv, "cpsat", SolveOptions(timeout=20))
    _, packed = solve(mbconv, "cpsat", SolveOptions(timeout=20, params=parse_params({"address": "pack", "layout_shortcut": False})))
    assert plan_problems(packed, mbconv) == [] and packed.arena_bytes >= default.arena_bytes


def test_instructions_objective_within_a_budget(mbconv):
    _, best = solve(mbconv, "cpsat", SolveOptions(timeout=20))
    params = parse_params({"objective": "instructions"})
    _, plan = solve(mbconv, "cpsat", SolveOptions(timeout=20, budget=best.arena_bytes, params=params))
    assert plan.arena_bytes <= best.arena_bytes and plan.status == "optimal"
    assert "estimated extra instructions" in " ".join(plan.notes)


@pytest.mark.parametrize("pair, message", [
    ("nope=1", "unknown solver switch 'nope'"), ("order=magic", "expected one of positions, assignment"),
    ("decompose=maybe", "expected true or false"), ("unit=3", "divisor of 4"), ("order", "expected KEY=VALUE"),
    ("cp.no_such_parameter=1", "CP-SAT has no parameter"), ("cp.num_workers=8", "--workers"),
    ("cp.linearization_level=two", "not a number"),
])
def test_bad_switches_are_one_line_exit_2(cli, mbconv, pair, message):
    run = cli("solve", mbconv, "--solver", pair)
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1
    with pytest.raises(BadInputError, match=re.escape(message)):
        parse_params([pair])


def test_switches_only_for_cpsat(cli, mbconv):
    run = cli("solve", mbconv, "--method", "tflm", "--solver", "hint=false")
    assert run.code == 2 and "apply to method cpsat" in run.err


def test_switches_are_recorded_in_the_plan_json(cli, mbconv, tmp_path):
    out = tmp_path / "p.json"
    run = cli("solve", mbconv, "--timeout", "10", "--solver", "order=assignment", "--solver", "cp.linearization_level=2",
              "--json", out)
    assert run.code == 0
    solver = json.loads(out.read_text())["solver"]
    assert solver["method"] == "cpsat" and solver["params"]["order"] == "assignment"
    assert solver["params"]["cp"] == {"linearization_level": 2} and solver["timeout"] == 10.0
    assert Plan.load(out).solver == solver


def test_export_model_writes_every_model_searched(cli, tmp_path):
    path = save(mbconv_chain(n_blocks=3, channels=4, expand=6, hw=8), tmp_path, "mb3")  # decomposes
    run = cli("solve", path, "--timeout", "20", "--export-model", tmp_path / "m.pb", "--json", tmp_path / "p.json",
              "--solver", "layout_shortcut=false")
    assert run.code == 0, run.err
    written = json.loads((tmp_path / "p.json").read_text())["extra"]["exported_models"]
    assert len(written) > 1 and any("segment-1-of-" in w for w in written) and all(Path(w).exists() for w in written)
    for name in written:  # the models CP-SAT read, hints included
        proto = cp_model_pb2.CpModelProto()
        proto.ParseFromString(Path(name).read_bytes())
        assert proto.variables and proto.constraints and proto.solution_hint.vars
    assert cli("solve", path, "--timeout", "20", "--export-model", tmp_path / "t.pbtxt", "--solver", "decompose=false").code == 0
    texts = sorted(tmp_path.glob("t.*.pbtxt"))
    assert texts
    proto = text_format.Parse(texts[0].read_text(), cp_model_pb2.CpModelProto())
    assert proto.variables
    assert cli("solve", path, "--export-model", tmp_path / "m.lp").code == 2


# ---- Python API --------------------------------------------------------------------------------------------

def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the README has one Python example"
    return blocks[0]


@pytest.mark.slow
def test_readme_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "models").symlink_to(REPO / "models")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("optimal ") and out[0].endswith(" True")
    assert [line.split()[0] for line in out[1:4]] == ["tflm", "reorder", "cpsat"]
    assert (tmp_path / "plan.json").exists() and png_size(tmp_path / "plan.png")[0] > 800
    assert (tmp_path / "kws_c" / "model.c").exists()


def test_api_errors_and_docstrings(mbconv):
    import pexcp

    for name in ("load", "solve", "validate", "save_plan", "load_plan", "compare", "plot", "compile"):
        assert getattr(pexcp, name).__doc__
    with pytest.raises(BadInputError):
        pexcp.solve(mbconv, "magic")
    with pytest.raises(BadInputError):
        pexcp.solve(mbconv, "cpsat", solver={"nope": 1})
    plan = pexcp.solve(mbconv, "reorder")
    assert pexcp.validate(mbconv, plan) == [] and len(pexcp.load(mbconv).ops) > 0
    rows = pexcp.compare(mbconv, ["tflm", "reorder"], timeout=5)
    assert [r.method for r in rows] == ["tflm", "reorder"] and rows[1].arena == plan.arena_bytes


def test_compare_rewrites_leave_the_tflm_row_as_tflite_micro_runs_it(cli, mbconv):
    run = cli("compare", mbconv, "--rewrites", "none", "--methods", "tflm,reorder", "--format", "json")
    rows = {r["method"]: r for r in json.loads(run.out)}
    assert run.code == 0 and rows["tflm"]["arena"] == solve(mbconv, "tflm", SolveOptions())[1].arena_bytes
    assert rows["reorder"]["arena"] == solve(mbconv, "reorder", SolveOptions(rewrites=()))[1].arena_bytes
