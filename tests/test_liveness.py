"""Buffers and lifetimes of a schedule, and LOAD (max live bytes)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from onnx_builders import GraphBuilder, random_dag_model, save
from pexcp.analysis.liveness import Lifetime, lifetimes, live_bytes, peak
from pexcp.importer import ALL_REWRITES, load_graph
from pexcp.ir import Graph, Op


def by_tensor(lives: list[Lifetime]) -> dict[str, Lifetime]:
    return {life.tensor: life for life in lives}


def random_topological_order(graph: Graph, rnd: random.Random) -> list[Op]:
    """A topological order of the ops, ties broken at random."""
    dag = graph.dag()
    waiting = {n: dag.in_degree(n) for n in dag}
    ready = [n for n, d in waiting.items() if d == 0]
    order = []
    while ready:
        name = ready.pop(rnd.randrange(len(ready)))
        order.append(graph.op(name))
        for succ in dag.successors(name):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    return order


def test_chain_lifetimes_and_load(tmp_path: Path) -> None:
    b = GraphBuilder("chain")
    x = b.input((1, 2, 4, 4))
    a = b.conv(x, 4)
    c = b.conv(a, 8)
    d = b.conv(c, 2)
    b.output(d)
    graph = load_graph(save(b.build(), tmp_path), rewrites=())
    lives = by_tensor(lifetimes(graph, graph.ops))
    assert [(lives[t].first, lives[t].last) for t in (x, a, c, d)] == [(0, 0), (0, 1), (1, 2), (2, 2)]
    size = {t: graph.tensors[t].nbytes for t in (x, a, c, d)}
    assert all(lives[t].bytes == size[t] for t in size)
    per_step = live_bytes(list(lives.values()), 3)
    assert per_step == [size[x] + size[a], size[a] + size[c], size[c] + size[d]]
    assert peak(list(lives.values()), 3) == (max(per_step), per_step.index(max(per_step)))


def test_model_input_is_live_from_the_first_step_and_outputs_until_the_last(tmp_path: Path) -> None:
    b = GraphBuilder("late")
    x1, x2 = b.input((1, 4, 4, 4)), b.input((1, 4, 4, 4))
    a = b.conv(x1, 4)
    y = b.add(a, x2)  # x2 is first read at step 1
    b.output(a, b.conv(y, 4))  # a is a model output and read by the add
    graph = load_graph(save(b.build(), tmp_path), rewrites=())
    lives = by_tensor(lifetimes(graph, graph.ops))
    assert (lives[x2].first, lives[x2].last) == (0, 1)
    assert (lives[a].first, lives[a].last) == (0, 2)


def test_unread_intermediate_is_freed_after_its_step(tmp_path: Path) -> None:
    b = GraphBuilder("dead")
    x = b.input((1, 4, 4, 4))
    unused = b.conv(x, 8)  # nobody reads it and it is not an output
    b.output(b.conv(x, 4))
    graph = load_graph(save(b.build(), tmp_path), rewrites=())
    life = by_tensor(lifetimes(graph, graph.ops))[unused]
    assert life.first == life.last == 0


def test_view_owns_no_bytes_and_keeps_its_base_alive(tmp_path: Path) -> None:
    b = GraphBuilder("view")
    base = b.global_avgpool(b.conv(b.input((1, 3, 4, 4)), 8))
    flat = b.flatten(base)
    b.output(b.gemm(flat, 4))
    graph = load_graph(save(b.build(), tmp_path), rewrites=("views",))
    assert graph.storage_root(flat) == base
    lives = by_tensor(lifetimes(graph, graph.ops))
    assert lives[flat].bytes == 0 and lives[flat].alias_of == base
    assert lives[base].last == lives[flat].last == len(graph.ops) - 1  # read by the gemm through the view


def test_in_place_output_takes_over_its_dying_input(tmp_path: Path) -> None:
    b = GraphBuilder("inplace")
    x = b.input((1, 4, 4, 4))
    a, c = b.conv(x, 4), b.conv(x, 4)
    y = b.add(a, c)  # both inputs die here: the sum can be written over one of them
    b.output(b.conv(y, 4))
    graph = load_graph(save(b.build(), tmp_path), rewrites=("inplace",))
    (add,) = [op for op in graph.ops if op.op_type == "Add"]
    assert add.inplace in (a, c)
    lives = by_tensor(lifetimes(graph, graph.ops))
    step = graph.ops.index(add)
    per_step = live_bytes(list(lives.values()), len(graph.ops))
    size = graph.tensors[y].nbytes
    assert per_step[step] == 2 * size  # a and c, the sum has no bytes of its own yet
    assert lives[y].owns_from == step + 1
    off = load_graph(save(b.build(), tmp_path), rewrites=())
    assert live_bytes(lifetimes(off, off.ops), len(off.ops))[step] == 3 * size


def test_order_changes_lifetimes_and_load(tmp_path: Path) -> None:
    """Two branches from one input: finishing one branch before starting the other needs less memory."""
    b = GraphBuilder("branches")
    x = b.input((1, 2, 4, 4))
    big1, big2 = b.conv(x, 16), b.conv(x, 16)
    small1, small2 = b.conv(big1, 2), b.conv(big2, 2)
    b.output(b.concat([small1, small2]))
    graph = load_graph(save(b.build(), tmp_path), rewrites=())
    op = {o.outputs[0]: o for o in graph.ops}
    concat = graph.ops[-1]
    interleaved = [op[big1], op[big2], op[small1], op[small2], concat]
    depth_first = [op[big1], op[small1], op[big2], op[small2], concat]
    load_interleaved, _ = peak(lifetimes(graph, interleaved), 5)
    load_depth_first, _ = peak(lifetimes(graph, depth_first), 5)
    assert load_depth_first < load_interleaved
    assert by_tensor(lifetimes(graph, depth_first))[big1].last == 1
    assert by_tensor(lifetimes(graph, interleaved))[big1].last == 2


@pytest.mark.parametrize("seed", range(12))
def test_lifetimes_follow_the_schedule_on_random_dags(seed: int, tmp_path: Path) -> None:
    """Every input of a step is live at it, outputs start at their step (a concat output written in place:
    at its first input's), and a buffer lives exactly until its last reader (or the end for model outputs),
    for any topological order."""
    graph = load_graph(save(random_dag_model(seed, 9, qdq=seed % 3 == 0, n_inputs=1 + seed % 2), tmp_path),
                       rewrites=ALL_REWRITES)
    order = random_topological_order(graph, random.Random(seed))
    step = {op.name: i for i, op in enumerate(order)}
    lives = by_tensor(lifetimes(graph, order))
    end = len(order) - 1
    last_read: dict[str, int] = {}
    for op in order:
        for t in graph.activation_inputs(op):
            life = lives[t]
            assert life.first <= step[op.name] <= life.last
            root = graph.storage_root(t)
            last_read[root] = max(last_read.get(root, 0), step[op.name])
        for t in op.outputs:
            writers = [graph.producer[p].name for p in graph.parts(t)] or [op.name]
            assert lives[t].first == min(step[w] for w in writers)
    for t in graph.outputs:
        assert lives[t].last == end and lives[graph.storage_root(t)].last == end
    for t in graph.inputs:
        assert lives[t].first == 0
    for t, life in lives.items():
        if life.alias_of is None and t not in graph.outputs and graph.storage_root(t) == t:
            views_out = any(graph.storage_root(o) == t for o in graph.outputs)
            expected = end if views_out else last_read.get(t, life.first)
            assert life.last == expected, t
