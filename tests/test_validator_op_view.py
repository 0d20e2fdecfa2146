"""The validator's view of each op type (its own table, in ONNX terms) covers the planners': whatever the
importer's rewrites and the partial-execution rules let a plan do with an op (view it, run it in place, run
it channel-wise on slices, accumulate over input channels), the validator accepts as correct. A change to
either side that breaks this shows here, before a planner emits a plan its own validator rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ALL_MODELS, model_id
from onnx_builders import mbconv_chain, random_dag_model, save
from pexcp.analysis.partial import Rule, split_rule
from pexcp.importer import load_graph
from pexcp.ir import Graph
from pexcp.plan import validate as v
from pexcp.plan.plan import Plan, Slice, Step


def _models(tmp: Path) -> list[Path]:
    built = [mbconv_chain(n_blocks=2, batchnorm=True, explicit_pad=True, head=True, qdq=q, name=f"mb{q}") for q in (0, 1)]
    built += [random_dag_model(seed=s, n_ops=10, qdq=q, name=f"dag{s}{q}") for s in range(3) for q in (False, True)]
    return [save(m, tmp) for m in built] + list(ALL_MODELS)


def _validator_model(path: Path, graph: Graph) -> v._Model:
    plan = Plan(path.name, graph.sha256, "reorder", "heuristic", 0, 0, 0.0, [], [],
                input_layouts={k: list(p) for k, p in graph.input_layouts.items()})
    m = v._read(path, plan)
    v._layout_input_problems(plan, m)
    return m


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> list[tuple[str, Graph, v._Model]]:
    out = []
    for path in _models(tmp_path_factory.mktemp("opview")):
        graph = load_graph(path)
        out.append((model_id(path), graph, _validator_model(path, graph)))
    return out


def test_views_in_place_ops_and_split_rules_agree(imported) -> None:
    disagree = []
    checked = {"view": 0, "inplace": 0, "channel-wise": 0, "full": 0}
    for name, graph, m in imported:
        for op in graph.ops:
            core = m.nodes[op.core.name]
            acts = graph.activation_inputs(op)
            if op.view:
                checked["view"] += 1
                if not v.is_view(m, core):
                    disagree.append(f"{name}: {op.name} ({op.op_type}) is a view for the importer only")
            if op.inplace:
                checked["inplace"] += 1
                step = Step(0, op.name, op.op_type, list(op.nodes))
                if not v._derived_elementwise(m, [step], op.inplace, op.outputs[0]):
                    disagree.append(f"{name}: {op.name} ({op.op_type}) runs in place over {op.inplace} for the importer only")
            rule = split_rule(graph, op)
            if rule is Rule.CHANNELWISE:
                checked["channel-wise"] += 1
                step = Step(0, op.name, op.op_type, list(op.nodes), Slice(0, 1))
                reads = v._access(m, step, set()).reads
                whole = [t for t in acts if reads.get(t, Slice(0, 1)) is None]
                if whole:
                    disagree.append(f"{name}: {op.name} ({op.op_type}) is channel-wise for the planners, the "
                                    f"validator reads {whole} whole")
            elif rule is Rule.FULL:
                checked["full"] += 1
                if not v.accumulates(m, core):
                    disagree.append(f"{name}: {op.name} ({op.op_type}) accumulates for the planners only")
    assert not disagree, "\n".join(disagree)
    assert all(checked.values()), checked  # every kind was exercised
