"""Every method plans every valid model it imports (issue 13's planner defects), and cpsat's plans are
reproducible across processes: the same seed and workers give the same plan whatever Python's string
hashing and the machine's speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from onnx_builders import GraphBuilder, random_dag_model, save
from plan_helpers import assert_sound
from test_planners import brute_force_load
from pexcp.importer import load_graph
from pexcp.pipeline import solve
from pexcp.solvers.options import SolveOptions
from pexcp.solvers.registry import METHODS


def dead_conv_model() -> onnx.ModelProto:
    """Two convs read the input; the wide one's output is read by nobody (nor a model output)."""
    b = GraphBuilder("dead_conv")
    x = b.input((1, 8, 16, 16))
    y = b.conv(x, 8, kernel=1)
    b.conv(x, 64, kernel=1)  # dead: every order still needs its 64 KiB next to the input
    b.output(b.relu(y))
    return b.build()


def output_is_input_model() -> onnx.ModelProto:
    """The model output is the model input itself; a Relu of it is computed and thrown away."""
    b = GraphBuilder("out_is_in")
    x = b.input((1, 4))
    b.relu(x)
    b.outputs.append(x)
    return b.build()


def if_model() -> onnx.ModelProto:
    """An If whose branches read the outer tensor x (read by no node of the main graph)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])

    def branch(op: str, out: str) -> onnx.GraphProto:
        value = helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 4])
        return helper.make_graph([helper.make_node(op, ["x"], [out])], op.lower(), [], [value])

    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=branch("Relu", "t"), else_branch=branch("Neg", "e"))
    graph = helper.make_graph([node], "if", [x, c], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


CASES = {"dead_conv": dead_conv_model, "output_is_input": output_is_input_model, "if": if_model}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("case", list(CASES))
def test_every_method_plans_models_with_dead_outputs_io_aliases_and_subgraphs(tmp_path, case, method):
    path = save(CASES[case](), tmp_path, case)
    _, plan = solve(path, method, SolveOptions(timeout=10))  # validated inside: a bad plan raises
    assert_sound(path, plan)
    graph = load_graph(path, {}, tuple(plan.rewrites))
    least = brute_force_load(graph)  # the least LOAD of any unsplit order, by brute force
    if method in ("reorder", "cpsat"):  # their bounds hold over every order (the others': over their own)
        assert plan.lower_bound_bytes <= least + 3 * len(graph.tensors)  # sizes rounded up to words


def test_cpsat_bound_counts_a_dead_output(tmp_path):
    path = save(dead_conv_model(), tmp_path)
    _, plan = solve(path, "cpsat", SolveOptions(timeout=10))
    wide = 64 * 16 * 16 * 4
    assert plan.status == "optimal" and plan.arena_bytes == plan.lower_bound_bytes >= wide


def _solve_in_process(path: Path, out: Path, hash_seed: int, workers: int, *extra: str) -> dict:
    """`pexcp solve` in a fresh interpreter with its own string hashing."""
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    cmd = [sys.executable, "-m", "pexcp", "solve", str(path), "--json", str(out), "--timeout", "30",
           "--workers", str(workers), "--seed", "3", *extra]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    plan = json.loads(out.read_text())
    plan.pop("solve_seconds")
    return plan


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_same_seed_and_workers_give_the_same_plan_in_every_process(tmp_path, workers):
    """Before the model was built in dict order, the order of its constraints followed string hashes, and
    the plan changed from one process to the next."""
    path = save(random_dag_model(5, 40), tmp_path, "dag40")
    plans = [_solve_in_process(path, tmp_path / f"p{k}.json", k, workers) for k in range(3)]
    assert plans[0]["extra"]["reproducible"]
    assert all(p == plans[0] for p in plans[1:])


@pytest.mark.slow
def test_ic_resnet8_float_plans_the_same_in_every_process(tmp_path):
    """Issue 13: 2 different plans in 9 runs before."""
    from conftest import SHARED_MODELS

    path = SHARED_MODELS / "onnx" / "ic_resnet8_float.onnx"
    plans = [_solve_in_process(path, tmp_path / f"p{k}.json", k, 2) for k in range(3)]
    assert plans[0]["extra"]["reproducible"] and all(p == plans[0] for p in plans[1:])


def _many_optima() -> tuple:
    """A model with many optimal solutions: which one a search returns depends on its path."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    xs = [model.new_int_var(0, 6, f"x{i}") for i in range(12)]
    model.add(sum(xs) >= 30)
    model.add_all_different(xs[:7])
    model.minimize(sum(xs))
    return model, xs


def test_reproducible_search_answer_does_not_depend_on_which_worker_finishes_first():
    from pexcp.solvers.cpsat.search import Report, search

    answers = set()
    for _ in range(6):
        model, xs = _many_optima()
        out = search(model, 30.0, 10.0, 3, 0, True, Report(None, "", str, 0.0))
        assert out.status == 4  # OPTIMAL
        answers.add((out.objective, tuple(out.solver.value(x) for x in xs), round(out.work, 6)))
    assert len(answers) == 1
